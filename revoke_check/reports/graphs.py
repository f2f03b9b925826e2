"""Graph dumps for review: the reachable state graph, the lock dependency graph, step graphs.

* :func:`state_graph` -- every reachable state and every transition between
  them (like TLC's ``-dump dot``), nodes labelled with the variables that
  differ from the initial state;
* :func:`lock_graph` -- the lockdep-style dependency graph over lock classes
  (like ``/proc/lockdep``), each edge with the thread and step that added it;
* :func:`step_graph` -- each thread's control flow: pc labels and the branches
  between them.

Written as Graphviz dot (no extra package) or GraphML (networkx).
"""
from __future__ import annotations

from pathlib import Path

import networkx as nx

from revoke_check.semantics import Semantics

__all__ = ["state_graph", "lock_graph", "step_graph", "write_graph", "DumpError"]


class DumpError(ValueError):
    """A dump cannot be written (format, size)."""


def state_graph(model, max_states: int = 200_000) -> nx.DiGraph:
    sem = Semantics(model)
    init = model.init
    g = nx.DiGraph(name=f"{model.variant} on {model.config.name}")
    ids = {init: 0}
    todo = [init]
    g.add_node(0, label="initial", initial=True)
    while todo:
        s = todo.pop(0)
        i = ids[s]
        for ti, n in sem.successors(s):
            if n not in ids:
                if len(ids) >= max_states:
                    raise DumpError(f"more than {max_states} states: too many to dump")
                ids[n] = len(ids)
                todo.append(n)
                diff = [f"{x.name}={x.domain.show(n[x.slot])}" for x in model.vars
                        if n[x.slot] != init[x.slot] and not x.name.startswith("pc[")]
                g.add_node(ids[n], label="\n".join(diff) or "initial values")
            tr = model.transitions[ti]
            g.add_edge(i, ids[n], thread=tr.thread, label=f"{tr.thread}: {tr.label.rsplit('/', 1)[-1]}")
    return g


def lock_graph(model) -> nx.DiGraph:
    """The dependency graph the lock-order property builds, over every reachable step."""
    from revoke_check.properties.lock_order import LockOrder
    sem = Semantics(model)
    lo = LockOrder.of(model)
    seen = {model.init}
    todo = [model.init]
    while todo:
        s = todo.pop()
        for ti, n in sem.successors(s):
            lo.observe(s, ti)
            if n not in seen:
                seen.add(n)
                todo.append(n)
    g = nx.DiGraph(name=f"lock dependencies: {model.variant} on {model.config.name}")
    for a, b, d in lo.graph.edges(data=True):
        g.add_edge(a, b, label=f"{d['thread']} at {d['label'].rsplit('/', 1)[-1]}")
    return g


def step_graph(model, thread: str | None = None) -> nx.DiGraph:
    g = nx.DiGraph(name=f"steps: {model.variant} on {model.config.name}")
    for tr in model.transitions:
        if thread and tr.thread != thread:
            continue
        a = f"{tr.thread}:{tr.label}"
        b = f"{tr.thread}:{tr.target}"
        g.add_node(a, label=tr.label.rsplit("/", 1)[-1], thread=tr.thread)
        g.add_node(b, label=tr.target.rsplit("/", 1)[-1], thread=tr.thread)
        g.add_edge(a, b, label=tr.choice or tr.note or "")
    if thread and not g:
        raise DumpError(f"no thread {thread!r} (threads: {', '.join(t.name for t in model.threads)})")
    return g


def _q(x) -> str:
    return '"' + str(x).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(g: nx.DiGraph) -> str:
    out = [f"digraph {_q(g.graph.get('name', 'g'))} {{", "  node [shape=box, fontname=monospace];"]
    for n, d in g.nodes(data=True):
        out.append(f"  {_q(n)} [label={_q(d.get('label', n))}"
                   + (", style=bold" if d.get("initial") else "") + "];")
    for a, b, d in g.edges(data=True):
        out.append(f"  {_q(a)} -> {_q(b)} [label={_q(d.get('label', ''))}];")
    out.append("}")
    return "\n".join(out) + "\n"


def write_graph(g: nx.DiGraph, path) -> None:
    """Write ``g`` as dot (``.dot``/``.gv``) or GraphML (``.graphml``), by the file's suffix."""
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix in (".dot", ".gv"):
            p.write_text(to_dot(g))
        elif suffix == ".graphml":
            nx.write_graphml(g, p)
        else:
            raise DumpError(f"{path}: unknown graph format {suffix or '(none)'} (use .dot or .graphml)")
    except OSError as e:
        raise DumpError(f"{path}: {e.strerror}") from None
