"""Precondition coverage: which values a step saw when it fired.

A step that fires proves little if it only ever fired in one situation: the
device close's cleanup that never ran with a live buf, a hot reset that never
met a revoked one.  :func:`preconditions` explores the whole state space of a
(config, variant) (assertions off, as :func:`revoke_check.ci.coverage.coverage`
does) and, for every step outcome (the step keys of ``coverage``), records the
*combinations* of the abstracted values of the variables its guard and updates
read, in the states where it fired.  A value is abstracted per domain: a
boolean or an enum keeps its values, a lock owner is ``none`` or ``held``, and
an integer (a counter) is ``0`` or ``>0``.  The *possible* combinations are the
product of the abstract domains; which of them the kernel can reach is not
known here.

The gate (``[[precondition]]`` targets of ``coverage.toml``) names a step (a
step key or its ``thread label`` prefix, all outcomes merged) and the
variables to look at (``over``); every possible combination must be seen or be
listed under ``[[unseen]]`` with the written reason it cannot happen.  A listed
combination that is seen now, or is not a combination of the target, is stale.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

__all__ = ["Target", "Unseen", "Pre", "Preconditions", "preconditions", "combo_text",
           "parse_combo", "PreVerdict", "judge_preconditions"]


@dataclass
class Target:
    config: str
    variant: str
    step: str                 # a step key, or a prefix of keys ("thread proc:label")
    over: tuple               # variable names


@dataclass
class Unseen:
    config: str
    variant: str
    step: str
    combination: str          # "name=value, name=value" (over the target's variables)
    reason: str


@dataclass
class Pre:
    """One step (or a merged prefix of steps): the variables read and the combinations seen."""
    step: str
    over: tuple
    seen: set = field(default_factory=set)        # tuples of abstract values, in ``over`` order
    possible: list = field(default_factory=list)  # every tuple of the product of abstract domains

    @property
    def unseen(self) -> list:
        return [c for c in self.possible if c not in self.seen]

    def text(self, combo) -> str:
        return combo_text(self.over, combo)


@dataclass
class Preconditions:
    config: str
    variant: str
    steps: list               # Pre, per step key (the report)
    targets: list             # Pre, per target (the gate)
    distinct_states: int
    complete: bool = True
    reason: str = ""


def combo_text(over, combo) -> str:
    return ", ".join(f"{n}={v}" for n, v in zip(over, combo))


def parse_combo(text: str) -> dict:
    out = {}
    for part in text.split(","):
        name, sep, val = part.strip().partition("=")
        if not sep or not name.strip():
            raise ValueError(f"not name=value: {part.strip()!r}")
        out[name.strip()] = val.strip()
    return out


def _abstraction(model):
    """slot -> (abstract values, function from a stored int to its abstract value)."""
    owners = {lk.owner.slot for lk in model.locks}
    out = {}
    for x in model.vars:
        d = x.domain
        if x.slot in owners:
            out[x.slot] = (("none", "held"), lambda v: "none" if v == 0 else "held")
        elif d.kind == "bool":
            out[x.slot] = (("false", "true"), lambda v: "true" if v else "false")
        elif d.kind == "enum":
            out[x.slot] = (tuple(d.names), lambda v, n=d.names: n[v])
        elif d.lo >= 0:
            out[x.slot] = (("0", ">0"), lambda v: "0" if v == 0 else ">0")
        else:
            out[x.slot] = (("<0", "0", ">0"), lambda v: "0" if v == 0 else (">0" if v > 0 else "<0"))
    return out


def _reads(model, trs) -> list:
    """The variables the guards and update expressions of ``trs`` read, pc variables aside."""
    from revoke_check.model.expr import variables
    pcs = {th.pc.slot for th in model.threads}
    slots = set()
    for tr in trs:
        for e in (tr.guard, *tr.updates.values()):
            slots |= {x.slot for x in variables(e)}
    return sorted(slots - pcs)


def _helper_reader(model, name: str, step: str, config: str):
    """``live(buf0)``, ``memory_enabled(dev0)``: a boolean helper of the protocol on one object."""
    from revoke_check.model.expr import to_python
    fn, sep, arg = name.partition("(")
    objs = {o.name: i for i, o in enumerate(model.config.devices)}
    objs.update({o.name: i for i, o in enumerate(model.config.bufs)})
    helper = getattr(model.v, fn, None) if sep and arg.endswith(")") else None
    if helper is None or not callable(helper) or arg[:-1] not in objs:
        raise ValueError(f"precondition {step!r}: no variable or helper {name!r} on {config}")
    f = eval(f"lambda s: bool({to_python(helper(objs[arg[:-1]]))})")   # noqa: S307 (our own expression)
    return ("false", "true"), (lambda s: "true" if f(s) else "false")


def preconditions(config: str = "default", variant: str | None = None, targets=(), *,
                  protocol: str | None = None, max_states: int | None = None) -> Preconditions:
    """Explore ``variant`` on ``config``; per step, the abstract combinations seen when it fired.

    ``targets`` (:class:`Target`) name steps and variables for the gate; an
    unknown variable or a step that matches no step key is a ValueError.
    """
    from revoke_check.ci.coverage import step_key
    from revoke_check.engines.explicit import explore
    from revoke_check.properties import Checks
    from revoke_check.result import INCOMPLETE
    from revoke_check.run import build
    from revoke_check.semantics import Semantics

    model, checks = build(config, variant, None, protocol)
    quiet = Checks(checks.properties, [], {}, [], [], [], [], {})
    states: list = []
    r = explore(model, quiet, max_states=max_states, states_out=states)
    sem = Semantics(model, quiet)
    absn = _abstraction(model)
    names = {x.name: x.slot for x in model.vars}
    groups: dict = {}
    for tr in model.transitions:
        groups.setdefault(step_key(tr.thread, tr.label, tr.choice, tr.note), []).append(tr)

    def pre(key, readers, over):
        return Pre(key, tuple(over), possible=list(itertools.product(*[d for d, _ in readers])))

    def slot_reader(x):
        dom, f = absn[x]
        return dom, (lambda s, x=x, f=f: f(s[x]))

    # per transition: the Pre records it feeds, with the readers of their values
    feeds: dict = {}
    report = []
    for key, trs in groups.items():
        slots = _reads(model, trs)
        rd = [slot_reader(x) for x in slots]
        p = pre(key, rd, [model.vars[x].name for x in slots])
        report.append(p)
        for tr in trs:
            feeds.setdefault(tr.index, []).append((p, rd))
    tpres = []
    for t in targets:
        rd = [slot_reader(names[n]) if n in names else _helper_reader(model, n, t.step, config)
              for n in t.over]
        keys = [k for k in groups if k == t.step or k.startswith(t.step + " ") or k.startswith(t.step + "(")]
        if not keys:
            raise ValueError(f"precondition {t.step!r}: no such step on {config}")
        p = pre(t.step, rd, t.over)
        tpres.append(p)
        for k in keys:
            for tr in groups[k]:
                feeds.setdefault(tr.index, []).append((p, rd))
    for s in states:
        for ti, _ in sem.successors(s):
            for p, rd in feeds.get(ti, ()):
                p.seen.add(tuple(f(s) for _, f in rd))
    return Preconditions(model.config.name, model.variant, report, tpres, r.distinct_states,
                         complete=r.verdict != INCOMPLETE, reason=r.incomplete_reason)


@dataclass
class PreVerdict:
    pre: Preconditions
    unexplained: list          # (Pre, combo): unseen and not listed
    allowed: list              # (Unseen, Pre, combo)
    stale: list                # (Unseen, why)

    @property
    def ok(self) -> bool:
        return self.pre.complete and not (self.unexplained or self.stale)

    def problems(self) -> list[str]:
        head = f"{self.pre.variant}@{self.pre.config}"
        out = [] if self.pre.complete else [f"{head}: precondition coverage incomplete ({self.pre.reason})"]
        out += [f"{head}: {p.step}: never fires with {p.text(c)}" for p, c in self.unexplained]
        out += [f"{head}: stale [[unseen]] entry: {u.step}: {u.combination}: {why}" for u, why in self.stale]
        return out


def judge_preconditions(pre: Preconditions, unseen: list) -> PreVerdict:
    """Every unseen combination of a target is listed in ``unseen``; no listed one is stale."""
    listed = [u for u in unseen if u.config == pre.config and u.variant == pre.variant]
    unexplained, allowed, stale, used = [], [], [], set()
    by_step = {p.step: p for p in pre.targets}
    for p in pre.targets:
        for c in p.unseen:
            want = dict(zip(p.over, c))
            hit = next((u for u in listed if u.step == p.step and parse_combo(u.combination) == want), None)
            if hit is None:
                unexplained.append((p, c))
            else:
                allowed.append((hit, p, c))
                used.add(id(hit))
    for u in listed:
        if id(u) in used:
            continue
        p = by_step.get(u.step)
        if p is None:
            stale.append((u, "no [[precondition]] target names this step"))
            continue
        want = parse_combo(u.combination)
        combo = tuple(want.get(n) for n in p.over)
        if set(want) != set(p.over) or combo not in p.possible:
            stale.append((u, f"not a combination of {', '.join(p.over)}"))
        elif combo in p.seen:
            stale.append((u, "seen now"))
    return PreVerdict(pre, unexplained, allowed, stale)
