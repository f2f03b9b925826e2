"""Render a trace as a self-contained HTML report (one file, no network).

The page shows the verdict, the property's docstring, the config and the
variant, the violation message, the step list (thread, kernel function,
step, choice and branch note, every changed field as old -> new, and the
full state after the step on demand), the SVG sequence diagram, the
lockdep-style scenario and the plain-text rendering for a reply.

Everything is inline: CSS in ``<style>``, the diagram as ``<svg>``, and a
few lines of inline script that only check the page (they count the step
rows into ``body[data-rendered-steps]``, those laid out with a height into
``body[data-visible-steps]``, the page height into ``body[data-page-height]``
for full-page screenshots, and record script errors in
``body[data-errors]``, which the browser test reads).  The page reads the
same without script.
"""
from __future__ import annotations

import inspect
from html import escape

from .render_lockdep import render_lockdep
from .render_svg import render_svg
from .render_text import changed_fields, fmt_value, render_text
from .trace import Trace

__all__ = ["render_html"]

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em 2em;
       color: #1c2833; max-width: 1500px; }
h1 { font-size: 1.45em; margin: 0 0 .2em 0; }
h2 { font-size: 1.15em; border-bottom: 1px solid #d5d8dc; padding-bottom: .2em; margin-top: 1.6em; }
code, pre, td.mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
pre { background: #f4f6f7; padding: .7em 1em; overflow-x: auto; border-radius: 4px; }
.verdict { display: inline-block; padding: .25em .7em; border-radius: 4px; font-weight: bold;
           color: #fff; background: #c0392b; letter-spacing: .05em; }
.verdict.ok { background: #1e8449; }
.message { font-size: 1.05em; color: #922b21; font-weight: 600; margin: .6em 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1.2em; }
.card { border: 1px solid #d5d8dc; border-radius: 6px; padding: .2em 1em .8em 1em; }
.card h2 { margin-top: .6em; }
.doc p { margin: .4em 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .3em .5em; border-bottom: 1px solid #e5e8e8; }
th { background: #eaecee; position: sticky; top: 0; }
tr.step:nth-child(even) { background: #fbfcfc; }
tr.step.last { background: #fdedec; }
tr.loop-start td, tr.loop-end td { color: #c0392b; font-weight: bold; background: #fef5e7; }
tr.step.in-loop td.num { border-left: 3px solid #c0392b; }
p.loop { color: #c0392b; font-weight: bold; }
tr.step.last td.num { color: #c0392b; font-weight: bold; }
td.num { text-align: right; color: #566573; }
.label { font-weight: 600; }
.src { color: #7f8c8d; font-size: 11.5px; }
.stepdoc { color: #566573; font-size: 12px; }
.choice { background: #fef5e7; border: 1px solid #f5cba7; border-radius: 3px; padding: 0 .3em; }
.note { color: #6c3483; }
ul.changes { list-style: none; margin: 0; padding: 0; }
ul.changes li { white-space: nowrap; }
col.c-num { width: 2.5em; } col.c-thread { width: 11em; } col.c-branch { width: 16em; }
.old { color: #a93226; text-decoration: line-through; }
.new { color: #1e8449; font-weight: 600; }
details summary { cursor: pointer; color: #2471a3; font-size: 12px; }
table.state td { padding: .05em .5em; border: none; font-size: 12px; }
.diagram { overflow-x: auto; border: 1px solid #d5d8dc; border-radius: 6px; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; margin: 0; }
dl.kv dt { font-weight: 600; } dl.kv dd { margin: 0; }
footer { margin-top: 2em; color: #7f8c8d; font-size: 12px; }
"""

SCRIPT = """
(function () {
  var errors = [];
  window.addEventListener('error', function (e) {
    errors.push(String(e.message)); document.body.setAttribute('data-errors', errors.join(' | '));
  });
  function check() {
    var rows = document.querySelectorAll('tr.step'), shown = 0;
    for (var i = 0; i < rows.length; i++)
      if (rows[i].getBoundingClientRect().height > 0) shown++;
    document.body.setAttribute('data-rendered-steps', String(rows.length));
    document.body.setAttribute('data-visible-steps', String(shown));
    document.body.setAttribute('data-page-height', String(document.documentElement.scrollHeight));
    if (!document.body.hasAttribute('data-errors')) document.body.setAttribute('data-errors', '');
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', check);
  else check();
})();
"""


def _e(x) -> str:
    return escape(str(x), quote=True)


def _property_doc(name: str | None) -> str:
    if not name:
        return ""
    try:
        from properties import PROPERTIES
        p = PROPERTIES().get(name)
    except Exception:  # a report must render even when the catalog does not load
        return ""
    return inspect.cleandoc(p.doc) if p else ""


def _variant_doc(name: str) -> str:
    try:
        from model.variants import VARIANTS
        if name in (None, "", "upstream"):
            from model.protocol import upstream
            return upstream().doc
        fn = VARIANTS.get(name)
    except Exception:
        return ""
    return inspect.cleandoc(getattr(fn, "variant_doc", "") or "") if fn else ""


def _paragraphs(doc: str) -> str:
    """A docstring as HTML paragraphs (lines of a paragraph joined)."""
    paras = [" ".join(x.split()) for x in doc.split("\n\n") if x.strip()]
    return "".join(f"<p>{_e(x)}</p>" for x in paras) or "<p>no description</p>"


def _config_html(name: str) -> str:
    try:
        from model.config import get_config
        c = get_config(name)
    except Exception:
        return f"<p>config <code>{_e(name)}</code> (not in this checkout's configs)</p>"
    dev = ", ".join(f"{d.name} ({'open' if d.open else 'not opened'}, MEM "
                    f"{'on' if d.mem else 'off'})" for d in c.devices)
    bufs = ", ".join(f"{b.name} of {c.devices[b.dev].name} "
                     f"({'exported' if b.exists else 'created by a thread'})" for b in c.bufs)
    imps = ", ".join(f"{m.name} of {c.bufs[m.buf].name}" for m in c.importers)
    actors = ", ".join(a.name for a in c.actors)
    inject = ", ".join(f"{k}" + (f" ({', '.join(map(str, v))})" if isinstance(v, list) else "")
                       for k, v in c.inject.items() if v) or "none"
    rows = [("devices", dev), ("bufs", bufs or "none"), ("importers", imps or "none"),
            ("threads", actors), ("injected failures", inject)]
    kv = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return (f"<p><code>{_e(name)}</code>: {_e(c.doc)}</p>"
            f"<dl class=\"kv\">{kv}</dl>")


def _changes_html(step) -> str:
    items = []
    for n, a, b in changed_fields(step):
        items.append(f"<li><code>{_e(n)}</code> <span class=\"old\">{_e(fmt_value(a))}</span> "
                     f"&rarr; <span class=\"new\">{_e(fmt_value(b))}</span></li>")
    return f"<ul class=\"changes\">{''.join(items)}</ul>" if items else ""


def _state_html(state: dict) -> str:
    rows = "".join(f"<tr><td><code>{_e(k)}</code></td><td><code>{_e(fmt_value(v))}</code></td></tr>"
                   for k, v in state.items())
    return (f"<details><summary>state after this step</summary>"
            f"<table class=\"state\">{rows}</table></details>")


def _steps_html(trace: Trace) -> str:
    out = ["<table class=\"steps\"><colgroup><col class=\"c-num\"><col class=\"c-thread\">"
           "<col><col class=\"c-branch\"><col></colgroup><thead><tr><th>#</th><th>thread</th><th>kernel function "
           "and step</th><th>branch</th><th>changed (old &rarr; new)</th></tr></thead><tbody>"]
    n = len(trace.steps)
    loop = trace.loop
    for i, s in enumerate(trace.steps, 1):
        if loop is not None and i == loop + 1:
            out.append(f"<tr class=\"loop-start\" id=\"loop\"><td colspan=\"5\">&#8635; loop starts: "
                       f"steps {i}..{n} repeat forever</td></tr>")
        cls = "step last" if i == n else "step"
        if loop is not None and i > loop:
            cls += " in-loop"
        branch = ""
        if s.choice:
            branch += f"<span class=\"choice\">{_e(s.choice)}</span> "
        if s.note:
            branch += f"<span class=\"note\">{_e(s.note)}</span>"
        out.append(
            f"<tr class=\"{cls}\" id=\"step-{i}\" data-step=\"{i}\" data-thread=\"{_e(s.thread)}\">"
            f"<td class=\"num\">{i}</td><td class=\"mono\">{_e(s.thread)}</td>"
            f"<td><div class=\"label mono\">{_e(s.step_label)}</div>"
            f"<div class=\"src\">{_e(s.source)}</div>"
            + (f"<div class=\"stepdoc\">{_e(s.doc)}</div>" if s.doc else "")
            + f"</td><td>{branch}</td><td>{_changes_html(s)}{_state_html(s.state)}</td></tr>")
    if loop is not None:
        out.append(f"<tr class=\"loop-end\"><td colspan=\"5\">&#8635; {_e(trace.loop_text())}</td></tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def render_html(trace: Trace, *, title: str | None = None) -> str:
    """The self-contained HTML report of ``trace``."""
    what = trace.property or trace.kind
    title = title or f"revoke-check: {trace.variant} on {trace.config}: {what} violated"
    pdoc = _property_doc(trace.property)
    vdoc = _variant_doc(trace.variant)
    threads = list(dict.fromkeys(s.thread for s in trace.steps))
    prop_arg = f" -p {trace.property}" if trace.property else ""
    parts = [
        "<!DOCTYPE html>",
        "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style>",
        f"</head><body data-steps=\"{len(trace.steps)}\">",
        f"<script>{SCRIPT}</script>",
        "<header>",
        f"<h1><span class=\"verdict\">VIOLATED</span> {_e(what)}</h1>",
        f"<div>variant <code>{_e(trace.variant)}</code> on config <code>{_e(trace.config)}</code>"
        f" &middot; {len(trace.steps)} steps &middot; {len(threads)} threads &middot; "
        f"engine <code>{_e(trace.engine)}</code> &middot; {_e(trace.kind)}</div>",
        f"<p class=\"message\" id=\"message\">{_e(trace.message)}</p>",
        (f"<p class=\"loop\" id=\"loop-summary\">{_e(trace.loop_text())}</p>" if trace.loop is not None else ""),
        "</header>",
        "<div class=\"grid\">",
        f"<section class=\"card\" id=\"property\"><h2>Property <code>{_e(what)}</code></h2>"
        f"<div class=\"doc\">{_paragraphs(pdoc)}</div></section>",
        f"<section class=\"card\" id=\"variant\"><h2>Variant <code>{_e(trace.variant)}</code></h2>"
        f"<div class=\"doc\">{_paragraphs(vdoc)}</div></section>",
        f"<section class=\"card\" id=\"config\"><h2>Config</h2>{_config_html(trace.config)}</section>",
        "</div>",
        f"<section id=\"steps\"><h2>Steps</h2>{_steps_html(trace)}</section>",
        "<section id=\"diagram\"><h2>Sequence diagram</h2>"
        f"<div class=\"diagram\">{render_svg(trace, standalone=False)}</div></section>",
        "<section id=\"lockdep\"><h2>Locking scenario</h2>"
        f"<pre>{_e(render_lockdep(trace))}</pre></section>",
        "<section id=\"text\"><h2>As text (for a reply)</h2>"
        f"<pre>{_e(render_text(trace))}</pre></section>",
        "<section id=\"reproduce\"><h2>Reproduce</h2><pre>"
        f"revoke-check check -c {_e(trace.config)} -v {_e(trace.variant)}{_e(prop_arg)} "
        f"--trace-out trace.json\nrevoke-check replay trace.json\n"
        f"revoke-check replay trace.json -v upstream</pre></section>",
        "<footer>Written by revoke-check; this page is self-contained "
        "(no network, no external files).</footer>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
