"""Liveness for bmc: lassos by the liveness-to-safety reduction.

A lasso of ``k`` steps is the unrolling ``s_0 .. s_k`` (as in :mod:`bmc`,
stutter steps allowed only where no step is enabled) with a *saved state*:
a one-hot choice ``L_l`` of the loop start ``l < k`` and the loop-closing
check ``s_k = s_l``.  With ``B_i = ~Q(s_i) /\\ .. /\\ ~Q(s_k)`` (``~Q`` from
``i`` on), the obligation ``[](P -> <>Q)`` is violated by the lasso iff::

    \\/_l (L_l /\\ B_l)  /\\  \\/_j (P(s_j) /\\ B_j)  /\\  fair(loop)

(``~Q`` on the whole loop, and a ``P /\\ ~Q`` position from which ``~Q`` lasts).
``fair`` ranges over the loop positions ``l <= i < k`` (``in_i``): a weak
unit is taken at some loop step or disabled in some loop state; a strong
unit is taken at some loop step or disabled in every loop state (the units of
:func:`revoke_check.engines.liveness.units`).  A terminal state's stutter step closes
a loop of its own, and is fair (nothing is enabled there).

No partial-order constraint is added: swapping independent steps keeps end
states but not loops or fairness.  Depths go up from 1, so the first lasso is
one of fewest steps (stutter steps included; the reported trace leaves them
out and marks the stutter loop with ``loop = len(steps)``).  The lasso is
replayed on the explicit semantics, loop closure and fairness included,
before it is reported.
"""
from __future__ import annotations

import z3

from revoke_check.engines.liveness import Fairness, Lasso, describe_lasso, units
from revoke_check.engines.symbolic import (_as_bool, ask, enabled_formula, expr_to_z3, init_formula,
                       make_encoding, new_solver, num_value, state_vars, trans_formula)

__all__ = ["LassoUnroller"]


class LassoUnroller:
    def __init__(self, model, checks, fairness: Fairness | None = None):
        self.model, self.checks = model, checks
        self.fairness = fairness or Fairness()
        self.units = units(model, self.fairness)
        self.enc = make_encoding(model, checks, "bv")
        self.solver = new_solver(self.enc)
        self.states = [state_vars(self.enc, 0)]
        self.sels: list = []
        self.caches = [{}]
        self.solver.add(init_formula(self.enc, self.states[0]))
        self.en: list = []          # per state: [unit enabled]
        self.PQ: list = []          # per state: [(P, notQ)] per obligation
        self._state_terms(0)

    def _state_terms(self, i):
        s, c = self.states[i], self.caches[i]
        self.en.append([z3.Or([enabled_formula(self.enc, self.model.transitions[ti], s, c)
                               for ti in sorted(u.trans)]) for u in self.units])
        self.PQ.append([(_as_bool(expr_to_z3(self.enc, P, s, c)),
                         z3.Not(_as_bool(expr_to_z3(self.enc, Q, s, c))))
                        for _, _, P, Q in self.checks.liveness])

    def extend(self):
        d = len(self.states) - 1
        t = state_vars(self.enc, d + 1)
        sel = self.enc.num(f"sel@{d}")
        self.solver.add(trans_formula(self.enc, self.states[d], t, sel, self.caches[d]))
        self.states.append(t)
        self.sels.append(sel)
        self.caches.append({})
        self._state_terms(d + 1)

    def _taken(self, i, u):
        sel = self.sels[i]
        return z3.Or([sel == self.enc.val(ti) for ti in sorted(u.trans)])

    def lasso_formula(self, k: int):
        """(formula, loop-start literals, per-obligation literals) of a violating lasso of ``k`` steps."""
        enc = self.enc
        L = [z3.Bool(f"L{j}@{k}", enc.ctx) for j in range(k)]
        one_hot = [z3.Or(L), z3.AtMost(*L, 1)]
        close = [z3.Implies(L[j], z3.And([x == y for x, y in zip(self.states[j], self.states[k])]))
                 for j in range(k)]
        inloop = [z3.Or(L[:i + 1]) for i in range(k)]
        fair = []
        for ui, u in enumerate(self.units):
            taken = z3.Or([z3.And(inloop[i], self._taken(i, u)) for i in range(k)])
            if u.kind == "weak":
                fair.append(z3.Or(taken, z3.Or([z3.And(inloop[i], z3.Not(self.en[i][ui]))
                                                 for i in range(k)])))
            else:
                fair.append(z3.Or(taken, z3.And([z3.Implies(inloop[i], z3.Not(self.en[i][ui]))
                                                  for i in range(k)])))
        obs = []
        for ob in range(len(self.checks.liveness)):
            B = [None] * (k + 1)
            B[k] = self.PQ[k][ob][1]
            for i in range(k - 1, -1, -1):
                B[i] = z3.And(self.PQ[i][ob][1], B[i + 1])
            obs.append(z3.And(z3.Or([z3.And(L[j], B[j]) for j in range(k)]),
                              z3.Or([z3.And(self.PQ[j][ob][0], B[j]) for j in range(k + 1)])))
        return z3.And(*one_hot, *close, *fair, z3.Or(obs)), L, obs

    def check_depth(self, k: int, timeout_ms=None):
        """A lasso of exactly ``k`` steps violating some obligation: (z3 result, Lasso | None).

        One query per depth for all obligations; the first obligation (in
        ``checks.liveness`` order) the model violates is reported."""
        while len(self.states) - 1 < k:
            self.extend()
        if k == 0 or not self.checks.liveness:
            return z3.unsat, None
        f, L, obs = self.lasso_formula(k)
        r = ask(self.enc, self.solver, f"lasso@{k}", f, timeout_ms)
        if r != z3.sat:
            return r, None
        zm = self.solver.model()
        ob = next(i for i, o in enumerate(obs) if z3.is_true(zm.eval(o, model_completion=True)))
        prop, label, _, _ = self.checks.liveness[ob]
        sels = [num_value(zm, x) for x in self.sels[:k]]
        start = next(i for i in range(k) if z3.is_true(zm.eval(L[i], model_completion=True)))
        stem = [x for x in sels[:start] if x != self.enc.stutter]
        loop = [x for x in sels[start:] if x != self.enc.stutter]
        return r, Lasso(prop, label, stem, loop)


def report_lasso(res, sem, lasso: Lasso, fairness, engine="bmc"):
    """Fill ``res`` from a z3 lasso after replaying it (loop closure and fairness included)."""
    from revoke_check.model.lang import ModelError
    from revoke_check.replay import replay
    from revoke_check.result import VIOLATED
    from revoke_check.engines.z3cex import internal_error
    try:
        trace = describe_lasso(sem, lasso, fairness, engine)
    except (ModelError, TypeError, IndexError) as e:
        return internal_error(res, f"lasso {lasso.stem}+{lasso.loop}: {e!r}")
    rr = replay(trace, sem, fairness)
    if not rr.ok:
        return internal_error(res, rr.error)
    if rr.violation is None or rr.violation[0] != lasso.prop:
        return internal_error(res, f"the lasso does not violate {lasso.prop} on replay")
    res.verdict, res.property, res.message, res.trace = VIOLATED, lasso.prop, trace.message, trace
    res.depth = len(trace)
    return res
