"""Reorder a counterexample to the fewest thread switches.

The explorer returns a *shortest* trace, but breadth-first search
interleaves threads arbitrarily, which is hard to read.  This pass keeps
every thread's own steps in their order and searches the interleavings of
the same steps (a uniform-cost search over "how far each thread has got",
the last thread and the model state) for the one with the fewest thread
switches that still violates the same property; it may stop earlier than
the original if the violation is reached sooner.  Each candidate is
re-executed with :func:`revoke_check.replay.replay` on the same model and
kept only if it replays and violates the same property, so the result is
always a valid counterexample; when nothing better is found the original
trace is returned.
"""
from __future__ import annotations

import heapq
import itertools

from .trace import Trace, TraceError

__all__ = ["reduce_trace", "thread_switches"]


def thread_switches(trace_or_threads) -> int:
    """How often consecutive steps belong to different threads."""
    steps = getattr(trace_or_threads, "steps", trace_or_threads)
    names = [getattr(s, "thread", s) for s in steps]
    return sum(1 for a, b in zip(names, names[1:]) if a != b)


def _semantics(trace: Trace):
    from revoke_check.run import build
    from revoke_check.semantics import Semantics
    from revoke_check.provenance import protocol_of, specs_of
    vspec, cspec = specs_of(trace)
    model, checks = build(cspec, vspec, [trace.property] if trace.property else None,
                          protocol_of(trace))
    return Semantics(model, checks)


def reduce_trace(trace: Trace, sem=None, *, max_nodes: int = 500_000) -> Trace:
    """A trace of the same steps with the fewest thread switches that violates the same property.

    A lasso (``trace.loop`` set) is returned as it is: reordering steps across
    the loop start would not keep the loop closed.

    Parameters
    ----------
    trace
        A counterexample that replays on ``sem`` and violates ``trace.property``.
    sem
        The :class:`~revoke_check.semantics.Semantics` of the trace's config and
        variant, compiled with the trace's property (built when omitted).
    max_nodes
        Give up (returning the original) after expanding this many search nodes.

    Raises
    ------
    TraceError
        When ``trace`` itself does not replay to a violation of its property.
    """
    from revoke_check.replay import replay, trace_from_path, violation_at

    sem = sem or _semantics(trace)
    rr = replay(trace, sem)
    if not rr.ok or not rr.violation or rr.violation[0] != trace.property:
        raise TraceError(f"cannot reduce: the trace does not replay to a violation of "
                         f"{trace.property} ({rr.error or 'no violation'})")
    if trace.loop is not None:
        return trace
    m = sem.model
    path = rr.path
    threads = list(dict.fromkeys(m.transitions[t].thread for t in path))
    seqs = [[t for t in path if m.transitions[t].thread == th] for th in threads]
    best = thread_switches([m.transitions[t].thread for t in path])
    tick = itertools.count()
    start = (tuple(0 for _ in seqs), -1, m.init)
    # entries: (switches, steps, tie, node, fired, violation or None); a goal is
    # accepted when popped, so the first one accepted has the fewest switches
    heap = [(0, 0, next(tick), start, (), None)]
    done = set()
    expanded = 0
    while heap:
        sw, ln, _, node, fired, viol = heapq.heappop(heap)
        if sw > best:
            break
        if viol is not None:
            cand = trace_from_path(sem, list(fired), prop=viol[0], kind=viol[1], message=viol[2],
                                   engine=trace.engine)
            check = replay(cand, sem)
            if check.ok and check.violation and check.violation[0] == trace.property:
                better = (thread_switches(cand), len(cand)) < (thread_switches(trace), len(trace))
                return cand if better else trace
            continue
        if node in done:
            continue
        done.add(node)
        expanded += 1
        if expanded > max_nodes:
            break
        pos, last, s = node
        for i, seq in enumerate(seqs):
            if pos[i] >= len(seq):
                continue
            ti = seq[pos[i]]
            n = sem.enabled(s, ti)
            if n is None:
                continue
            cost = sw + (1 if last not in (-1, i) else 0)
            if cost > best:
                continue
            here = fired + (ti,)
            v = violation_at(sem, s, fire=ti) or violation_at(sem, n)
            npos = pos[:i] + (pos[i] + 1,) + pos[i + 1:]
            nxt = (npos, i, n)
            if v and v[0] == trace.property:
                heapq.heappush(heap, (cost, ln + 1, next(tick), nxt, here, v))
            elif nxt not in done:
                heapq.heappush(heap, (cost, ln + 1, next(tick), nxt, here, None))
    return trace
