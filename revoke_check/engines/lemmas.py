"""Lemmas that strengthen k-induction: clauses the explicit reachable set suggests, z3 checks.

Plain k-induction on this model does not close (the unreachable part of the
state space has long simple paths into bad states), so ``kind`` first looks
for an inductive invariant ``L`` made of *lemmas*, each a clause
``not (s[i1] = v1 /\\ ... /\\ s[in] = vn)``:

1. the explicit explorer enumerates the reachable states ``Reach`` (the
   *oracle*; it is trusted for nothing but suggestions) and finds no
   violation among them (otherwise there is nothing to prove);
2. z3 looks for a *counterexample to induction* (CTI), a state ``s`` with
   ``L(s) /\\ (Bad(s) \\/ T(s, t) /\\ not L(t))``;
3. a CTI outside ``Reach`` is generalised to a smallest cube of its literals
   that no reachable state matches (dropping literals greedily) and its
   negation becomes a lemma; a CTI inside ``Reach`` means that the two
   semantics disagree (z3 sees a bad state or a step out of ``Reach`` where the
   explicit explorer saw none): an internal error;
4. when no CTI is left, z3 also checks ``Init => L``.  Then ``L`` is an
   inductive invariant that excludes every bad state: the properties hold at
   every depth (1-induction strengthened by ``L``).

Soundness rests on z3 alone: the lemmas are checked, not trusted.  No
reduction is used here (issue 10 review): the CTI query has the full transition
relation (no order constraint, no simple-path constraint), and ``Bad`` is the
disjunction of every kind of :func:`~revoke_check.engines.symbolic.bad_formulas` --
invariants, model errors, deadlock, at-end, and step assertions as the states
where the asserting transition is enabled with its assertion false -- so
``L => not Bad`` covers every property kind the z3 engines check (lock-order and
vacuity are the explicit engine's).  An oracle
that missed a reachable state can only make a lemma that z3 then refutes (a
CTI inside ``Reach`` as seen by z3, an internal error).  Every round adds a
lemma that excludes at least the CTI, so the loop ends.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import z3

from revoke_check import interrupt
from revoke_check.engines.symbolic import (bad_formulas, init_formula, new_solver, num_value, range_formula,
                       state_values, state_vars, trans_formula)

__all__ = ["Lemma", "Oracle", "strengthen", "Strengthened"]


@dataclass(frozen=True)
class Lemma:
    """``not /\\_{(i, v) in cube} s[i] = v``."""

    cube: tuple  # ((slot, value), ...) sorted by slot

    def formula(self, enc, s):
        return z3.Not(z3.And([s[i] == enc.val(v) for i, v in self.cube]))

    def show(self, model) -> str:
        lits = [f"{model.vars[i].name} = {_show(model.vars[i].domain, v)}" for i, v in self.cube]
        return "not (" + " and ".join(lits) + ")"


def _show(domain, v):
    x = domain.show(v)
    return str(x).lower() if isinstance(x, bool) else str(x)


class Oracle:
    """The reachable states as one bit mask per (slot, value): matching a cube is an AND."""

    def __init__(self, states: list, domains: list):
        self.domains = domains
        self.all = (1 << len(states)) - 1
        masks: dict = {}
        for k, st in enumerate(states):
            bit = 1 << k
            for i, v in enumerate(st):
                masks[(i, v)] = masks.get((i, v), 0) | bit
        self.masks = masks
        self.index = {st: k for k, st in enumerate(states)}

    def __contains__(self, state) -> bool:
        return tuple(state) in self.index

    def matches(self, cube) -> bool:
        """Some reachable state agrees with every literal of ``cube``."""
        m = self.all
        for lit in cube:
            m &= self.masks.get(lit, 0)
            if not m:
                return False
        return True

    def small_cubes(self) -> list:
        """Every cube of one or two literals (over the values of the domains) that
        no reachable state matches: the values and pairs of values never seen
        together.  A pair is left out when one of its values is never seen."""
        n = len(self.domains)
        vals = [sorted({v for (i, v) in self.masks if i == j}) for j in range(n)]
        out = []
        for i, d in enumerate(self.domains):
            out += [((i, v),) for v in range(d.lo, d.hi + 1) if (i, v) not in self.masks]
        for i in range(n):
            for j in range(i + 1, n):
                for a in vals[i]:
                    ma = self.masks[(i, a)]
                    out += [((i, a), (j, b)) for b in vals[j] if not ma & self.masks[(j, b)]]
        return out

    def generalize(self, state) -> tuple:
        """A subset of ``state``'s literals that no reachable state matches and
        from which no literal can be dropped (``state`` must be unreachable)."""
        cube = list(enumerate(state))
        # literals most reachable states share go first: dropping them is most likely fine
        cube.sort(key=lambda lit: -bin(self.masks.get(lit, 0)).count("1"))
        i = 0
        while i < len(cube):
            rest = cube[:i] + cube[i + 1:]
            if not self.matches(rest):
                cube = rest
            else:
                i += 1
        return tuple(sorted(cube))


@dataclass
class Strengthened:
    """The outcome of :func:`strengthen`."""

    status: str                  # proved | disagreement | limit
    lemmas: list
    message: str = ""


def strengthen(enc, checks, oracle: Oracle, *, deadline: float | None = None) -> Strengthened:
    """Find lemmas ``L`` with ``Init => L``, ``L /\\ T => L'`` and ``L => not Bad``
    (see the module doc); the oracle must hold every reachable state and no bad one."""
    m = enc.model
    s, t = state_vars(enc, "cti"), state_vars(enc, "cti'")
    sel = enc.num("sel@cti")
    cache: dict = {}
    solver = new_solver(enc)
    solver.add(range_formula(enc, s), trans_formula(enc, s, t, sel, cache))
    bad = z3.Bool("bad@cti", enc.ctx)
    solver.add(bad == z3.Or([b.formula for b in bad_formulas(enc, checks, s, cache)]))
    # broken_n <-> bad(s) \/ not lemma_1(t) \/ ... \/ not lemma_n(t), one link per lemma,
    # so that a round's query is one assumption and the solver keeps what it learnt
    lemmas: list[Lemma] = []
    broken = [bad]

    def add(lm):
        lemmas.append(lm)
        solver.add(lm.formula(enc, s))
        b = z3.Bool(f"broken{len(broken)}", enc.ctx)
        solver.add(b == z3.Or(broken[-1], z3.Not(lm.formula(enc, t))))
        broken.append(b)

    for cube in oracle.small_cubes():
        add(Lemma(cube))
    while True:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return Strengthened("limit", lemmas, "time limit reached while looking for lemmas")
            solver.set("timeout", max(1, int(left * 1000)))
        r = solver.check(broken[-1])
        interrupt.check()
        if r == z3.unsat:
            break
        if r == z3.unknown:
            return Strengthened("limit", lemmas, f"z3 gave up looking for lemmas "
                                                  f"({solver.reason_unknown()})")
        interrupt.note(lemmas=len(lemmas))
        zm = solver.model()
        cti = state_values(zm, s)
        if cti in oracle:
            if z3.is_true(zm.eval(bad)):
                why = "z3 finds a bad state the explicit explorer reached without a violation"
            else:
                k = num_value(zm, sel)
                label = m.transitions[k].label if k < len(m.transitions) else "stutter"
                why = f"z3 leaves the reachable set by step {label}"
            return Strengthened("disagreement", lemmas,
                                f"z3 and the explicit semantics disagree: {why}")
        add(Lemma(oracle.generalize(cti)))
    # initiation: every lemma holds in the initial state
    check = z3.Solver(ctx=enc.ctx)
    check.add(init_formula(enc, s), z3.Not(z3.And([lm.formula(enc, s) for lm in lemmas])))
    if check.check() != z3.unsat:
        return Strengthened("disagreement", lemmas, "a lemma is false in the initial state")
    return Strengthened("proved", lemmas)
