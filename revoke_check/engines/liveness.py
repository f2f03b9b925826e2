"""Liveness on the reachable graph: fair cycles and lasso counterexamples.

A liveness obligation is ``[](P -> <>Q)`` ("always, P leads to Q";
"always eventually Q" is ``P = TRUE``).  Runs are infinite: a state with no
enabled step repeats forever (it *stutters*, as SPIN's end states and TLC's
terminal states do); no other stuttering is allowed, so a run never just stops
in the middle of a thread.

The obligation is violated iff some reachable state satisfies ``P /\\ ~Q`` and
from it a *fair* infinite run stays in ``~Q`` forever.  Such a run ends in a
strongly connected component of the subgraph induced by the ``~Q`` states
(the "bad" subgraph) that contains a fair cycle, or in a terminal state of
the whole graph inside ``~Q`` (its stutter loop is fair under every fairness:
no step is enabled there).

Fairness is a list of *units*, each a set of transitions (every step of one
thread, or the steps of one thread that take one lock class), each weak or
strong (TLC's WF/SF):

* weak: a unit enabled in every state of the cycle takes a step in it;
* strong: a unit enabled in some state of the cycle takes a step in it.

Enabledness is read on the whole graph (a step that would leave ``~Q``
still counts as enabled).  An SCC ``C`` of the bad subgraph holds a fair
cycle iff (Emerson-Lei / Streett):

* every weak unit is taken on an edge inside ``C`` or is disabled in some
  state of ``C`` -- then one cycle through all those edges and states is fair,
  and if a weak unit is enabled in every state of ``C`` and never taken
  inside it, no cycle inside ``C`` is fair (no pruning can help);
* every strong unit is taken inside ``C`` or never enabled in ``C``;
  otherwise its enabling states are removed and the SCCs of the rest are
  examined again (a fair cycle cannot pass through them without taking the
  unit, which it cannot do inside ``C``).

Both are exact (no fair cycle is lost, none is invented), so the check is
sound and complete for the finite reachable graph.  The counterexample is a
lasso: a shortest stem (breadth-first over (state, triggered?)) from the
initial state through a ``P /\\ ~Q`` state to the first state of a fair core
it reaches, then a loop inside the core through one witness of each unit
(an edge of the unit, or a state where it is disabled) and back.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import networkx as nx

from revoke_check.model.expr import variables

__all__ = ["Fairness", "FairnessError", "Unit", "units", "check_liveness", "Lasso", "LOCK_CLASSES"]

LOCK_CLASSES = {"memory_lock": ("memory_lock", "memory_lock_readers"), "resv": ("resv",),
                "dev_set->lock": ("dev_set->lock",)}
KINDS = ("weak", "strong", "none")


class FairnessError(ValueError):
    """A fairness option names no thread or lock class of the model."""


@dataclass(frozen=True)
class Fairness:
    """``default`` for every thread; ``strong`` names threads or lock classes made strongly fair."""

    default: str = "weak"
    strong: tuple = ()

    def __post_init__(self):
        if self.default not in KINDS:
            raise FairnessError(f"unknown fairness {self.default!r} (known: {', '.join(KINDS)})")

    def describe(self) -> str:
        s = self.default
        return s + (f" (strong: {', '.join(self.strong)})" if self.strong else "")


@dataclass(frozen=True)
class Unit:
    name: str
    kind: str                # weak | strong
    trans: frozenset


def _lock_steps(model, th, cls) -> frozenset:
    """The steps of thread ``th`` whose guard waits on a lock of class ``cls``."""
    bases = LOCK_CLASSES[cls]
    out = set()
    for tr in model.transitions:
        if tr.thread != th:
            continue
        if any(x.name.split("[")[0] in bases for x in variables(tr.guard)):
            out.add(tr.index)
    return frozenset(out)


def units(model, fairness: Fairness) -> list[Unit]:
    names = [t.name for t in model.threads]
    for n in fairness.strong:
        if n not in names and n not in LOCK_CLASSES:
            raise FairnessError(f"--strong-fair {n!r}: no such thread or lock class "
                                f"(threads: {', '.join(names)}; locks: {', '.join(LOCK_CLASSES)})")
    out = []
    for t in model.threads:
        trs = frozenset(tr.index for tr in model.transitions if tr.thread == t.name)
        if t.name in fairness.strong:
            out.append(Unit(t.name, "strong", trs))
        elif fairness.default != "none":
            out.append(Unit(t.name, fairness.default, trs))
    for cls in fairness.strong:
        if cls in LOCK_CLASSES:
            for t in model.threads:
                trs = _lock_steps(model, t.name, cls)
                if trs:
                    out.append(Unit(f"{t.name} taking {cls}", "strong", trs))
    return out


@dataclass
class Lasso:
    prop: str
    label: str
    stem: list               # transition indices from the initial state
    loop: list               # transition indices; empty: the last state stutters
    states: list = field(default_factory=list)   # state ids along stem+loop (len+1)


class Graph:
    """The reachable graph: ``keys[i]`` the state bytes, ``succ[i]`` [(transition, j)]."""

    def __init__(self, keys, succ):
        self.keys, self.succ = keys, succ

    def state(self, i):
        return tuple(self.keys[i])


def _enabled_units(g, us) -> list:
    """Per state, the set of unit indices with an enabled step there."""
    out = []
    for i in range(len(g.keys)):
        ts = {ti for ti, _ in g.succ[i]}
        out.append(frozenset(u for u, unit in enumerate(us) if unit.trans & ts))
    return out


def _fair_cores(g, bad: set, us, en) -> list:
    """[(core states, witness list)] of the fair SCCs of the subgraph on ``bad``."""
    cores = []
    for i in bad:                     # terminal states stutter forever: fair
        if not g.succ[i]:
            cores.append(({i}, []))

    def examine(C: set):
        dg = nx.DiGraph()
        dg.add_nodes_from(C)
        for i in C:
            for ti, j in g.succ[i]:
                if j in C:
                    dg.add_edge(i, j)
        for scc in nx.strongly_connected_components(dg):
            scc = set(scc)
            if len(scc) == 1:
                (i,) = scc
                if not dg.has_edge(i, i):
                    continue
            edges = [(i, ti, j) for i in scc for ti, j in g.succ[i] if j in scc]
            taken = {}
            for e in edges:
                for u, unit in enumerate(us):
                    if e[1] in unit.trans and u not in taken:
                        taken[u] = e
            wits, prune, ok = [], set(), True
            for u, unit in enumerate(us):
                if u in taken:
                    wits.append(("edge", taken[u]))
                    continue
                enabled_at = {i for i in scc if u in en[i]}
                if unit.kind == "weak":
                    off = scc - enabled_at
                    if not off:
                        ok = False
                        break
                    wits.append(("state", min(off)))
                elif enabled_at:
                    prune |= enabled_at
            if not ok:
                continue
            if prune:
                examine(scc - prune)
                continue
            cores.append((scc, wits))

    examine(set(bad))
    return cores


def _bfs_path(g, src: int, dst_ok, allowed: set) -> list | None:
    """Shortest [(ti, j)] from ``src`` to a state with ``dst_ok`` inside ``allowed``."""
    if dst_ok(src):
        return []
    par = {src: None}
    q = deque([src])
    while q:
        i = q.popleft()
        for ti, j in g.succ[i]:
            if j in allowed and j not in par:
                par[j] = (i, ti)
                if dst_ok(j):
                    out = []
                    while par[j] is not None:
                        i2, t2 = par[j]
                        out.append((t2, j))
                        j = i2
                    return out[::-1]
                q.append(j)
    return None


def _loop(g, core: set, start: int, wits) -> list:
    """A cycle from ``start`` inside ``core`` through every witness; [(ti, j)]."""
    path, cur = [], start
    for kind, w in wits:
        if kind == "state":
            seg = _bfs_path(g, cur, lambda j, w=w: j == w, core)
            path += seg
            cur = w
        else:
            i, ti, j = w
            path += _bfs_path(g, cur, lambda x, i=i: x == i, core)
            path.append((ti, j))
            cur = j
    # close the loop (at least one step: a cycle, not a stutter)
    if cur == start and path:
        return path
    best = None
    for ti, j in g.succ[cur]:
        if j in core:
            seg = [(ti, j)] + (_bfs_path(g, j, lambda x: x == start, core) or [])
            if seg[-1][1] == start and (best is None or len(seg) < len(best)):
                best = seg
    return path + best


def check_liveness(model, sem, g: Graph, obligations, fairness: Fairness):
    """The first violated obligation as a :class:`Lasso`, or None.

    ``obligations``: ``[(property, label, P, Q)]`` with P, Q expressions.
    """
    us = units(model, fairness)
    en = _enabled_units(g, us)
    n = len(g.keys)
    states = [g.state(i) for i in range(n)]
    for prop, label, P, Q in obligations:
        pf, qf = sem._fn(P), sem._fn(Q)
        bad = {i for i in range(n) if not qf(states[i])}
        if not bad:
            continue
        trig = {i for i in bad if pf(states[i])}
        if not trig:
            continue
        cores = _fair_cores(g, bad, us, en)
        if not cores:
            continue
        core_of = {}
        for c, (core, _) in enumerate(cores):
            for i in core:
                core_of.setdefault(i, c)
        # shortest stem over (state, triggered): untriggered may go anywhere,
        # triggered stays in bad; a P /\ ~Q state may (not must) trigger;
        # goal: a triggered state in a fair core
        start = (0, False)
        par = {start: None}
        q = deque([start])
        if 0 in trig:
            par[(0, True)] = None
            q.appendleft((0, True))
        goal = None
        while q:
            node = q.popleft()
            i, t = node
            if t and i in core_of:
                goal = node
                break
            for ti, j in g.succ[i]:
                if t and j not in bad:
                    continue
                for nxt in ((j, True),) if t else ((j, True), (j, False)) if j in trig else ((j, False),):
                    if nxt not in par:
                        par[nxt] = (node, ti)
                        q.append(nxt)
        if goal is None:
            continue
        stem, node = [], goal
        while par[node] is not None:
            prev, ti = par[node]
            stem.append(ti)
            node = prev
        stem.reverse()
        x = goal[0]
        core, wits = cores[core_of[x]]
        # a terminal state is its own core and stutters; otherwise the core is a cyclic SCC
        loop = [ti for ti, _ in _loop(g, core, x, wits)] if g.succ[x] else []
        return Lasso(prop, label, stem, loop)
    return None


def _held_locks(model, states: list) -> list[str]:
    """Locks held by the same owner in every state of ``states`` ("memory_lock[dev0] by X")."""
    v = model.v
    out = []
    for x in model.vars:
        base = x.name.split("[")[0]
        if x.domain.names != v.owners:
            continue
        vals = {s[x.slot] for s in states}
        if len(vals) == 1 and (val := vals.pop()) != 0:
            out.append(f"{x.name} held by {v.owners[val]}")
        elif base == "memory_lock":
            pass
    for x in model.vars:
        if x.name.startswith("memory_lock_readers["):
            vals = {s[x.slot] for s in states}
            if len(vals) == 1 and vals.pop():
                out.append(f"{x.name.replace('_readers', '')} held for read")
    return out


def describe_lasso(sem, lasso: Lasso, fairness: Fairness, engine: str):
    """The lasso as a :class:`~traces.trace.Trace` with ``loop`` set, and a message in kernel words."""
    from revoke_check.replay import trace_from_path
    m = sem.model
    path = lasso.stem + lasso.loop
    # the states along the loop (including its first)
    s = m.init
    seq = [s]
    for ti in path:
        s = sem.enabled(s, ti)
        seq.append(s)
    loop_states = seq[len(lasso.stem):]
    moving = sorted({m.transitions[ti].thread for ti in lasso.loop})
    stuck = [th.name for th in m.threads
             if th.name not in moving and loop_states[0][th.pc.slot] not in th.finals]
    where = []
    for n in stuck:
        th = m.thread(n)
        lbl = th.pc.domain.names[loop_states[0][th.pc.slot]].rsplit("/", 1)[-1]
        where.append(f"{n} at {lbl}")
    held = _held_locks(m, loop_states)
    if lasso.loop:
        how = (f"then steps {len(lasso.stem) + 1}..{len(path)} repeat forever "
               f"(threads running: {', '.join(moving)})")
    else:
        how = f"then the state after step {len(path)} repeats forever (no step is enabled)"
    msg = f"{lasso.prop} violated ({lasso.label}) under {fairness.describe()} fairness: {how}"
    if where:
        msg += "; never progressing: " + ", ".join(where)
    if held:
        msg += "; held throughout: " + ", ".join(held)
    t = trace_from_path(sem, path, prop=lasso.prop, kind="liveness", message=msg, engine=engine)
    t.loop = len(lasso.stem)
    if fairness != Fairness():
        t.fairness = {"default": fairness.default, "strong": list(fairness.strong)}
    return t


def lasso_violation(sem, states: list, path: list, loop: int, fairness: Fairness | None = None):
    """Does the lasso ``states`` (``len(path) + 1`` states; ``states[loop:]`` repeat) violate
    a liveness obligation of ``sem.checks`` under ``fairness``?  (property, "liveness", msg) or None.

    The loop must be fair: every weak unit takes a step in it or is disabled
    in one of its states, every strong unit takes a step in it or is never
    enabled in it; a stutter loop (``loop == len(path)``) needs a state where
    no step is enabled.  Then an obligation ``[](P -> <>Q)`` is violated when
    some position ``k`` has ``P /\\ ~Q`` and ``~Q`` holds from ``k`` on.
    """
    fairness = fairness or Fairness()
    m = sem.model
    cyc = states[loop:]
    if loop == len(path):
        if not sem.stuck(states[-1]):
            return None
    else:
        taken = set(path[loop:])
        for u in units(m, fairness):
            if u.trans & taken:
                continue
            en = [bool(u.trans & {ti for ti, _ in sem.successors(s)}) for s in cyc[:-1]]
            if (u.kind == "weak" and all(en)) or (u.kind == "strong" and any(en)):
                return None
    for prop, label, P, Q in sem.checks.liveness:
        pf, qf = sem._fn(P), sem._fn(Q)
        if any(qf(s) for s in cyc):
            continue
        k = len(states) - 1
        while k > 0 and not qf(states[k - 1]):
            k -= 1
        if any(pf(s) for s in states[k:]):
            return prop, "liveness", f"{prop} violated ({label}): a fair loop where it never holds"
    return None
