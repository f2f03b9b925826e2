"""Vacuity and coverage: which steps of the protocol fire, which witnesses are reached.

A check that holds proves nothing about a step that never fires in the
explored state space, nor about a property whose situations never arise.
:func:`coverage` explores the whole state space of a (config, variant) with
the explicit engine -- with the properties' assertions switched off, so that a
variant that violates a property is still explored to the end; the state
space does not depend on the properties -- and counts

* per *step*: the transitions of one thread at one pc label with the same
  branch choice and note, grouped (a step's key reads
  ``thread label [choice] (note)``, e.g. ``hot_reset
  vfio_pci_dev_set_hot_reset:down_write_trylock [owned]
  (down_write_trylock(dev2) failed: -EBUSY, break)``);
* per witness (``property/witness``): reached or not.

The gate fails on any unfired step or unreached witness that is not on an
allow-list (``coverage.toml``) where each entry carries the written reason
why it cannot happen on that config; it also fails on allow-list entries that
have gone stale (the step fires now, or no longer exists).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from revoke_check.ci.schema import load_checked

__all__ = ["Step", "Coverage", "coverage", "Allow", "AllowList", "load_allow", "CoverageError",
           "COVERAGE_FILE", "step_key", "Verdict", "judge"]

COVERAGE_FILE = Path(__file__).resolve().parent / "coverage.toml"   # a link to the repository's file


class CoverageError(ValueError):
    """The coverage allow-list is missing or malformed."""


def step_key(thread: str, label: str, choice: str | None, note: str) -> str:
    return (f"{thread} {label}" + (f" [{choice}]" if choice else "")
            + (f" ({note})" if note else ""))


@dataclass
class Step:
    key: str
    thread: str
    label: str
    choice: str | None
    note: str
    source: str
    doc: str
    transitions: list = field(default_factory=list)   # transition indices grouped here
    count: int = 0                                     # firings over all explored edges

    @property
    def fired(self) -> bool:
        return self.count > 0


@dataclass
class Coverage:
    config: str
    variant: str
    steps: list                  # Step, in transition order
    witnesses: dict              # witness id -> reached
    distinct_states: int
    transitions: int
    seconds: float
    complete: bool = True
    reason: str = ""             # why it is incomplete

    @property
    def unfired(self) -> list:
        return [s for s in self.steps if not s.fired]

    @property
    def unreached(self) -> list:
        return [w for w, ok in self.witnesses.items() if not ok]

    def to_json(self) -> dict:
        return {
            "config": self.config, "variant": self.variant, "complete": self.complete,
            "reason": self.reason or None, "distinct_states": self.distinct_states,
            "transitions": self.transitions, "seconds": round(self.seconds, 3),
            "steps": [{"step": s.key, "thread": s.thread, "label": s.label, "choice": s.choice,
                       "note": s.note, "source": s.source, "count": s.count} for s in self.steps],
            "unfired": [s.key for s in self.unfired],
            "witnesses": self.witnesses, "unreached": self.unreached,
        }


def coverage(config: str = "default", variant: str | None = None, properties=None, *,
             max_states: int | None = None, max_seconds: float | None = None,
             protocol: str | None = None) -> Coverage:
    """Explore the whole state space of ``variant`` on ``config`` and count what fires."""
    from revoke_check.properties import Checks

    from revoke_check.engines.explicit import explore
    from revoke_check.result import INCOMPLETE
    from revoke_check.run import build

    model, checks = build(config, variant, properties, protocol)
    # witnesses only: no invariant, step assertion, at-end or deadlock check stops the search
    quiet = Checks(checks.properties, [], {}, [], [], checks.witnesses,
                   checks.state_witness, checks.step_witness)
    r = explore(model, quiet, max_states=max_states, max_seconds=max_seconds)
    groups: dict = {}
    for tr in model.transitions:
        k = step_key(tr.thread, tr.label, tr.choice, tr.note)
        st = groups.get(k)
        if st is None:
            st = groups[k] = Step(k, tr.thread, tr.label, tr.choice, tr.note, tr.source, tr.doc)
        st.transitions.append(tr.index)
        st.count += r.coverage[tr.index] if r.coverage else 0
    return Coverage(config=model.config.name, variant=model.variant, steps=list(groups.values()),
                    witnesses=dict(r.witnesses), distinct_states=r.distinct_states,
                    transitions=r.transitions, seconds=r.seconds,
                    complete=r.verdict != INCOMPLETE, reason=r.incomplete_reason)


# --- the allow-list --------------------------------------------------------------

@dataclass
class Allow:
    kind: str            # "unfired" (a step) or "unreached" (a witness)
    what: str            # step key or witness id
    reason: str
    config: str
    variant: str = "upstream"

    def applies(self, config: str, variant: str) -> bool:
        return self.config == config and self.variant == variant


@dataclass
class AllowList:
    entries: list = field(default_factory=list)
    targets: list = field(default_factory=list)    # (config, variant) the gate checks
    path: str = ""
    preconditions: list = field(default_factory=list)   # preconditions.Target
    unseen: list = field(default_factory=list)          # preconditions.Unseen

    def precondition_configs(self) -> list:
        """(config, variant) pairs with precondition targets, in file order."""
        out = []
        for t in self.preconditions:
            if (t.config, t.variant) not in out:
                out.append((t.config, t.variant))
        return out

    def targets_of(self, config: str, variant: str) -> list:
        return [t for t in self.preconditions if (t.config, t.variant) == (config, variant)]

    def for_(self, config: str, variant: str, kind: str) -> dict:
        return {a.what: a for a in self.entries if a.kind == kind and a.applies(config, variant)}


_ENTRY_KEYS = {"unfired": ("step", {"config", "variant", "step", "reason"}),
               "unreached": ("witness", {"config", "variant", "witness", "reason"})}


def load_allow(path=None) -> AllowList:
    """Read ``coverage.toml``: ``[[target]]``, ``[[unfired]]`` and ``[[unreached]]`` entries."""
    path = Path(path or COVERAGE_FILE)
    raw = load_checked(path, "coverage", CoverageError)
    extra = set(raw) - {"target", "unfired", "unreached", "precondition", "unseen"}
    if extra:
        raise CoverageError(f"{path}: unknown table {sorted(extra)[0]!r} "
                            "(known: target, unfired, unreached, precondition, unseen)")
    out = AllowList(path=str(path))
    for i, t in enumerate(raw.get("target", [])):
        if not isinstance(t, dict) or "config" not in t or set(t) - {"config", "variant"}:
            raise CoverageError(f"{path}: target[{i}] needs config (and optionally variant) only")
        out.targets.append((str(t["config"]), str(t.get("variant", "upstream"))))
    for kind, (field_, keys) in _ENTRY_KEYS.items():
        for i, e in enumerate(raw.get(kind, [])):
            if not isinstance(e, dict):
                raise CoverageError(f"{path}: {kind}[{i}] is not a table")
            bad = set(e) - keys
            if bad:
                raise CoverageError(f"{path}: {kind}[{i}]: unknown key {sorted(bad)[0]!r}")
            for need in ("config", field_):
                if not e.get(need):
                    raise CoverageError(f"{path}: {kind}[{i}] needs {need}")
            if not str(e.get("reason", "")).strip():
                raise CoverageError(f"{path}: {kind}[{i}] ({e[field_]}) needs a written reason")
            out.entries.append(Allow(kind, str(e[field_]), str(e["reason"]).strip(),
                                     str(e["config"]), str(e.get("variant", "upstream"))))
    _load_preconditions(path, raw, out)
    return out


def _load_preconditions(path, raw, out):
    """``[[precondition]]`` targets and ``[[unseen]]`` combinations with their reasons."""
    from revoke_check.ci.preconditions import Target, Unseen, parse_combo
    for i, t in enumerate(raw.get("precondition", [])):
        if not isinstance(t, dict) or set(t) - {"config", "variant", "step", "over"}:
            raise CoverageError(f"{path}: precondition[{i}] takes config, variant, step and over only")
        over = t.get("over")
        if not t.get("config") or not t.get("step") or not isinstance(over, list) or not over \
                or not all(isinstance(x, str) and x for x in over):
            raise CoverageError(f"{path}: precondition[{i}] needs config, step and a list over")
        out.preconditions.append(Target(str(t["config"]), str(t.get("variant", "upstream")),
                                        str(t["step"]), tuple(over)))
    for i, e in enumerate(raw.get("unseen", [])):
        if not isinstance(e, dict) or set(e) - {"config", "variant", "step", "combination", "reason"}:
            raise CoverageError(f"{path}: unseen[{i}] takes config, variant, step, combination and reason only")
        for need in ("config", "step", "combination"):
            if not e.get(need):
                raise CoverageError(f"{path}: unseen[{i}] needs {need}")
        if not str(e.get("reason", "")).strip():
            raise CoverageError(f"{path}: unseen[{i}] ({e['step']}: {e['combination']}) needs a written reason")
        try:
            parse_combo(str(e["combination"]))
        except ValueError as err:
            raise CoverageError(f"{path}: unseen[{i}]: combination: {err}") from None
        out.unseen.append(Unseen(str(e["config"]), str(e.get("variant", "upstream")), str(e["step"]),
                                 str(e["combination"]), str(e["reason"]).strip()))


# --- judging a coverage against the allow-list --------------------------------------

@dataclass
class Verdict:
    cov: Coverage
    unfired: list            # Step: unfired and not allowed
    unreached: list          # witness ids: unreached and not allowed
    allowed: list            # (Allow, Step | witness id): unfired/unreached and allowed
    stale: list              # (Allow, why): allowed but fired/reached, or unknown

    @property
    def ok(self) -> bool:
        return self.cov.complete and not (self.unfired or self.unreached or self.stale)

    def problems(self) -> list[str]:
        c = self.cov
        head = f"{c.variant}@{c.config}"
        out = []
        if not c.complete:
            out.append(f"{head}: coverage incomplete ({c.reason}): unfired steps are not meaningful")
        out += [f"{head}: step never fires: {s.key}   [{s.source}]" for s in self.unfired]
        out += [f"{head}: witness never reached: {w}" for w in self.unreached]
        out += [f"{head}: stale allow-list entry: {a.what}: {why}" for a, why in self.stale]
        return out


def judge(cov: Coverage, allow: AllowList | None = None) -> Verdict:
    allow = allow or AllowList()
    steps_ok = allow.for_(cov.config, cov.variant, "unfired")
    wits_ok = allow.for_(cov.config, cov.variant, "unreached")
    by_key = {s.key: s for s in cov.steps}
    unfired, unreached, allowed, stale = [], [], [], []
    for s in cov.unfired:
        (allowed.append((steps_ok[s.key], s)) if s.key in steps_ok else unfired.append(s))
    for w in cov.unreached:
        (allowed.append((wits_ok[w], w)) if w in wits_ok else unreached.append(w))
    if cov.complete:
        for k, a in steps_ok.items():
            if k not in by_key:
                stale.append((a, "no such step in this model"))
            elif by_key[k].fired:
                stale.append((a, f"fires {by_key[k].count} times now"))
        for w, a in wits_ok.items():
            if w not in cov.witnesses:
                stale.append((a, "no such witness"))
            elif cov.witnesses[w]:
                stale.append((a, "reached now"))
    return Verdict(cov, unfired, unreached, allowed, stale)
