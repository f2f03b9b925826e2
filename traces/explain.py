"""Why a trace violates its property: what the HTML report marks, dims and links.

* :func:`locks_held` -- after each step, the locks each thread holds (from the
  lock table the trace records), for the report's "locks held" column.
* :func:`relevance` -- a backward slice: the steps that write something the
  violated property reads, transitively through what those steps read (guard
  and updates).  The other steps only let threads get where they are; the
  report dims them.
* :func:`fix_point` -- replayed on another variant (the fix), the first step
  where that variant does not do what the trace did, and why.
* :func:`source_link` -- a kernel ``file:function`` as an elixir link for a
  ``--kernel-ref`` tag, or as ``file:line`` in a ``--kernel-src`` tree.

Each needs the model the trace was made on (rebuilt from its provenance);
when it does not load the report simply goes without.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .trace import Trace

__all__ = ["Explanation", "explain", "locks_held", "relevance", "fix_point", "source_link"]


@dataclass
class Explanation:
    held: list = field(default_factory=list)        # per step: ["&dev0->memory_lock (hot_reset)", ...]
    relevant: list = field(default_factory=list)    # per step: bool
    fix_step: int | None = None                     # 1-based step where the other variant differs
    fix_msg: str = ""
    against: str = ""
    links: list = field(default_factory=list)       # per step: (href or None, text)


def locks_held(trace: Trace) -> list[list[str]]:
    """After each step: ``"C name (holder)"`` of every held lock, per the trace's lock table."""
    from .render_lockdep import _lock_info
    out = []
    for st in trace.steps:
        held = []
        for var, val in st.state.items():
            info = _lock_info(var, trace.locks)
            if info is None:
                continue
            if info.get("mode") == "read":
                if isinstance(val, int) and not isinstance(val, bool) and val > 0:
                    held.append(f"{info['c']} (read x{val})")
            elif val not in (None, "none", 0, False):
                held.append(f"{info['c']} ({val})")
        out.append(held)
    return out


def _model_of(trace: Trace, variant: str | None = None):
    from revoke_check.provenance import specs_of
    from revoke_check.run import build
    vspec, cspec = specs_of(trace)
    return build(cspec, variant or vspec, [trace.property] if trace.property else None)


def relevance(trace: Trace, model=None, checks=None) -> list[bool]:
    """Per step: does it (transitively) write what the violated property reads?"""
    from revoke_check.model.expr import variables
    from revoke_check.replay import replay
    from revoke_check.semantics import Semantics
    if model is None:
        model, checks = _model_of(trace)
    sem = Semantics(model, checks)
    rr = replay(trace, sem)
    if not rr.ok or len(rr.path) != len(trace.steps):
        return [True] * len(trace.steps)
    need: set = set()
    for _, e in checks.invariants:
        need |= {x.slot for x in variables(e)}
    for _, e in checks.at_end:
        need |= {x.slot for x in variables(e)}
    last = rr.path[-1] if rr.path else None
    if trace.kind == "step-assertion" and last is not None:
        for _, e in checks.step_asserts.get(last, ()):
            need |= {x.slot for x in variables(e)}
    if trace.kind == "deadlock":
        # every blocked thread's guard decides the deadlock
        for tr in model.transitions:
            need |= {x.slot for x in variables(tr.guard)} | {tr.pc_slot}
    if trace.kind in ("lock-order",):
        return [True] * len(trace.steps)
    out = [False] * len(trace.steps)
    for k in range(len(trace.steps) - 1, -1, -1):
        tr = model.transitions[rr.path[k]]
        writes = {s for s in tr.updates if s != tr.pc_slot}
        if k == len(trace.steps) - 1 and trace.kind == "step-assertion":
            hit = True
        else:
            hit = bool(writes & need)
        if hit:
            out[k] = True
            need |= {x.slot for x in variables(tr.guard)}
            for s, e in tr.updates.items():
                if s in writes & need or k == len(trace.steps) - 1:
                    need |= {x.slot for x in variables(e)}
    return out


def fix_point(trace: Trace, against: str) -> tuple[int | None, str]:
    """(1-based step, why) where variant ``against`` stops doing what the trace did."""
    from revoke_check.replay import replay
    from revoke_check.semantics import Semantics
    model, checks = _model_of(trace, against)
    rr = replay(trace, Semantics(model, checks))
    if rr.ok:
        if rr.violation:
            return None, f"{against} does the same and also violates {rr.violation[0]}"
        return None, f"{against} runs all {rr.steps_replayed} steps without violating {trace.property}"
    m = re.match(r"step (\d+): (.*)", rr.error)
    if not m:
        return None, rr.error
    return int(m.group(1)), f"{against} differs at step {m.group(1)}: {m.group(2)}"


_FUNC = {}


def _function_line(root: Path, file: str, fn: str) -> int | None:
    key = (str(root), file, fn)
    if key not in _FUNC:
        line = None
        try:
            text = (root / file).read_text(errors="replace").splitlines()
            pat = re.compile(rf"^[A-Za-z_].*\b{re.escape(fn)}\s*\(")
            for i, ln in enumerate(text, 1):
                if pat.match(ln) and not ln.rstrip().endswith(";"):
                    line = i
                    break
        except OSError:
            pass
        _FUNC[key] = line
    return _FUNC[key]


def source_link(source: str, kernel_ref: str | None = None, kernel_src=None) -> tuple[str | None, str]:
    """(href, text) for a kernel ``file:function``."""
    if ":" not in source:
        return None, source
    file, fn = source.rsplit(":", 1)
    if not file.endswith((".c", ".h")):
        return None, source
    line = _function_line(Path(kernel_src), file, fn) if kernel_src else None
    if kernel_ref:
        href = f"https://elixir.bootlin.com/linux/{kernel_ref}/source/{file}" + (f"#L{line}" if line else "")
        return href, f"{file}:{line}:{fn}" if line else source
    if kernel_src and line:
        return f"file://{Path(kernel_src).resolve() / file}", f"{file}:{line}:{fn}"
    return None, source


def explain(trace: Trace, *, against: str | None = None, kernel_ref: str | None = None,
            kernel_src=None) -> Explanation:
    """Everything the report needs to say why (each part best effort)."""
    ex = Explanation(held=locks_held(trace))
    try:
        ex.relevant = relevance(trace)
    except Exception:  # the report must render even when the model does not load
        ex.relevant = [True] * len(trace.steps)
    if against:
        ex.against = against
        try:
            ex.fix_step, ex.fix_msg = fix_point(trace, against)
        except Exception as e:
            ex.fix_msg = f"could not replay on {against}: {e}"
    ex.links = [source_link(s.source, kernel_ref, kernel_src) for s in trace.steps]
    return ex
