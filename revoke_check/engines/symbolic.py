"""The model and its checks as z3 formulas over current/next state variables.

The z3 engines (``bmc``, ``kind``, ``spacer``) read the same compiled
:class:`~model.protocol.Model` and :class:`~properties.Checks` as the explicit
explorer; nothing here knows the protocol.  Notation used in the docstrings:

* ``s``, ``t`` -- the state at one step and at the next one: one z3 term per
  slot of the state vector (``s[i]`` is slot ``i``, a number; booleans are 0/1
  and enums their index, exactly as in the explicit state tuple);
* ``sel`` -- the step selector: the index ``k`` of the transition taken from
  ``s`` to ``t``, or ``N = len(model.transitions)`` for a stutter step;
* ``[e](s)`` -- expression ``e`` of ``model/expr.py`` read over ``s``;
* ``en_k(s)`` -- transition ``k`` is enabled: ``s[pc_k] = v_k /\\ [guard_k](s)``;
* ``dom(x, i)`` -- ``lo_i <= x <= hi_i`` for the domain of slot ``i``.

Two sorts are available: ``int`` (z3 integers with range constraints) and
``bv`` (signed bit-vectors, wide enough for every value any expression of the
model can take -- see :func:`bv_width`).  ``bmc``, ``kind`` and its lemma
search use ``bv``; Spacer needs ``int`` (it reasons over arithmetic).

Domain overflow.  An update that leaves its variable's domain is a *model
error*.  The transition relation keeps ``dom(t[i], i)`` for every slot, so such
a step has no successor in the formulas; the state in which it is enabled is
therefore made a bad state of its own (kind ``model-error``, see
:func:`model_error_formula`) and is never lost.  Every counterexample is
replayed on the explicit semantics, which raises the same ``ModelError``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import z3

from revoke_check.model.expr import Const, Expr, Op, Var, variables

__all__ = [
    "Encoding", "Bad", "make_encoding", "new_solver", "num_value", "bv_width", "state_vars", "expr_to_z3",
    "range_formula", "init_formula", "enabled_formula", "step_formula",
    "stutter_formula", "trans_formula", "bad_formulas", "model_error_formula",
    "distinct_formula", "state_values", "ask", "STUTTER",
]

STUTTER = "stutter"


@dataclass
class Encoding:
    """How a model is put into z3: the sort of a slot and the cached enabled terms."""

    model: object
    sort: str = "int"        # "int" | "bv"
    width: int = 0           # bit-vector width (sort "bv")
    ctx: z3.Context | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def stutter(self) -> int:
        """The selector value of the stutter step (``N``)."""
        return len(self.model.transitions)

    def num(self, name: str):
        if self.sort == "bv":
            return z3.BitVec(name, self.width, self.ctx)
        return z3.Int(name, self.ctx)

    def val(self, v: int):
        if self.sort == "bv":
            return z3.BitVecVal(v, self.width, self.ctx)
        return z3.IntVal(v, self.ctx)

    def domain(self, slot: int):
        """The domain of a slot, looked up in ``model.vars`` (pc domains in
        expressions may be stale copies)."""
        return self.model.vars[slot].domain


def _interval(e: Expr, model, memo: dict) -> tuple[int, int]:
    """The interval of values ``e`` can take over any state within the domains."""
    key = id(e)
    if key in memo:
        return memo[key]
    if isinstance(e, Const):
        r = (e.value, e.value)
    elif isinstance(e, Var):
        d = model.vars[e.slot].domain
        r = (d.lo, d.hi)
    elif isinstance(e, Op):
        ivs = [_interval(a, model, memo) for a in e.args]
        if e.op == "+":
            r = (ivs[0][0] + ivs[1][0], ivs[0][1] + ivs[1][1])
        elif e.op == "-":
            r = (ivs[0][0] - ivs[1][1], ivs[0][1] - ivs[1][0])
        elif e.op == "ite":
            r = (min(ivs[1][0], ivs[2][0], 0), max(ivs[1][1], ivs[2][1], 1))
        else:
            r = (0, 1)
    else:
        raise TypeError(f"not an expression: {e!r}")
    memo[key] = r
    return r


def _all_exprs(model, checks):
    for tr in model.transitions:
        yield tr.guard
        yield from tr.updates.values()
    if checks is not None:
        for _, e in checks.invariants:
            yield e
        for _, e in checks.at_end:
            yield e
        for xs in checks.step_asserts.values():
            for _, e in xs:
                yield e


def bv_width(model, checks) -> int:
    """The smallest signed width holding every value of every (sub)expression.

    An interval analysis over the domains bounds each subterm of each guard,
    update and check; with ``width = bits(max |bound|) + 1`` no bit-vector
    operation wraps around, so the ``bv`` sort computes exactly what Python
    computes on the state tuple (comparisons are signed).
    """
    memo: dict = {}
    lo, hi = 0, 1
    for v in model.vars:
        hi = max(hi, v.domain.hi)
    for e in _all_exprs(model, checks):
        _interval(e, model, memo)
    for a, b in memo.values():
        lo, hi = min(lo, a), max(hi, b)
    # the step selector (0..N) is a number of the same sort
    m = max(abs(lo), abs(hi), len(model.transitions) + 1)
    return m.bit_length() + 1


def make_encoding(model, checks=None, sort: str = "int", ctx=None) -> Encoding:
    if sort not in ("int", "bv"):
        raise ValueError(f"unknown z3 sort {sort!r} (int or bv)")
    enc = Encoding(model, sort, 0, ctx)
    if sort == "bv":
        enc.width = bv_width(model, checks)
    return enc


# --- state -------------------------------------------------------------------

def state_vars(enc: Encoding, k) -> list:
    """``s_k``: one fresh z3 constant per slot, named ``<var>@<k>``."""
    return [enc.num(f"{v.name}@{k}") for v in enc.model.vars]


def num_value(model_z3, x) -> int:
    """The number a z3 model assigns to ``x`` (0 if it leaves ``x`` free)."""
    v = model_z3.eval(x, model_completion=True)
    return v.as_signed_long() if isinstance(v, z3.BitVecNumRef) else v.as_long()


def state_values(model_z3, s) -> tuple:
    """The state tuple a z3 model assigns to ``s``."""
    return tuple(num_value(model_z3, x) for x in s)


def new_solver(enc: Encoding):
    """A solver for the encoding's sort (bit-vectors: the QF_BV tactic with the CHB
    branching heuristic, measured ~2x faster on deep unrollings)."""
    if enc.sort != "bv":
        return z3.Solver(ctx=enc.ctx)
    solver = z3.SolverFor("QF_BV", ctx=enc.ctx)
    solver.set("sat.branching.heuristic", "chb")
    return solver


def ask(enc: Encoding, solver, name: str, formula, timeout_ms: float | None = None):
    """One incremental query: is ``formula`` satisfiable with what ``solver`` holds?

    Asked as ``check(act)`` under a fresh assumption literal ``act`` with
    ``act -> formula`` added; after ``unsat`` the query is retired (``not act``
    is added), so it weighs on no later query.  ``timeout_ms`` (at least 1)
    bounds this check and the solver's later ones.  Returns the z3 result."""
    act = z3.Bool(name, enc.ctx)
    solver.add(z3.Implies(act, formula))
    if timeout_ms is not None:
        solver.set("timeout", max(1, int(timeout_ms)))
    r = solver.check(act)
    if r == z3.unsat:
        solver.add(z3.Not(act))
    return r


# --- expressions -------------------------------------------------------------

def _as_bool(x):
    return x if z3.is_bool(x) else x != 0


def _as_num(enc, x):
    return z3.If(x, enc.val(1), enc.val(0)) if z3.is_bool(x) else x


def expr_to_z3(enc: Encoding, e: Expr, s: list, cache: dict | None = None):
    """``[e](s)``: the z3 term of expression ``e`` over state ``s``.

    Constants and variables are numbers (``s[slot]``), comparisons and the
    connectives are z3 booleans; where Python would mix them (a 0/1 slot used
    as a condition, a comparison added to a number) a number is read as a
    condition by ``x != 0`` and a condition as a number by ``If(c, 1, 0)``,
    which is what ``to_python`` computes.  ``Sel`` is an ``ite`` chain.
    """
    if cache is None:
        cache = {}
    key = id(e)
    hit = cache.get(key)
    if hit is not None:
        return hit[1]
    if isinstance(e, Const):
        r = z3.BoolVal(bool(e.value), enc.ctx) if e.sort == "bool" else enc.val(e.value)
    elif isinstance(e, Var):
        r = s[e.slot]
    elif isinstance(e, Op):
        a = [expr_to_z3(enc, x, s, cache) for x in e.args]
        o = e.op
        if o == "not":
            r = z3.Not(_as_bool(a[0]))
        elif o == "and":
            r = z3.And([_as_bool(x) for x in a])
        elif o == "or":
            r = z3.Or([_as_bool(x) for x in a])
        elif o == "ite":
            c, x, y = _as_bool(a[0]), a[1], a[2]
            if z3.is_bool(x) != z3.is_bool(y):
                x, y = _as_num(enc, x), _as_num(enc, y)
            r = z3.If(c, x, y)
        elif o in ("==", "!="):
            x, y = a
            if z3.is_bool(x) != z3.is_bool(y):
                x, y = _as_num(enc, x), _as_num(enc, y)
            r = (x == y) if o == "==" else (x != y)
        elif o in ("<", "<=", "+", "-"):
            x, y = _as_num(enc, a[0]), _as_num(enc, a[1])
            r = {"<": lambda: x < y, "<=": lambda: x <= y,
                 "+": lambda: x + y, "-": lambda: x - y}[o]()
        else:
            raise ValueError(f"unknown operator {o!r}")
    else:
        raise TypeError(f"not an expression: {e!r}")
    cache[key] = (e, r)  # keep e alive so that id() stays unique
    return r


# --- formulas ------------------------------------------------------------------

def range_formula(enc: Encoding, s: list):
    """``/\\_i dom(s[i], i)``: every slot within its domain."""
    return z3.And([z3.And(enc.val(v.domain.lo) <= x, x <= enc.val(v.domain.hi))
                   for v, x in zip(enc.model.vars, s)])


def init_formula(enc: Encoding, s: list):
    """``/\\_i s[i] = init[i]``: the initial state."""
    return z3.And([x == enc.val(v) for x, v in zip(s, enc.model.init)])


def enabled_formula(enc: Encoding, tr, s: list, cache: dict | None = None):
    """``en_k(s) = (s[pc_k] = v_k) /\\ [guard_k](s)``."""
    return z3.And(s[tr.pc_slot] == enc.val(tr.pc_value),
                  _as_bool(expr_to_z3(enc, tr.guard, s, cache)))


def step_formula(enc: Encoding, tr, s: list, t: list, cache: dict | None = None):
    """``step_k(s, t) = en_k(s) /\\ /\\_{i in upd_k} t[i] = [u_k,i](s)
    /\\ /\\_{i not in upd_k} t[i] = s[i]`` (simultaneous updates, frame).

    A reference count (a field declared ``refcount=True``) saturates at its
    lower bound, as ``Semantics.enabled`` does: the step that takes it below
    zero still has a successor here, so a trace can end with it (the
    ``refcounts`` step assertion, or the model error of the state before).
    Without this, a state whose only enabled steps underflow had no ``T``
    successor at all and a shortest refcounts trace was lost (issue 10, seed
    1052).  The extra successors leave only bad states (a step assertion fails
    or a model error holds there), so BMC reports that bad state at a depth no
    greater than any path through them, and kind's hypothesis excludes them."""
    eqs = []
    rc = enc.model.refcount_slots
    for i, x in enumerate(s):
        u = tr.updates.get(i)
        if u is None:
            eqs.append(t[i] == x)
            continue
        v = _as_num(enc, expr_to_z3(enc, u, s, cache))
        if i in rc:
            lo = enc.val(enc.domain(i).lo)
            v = z3.If(v < lo, lo, v)
        eqs.append(t[i] == v)
    return z3.And(enabled_formula(enc, tr, s, cache), *eqs)


def stutter_formula(enc: Encoding, s: list, t: list, cache: dict | None = None):
    """``stutter(s, t) = /\\_k not en_k(s) /\\ t = s``: a finished or deadlocked
    state repeats, so a path can be prolonged past it and a violation in it is
    kept at every later depth."""
    return z3.And(z3.Not(z3.Or([enabled_formula(enc, tr, s, cache) for tr in enc.model.transitions])),
                  *[a == b for a, b in zip(t, s)])


def trans_formula(enc: Encoding, s: list, t: list, sel, cache: dict | None = None):
    """``T(s, t, sel) = 0 <= sel <= N /\\ /\\_k (sel = k -> step_k(s, t))
    /\\ (sel = N -> stutter(s, t)) /\\ dom(t)``.

    Exactly one disjunct of ``\\/_k step_k \\/ stutter`` is selected, and
    ``sel`` records which one, so a counterexample names the transition taken
    at each step.  ``dom(t)`` drops the successors an update pushes out of a
    domain; :func:`model_error_formula` reports the state where that happens.
    """
    if cache is None:
        cache = {}
    n = enc.stutter
    parts = [sel >= enc.val(0), sel <= enc.val(n)]
    for tr in enc.model.transitions:
        parts.append(z3.Implies(sel == enc.val(tr.index), step_formula(enc, tr, s, t, cache)))
    parts.append(z3.Implies(sel == enc.val(n), stutter_formula(enc, s, t, cache)))
    parts.append(range_formula(enc, t))
    return z3.And(parts)


def model_error_formula(enc: Encoding, s: list, cache: dict | None = None, skip=frozenset()):
    """``\\/_k en_k(s) /\\ \\/_{i in upd_k} not dom([u_k,i](s), i)``: some
    enabled transition writes a value outside a domain (a model error).

    Updates whose value interval (over all in-domain states) lies within the
    domain are left out: they cannot overflow.  What remains are the counter
    increments and decrements.  ``skip`` holds the (transition, slot) pairs
    of reference counts whose underflow a selected property asserts (a step
    assertion of that transition, reported one step later), as the explicit
    explorer does."""
    out = []
    memo = enc._cache.setdefault("intervals", {})
    for tr in enc.model.transitions:
        bad = []
        for i, u in sorted(tr.updates.items()):
            if (tr.index, i) in skip:
                d = enc.domain(i)
                x = _as_num(enc, expr_to_z3(enc, u, s, cache))
                bad.append(x > enc.val(d.hi))     # the underflow is the assertion's; overflow stays
                continue
            d = enc.domain(i)
            lo, hi = _interval(u, enc.model, memo)
            if d.lo <= lo and hi <= d.hi:
                continue     # within the domain from every in-domain state
            x = _as_num(enc, expr_to_z3(enc, u, s, cache))
            bad.append(z3.Or(x < enc.val(d.lo), x > enc.val(d.hi)))
        if bad:
            out.append(z3.And(enabled_formula(enc, tr, s, cache), z3.Or(bad)))
    return z3.Or(out) if out else z3.BoolVal(False, enc.ctx)


def _all_final(enc, s):
    return z3.And([z3.Or([s[th.pc.slot] == enc.val(v) for v in sorted(th.finals)])
                   for th in enc.model.threads])


@dataclass
class Bad:
    """One way a state can be bad: ``formula(s)``, and what to report."""

    tag: str                 # unique, e.g. "invariant:refcounts", "step:17:refcounts"
    prop: str | None
    kind: str                # invariant | step-assertion | deadlock | at-end | model-error
    formula: object          # z3 BoolRef over s
    fire: int | None = None  # the transition a step assertion is violated by

    @property
    def extra_step(self) -> int:
        """Steps the reported trace has beyond the bad state (the violating step)."""
        return 1 if self.fire is not None else 0


def bad_formulas(enc: Encoding, checks, s: list, cache: dict | None = None) -> list[Bad]:
    """The bad states, one :class:`Bad` per property and kind, in the order the
    explicit semantics reports them (``replay.violation_at``):

    * invariant ``p``: ``not [inv_p](s)``;
    * model error: :func:`model_error_formula` (after the invariants: the
      explicit explorer checks a state's invariants when it reaches the state
      and fails on a domain overflow when it expands it);
    * deadlock: ``/\\_k not en_k(s) /\\ not final(s)`` where ``final(s) =
      /\\_threads s[pc] in finals``;
    * at-end ``p``: ``/\\_k not en_k(s) /\\ final(s) /\\ not [end_p](s)``;
    * step assertion ``p`` of transition ``k``: ``en_k(s) /\\ not [a_p,k](s)``
      (the trace then fires ``k``: one step longer than the path to ``s``).
    """
    if cache is None:
        cache = {}
    m = enc.model
    out = []
    for p, e in checks.invariants:
        out.append(Bad(f"invariant:{p}", p, "invariant",
                       z3.Not(_as_bool(expr_to_z3(enc, e, s, cache)))))
    out.append(Bad("model-error", None, "model-error",
                   model_error_formula(enc, s, cache, getattr(checks, "refcount_checked", frozenset()))))
    stuck = z3.Not(z3.Or([enabled_formula(enc, tr, s, cache) for tr in m.transitions]))
    if checks.deadlock:
        out.append(Bad("deadlock", checks.deadlock[0], "deadlock",
                       z3.And(stuck, z3.Not(_all_final(enc, s)))))
    for p, e in checks.at_end:
        out.append(Bad(f"at-end:{p}", p, "at-end",
                       z3.And(stuck, _all_final(enc, s), z3.Not(_as_bool(expr_to_z3(enc, e, s, cache))))))
    for ti in sorted(checks.step_asserts):
        tr = m.transitions[ti]
        for p, e in checks.step_asserts[ti]:
            out.append(Bad(f"step:{ti}:{p}", p, "step-assertion",
                           z3.And(enabled_formula(enc, tr, s, cache),
                                  z3.Not(_as_bool(expr_to_z3(enc, e, s, cache)))), fire=ti))
    return out


def _increment(slot: int, e) -> bool:
    """``e`` is ``s[slot] + c`` or ``s[slot] - c`` for a constant ``c``."""
    return (isinstance(e, Op) and e.op in ("+", "-") and isinstance(e.args[0], Var)
            and e.args[0].slot == slot and isinstance(e.args[1], Const))


def attached_reads(tr, checks) -> set:
    """Slots read by every check attached to transition ``tr``: its step
    assertions and its step witnesses (both evaluated over the pre-state of the
    transition, so they belong to the transition's footprint)."""
    out = set()
    if checks is None:
        return out
    for _, e in checks.step_asserts.get(tr.index, ()):
        out |= {v.slot for v in variables(e)}
    for _, e in checks.step_witness.get(tr.index, ()):
        out |= {v.slot for v in variables(e)}
    return out


def _footprint(tr, checks=None) -> tuple[set, set, set]:
    """(slots read, slots written, slots only incremented) of a transition.

    *Read* covers the pc, the guard, the non-increment updates and every check
    attached to the transition (:func:`attached_reads`: step assertions and
    step witnesses).  Leaving the attached checks out is unsound: a step whose
    assertion reads ``phase`` would commute with another thread's step that
    writes ``phase``, and the reordered path evaluates the assertion in a state
    where it holds (issue 10).  A slot updated by ``x := x + c`` (``c``
    constant) and read nowhere else by the transition or its checks counts as
    *incremented*, not as read and written.
    """
    reads = {tr.pc_slot} | {v.slot for v in variables(tr.guard)} | attached_reads(tr, checks)
    writes, incs = set(), set()
    for i, e in tr.updates.items():
        if _increment(i, e):
            incs.add(i)
        else:
            writes.add(i)
            reads |= {v.slot for v in variables(e)}
    incs -= reads
    writes |= {i for i, e in tr.updates.items() if i in reads and _increment(i, e)}
    return reads, writes, incs


def independent_pairs(model, checks) -> list[tuple[int, int]]:
    """Pairs ``(a, b)``, ``a < b``, of transitions of different threads that commute.

    With ``R``, ``W``, ``C`` the slots read, written and only incremented
    (:func:`_footprint`, which counts the reads of the checks attached to a
    transition as reads): ``W_a`` meets none of ``R_b, W_b, C_b``, ``C_a``
    meets none of ``R_b, W_b``, and symmetrically (the pc is read and written
    by its own thread only; two increments of one counter commute).  Then from
    a state where ``b;a`` can run, ``a`` is enabled, and ``a;b`` reaches the
    same state -- unless ``a``'s increment leaves its domain there, which is a
    model error in that (earlier) state, a bad state of its own.  And each
    step's attached checks (assertion, witness) read the same values in both
    orders.  ``checks`` is required: a caller that forgets it would get the
    unsound relation of issue 10.
    """
    fp = [_footprint(tr, checks) for tr in model.transitions]
    out = []
    for a, ta in enumerate(model.transitions):
        ra, wa, ca = fp[a]
        for b in range(a + 1, len(model.transitions)):
            if model.transitions[b].thread == ta.thread:
                continue
            rb, wb, cb = fp[b]
            if not (wa & (rb | wb | cb)) and not (wb & (ra | ca)) \
                    and not (ca & rb) and not (cb & ra):
                out.append((a, b))
    return out


def order_formula(enc: Encoding, sel, nxt, pairs):
    """``/\\_{(a,b) in pairs} not (sel = b /\\ nxt = a)``: of two adjacent
    independent steps, the one with the smaller index goes first.

    Sound for reachability at an exact depth: any path of ``d`` steps becomes
    one that satisfies this by swapping adjacent independent steps (each swap
    removes an inversion and keeps the end state), so every state reachable in
    exactly ``d`` steps stays reachable in exactly ``d`` steps, and a shortest
    counterexample keeps its length (partial-order reduction).

    Why this keeps every shortest counterexample, by kind of property (the
    intermediate states of a reordered path differ, so each argument uses the
    minimality of the counterexample: a bad intermediate state would be a
    shorter counterexample):

    * invariants, model errors, deadlock, at-end: bad *states*, evaluated on
      the last state of the path, which every swap keeps (the stutter selector
      ``N`` is in no pair, and stutters only follow a stuck state);
    * step assertions: see the violating step ``k`` of a shortest trace
      ``pi; k`` as a step of its own whose footprint is ``k``'s plus the reads
      of its assertion (:func:`attached_reads`).  Sorting ``pi; k`` keeps
      ``k`` last: if it could move before an independent ``b``, then ``k`` is
      enabled with its assertion false one step earlier, a shorter trace.  In
      BMC the solver must still give ``sel_{d-1}`` *some* value after the
      sorted prefix: ``k`` itself is allowed by the argument above (or ``k``
      overflows a domain, a model error one step earlier);
    * step witnesses: not used by the z3 engines; still in the footprint;
    * lock-order: not checked by the z3 engines (the CLI drops it);
    * vacuity: decided by the explicit engine only.
    """
    return z3.And([z3.Not(z3.And(sel == enc.val(b), nxt == enc.val(a))) for a, b in pairs])


def distinct_formula(s: list, t: list):
    """``s != t``: the two states differ in some slot (simple-path constraint)."""
    return z3.Or([a != b for a, b in zip(s, t)])
