"""``revoke-check gate``: every manifest entry, and the coverage targets, as one CI verdict.

Each ``[[check]]`` entry of the manifest is run (through
:func:`revoke_check.ci.manifest.run_entry`, whatever its engine) and compared with
what it expects (:func:`revoke_check.ci.manifest.compare`): verdict, violated
property, distinct states, trace length.  A known-bug variant that is no longer
caught fails the gate, and so does a state count that drifts.  Then every
coverage target (``[[target]]`` of ``coverage.toml``, and ``--coverage
CONFIG``) is explored to the end and fails on a step that never fires or a
witness never reached that the allow-list does not explain.

The gate prints one line per entry (``ok`` or ``FAIL``), under each failure
the "expected X, got Y" lines (and the trace of an unexpected violation), and
a closing count; :class:`GateOutcome` also feeds the JUnit report.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from revoke_check.traces.render_text import render_text

from revoke_check.ci.coverage import AllowList, CoverageError, Verdict, coverage, judge, load_allow
from revoke_check.ci.manifest import Entry, ManifestError, compare, load_manifest, run_entry

__all__ = ["GateOutcome", "SkippedOutcome", "CoverageOutcome", "PreconditionOutcome", "run_gate", "GateError",
           "resolve_variant"]


class GateError(ValueError):
    """The gate cannot run: bad manifest, allow-list or option."""


@dataclass
class GateOutcome:
    entry: Entry
    result: object                       # Result
    diffs: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.diffs

    def lines(self) -> list[str]:
        r = self.result
        tl = len(r.trace) if r.trace is not None else 0
        what = r.verdict + (f" {r.property}" if r.verdict == "violated" else "")
        head = (f"{'ok  ' if self.ok else 'FAIL'} {self.entry.name}: {what}, "
                f"{r.distinct_states} states, trace {tl}, {r.seconds:.2f}s")
        out = [head] + [f"     {d}" for d in self.diffs]
        if not self.ok and r.verdict == "violated" and r.trace is not None \
                and self.entry.verdict != "violated":
            out += ["", *("     " + x for x in render_text(r.trace).splitlines()), ""]
        elif not self.ok and r.message and r.verdict != "violated":
            out.append(f"     ({r.message})")
        return out


@dataclass
class SkippedOutcome:
    """A ``slow = true`` entry that this gate run leaves out (``gate --slow`` runs it)."""
    entry: Entry
    ok: bool = True

    def lines(self) -> list[str]:
        return [f"skip {self.entry.name}: slow = true (`revoke-check gate --slow` runs it)"]


@dataclass
class CoverageOutcome:
    config: str
    variant: str
    verdict: Verdict

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    @property
    def name(self) -> str:
        return f"coverage {self.variant}@{self.config}"

    def lines(self) -> list[str]:
        c = self.verdict.cov
        fired = sum(1 for s in c.steps if s.fired)
        wits = sum(1 for ok in c.witnesses.values() if ok)
        head = (f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {fired}/{len(c.steps)} steps fire "
                f"({len(self.verdict.allowed)} unfired/unreached explained by the allow-list), "
                f"{wits}/{len(c.witnesses)} witnesses reached, {c.distinct_states} states")
        return [head] + [f"     {p}" for p in self.verdict.problems()]


@dataclass
class PreconditionOutcome:
    config: str
    variant: str
    verdict: object           # preconditions.PreVerdict

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    @property
    def name(self) -> str:
        return f"preconditions {self.variant}@{self.config}"

    def lines(self) -> list[str]:
        v = self.verdict
        seen = sum(len(p.seen & set(p.possible)) for p in v.pre.targets)
        possible = sum(len(p.possible) for p in v.pre.targets)
        head = (f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {len(v.pre.targets)} steps, "
                f"{seen}/{possible} combinations seen ({len(v.allowed)} unseen explained by "
                f"the allow-list), {v.pre.distinct_states} states")
        return [head] + [f"     {p}" for p in v.problems()]


def resolve_variant(variant: str, base: Path | None, suffix: str = ".py") -> str:
    """A relative ``FILE.py[:NAME]`` variant (or ``FILE.toml[:NAME]`` config, with that
    ``suffix``) is taken relative to the manifest's folder."""
    if base is None or not (variant.endswith(suffix) or f"{suffix}:" in variant):
        return variant
    file, sep, name = variant.partition(suffix)
    p = Path(file + suffix)
    if not p.is_absolute() and (base / p).exists():
        return str(base / p) + name
    return variant


def resolve_config(config: str, base: Path | None) -> str:
    return resolve_variant(config, base, ".toml")


def _check_engines(entries):
    from revoke_check.run import ENGINES
    for e in entries:
        if e.engine not in ENGINES:
            raise GateError(f"{e.name}: unknown engine {e.engine!r} (known: {', '.join(ENGINES)})")


def run_gate(manifest=None, *, variant: str | None = None, coverage_configs=(),
             allow=None, use_coverage_file: bool = True, on_outcome=None,
             slow: bool = False) -> list:
    """Run every manifest entry and coverage target; returns the outcomes in order.

    ``variant`` replaces ``upstream`` in every entry and target (check a proposed
    protocol change against the upstream expectations).  ``coverage_configs``
    adds coverage targets (of ``upstream``, or ``variant``).  ``allow`` is the
    allow-list file; by default ``coverage.toml`` beside the manifest, if any.
    ``on_outcome(outcome)`` is called as each one is known (for progress output).
    A ``slow = true`` entry is run only with ``slow``; otherwise it is a
    :class:`SkippedOutcome` (listed, never counted as passed).
    """
    try:
        entries = load_manifest(manifest)
    except ManifestError as e:
        raise GateError(str(e)) from None
    base = Path(manifest).resolve().parent if manifest else None
    _check_engines(entries)
    allow_list = AllowList()
    allow_path = Path(allow) if allow else None
    if allow_path is None and use_coverage_file:
        near = (base or Path(__file__).resolve().parent) / "coverage.toml"
        allow_path = near if near.exists() else None
    if allow_path is not None:
        try:
            allow_list = load_allow(allow_path)
        except CoverageError as e:
            raise GateError(str(e)) from None

    def sub(v: str, protocol: str | None = None) -> str:
        v = resolve_variant(v, base)
        same = (protocol or "vfio-dmabuf") == "vfio-dmabuf"   # --variant is a change of vfio-dmabuf
        return variant if (variant and v == "upstream" and same) else v

    outcomes = []
    for e in entries:
        if e.slow and not slow:
            outcomes.append(SkippedOutcome(e))
            if on_outcome:
                on_outcome(outcomes[-1])
            continue
        e2 = Entry(**{**e.__dict__, "variant": sub(e.variant, e.protocol),
                      "config": resolve_config(e.config, base)})
        r = run_entry(e2)
        o = GateOutcome(e, r, compare(e, r))
        outcomes.append(o)
        if on_outcome:
            on_outcome(o)
    targets = list(allow_list.targets)
    for c in coverage_configs:
        if (c, "upstream") not in targets:
            targets.append((c, "upstream"))
    for config, v in targets:
        cov = coverage(config, sub(v))
        # the allow-list names the variant as written (upstream), not the substitute
        cov.variant = v
        o = CoverageOutcome(config, v, judge(cov, allow_list))
        outcomes.append(o)
        if on_outcome:
            on_outcome(o)
    from revoke_check.ci.preconditions import judge_preconditions, preconditions
    for config, v in allow_list.precondition_configs():
        try:
            pre = preconditions(config, sub(v), allow_list.targets_of(config, v))
        except ValueError as e:
            raise GateError(f"{allow_path}: {e}") from None
        pre.variant = v
        o = PreconditionOutcome(config, v, judge_preconditions(pre, allow_list.unseen))
        outcomes.append(o)
        if on_outcome:
            on_outcome(o)
    return outcomes


def gate_cases(outcomes) -> list:
    """JUnit test cases of the gate: one per manifest entry and coverage target."""
    from revoke_check.reports.junit import Case
    out = []
    for o in outcomes:
        lines = o.lines()
        if isinstance(o, SkippedOutcome):
            out.append(Case("revoke-check gate: manifest", "slow entries", o.entry.name, 0.0,
                            outcome="skipped", message=lines[0], stdout=lines[0]))
            continue
        if isinstance(o, GateOutcome):
            r = o.result
            c = Case("revoke-check gate: manifest", f"{r.variant} on {r.config} [{r.engine}]",
                     o.entry.name, r.seconds, stdout=lines[0])
        elif isinstance(o, PreconditionOutcome):
            c = Case("revoke-check gate: preconditions", f"{o.variant} on {o.config} [explicit]",
                     o.name, 0.0, stdout=lines[0])
        else:
            cov = o.verdict.cov
            c = Case("revoke-check gate: coverage", f"{o.variant} on {o.config} [explicit]",
                     o.name, cov.seconds, stdout=lines[0])
        if not o.ok:
            c.outcome, c.type = "failure", "gate"
            c.message = lines[1].strip() if len(lines) > 1 else lines[0]
            c.text = "\n".join(lines)
        out.append(c)
    return out
