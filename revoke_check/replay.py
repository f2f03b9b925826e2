"""Build traces from paths, and replay stored traces on the explicit semantics.

Replay re-executes every step: the step must be enabled in the current state
and must produce the recorded state; otherwise it stops with the first step
that does not fit ("step 7: ... not enabled: ...").  After the last step it
re-evaluates the properties to say whether the trace violates one.
"""
from __future__ import annotations

from dataclasses import dataclass

from model.lang import ModelError
from traces.trace import Trace, TraceStep

from .semantics import Semantics

__all__ = ["trace_from_path", "replay", "ReplayResult", "violation_at"]


def _diff(m, a, b) -> dict:
    return {x.name: [x.domain.show(a[x.slot]), x.domain.show(b[x.slot])]
            for x in m.vars if a[x.slot] != b[x.slot]}


def trace_from_path(sem: Semantics, path: list, *, prop, kind, message, engine) -> Trace:
    """Re-execute ``path`` (transition indices) from the initial state into a Trace."""
    m = sem.model
    s = m.init
    steps = []
    for ti in path:
        n = sem.enabled(s, ti)
        if n is None:
            raise ModelError(f"internal: path step {ti} not enabled")
        tr = m.transitions[ti]
        steps.append(TraceStep(tr.thread, tr.label, tr.source, tr.choice, tr.note, tr.doc,
                               _diff(m, s, n), m.show(n)))
        s = n
    return Trace(m.config.name, m.variant, prop, kind, message, engine, m.show(m.init), steps)


def _explain(sem, prop, s, default):
    p = next((x for x in sem.checks.properties if x.name == prop), None)
    if p is not None and p.explain is not None:
        why = p.explain(sem.model, sem.model.show(s))
        if why:
            return f"{default}: {why}"
    return default


def violation_at(sem: Semantics, s, *, fire: int | None = None):
    """The first property violated in state ``s`` (or by firing ``fire`` from it).

    Returns (property, kind, message) or None.  ``fire`` checks the step
    assertions of that transition; without it, invariants, deadlock and at-end.
    """
    m = sem.model
    if fire is not None:
        tr = m.transitions[fire]
        for p, fn in sem.step_asserts.get(fire, ()):
            if not fn(s):
                return p, "step-assertion", f"{p} fails when {tr.thread} runs {tr.label}"
        return None
    for p, fn in sem.invariants:
        if not fn(s):
            return p, "invariant", _explain(sem, p, s, f"invariant {p} is false")
    if not sem.successors(s):
        if not sem.all_final(s):
            if sem.checks.deadlock:
                stuck = [th.name for th in m.threads if s[th.pc.slot] not in th.finals]
                return (sem.checks.deadlock[0], "deadlock",
                        "deadlock: no step enabled; blocked: " + ", ".join(
                            f"{n} at {m.thread(n).pc.domain.names[s[m.thread(n).pc.slot]]}" for n in stuck))
        else:
            for p, fn in sem.at_end:
                if not fn(s):
                    return p, "at-end", _explain(sem, p, s, f"{p} is false once every thread has finished")
    return None


@dataclass
class ReplayResult:
    ok: bool                 # every step fitted the model
    steps_replayed: int
    violation: tuple | None  # (property, kind, message) reached by the trace
    error: str = ""          # why a step did not fit


def _why_blocked(m, s, tr) -> str:
    """Explain a disabled step in kernel terms where we can (lock owners)."""
    owners = m.v.owners
    held = []
    for x in m.vars:
        if x.domain.names == owners and s[x.slot] != 0 and x.name.split("[")[0] in ("memory_lock", "resv", "dev_set->lock"):
            held.append(f"{x.name} held by {owners[s[x.slot]]}")
    return "; ".join(held) if held else "its guard is false"


def replay(trace: Trace, sem: Semantics) -> ReplayResult:
    """Re-execute ``trace`` on ``sem``; check each step's recorded state."""
    m = sem.model
    s = m.init
    if trace.initial and m.show(s) != trace.initial:
        diff = [k for k in trace.initial if m.show(s).get(k) != trace.initial[k]]
        return ReplayResult(False, 0, None, "initial state differs from the model's"
                            + (f" ({', '.join(diff[:3])})" if diff else ""))
    for k, st in enumerate(trace.steps, 1):
        try:
            th = m.thread(st.thread)
        except KeyError:
            return ReplayResult(False, k - 1, None, f"step {k}: no thread {st.thread!r} in this config")
        cands = [tr for tr in m.transitions if tr.thread == st.thread and tr.label == st.label]
        if not cands:
            return ReplayResult(False, k - 1, None,
                                f"step {k}: {st.thread} has no step {st.label!r} in variant {m.variant}")
        here = th.pc.domain.names[s[th.pc.slot]]
        if here != st.label:
            return ReplayResult(False, k - 1, None,
                                f"step {k}: {st.step_label} not enabled: {st.thread} is at {here.rsplit('/', 1)[-1]}")
        fired = None
        for tr in cands:
            try:
                n = sem.enabled(s, tr.index)
            except ModelError as e:
                return ReplayResult(False, k - 1, None, f"step {k}: {e}")
            if n is None:
                continue
            if st.state and m.show(n) != st.state:
                continue
            if st.choice is not None and tr.choice != st.choice:
                continue
            fired = (tr, n)
            break
        if fired is None:
            tr = cands[0]
            return ReplayResult(False, k - 1, None,
                                f"step {k}: {st.step_label} ({st.thread}) not enabled: {_why_blocked(m, s, tr)}")
        tr, n = fired
        v = violation_at(sem, s, fire=tr.index)
        if v:
            return ReplayResult(True, k, v)
        s = n
        v = violation_at(sem, s)
        if v and (v[1] != "deadlock" or k == len(trace.steps)):
            if k == len(trace.steps) or v[1] == "invariant":
                return ReplayResult(True, k, v)
    return ReplayResult(True, len(trace.steps), violation_at(sem, s))
