"""Expected results as data: ``manifest.toml``, (config, variant, engine) -> verdict.

Each ``[[check]]`` entry names what to run (config, variant, engine, optional
properties and depth) and what must come out (verdict, violated property,
distinct states, trace length).  :func:`compare` lists every difference as
"expected X, got Y" so that CI prints why an entry failed.
"""
from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from pathlib import Path

from revoke_check.ci.schema import load_checked

__all__ = ["Entry", "load_manifest", "run_entry", "compare", "MANIFEST", "ManifestError"]

MANIFEST = Path(__file__).resolve().parent / "manifest.toml"   # a link to the repository's file


class ManifestError(ValueError):
    """The manifest file is missing or malformed."""


@dataclass
class Entry:
    config: str
    variant: str
    engine: str = "explicit"
    properties: list = field(default_factory=list)
    depth: int | None = None
    verdict: str = "holds"
    property: str | None = None
    distinct_states: int | None = None
    trace_length: int | None = None
    loop_start: int | None = None       # a lasso: steps before the loop (its stem length)
    fairness: str | None = None         # liveness: weak (default) | strong | none
    strong_fair: list = field(default_factory=list)   # threads / lock classes made strongly fair
    note: str = ""
    protocol: str | None = None    # model/protocols.py; None: vfio-dmabuf
    slow: bool = False             # run by `gate --slow` only (an instance of minutes, e.g. huge)

    @builtins.property
    def name(self) -> str:
        props = "+".join(self.properties) if self.properties else "all"
        pre = f"{self.protocol}:" if self.protocol and self.protocol != "vfio-dmabuf" else ""
        fair = ""
        if self.fairness or self.strong_fair:
            fair = f",fairness={self.fairness or 'weak'}" + "".join(f"+sf:{x}" for x in self.strong_fair)
        return f"{pre}{self.variant}@{self.config}[{self.engine}:{props}{fair}]"


_KEYS = {"config", "variant", "engine", "properties", "depth", "verdict", "property",
         "distinct_states", "trace_length", "loop_start", "fairness", "strong_fair", "note", "protocol", "slow"}


def load_manifest(path=None) -> list[Entry]:
    path = Path(path or MANIFEST)
    raw = load_checked(path, "manifest", ManifestError)
    out = []
    for i, e in enumerate(raw.get("check", [])):
        extra = set(e) - _KEYS
        if extra:
            raise ManifestError(f"{path}: check[{i}]: unknown key {sorted(extra)[0]!r}")
        if "config" not in e or "variant" not in e:
            raise ManifestError(f"{path}: check[{i}] needs config and variant")
        out.append(Entry(**{k: (v if v != "" else None) for k, v in e.items()}))
    if not out:
        raise ManifestError(f"{path}: no [[check]] entries")
    return out


def run_entry(e: Entry, **kw):
    from revoke_check.engines.liveness import Fairness, FairnessError
    from revoke_check.run import check
    fairness = None
    if e.fairness or e.strong_fair:
        try:
            fairness = Fairness(e.fairness or "weak", tuple(e.strong_fair))
        except FairnessError as err:
            raise ManifestError(f"{e.name}: {err}") from None
    return check(e.config, e.variant, e.properties or None, engine=e.engine, depth=e.depth,
                 fairness=fairness, protocol=e.protocol, **kw)


def compare(e: Entry, r) -> list[str]:
    """Differences between what ``e`` expects and result ``r`` (empty: as expected)."""
    diffs = []

    def want(what, exp, got):
        if exp is not None and exp != got:
            diffs.append(f"{e.name}: {what}: expected {exp}, got {got}")

    want("verdict", e.verdict, r.verdict)
    if e.verdict == "violated" or r.verdict == "violated":
        want("property", e.property, r.property)
    want("distinct_states", e.distinct_states, r.distinct_states)
    want("trace_length", e.trace_length, len(r.trace) if r.trace is not None else 0)
    if e.loop_start is not None or (r.trace is not None and getattr(r.trace, "loop", None) is not None
                                    and e.verdict == "violated"):
        want("loop_start", e.loop_start, getattr(r.trace, "loop", None) if r.trace is not None else None)
    return diffs
