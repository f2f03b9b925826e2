"""Partial-order reduction for the breadth-first explorers: ample sets from footprints.

The footprints are those of the z3 engines' reduction
(:func:`revoke_check.engines.symbolic._footprint`: the slots a transition reads,
counting its guard, its updates and every check attached to it -- step
assertions and step witnesses), with two conservative changes: a counter
increment counts as a read and a write (two increments of one counter are
dependent here, so a domain overflow is never moved), and a transition that
takes a lock reads every lock owner slot when lock-order is checked (lockdep's
"held" set).  Two transitions of different threads are independent when
neither writes a slot the other reads or writes.

In a state ``s`` the search expands, instead of every enabled transition, the
enabled part ``A`` of a stubborn set ``S`` (Valmari), grown from the transitions
at one thread's pc (:meth:`Por.stubborn`):

* D1: for an enabled ``t`` in ``S``, every transition of another thread that
  depends on ``t`` and that its thread can still take (control-flow reachable
  from its current pc) is in ``S``, and so are the other transitions of ``t``'s
  thread at its pc (they share the pc);
* D2: for a disabled ``u`` in ``S``, a necessary enabling set is in ``S``: if
  ``u``'s thread is at ``u``'s pc, the other threads' transitions that write a
  slot ``u``'s guard reads plus its own transitions there (it may leave and
  come back); else its transitions at its current pc from whose target ``u``'s
  pc is reachable (it must move first);
* C0: ``A`` is not empty (the seed thread has an enabled transition);
* C1 (persistence) follows from D1 and D2: no path from ``s`` outside ``S``
  enables a transition of ``S`` or touches what an enabled one reads or writes;
* C2 (visibility): no transition in ``A`` is visible: none can change the value
  of an invariant or of a state witness (proved by z3 per transition, over all
  states within the domains: ``en_u(s) => e(s) = e(u(s))``);
* C3 (cycle proviso, breadth-first form): every successor by ``A`` is a state
  not seen before.  Every cycle of the reduced graph closes on a state seen
  before, so every cycle has a fully expanded state.

If no seed gives such an ``A`` smaller than the enabled set, ``s`` is fully
expanded.  Why this is sound, per kind of check
(``w = t1..tn`` a path of the full graph from ``s``; at ``s`` either some ``ti``
is in ``A`` -- the first such commutes to the front (C1), leaving a shorter
word -- or every ``a`` in ``A`` is independent of all of ``w``, so ``w`` is
still executable after ``a``, reads the same values in every footprint, and
``a`` is invisible (C2); C3 forbids the second case forever, since an endless
walk closes a cycle whose fully expanded state enables ``t1``):

* step assertions, step witnesses, domain overflows and reference-count
  underflows, lock-order edges (lock-order is neither made visible nor left
  out of POR: a lockdep edge is ``held classes -> acquired class`` at a
  lock-taking step, and the held classes are the lock owner slots, which are
  in that step's footprint): each is a function of the transition and the
  values in its footprint; the last step of ``w`` fires from a reduced state
  with the same footprint values, so the same violation, witness or lockdep
  edge (held classes, acquired class) appears.  The reduced search also checks
  these for *every* enabled transition of an expanded state, not only ``A``;
* invariants and state witnesses: the state after ``w`` is reached up to
  invisible transitions, which change no invariant or witness value;
* deadlock and at-end: for a terminal end state the second case cannot occur
  (``a`` would still be enabled there), so the very same terminal state is
  reached;
* vacuity: witnesses as above; coverage counts differ (reported as such);
* liveness: not preserved by this (no fairness-aware proviso): the explorers
  refuse ``--por`` for liveness properties and say so.

A reduced search does not keep shortest paths: the explorer re-runs a search
without POR bounded to the depth of the violation found, which reports a
shortest one (every reduced state is reachable, so the unreduced search finds
a violation no deeper).
"""
from __future__ import annotations

import z3

from revoke_check.model.expr import Const, Op, to_python, variables
from revoke_check.engines.symbolic import _as_bool, _as_num, _footprint, expr_to_z3, make_encoding

__all__ = ["Por"]


def footprints(model, checks, attached: bool = True):
    """[(reads, writes)] per transition, as used for independence here.  ``attached=False``
    leaves out the reads of the step assertions and witnesses: unsound, for the tests only."""
    owners = set()
    acq = set()
    if checks.lock_order:
        from revoke_check.properties.lock_order import LockOrder
        lo = LockOrder.of(model)
        owners = {x for x, _ in lo.owner_slots}
        acq = set(lo.acquires)
    out = []
    for tr in model.transitions:
        r, w, c = _footprint(tr, checks if attached else None)
        r, w = r | c, w | c
        if tr.index in acq:
            r = r | owners
        out.append((frozenset(r), frozenset(w)))
    return out


def _conjuncts(e, out):
    if isinstance(e, Op) and e.op == "and":
        for a in e.args:
            _conjuncts(a, out)
    else:
        out.append(e)
    return out


_VISIBLE_MEMO: dict = {}


def visible_transitions(model, checks) -> set:
    """Transitions that may change the value of an invariant or a state witness.

    Per conjunct of each (a conjunction changes only if a conjunct does), and only
    for the conjuncts that read a slot the transition writes: z3 looks for a state
    within the domains where the transition is enabled, its successor is within the
    domains, and the conjunct's value differs.  Results are memoised per
    (transition, conjunct) text, which variants of one config share."""
    obs: dict = {}
    for _, e in list(checks.invariants) + list(checks.state_witness):
        for x in _conjuncts(e, []):
            obs.setdefault(to_python(x), x)
    if not obs:
        return set()
    obs = list(obs.items())
    reads = [{v.slot for v in variables(e)} for _, e in obs]
    doms = tuple((v.domain.lo, v.domain.hi) for v in model.vars)
    enc = solver = s = None
    cache: dict = {}
    out = set()
    for tr in model.transitions:
        w = set(tr.updates)
        es = [(txt, e) for (txt, e), r in zip(obs, reads) if r & w]
        if not es:
            continue
        key0 = (doms, tr.pc_slot, tr.pc_value, to_python(tr.guard),
                tuple(sorted((i, to_python(u)) for i, u in tr.updates.items())))
        todo = []
        for txt, e in es:
            hit = _VISIBLE_MEMO.get((key0, txt))
            if hit is None:
                todo.append((txt, e))
            elif hit:
                out.add(tr.index)
                break
        else:
            if not todo:
                continue
            if enc is None:
                enc = make_encoding(model, checks, "int")
                s = [enc.num(f"s{v.slot}") for v in model.vars]
                solver = z3.Solver()
                for v, x in zip(model.vars, s):
                    solver.add(enc.val(v.domain.lo) <= x, x <= enc.val(v.domain.hi))
            t = list(s)
            for i, u in tr.updates.items():
                t[i] = _as_num(enc, expr_to_z3(enc, u, s, cache))
            en = z3.And(s[tr.pc_slot] == enc.val(tr.pc_value), _as_bool(expr_to_z3(enc, tr.guard, s, cache)))
            dom = [z3.And(enc.val(model.vars[i].domain.lo) <= t[i], t[i] <= enc.val(model.vars[i].domain.hi))
                   for i in tr.updates]
            solver.push()
            solver.add(en, *dom)
            sub = [(s[i], t[i]) for i in tr.updates]
            for txt, e in todo:
                es_ = _as_bool(expr_to_z3(enc, e, s, cache))
                ch = es_ != z3.substitute(es_, *sub)
                solver.push()
                solver.add(ch)
                vis = solver.check() != z3.unsat
                solver.pop()
                _VISIBLE_MEMO[(key0, txt)] = vis
                if vis:
                    out.add(tr.index)
                    break
            solver.pop()
    return out


class Por:
    """Precomputed ample-set data for one model and its checks."""

    def __init__(self, model, checks, *, naive: str = ""):
        """``naive``: "visibility" (no C2) or "attached" (footprints without the step
        assertions' reads) -- the unsound reductions the tests show missing violations."""
        self.model = model
        fp = footprints(model, checks, attached=naive != "attached")
        n = len(model.transitions)
        self.visible = set() if naive == "visibility" else visible_transitions(model, checks)
        self.vis_mask = sum(1 << t for t in self.visible)
        tidx = {th.name: k for k, th in enumerate(model.threads)}
        self.thread_of = [tidx[tr.thread] for tr in model.transitions]
        self.pc_slots = [th.pc.slot for th in model.threads]
        at: dict = {}
        for tr in model.transitions:
            at.setdefault((self.thread_of[tr.index], tr.pc_value), []).append(tr.index)
        self.at = at
        # dep[t]: transitions of other threads dependent on t; enablers[t]: transitions of
        # other threads that write a slot t's guard reads (they may enable it)
        self.dep, self.enablers = [], []
        readers: dict = {}
        writers: dict = {}
        for t, (r, w) in enumerate(fp):
            for x in r:
                readers[x] = readers.get(x, 0) | (1 << t)
            for x in w:
                writers[x] = writers.get(x, 0) | (1 << t)
        own = {}
        for t in range(n):
            own[self.thread_of[t]] = own.get(self.thread_of[t], 0) | (1 << t)
        for t, tr in enumerate(model.transitions):
            rt, wt = fp[t]
            dm = em = 0
            for x in wt:      # u reads or writes what t writes
                dm |= readers.get(x, 0) | writers.get(x, 0)
            for x in rt:      # u writes what t reads
                dm |= writers.get(x, 0)
            for v in variables(tr.guard):
                em |= writers.get(v.slot, 0)
            mine = own[self.thread_of[t]]
            self.dep.append(dm & ~mine)
            self.enablers.append(em & ~mine)
        self.at_mask = {kv: sum(1 << t for t in tis) for kv, tis in at.items()}
        self.nthreads = len(model.threads)
        # control flow: pc values a thread can still reach from pc v (v included), the
        # transitions it can still take from there, and each transition's target pc values
        self.pc_reach, self.live = [], []
        self.target = [None] * n
        for k, th in enumerate(model.threads):
            succ: dict = {}
            for tr in model.transitions:
                if self.thread_of[tr.index] != k:
                    continue
                tgt = tr.updates.get(tr.pc_slot)
                nxt = {tgt.value} if isinstance(tgt, Const) else \
                    set(range(th.pc.domain.lo, th.pc.domain.hi + 1))
                self.target[tr.index] = nxt
                succ.setdefault(tr.pc_value, set()).update(nxt)
            reach, live = {}, {}
            for v in range(th.pc.domain.lo, th.pc.domain.hi + 1):
                seen, todo = {v}, [v]
                while todo:
                    x = todo.pop()
                    for y in succ.get(x, ()):
                        if y not in seen:
                            seen.add(y)
                            todo.append(y)
                reach[v] = seen
                live[v] = sum(self.at_mask.get((k, x), 0) for x in seen)
            self.pc_reach.append(reach)
            self.live.append(live)
        self.n = n
        self._memo: dict = {}

    def stubborn(self, s, seed: int, enabled: int) -> int:
        """The stubborn closure (D1, D2) of the transitions at thread ``seed``'s pc, as a mask.

        Only transitions a thread can still take (control-flow reachable from its pc) are
        added: the others never fire from ``s`` on, so they cannot interfere.  For a
        disabled transition ``u`` of a thread elsewhere, the necessary enabling set is the
        thread's transitions at its pc from whose target ``u``'s pc is reachable."""
        pcs = [s[x] for x in self.pc_slots]
        here = [self.at_mask.get((k, pcs[k]), 0) for k in range(self.nthreads)]
        live = 0
        for k in range(self.nthreads):
            live |= self.live[k].get(pcs[k], 0)
        trs = self.model.transitions
        S = here[seed]
        todo = S
        while todo:
            t = (todo & -todo).bit_length() - 1
            todo &= todo - 1
            if (enabled >> t) & 1:
                # D1: whatever may interfere with t before it runs, including the other steps
                # of its own thread at this pc (they share the pc: each disables the other)
                add = (self.dep[t] & live) | here[self.thread_of[t]]
            else:
                k = self.thread_of[t]
                v = trs[t].pc_value
                if pcs[k] == v:              # D2: a write of another thread enables it, or its
                    add = (self.enablers[t] & live) | here[k]    # thread leaves v (and comes back)
                else:                        # D2: its thread must first move towards v
                    add = 0
                    h = here[k]
                    while h:
                        w = (h & -h).bit_length() - 1
                        h &= h - 1
                        if any(v in self.pc_reach[k][y] for y in self.target[w]):
                            add |= 1 << w
            new = add & ~S
            S |= new
            todo |= new
        return S

    def ample(self, s, succ, is_new):
        """The entries of ``succ`` ([(ti, next)]) to expand in ``s``; ``is_new(next)``
        says a successor has not been seen (C3)."""
        enabled = 0
        for ti, _ in succ:
            enabled |= 1 << ti
        threads = sorted({self.thread_of[ti] for ti, _ in succ})
        if len(threads) <= 1:
            return succ
        pcs = tuple(s[x] for x in self.pc_slots)
        key = (pcs, enabled)
        cands = self._memo.get(key)
        if cands is None:     # the closures depend on the pcs and the enabled set only
            cands = []
            for k in threads:
                mine = enabled & self.at_mask.get((k, pcs[k]), 0)
                if mine & self.vis_mask:                       # C2 (a partial set is invisible)
                    continue
                S = self.stubborn(s, k, enabled) & enabled
                if S != enabled and not (S & self.vis_mask):   # C2 for the whole set
                    cands.append(S)
            cands.sort(key=lambda m: bin(m).count("1"))
            if len(self._memo) < 1_000_000:
                self._memo[key] = cands
        for S in cands:
            es = [e for e in succ if (S >> e[0]) & 1]
            if all(n is not None and is_new(n) for _, n in es):   # C3
                return es
        return succ
