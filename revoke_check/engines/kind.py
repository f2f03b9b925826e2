"""k-induction with simple-path constraints, on the BMC encoding.

For ``k = 1, 2, ...`` up to ``--depth K``:

* **base** -- the BMC query at depth ``k`` (:class:`~revoke_check.engines.bmc.Unroller`):
  a bad state reachable in ``k`` steps is a real counterexample (a shortest
  one, since the depths before were unsatisfiable);
* **step** -- on a second solver, a path ``u_0 .. u_k`` from *any* in-domain
  state::

      dom(u_0) /\\ T(u_0, u_1) /\\ ... /\\ T(u_{k-1}, u_k)
      /\\ not Bad(u_0) /\\ ... /\\ not Bad(u_{k-1})
      /\\ /\\_{i<j} u_i != u_j          (simple path)
      /\\ order(sel_i, sel_{i+1})       (partial-order reduction)
      /\\ Bad(u_k)

  Unsatisfiable means: no bad state is reachable at any depth (``holds``,
  ``proof = k``).  Why this is sound with the two reductions: take a shortest
  path from the initial state to a bad state (longer than the base covered);
  it is simple, its states before the last are good, and the swaps that put
  it in the order of :func:`~revoke_check.engines.symbolic.order_formula` keep its
  length, its end and (by minimality) the goodness of its other states; its
  last ``k + 1`` states would satisfy the step query.

  By kind of property (``Bad`` is the disjunction of
  :func:`~revoke_check.engines.symbolic.bad_formulas`): invariants, model errors,
  deadlock and at-end are bad *states*; a step assertion of transition ``j`` is
  the bad state ``en_j(u) /\\ not a_j(u)``, so it too is a property of the last
  state ``u_k`` and the path need not fire ``j``.  The order constraint is
  sound for these only because the footprint of a transition includes the
  reads of its assertions (issue 10; see ``order_formula``).  Simple path: a
  shortest path to a bad state visits no state twice, whatever the kind.  The
  base case is :class:`~revoke_check.engines.bmc.Unroller`, with BMC's argument.
  Lock-order and vacuity are not checked by this engine.

If the step query is still satisfiable at ``k = K`` the verdict is
``incomplete``: no counterexample up to depth ``K``, no proof either.

On this model plain k-induction rarely closes (unreachable states have long
simple paths into bad ones), so by default the induction is first
*strengthened with lemmas* (:mod:`~revoke_check.engines.lemmas`): clauses suggested by
the explicit reachable set and checked by z3, which make 1-induction close
(``proof = 1``, ``lemmas = N``).  When the explicit explorer finds a
violation (or stops at a limit), or the lemma search runs out of time, the
plain loop above runs (its base case yields the shortest counterexample);
``lemmas=False`` skips the strengthening.
"""
from __future__ import annotations

import time

import z3

from revoke_check.engines.bmc import DEFAULT_DEPTH, Unroller, _found, _remaining_ms, _stop
from revoke_check import interrupt
from revoke_check.engines.explicit import explore
from revoke_check.engines.lemmas import Oracle, strengthen
from revoke_check.result import HOLDS, INCOMPLETE, VACUOUS, Result
from revoke_check.semantics import Semantics
from revoke_check.engines.symbolic import (ask, bad_formulas, distinct_formula, make_encoding, new_solver,
                       order_formula, range_formula, state_vars, trans_formula)
from revoke_check.engines.z3cex import internal_error

__all__ = ["kinduction", "StepCase"]


class StepCase:
    """The induction-step unrolling from an arbitrary state, extended one step at a time."""

    def __init__(self, un: Unroller):
        self.enc, self.checks = un.enc, un.checks
        self.pairs = un.pairs
        self.solver = new_solver(self.enc)
        u0 = state_vars(self.enc, "u0")
        self.states, self.sels, self.caches = [u0], [], [{}]
        self.bads = [self._bad(u0, self.caches[0])]
        self.solver.add(range_formula(self.enc, u0))

    def _bad(self, u, cache):
        return z3.Or([b.formula for b in bad_formulas(self.enc, self.checks, u, cache)])

    def check(self, k: int, timeout_ms=None):
        """Is there a simple path of ``k`` steps from a good state to a bad one?"""
        while len(self.states) <= k:
            i = len(self.states) - 1
            u, cache = self.states[i], self.caches[i]
            v = state_vars(self.enc, f"u{i + 1}")
            sel = self.enc.num(f"usel@{i}")
            self.solver.add(trans_formula(self.enc, u, v, sel, cache))
            self.solver.add(z3.Not(self.bads[i]))
            if self.pairs and self.sels:
                self.solver.add(order_formula(self.enc, self.sels[-1], sel, self.pairs))
            for w in self.states:
                self.solver.add(distinct_formula(w, v))
            self.states.append(v)
            self.sels.append(sel)
            self.caches.append({})
            self.bads.append(self._bad(v, self.caches[-1]))
        return ask(self.enc, self.solver, f"step@{k}", self.bads[k], timeout_ms)


# the oracle enumerates at most this many states (beyond, plain k-induction only)
ORACLE_STATES = 2_000_000


def strengthened(res, model, checks, sem, *, t0, max_seconds, sort, show_invariant):
    """1-induction strengthened with lemmas: fills ``res`` and returns True when it
    decides (proof or internal error), False to fall back to plain k-induction."""
    deadline = None if max_seconds is None else t0 + max_seconds
    states: list = []
    ex = explore(model, checks, max_states=ORACLE_STATES, max_seconds=max_seconds, sem=sem,
                 states_out=states)
    if ex.verdict not in (HOLDS, VACUOUS):
        res.message = f"no lemmas: the explicit explorer says {ex.verdict}"
        return False
    enc = make_encoding(model, checks, sort)
    out = strengthen(enc, checks, Oracle(states, [v.domain for v in model.vars]), deadline=deadline)
    res.lemmas = len(out.lemmas)
    if out.status == "disagreement":
        internal_error(res, out.message)
        res.seconds = time.monotonic() - t0
        return True
    if out.status != "proved":
        res.message = f"no lemma set ({out.message})"
        return False
    res.verdict, res.proof, res.bound, res.depth = HOLDS, 1, None, 1
    res.message = (f"proven for all depths by 1-induction strengthened with {len(out.lemmas)} "
                   f"lemmas (suggested by the {len(states)} reachable states, each checked by z3)")
    if show_invariant:
        res.invariant = [lm.show(model) for lm in out.lemmas]
    res.seconds = time.monotonic() - t0
    return True


def kinduction(model, checks, *, depth: int = DEFAULT_DEPTH, max_seconds: float | None = None,
               sort: str = "bv", sem: Semantics | None = None, progress=None,
               lemmas: bool = True, show_invariant: bool = False) -> Result:
    """k-induction for ``k = 1 .. depth``, first strengthened by lemmas; see the module doc."""
    t0 = time.monotonic()
    names = [p.name for p in checks.properties]
    res = Result(INCOMPLETE, model.config.name, model.variant, "kind", names, bound=depth)
    sem = sem or Semantics(model, checks)
    if lemmas and strengthened(res, model, checks, sem, t0=t0, max_seconds=max_seconds,
                               sort=sort, show_invariant=show_invariant):
        return res
    note, res.message, res.lemmas = res.message, "", None
    out = _plain(res, model, checks, sem, t0=t0, depth=depth, max_seconds=max_seconds,
                 sort=sort, progress=progress)
    if lemmas and note and out.verdict == INCOMPLETE:
        out.message += f"; {note}"
    return out


def _plain(res, model, checks, sem, *, t0, depth, max_seconds, sort, progress):
    """Plain k-induction (the loop of the module doc)."""
    base = Unroller(model, checks, sort=sort)
    step = StepCase(base)
    for k in range(depth + 1):
        left = _remaining_ms(t0, max_seconds)
        if left is not None and left <= 0:
            return _stop(res, t0, k - 1, f"time limit of {max_seconds:g}s reached")
        r, cex = base.check_depth(k, left)
        interrupt.check()
        if r == z3.sat:
            res.bound = k
            return _found(res, sem, cex, k, "kind", t0)
        if r == z3.unknown:
            return _stop(res, t0, k - 1, f"time limit of {max_seconds:g}s reached in the base case")
        if progress:
            progress(k, time.monotonic() - t0)
        interrupt.note(depth=k)
        if k == 0:
            continue
        left = _remaining_ms(t0, max_seconds)
        if left is not None and left <= 0:
            return _stop(res, t0, k, f"time limit of {max_seconds:g}s reached")
        r = step.check(k, left)
        interrupt.check()
        interrupt.note(k=k)
        if r == z3.unsat:
            res.verdict, res.proof, res.bound, res.depth = HOLDS, k, None, k
            res.message = f"proven for all depths by {k}-induction"
            res.seconds = time.monotonic() - t0
            return res
        if r == z3.unknown:
            return _stop(res, t0, k, f"time limit of {max_seconds:g}s reached in the induction step "
                                     f"at k={k}")
    res.depth = depth
    res.message = (f"not proven: the induction step does not close up to k={depth}; "
                   f"holds up to depth {depth}")
    res.incomplete_reason = f"k-induction bound {depth} reached"
    res.seconds = time.monotonic() - t0
    return res
