"""SARIF 2.1.0 for code-scanning views: one result per violated property.

Every property checked is a rule (``id`` = property name, descriptions from
its docstring).  A violated property is a ``result`` located at the kernel
source of the step where the violation happens -- the last step of the trace:
``physicalLocation.artifactLocation.uri`` is the kernel file (e.g.
``drivers/vfio/pci/vfio_pci_core.c``, relative to the kernel tree's root) and
``logicalLocations`` names the function.  The whole trace is a ``codeFlow``
with one ``threadFlow`` per kernel thread, ordered by ``executionOrder``.

The model knows files and functions, not line numbers.  Given ``kernel_src``
(the root of a kernel tree), each location gets the line where its function
is defined (``region.startLine``), which is what GitHub code scanning needs to
annotate the source; without it the locations have no region.

Vacuous, incomplete and failed checks are not results (they are no finding in
the kernel) but ``toolExecutionNotifications`` of the invocation.
"""
from __future__ import annotations

import hashlib
import re
import textwrap
from functools import lru_cache
from pathlib import Path

from revoke_check.properties import PROPERTIES

from revoke_check.result import ERROR, INCOMPLETE, VACUOUS, VIOLATED

__all__ = ["sarif_log", "SARIF_SCHEMA", "SARIF_VERSION", "location_of", "function_line"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("revoke-check")
    except Exception:  # pragma: no cover - not installed
        return "0"


def _split_source(source: str) -> tuple[str | None, str]:
    """``"drivers/x/y.c:fn"`` -> (``"drivers/x/y.c"``, ``"fn"``); (None, fn) if no file."""
    file, _, fn = (source or "").rpartition(":")
    if not file or not ("/" in file or file.endswith((".c", ".h"))):
        return None, fn or source
    return file, fn


@lru_cache(maxsize=256)
def _file_lines(path: str):
    try:
        return Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return None


def function_line(kernel_src, file: str, function: str) -> int | None:
    """The 1-based line where ``function`` is defined in ``kernel_src/file``, if found."""
    if not kernel_src or not file:
        return None
    lines = _file_lines(str(Path(kernel_src) / file))
    if not lines:
        return None
    name = re.escape(function)
    # "static int fn(..." or "fn(..." at column 0 after a return type on the line above
    pat = re.compile(rf"^(?:[A-Za-z_][\w \t\*]*[\s\*])?{name}\s*\(")
    for i, line in enumerate(lines):
        if pat.match(line) and not line.rstrip().endswith(";"):
            # a prototype spans lines too: the definition's "{" comes before any ";"
            rest = "\n".join(lines[i:i + 12])
            brace, semi = rest.find("{"), rest.find(";")
            if brace >= 0 and (semi < 0 or brace < semi):
                return i + 1
    return None


def location_of(source: str, *, kernel_src=None, message: str | None = None) -> dict:
    """A SARIF ``location`` for a step's ``file:function`` source."""
    file, fn = _split_source(source)
    loc: dict = {}
    if file:
        phys: dict = {"artifactLocation": {"uri": file}}
        line = function_line(kernel_src, file, fn)
        if line:
            phys["region"] = {"startLine": line}
        loc["physicalLocation"] = phys
    loc["logicalLocations"] = [{"name": fn, "fullyQualifiedName": source, "kind": "function"}]
    if message:
        loc["message"] = {"text": message}
    return loc


def _doc(p) -> str:
    lines = p.doc.strip().splitlines()
    return (lines[0] + "\n" + textwrap.dedent("\n".join(lines[1:]))).strip()


def _rule_name(p: str) -> str:
    return "".join(w.capitalize() for w in re.split(r"[^A-Za-z0-9]+", p) if w)


def _rules(names, protocol: str | None = None) -> list[dict]:
    from revoke_check.model.variants import get_protocol
    reg = PROPERTIES(get_protocol(None, protocol=protocol))
    out = []
    for n in names:
        p = reg.get(n)
        doc = _doc(p) if p else n
        summary = p.summary if p else n
        out.append({
            "id": n, "name": _rule_name(n),
            "shortDescription": {"text": summary},
            "fullDescription": {"text": doc},
            "help": {"text": doc},
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": ["concurrency", "vfio-pci", "dma-buf"]},
        })
    return out


def _step_text(k: int, s) -> str:
    ch = ", ".join(f"{v} {a}->{b}" for v, (a, b) in s.changes.items()
                   if not v.startswith("pc[") and "." not in v.split("[")[0])
    extra = " ".join(x for x in (f"[{s.choice}]" if s.choice else "",
                                  f"({s.note})" if s.note else "", ch) if x)
    return f"{k:02d} {s.thread} {s.step_label}" + (f"  {extra}" if extra else "")


def _code_flow(trace, kernel_src) -> dict:
    flows: dict = {}
    for k, s in enumerate(trace.steps, 1):
        flows.setdefault(s.thread, []).append({
            "location": location_of(s.source, kernel_src=kernel_src, message=_step_text(k, s)),
            "executionOrder": k,
            "kinds": ["call"] if k < len(trace.steps) else ["call", "exit"],
        })
    return {
        "message": {"text": f"{len(trace.steps)} steps of {len(flows)} kernel threads from the "
                            f"initial state of config {trace.config} to the violation"},
        "threadFlows": [{"id": t, "message": {"text": t}, "locations": locs}
                        for t, locs in flows.items()],
    }


def _result(r, rule_index: dict, kernel_src) -> dict:
    t = r.trace
    last = t.steps[-1] if t is not None and t.steps else None
    text = (f"{r.property} violated: {r.message} "
            f"({r.variant} on config {r.config}, {r.engine} engine, "
            f"{len(t) if t is not None else 0} steps)")
    res: dict = {
        "ruleId": r.property,
        "ruleIndex": rule_index[r.property],
        "level": "error",
        "kind": "fail",
        "message": {"text": text},
        "locations": [location_of(last.source, kernel_src=kernel_src)] if last else [],
        "properties": {"config": r.config, "variant": r.variant, "engine": r.engine,
                       "kind": t.kind if t is not None else "",
                       "distinct_states": r.distinct_states,
                       "trace_length": len(t) if t is not None else 0},
    }
    key = "|".join([r.property, r.variant, r.config, last.label if last else "initial"])
    res["partialFingerprints"] = {"revokeCheckViolation/v1": hashlib.sha256(key.encode()).hexdigest()[:32]}
    if t is not None and t.steps:
        res["codeFlows"] = [_code_flow(t, kernel_src)]
    return res


def _notification(r) -> dict | None:
    where = f"{r.variant} on {r.config} [{r.engine}]"
    if r.verdict == VACUOUS:
        return {"level": "warning", "descriptor": {"id": "vacuous"},
                "message": {"text": f"{where}: holds vacuously (no witness reached) for "
                                    + ", ".join(r.vacuous)}}
    if r.verdict == INCOMPLETE:
        return {"level": "warning", "descriptor": {"id": "incomplete"},
                "message": {"text": f"{where}: incomplete: "
                                    + (r.incomplete_reason or r.message or "limit reached")}}
    if r.verdict == ERROR:
        return {"level": "error", "descriptor": {"id": "error"},
                "message": {"text": f"{where}: error: {r.message}"}}
    return None


def sarif_log(results, *, kernel_src=None) -> dict:
    """A SARIF 2.1.0 log (as a dict) with one run for ``results``."""
    names: list = []
    for r in results:
        for p in list(r.properties) + ([r.property] if r.property else []):
            if p and p not in names:
                names.append(p)
    rule_index = {n: i for i, n in enumerate(names)}
    found = [_result(r, rule_index, kernel_src) for r in results if r.verdict == VIOLATED and r.property]
    notes = [n for n in (_notification(r) for r in results) if n]
    invocation = {"executionSuccessful": not any(r.verdict == ERROR for r in results)}
    if notes:
        invocation["toolExecutionNotifications"] = notes
    run = {
        "tool": {"driver": {"name": "revoke-check", "version": _version(),
                            "rules": _rules(names, next((
                                (getattr(r, "provenance", None) or {}).get("protocol")
                                for r in results), None))}},
        "invocations": [invocation],
        "results": found,
        "properties": {"checks": [{"config": r.config, "variant": r.variant, "engine": r.engine,
                                   "properties": list(r.properties), "verdict": r.verdict,
                                   "distinct_states": r.distinct_states} for r in results]},
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
