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
tr.aside td { opacity: .45; }
tr.fixpoint td { border-top: 3px solid #1e8449; }
tr.fixpoint-banner td, .fixbanner { background: #e9f7ef; color: #145a32; font-weight: 600; padding: .4em .6em; }
td.locks { font-size: 11.5px; color: #6c3483; white-space: nowrap; }
.slice { color: #566573; font-style: italic; }
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


def _protocol(trace):
    """The protocol the trace was made with (its provenance), or None if it does not load."""
    try:
        from revoke_check.model.variants import get_protocol
        from revoke_check.provenance import protocol_of, specs_of
        return get_protocol(specs_of(trace)[0], protocol=protocol_of(trace))
    except Exception:  # a report must render even when the variant does not load
        return None


def _property_doc(trace) -> str:
    p = _protocol(trace)
    prop = p.properties.get(trace.property) if p is not None and trace.property else None
    return inspect.cleandoc(prop.doc) if prop else ""


def _variant_doc(trace) -> str:
    p = _protocol(trace)
    return inspect.cleandoc(p.doc or "") if p is not None else ""


def _paragraphs(doc: str) -> str:
    """A docstring as HTML paragraphs (lines of a paragraph joined)."""
    paras = [" ".join(x.split()) for x in doc.split("\n\n") if x.strip()]
    return "".join(f"<p>{_e(x)}</p>" for x in paras) or "<p>no description</p>"


def _config_html(trace) -> str:
    name = trace.config
    try:
        from revoke_check.provenance import specs_of
        c = _protocol(trace).config(specs_of(trace)[1])
    except Exception:
        return f"<p>config <code>{_e(name)}</code> (not in this checkout's configs)</p>"
    if getattr(_protocol(trace), "family", "vfio-dmabuf") != "vfio-dmabuf":
        # another protocol: every object kind of the config, then the threads
        rows = [(k.key, ", ".join(o.name for o in c.of(k.name)) or "none") for k in c.kinds.values()]
        rows.append(("threads", ", ".join(a.name for a in c.actors)))
        kv = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
        return f"<p><code>{_e(name)}</code>: {_e(c.doc)}</p><dl class=\"kv\">{kv}</dl>"
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


def _state_html(state: dict, initial: dict | None = None) -> str:
    """The state after a step: the fields that differ from the initial state; all of them on demand."""
    def rows(items):
        return "".join(f"<tr><td><code>{_e(k)}</code></td><td><code>{_e(fmt_value(v))}</code></td></tr>"
                       for k, v in items)
    moved = [(k, v) for k, v in state.items() if (initial or {}).get(k, v) != v] if initial else []
    return (f"<details><summary>state after this step ({len(moved)} fields differ from the start)</summary>"
            f"<table class=\"state\">{rows(moved)}</table>"
            f"<details class=\"all\"><summary>every field</summary><table class=\"state\">"
            f"{rows(state.items())}</table></details></details>")


def _steps_html(trace: Trace, ex=None) -> str:
    out = ["<table class=\"steps\"><colgroup><col class=\"c-num\"><col class=\"c-thread\">"
           "<col><col class=\"c-branch\"><col><col class=\"c-locks\"></colgroup><thead><tr><th>#</th>"
           "<th>thread</th><th>kernel function and step</th><th>branch</th><th>changed (old &rarr; new)</th>"
           "<th class=\"locks\">locks held after</th></tr></thead><tbody>"]
    n = len(trace.steps)
    initial = trace.initial or {}
    loop = trace.loop
    for i, s in enumerate(trace.steps, 1):
        if loop is not None and i == loop + 1:
            out.append(f"<tr class=\"loop-start\" id=\"loop\"><td colspan=\"6\">&#8635; loop starts: "
                       f"steps {i}..{n} repeat forever</td></tr>")
        cls = ["step"] + (["last"] if i == n else [])
        if loop is not None and i > loop:
            cls.append("in-loop")
        if ex is not None and ex.relevant and not ex.relevant[i - 1] and i != n:
            cls.append("aside")
        if ex is not None and ex.fix_step == i:
            out.append(f"<tr class=\"fixpoint-banner\" id=\"fixpoint\"><td colspan=\"6\">"
                       f"&#9873; {_e(ex.fix_msg)}</td></tr>")
            cls.append("fixpoint")
        branch = ""
        if s.choice:
            branch += f"<span class=\"choice\">{_e(s.choice)}</span> "
        if s.note:
            branch += f"<span class=\"note\">{_e(s.note)}</span>"
        href, text = ex.links[i - 1] if ex is not None and ex.links else (None, s.source)
        src = (f"<a class=\"src\" href=\"{_e(href)}\">{_e(text)}</a>" if href
               else f"<div class=\"src\">{_e(text)}</div>")
        held = ex.held[i - 1] if ex is not None and ex.held else []
        out.append(
            f"<tr class=\"{' '.join(cls)}\" id=\"step-{i}\" data-step=\"{i}\" data-thread=\"{_e(s.thread)}\">"
            f"<td class=\"num\">{i}</td><td class=\"mono\">{_e(s.thread)}</td>"
            f"<td><div class=\"label mono\">{_e(s.step_label)}</div>{src}"
            + (f"<div class=\"stepdoc\">{_e(s.doc)}</div>" if s.doc else "")
            + f"</td><td>{branch}</td><td>{_changes_html(s)}{_state_html(s.state, initial)}</td>"
            f"<td class=\"locks mono\">{'<br>'.join(_e(h) for h in held) or '&mdash;'}</td></tr>")
    if loop is not None:
        out.append(f"<tr class=\"loop-end\"><td colspan=\"6\">&#8635; {_e(trace.loop_text())}</td></tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def render_html(trace: Trace, *, title: str | None = None, against: str | None = None,
                kernel_ref: str | None = None, kernel_src=None, explain: bool = True) -> str:
    """The self-contained HTML report of ``trace``.

    With ``explain`` (default) the report marks why: the locks held after each
    step, the steps outside the property's backward slice dimmed, and with
    ``against`` (default: the variant's "fixed by" link) a marker at the first
    step where that variant does something else.  Kernel sources link to
    elixir for ``kernel_ref``, or to file:line in ``kernel_src``.
    """
    ex = None
    if explain:
        from .explain import explain as _explain
        if against is None:
            p = _protocol(trace)
            against = getattr(p, "fixed_by", None) if p is not None else None
        ex = _explain(trace, against=against, kernel_ref=kernel_ref, kernel_src=kernel_src)
    what = trace.property or trace.kind
    title = title or f"revoke-check: {trace.variant} on {trace.config}: {what} violated"
    pdoc = _property_doc(trace)
    vdoc = _variant_doc(trace)
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
        (f"<p class=\"fixbanner\" id=\"fixbanner\">&#9873; {_e(ex.fix_msg)}"
         + (f" (<a href=\"#fixpoint\">step {ex.fix_step}</a>)" if ex.fix_step else "") + "</p>"
         if ex is not None and ex.fix_msg else ""),
        (f"<p class=\"slice\">{sum(ex.relevant)} of {len(ex.relevant)} steps write what "
         f"{_e(what)} depends on; the others are dimmed.</p>"
         if ex is not None and ex.relevant and not all(ex.relevant) else ""),
        (f"<p class=\"loop\" id=\"loop-summary\">{_e(trace.loop_text())}</p>" if trace.loop is not None else ""),
        "</header>",
        "<div class=\"grid\">",
        f"<section class=\"card\" id=\"property\"><h2>Property <code>{_e(what)}</code></h2>"
        f"<div class=\"doc\">{_paragraphs(pdoc)}</div></section>",
        f"<section class=\"card\" id=\"variant\"><h2>Variant <code>{_e(trace.variant)}</code></h2>"
        f"<div class=\"doc\">{_paragraphs(vdoc)}</div></section>",
        f"<section class=\"card\" id=\"config\"><h2>Config</h2>{_config_html(trace)}</section>",
        "</div>",
        f"<section id=\"steps\"><h2>Steps</h2>{_steps_html(trace, ex)}</section>",
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
