"""Turn a z3 counterexample into the explicit explorer's Trace, and check it.

A z3 engine hands over the transition indices it chose (the step selectors of
its model) and the :class:`~revoke_check.engines.symbolic.Bad` it hit.  The path is
re-executed on the explicit semantics (:func:`~revoke_check.replay.trace_from_path`)
and the resulting trace is replayed (:func:`~revoke_check.replay.replay`); it is
reported only if the replay reaches the same property with the same kind at
its last step.  Anything else is an internal error of the z3 encoding and is
reported as such (verdict ``error``), never as a violation.
"""
from __future__ import annotations

import z3

from revoke_check.model.lang import ModelError

from revoke_check.replay import replay, trace_from_path
from revoke_check.result import ERROR, VIOLATED

__all__ = ["choose_bad", "report_counterexample", "internal_error"]

INTERNAL = "internal error: z3 counterexample does not replay: "


def choose_bad(zm, state_bads: list, step_bads: list, last_sel: int | None):
    """The bad the explicit semantics would report first among those true in ``zm``.

    ``state_bads`` are over the last state, ``step_bads`` over the one before
    (their trace fires one more step).  A step assertion of the transition the
    path takes last comes first (replay checks it before the state it leads
    to), then the state bads in order, then the other step assertions.
    """
    def true(b):
        return z3.is_true(zm.eval(b.formula, model_completion=True))

    firsts = [b for b in step_bads if b.fire == last_sel and true(b)]
    if firsts:
        return firsts[0]
    for b in state_bads:
        if true(b):
            return b
    for b in step_bads:
        if true(b):
            return b
    return None


def internal_error(res, why: str):
    res.verdict = ERROR
    res.property = None
    res.message = INTERNAL + why
    res.trace = None
    return res


def report_counterexample(res, sem, path: list, bad, engine: str):
    """Fill ``res`` from a z3 path; replay it first (see the module doc).

    ``path`` is the list of transition indices up to the bad state; for a step
    assertion the violating transition ``bad.fire`` is appended.  A model error
    is reported as verdict ``error`` with the explicit semantics' message.
    """
    m = sem.model
    if bad is None:
        return internal_error(res, "no bad state is true in the z3 model")
    full = list(path) + ([bad.fire] if bad.fire is not None else [])
    try:
        trace = trace_from_path(sem, full, prop=bad.prop, kind=bad.kind, message="", engine=engine)
    except ModelError as e:
        return internal_error(res, f"path {full}: {e}")
    except (IndexError, KeyError) as e:
        return internal_error(res, f"path {full}: {e!r}")
    if bad.kind == "model-error":
        s = m.init
        for ti in full:
            s = sem.enabled(s, ti)
        try:
            sem.expand(s)      # a domain overflow, or an underflow no property asserts
        except ModelError as e:
            trace.message = str(e)
            res.verdict, res.property, res.message, res.trace = ERROR, None, str(e), trace
            res.depth = len(full)
            return res
        return internal_error(res, f"z3 found a domain overflow after {len(full)} steps; "
                                   "the explicit semantics does not")
    return check_replay(res, sem, trace, bad.prop, bad.kind)


def check_replay(res, sem, trace, prop, kind):
    """Replay ``trace``; report it if it reaches ``prop``/``kind`` at its last step."""
    rr = replay(trace, sem)
    if not rr.ok:
        return internal_error(res, rr.error)
    if rr.violation is None:
        return internal_error(res, f"the {len(trace)}-step trace violates no property "
                                   f"(z3 said {kind} {prop})")
    p, k, msg = rr.violation
    if (p, k) != (prop, kind) or rr.steps_replayed != len(trace):
        return internal_error(res, f"replay reaches {k} {p} after {rr.steps_replayed} steps; "
                                   f"z3 said {kind} {prop} after {len(trace)}")
    trace.message = msg
    res.verdict, res.property, res.message, res.trace = VIOLATED, prop, msg, trace
    res.depth = len(trace)
    return res
