"""The explicit semantics: transitions and checks compiled to Python functions.

Each transition becomes ``t<k>(s) -> next state tuple | None`` (None when its
guard is false; the pc test is done by dispatch on the thread's pc).  Updates
leaving a variable's domain raise :class:`~model.lang.ModelError`.  Replay,
the explicit explorer and the z3 trace check all go through this one module.
"""
from __future__ import annotations

from model.expr import TRUE, to_python
from model.lang import ModelError

__all__ = ["Semantics"]


class Semantics:
    def __init__(self, model, checks=None):
        self.model, self.checks = model, checks
        vars_ = model.vars
        src = ["def _bad(t, slot, val):\n    raise ModelError(_msg(t, slot, val))\n"]
        for tr in model.transitions:
            lines = [f"def t{tr.index}(s):"]
            if tr.guard is not TRUE:
                lines.append(f"    if not ({to_python(tr.guard)}): return None")
            for slot, e in sorted(tr.updates.items()):
                py = to_python(e)
                if e.sort == "bool" and vars_[slot].domain.kind != "bool":
                    raise ModelError(f"{tr.label}: boolean assigned to {vars_[slot].name}")
                lines.append(f"    v{slot} = int({py})" if e.sort == "bool" else f"    v{slot} = {py}")
                d = vars_[slot].domain
                lines.append(f"    if not ({d.lo} <= v{slot} <= {d.hi}): _bad({tr.index}, {slot}, v{slot})")
            cells = [f"v{i}" if i in tr.updates else f"s[{i}]" for i in range(len(vars_))]
            lines.append("    return (" + ", ".join(cells) + ",)")
            src.append("\n".join(lines))
        ns = {"ModelError": ModelError, "_msg": self._msg}
        exec(compile("\n\n".join(src), f"<transitions {model.config.name}>", "exec"), ns)
        self.fns = [ns[f"t{tr.index}"] for tr in model.transitions]
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

    def all_final(self, s) -> bool:
        return all(s[slot] in fin for slot, fin in self.finals)

    def enabled(self, s, ti) -> tuple | None:
        tr = self.model.transitions[ti]
        if s[tr.pc_slot] != tr.pc_value:
            return None
        return self.fns[ti](s)
