"""Breadth-first explicit-state exploration.

States are byte strings (every domain fits a byte); ids are given in BFS
order, so the queue is the id range itself and the first violation found is
at minimal depth, i.e. its trace is a shortest one.  A search that stops at a
state or time limit returns ``incomplete``, never ``holds``.
"""
from __future__ import annotations

import time
from array import array

from model.lang import ModelError

from .replay import trace_from_path, violation_at
from .result import ERROR, HOLDS, INCOMPLETE, VACUOUS, VIOLATED, Result
from .semantics import Semantics

__all__ = ["explore"]


def _path(parent, via, i) -> list:
    out = []
    while parent[i] >= 0:
        out.append(via[i])
        i = parent[i]
    return out[::-1]


def explore(model, checks, *, max_states: int | None = None, max_seconds: float | None = None,
            progress=None, sem: Semantics | None = None, states_out: list | None = None,
            fairness=None) -> Result:
    t0 = time.monotonic()
    sem = sem or Semantics(model, checks)
    names = [p.name for p in checks.properties]
    res = Result(HOLDS, model.config.name, model.variant, "explicit", names, proof="explicit")
    init = model.init
    keys = [bytes(init)]
    seen = {keys[0]: 0}
    parent = array("l", [-1])
    via = array("l", [-1])
    depth = array("H", [0])
    coverage = [0] * len(model.transitions)
    reached = {w: False for w, _ in checks.witnesses}
    edges = 0
    # liveness needs the whole graph: every state's successors (ids), kept only then
    live = bool(getattr(checks, "liveness", None))
    succs: list | None = [] if live else None

    def finish(verdict, i=None, fire=None, viol=None, msg=""):
        res.verdict = verdict
        res.distinct_states, res.transitions = len(keys), edges
        res.depth = max(depth) if depth else 0
        res.coverage = coverage
        res.witnesses = reached
        if viol is not None:
            p, kind, message = viol
            path = _path(parent, via, i) + ([fire] if fire is not None else [])
            res.property, res.message = p, message
            res.trace = trace_from_path(sem, path, prop=p, kind=kind, message=message, engine="explicit")
            res.depth = len(path)
        elif msg:
            res.message = msg
            if verdict == INCOMPLETE:
                res.incomplete_reason = msg
        res.seconds = time.monotonic() - t0
        return res

    def witness_state(s):
        for w, fn in sem.state_witness:
            if not reached[w] and fn(s):
                reached[w] = True

    witness_state(init)
    v = violation_at(sem, init) if sem.invariants and not all(fn(init) for _, fn in sem.invariants) else None
    if v:
        return finish(VIOLATED, 0, None, v)
    i = 0
    step_asserts, step_witness = sem.step_asserts, sem.step_witness
    lock_order = None
    if checks.lock_order:
        from properties.lock_order import LockOrder
        lock_order = LockOrder.of(model)
    check_every = 2048
    while i < len(keys):
        s = tuple(keys[i])
        try:
            succ = sem.successors(s)
        except ModelError as e:
            res.message = str(e)
            r = finish(ERROR, i)
            r.message = str(e)
            r.trace = trace_from_path(sem, _path(parent, via, i), prop=None, kind="model-error",
                                      message=str(e), engine="explicit")
            return r
        if not succ:
            v = violation_at(sem, s)
            if v:
                return finish(VIOLATED, i, None, v)
        d = depth[i] + 1
        if succs is not None:
            out_i = []
            succs.append(out_i)
        for ti, n in succ:
            edges += 1
            coverage[ti] += 1
            for p, fn in step_asserts.get(ti, ()):
                if not fn(s):
                    return finish(VIOLATED, i, ti, violation_at(sem, s, fire=ti))
            for w, fn in step_witness.get(ti, ()):
                if not reached[w] and fn(s):
                    reached[w] = True
            if lock_order is not None:
                cyc = lock_order.observe(s, ti)
                if cyc:
                    return finish(VIOLATED, i, ti, (checks.lock_order[0], "lock-order",
                                                    lock_order.describe(*cyc)))
            k = bytes(n)
            if k in seen:
                if succs is not None:
                    out_i.append((ti, seen[k]))
                continue
            j = len(keys)
            if succs is not None:
                out_i.append((ti, j))
            seen[k] = j
            keys.append(k)
            parent.append(i)
            via.append(ti)
            depth.append(d)
            witness_state(n)
            v = _check_state(sem, n)
            if v:
                return finish(VIOLATED, j, None, v)
        i += 1
        if i % check_every == 0:
            if progress:
                progress(len(keys), i, time.monotonic() - t0)
            if max_seconds is not None and time.monotonic() - t0 > max_seconds:
                return finish(INCOMPLETE, msg=f"time limit of {max_seconds:g}s reached")
        if max_states is not None and len(keys) > max_states:
            return finish(INCOMPLETE, msg=f"state limit of {max_states} reached")
    r = finish(HOLDS)
    if live:
        from .liveness import Fairness, Graph, check_liveness, describe_lasso
        fair = fairness or Fairness()
        lasso = check_liveness(model, sem, Graph(keys, succs), checks.liveness, fair)
        if lasso is not None:
            r.verdict, r.property = VIOLATED, lasso.prop
            r.trace = describe_lasso(sem, lasso, fair, "explicit")
            r.message = r.trace.message
            r.depth = len(r.trace)
            r.seconds = time.monotonic() - t0
            return r
        r.seconds = time.monotonic() - t0
    if states_out is not None:   # the reachable set, for kind's lemma oracle
        states_out.extend(tuple(k) for k in keys)
    vac = []
    for p in checks.properties:
        ws = [w for w, q in checks.witnesses if q == p.name]
        if ws and not any(reached[w] for w in ws):
            vac.append(p.name)
    r.vacuous = vac
    if vac:
        r.verdict = VACUOUS
        r.message = "no witness reached for " + ", ".join(vac)
    return r


def _check_state(sem, s):
    for _, fn in sem.invariants:
        if not fn(s):
            return violation_at(sem, s)
    return None
