"""The explicit explorer with reductions: symmetry (quotient BFS) and partial-order reduction.

The same checks at the same points as :mod:`revoke_check.engines.explicit`
(invariants of each new state; step assertions, step witnesses, lockdep edges
and domain errors of *every* enabled transition of an expanded state; deadlock
and at-end of terminal states), over representatives of symmetry orbits
(:mod:`.symmetry`) and along ample sets (:mod:`.por`).

The counterexample reported is always a shortest concrete one that replays on
the explicit semantics:

* symmetry alone: the quotient BFS keeps distances; the stored path of
  representatives is made concrete by :func:`.symmetry.concrete_path`;
* with POR (or a lock-order cycle, whose description names the threads of the
  edges seen first): a violation found at depth ``L`` is re-searched by the
  search without POR (symmetry kept, if on; for lock-order the unreduced
  explicit explorer), bounded to depth ``L``; it finds one of length ``<= L``,
  a shortest one.  Its state count is reported beside the reduced one.

Liveness properties are not checked with reductions (the caller drops them and
says so).
"""
from __future__ import annotations

import time
from array import array

from revoke_check import interrupt
from revoke_check.model.lang import ModelError
from revoke_check.replay import trace_from_path, violation_at
from revoke_check.result import ERROR, HOLDS, INCOMPLETE, VIOLATED, Result
from revoke_check.semantics import Semantics
from revoke_check.engines.explicit import judge_vacuity

__all__ = ["explore_reduced", "reductions_tag"]


def reductions_tag(symmetry: bool, por: bool) -> str:
    return "+".join(x for x, on in (("symmetry", symmetry), ("por", por)) if on)


def explore_reduced(model, checks, *, symmetry: bool = False, por: bool = False,
                    max_states=None, max_seconds=None, max_depth=None, progress=None,
                    sem: Semantics | None = None, engine: str = "explicit", _sym=None, _por=None) -> Result:
    t0 = time.monotonic()
    sem = sem or Semantics(model, checks)
    names = [p.name for p in checks.properties]
    res = Result(HOLDS, model.config.name, model.variant, engine, names, proof="explicit")
    notes = []
    sym = _sym
    if symmetry and sym is None:
        from revoke_check.engines.symmetry import find_symmetry
        sym = find_symmetry(model, checks)
    if sym is not None:
        notes.append(sym.describe())
    canon = sym.canon if sym is not None and sym.active else (lambda s: s)
    po = _por
    if por and po is None:
        from revoke_check.engines.por import Por
        po = Por(model, checks)
    if po is not None:
        notes.append(f"por: {len(po.visible)} of {len(model.transitions)} transitions visible")
    res.reductions = {"symmetry": bool(symmetry), "por": bool(por), "notes": notes}
    init = canon(tuple(model.init))
    keys = [init]
    seen = {init: 0}
    parent = array("l", [-1])
    via = array("l", [-1])
    depth = array("H", [0])
    coverage = [0] * len(model.transitions)
    interrupt.note(states=lambda: len(keys), depth=lambda: depth[-1])
    reached = {w: False for w, _ in checks.witnesses}
    edges = 0
    partial = 0
    lock_order = None
    if checks.lock_order:
        from revoke_check.properties.lock_order import LockOrder
        lock_order = LockOrder.of(model)
    step_asserts, step_witness = sem.step_asserts, sem.step_witness

    def witness_state(s):
        for w, fn in sem.state_witness:
            if not reached[w] and fn(s):
                reached[w] = True

    def ids(i):
        out = []
        while i >= 0:
            out.append(i)
            i = parent[i]
        return out[::-1]

    def finish(verdict, msg=""):
        res.verdict = verdict
        res.distinct_states, res.transitions = len(keys), edges
        res.depth = max(depth) if depth else 0
        res.coverage, res.witnesses = coverage, reached
        if msg:
            res.message = msg
            if verdict == INCOMPLETE:
                res.incomplete_reason = msg
        res.seconds = time.monotonic() - t0
        return res

    def found(i, kind, fire=None, cyc=None):
        """A violation at stored state ``i`` (``fire``: by that transition from it)."""
        r = finish(VIOLATED)
        L = depth[i] + (1 if fire is not None else 0)
        if po is not None or kind == "lock-order":
            return _shortest_again(model, checks, sem, r, L, symmetry and kind != "lock-order", sym,
                                   max_seconds, engine)
        # symmetry only (or none): make the stored path of representatives concrete
        path_ids = ids(i)
        reps = [keys[j] for j in path_ids]
        if sym is not None and sym.active:
            from revoke_check.engines.symmetry import concrete_path
            path = concrete_path(sem, sym, reps)
        else:
            path = [via[j] for j in path_ids[1:]]
        s = tuple(model.init)
        for ti in path:
            s = sem.enabled(s, ti)
        if kind == "model-error":
            try:
                sem.successors(s)
                err = _uncovered(model, checks, sem, s)
                if err is None:
                    raise RuntimeError("internal: reduced model error not confirmed")
                raise err
            except ModelError as e:
                r.verdict, r.message = ERROR, str(e)
                r.trace = trace_from_path(sem, path, prop=None, kind="model-error", message=str(e),
                                          engine=engine)
                r.depth = len(path)
                return r
        if fire is not None:   # the image of the stored transition: one of s's with a failing assertion
            cand = [ti for ti, _ in sem.successors(s)] + [ti for ti, _ in sem.underflows(s)]
            for ti in sorted(cand):
                if violation_at(sem, s, fire=ti):
                    fire = ti
                    break
            else:
                raise RuntimeError("internal: the concrete step assertion is not violated")
        v = violation_at(sem, s, fire=fire)
        if v is None:
            raise RuntimeError("internal: the concrete state does not violate")
        full_path = path + ([fire] if fire is not None else [])
        p, k, message = v
        r.property, r.message = p, message
        r.trace = trace_from_path(sem, full_path, prop=p, kind=k, message=message, engine=engine)
        r.depth = len(full_path)
        return r

    def terminal_scan(i, fin):
        """As the explicit explorer: states of the same depth may end a shorter trace."""
        for j in range(i + 1, len(keys)):
            if depth[j] != depth[i]:
                break
            sj = keys[j]
            try:
                succ = sem.successors(sj)
            except ModelError:
                return found(j, "model-error")
            if sem.under_dispatch:
                if _uncovered(model, checks, sem, sj) is not None:
                    return found(j, "model-error")
                succ = succ or sem.underflows(sj)
            if not succ and violation_at(sem, sj):
                return found(j, "terminal")
        return fin()

    witness_state(init)
    if sem.invariants and not all(fn(init) for _, fn in sem.invariants):
        return found(0, "invariant")
    i = 0
    while i < len(keys):
        s = keys[i]
        if max_depth is not None and depth[i] > max_depth:
            return finish(INCOMPLETE, f"depth bound {max_depth} reached")
        try:
            succ = sem.successors(s)
        except ModelError:
            return found(i, "model-error")
        if sem.under_dispatch:
            if _uncovered(model, checks, sem, s) is not None:
                return found(i, "model-error")
            unders = sem.underflows(s)
            if unders:
                succ = sorted(succ + [(ti, None) for ti, _ in unders], key=lambda x: x[0])
        if not succ and violation_at(sem, s):
            return found(i, "terminal")
        d = depth[i] + 1
        if po is not None:
            exp = po.ample(s, succ, lambda n: canon(n) not in seen)
            if len(exp) < len(succ):
                partial += 1
            expand = {ti for ti, _ in exp}
        else:
            expand = None
        # the explicit explorer's order: per enabled transition, its checks, then its successor;
        # the checks of every enabled transition (all real steps of a reachable state)
        for ti, n in succ:
            for p, fn in step_asserts.get(ti, ()):
                if not fn(s):
                    return terminal_scan(i, lambda: found(i, "step", fire=ti))
            if n is None:
                continue
            for w, fn in step_witness.get(ti, ()):
                if not reached[w] and fn(s):
                    reached[w] = True
            if lock_order is not None and lock_order.observe(s, ti):
                return found(i, "lock-order", fire=ti)
            if expand is not None and ti not in expand:
                continue
            edges += 1
            coverage[ti] += 1
            k = canon(n)
            if k in seen:
                continue
            j = len(keys)
            seen[k] = j
            keys.append(k)
            parent.append(i)
            via.append(ti)
            depth.append(d)
            witness_state(k)
            for _, fn in sem.invariants:
                if not fn(k):
                    return terminal_scan(i, lambda: found(j, "invariant"))
        i += 1
        if i % 2048 == 0:
            interrupt.check()
            if progress:
                progress(len(keys), i, time.monotonic() - t0)
            if max_seconds is not None and time.monotonic() - t0 > max_seconds:
                return finish(INCOMPLETE, f"time limit of {max_seconds:g}s reached")
        if max_states is not None and len(keys) > max_states:
            return finish(INCOMPLETE, f"state limit of {max_states} reached")
    if po is not None:
        notes.append(f"por: {partial} of {len(keys)} states expanded partially")
    r = finish(HOLDS)
    return judge_vacuity(r, checks, reached)


def _uncovered(model, checks, sem, s):
    for ti, _ in sem.underflows(s):
        tr = model.transitions[ti]
        if any((ti, x) not in checks.refcount_checked for x in tr.updates if x in model.refcount_slots):
            return sem.underflow_error(s, ti)
    return None


def _shortest_again(model, checks, sem, r, L, symmetry, sym, max_seconds, engine, research=None):
    """A shortest counterexample: the search without POR, bounded to depth ``L``.

    ``research``: a search without POR (symmetry as ``symmetry`` says) that stops at its
    first violation, used instead (the compiled engine's: its first violation is no
    deeper than ``L``, so no bound is needed)."""
    reduced_states = r.distinct_states
    if research is not None:
        again = research()
        how = "without por, symmetry kept" if symmetry else "unreduced"
    elif symmetry:
        again = explore_reduced(model, checks, symmetry=True, por=False, max_depth=L, sem=sem,
                                max_seconds=max_seconds, engine=engine, _sym=sym)
        how = "without por, symmetry kept"
    else:
        from revoke_check.engines.explicit import explore
        again = explore(model, checks, max_seconds=max_seconds, sem=sem, max_depth=L)
        how = "unreduced"
    if again.verdict not in (VIOLATED, ERROR):
        if again.verdict == INCOMPLETE and "time limit" in again.message:
            r.verdict, r.message = INCOMPLETE, "violation found, but the shortest-trace search ran out of time"
            r.incomplete_reason = r.message
            return r
        raise RuntimeError(f"internal: the reduced search found a violation at depth {L} that a "
                           f"{how} search to that depth does not")
    r.verdict, r.property, r.message, r.trace, r.depth = (again.verdict, again.property, again.message,
                                                          again.trace, again.depth)
    r.reductions = dict(getattr(r, "reductions", {}) or {})
    r.reductions["shortest_search"] = {"how": how, "depth": L, "states": again.distinct_states}
    r.distinct_states = reduced_states
    return r
