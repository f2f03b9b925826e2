"""Render the lock operations of a trace as a lockdep-style scenario.

Kernel developers know the table lockdep prints for an unsafe locking
scenario: one column per CPU, one lock operation per row, in the order they
happen.  Here each column is a thread of the trace (CPU0 is the first thread
that takes a lock), each row one step that takes, releases or fails to take
a lock, numbered as in the text rendering; the last step (the one that
violates the property) is always shown.  The table ends with the violation
and the locks still held::

           CPU0                            CPU1
           hot_reset                       config_write.dev0
           ----                            ----
   1  mutex_lock(&dev_set->lock);
   2                                  down_write(&dev0->memory_lock);
   3  down_write_trylock(&dev0->memory_lock) fails

  *** undo-restores-every-revoke: ... ***
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

from .trace import Trace

__all__ = ["render_lockdep", "lock_ops", "held_at_end", "LockOp"]


@dataclass
class LockOp:
    step: int          # 1-based step number
    thread: str
    text: str          # "down_write(&dev0->memory_lock);"
    lock: str | None   # the state variable, None for a non-lock step


def _lock_expr(var: str) -> tuple[str, str, str] | None:
    """(take, release, object) spelled as the kernel would, for a lock variable."""
    base, _, idx = var.partition("[")
    idx = idx.rstrip("]")
    if base == "memory_lock":
        return "down_write", "up_write", f"&{idx}->memory_lock"
    if base == "memory_lock_readers":
        return "down_read", "up_read", f"&{idx}->memory_lock"
    if base == "resv":
        return "dma_resv_lock", "dma_resv_unlock", f"{idx}->resv"
    if var == "dev_set->lock":
        return "mutex_lock", "mutex_unlock", "&dev_set->lock"
    return None


def _owner_like(var: str, a, b, threads) -> bool:
    return isinstance(a, str) and isinstance(b, str) and {a, b} <= set(threads) | {"none"}


def lock_ops(trace: Trace) -> list[LockOp]:
    """The lock operations of the trace, in order (plus the violating last step)."""
    threads = {s.thread for s in trace.steps} | {
        k[3:-1] for k in (trace.initial or {}) if k.startswith("pc[")}
    ops: list[LockOp] = []
    for k, s in enumerate(trace.steps, 1):
        mine = []
        for var, (a, b) in s.changes.items():
            if var.startswith("pc["):
                continue
            ex = _lock_expr(var)
            if ex is None and _owner_like(var, a, b, threads):
                ex = ("lock", "unlock", var)
            if ex is None:
                continue
            take, release, obj = ex
            if var.startswith("memory_lock_readers"):
                op = take if b > a else release
            elif b == "none":
                op = release
            else:
                op = take
            if op == "down_write" and "trylock" in s.step_label:
                op = "down_write_trylock"
            mine.append(LockOp(k, s.thread, f"{op}({obj});", var))
        if not mine and "trylock" in s.step_label and "fail" in (s.note or ""):
            obj = _trylock_object(s)
            mine.append(LockOp(k, s.thread, f"down_write_trylock({obj}) fails", None))
        if not mine and k == len(trace.steps):
            mine.append(LockOp(k, s.thread, f"{s.step_label}", None))
        ops += mine
    return ops


def _trylock_object(s) -> str:
    note = s.note or ""
    if "(" in note and ")" in note:
        dev = note[note.index("(") + 1:note.index(")")]
        if dev and " " not in dev:
            return f"&{dev}->memory_lock"
    return "&vdev->memory_lock"


def held_at_end(trace: Trace) -> dict:
    """thread -> [lock variable] still held after the last step."""
    last = trace.steps[-1].state if trace.steps else (trace.initial or {})
    threads = {s.thread for s in trace.steps}
    taken = {op.lock for op in lock_ops(trace) if op.lock}
    out: dict = {}
    for var, val in last.items():
        if var.startswith("pc[") or val not in threads:
            continue
        if _lock_expr(var) is not None or var in taken:
            out.setdefault(val, []).append(var)
    return out


def _wrap(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    return textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest,
                         break_on_hyphens=False, break_long_words=False)


def render_lockdep(trace: Trace, *, width: int = 80) -> str:
    """The lockdep-style scenario table of ``trace``.

    Columns are as narrow as their operations allow; with more than two
    threads taking locks the table may be wider than ``width``.
    """
    ops = lock_ops(trace)
    cols = list(dict.fromkeys(op.thread for op in ops))
    inner = [len(op.text) for op in ops if op.thread != cols[-1]] if cols else []
    colw = max(inner + [len(t) + 5 for t in cols[:-1]] + [24]) + 3
    num = len(str(len(trace.steps)))
    lead = num + 2
    what = trace.property or trace.kind
    out = _wrap(f"revoke-check: {trace.variant} on config {trace.config}: {what} "
                f"violated ({len(trace.steps)} steps)", width)
    out += ["", " Locking scenario (step numbers as in the text rendering):", ""]

    def row(cells: dict, first: str = "") -> str:
        line = first.ljust(lead)
        for i, t in enumerate(cols):
            line = line.ljust(lead + i * colw) + cells.get(t, "")
        return line.rstrip()

    out.append(row({t: f"     CPU{i}" for i, t in enumerate(cols)}))
    out.append(row({t: f"     {t}" for t in cols}))
    out.append(row({t: "     ----" for t in cols}))
    loop = trace.loop
    marked = False
    for op in ops:
        if loop is not None and not marked and op.step > loop:
            out.append(f" <loop: from step {loop + 1} on, repeated forever>")
            marked = True
        out.append(row({op.thread: op.text}, f"{op.step:>{num}}"))
    if loop is not None and not marked:
        out.append(f" <loop: from step {loop + 1} on, repeated forever (no lock operation in it)>"
                   if loop < len(trace.steps) else
                   f" <loop: the state after step {len(trace.steps)} repeats forever>")
    out.append("")
    if trace.loop is not None:
        out += _wrap(trace.loop_text(), width, " ", "     ")
    if trace.kind == "deadlock":
        out.append(" *** DEADLOCK ***")
        out += _wrap(trace.message, width, " ", " ")
    else:
        out += _wrap(f"*** {trace.message} ***", width, " ", "     ")
    for t, vs in held_at_end(trace).items():
        names = ", ".join(_lock_expr(v)[2] if _lock_expr(v) else v for v in vs)
        where = "throughout the loop" if trace.loop is not None and trace.loop < len(trace.steps) \
            else "at the end"
        out += _wrap(f"held by {t} {where}: {names}", width, " ", "     ")
    return "\n".join(out)
