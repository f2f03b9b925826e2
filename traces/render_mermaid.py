"""Render a trace as a Mermaid sequence diagram.

Threads are the lifelines (in order of first step).  Each step is a message
of its thread to itself, numbered as in the text rendering, labelled with the
kernel ``function:label`` and the lock and buf fields it changed.  When a
thread takes a lock that another thread released earlier in the trace, a
dashed message from the releaser to the taker shows the hand-over.  The last
step is drawn with a cross and followed by a note with the violation.

The same step and lifeline model (:func:`lifelines`, :func:`step_text`) is
used by the SVG rendering.
"""
from __future__ import annotations

from .render_text import changed_fields, fmt_value, shown_name
from .trace import Trace

__all__ = ["render_mermaid", "lifelines", "step_text", "handovers", "mermaid_escape"]


def lifelines(trace: Trace) -> list[str]:
    """The threads of the trace, in order of their first step."""
    return list(dict.fromkeys(s.thread for s in trace.steps))


def step_text(step, *, choice: bool = True) -> tuple[str, list[str]]:
    """(``function:label [choice]``, ["var=new", ...]) of a step."""
    head = step.step_label + (f" [{step.choice}]" if choice and step.choice else "")
    return head, [f"{shown_name(n, step.thread)}={fmt_value(b)}" for n, _, b in changed_fields(step)]


def _is_owner(trace, var, val) -> bool:
    return isinstance(val, str) and val in set(lifelines(trace))


def handovers(trace: Trace) -> dict:
    """step index (0-based) -> [(from thread, lock variable)] handed over before it.

    A hand-over is a lock variable released by one thread and later taken by
    another (the value goes ``A -> none`` then ``none -> B``).
    """
    last_release: dict = {}
    out: dict = {}
    for i, s in enumerate(trace.steps):
        for var, a, b in changed_fields(s):
            if _is_owner(trace, var, a) and b == "none":
                last_release[var] = a
            elif a == "none" and b == s.thread and var in last_release \
                    and last_release[var] != s.thread:
                out.setdefault(i, []).append((last_release[var], var))
    return out


def mermaid_escape(text: str) -> str:
    """Mermaid message text may not hold ``;`` or ``#``: use its entity codes."""
    return text.replace("#", "#35;").replace(";", "#59;")


def render_mermaid(trace: Trace) -> str:
    """The ``sequenceDiagram`` text of ``trace``."""
    threads = lifelines(trace)
    ids = {t: f"T{i}" for i, t in enumerate(threads)}
    what = trace.property or trace.kind
    out = ["sequenceDiagram",
           f"    title {mermaid_escape(f'{trace.variant} on {trace.config}: {what} violated')}"]
    for t in threads:
        out.append(f"    participant {ids[t]} as {mermaid_escape(t)}")
    hand = handovers(trace)
    n = len(trace.steps)
    for i, s in enumerate(trace.steps):
        for frm, var in hand.get(i, ()):
            out.append(f"    {ids[frm]}-->>{ids[s.thread]}: {mermaid_escape(var)} released")
        head, ch = step_text(s)
        text = f"{i + 1} {head}" + "".join(f"<br/>{c}" for c in ch)
        arrow = "-x" if i == n - 1 else "->>"
        me = ids[s.thread]
        out.append(f"    {me}{arrow}{me}: {mermaid_escape(text)}")
    if trace.steps:
        last = ids[trace.steps[-1].thread]
        out.append(f"    Note over {last}: {mermaid_escape('VIOLATED: ' + trace.message)}")
    return "\n".join(out) + "\n"
