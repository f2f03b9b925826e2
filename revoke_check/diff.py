"""What a change does to the protocol, at step level: ``revoke-check diff A B -c CONFIG``.

Both variants are explored exhaustively on the same config.  A *step
outcome* is (thread, step label, branch): the branch is the choice the kernel
leaves to chance or the note that tells a step's branches apart ("memory
enabled: un-revoke").  The report lists

* the outcomes reachable in B and not in A (new behaviour), each with a
  shortest trace of B that reaches it (breadth-first search: the first time
  an outcome fires, its path is a shortest one);
* the outcomes reachable in A and not in B (behaviour the change removes),
  each with a shortest trace of A;
* every property whose verdict differs, each property checked on its own.

Nothing is pruned: both searches are exhaustive, or the report says which one
stopped at ``max_states`` (and then "not reachable" means "not reached").
"""
from __future__ import annotations

import time
from array import array
from dataclasses import dataclass, field

from revoke_check.model.lang import ModelError

from .engines.explicit import _path
from .replay import trace_from_path
from .semantics import Semantics

__all__ = ["Reach", "reach", "Diff", "diff", "render_diff", "outcome_of"]


def outcome_of(tr) -> tuple[str, str, str]:
    """(thread, label, branch) of a transition."""
    return tr.thread, tr.label, tr.choice or tr.note or ""


@dataclass
class Reach:
    """The reachable graph of one model, as far as a diff needs it."""

    model: object
    sem: Semantics
    states: int = 0
    edges: int = 0
    complete: bool = True
    first: dict = field(default_factory=dict)     # outcome -> transition path (shortest)
    error: str = ""

    @property
    def outcomes(self) -> set:
        return set(self.first)


def reach(model, max_states: int | None = None) -> Reach:
    """Breadth-first over every reachable state; the first firing of each outcome."""
    sem = Semantics(model)
    r = Reach(model, sem)
    keys = [bytes(model.init)]
    seen = {keys[0]: 0}
    parent, via = array("l", [-1]), array("l", [-1])
    outcome = [outcome_of(tr) for tr in model.transitions]
    i = 0
    while i < len(keys):
        s = tuple(keys[i])
        try:
            succ = sem.successors(s)
        except ModelError as e:
            r.error = str(e)
            break
        for ti, n in succ:
            r.edges += 1
            o = outcome[ti]
            if o not in r.first:
                r.first[o] = _path(parent, via, i) + [ti]
            k = bytes(n)
            if k not in seen:
                seen[k] = len(keys)
                keys.append(k)
                parent.append(i)
                via.append(ti)
        i += 1
        if max_states is not None and len(keys) > max_states:
            r.complete = False
            break
    r.states = len(keys)
    return r


@dataclass
class Diff:
    a: str
    b: str
    config: str
    reach_a: Reach
    reach_b: Reach
    new: list            # [(outcome, Trace of B)]
    gone: list           # [(outcome, Trace of A)]
    verdicts: list       # [(property, Result of A or None, Result of B or None)]
    seconds: float = 0.0

    @property
    def changed(self) -> list:
        return [(p, ra, rb) for p, ra, rb in self.verdicts
                if (ra.verdict if ra else None) != (rb.verdict if rb else None)
                or (ra and rb and ra.property != rb.property)]

    def to_json(self) -> dict:
        def res(r):
            return None if r is None else {"verdict": r.verdict, "property": r.property,
                                           "trace_length": len(r.trace) if r.trace else 0}
        return {
            "a": self.a, "b": self.b, "config": self.config,
            "states": [self.reach_a.states, self.reach_b.states],
            "complete": [self.reach_a.complete, self.reach_b.complete],
            "new": [{"thread": o[0], "label": o[1], "branch": o[2], "trace": t.to_json()}
                    for o, t in self.new],
            "gone": [{"thread": o[0], "label": o[1], "branch": o[2], "trace": t.to_json()}
                     for o, t in self.gone],
            "properties": {p: {"a": res(ra), "b": res(rb)} for p, ra, rb in self.verdicts},
        }


def _trace(rch: Reach, path, o) -> object:
    return trace_from_path(rch.sem, path, prop=None, kind="reach",
                           message=f"{o[0]} reaches {o[1]}" + (f" ({o[2]})" if o[2] else ""),
                           engine="explicit")


def diff(a: str, b: str, config: str, properties=None, max_states: int | None = None,
         config_b: str | None = None, protocol: str | None = None) -> Diff:
    """Explore variants ``a`` and ``b`` on ``config`` and compare them at step level."""
    from revoke_check.model.variants import get_protocol
    from revoke_check.properties import compile_checks, get_properties

    from revoke_check.engines.explicit import explore
    t0 = time.monotonic()
    pa, pb = get_protocol(a, protocol=protocol), get_protocol(b, protocol=protocol)
    ma, mb = pa.build(pa.config(config)), pb.build(pb.config(config_b or config))
    ra, rb = reach(ma, max_states), reach(mb, max_states)
    for r in (ra, rb):
        if r.error:
            raise ModelError(r.error)
    new = [(o, _trace(rb, rb.first[o], o)) for o in sorted(rb.outcomes - ra.outcomes,
                                                           key=lambda o: (len(rb.first[o]), o))]
    gone = [(o, _trace(ra, ra.first[o], o)) for o in sorted(ra.outcomes - rb.outcomes,
                                                            key=lambda o: (len(ra.first[o]), o))]
    names = list(dict.fromkeys([*pa.properties, *pb.properties]))
    if properties:
        names = [n for n in names if n in properties]
    verdicts = []
    for n in names:
        out = []
        for p, m in ((pa, ma), (pb, mb)):
            if n not in p.properties:
                out.append(None)
                continue
            out.append(explore(m, compile_checks(m, get_properties([n], p)), max_states=max_states))
        verdicts.append((n, *out))
    return Diff(a, b, config, ra, rb, new, gone, verdicts, time.monotonic() - t0)


def _verdict(r) -> str:
    if r is None:
        return "(not a property here)"
    if r.verdict == "violated":
        return f"VIOLATED ({len(r.trace)} steps)"
    if r.verdict == "error":
        return "error" + (" (a reference count goes below zero; see refcounts)"
                          if "below zero" in r.message else f" ({r.message[:60]})")
    return r.verdict


def _steps(t, indent: str) -> list[str]:
    out = []
    for k, st in enumerate(t.steps, 1):
        branch = st.choice or st.note
        out.append(f"{indent}{k:02d} {st.thread:<22} {st.label.rsplit('/', 1)[-1]}"
                   + (f"  ({branch})" if branch else ""))
    return out


def render_diff(d: Diff, traces: int = 3) -> str:
    """The report, as text that fits a review reply."""
    lines = [f"revoke-check diff: {d.a} -> {d.b} on {d.config}",
             f"  reachable states: {d.reach_a.states} -> {d.reach_b.states}; "
             f"step outcomes: {len(d.reach_a.outcomes)} -> {len(d.reach_b.outcomes)} "
             f"({len(d.new)} new, {len(d.gone)} gone)"]
    for name, r in ((d.a, d.reach_a), (d.b, d.reach_b)):
        if not r.complete:
            lines.append(f"  INCOMPLETE: {name} stopped at {r.states} states; "
                         "'not reachable' below means 'not reached'")
    ch = d.changed
    lines.append("")
    if ch:
        lines.append("properties whose verdict changes:")
        w = max(len(p) for p, _, _ in ch)
        for p, ra, rb in ch:
            lines.append(f"  {p:<{w}}  {_verdict(ra)} -> {_verdict(rb)}")
            for r, who in ((rb, d.b), (ra, d.a)):
                if r is not None and r.verdict == "violated":
                    lines.append(f"    {who}: {r.message}")
    else:
        lines.append("no property changes verdict.")
    same = [p for p, ra, rb in d.verdicts if (p, ra, rb) not in ch]
    if same:
        lines.append(f"same verdict ({len(same)}): {', '.join(same)}")
    for title, items, who in (
            (f"new behaviour: reachable in {d.b}, not in {d.a}", d.new, d.b),
            (f"behaviour gone: reachable in {d.a}, not in {d.b}", d.gone, d.a)):
        lines.append("")
        lines.append(f"{title} ({len(items)}):" if items else f"{title}: none")
        for k, (o, t) in enumerate(items):
            branch = f"  ({o[2]})" if o[2] else ""
            lines.append(f"  [{k + 1}] {o[0]}  {o[1]}{branch}  -- {len(t)} steps in {who}")
            if k < traces:
                lines.extend(_steps(t, "        "))
        if len(items) > traces:
            lines.append(f"  (shortest traces shown for the first {traces}; --traces N shows more)")
    lines.append("")
    lines.append(f"({d.seconds:.2f}s)")
    return "\n".join(lines)
