"""Render a trace as text that fits a mailing-list reply (80 columns).

A header says what is violated and the initial value of every variable the
trace changes; then one line per step: number, thread, the kernel
``function:label``, the choice taken, the fields that changed with their new
value (pcs left out, the thread's own locals without the thread prefix) and
the branch note.  A step whose fields do not fit continues on indented
lines, so a reply can quote any range of steps without losing columns.

    07 hot_reset  vfio_pci_dev_set_hot_reset:err_undo  revoked[buf0]=false
"""
from __future__ import annotations

import textwrap

from .trace import Trace

__all__ = ["render_text", "fmt_value", "changed_fields", "shown_name"]


def fmt_value(x) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    return str(x)


def shown_name(name: str, thread: str | None = None) -> str:
    """``hot_reset.vdev`` is shown as ``vdev`` in a step of ``hot_reset``."""
    if thread and name.startswith(thread + "."):
        return name[len(thread) + 1:]
    return name


def changed_fields(step) -> list[tuple[str, object, object]]:
    """(name, old, new) of the fields a step changed, pcs left out."""
    return [(k, a, b) for k, (a, b) in step.changes.items() if not k.startswith("pc[")]


def _initially(trace: Trace) -> str:
    seen: dict = {}
    for s in trace.steps:
        for k, a, _ in changed_fields(s):
            seen.setdefault(k, a)
    return ", ".join(f"{k}={fmt_value(a)}" for k, a in seen.items())


def _wrap(text: str, width: int, indent: str = "  ", *, split_long: bool = False) -> list[str]:
    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False, break_long_words=split_long) or [indent.rstrip()]


def step_line(k: int, s, tw: int) -> str:
    """The one line of step ``k`` (unwrapped)."""
    head = f"{k:02d} {s.thread:<{tw}}  {s.step_label}"
    if s.choice:
        head += f" [{s.choice}]"
    ch = " ".join(f"{shown_name(n, s.thread)}={fmt_value(b)}" for n, _, b in changed_fields(s))
    note = f"({s.note})" if s.note else ""
    return "  ".join(x for x in (head, ch, note) if x)


def render_text(trace: Trace, *, width: int = 80, header: bool = True) -> str:
    """The trace as plain text no wider than ``width`` (long names excepted)."""
    out = []
    if header:
        what = trace.property or trace.kind
        threads = list(dict.fromkeys(s.thread for s in trace.steps))
        out += _wrap(f"revoke-check: {trace.variant} on config {trace.config}: {what} "
                     f"violated ({trace.engine}, {len(trace.steps)} steps, "
                     f"{len(threads)} thread{'' if len(threads) == 1 else 's'})", width, "")
        out += _wrap(trace.message, width, split_long=True)
        if trace.loop is not None:
            out += _wrap(trace.loop_text(), width)
        init = _initially(trace)
        if init:
            out += _wrap(f"initially: {init}", width)
        out.append("")
    tw = min(max([len(s.thread) for s in trace.steps] + [6]), 20)
    indent = " " * (tw + 5)
    loop = trace.loop
    for k, s in enumerate(trace.steps, 1):
        if loop is not None and k == loop + 1:
            out.append(f"-- loop starts: steps {k}..{len(trace.steps)} repeat forever --")
        line = step_line(k, s, tw)
        words = line.split()
        # a label too long for the usual indent continues at a shallower one
        ind = indent if max(len(w) for w in words) + len(indent) <= width else "    "
        out += textwrap.wrap(line, width, subsequent_indent=ind, break_on_hyphens=False,
                             break_long_words=False) or [line]
    if loop is not None:
        if loop >= len(trace.steps):
            out.append(f"-- the state after step {len(trace.steps)} repeats forever "
                       f"(no step is enabled) --")
        else:
            out.append(f"-- back to the state after step {loop}; steps {loop + 1}.."
                       f"{len(trace.steps)} again --")
    return "\n".join(out)
