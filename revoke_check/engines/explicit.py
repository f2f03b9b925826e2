"""Breadth-first explicit-state exploration.

States are byte strings (every domain fits a byte); ids are given in BFS
order, so the queue is the id range itself and the first violation found is
at minimal depth, i.e. its trace is a shortest one.  A search that stops at a
state or time limit returns ``incomplete``, never ``holds``.
"""
from __future__ import annotations

import time
from array import array

from revoke_check.model.lang import ModelError

from revoke_check import interrupt
from revoke_check.replay import trace_from_path, violation_at
from revoke_check.result import ERROR, HOLDS, INCOMPLETE, VACUOUS, VIOLATED, Result
from revoke_check.semantics import Semantics

__all__ = ["explore"]


def _path(parent, via, i) -> list:
    out = []
    while parent[i] >= 0:
        out.append(via[i])
        i = parent[i]
    return out[::-1]


def explore(model, checks, *, max_states: int | None = None, max_seconds: float | None = None,
            progress=None, sem: Semantics | None = None, states_out: list | None = None,
            fairness=None, max_depth: int | None = None) -> Result:
    """``max_depth``: expand no state deeper (incomplete at the bound; the reductions'
    shortest-trace search)."""
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
    interrupt.note(states=lambda: len(keys), depth=lambda: depth[-1])   # read on Ctrl-C / progress
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
        from revoke_check.properties.lock_order import LockOrder
        lock_order = LockOrder.of(model)
    check_every = 2048

    def model_error(i, e):
        res.message = str(e)
        r = finish(ERROR, i)
        r.message = str(e)
        r.trace = trace_from_path(sem, _path(parent, via, i), prop=None, kind="model-error",
                                  message=str(e), engine="explicit")
        r.depth = len(r.trace)    # the trace's length, as for a violation (was the BFS depth)
        return r

    def shortest(i, fin):
        """Early exit with a violation one step longer than state ``i`` (a step
        assertion or lock-order edge fired from it, an invariant of a new
        successor): the states of the same depth not yet expanded may end a
        *shorter* trace (deadlock, at-end, model error: length ``depth[i]``),
        so they are looked at first (without adding their successors; the
        counts reported stay those at the first violation).  A violation of
        length ``depth[i]`` found when expanding state ``i`` needs no such scan:
        every state of smaller depth has been expanded.  Witnesses and
        coverage only feed holds/vacuity, which a violation never reports."""
        for j in range(i + 1, len(keys)):
            if depth[j] != depth[i]:
                break
            _, done = expand(j, tuple(keys[j]))
            if done:
                return done
        return fin()

    def expand(i, s):
        """State ``i``'s successors, or the result it ends the search with: a model
        error, or a violation at the state itself (deadlock, at-end).  A step that
        would take a reference count below zero comes with no successor (None): with
        a property that asserts the count (refcounts) it is that property's
        violation at the step, otherwise a model error of this state."""
        try:
            succ = sem.expand(s)
        except ModelError as e:
            return None, model_error(i, e)
        if not succ:
            v = violation_at(sem, s)
            if v:
                return None, finish(VIOLATED, i, None, v)
        return succ, None

    while i < len(keys):
        if max_depth is not None and depth[i] > max_depth:
            return finish(INCOMPLETE, msg=f"depth bound {max_depth} reached")
        s = tuple(keys[i])
        succ, done = expand(i, s)
        if done:
            return done
        d = depth[i] + 1
        if succs is not None:
            out_i = []
            succs.append(out_i)
        for ti, n in succ:
            edges += 1
            coverage[ti] += 1
            for p, fn in step_asserts.get(ti, ()):
                if not fn(s):
                    return shortest(i, lambda: finish(VIOLATED, i, ti, violation_at(sem, s, fire=ti)))
            if n is None:    # a reference count underflow (asserted above): no successor
                continue
            for w, fn in step_witness.get(ti, ()):
                if not reached[w] and fn(s):
                    reached[w] = True
            if lock_order is not None:
                cyc = lock_order.observe(s, ti)
                if cyc:
                    def lock_cycle(cyc=cyc):
                        r = finish(VIOLATED, i, ti, (checks.lock_order[0], "lock-order",
                                                     lock_order.describe(*cyc)))
                        r.trace.details = {"lock_order": lock_order.details(*cyc)}
                        return r
                    return shortest(i, lock_cycle)
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
                return shortest(i, lambda: finish(VIOLATED, j, None, v))
        i += 1
        if i % check_every == 0:
            interrupt.check()
            if progress:
                progress(len(keys), i, time.monotonic() - t0)
            if max_seconds is not None and time.monotonic() - t0 > max_seconds:
                return finish(INCOMPLETE, msg=f"time limit of {max_seconds:g}s reached")
        if max_states is not None and len(keys) > max_states:
            return finish(INCOMPLETE, msg=f"state limit of {max_states} reached")
    r = finish(HOLDS)
    if live:
        from revoke_check.engines.liveness import Fairness, Graph, check_liveness, describe_lasso
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
    return judge_vacuity(r, checks, reached)


def judge_vacuity(r, checks, reached):
    """A search that holds is ``vacuous`` for each property none of whose witnesses was
    reached, or one of whose required witnesses (``Witness.required``) was not."""
    vac, why = [], []
    for p in checks.properties:
        ws = [w for w, q in checks.witnesses if q == p.name]
        missed = [w for w in ws if w in checks.required and not reached[w]]
        if ws and not any(reached[w] for w in ws):
            vac.append(p.name)
            why.append(p.name)
        elif missed:
            vac.append(p.name)
            why.append(f"{p.name} (required: {', '.join(missed)})")
    r.vacuous = vac
    if vac:
        r.verdict = VACUOUS
        r.message = "no witness reached for " + ", ".join(why)
    return r


def _check_state(sem, s):
    for _, fn in sem.invariants:
        if not fn(s):
            return violation_at(sem, s)
    return None
