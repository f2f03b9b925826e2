"""Lock-order checking, lockdep style, over the explored state space.

Every time a thread *blocks* to acquire a lock (not a trylock) while it holds
others, the pair (held class -> acquired class) is a dependency.  Classes are
the lock variables without their index (``memory_lock``, ``dev_set->lock``,
``resv``), as lockdep keys them.  A cycle in the dependency graph is a possible
deadlock even if the explored instance never runs the two chains at once.

>>> import networkx as nx
>>> g = nx.DiGraph([("memory_lock", "resv"), ("resv", "memory_lock")])
>>> cycle_through(g, "memory_lock", "resv")
['resv', 'memory_lock']
"""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from revoke_check.model.expr import Const

__all__ = ["LockOrder", "lock_class", "cycle_through"]

def lock_class(var_name: str) -> str:
    return var_name.split("[", 1)[0]


def cycle_through(g: nx.DiGraph, held: str, acquired: str) -> list | None:
    """If adding ``held -> acquired`` closes a cycle, the path acquired .. held."""
    if held == acquired:
        return [acquired]
    try:
        return nx.shortest_path(g, acquired, held)
    except (nx.NetworkXNoPath, nx.NodeNotFound):
        return None


@dataclass
class LockOrder:
    """Per-transition acquisition facts, precomputed from the model."""

    model: object
    owner_slots: list = field(default_factory=list)       # (slot, class)
    acquires: dict = field(default_factory=dict)          # transition -> [(class, mode)]
    me: dict = field(default_factory=dict)                # thread -> owner index
    graph: nx.DiGraph = field(default_factory=nx.DiGraph)

    @classmethod
    def of(cls, model) -> "LockOrder":
        lo = cls(model)
        owners = model.v.owners
        lo.me = {t: i for i, t in enumerate(owners)}
        for li in model.locks:   # every declared lock, keyed by its lockdep class
            lo.owner_slots.append((li.owner.slot, li.decl.lock_class))
        lock_slots = {s for s, _ in lo.owner_slots}
        reader_slots = {li.readers.slot: li.decl.lock_class for li in model.locks if li.readers is not None}
        klass = dict(lo.owner_slots)
        for tr in model.transitions:
            me = lo.me.get(tr.thread)
            trylock = "trylock" in tr.local_label
            acq = []
            for slot, e in tr.updates.items():
                if slot in lock_slots and isinstance(e, Const) and e.value == me:
                    acq.append((klass[slot], "try" if trylock else "write"))
                elif slot in reader_slots and "+" in repr(e):
                    acq.append((reader_slots[slot], "read"))
            for ev in tr.events:
                if ev.kind == "locks":
                    acq.append(("chain", tuple(ev.args)))
            if acq:
                lo.acquires[tr.index] = acq
        return lo

    def observe(self, s, ti) -> tuple | None:
        """Record the dependencies of firing ``ti`` in ``s``; a new cycle returns (held, acquired, cycle)."""
        acq = self.acquires.get(ti)
        if not acq:
            return None
        tr = self.model.transitions[ti]
        me = self.me[tr.thread]
        held = {c for slot, c in self.owner_slots if s[slot] == me}
        pairs = []
        for cls_, mode in acq:
            if cls_ == "chain":  # a one-step section: held -> each, and each -> the later ones
                chain = list(mode)
                for k, c in enumerate(chain):
                    pairs += [(h, c) for h in sorted(held)] + [(p, c) for p in chain[:k]]
            elif mode != "try":  # lockdep adds no dependency towards a trylocked lock
                pairs += [(h, cls_) for h in sorted(held)]
        for h, c in pairs:
            if self.graph.has_edge(h, c):
                continue
            cyc = cycle_through(self.graph, h, c)
            self.graph.add_edge(h, c, thread=tr.thread, label=tr.label)
            if cyc is not None:
                return h, c, cyc
        return None

    def details(self, held, acquired, cyc) -> dict:
        """The cycle as data: the new dependency and the existing chain acquired -> ... -> held."""
        e = self.graph.edges[held, acquired]
        chain = [{"from": a, "to": b, "thread": self.graph.edges[a, b]["thread"],
                  "label": self.graph.edges[a, b]["label"]} for a, b in zip(cyc, cyc[1:])]
        return {"held": held, "acquired": acquired, "thread": e["thread"], "label": e["label"],
                "chain": chain}

    def describe(self, held, acquired, cyc) -> str:
        e = self.graph.edges[held, acquired]
        if held == acquired:
            return (f"possible recursive locking: {e['thread']} takes {acquired} at "
                    f"{e['label'].rsplit('/', 1)[-1]} while holding another {held}")
        back = []
        for a, b in zip(cyc, cyc[1:]):
            x = self.graph.edges[a, b]
            back.append(f"{a} -> {b} ({x['thread']} at {x['label'].rsplit('/', 1)[-1]})")
        return (f"possible lock-order inversion: {e['thread']} takes {acquired} while holding "
                f"{held} at {e['label'].rsplit('/', 1)[-1]}, but elsewhere " + ", ".join(back))
