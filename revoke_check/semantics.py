"""The explicit semantics: transitions and checks compiled to Python functions.

Each transition becomes ``t<k>(s) -> next state tuple | None`` (None when its
guard is false; the pc test is done by dispatch on the thread's pc).  Updates
leaving a variable's domain raise :class:`~model.lang.ModelError`.  Replay,
the explicit explorer and the z3 trace check all go through this one module.
"""
from __future__ import annotations

from revoke_check.model.expr import TRUE, to_python
from revoke_check.model.lang import ModelError

__all__ = ["Semantics"]


class Semantics:
    def __init__(self, model, checks=None):
        self.model, self.checks = model, checks
        vars_ = model.vars
        src = ["def _bad(t, slot, val):\n    raise ModelError(_msg(t, slot, val))\n"]
        rc = getattr(model, "refcount_slots", frozenset())
        under = []          # transitions that may take a reference count below zero
        for tr in model.transitions:
            # t<k>: the successor, or None.  u<k> (only where a refcount may drop below
            # its domain): the successor with that count saturated at its low end if the
            # step underflows, else None.  t<k> has no successor for such a step: the
            # explorer reports it as a refcounts violation, or as a model error when no
            # selected property asserts the count (exactly like the z3 encoding).
            for fname, saturate in (("t", False), ("u", True)):
                if saturate and not any(slot in rc for slot in tr.updates):
                    continue
                lines = [f"def {fname}{tr.index}(s):"]
                if saturate:
                    lines.append("    low = False")
                if tr.guard is not TRUE:
                    lines.append(f"    if not ({to_python(tr.guard)}): return None")
                for slot, e in sorted(tr.updates.items()):
                    py = to_python(e)
                    if e.sort == "bool" and vars_[slot].domain.kind != "bool":
                        raise ModelError(f"{tr.label}: boolean assigned to {vars_[slot].name}")
                    lines.append(f"    v{slot} = int({py})" if e.sort == "bool" else f"    v{slot} = {py}")
                    d = vars_[slot].domain
                    if slot in rc:
                        lines.append(f"    if v{slot} < {d.lo}:")
                        lines.append(f"        v{slot} = {d.lo}; low = True" if saturate else "        return None")
                    lines.append(f"    if not ({d.lo} <= v{slot} <= {d.hi}): _bad({tr.index}, {slot}, v{slot})")
                if saturate:
                    lines.append("    if not low: return None")
                cells = [f"v{i}" if i in tr.updates else f"s[{i}]" for i in range(len(vars_))]
                lines.append("    return (" + ", ".join(cells) + ",)")
                src.append("\n".join(lines))
                if saturate:
                    under.append(tr.index)
        ns = {"ModelError": ModelError, "_msg": self._msg}
        exec(compile("\n\n".join(src), f"<transitions {model.config.name}>", "exec"), ns)
        self.fns = [ns[f"t{tr.index}"] for tr in model.transitions]
        self.ufns = {k: ns[f"u{k}"] for k in under}
        self.under_dispatch = []
        for th in model.threads:
            table: dict = {}
            for k in under:
                tr = model.transitions[k]
                if tr.thread == th.name:
                    table.setdefault(tr.pc_value, []).append((k, self.ufns[k]))
            if table:
                self.under_dispatch.append((th.pc.slot, table))
        # dispatch: per thread, pc value -> [(transition index, fn)]
        self.dispatch = []
        for th in model.threads:
            table: dict = {}
            for tr in model.transitions:
                if tr.thread == th.name:
                    table.setdefault(tr.pc_value, []).append((tr.index, self.fns[tr.index]))
            self.dispatch.append((th.pc.slot, table))
        self.finals = [(th.pc.slot, th.finals) for th in model.threads]
        if checks is not None:
            self._compile_checks(checks)

    def _msg(self, t, slot, val):
        tr = self.model.transitions[t]
        v = self.model.vars[slot]
        return (f"model error: step {tr.label} of {tr.thread} sets {v.name} to {val}, "
                f"outside {v.domain.lo}..{v.domain.hi}")

    @staticmethod
    def _fn(expr):
        return eval(f"lambda s: bool({to_python(expr)})")

    def _compile_checks(self, c):
        f = self._fn
        self.refcount_checked = frozenset(c.refcount_checked)
        self.invariants = [(p, f(e)) for p, e in c.invariants]
        self.step_asserts = {t: [(p, f(e)) for p, e in xs] for t, xs in c.step_asserts.items()}
        self.at_end = [(p, f(e)) for p, e in c.at_end]
        self.state_witness = [(w, f(e)) for w, e in c.state_witness]
        self.step_witness = {t: [(w, f(e)) for w, e in xs] for t, xs in c.step_witness.items()}

    # ------------------------------------------------------------------
    def successors(self, s):
        """[(transition index, next state)] of every enabled transition."""
        out = []
        for slot, table in self.dispatch:
            for ti, fn in table.get(s[slot], ()):
                n = fn(s)
                if n is not None:
                    out.append((ti, n))
        return out

    def underflows(self, s):
        """[(transition index, state with the count saturated)] of every enabled step that
        would take a reference count below zero (no successor in :meth:`successors`)."""
        out = []
        for slot, table in self.under_dispatch:
            for ti, fn in table.get(s[slot], ()):
                n = fn(s)
                if n is not None:
                    out.append((ti, n))
        return out

    def expand(self, s):
        """The successors of ``s`` as the explorers take them: ``[(transition, next
        state)]`` in transition order, where a step that takes an asserted reference
        count below zero (``refcounts`` selected) comes with ``None`` (no successor: the
        property's violation at that step).  Raises :class:`ModelError` for a domain
        overflow, or for an underflow no selected property asserts (a model error of
        ``s``, as the z3 encoding has it)."""
        succ = self.successors(s)
        if not self.under_dispatch:
            return succ
        unders = self.underflows(s)
        if not unders:
            return succ
        checked = getattr(self, "refcount_checked", frozenset())
        rc = self.model.refcount_slots
        for ti, _ in unders:
            if any((ti, x) not in checked for x in self.model.transitions[ti].updates if x in rc):
                raise self.underflow_error(s, ti)
        return sorted(succ + [(ti, None) for ti, _ in unders], key=lambda x: x[0])

    def stuck(self, s) -> bool:
        """No step is enabled in ``s`` (a step that underflows a reference count is
        enabled: it is a violation or a model error, not a deadlock)."""
        return not self.successors(s) and not (self.under_dispatch and self.underflows(s))

    def underflow_error(self, s, ti) -> ModelError:
        tr = self.model.transitions[ti]
        low = [self.model.vars[x].name for x, e in tr.updates.items()
               if x in self.model.refcount_slots and _value(e, s) < self.model.vars[x].domain.lo]
        return ModelError(f"model error: step {tr.label} of {tr.thread} takes {', '.join(low)} below zero "
                          f"(check the refcounts property to see it as a violation)")

    def all_final(self, s) -> bool:
        return all(s[slot] in fin for slot, fin in self.finals)

    def enabled(self, s, ti) -> tuple | None:
        """The successor by ``ti``; for a step that underflows a reference count, the state
        with that count saturated (the last step of a refcounts trace)."""
        tr = self.model.transitions[ti]
        if s[tr.pc_slot] != tr.pc_value:
            return None
        n = self.fns[ti](s)
        if n is None and ti in self.ufns:
            n = self.ufns[ti](s)
        return n


def _value(e, s) -> int:
    return eval(to_python(e), {"s": s})
