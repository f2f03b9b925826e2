"""Incremental bounded model checking with z3.

One solver holds ``I(s_0) /\\ T(s_0, s_1, sel_0) /\\ ... /\\ T(s_{d-1}, s_d, sel_{d-1})``;
each depth ``d`` adds one transition and asks, under a fresh assumption
literal ``a_d``, for a bad state at depth ``d``::

    a_d -> \\/ state bads of s_d  \\/  step assertions violated at s_{d-1}

Both end a trace of exactly ``d`` steps (a step assertion's trace ends with the
violating step), and depths are tried from 0 upwards, so the first
counterexample is a shortest one -- the same length as the explicit explorer's
BFS trace.  If none is found up to ``--depth K`` the verdict is ``incomplete``
with ``bound = K``: "holds up to depth K" is not a proof.
"""
from __future__ import annotations

import time

import z3

from revoke_check import interrupt
from revoke_check.result import ERROR, INCOMPLETE, Result
from revoke_check.semantics import Semantics
from revoke_check.engines.symbolic import (ask, bad_formulas, independent_pairs, init_formula, make_encoding,
                       new_solver, num_value, order_formula, state_vars, trans_formula)
from revoke_check.engines.z3cex import choose_bad, report_counterexample

__all__ = ["bmc", "Unroller", "DEFAULT_DEPTH"]

DEFAULT_DEPTH = 40


class Unroller:
    """The BMC unrolling from the initial state, one depth at a time."""

    def __init__(self, model, checks, *, sort: str = "bv"):
        self.pairs = independent_pairs(model, checks)
        self.model, self.checks = model, checks
        self.enc = make_encoding(model, checks, sort)
        self.solver = new_solver(self.enc)
        self.states = [state_vars(self.enc, 0)]
        self.sels: list = []
        self.caches = [{}]
        self.bads = [bad_formulas(self.enc, checks, self.states[0], self.caches[0])]
        self.solver.add(init_formula(self.enc, self.states[0]))
        self.depth = 0   # deepest state s_d in the solver

    def extend(self):
        """Add ``T(s_d, s_{d+1}, sel_d)``."""
        d = self.depth
        t = state_vars(self.enc, d + 1)
        sel = self.enc.num(f"sel@{d}")
        self.solver.add(trans_formula(self.enc, self.states[d], t, sel, self.caches[d]))
        if self.pairs and self.sels:
            self.solver.add(order_formula(self.enc, self.sels[-1], sel, self.pairs))
        self.states.append(t)
        self.sels.append(sel)
        self.caches.append({})
        self.bads.append(bad_formulas(self.enc, self.checks, t, self.caches[d + 1]))
        self.depth = d + 1

    def candidates(self, d: int):
        """(state bads of s_d, step bads of s_{d-1}): every trace of length ``d``."""
        state = [b for b in self.bads[d] if b.fire is None]
        step = [b for b in self.bads[d - 1] if b.fire is not None] if d > 0 else []
        return state, step

    def check_depth(self, d: int, timeout_ms: int | None = None):
        """Is a violation with a trace of exactly ``d`` steps reachable?

        Returns ``(z3 result, (path, bad) | None)``.
        """
        while self.depth < d:
            self.extend()
        state, step = self.candidates(d)
        r = ask(self.enc, self.solver, f"bad@{d}", z3.Or([b.formula for b in state + step]), timeout_ms)
        if r != z3.sat:
            return r, None
        zm = self.solver.model()
        sels = [num_value(zm, x) for x in self.sels[:d]]
        last = sels[-1] if sels else None
        bad = choose_bad(zm, state, step, last)
        if bad is not None and bad.fire is not None:
            sels = sels[:-1]     # the violating step replaces the last transition
        path = [k for k in sels if k != self.enc.stutter]
        return r, (path, bad)


def _remaining_ms(t0, max_seconds):
    if max_seconds is None:
        return None
    return (max_seconds - (time.monotonic() - t0)) * 1000


def bmc(model, checks, *, depth: int = DEFAULT_DEPTH, max_seconds: float | None = None,
        sort: str = "bv", sem: Semantics | None = None, progress=None, fairness=None) -> Result:
    """Bounded model checking from depth 0 to ``depth``; see the module doc.

    Liveness obligations (``checks.liveness``) are looked for as lassos of
    ``d`` steps after the safety query of depth ``d`` is unsatisfiable
    (:mod:`revoke_check.engines.bmc_liveness`).
    """
    t0 = time.monotonic()
    names = [p.name for p in checks.properties]
    res = Result(INCOMPLETE, model.config.name, model.variant, "bmc", names, bound=depth)
    sem = sem or Semantics(model, checks)
    un = Unroller(model, checks, sort=sort)
    lasso_un = None
    if getattr(checks, "liveness", None):
        from revoke_check.engines.bmc_liveness import LassoUnroller, report_lasso
        lasso_un = LassoUnroller(model, checks, fairness)
    for d in range(depth + 1):
        left = _remaining_ms(t0, max_seconds)
        if left is not None and left <= 0:
            return _stop(res, t0, d - 1, f"time limit of {max_seconds:g}s reached")
        r, cex = un.check_depth(d, left)
        interrupt.check()
        if progress:
            progress(d, time.monotonic() - t0)
        if r == z3.unsat:
            interrupt.note(depth=d)      # no violation of length <= d
        if r == z3.sat:
            return _found(res, sem, cex, d, "bmc", t0)
        if r == z3.unsat and lasso_un is not None:
            left = _remaining_ms(t0, max_seconds)
            r, lasso = lasso_un.check_depth(d, left)
            if r == z3.sat:
                report_lasso(res, sem, lasso, lasso_un.fairness)
                res.seconds = time.monotonic() - t0
                return res
            if r == z3.unknown:
                return _stop(res, t0, d - 1, _gave_up(lasso_un.solver, d, max_seconds))
        if r == z3.unknown:
            return _stop(res, t0, d - 1, _gave_up(un.solver, d, max_seconds))
    res.depth = depth
    res.message = f"holds up to depth {depth} (bounded model checking; not a proof for all depths)"
    res.incomplete_reason = f"depth bound {depth} reached"
    res.seconds = time.monotonic() - t0
    return res


def _found(res, sem, cex, d: int, engine: str, t0):
    """``res`` with the counterexample ``cex = (path, bad)`` of a sat query at depth ``d``,
    replayed on the explicit semantics (an error that comes without a trace reports depth ``d``)."""
    path, bad = cex
    report_counterexample(res, sem, path, bad, engine)
    res.seconds = time.monotonic() - t0
    if res.verdict == ERROR and res.trace is None:
        res.depth = d
    return res


def _gave_up(solver, d: int, max_seconds):
    """Why an ``unknown`` answer at depth ``d``: the time limit, or z3's own reason."""
    why = solver.reason_unknown()
    if "timeout" in why or "canceled" in why:
        return f"time limit of {max_seconds:g}s reached at depth {d}"
    return f"z3 gave up at depth {d} ({why})"


def _stop(res, t0, reached: int, why: str):
    res.verdict = INCOMPLETE
    res.depth = max(reached, 0)
    res.bound = reached if reached >= 0 else None
    held = f"holds up to depth {reached}" if reached >= 0 else "no depth completed"
    res.message = f"{why}; {held}"
    res.incomplete_reason = why
    res.seconds = time.monotonic() - t0
    return res
