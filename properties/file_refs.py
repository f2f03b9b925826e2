"""Which dma-buf file references a thread holds at each of its pc labels.

The file count is the fd table's reference plus the references threads hold
(``f_count == has_fd + sum of holds``), so a step changes its thread's hold by
``delta(f_count) - delta(has_fd)``: ``get_file_active``/``dma_buf_get`` +1,
``fput``/``dma_buf_put`` -1, installing the fd hands the export's reference to
the fd table.  A constant assignment (``dma_buf_export`` sets the count to 1)
counts from 0.  Holds are propagated over each thread's control-flow graph; a
thread that can reach a final label with a hold > 0 would return owning a
reference nobody will put: a leak.
"""
from __future__ import annotations

from revoke_check.model.expr import Const, Op, Var

__all__ = ["holds_at", "accounted"]


def _delta(e, slot) -> int | None:
    """+k / -k for ``x + k`` / ``x - k`` of the same slot, the value of a constant, else None."""
    if isinstance(e, Const):
        return e.value
    if isinstance(e, Op) and e.op in ("+", "-") and isinstance(e.args[0], Var) \
            and e.args[0].slot == slot and isinstance(e.args[1], Const):
        return e.args[1].value if e.op == "+" else -e.args[1].value
    return None


def holds_at(model) -> dict:
    """{(thread, pc value, buf index): {references held on the paths reaching it}}."""
    f_slots = {model.v.f_count[b].slot: b for b in range(len(model.config.bufs))}
    fd_slots = {model.v.has_fd[b].slot: b for b in range(len(model.config.bufs))}
    nb = len(model.config.bufs)
    out: dict = {}
    for th in model.threads:
        trs = [t for t in model.transitions if t.thread == th.name]
        start = model.init[th.pc.slot]
        seen = {(start, (0,) * nb)}
        todo = [(start, (0,) * nb)]
        while todo:
            pc, hold = todo.pop()
            for b in range(nb):
                out.setdefault((th.name, pc, b), set()).add(hold[b])
            for t in trs:
                if t.pc_value != pc:
                    continue
                h = list(hold)
                for slot, e in t.updates.items():
                    if slot in f_slots:
                        d = _delta(e, slot)
                        h[f_slots[slot]] += d if d is not None else 0
                    elif slot in fd_slots and isinstance(e, Const):
                        # the fd table takes (1) or gives back (0) the reference
                        h[fd_slots[slot]] -= 1 if e.value else -1
                nxt = (th.pc.domain.names.index(t.target), tuple(max(0, x) for x in h))
                if nxt not in seen and len(seen) < 10_000:
                    seen.add(nxt)
                    todo.append(nxt)
    return out


def accounted(model, b: int):
    """``f_count[b] == has_fd[b] + sum over threads of the hold at their pc`` (None if ambiguous).

    A finished thread counts as holding nothing: a thread that returns still
    owning a reference leaks it.  Labels whose hold differs by path make the
    accounting ambiguous; then no expression is built.
    """
    from revoke_check.model.expr import ite, const
    v = model.v
    h = holds_at(model)
    total = ite(v.has_fd[b], 1, 0)
    for th in model.threads:
        term = const(0)
        for pc in range(len(th.pc.domain.names)):
            vals = h.get((th.name, pc, b), {0})
            if pc in th.finals:
                continue
            if len(vals) != 1:
                return None
            k = next(iter(vals))
            if k:
                term = ite(th.pc == pc, k, term)
        total = total + term
    return v.f_count[b] == total
