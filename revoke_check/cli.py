"""The ``revoke-check`` command line.

Exit codes are stable: 0 holds, 1 violated, 2 usage or model error,
3 incomplete (a limit was reached), 4 vacuous (holds, but no witness of some
property was reached, so the check proved nothing about it).
"""
from __future__ import annotations

import json
import os
import sys
import traceback

import click

from model.config import ConfigError, load_configs
from model.lang import ModelError
from model.variants import VARIANTS, VariantError
from properties import PROPERTIES, PropertyError
from traces.render_text import render_text
from traces.trace import TraceError

from .result import EXIT, Result

from .liveness import Fairness, FairnessError

DOMAIN_ERRORS = (ConfigError, VariantError, PropertyError, TraceError, ModelError, FairnessError)

FAIRNESS_HELP = ("Fairness of the liveness properties: weak (default: a thread that stays enabled "
                 "eventually takes a step, TLC's WF), strong (one enabled infinitely often does, SF), "
                 "none (any infinite run; SPIN without -f).")
STRONG_HELP = ("Make this thread, or every thread's steps that wait on this lock class "
               "(memory_lock, resv, dev_set->lock), strongly fair (repeatable).")


def fairness_of(kind, strong) -> Fairness:
    return Fairness(kind, tuple(strong))


class Group(click.Group):
    """Turns the domain errors into one line on stderr and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DOMAIN_ERRORS as e:
            click.echo(f"revoke-check: error: {e}", err=True)
            ctx.exit(2)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                SystemExit, KeyboardInterrupt):
            raise
        except BrokenPipeError:  # the reader (head, less) went away: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except Exception as e:  # a bug in revoke-check or in a variant's code: one line, exit 2
            if os.environ.get("REVOKE_CHECK_DEBUG"):
                raise
            where = traceback.extract_tb(e.__traceback__)[-1]
            click.echo(f"revoke-check: internal error: {type(e).__name__}: {e} "
                       f"(at {os.path.basename(where.filename)}:{where.lineno}; "
                       f"REVOKE_CHECK_DEBUG=1 shows the traceback)", err=True)
            ctx.exit(2)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Model checker for the vfio-pci dma-buf revoke and locking protocol."""


@main.command("list")
def list_cmd():
    """List configs, variants and properties."""
    click.echo("configs:")
    for name, c in load_configs().items():
        click.echo(f"  {name:<28} {c.doc}")
    click.echo("variants:")
    click.echo(f"  {'upstream':<28} the current kernel (default)")
    for name, fn in VARIANTS.items():
        click.echo(f"  {name:<28} {fn.variant_doc.splitlines()[0]}")
    click.echo("properties:")
    for name, p in PROPERTIES().items():
        click.echo(f"  {name:<28} {p.summary}")


def summary_line(r: Result) -> str:
    what = {"holds": "holds", "violated": f"VIOLATED: {r.property}", "incomplete": "INCOMPLETE",
            "error": "ERROR", "vacuous": "VACUOUS"}[r.verdict]
    bound = f", bound {r.bound}" if r.bound is not None else ""
    if r.engine != "explicit":  # z3 engines count depths, not states
        proof = f", proof {r.proof}" if r.proof is not None else ""
        depth = f"depth {r.depth}, " if r.engine != "spacer" or r.trace is not None else ""
        return f"{r.variant} on {r.config} [{r.engine}{bound}]: {what} -- {depth}{proof.lstrip(', ')}{', ' if proof else ''}{r.seconds:.2f}s"
    return (f"{r.variant} on {r.config} [{r.engine}{bound}]: {what} -- "
            f"{r.distinct_states} distinct states, {r.transitions} transitions, "
            f"depth {r.depth}, {r.seconds:.2f}s")


def print_result(r: Result, as_json: bool):
    if as_json:
        click.echo(json.dumps(r.to_json(), indent=1))
        return
    click.echo(summary_line(r))
    if r.message and r.verdict != "violated":
        click.echo(f"  {r.message}")
    if r.invariant:
        click.echo("  inductive invariant (the conjunction of):" if r.verdict == "holds" else
                   "  invariants of the queries that were proved:")
        for line in r.invariant:
            click.echo(f"    {line}")
    if r.trace is not None:
        click.echo("")
        click.echo(render_text(r.trace))


@main.command()
@click.option("--config", "-c", default="default", show_default=True, help="Named config.")
@click.option("--variant", "-v", default="upstream", show_default=True,
              help="Variant name, or FILE.py:NAME for a variant of your own.")
@click.option("--property", "-p", "props", multiple=True, help="Check only these (repeatable).")
@click.option("--engine", "-e", default="explicit", show_default=True,
              help="explicit (BFS, exhaustive), bmc (z3, bounded), kind (z3 k-induction), "
                   "spacer (z3 Horn clauses), or all.")
@click.option("--depth", type=click.IntRange(0), default=None,
              help="Bound for bmc / largest k for kind (default 40).")
@click.option("--show-invariant", is_flag=True,
              help="kind/spacer: print the inductive invariant of a proof.")
@click.option("--no-lemmas", is_flag=True,
              help="kind: plain k-induction, without lemmas from the explicit reachable set.")
@click.option("--max-states", type=click.IntRange(1), default=None, help="Stop (incomplete) after N states.")
@click.option("--max-seconds", type=click.FloatRange(0, min_open=True), default=None,
              help="Stop (incomplete) after N seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--trace-out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Save the counterexample trace as JSON.")
@click.option("--junit", "junit_out", type=click.Path(dir_okay=False), default=None,
              help="Write JUnit XML: one test case per property (each property is checked on its own).")
@click.option("--sarif", "sarif_out", type=click.Path(dir_okay=False), default=None,
              help="Write SARIF 2.1.0: one result per violated property (each checked on its own).")
@click.option("--kernel-src", type=click.Path(file_okay=False, exists=True), default=None,
              help="Kernel tree root: SARIF locations get the line of each function.")
@click.option("--fairness", "fair_kind", type=click.Choice(["weak", "strong", "none"]), default="weak",
              show_default=True, help=FAIRNESS_HELP)
@click.option("--strong-fair", "strong", multiple=True, metavar="THREAD|LOCK", help=STRONG_HELP)
def check(config, variant, props, engine, depth, show_invariant, no_lemmas, max_states,
          max_seconds, as_json, trace_out, junit_out, sarif_out, kernel_src, fair_kind, strong):
    """Check properties of a variant on a config."""
    from .run import ENGINES, check as run_check
    fairness = fairness_of(fair_kind, strong)
    if engine == "all":
        results = [run_check(config, variant, list(props), engine=e, max_states=max_states,
                             max_seconds=max_seconds, depth=depth, lemmas=not no_lemmas,
                             fairness=fairness)
                   for e in ENGINES]
        if as_json:
            click.echo(json.dumps([r.to_json() for r in results], indent=1))
        else:
            for r in results:
                click.echo(summary_line(r) + (f"\n  {r.message}" if r.message else ""))
        rank = {"holds": 0, "vacuous": 1, "incomplete": 2, "violated": 3, "error": 4}
        sys.exit(max(results, key=lambda r: rank[r.verdict]).exit_code)
    if engine not in ENGINES:
        raise click.BadParameter(f"unknown engine {engine!r} (known: {', '.join(ENGINES)}, all)",
                                 param_hint="--engine")
    if junit_out or sarif_out:
        _check_with_reports(config, variant, list(props), engine, max_states, max_seconds,
                            as_json, trace_out, junit_out, sarif_out, kernel_src, fairness)
    progress = None
    if not as_json and sys.stderr.isatty():
        def progress(n, done, secs):
            click.echo(f"\r  {n} states, {done} expanded, {secs:.0f}s", err=True, nl=False)
    r = run_check(config, variant, list(props), engine=engine, max_states=max_states,
                  max_seconds=max_seconds, depth=depth, progress=progress if engine == "explicit" else None,
                  lemmas=not no_lemmas, show_invariant=show_invariant, fairness=fairness)
    if progress:
        click.echo("\r" + " " * 60 + "\r", err=True, nl=False)
    if trace_out and r.trace is not None:
        r.trace.save(trace_out)
    print_result(r, as_json)
    sys.exit(r.exit_code)


@main.command()
@click.argument("trace_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--variant", "-v", default=None, help="Replay against this variant (default: the trace's).")
@click.option("--config", "-c", default=None, help="Replay on this config (default: the trace's).")
@click.option("--property", "-p", "props", multiple=True,
              help="Check these properties (default: the one the trace violates; 'all' for every one).")
@click.option("--fairness", "fair_kind", type=click.Choice(["weak", "strong", "none"]), default="weak",
              show_default=True, help="Fairness a lasso's loop must satisfy. " + FAIRNESS_HELP)
@click.option("--strong-fair", "strong", multiple=True, metavar="THREAD|LOCK", help=STRONG_HELP)
def replay(trace_file, variant, config, props, fair_kind, strong):
    """Re-execute a stored trace on the model and report what it violates."""
    from .replay import replay as do_replay
    from .run import build
    from .semantics import Semantics
    from traces.itf import load_trace
    t = load_trace(trace_file)   # our JSON or ITF
    if not props:
        props = [t.property] if t.property else []
    names = None if "all" in props else list(props)
    model, checks = build(config or t.config, variant or t.variant, names)
    fairness = fairness_of(fair_kind, strong)
    from .liveness import units
    units(model, fairness)
    rr = do_replay(t, Semantics(model, checks), fairness)
    name = f"{t.variant} trace on {model.variant}/{model.config.name}"
    if not rr.ok:
        click.echo(f"{name}: does not replay: {rr.error}")
        sys.exit(EXIT["holds"] if (variant and variant != t.variant) else EXIT["error"])
    if rr.violation:
        p, kind, msg = rr.violation
        lasso = (f" (a lasso: steps {t.loop + 1}..{len(t)} repeat, the loop closes)"
                 if t.loop is not None and t.loop < len(t) else
                 " (a lasso: its last state repeats)" if t.loop is not None else "")
        click.echo(f"{name}: replays {rr.steps_replayed} steps{lasso}; violates {p}: {msg}")
        sys.exit(EXIT["violated"])
    click.echo(f"{name}: replays all {rr.steps_replayed} steps without violating any property")
    sys.exit(EXIT["holds"])


# --- CI gates: reports, gate, coverage (issue 5) ------------------------------------

def _check_with_reports(config, variant, props, engine, max_states, max_seconds, as_json,
                        trace_out, junit_out, sarif_out, kernel_src, fairness=None):
    """``check --junit/--sarif``: every property on its own, one Result each, then the reports."""
    from .reports import ReportError, check_each, worst_exit, write_reports
    results = check_each(config, variant, props, engine=engine, max_states=max_states,
                         max_seconds=max_seconds, fairness=fairness)
    try:
        write_reports(results, junit=junit_out, sarif=sarif_out, kernel_src=kernel_src)
    except ReportError as e:
        click.echo(f"revoke-check: error: {e}", err=True)
        sys.exit(2)
    violated = [r for r in results if r.trace is not None]
    if trace_out and violated:
        min(violated, key=lambda r: len(r.trace)).trace.save(trace_out)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in results], indent=1))
    else:
        w = max(len(r.properties[0]) for r in results) if results else 0
        for r in results:
            click.echo(f"{r.properties[0]:<{w}}  {summary_line(r)}")
        for r in violated:
            click.echo("")
            click.echo(render_text(r.trace))
    sys.exit(worst_exit(results))


def _fail2(msg: str):
    click.echo(f"revoke-check: error: {msg}", err=True)
    sys.exit(2)


@main.command()
@click.option("--manifest", "-m", "manifest", type=click.Path(dir_okay=False), default=None,
              help="Manifest of expected results (default: the project's manifest.toml).")
@click.option("--variant", "-v", default=None,
              help="Check this variant (name or FILE.py:NAME) wherever the manifest says upstream.")
@click.option("--coverage", "coverage_configs", multiple=True, metavar="CONFIG",
              help="Also run the coverage gate of upstream on CONFIG (repeatable).")
@click.option("--allow", type=click.Path(dir_okay=False), default=None,
              help="Coverage allow-list and targets (default: coverage.toml beside the manifest).")
@click.option("--no-coverage", is_flag=True, help="Skip the coverage targets of the allow-list file.")
@click.option("--junit", "junit_out", type=click.Path(dir_okay=False), default=None,
              help="Write JUnit XML: one test case per manifest entry and coverage target.")
def gate(manifest, variant, coverage_configs, allow, no_coverage, junit_out):
    """Run every manifest entry (and coverage target); exit 1 on any difference.

    Prints expected vs actual for every difference: a verdict, violated
    property, distinct-state count or trace length that moved, a known bug no
    longer caught, a step that never fires or a witness never reached.
    """
    from .coverage import CoverageError
    from .gate import GateError, gate_cases, run_gate
    from .report_junit import junit_xml_cases

    def show(o):
        for line in o.lines():
            click.echo(line)

    try:
        outcomes = run_gate(manifest, variant=variant, coverage_configs=coverage_configs,
                            allow=allow, use_coverage_file=not no_coverage, on_outcome=show)
    except (GateError, CoverageError) as e:
        _fail2(str(e))
    bad = [o for o in outcomes if not o.ok]
    if junit_out:
        try:
            with open(junit_out, "w") as f:
                f.write(junit_xml_cases(gate_cases(outcomes), name="revoke-check gate"))
        except OSError as e:
            _fail2(f"cannot write {junit_out}: {e.strerror}")
    click.echo("")
    if bad:
        click.echo(f"gate: FAILED: {len(bad)} of {len(outcomes)} differ from what is expected:")
        for o in bad:
            name = o.entry.name if hasattr(o, "entry") else o.name
            click.echo(f"  {name}")
        sys.exit(1)
    click.echo(f"gate: passed: {len(outcomes)} of {len(outcomes)} as expected")
    sys.exit(0)


@main.command("coverage")
@click.option("--config", "-c", default="default", show_default=True, help="Named config.")
@click.option("--variant", "-v", default="upstream", show_default=True,
              help="Variant name, or FILE.py:NAME.")
@click.option("--fail-unfired", is_flag=True,
              help="Exit 1 on a step that never fires or a witness never reached, unless the "
                   "allow-list gives the reason.")
@click.option("--allow", type=click.Path(dir_okay=False), default=None,
              help="Allow-list file (default: the project's coverage.toml).")
@click.option("--max-states", type=click.IntRange(1), default=None, help="Stop (incomplete) after N states.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def coverage_cmd(config, variant, fail_unfired, allow, max_states, as_json):
    """Per-step firing counts over the whole state space, and witnesses reached."""
    from .coverage import COVERAGE_FILE, AllowList, CoverageError, coverage, judge, load_allow
    try:
        allow_list = load_allow(allow) if allow else (
            load_allow(COVERAGE_FILE) if COVERAGE_FILE.exists() else AllowList())
    except CoverageError as e:
        _fail2(str(e))
    cov = coverage(config, variant, max_states=max_states)
    v = judge(cov, allow_list)
    if as_json:
        d = cov.to_json()
        d["not_explained"] = v.problems()
        d["allowed"] = {(x.key if hasattr(x, "key") else x): a.reason for a, x in v.allowed}
        click.echo(json.dumps(d, indent=1))
    else:
        fired = sum(1 for s in cov.steps if s.fired)
        click.echo(f"{cov.variant} on {cov.config}: {fired} of {len(cov.steps)} steps fire; "
                   f"{cov.distinct_states} distinct states, {cov.transitions} transitions, "
                   f"{cov.seconds:.2f}s" + ("" if cov.complete else f" -- INCOMPLETE: {cov.reason}"))
        allowed = {id(x): a for a, x in v.allowed}
        for s in cov.steps:
            mark = ""
            if not s.fired:
                mark = "   <- never fires" + (" (allowed)" if id(s) in allowed else "")
            click.echo(f"  {s.count:>7}  {s.key}{mark}")
        click.echo("witnesses:")
        for w, ok in cov.witnesses.items():
            click.echo(f"  {'reached' if ok else 'NEVER  '}  {w}")
        if v.allowed:
            click.echo("explained by the allow-list:")
            for a, x in v.allowed:
                click.echo(f"  {x.key if hasattr(x, 'key') else x}")
                click.echo(f"      {' '.join(a.reason.split())}")
        probs = v.problems()
        if probs:
            click.echo("not explained:")
            for p in probs:
                click.echo(f"  {p}")
    if not cov.complete:
        sys.exit(3)
    sys.exit(1 if fail_unfired and not v.ok else 0)


# --- traces: export, render, reduce (issue 4) --------------------------------

RENDER_FORMATS = ("text", "lockdep", "mermaid", "svg", "html")


def _write_out(text: str, out: str | None):
    if out:
        try:
            with open(out, "w", encoding="utf-8") as f:
                f.write(text if text.endswith("\n") else text + "\n")
        except OSError as e:
            raise TraceError(f"{out}: {e.strerror}") from None
    else:
        click.echo(text, nl=not text.endswith("\n"))


@main.command("export-trace")
@click.argument("trace_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "-f", "fmt", type=click.Choice(["itf", "json"]), default="itf",
              show_default=True, help="itf: Informal Trace Format (Apalache, Quint); json: ours.")
@click.option("--output", "-o", "out", type=click.Path(dir_okay=False), default=None,
              help="Write to FILE (default: stdout).")
def export_trace(trace_file, fmt, out):
    """Convert a stored trace (our JSON or ITF) to ITF or to our JSON schema."""
    from traces.itf import dumps_itf, load_trace
    t = load_trace(trace_file)
    _write_out(dumps_itf(t) if fmt == "itf" else t.dumps(), out)


@main.command()
@click.argument("trace_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "-f", "fmt", type=click.Choice(RENDER_FORMATS), default="text",
              show_default=True, help="How to show the trace.")
@click.option("--output", "-o", "out", type=click.Path(dir_okay=False), default=None,
              help="Write to FILE (default: stdout).")
@click.option("--reduce", "do_reduce", is_flag=True,
              help="First reorder the trace to the fewest thread switches.")
def render(trace_file, fmt, out, do_reduce):
    """Show a stored trace as text, a lockdep scenario, Mermaid, SVG or an HTML report."""
    from traces.itf import load_trace
    t = load_trace(trace_file)
    if do_reduce:
        from traces.reduce import reduce_trace
        t = reduce_trace(t)
    if fmt == "text":
        text = render_text(t)
    elif fmt == "lockdep":
        from traces.render_lockdep import render_lockdep
        text = render_lockdep(t)
    elif fmt == "mermaid":
        from traces.render_mermaid import render_mermaid
        text = render_mermaid(t)
    elif fmt == "svg":
        from traces.render_svg import render_svg
        text = render_svg(t)
    else:
        from traces.render_html import render_html
        text = render_html(t)
    _write_out(text, out)


@main.command()
@click.argument("trace_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", "out", type=click.Path(dir_okay=False), default=None,
              help="Save the reordered trace as JSON to FILE.")
def reduce(trace_file, out):
    """Reorder a trace to the fewest thread switches; it still violates the same property."""
    from traces.itf import load_trace
    from traces.reduce import reduce_trace, thread_switches
    t = load_trace(trace_file)
    r = reduce_trace(t)
    def sw(x):
        n = thread_switches(x)
        return f"{len(x)} steps, {n} thread switch{'' if n == 1 else 'es'}"
    click.echo(f"{sw(t)} -> {sw(r)}")
    if out:
        r.save(out)
    click.echo("")
    click.echo(render_text(r))




@main.command()
@click.option("--config", "-c", default="default", show_default=True, help="Named config.")
@click.option("--variant", "-v", default="upstream", show_default=True, help="Variant name or FILE.py:NAME.")
@click.option("--proc", "procs", multiple=True, help="Only these procedures (repeatable).")
def steps(config, variant, procs):
    """List each procedure's step labels with kernel source and prose (what variants edit)."""
    from .run import build
    model, _ = build(config, variant, ["deadlock-free"])
    seen: dict = {}
    for tr in model.transitions:
        segs = tr.label.split("/")
        for seg, callee in zip(segs[:-1], segs[1:]):   # the calls on the way to this step
            proc, label = seg.split(":", 1)
            seen.setdefault(proc, {}).setdefault(label, ("call", callee.split(":", 1)[0]))
        seen.setdefault(tr.proc, {}).setdefault(tr.local_label, ("step", tr))
    if procs:
        seen = {p: v for p, v in seen.items() if p in procs}
        if not seen:
            raise click.BadParameter(f"no procedure {', '.join(procs)} in {variant} on {config}",
                                     param_hint="--proc")
    for proc, labels in seen.items():
        click.echo(proc)
        for label, (kind, x) in labels.items():
            if kind == "call":
                click.echo(f"  {label:<36} Call -> {x}")
            else:
                click.echo(f"  {label:<36} {x.source}")
                click.echo(f"  {'':<36} {x.doc}")

if __name__ == "__main__":
    main()
