"""Properties: what must hold, in kernel terms, and witnesses that it is not vacuous.

A :class:`Property` combines any of

* ``invariant(m)``: a state predicate that holds in every reachable state;
* ``events``: step assertions, ``{event kind: fn(m, *args)}``; the assertion
  must hold in the pre-state of every branch that carries the event (e.g. at
  every ``hw_reset`` no importer holds a mapping);
* ``at_end(m)``: holds in every terminal state (every thread finished, no step
  enabled): "nothing leaked once every fd and the device are closed";
* ``deadlock``: no state where no step is enabled while a thread is unfinished;
* ``lock_order``: no cycle among the lock classes a thread holds when it blocks
  on another (lockdep's dependency graph, :mod:`properties.lock_order`);
* ``liveness(m)``: temporal obligations ``[(label, P, Q)]``, each meaning
  "always, P leads to Q" (``[](P -> <>Q)``; "always eventually Q" is
  ``P = TRUE``), checked on the whole reachable graph under a fairness
  assumption (:mod:`revoke_check.engines.liveness`).  A run is infinite; a state
  with no enabled step repeats forever (it stutters).

Each has :class:`Witness` es ("sometimes" goals).  A property whose witnesses
are all unreachable is reported *vacuous*.  :func:`compile_checks` turns a set
of properties into expressions over one :class:`~model.protocol.Model`; both
explorers consume that.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from revoke_check.model.expr import Expr, TRUE, and_, implies, or_

__all__ = ["Property", "Witness", "Checks", "compile_checks", "each",
           "PROPERTIES", "get_properties", "PropertyError"]


class PropertyError(ValueError):
    """Unknown property name."""


@dataclass(frozen=True)
class Witness:
    """A situation the property talks about; reaching it shows the check is not vacuous."""

    name: str
    state: Callable | None = None          # fn(m) -> Expr
    event: tuple | None = None             # (kind, fn(m, *args) -> Expr over the pre-state)
    applies: Callable | None = None        # fn(m) -> bool: does this config have the situation at all
    required: bool = False                 # unreached -> the property is vacuous even if others are reached


@dataclass(frozen=True)
class Property:
    name: str
    doc: str
    invariant: Callable | None = None
    events: dict = field(default_factory=dict)
    at_end: Callable | None = None
    deadlock: bool = False
    lock_order: bool = False               # lockdep-style dependency cycles (explicit engine)
    liveness: Callable | None = None       # fn(m) -> [(label, P Expr, Q Expr)]: [](P -> <>Q)
    witnesses: tuple = ()
    explain: Callable | None = None        # fn(model, shown state) -> str, for messages

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0]


def each(arg, n: int, fn: Callable[[int], Expr]) -> Expr:
    """``fn(arg)`` for a constant index, else the conjunction of ``arg == k -> fn(k)``."""
    if isinstance(arg, int):
        return fn(arg)
    return and_(*[implies(arg == k, fn(k)) for k in range(n)])


def some(arg, n: int, fn: Callable[[int], Expr]) -> Expr:
    """Like :func:`each`, for witnesses: ``arg == k /\\ fn(k)`` for some k."""
    if isinstance(arg, int):
        return fn(arg)
    return or_(*[and_(arg == k, fn(k)) for k in range(n)])


@dataclass
class Checks:
    """Properties compiled against one model.

    ``step_asserts[t]`` lists ``(property, expr)`` for transition ``t``: a
    violation is a state where the transition is enabled and ``expr`` is false.
    ``step_witness[t]`` likewise lists ``(witness id, expr)``.
    """

    properties: list
    invariants: list            # (property name, Expr)
    step_asserts: dict          # transition index -> [(property name, Expr)]
    at_end: list                # (property name, Expr)
    deadlock: list              # property names
    witnesses: list             # (witness id "prop/witness", property name)
    state_witness: list         # (witness id, Expr)
    step_witness: dict          # transition index -> [(witness id, Expr)]
    lock_order: list = field(default_factory=list)   # property names (checked by the explicit engine)
    refcount_checked: set = field(default_factory=set)  # (transition, slot): an underflow is a violation
    required: list = field(default_factory=list)     # witness ids that must be reached (Witness.required)
    liveness: list = field(default_factory=list)     # (property name, label, P, Q): [](P -> <>Q)


def compile_checks(m, props) -> Checks:
    """Instantiate ``props`` for model ``m``."""
    inv, end, dead, wits, swit, req = [], [], [], [], [], []
    asserts: dict[int, list] = {}   # transition index -> [(property name, Expr)]
    twit: dict[int, list] = {}      # transition index -> [(witness id, Expr)]
    rc: set = set()
    for p in props:
        if p.invariant:
            inv.append((p.name, p.invariant(m)))
        if p.at_end:
            end.append((p.name, p.at_end(m)))
        if p.deadlock:
            dead.append(p.name)
        for tr in m.transitions:
            for ev in tr.events:
                fn = p.events.get(ev.kind)
                if fn is not None:
                    e = fn(m, *ev.args)
                    if e is not TRUE:
                        asserts.setdefault(tr.index, []).append((p.name, e))
                    if ev.kind == "refcount_dec":
                        rc.add((tr.index, ev.args[0].slot))
        for w in p.witnesses:
            if w.applies is not None and not w.applies(m):
                continue
            wid = f"{p.name}/{w.name}"
            wits.append((wid, p.name))
            if w.required:
                req.append(wid)
            if w.state:
                swit.append((wid, w.state(m)))
            if w.event:
                kind, fn = w.event
                for tr in m.transitions:
                    for ev in tr.events:
                        if ev.kind == kind:
                            twit.setdefault(tr.index, []).append((wid, fn(m, *ev.args)))
    live = [(p.name, label, P, Q) for p in props if p.liveness for label, P, Q in p.liveness(m)]
    return Checks(list(props), inv, asserts, end, dead, wits, swit, twit,
                  [p.name for p in props if p.lock_order], rc, req, live)


def PROPERTIES(protocol=None) -> dict:
    """Name -> Property of ``protocol`` (default: upstream's catalog)."""
    if protocol is None:
        from revoke_check.model.protocol import upstream
        protocol = upstream()
    return dict(protocol.properties)


def get_properties(names=None, protocol=None) -> list:
    reg = PROPERTIES(protocol)
    if not names:
        return list(reg.values())
    out = []
    for n in names:
        if n not in reg:
            raise PropertyError(f"unknown property {n!r} (known: {', '.join(reg)})")
        out.append(reg[n])
    return out
