"""``--engine spacer``: an unbounded proof through z3's Spacer engine (constrained Horn clauses).

The model becomes Horn clauses over one relation ``Reach(s)`` (integer sort)::

    init(s)                               -> Reach(s)
    Reach(s) /\\ step_k(s, t) /\\ dom(t)    -> Reach(t)     one rule per transition k, named t<k>
    Reach(s) /\\ bad(s)                    -> Err

with one query ``Err`` per kind of bad state (each invariant, each step
assertion of each transition, deadlock, at-end, model error): Spacer decides
small queries where one over their disjunction times out.  Unsatisfiable for
every one: no bad state is reachable at any depth, and each answer is an
inductive invariant for ``Reach`` (printed by ``check --show-invariant``).
The time budget (``--max-seconds``, default :data:`DEFAULT_SECONDS`) is
shared among the queries still to run; an undecided query makes the verdict
``incomplete`` and is named.  Satisfiable: the names of the rules along
Spacer's derivation are the transitions of a counterexample; it is replayed
on the explicit semantics like every z3 counterexample, and then shortened to
a shortest one by BMC up to its length.

No reduction is used in the Horn clauses (issue 10 review): every transition
is a rule and every kind of bad state (invariant, model error, deadlock,
at-end, step assertion as "enabled with its assertion false") is a query of
its own.  The BMC that shortens a counterexample uses the partial-order
constraint, whose footprints include the reads of step assertions.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import z3

from revoke_check import interrupt
from revoke_check.engines.bmc import bmc
from revoke_check.result import ERROR, HOLDS, INCOMPLETE, Result
from revoke_check.semantics import Semantics
from revoke_check.engines.symbolic import (bad_formulas, init_formula, make_encoding, range_formula,
                       state_vars, step_formula)
from revoke_check.engines.z3cex import choose_bad, internal_error, report_counterexample

__all__ = ["spacer", "Horn", "encode", "horn_clauses", "invariant_text"]


DEFAULT_SECONDS = 120.0   # Spacer may search for ever; without --max-seconds it gets this much


@dataclass
class Horn:
    """The model as the bodies of Horn clauses: states ``s``, ``t``, one rule body
    ``step_k(s, t) /\\ dom(t)`` per transition, and the bad states over ``s``."""

    enc: object
    s: list
    t: list
    steps: list
    bads: list


def encode(model, checks) -> Horn:
    enc = make_encoding(model, checks, "int")
    s, t = state_vars(enc, "s"), state_vars(enc, "t")
    steps = [z3.And(step_formula(enc, tr, s, t, {}), range_formula(enc, t)) for tr in model.transitions]
    return Horn(enc, s, t, steps, bad_formulas(enc, checks, s, {}))


def horn_clauses(h: Horn, bad):
    """(fixedpoint, Reach, Err) whose query ``Err`` asks whether ``bad(s)`` is reachable."""
    enc = h.enc
    fp = z3.Fixedpoint(ctx=enc.ctx)
    fp.set(engine="spacer")
    # keep Reach and one rule per transition visible, so that a derivation names the steps
    fp.set("xform.slice", False)
    fp.set("xform.inline_linear", False)
    fp.set("xform.inline_eager", False)
    reach = z3.Function("Reach", *[enc.num("x").sort()] * len(h.s), z3.BoolSort(ctx=enc.ctx))
    err = z3.Function("Err", z3.BoolSort(ctx=enc.ctx))
    fp.register_relation(reach, err)
    fp.declare_var(*h.s, *h.t)
    fp.rule(reach(*h.s), init_formula(enc, h.s), name="init")
    for k, body in enumerate(h.steps):
        fp.rule(reach(*h.t), [reach(*h.s), body], name=f"t{k}")
    fp.rule(err(), [reach(*h.s), bad], name="bad")
    return fp, reach, err


def invariant_text(fp, reach, model) -> str:
    """Spacer's inductive invariant for ``Reach``, over the variable names."""
    body = fp.get_cover_delta(-1, reach)
    consts = [z3.Int(v.name, body.ctx) for v in model.vars]
    return " ".join(str(z3.simplify(z3.substitute_vars(body, *consts))).split())


def spacer(model, checks, *, max_seconds: float | None = None, sem: Semantics | None = None,
           show_invariant: bool = False) -> Result:
    """One Spacer query per kind of bad state (see the module doc)."""
    t0 = time.monotonic()
    budget = DEFAULT_SECONDS if max_seconds is None else max_seconds
    names = [p.name for p in checks.properties]
    res = Result(INCOMPLETE, model.config.name, model.variant, "spacer", names)
    sem = sem or Semantics(model, checks)
    h = encode(model, checks)
    bads = h.bads
    open_, proved = [], []
    interrupt.note(queries=f"0 of {len(bads)}")
    for n, b in enumerate(bads):
        left = budget - (time.monotonic() - t0)
        if left <= 0:
            open_ += [x.tag for x in bads[n:]]
            break
        fp, reach, err = horn_clauses(h, b.formula)
        fp.set("timeout", max(1, int(left / (len(bads) - n) * 1000)))
        try:
            r = fp.query(err())
        except z3.Z3Exception:   # the timeout cancels the query
            r = z3.unknown
        interrupt.check()
        if r == z3.sat:
            path = [int(x[1:]) for x in _rule_names(fp) if x[:1] == "t" and x[1:].isdigit()]
            return _report(res, sem, h, path, t0, budget)
        if r == z3.unsat:
            proved.append(b.tag)
            interrupt.note(queries=f"{len(proved)} of {len(bads)}")
            if show_invariant:
                res.invariant.append(f"{b.tag}: {invariant_text(fp, reach, model)}")
        else:
            open_.append(b.tag)
    res.seconds = time.monotonic() - t0
    if not open_:
        res.verdict, res.proof, res.bound = HOLDS, "spacer", None
        res.message = f"proven for all depths by Spacer ({len(bads)} queries, one per kind of bad state)"
        return res
    why = f"time limit of {budget:g}s reached" + (
        "" if max_seconds is not None else " (the default; see --max-seconds)")
    res.message = (f"{why}: Spacer proved {len(proved)} of {len(bads)} kinds of bad state unreachable; "
                   f"not decided: {', '.join(open_[:6])}{' ...' if len(open_) > 6 else ''}")
    res.incomplete_reason = why
    return res


def _rule_names(fp) -> list[str]:
    """The names of the rules of Spacer's derivation, from ``init`` to ``bad``
    (z3 lists them from the query back to the fact)."""
    raw = fp.get_rule_names_along_trace()
    names = [str(n).strip('"|') for n in (raw if isinstance(raw, (list, tuple)) else [raw])]
    return names[::-1] if names[-1:] == ["init"] else names


def _report(res, sem, h: Horn, path, t0, budget):
    """Re-run Spacer's path, name the bad state it ends in, replay, then shorten by BMC."""
    m = sem.model
    state = m.init
    for ti in path:
        nxt = sem.enabled(state, ti) if 0 <= ti < len(m.transitions) else None
        if nxt is None:
            return internal_error(res, f"Spacer's derivation {path} is not a run of the model")
        state = nxt
    probe = z3.Solver(ctx=h.enc.ctx)
    probe.add([x == h.enc.val(v) for x, v in zip(h.s, state)])
    probe.check()
    bad = choose_bad(probe.model(), [b for b in h.bads if b.fire is None],
                     [b for b in h.bads if b.fire is not None], None)
    report_counterexample(res, sem, path, bad, "spacer")
    if res.verdict != ERROR:
        # Spacer's derivation need not be a shortest one: BMC up to its length finds one that is
        left = budget - (time.monotonic() - t0)
        short = bmc(m, sem.checks, depth=len(res.trace), max_seconds=max(left, 1.0), sem=sem)
        if short.trace is not None:
            short.engine = short.trace.engine = "spacer"
            res = short
        else:
            res.message += " (Spacer's trace; BMC found no shorter one within the time, so it may not be shortest)"
    res.seconds = time.monotonic() - t0
    return res
