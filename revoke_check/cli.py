"""The ``revoke-check`` command line.

Exit codes are stable: 0 holds, 1 violated, 2 usage or model error,
3 incomplete (a limit was reached), 4 vacuous (holds, but no witness of some
property was reached, so the check proved nothing about it), 130 interrupted
(Ctrl-C).  Every error is one line on stderr, never a traceback.
"""
from __future__ import annotations

import json
import math
import os
import sys
import traceback
from pathlib import Path

import click

from revoke_check.model.config import ConfigError
from revoke_check.model.lang import ModelError
from revoke_check.model.variants import VariantError
from revoke_check.properties import PropertyError
from revoke_check.traces.render_text import render_text
from revoke_check.traces.trace import TraceError

from . import interrupt
from .result import EXIT, Result

# z3 engines run this long unless --max-seconds says otherwise (then: incomplete)
DEFAULT_Z3_SECONDS = 300.0

from revoke_check.engines.liveness import Fairness, FairnessError  # noqa: E402
from revoke_check.engines.distributed import DistributedError  # noqa: E402

from revoke_check.engines.compiled_mt import CheckpointError  # noqa: E402

DOMAIN_ERRORS = (ConfigError, VariantError, PropertyError, TraceError, ModelError, FairnessError,
                 DistributedError, CheckpointError)

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
        interrupt.install()
        try:
            return super().invoke(ctx)
        except DOMAIN_ERRORS as e:
            if interrupt.FIRED.is_set():
                _interrupted(ctx)
            click.echo(f"revoke-check: error: {_one_line(e)}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            if interrupt.FIRED.is_set():
                _interrupted(ctx)
            # raised by code (a variant's), not by Ctrl-C
            click.echo("revoke-check: error: KeyboardInterrupt raised by the model or a variant", err=True)
            ctx.exit(2)
        except click.exceptions.UsageError as e:   # one line, not click's three
            hint = f" (try '{e.ctx.command_path} --help')" if e.ctx is not None else ""
            click.echo(f"revoke-check: error: {_one_line(e.format_message())}{hint}", err=True)
            ctx.exit(2)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                SystemExit):
            raise
        except BrokenPipeError:  # the reader (head, less) went away: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except Exception as e:  # a bug in revoke-check or in a variant's code: one line, exit 2
            if interrupt.FIRED.is_set():   # Ctrl-C inside z3's ctypes glue: still an interrupt
                _interrupted(ctx)
            if os.environ.get("REVOKE_CHECK_DEBUG"):
                raise
            where = traceback.extract_tb(e.__traceback__)[-1]
            click.echo(f"revoke-check: internal error: {type(e).__name__}: {_one_line(e)} "
                       f"(at {os.path.basename(where.filename)}:{where.lineno}; "
                       f"REVOKE_CHECK_DEBUG=1 shows the traceback)", err=True)
            ctx.exit(2)


def _version() -> str:
    from . import __version__
    return __version__


def _one_line(e) -> str:
    return " ".join(str(e).split())


def _interrupted(ctx):
    """Ctrl-C: one line on stderr, exit 130 (every engine ends here)."""
    click.echo(f"revoke-check: interrupted: incomplete after {interrupt.describe()}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)      # no interpreter teardown: z3 objects cut short by the signal stay quiet


def _fail2(msg: str):
    click.echo(f"revoke-check: error: {_one_line(msg)}", err=True)
    sys.exit(2)


def writable(path, opt: str):
    """Fail (one line, exit 2) before any search if ``path`` cannot be written."""
    if path is None:
        return
    p = Path(path)
    parent = p.parent
    if p.is_dir():
        _fail2(f"cannot write {opt} {path}: is a directory")
    if not parent.is_dir():
        _fail2(f"cannot write {opt} {path}: no such directory {parent}")
    if (p.exists() and not os.access(p, os.W_OK)) or \
            (not p.exists() and not os.access(parent, os.W_OK | os.X_OK)):
        _fail2(f"cannot write {opt} {path}: not writable")


def _variant_opt(ctx, param, value):
    if value is not None and not value.strip():
        raise click.BadParameter("must name a variant (upstream, a known variant or FILE.py:NAME)")
    return value


class Seconds(click.ParamType):
    """A positive, finite number of seconds (``nan`` and ``inf`` are rejected)."""

    name = "seconds"

    def convert(self, value, param, ctx):
        try:
            x = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(x) or x <= 0:
            self.fail(f"{value!r} is not a positive finite number of seconds", param, ctx)
        return x


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", "-V", prog_name="revoke-check")
def main():
    """Model checker for the vfio-pci dma-buf revoke and locking protocol (and others: --protocol).

    Exit codes: 0 holds, 1 violated, 2 usage or model error (one line on
    stderr), 3 incomplete (a limit was reached), 4 vacuous (no witness of some
    property was reached).
    """


def _complete(kind):
    """Shell completion of config, variant and property names (bash/zsh/fish, click's own)."""
    def complete(ctx, param, incomplete):
        try:
            from revoke_check.model import protocols
            from revoke_check.model.variants import get_protocol
            fam = (ctx.params.get("protocol") if ctx and ctx.params else None)
            p = get_protocol(ctx.params.get("variant") or "upstream" if kind != "variant" else "upstream",
                             protocol=fam)
            names = {"config": list(p.configs), "property": list(p.properties),
                     "variant": ["upstream", *protocols.variants_of(p.family)]}[kind]
        except Exception:   # completion must never fail the shell
            return []
        return [n for n in names if n.startswith(incomplete)]
    return complete


def protocol_option(fn):
    """``--protocol NAME``: which protocol (model/protocols.py); default vfio-dmabuf."""
    from revoke_check.model.protocols import DEFAULT, names
    return click.option("--protocol", "protocol", default=None, metavar="NAME",
                        help=f"The protocol: {', '.join(names())} (default {DEFAULT}).")(fn)


@main.command("list")
@click.option("--variant", "-v", default="upstream", show_default=True,
              help="Also list what this variant adds (configs, properties, actor kinds).")
@protocol_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def list_cmd(variant, protocol, as_json):
    """List configs, variants and properties (and, with -v, what a variant adds)."""
    from revoke_check.model import protocols
    from revoke_check.model.variants import get_protocol
    p = get_protocol(variant, protocol=protocol)
    if as_json:
        click.echo(json.dumps({
            "protocol": p.family, "protocols": list(protocols.names()),
            "configs": {n: p.config(n).doc for n in p.configs},
            "variants": {"upstream": "the current kernel (default)",
                         **{n: fn.variant_doc for n, fn in protocols.variants_of(p.family).items()}},
            "properties": {n: prop.summary for n, prop in p.properties.items()},
            "actor_kinds": {n: ak.doc for n, ak in p.actor_kinds.items()}}, indent=1))
        return
    click.echo(f"protocol: {p.family}  (known: {', '.join(protocols.names())})")
    click.echo("configs:")
    for name in p.configs:
        c = p.config(name)
        click.echo(f"  {name:<28} {c.doc}")
    click.echo("variants:")
    click.echo(f"  {'upstream':<28} the current kernel (default)")
    for name, fn in protocols.variants_of(p.family).items():
        click.echo(f"  {name:<28} {fn.variant_doc.splitlines()[0] if fn.variant_doc else ''}")
    click.echo("properties:")
    for name, prop in p.properties.items():
        click.echo(f"  {name:<28} {prop.summary}")
    click.echo("actor kinds:")
    for name, ak in p.actor_kinds.items():
        click.echo(f"  {name:<28} {ak.doc}{' (implicit, one per ' + ak.per + ')' if ak.per else ''}")


@main.command()
@click.option("--variant", "-v", default="upstream", show_default=True,
              help="The schema of this variant's configs (variants may add keys).")
@click.option("--file", "whole_file", is_flag=True, help="The schema of a whole configs file (named tables).")
@protocol_option
def schema(variant, whole_file, protocol):
    """Print the JSON Schema of a config, for editors to check and complete config files."""
    from revoke_check.model.config import file_schema
    from revoke_check.model.variants import get_protocol
    p = get_protocol(variant, protocol=protocol)
    click.echo(json.dumps(file_schema(p) if whole_file else p.config_schema(), indent=1))


def summary_line(r: Result) -> str:
    what = {"holds": "holds", "violated": f"VIOLATED: {r.property}", "incomplete": "INCOMPLETE",
            "error": "ERROR", "vacuous": "VACUOUS"}[r.verdict]
    bound = f", bound {r.bound}" if r.bound is not None else ""
    if r.engine not in ("explicit", "compiled", "distributed"):  # z3 engines count depths, not states
        proof = f", proof {r.proof}" if r.proof is not None else ""
        depth = f"depth {r.depth}, " if r.engine != "spacer" or r.trace is not None else ""
        return (f"{r.variant} on {r.config} [{r.engine}{bound}]: {what} -- "
                f"{depth}{proof.lstrip(', ')}{', ' if proof else ''}{r.seconds:.2f}s")
    red = r.reductions or {}
    tag = "+".join(x for x in ("symmetry", "por") if red.get(x))
    return (f"{r.variant} on {r.config} [{r.engine}{bound}]: {what} -- "
            f"{r.distinct_states} distinct states" + (f" ({tag})" if tag else "") +
            f", {r.transitions} transitions, "
            f"depth {r.depth}, {r.seconds:.2f}s")


def print_result(r: Result, as_json: bool):
    if as_json:
        click.echo(json.dumps(r.to_json(), indent=1))
        return
    click.echo(summary_line(r))
    if r.message and r.verdict != "violated":
        click.echo(f"  {r.message}")
    red = r.reductions or {}
    for note in red.get("notes", ()):
        click.echo(f"  {note}")
    if red.get("shortest_search"):
        x = red["shortest_search"]
        click.echo(f"  shortest trace: a search {x['how']} to depth {x['depth']} ({x['states']} states)")
    if r.invariant:
        click.echo("  inductive invariant (the conjunction of):" if r.verdict == "holds" else
                   "  invariants of the queries that were proved:")
        for line in r.invariant:
            click.echo(f"    {line}")
    if r.trace is not None:
        click.echo("")
        click.echo(render_text(r.trace))


@main.command()
@click.option("--config", "-c", default="default", show_default=True, shell_complete=_complete("config"),
              help="Named config.")
@click.option("--variant", "-v", default="upstream", show_default=True, shell_complete=_complete("variant"),
              callback=_variant_opt, help="Variant name, or FILE.py:NAME for a variant of your own.")
@click.option("--property", "-p", "props", multiple=True, shell_complete=_complete("property"),
              help="Check only these (repeatable).")
@click.option("--engine", "-e", default="explicit", show_default=True,
              type=click.Choice(["explicit", "compiled", "distributed", "bmc", "kind", "spacer", "all"]),
              help="explicit (BFS, exhaustive), compiled (the same BFS in C, built with the system C "
                   "compiler; progress on stderr every 2s), distributed (the compiled BFS partitioned "
                   "by state hash across Ray workers), bmc (z3, bounded), kind (z3 k-induction), "
                   "spacer (z3 Horn clauses), or all.")
@click.option("--depth", type=click.IntRange(0), default=None,
              help="Bound for bmc / largest k for kind (default 40).")
@click.option("--show-invariant", is_flag=True,
              help="kind/spacer: print the inductive invariant of a proof.")
@click.option("--no-lemmas", is_flag=True,
              help="kind: plain k-induction, without lemmas from the explicit reachable set.")
@click.option("--max-states", type=click.IntRange(1), default=None, help="Stop (incomplete) after N states.")
@click.option("--max-seconds", type=Seconds(), default=None,
              help=f"Stop (incomplete) after N seconds (z3 engines: {DEFAULT_Z3_SECONDS:g} s unless given).")
@click.option("--hash-compaction", is_flag=True,
              help="compiled: store 64-bit fingerprints only (less memory; may miss states, so "
                   "no violation is reported as incomplete, exit 3, never holds).")
@click.option("--symmetry", is_flag=True,
              help="explicit/compiled: store one state per orbit of interchangeable objects (proved "
                   "by z3; the result says which); the trace stays a shortest concrete one.")
@click.option("--por", is_flag=True,
              help="explicit/compiled: partial-order reduction (ample sets, visibility and cycle "
                   "provisos; compiled: sequential only, the same states as explicit); a violation "
                   "is re-searched without it to report a shortest trace.")
@click.option("--ray-address", default="local", show_default=True, metavar="ADDR|local",
              help="distributed: the Ray cluster to join (host:port of its head, or auto), or local: "
                   "start one on this machine.")
@click.option("--ray-workers", type=click.IntRange(1), default=2, show_default=True,
              help="distributed: partitions of the state space, one Ray actor (one CPU) each.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="compiled: threads expanding each BFS level (same counts and first trace as 1).")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="compiled: save the search here every --checkpoint-every seconds and when "
                   "it stops incomplete (a limit, Ctrl-C), to continue with --recover.")
@click.option("--checkpoint-every", type=Seconds(), default=30.0, show_default=True,
              help="compiled: seconds between checkpoints.")
@click.option("--recover", type=click.Path(dir_okay=False), default=None,
              help="compiled: continue the search saved in this checkpoint (same model and properties).")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--trace-out", type=click.Path(dir_okay=False), default=None,
              help="Save the counterexample trace as JSON.")
@click.option("--junit", "junit_out", type=click.Path(dir_okay=False), default=None,
              help="Write JUnit XML: one test case per property (each property is checked on its own).")
@click.option("--sarif", "sarif_out", type=click.Path(dir_okay=False), default=None,
              help="Write SARIF 2.1.0: one result per violated property (each checked on its own).")
@click.option("--kernel-src", type=click.Path(file_okay=False, exists=True), default=None,
              help="Kernel tree root: SARIF locations get the line of each function.")
@protocol_option
@click.option("--fairness", "fair_kind", type=click.Choice(["weak", "strong", "none"]), default="weak",
              show_default=True, help=FAIRNESS_HELP)
@click.option("--strong-fair", "strong", multiple=True, metavar="THREAD|LOCK", help=STRONG_HELP)
def check(config, variant, props, engine, depth, show_invariant, no_lemmas, max_states,
          max_seconds, hash_compaction, symmetry, por, ray_address, ray_workers, workers, checkpoint,
          checkpoint_every, recover, quiet, as_json, trace_out, junit_out, sarif_out, kernel_src,
          protocol, fair_kind, strong):
    """Check properties of a variant on a config.

    The z3 engines (bmc, kind, spacer) stop after --max-seconds, 300 s by
    default, and then say incomplete (exit 3).  A progress line goes to stderr
    every few seconds (--quiet: none).  Ctrl-C ends any engine: exit 130.
    """
    from .run import ENGINES, OTHER_ENGINES, Z3_ENGINES, check as run_check
    if (symmetry or por) and (engine not in ("explicit", "compiled") or junit_out or sarif_out):
        raise click.BadParameter("needs one engine, explicit or compiled (and no --junit/--sarif)",
                                 param_hint="--symmetry/--por")
    if engine == "distributed" and (junit_out or sarif_out):
        raise click.BadParameter("--engine distributed writes no --junit/--sarif", param_hint="--engine")
    if hash_compaction and (engine != "compiled" or junit_out or sarif_out):
        raise click.BadParameter("needs --engine compiled (and no --junit/--sarif)",
                                 param_hint="--hash-compaction")
    for opt, val in (("--workers", workers > 1), ("--checkpoint", checkpoint), ("--recover", recover)):
        if val and (engine != "compiled" or junit_out or sarif_out):
            raise click.BadParameter("needs --engine compiled (and no --junit/--sarif)", param_hint=opt)
    for path, opt in ((trace_out, "--trace-out"), (junit_out, "--junit"), (sarif_out, "--sarif"),
                      (checkpoint, "--checkpoint")):
        writable(path, opt)
    fairness = fairness_of(fair_kind, strong)
    if not quiet:
        # names first (an unknown one is the only line on stderr), then the start line
        from revoke_check.model.variants import get_protocol
        from revoke_check.properties import get_properties
        _p = get_protocol(variant, protocol=protocol)
        _p.config(config)
        get_properties(list(props) or None, _p)
        from . import __version__
        limits = ", ".join(x for x in (f"max-states {max_states}" if max_states else "",
                                       f"max-seconds {max_seconds:g}" if max_seconds else "",
                                       f"depth {depth}" if depth is not None else "") if x)
        click.echo(f"revoke-check {__version__}: {variant} on {config} [{engine}]"
                   + (f" --protocol {protocol}" if protocol else "")
                   + (f", properties {', '.join(props)}" if props else ", every property")
                   + (f", {limits}" if limits else "") + f", fairness {fair_kind}", err=True)

    def secs(e):
        return max_seconds if max_seconds is not None or e not in Z3_ENGINES else DEFAULT_Z3_SECONDS

    stop = None if quiet else interrupt.ticker(lambda line: click.echo(f"  {line}", err=True))
    if stop:   # also when the run ends in an error: a ticker left running prints for ever
        click.get_current_context().call_on_close(stop.set)

    def run_one(e, **kw):
        interrupt.reset(e)
        return run_check(config, variant, list(props), engine=e, max_states=max_states,
                         max_seconds=secs(e), depth=depth, lemmas=not no_lemmas, protocol=protocol,
                         fairness=fairness, **kw)
    if engine == "all":
        results = [run_one(e) for e in ENGINES]
        if stop:
            stop.set()
        for r in results:
            _error_line(r)
        if as_json:
            click.echo(json.dumps([r.to_json() for r in results], indent=1))
        else:
            for r in results:
                click.echo(summary_line(r) + (f"\n  {r.message}" if r.message else ""))
        rank = {"holds": 0, "vacuous": 1, "incomplete": 2, "violated": 3, "error": 4}
        sys.exit(max(results, key=lambda r: rank[r.verdict]).exit_code)
    if engine not in ENGINES + OTHER_ENGINES:
        raise click.BadParameter(f"unknown engine {engine!r} (known: {', '.join(ENGINES)}, all)",
                                 param_hint="--engine")
    if junit_out or sarif_out:
        interrupt.reset(engine)
        _check_with_reports(config, variant, list(props), engine, max_states, secs(engine),
                            as_json, trace_out, junit_out, sarif_out, kernel_src, protocol, fairness)
    r = run_one(engine, show_invariant=show_invariant,
                progress_secs=0.0 if quiet or engine not in ("compiled", "distributed") else 2.0,
                hash_compaction=hash_compaction, symmetry=symmetry, por=por,
                **(dict(ray_address=ray_address, ray_workers=ray_workers) if engine == "distributed" else {}),
                **({"workers": workers, "checkpoint": checkpoint, "checkpoint_every": checkpoint_every,
                    "recover": recover} if engine == "compiled" else {}))
    if stop:
        stop.set()
    if trace_out and r.trace is not None:
        r.trace.save(trace_out)
    print_result(r, as_json)
    _error_line(r)
    sys.exit(r.exit_code)


def _error_line(r: Result):
    """An error verdict (a model error, an internal disagreement) is also one line on stderr."""
    if r.verdict == "error":
        click.echo(f"revoke-check: error: {r.variant} on {r.config} [{r.engine}]: "
                   f"{_one_line(r.message or 'error')}", err=True)


@main.command()
@click.argument("trace_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--variant", "-v", default=None, callback=_variant_opt,
              help="Replay against this variant (default: the trace's).")
@click.option("--config", "-c", default=None, help="Replay on this config (default: the trace's).")
@click.option("--property", "-p", "props", multiple=True,
              help="Check these properties (default: the one the trace violates; 'all' for every one).")
@protocol_option
@click.option("--fairness", "fair_kind", type=click.Choice(["weak", "strong", "none"]), default="weak",
              show_default=True, help="Fairness a lasso's loop must satisfy. " + FAIRNESS_HELP)
@click.option("--strong-fair", "strong", multiple=True, metavar="THREAD|LOCK", help=STRONG_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def replay(trace_file, variant, config, props, protocol, fair_kind, strong, as_json):
    """Re-execute a stored trace on the model and report what it violates.

    Exit 1: it replays and violates a property; 0: it replays without a
    violation, or (with -v/-c of another variant) that variant does something
    else at some step (the fix prevents it); 2: it does not fit its own
    variant (corrupt or stale).
    """
    from .replay import replay as do_replay
    from .run import build
    from .semantics import Semantics
    from revoke_check.traces.itf import load_trace
    t = load_trace(trace_file)   # our JSON or ITF
    if not props:
        props = [t.property] if t.property else []
    names = None if "all" in props else list(props)
    vspec, cspec = _trace_specs(t, variant, config)
    from .provenance import protocol_of
    model, checks = build(cspec, vspec, names, protocol or protocol_of(t))
    fairness = fairness_of(fair_kind, strong)
    from revoke_check.engines.liveness import units
    units(model, fairness)
    rr = do_replay(t, Semantics(model, checks), fairness)
    name = f"{t.variant} trace on {model.variant}/{model.config.name}"
    if not rr.ok:
        other = (variant and variant != t.variant) or (config and config != t.config)
        if other:
            # the fix prevents it -- if the trace fits its own variant; else it is corrupt
            own_v, own_c = _trace_specs(t)
            own_model, own_checks = build(own_c, own_v, names, protocol or protocol_of(t))
            own = do_replay(t, Semantics(own_model, own_checks), fairness)
            if not own.ok:
                _fail2(f"{trace_file}: the trace does not replay on its own variant "
                       f"{t.variant}/{t.config} either (corrupt or stale): {own.error}")
            _say(as_json, f"{name}: does not replay: {rr.error}",
                 {"replays": False, "steps": rr.steps_replayed, "error": rr.error, "fix": rr.fix})
            sys.exit(EXIT["holds"])
        _fail2(f"{name}: does not replay (corrupt or stale trace): {rr.error}")
    if rr.violation:
        p, kind, msg = rr.violation
        lasso = (f" (a lasso: steps {t.loop + 1}..{len(t)} repeat, the loop closes)"
                 if t.loop is not None and t.loop < len(t) else
                 " (a lasso: its last state repeats)" if t.loop is not None else "")
        _say(as_json, f"{name}: replays {rr.steps_replayed} steps{lasso}; violates {p}: {msg}",
             {"replays": True, "steps": rr.steps_replayed,
              "violation": {"property": p, "kind": kind, "message": msg}})
        sys.exit(EXIT["violated"])
    _say(as_json, f"{name}: replays all {rr.steps_replayed} steps without violating any property",
         {"replays": True, "steps": rr.steps_replayed, "violation": None})
    sys.exit(EXIT["holds"])


def _say(as_json: bool, line: str, obj: dict):
    click.echo(json.dumps(obj, indent=1) if as_json else line)





# --- CI gates: reports, gate, coverage (issue 5) ------------------------------------

def _trace_specs(t, variant=None, config=None):
    """The variant and config a stored trace was made on (its provenance), unless given."""
    from .provenance import ProvenanceError, specs_of
    try:
        vspec, cspec = specs_of(t, warn=lambda line: click.echo(f"revoke-check: {line}", err=True))
    except ProvenanceError as e:
        if variant and config:
            return variant, config
        raise TraceError(str(e)) from None
    return variant or vspec, config or cspec


def _check_with_reports(config, variant, props, engine, max_states, max_seconds, as_json,
                        trace_out, junit_out, sarif_out, kernel_src, protocol=None, fairness=None):
    """``check --junit/--sarif``: every property on its own, one Result each, then the reports."""
    from revoke_check.reports.checks import ReportError, check_each, worst_exit, write_reports
    results = check_each(config, variant, props, engine=engine, max_states=max_states,
                         max_seconds=max_seconds, protocol=protocol, fairness=fairness)
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


@main.command()
@click.option("--manifest", "-m", "manifest", type=click.Path(dir_okay=False), default=None,
              help="Manifest of expected results (default: the project's manifest.toml).")
@click.option("--variant", "-v", default=None, callback=_variant_opt,
              help="Check this variant (name or FILE.py:NAME) wherever the manifest says upstream.")
@click.option("--coverage", "coverage_configs", multiple=True, metavar="CONFIG",
              help="Also run the coverage gate of upstream on CONFIG (repeatable).")
@click.option("--allow", type=click.Path(dir_okay=False), default=None,
              help="Coverage allow-list and targets (default: coverage.toml beside the manifest).")
@click.option("--no-coverage", is_flag=True, help="Skip the coverage targets of the allow-list file.")
@click.option("--junit", "junit_out", type=click.Path(dir_okay=False), default=None,
              help="Write JUnit XML: one test case per manifest entry and coverage target.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (no per-entry lines).")
@click.option("--slow", is_flag=True,
              help="Also run the entries marked slow = true (instances of minutes, such as huge).")
def gate(manifest, variant, coverage_configs, allow, no_coverage, junit_out, as_json, slow):
    """Run every manifest entry (and coverage target); exit 1 on any difference.

    Prints expected vs actual for every difference: a verdict, violated
    property, distinct-state count or trace length that moved, a known bug no
    longer caught, a step that never fires or a witness never reached.
    """
    from revoke_check.ci.coverage import CoverageError
    from revoke_check.ci.gate import GateError, SkippedOutcome, gate_cases, run_gate
    from revoke_check.reports.junit import junit_xml_cases

    writable(junit_out, "--junit")

    def show(o):
        if not as_json:
            for line in o.lines():
                click.echo(line)

    try:
        outcomes = run_gate(manifest, variant=variant, coverage_configs=coverage_configs,
                            allow=allow, use_coverage_file=not no_coverage, on_outcome=show,
                            slow=slow)
    except (GateError, CoverageError) as e:
        _fail2(str(e))
    every = outcomes
    skipped = [o for o in outcomes if isinstance(o, SkippedOutcome)]
    outcomes = [o for o in outcomes if not isinstance(o, SkippedOutcome)]
    bad = [o for o in outcomes if not o.ok]
    if junit_out:
        try:
            with open(junit_out, "w") as f:
                f.write(junit_xml_cases(gate_cases(every), name="revoke-check gate"))
        except OSError as e:
            _fail2(f"cannot write {junit_out}: {e.strerror}")
    if as_json:
        click.echo(json.dumps({"passed": len(outcomes) - len(bad), "total": len(outcomes),
                               "skipped_slow": [o.entry.name for o in skipped],
                               "outcomes": [{"name": o.entry.name if hasattr(o, "entry") else o.name,
                                             "ok": o.ok, "lines": o.lines()} for o in outcomes]},
                              indent=1))
        sys.exit(1 if bad else 0)
    click.echo("")
    if bad:
        click.echo(f"gate: FAILED: {len(bad)} of {len(outcomes)} differ from what is expected:")
        for o in bad:
            name = o.entry.name if hasattr(o, "entry") else o.name
            click.echo(f"  {name}")
        sys.exit(1)
    more = (f" ({len(skipped)} slow = true entr{'y' if len(skipped) == 1 else 'ies'} not run: "
            "--slow runs them)") if skipped else ""
    click.echo(f"gate: passed: {len(outcomes)} of {len(outcomes)} as expected{more}")
    sys.exit(0)


@main.command("coverage")
@click.option("--config", "-c", default="default", show_default=True, help="Named config.")
@click.option("--variant", "-v", default="upstream", show_default=True, callback=_variant_opt,
              help="Variant name, or FILE.py:NAME.")
@click.option("--fail-unfired", is_flag=True,
              help="Exit 1 on a step that never fires or a witness never reached, unless the "
                   "allow-list gives the reason.")
@click.option("--allow", type=click.Path(dir_okay=False), default=None,
              help="Allow-list file (default: the project's coverage.toml).")
@click.option("--max-states", type=click.IntRange(1), default=None, help="Stop (incomplete) after N states.")
@click.option("--preconditions", "show_pre", is_flag=True,
              help="Per step, the combinations of the (abstracted) values its guard and updates read "
                   "that were seen, of those possible; with --fail-unfired, also exit 1 on an unseen "
                   "combination of a [[precondition]] target that [[unseen]] does not explain.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@protocol_option
def coverage_cmd(config, variant, fail_unfired, allow, max_states, show_pre, as_json, protocol):
    """Per-step firing counts over the whole state space, and witnesses reached."""
    from revoke_check.ci.coverage import COVERAGE_FILE, AllowList, CoverageError, coverage, judge, load_allow
    try:
        allow_list = load_allow(allow) if allow else (
            load_allow(COVERAGE_FILE) if COVERAGE_FILE.exists() else AllowList())
    except CoverageError as e:
        _fail2(str(e))
    if show_pre:
        _preconditions_cmd(config, variant, allow_list, fail_unfired, max_states, as_json, protocol)
    cov = coverage(config, variant, max_states=max_states, protocol=protocol)
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
        _not_explained(v.problems())
    _coverage_exit(cov.complete, fail_unfired, v.ok)


def _preconditions_cmd(config, variant, allow_list, fail_unfired, max_states, as_json, protocol):
    """``coverage --preconditions``: the report, and the gate of the targets of this config."""
    from revoke_check.ci.preconditions import judge_preconditions, preconditions
    from revoke_check.model.config import ConfigError, split_spec
    name = split_spec(config)[1] or config      # a FILE.toml:NAME config meets NAME's targets
    try:
        pre = preconditions(config, variant, allow_list.targets_of(name, variant),
                            protocol=protocol, max_states=max_states)
    except (ValueError, ConfigError) as e:
        _fail2(str(e))
    v = judge_preconditions(pre, allow_list.unseen)
    allowed = {(id(p), c): u for u, p, c in v.allowed}
    if as_json:
        def rows(ps):
            return [{"step": p.step, "over": list(p.over), "possible": len(p.possible),
                     "seen": sorted(p.text(c) for c in p.seen),
                     "unseen": [p.text(c) for c in p.unseen]} for p in ps]
        click.echo(json.dumps({"config": pre.config, "variant": pre.variant, "complete": pre.complete,
                               "distinct_states": pre.distinct_states, "steps": rows(pre.steps),
                               "targets": rows(pre.targets), "not_explained": v.problems()}, indent=1))
    else:
        click.echo(f"{pre.variant} on {pre.config}: preconditions over {pre.distinct_states} states "
                   "(abstracted: bool and enum values, lock none/held, counters 0/>0)")
        for p in pre.steps:
            click.echo(f"  {len(p.seen):>4}/{len(p.possible):<5} {p.step}")
        if pre.targets:
            click.echo("targets (coverage.toml [[precondition]]):")
        for p in pre.targets:
            click.echo(f"  {len(p.seen)}/{len(p.possible)}  {p.step}  over {', '.join(p.over)}")
            for c in p.possible:
                mark = ("seen" if c in p.seen else
                        "unseen (allowed)" if (id(p), c) in allowed else "UNSEEN")
                click.echo(f"      {mark:<16} {p.text(c)}")
        _not_explained(v.problems())
    _coverage_exit(pre.complete, fail_unfired, v.ok)


def _not_explained(probs):
    if probs:
        click.echo("not explained:")
        for x in probs:
            click.echo(f"  {x}")


def _coverage_exit(complete: bool, fail_unfired: bool, ok: bool):
    """Exit 3 for a search cut short, 1 for a gap that --fail-unfired rejects, else 0."""
    if not complete:
        sys.exit(3)
    sys.exit(1 if fail_unfired and not ok else 0)


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
    from revoke_check.traces.itf import dumps_itf, load_trace
    writable(out, "--output")
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
@click.option("--against", default=None,
              help="html: mark the first step where this variant differs (default: the variant's fix).")
@click.option("--kernel-ref", default=None, help="html: link kernel sources to elixir for this tag (v7.3).")
@click.option("--kernel-src", type=click.Path(file_okay=False, exists=True), default=None,
              help="html: link kernel sources to file:line in this tree.")
@click.option("--no-explain", is_flag=True, help="html: no fix marker, slice or locks column.")
def render(trace_file, fmt, out, do_reduce, against, kernel_ref, kernel_src, no_explain):
    """Show a stored trace as text, a lockdep scenario, Mermaid, SVG or an HTML report."""
    from revoke_check.traces.itf import load_trace
    writable(out, "--output")
    t = load_trace(trace_file)
    if do_reduce:
        from revoke_check.traces.reduce import reduce_trace
        t = reduce_trace(t)
    if fmt == "text":
        text = render_text(t)
    elif fmt == "lockdep":
        from revoke_check.traces.render_lockdep import render_lockdep
        text = render_lockdep(t)
    elif fmt == "mermaid":
        from revoke_check.traces.render_mermaid import render_mermaid
        text = render_mermaid(t)
    elif fmt == "svg":
        from revoke_check.traces.render_svg import render_svg
        text = render_svg(t)
    else:
        from revoke_check.traces.render_html import render_html
        text = render_html(t, against=against, kernel_ref=kernel_ref, kernel_src=kernel_src,
                           explain=not no_explain)
    _write_out(text, out)


@main.command()
@click.argument("trace_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", "out", type=click.Path(dir_okay=False), default=None,
              help="Save the reordered trace as JSON to FILE.")
@click.option("--json", "as_json", is_flag=True, help="Print the reordered trace as JSON.")
def reduce(trace_file, out, as_json):
    """Reorder a trace to the fewest thread switches; it still violates the same property."""
    from revoke_check.traces.itf import load_trace
    from revoke_check.traces.reduce import reduce_trace, thread_switches
    writable(out, "--output")
    t = load_trace(trace_file)
    r = reduce_trace(t)
    def sw(x):
        n = thread_switches(x)
        return f"{len(x)} steps, {n} thread switch{'' if n == 1 else 'es'}"
    if out:
        r.save(out)
    if as_json:
        click.echo(json.dumps({"before": {"steps": len(t), "thread_switches": thread_switches(t)},
                               "after": {"steps": len(r), "thread_switches": thread_switches(r)},
                               "trace": r.to_json()}, indent=1))
        return
    click.echo(f"{sw(t)} -> {sw(r)}")
    click.echo("")
    click.echo(render_text(r))




@main.command("export")
@click.option("--config", "-c", default="default", show_default=True, help="Named config.")
@click.option("--variant", "-v", default="upstream", show_default=True, help="Variant name or FILE.py:NAME.")
@click.option("--format", "-f", "fmt", type=click.Choice(["promela", "c"]), default="promela",
              show_default=True,
              help="promela: the transition system for SPIN; c: the compiled engine's C source.")
@click.option("--output", "-o", "out", type=click.Path(dir_okay=False), default=None,
              help="Write to FILE (default: stdout).")
def export_model(config, variant, fmt, out):
    """Export the model's transition system (Promela for SPIN, or the compiled engine's C)."""
    from .run import build
    model, checks = build(config, variant, None)
    if fmt == "promela":
        from revoke_check.reports.promela import to_promela
        text = to_promela(model)
    else:
        from revoke_check.engines.compiled import generate_c
        text = generate_c(model, checks)
    if out:
        try:
            with open(out, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            _fail2(f"{out}: {e.strerror}")
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("what", type=click.Choice(["states", "locks", "steps"]))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--config", "-c", default="default", show_default=True, help="Config name or FILE.toml[:NAME].")
@click.option("--variant", "-v", default="upstream", show_default=True, help="Variant name or FILE.py:NAME.")
@click.option("--thread", default=None, help="steps: only this thread's control flow.")
@click.option("--max-states", type=click.IntRange(1), default=200_000, show_default=True,
              help="states: refuse to dump a larger state graph.")
def dump(what, output, config, variant, thread, max_states):
    """Write a graph for review: OUTPUT.dot or OUTPUT.graphml.

    states: the reachable state graph (as TLC's -dump dot); locks: the lock
    dependency graph over every reachable step (as /proc/lockdep); steps:
    each thread's step graph (pc labels and branches).
    """
    from revoke_check.reports.graphs import DumpError, lock_graph, state_graph, step_graph, write_graph
    from .run import build
    model, _ = build(config, variant, ["deadlock-free"])
    try:
        g = {"states": lambda: state_graph(model, max_states), "locks": lambda: lock_graph(model),
             "steps": lambda: step_graph(model, thread)}[what]()
        write_graph(g, output)
    except DumpError as e:
        _fail2(str(e))
    click.echo(f"{what} graph of {model.variant} on {model.config.name}: "
               f"{g.number_of_nodes()} nodes, {g.number_of_edges()} edges -> {output}")


@main.command()
@click.option("--config", "-c", default="default", show_default=True, help="Config name or FILE.toml[:NAME].")
@click.option("--variant", "-v", default="upstream", show_default=True, help="Variant name or FILE.py:NAME.")
@click.option("--property", "-p", "props", multiple=True, help="Check only these (repeatable).")
@click.option("--runs", type=click.IntRange(1), default=100, show_default=True, help="Number of random runs.")
@click.option("--depth", type=click.IntRange(1), default=200, show_default=True, help="Steps per run at most.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the walks (same seed, same walks).")
@click.option("--bfs-states", type=click.IntRange(0), default=200_000, show_default=True,
              help="Shorten a violation by a breadth-first search of at most N states.")
@click.option("--max-seconds", type=click.FloatRange(0, min_open=True), default=None,
              help="Stop after N seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--trace-out", type=click.Path(dir_okay=False), default=None, help="Save the trace as JSON.")
def simulate(config, variant, props, runs, depth, seed, bfs_states, max_seconds, as_json, trace_out):
    """Seeded random walks: hunt for violations in instances too big to exhaust.

    A violation is shown as a trace (shortened by a bounded breadth-first
    search); finding none is 'incomplete' (exit 3), never 'holds'.
    """
    from .run import build
    from revoke_check.engines.simulate import simulate as run_sim
    model, checks = build(config, variant, list(props) or None)
    r = run_sim(model, checks, runs=runs, depth=depth, seed=seed, bfs_states=bfs_states,
                max_seconds=max_seconds)
    from .provenance import provenance
    r.provenance = provenance(model)
    if trace_out and r.trace is not None:
        r.trace.save(trace_out)
    if as_json:
        click.echo(json.dumps(r.to_json(), indent=1))
    else:
        what = {"violated": f"VIOLATED: {r.property}", "incomplete": "no violation found (incomplete)",
                "error": "ERROR"}[r.verdict]
        click.echo(f"{r.variant} on {r.config} [simulate, seed {seed}]: {what} -- "
                   f"{r.distinct_states} runs, {r.transitions} steps, {r.seconds:.2f}s")
        if r.verdict != "violated" and r.message:
            click.echo(f"  {r.message}")
        if r.trace is not None:
            click.echo("")
            click.echo(render_text(r.trace))
    sys.exit(r.exit_code)


@main.command()
@click.option("--kernel-src", required=True, type=click.Path(file_okay=False),
              help="Root of a kernel tree (the files the model cites are read from it).")
@click.option("--variant", "-v", default="upstream", show_default=True, help="Variant name or FILE.py:NAME.")
@click.option("--config", "-c", "configs", multiple=True,
              help="Build on these configs (default: every config of the variant).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def drift(kernel_src, variant, configs, as_json):
    """Compare the model with a kernel tree: cited functions exist, operations in order.

    For every kernel file:function a step cites, parse the C (tree-sitter)
    and check that the lock/unlock calls, moves, resets, list operations and
    labels the model's steps name occur in the function in the model's order.
    Exit 0: no drift; 1: differences (each with file:line).
    """
    from revoke_check.model.variants import get_protocol
    from revoke_check.ci.drift import DriftError, drift as run_drift
    try:
        d = run_drift(kernel_src, get_protocol(variant), list(configs) or None)
    except DriftError as e:
        _fail2(str(e))
    if as_json:
        click.echo(json.dumps({"checked": [{"file": f, "function": fn, "operations": n}
                                           for f, fn, n in d.checked],
                               "findings": [str(x) for x in d.findings]}, indent=1))
    else:
        for x in d.findings:
            click.echo(str(x))
        n_ops = sum(n for _, _, n in d.checked)
        click.echo(f"drift: {len(d.checked)} functions, {n_ops} operations compared; "
                   + ("no drift" if d.ok else f"{len(d.findings)} difference(s)"))
    sys.exit(0 if d.ok else 1)


@main.command("diff")
@click.argument("variant_a")
@click.argument("variant_b")
@click.option("--config", "-c", default="default", show_default=True,
              help="Config name or FILE.toml[:NAME] (both variants must accept it).")
@click.option("--property", "-p", "props", multiple=True, help="Compare only these properties.")
@click.option("--traces", "n_traces", type=click.IntRange(0), default=3, show_default=True,
              help="Show the shortest trace of the first N new and gone outcomes.")
@click.option("--max-states", type=click.IntRange(1), default=None, help="Stop each search after N states.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@protocol_option
def diff_cmd(variant_a, variant_b, config, props, n_traces, max_states, as_json, protocol):
    """What changing VARIANT_A into VARIANT_B does: step outcomes and verdicts.

    Lists the step outcomes (thread, step, branch) that become reachable or
    unreachable, each with a shortest trace, and the properties whose verdict
    changes.  Exit 0 when the two behave alike, 1 when they differ.
    """
    from .diff import diff, render_diff
    d = diff(variant_a, variant_b, config, list(props) or None, max_states=max_states,
             protocol=protocol)
    if as_json:
        click.echo(json.dumps(d.to_json(), indent=1))
    else:
        click.echo(render_diff(d, traces=n_traces))
    sys.exit(1 if (d.new or d.gone or d.changed) else 0)


@main.command()
@click.option("--config", "-c", default="default", show_default=True, help="Named config.")
@click.option("--variant", "-v", default="upstream", show_default=True, callback=_variant_opt,
              help="Variant name or FILE.py:NAME.")
@click.option("--proc", "procs", multiple=True, help="Only these procedures (repeatable).")
@protocol_option
def steps(config, variant, procs, protocol):
    """List each procedure's step labels with kernel source and prose (what variants edit)."""
    from .run import build
    model, _ = build(config, variant, ["deadlock-free"], protocol)
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
