"""Render a trace as an SVG sequence diagram, written by hand (no graphviz).

Layout, top to bottom: a title, one lifeline per thread (a box with its
name and a dashed vertical line), then one row per step.  A step is a dot
and a self-message on its thread's lifeline, joined by a dotted leader to
the step text on the right: number, ``function:label [choice]`` and the
fields it changed.  Bars beside a lifeline show the locks the thread holds
(from the step that takes a lock to the one that releases it), and a dashed
arrow between lifelines shows a lock released by one thread and then taken
by another.  The step that violates the property is drawn in red.

The result is a standalone SVG document; :func:`render_svg` with
``standalone=False`` gives the ``<svg>`` element alone, for inlining in HTML.
"""
from __future__ import annotations

import textwrap
from html import escape

from .render_mermaid import handovers, lifelines, step_text
from .trace import Trace

__all__ = ["render_svg", "lock_intervals"]

FONT = 12
CHAR = 7.3            # width of a monospace character at FONT px
LINE = 16
TOP = 78              # y of the lifeline boxes
HEAD = 34             # height of a lifeline box
LOCK_COLORS = ["#c0392b", "#2471a3", "#b9770e", "#7d3c98", "#138d75", "#a04000"]


def _a(x) -> str:
    return escape(str(x), quote=True)


def lock_intervals(trace: Trace) -> list[tuple[str, str, int, int | None]]:
    """(thread, lock variable, first step, last step or None) while a thread holds a lock.

    Steps are 0-based; ``None`` means still held at the end of the trace.
    """
    threads = set(lifelines(trace))
    open_: dict = {}
    out = []
    for i, s in enumerate(trace.steps):
        for var, (a, b) in s.changes.items():
            if var.startswith("pc[") or not isinstance(b, str) or not isinstance(a, str):
                continue
            if a == "none" and b in threads:
                open_[var] = (b, i)
            elif a in threads and b == "none" and var in open_:
                t, i0 = open_.pop(var)
                out.append((t, var, i0, i))
    out += [(t, var, i0, None) for var, (t, i0) in open_.items()]
    return out


def _rows(trace: Trace, width_chars: int) -> list[list[str]]:
    rows = []
    for i, s in enumerate(trace.steps):
        head, ch = step_text(s)
        lines = [f"{i + 1:>2} {head}"]
        if ch:
            lines += textwrap.wrap(", ".join(ch), width_chars, initial_indent="   ",
                                   subsequent_indent="   ", break_on_hyphens=False,
                                   break_long_words=False)
        if s.note:
            lines += textwrap.wrap(f"({s.note})", width_chars, initial_indent="   ",
                                   subsequent_indent="    ", break_on_hyphens=False)
        rows.append(lines)
    return rows


def render_svg(trace: Trace, *, standalone: bool = True) -> str:
    """The SVG sequence diagram of ``trace`` (a document, or the element alone)."""
    threads = lifelines(trace) or ["(none)"]
    col = max(150, int(max(len(t) for t in threads) * CHAR) + 36)
    left = 16
    xs = {t: left + col * i + col // 2 for i, t in enumerate(threads)}
    text_x = left + col * len(threads) + 24
    rows = _rows(trace, 72)
    text_w = int(max([len(x) for r in rows for x in r] + [40]) * CHAR) + 16
    ys, y = [], TOP + HEAD + 26
    for r in rows:
        ys.append(y)
        y += LINE * len(r) + 12
    bottom = y + 10
    what = trace.property or trace.kind
    title = f"{trace.variant} on {trace.config}: {what} violated"
    msg_lines = textwrap.wrap(trace.message, 110) or [""]
    width = max(text_x + text_w, int(len(title) * CHAR * 1.2) + 40)
    height = bottom + 14 + LINE * len(msg_lines) + 10
    red = "#c0392b"
    o = []
    xmlns = ' xmlns="http://www.w3.org/2000/svg"'
    o.append(f'<svg{xmlns} class="sequence" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans Mono, Menlo, Consolas, '
             f'monospace" font-size="{FONT}">')
    o.append(f"<title>{_a(title)}</title>")
    o.append(f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>')
    o.append(f'<text x="{left}" y="24" font-size="15" font-weight="bold">{_a(title)}</text>')
    o.append(f'<text x="{left}" y="46" fill="#555">{len(trace.steps)} steps, '
             f'{len(lifelines(trace))} threads, engine {_a(trace.engine)}; bars: locks held, '
             f'dashed arrows: a lock handed over</text>')
    # lifelines
    for t in threads:
        x = xs[t]
        o.append(f'<g class="lifeline" data-thread="{_a(t)}">')
        o.append(f'<rect x="{x - col // 2 + 6}" y="{TOP}" width="{col - 12}" height="{HEAD}" '
                 f'rx="4" fill="#eef2f7" stroke="#34495e"/>')
        o.append(f'<text x="{x}" y="{TOP + HEAD // 2 + 4}" text-anchor="middle">{_a(t)}</text>')
        o.append(f'<line x1="{x}" y1="{TOP + HEAD}" x2="{x}" y2="{bottom}" stroke="#7f8c8d" '
                 f'stroke-dasharray="4 4"/>')
        o.append("</g>")
    # lock bars
    locks = list(dict.fromkeys(v for _, v, _, _ in lock_intervals(trace)))
    per_thread: dict = {}
    for t, var, i0, i1 in lock_intervals(trace):
        k = per_thread.setdefault(t, [])
        slot = len(k)
        k.append(var)
        color = LOCK_COLORS[locks.index(var) % len(LOCK_COLORS)]
        x = xs[t] - 11 - slot * 7
        y0 = ys[i0]
        y1 = (ys[i1] if i1 is not None else bottom - 4)
        o.append(f'<rect class="lock" x="{x}" y="{y0}" width="5" height="{max(4, y1 - y0)}" '
                 f'fill="{color}" opacity="0.75"><title>{_a(t)} holds {_a(var)} '
                 f'(steps {i0 + 1}..{(i1 + 1) if i1 is not None else "end"})</title></rect>')
    # legend of the lock colours
    lx = left
    for k, var in enumerate(locks):
        color = LOCK_COLORS[k % len(LOCK_COLORS)]
        o.append(f'<rect x="{lx}" y="54" width="10" height="10" fill="{color}" opacity="0.75"/>')
        o.append(f'<text x="{lx + 14}" y="63" font-size="11">{_a(var)}</text>')
        lx += int((len(var) + 4) * CHAR * 11 / FONT) + 14
    # hand-overs
    hand = handovers(trace)
    # steps
    n = len(trace.steps)
    for i, (s, lines) in enumerate(zip(trace.steps, rows)):
        x, y = xs[s.thread], ys[i]
        bad = i == n - 1
        color = red if bad else "#2c3e50"
        o.append(f'<g class="step" data-step="{i + 1}" data-thread="{_a(s.thread)}">')
        for frm, var in hand.get(i, ()):
            x0 = xs[frm]
            yy = y - 6
            tip = 6 if x > x0 else -6
            o.append(f'<line x1="{x0}" y1="{yy}" x2="{x - tip}" y2="{yy}" stroke="#888" '
                     f'stroke-dasharray="3 3"/>')
            o.append(f'<path d="M{x} {yy} l{-tip} -4 l0 8 z" fill="#888"/>')
            o.append(f'<text x="{(x0 + x) / 2}" y="{yy - 3}" text-anchor="middle" font-size="10" '
                     f'fill="#666">{_a(var)}</text>')
        o.append(f'<path d="M{x} {y + 2} h18 v10 h-14" fill="none" stroke="{color}"/>')
        o.append(f'<path d="M{x + 2} {y + 12} l6 -3 l0 6 z" fill="{color}"/>')
        o.append(f'<circle cx="{x}" cy="{y + 2}" r="4" fill="{color}"/>')
        o.append(f'<line x1="{x + 22}" y1="{y + 2}" x2="{text_x - 6}" y2="{y + 2}" stroke="#ccc" '
                 f'stroke-dasharray="1 3"/>')
        for j, line in enumerate(lines):
            weight = ' font-weight="bold"' if j == 0 else ""
            fill = color if j == 0 else "#1a5276"
            o.append(f'<text x="{text_x}" y="{y + 6 + j * LINE}" fill="{fill}"{weight} '
                     f'xml:space="preserve">{_a(line)}</text>')
        o.append("</g>")
    if trace.loop is not None and n:
        # a bracket from the first repeated step to the last, and back
        k0 = min(trace.loop, n - 1)
        y0, y1 = ys[k0] - 8, ys[n - 1] + 14
        lx0 = max(4, left - 14)
        o.append(f'<g class="loop" data-loop="{trace.loop}">')
        o.append(f'<path d="M{lx0 + 8} {y1} h-8 V{y0} h8" fill="none" stroke="{red}" stroke-width="2"/>')
        o.append(f'<path d="M{lx0 + 8} {y0} l-5 -4 l0 8 z" fill="{red}"/>')
        label = ("loop: the last state repeats" if trace.loop >= n
                 else f"loop: steps {trace.loop + 1}..{n} repeat")
        o.append(f'<text x="{lx0 + 12}" y="{y0 - 2}" font-size="10" fill="{red}">{_a(label)}</text>')
        o.append("</g>")
    for j, line in enumerate(msg_lines):
        o.append(f'<text class="violation" x="{left}" y="{bottom + 14 + j * LINE}" fill="{red}" '
                 f'font-weight="bold">{_a(("VIOLATED: " if j == 0 else "") + line)}</text>')
    o.append("</svg>")
    svg = "\n".join(o) + "\n"
    if standalone:
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + svg
    return svg
