"""The ``revoke-check`` command line.

Exit codes are stable: 0 holds, 1 violated, 2 usage or model error,
3 incomplete (a limit was reached), 4 vacuous (holds, but no witness of some
property was reached, so the check proved nothing about it).
"""
from __future__ import annotations

import json
import sys

import click

from model.config import ConfigError, load_configs
from model.lang import ModelError
from model.variants import VARIANTS, VariantError
from properties import PROPERTIES, PropertyError
from traces.render_text import render_text
from traces.trace import Trace, TraceError

from .result import EXIT, Result

DOMAIN_ERRORS = (ConfigError, VariantError, PropertyError, TraceError, ModelError)


class Group(click.Group):
    """Turns the domain errors into one line on stderr and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DOMAIN_ERRORS as e:
            click.echo(f"revoke-check: error: {e}", err=True)
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
    if r.trace is not None:
        click.echo("")
        click.echo(render_text(r.trace))


@main.command()
@click.option("--config", "-c", default="default", show_default=True, help="Named config.")
@click.option("--variant", "-v", default="upstream", show_default=True,
              help="Variant name, or FILE.py:NAME for a variant of your own.")
@click.option("--property", "-p", "props", multiple=True, help="Check only these (repeatable).")
@click.option("--engine", "-e", default="explicit", show_default=True, help="explicit")
@click.option("--max-states", type=click.IntRange(1), default=None, help="Stop (incomplete) after N states.")
@click.option("--max-seconds", type=click.FloatRange(0, min_open=True), default=None,
              help="Stop (incomplete) after N seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--trace-out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Save the counterexample trace as JSON.")
def check(config, variant, props, engine, max_states, max_seconds, as_json, trace_out):
    """Check properties of a variant on a config."""
    from .run import ENGINES, check as run_check
    if engine not in ENGINES:
        raise click.BadParameter(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})",
                                 param_hint="--engine")
    progress = None
    if not as_json and sys.stderr.isatty():
        def progress(n, done, secs):
            click.echo(f"\r  {n} states, {done} expanded, {secs:.0f}s", err=True, nl=False)
    r = run_check(config, variant, list(props), engine=engine, max_states=max_states,
                  max_seconds=max_seconds, progress=progress)
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
def replay(trace_file, variant, config, props):
    """Re-execute a stored trace on the model and report what it violates."""
    from .replay import replay as do_replay
    from .run import build
    from .semantics import Semantics
    t = Trace.load(trace_file)
    if not props:
        props = [t.property] if t.property else []
    names = None if "all" in props else list(props)
    model, checks = build(config or t.config, variant or t.variant, names)
    rr = do_replay(t, Semantics(model, checks))
    name = f"{t.variant} trace on {model.variant}/{model.config.name}"
    if not rr.ok:
        click.echo(f"{name}: does not replay: {rr.error}")
        sys.exit(EXIT["holds"] if (variant and variant != t.variant) else EXIT["error"])
    if rr.violation:
        p, kind, msg = rr.violation
        click.echo(f"{name}: replays {rr.steps_replayed} steps; violates {p}: {msg}")
        sys.exit(EXIT["violated"])
    click.echo(f"{name}: replays all {rr.steps_replayed} steps without violating any property")
    sys.exit(EXIT["holds"])


if __name__ == "__main__":
    main()
