"""Seeded random walks, for instances too large to explore exhaustively.

Each run starts in the initial state and takes a uniformly random enabled
step, up to ``depth`` steps, checking every property kind the explicit engine
checks on the states and steps it visits (invariants, step assertions,
deadlock, at-end, lock order over the dependencies seen so far).  A violation
becomes a trace, which is then made as short as feasible: a breadth-first
search for the same property bounded by ``bfs_states`` (a shortest trace when
it finds one), else the walk itself reordered to the fewest thread switches.

Finding nothing proves nothing: the result is ``incomplete``, never ``holds``.
The same seed gives the same walks.
"""
from __future__ import annotations

import random
import time

from revoke_check.model.lang import ModelError

from revoke_check.replay import trace_from_path, violation_at
from revoke_check.result import ERROR, INCOMPLETE, VIOLATED, Result
from revoke_check.semantics import Semantics

__all__ = ["simulate"]


def _walk(sem, rng, depth, lock_order, checks):
    """One random run: (path, violation or None, steps taken)."""
    s = sem.model.init
    v = violation_at(sem, s) if not all(fn(s) for _, fn in sem.invariants) else None
    if v:
        return [], v
    path = []
    for _ in range(depth):
        succ = sem.expand(s)    # an asserted underflow comes as (step, None)
        if not succ:
            return path, violation_at(sem, s)
        ti, n = succ[rng.randrange(len(succ))]
        for p, fn in sem.step_asserts.get(ti, ()):
            if not fn(s):
                return path + [ti], violation_at(sem, s, fire=ti)
        if n is None:
            raise RuntimeError(f"internal: step {ti} underflows a count its assertion accepts")
        if lock_order is not None:
            cyc = lock_order.observe(s, ti)
            if cyc:
                return path + [ti], (checks.lock_order[0], "lock-order", lock_order.describe(*cyc))
        path.append(ti)
        s = n
        for p, fn in sem.invariants:
            if not fn(s):
                return path, violation_at(sem, s)
    return path, None


def simulate(model, checks, *, runs: int = 100, depth: int = 100, seed: int = 0,
             bfs_states: int = 200_000, max_seconds: float | None = None, progress=None) -> Result:
    t0 = time.monotonic()
    sem = Semantics(model, checks)
    res = Result(INCOMPLETE, model.config.name, model.variant, "simulate",
                 [p.name for p in checks.properties])
    lock_order = None
    if checks.lock_order:
        from revoke_check.properties.lock_order import LockOrder
        lock_order = LockOrder.of(model)
    total = 0
    for k in range(runs):
        rng = random.Random(seed * 1_000_003 + k)
        try:
            path, v = _walk(sem, rng, depth, lock_order, checks)
        except ModelError as e:
            res.verdict, res.message = ERROR, str(e)
            res.seconds = time.monotonic() - t0
            return res
        total += len(path)
        if progress:
            progress(k + 1, total, time.monotonic() - t0)
        if v is not None:
            prop, kind, msg = v
            res.verdict, res.property, res.message = VIOLATED, prop, msg
            res.trace = trace_from_path(sem, path, prop=prop, kind=kind, message=msg, engine="simulate")
            res.depth = len(path)
            res.trace = _shorten(model, checks, res, bfs_states)
            res.message = res.trace.message
            res.distinct_states, res.transitions = k + 1, total
            res.seconds = time.monotonic() - t0
            return res
        if max_seconds is not None and time.monotonic() - t0 > max_seconds:
            res.incomplete_reason = f"time limit of {max_seconds:g}s reached after {k + 1} runs"
            break
    res.distinct_states, res.transitions = runs, total
    res.message = res.incomplete_reason or (
        f"{runs} random runs of up to {depth} steps (seed {seed}) found no violation; "
        "a simulation is not exhaustive")
    res.incomplete_reason = res.message
    res.seconds = time.monotonic() - t0
    return res


def _shorten(model, checks, res, bfs_states):
    """A shortest trace of the same property by bounded BFS, else the walk with fewer switches."""
    from revoke_check.properties import compile_checks

    from revoke_check.engines.explicit import explore
    prop = next(p for p in checks.properties if p.name == res.property)
    r = explore(model, compile_checks(model, [prop]), max_states=bfs_states)
    if r.verdict == VIOLATED and r.property == res.property and len(r.trace) <= len(res.trace):
        r.trace.engine = "simulate+bfs"
        return r.trace
    try:
        from revoke_check.traces.reduce import reduce_trace
        return reduce_trace(res.trace)
    except Exception:  # the reduction is a nicety: the walk's own trace is valid
        return res.trace
