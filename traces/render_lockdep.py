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


# how traces written before locks were recorded in them name the upstream locks
_OLD = {"memory_lock": {"acquire": "down_write", "release": "up_write", "c": "&{}->memory_lock", "mode": "write"},
        "memory_lock_readers": {"acquire": "down_read", "release": "up_read", "c": "&{}->memory_lock",
                                "mode": "read"},
        "resv": {"acquire": "dma_resv_lock", "release": "dma_resv_unlock", "c": "{}->resv", "mode": "write"},
        "dev_set->lock": {"acquire": "mutex_lock", "release": "mutex_unlock", "c": "&dev_set->lock",
                          "mode": "write"}}


def _lock_info(var: str, locks: dict) -> dict | None:
    """The trace's record of a lock variable (its C name, acquire and release verbs)."""
    if var in locks:
        return locks[var]
    base, _, idx = var.partition("[")
    old = _OLD.get(base if idx else var)
    return None if old is None else {**old, "c": old["c"].format(idx.rstrip("]"))}


def _lock_expr(var: str, locks: dict | None = None) -> tuple[str, str, str] | None:
    """(take, release, object) spelled as the kernel would, for a lock variable."""
    info = _lock_info(var, locks or {})
    return None if info is None else (info["acquire"], info["release"], info["c"])


def _owner_like(var: str, a, b, threads) -> bool:
    return isinstance(a, str) and isinstance(b, str) and {a, b} <= set(threads) | {"none"}


def lock_ops(trace: Trace) -> list[LockOp]:
    """The lock operations of the trace, in order (plus the violating last step)."""
    threads = {s.thread for s in trace.steps} | {
        k[3:-1] for k in (trace.initial or {}) if k.startswith("pc[")}
    ops: list[LockOp] = []
    for k, s in enumerate(trace.steps, 1):
        mine = []
        irq_off = [(a, b) for var, (a, b) in s.changes.items() if var.startswith("irqs_off[")]
        if any(var.startswith("in_hardirq[") and b is True for var, (a, b) in s.changes.items()):
            mine.append(LockOp(k, s.thread, "<Interrupt>", None))
        for var, (a, b) in s.changes.items():
            if var.startswith("pc[") or var.startswith(("irqs_off[", "in_hardirq[", "lockdep_")):
                continue
            ex = _lock_expr(var, trace.locks)
            if ex is None and _owner_like(var, a, b, threads):
                ex = ("lock", "unlock", var)
            if ex is None:
                continue
            take, release, obj = ex
            if (_lock_info(var, trace.locks) or {}).get("mode") == "read":
                op = take if b > a else release
            elif b == "none":
                op = release
            else:
                op = take
            if op == "down_write" and "trylock" in s.step_label:
                op = "down_write_trylock"
            if irq_off and op in ("spin_lock", "spin_unlock"):
                op = "spin_lock_irqsave" if op == "spin_lock" else "spin_unlock_irqrestore"
                irq_off = []
            mine.append(LockOp(k, s.thread, f"{op}({obj});", var))
        for a, b in irq_off:   # interrupts disabled or enabled without a lock
            mine.append(LockOp(k, s.thread, "local_irq_save();" if a == "none" else "local_irq_restore();", None))
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
        if var.startswith(("pc[", "irqs_off[")) or val not in threads:
            continue
        if _lock_expr(var, trace.locks) is not None or var in taken:
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
    from .render_irq import render_irq_report
    report = render_irq_report(trace)
    ops = lock_ops(trace)
    cols = list(dict.fromkeys(op.thread for op in ops))
    cpus = (trace.provenance or {}).get("cpus") or {}
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

    out.append(row({t: (f"     CPU{cpus[t]}" + (" (hard IRQ)" if t in trace.provenance.get("irq_threads", ())
                                                  else "")) if t in cpus else f"     CPU{i}"
                    for i, t in enumerate(cols)}))
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
    if trace.details.get("lock_order"):
        head = out[:out.index("")]
        return "\n".join(head + [""] + lockdep_circular(trace.details["lock_order"], width))
    if trace.loop is not None:
        out += _wrap(trace.loop_text(), width, " ", "     ")
    if trace.kind == "deadlock":
        out.append(" *** DEADLOCK ***")
        out += _wrap(trace.message, width, " ", " ")
        wf = trace.details.get("wait_for")
        if wf:
            out += [""] + wait_for_lines(wf, width)
    else:
        out += _wrap(f"*** {trace.message} ***", width, " ", "     ")
    when = "at the end" if trace.kind in ("deadlock", "at-end") else "when the violation occurs"
    for t, vs in held_at_end(trace).items():
        names = ", ".join(_lock_expr(v, trace.locks)[2] if _lock_expr(v, trace.locks) else v for v in vs)
        if trace.loop is not None and trace.loop < len(trace.steps):
            when = "throughout the loop"
        out += _wrap(f"held by {t} {when}: {names}", width, " ", "     ")
    if report:
        out = [report, ""] + out
    return "\n".join(out)


def _at(label: str) -> str:
    return label.rsplit("/", 1)[-1]


def lockdep_circular(d: dict, width: int = 80) -> list[str]:
    """A lock-order finding as lockdep prints "possible circular locking dependency"."""
    held, acq, chain = d["held"], d["acquired"], d["chain"]
    bar = "=" * 54
    out = [bar, "WARNING: possible circular locking dependency detected", "-" * 54,
           f"{d['thread']} is trying to acquire lock:",
           f" ({acq}), at: {_at(d['label'])}", "",
           "but task is already holding lock:", f" ({held})", "",
           "which lock already depends on the new lock.", "",
           "the existing dependency chain (in reverse order) is:", ""]
    n = len(chain)
    for k, e in enumerate(reversed(chain)):
        out.append(f"-> #{n - k} ({e['to']}):")
        out.append(f"       {_at(e['label'])} ({e['thread']}, holding {e['from']})")
    out.append(f"-> #0 ({acq}):")
    out.append(f"       {_at(d['label'])} ({d['thread']}, holding {held})")
    out += ["", "other info that might help us debug this:", ""]
    if n > 1:
        out.append(" Chain exists of:")
        out.append("   " + " --> ".join([acq] + [e["to"] for e in chain] + [acq]))
        out.append("")
    # CPU0 runs the existing chain's last edge (holds its source, takes `held`);
    # CPU1 is this task (holds `held`, takes `acquired`)
    first = chain[-1]["from"] if chain else acq
    w = max(26, len(f"  lock({first});") + 4)
    col = lambda a, b="": (f"  {a}".ljust(w) + b).rstrip()  # noqa: E731
    out += [" Possible unsafe locking scenario:", "",
            col("     CPU0", "CPU1"), col("     ----", "----"),
            col(f"lock({first});"), col("", f"lock({held});"), col("", f"lock({acq});" if n == 1
                                                                     else f"lock({chain[0]['to']});"),
            col(f"lock({held});"), "", " *** DEADLOCK ***"]
    return out


def wait_for_lines(wf: dict, width: int = 80) -> list[str]:
    """A deadlock's wait-for graph: who waits for which lock held (or state set) by whom."""
    out = [" Wait-for:"]
    for w in wf.get("waits", []):
        what = w["for"]
        if what.startswith("pc[") and w["how"] == "set":
            text = f"{w['thread']} waits at {_at(w['at'])} for {w['by']} to finish"
        elif w["how"] == "held":
            text = f"{w['thread']} waits at {_at(w['at'])} for {what}, held by {w['by']}"
        elif w["how"] == "read-held":
            text = f"{w['thread']} waits at {_at(w['at'])} for {what}, held for read"
        else:
            text = f"{w['thread']} waits at {_at(w['at'])} for {what}, which {w['by']} would change"
        out += _wrap(text, width, "   ", "       ")
    cyc = wf.get("cycle") or []
    if cyc:
        out.append("")
        out.append(" Cycle:")
        out += _wrap(" -> ".join(f"{a} [{lbl}]" for a, _, lbl in cyc) + f" -> {cyc[0][0]}", width,
                     "   ", "       ")
    return out
