"""Render a trace as text that fits a mailing-list reply.

One line per step: number, thread, ``function:label`` of the kernel, the
choice taken, then the state fields that changed (pcs left out), wrapped to
80 columns with a hanging indent.

    07 hot_reset  vfio_pci_dev_set_hot_reset:err_undo  revoked[buf0] true->false
"""
from __future__ import annotations

import textwrap

from .trace import Trace

__all__ = ["render_text", "fmt_value"]


def fmt_value(x) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    return str(x)


def _changes(step) -> str:
    parts = [f"{k} {fmt_value(a)}->{fmt_value(b)}" for k, (a, b) in step.changes.items()
             if not k.startswith("pc[") and "." not in k.split("[")[0]]
    return ", ".join(parts)


def render_text(trace: Trace, *, width: int = 80, header: bool = True) -> str:
    out = []
    if header:
        what = f"{trace.property}" if trace.property else trace.kind
        out.append(f"revoke-check: {trace.variant} on config {trace.config}: {what} violated "
                   f"({trace.engine}, {len(trace.steps)} steps)")
        out += textwrap.wrap(trace.message, width, initial_indent="  ", subsequent_indent="  ")
        out.append("")
    tw = max([len(s.thread) for s in trace.steps] + [6])
    for k, s in enumerate(trace.steps, 1):
        lbl = s.step_label
        head = f"{k:02d} {s.thread:<{tw}}  {lbl}"
        extra = []
        if s.choice:
            extra.append(f"[{s.choice}]")
        if s.note:
            extra.append(f"({s.note})")
        ch = _changes(s)
        body = " ".join(extra + ([ch] if ch else []))
        line = f"{head}  {body}".rstrip()
        out += textwrap.wrap(line, width, subsequent_indent=" " * (tw + 5),
                             break_on_hyphens=False) or [line]
    return "\n".join(out)
