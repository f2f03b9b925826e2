"""Build traces from paths, and replay stored traces on the explicit semantics.

Replay re-executes every step: the step must be enabled in the current state
and must produce the recorded values (of the variables trace and model
share); otherwise it stops with the first step that does not fit, either
"step 8: ... not enabled: memory_lock[dev0] held for write by ..." or
"step 11: ... is enabled, but upstream takes a different branch here: ..."
(how a fix shows).  After the last step it re-evaluates the properties to
say whether the trace violates one.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from revoke_check.model.expr import variables
from revoke_check.model.lang import ModelError
from revoke_check.traces.trace import Trace, TraceStep

from .semantics import Semantics

__all__ = ["trace_from_path", "replay", "ReplayResult", "violation_at"]


def _diff(m, a, b) -> dict:
    return {x.name: [x.domain.show(a[x.slot]), x.domain.show(b[x.slot])]
            for x in m.vars if a[x.slot] != b[x.slot]}


def trace_from_path(sem: Semantics, path: list, *, prop, kind, message, engine) -> Trace:
    """Re-execute ``path`` (transition indices) from the initial state into a Trace."""
    m = sem.model
    s = m.init
    steps = []
    for ti in path:
        n = sem.enabled(s, ti)
        if n is None:
            raise ModelError(f"internal: path step {ti} not enabled")
        tr = m.transitions[ti]
        steps.append(TraceStep(tr.thread, tr.label, tr.source, tr.choice, tr.note, tr.doc,
                               _diff(m, s, n), m.show(n)))
        s = n
    from .provenance import provenance
    details = {"wait_for": wait_for(m, s)} if kind == "deadlock" else {}
    return Trace(m.config.name, m.variant, prop, kind, message, engine, m.show(m.init), steps,
                 provenance(m), m.lock_table(), details)


def _false_parts(e, s) -> list:
    """The conjuncts of a guard that are false in ``s`` (what the thread waits for)."""
    from revoke_check.model.expr import Op, to_python
    if isinstance(e, Op) and e.op == "and":
        return [x for a in e.args for x in _false_parts(a, s)]
    return [] if eval(to_python(e), {"s": s}) else [e]


def wait_for(m, s) -> dict:
    """Who waits for whom in a state where nothing can step (a deadlock).

    For every unfinished thread: the step it is blocked at and, for each state
    variable its guards read, the thread it waits for -- the holder of a held
    lock, or an unfinished thread with a step that writes the variable (the
    one that would complete a completion, signal a fence, drop a reference).
    ``cycle`` is a cycle of that wait-for graph, when there is one.
    """
    import networkx as nx
    owner_of = {li.owner.slot: li for li in m.locks}
    readers_of = {li.readers.slot: li for li in m.locks if li.readers is not None}
    live = [th for th in m.threads if s[th.pc.slot] not in th.finals]
    writers: dict = {}
    for tr in m.transitions:
        for slot in tr.updates:
            if slot != tr.pc_slot:
                writers.setdefault(slot, set()).add(tr.thread)
    waits, g = [], nx.DiGraph()
    for th in live:
        at = th.pc.domain.names[s[th.pc.slot]]
        cands = [tr for tr in m.transitions if tr.thread == th.name and tr.pc_value == s[th.pc.slot]]
        seen = set()
        for tr in cands:
            for part in _false_parts(tr.guard, s):
                for x in sorted(variables(part), key=lambda x: x.slot):
                    if x.slot in seen or x.slot == th.pc.slot:
                        continue
                    seen.add(x.slot)
                    if x.slot in owner_of and s[x.slot]:
                        who = m.v.owners[s[x.slot]]
                        if who != th.name:
                            li = owner_of[x.slot]
                            waits.append({"thread": th.name, "at": at, "for": li.c_name(), "by": who,
                                          "how": "held"})
                            g.add_edge(th.name, who, label=li.c_name())
                        continue
                    if x.slot in readers_of and s[x.slot]:
                        waits.append({"thread": th.name, "at": at, "for": readers_of[x.slot].c_name(),
                                      "by": "readers", "how": "read-held"})
                        continue
                    # who would change it next: a thread whose current step writes it, else any writer
                    now = {t.name for t in live if t.name != th.name and any(
                        x.slot in u.updates for u in m.transitions
                        if u.thread == t.name and u.pc_value == s[t.pc.slot])}
                    for w in sorted(now or {w for w in writers.get(x.slot, ())
                                            if w != th.name and any(w == t.name for t in live)}):
                        waits.append({"thread": th.name, "at": at, "for": x.name, "by": w, "how": "set"})
                        g.add_edge(th.name, w, label=x.name)
    try:
        cyc = [[a, b, g.edges[a, b]["label"]] for a, b in nx.find_cycle(g)]
    except nx.NetworkXNoCycle:
        cyc = []
    return {"waits": waits, "cycle": cyc}


def _explain(sem, prop, s, default):
    p = next((x for x in sem.checks.properties if x.name == prop), None)
    if p is not None and p.explain is not None:
        why = p.explain(sem.model, sem.model.show(s))
        if why:
            return f"{default}: {why}"
    return default


def violation_at(sem: Semantics, s, *, fire: int | None = None):
    """The first property violated in state ``s`` (or by firing ``fire`` from it).

    Returns (property, kind, message) or None.  ``fire`` checks the step
    assertions of that transition; without it, invariants, deadlock and at-end.
    """
    m = sem.model
    if fire is not None:
        tr = m.transitions[fire]
        for p, fn in sem.step_asserts.get(fire, ()):
            if not fn(s):
                where = tr.label.rsplit("/", 1)[-1]
                return p, "step-assertion", _explain(sem, p, s, f"{p} fails when {tr.thread} runs {where}")
        return None
    for p, fn in sem.invariants:
        if not fn(s):
            return p, "invariant", _explain(sem, p, s, f"invariant {p} is false")
    if sem.stuck(s):
        if not sem.all_final(s):
            if sem.checks.deadlock:
                stuck = [th.name for th in m.threads if s[th.pc.slot] not in th.finals]
                return (sem.checks.deadlock[0], "deadlock",
                        "deadlock: no step enabled; blocked: " + ", ".join(
                            f"{n} at {m.thread(n).pc.domain.names[s[m.thread(n).pc.slot]]}" for n in stuck))
        else:
            for p, fn in sem.at_end:
                if not fn(s):
                    return p, "at-end", _explain(sem, p, s, f"{p} is false once every thread has finished")
    return None


@dataclass
class ReplayResult:
    ok: bool                 # every step fitted the model
    steps_replayed: int
    violation: tuple | None  # (property, kind, message) reached by the trace
    error: str = ""          # why a step did not fit
    fix: bool = False        # the step was enabled but took another branch (how a fix shows)
    path: list = field(default_factory=list)   # transition indices fired, in order


def _lock_phrase(m, x, val) -> str | None:
    """``memory_lock[dev1] held for write by hot_reset`` for a held lock variable."""
    info = m.lock_table().get(x.name)
    if info is None or not val:
        return None
    owner = x.name.replace("_readers", "") if info["mode"] == "read" else x.name
    if info["mode"] == "read":
        return f"{owner} held for read"
    who = m.v.owners[val]
    return f"{x.name} held for write by {who}" if info["type"] == "rwsem" else f"{x.name} held by {who}"


def _why_blocked(m, s, cands) -> str:
    """Explain why none of ``cands`` (branches of one step) is enabled in ``s``.

    Held locks read by the guards come first ("memory_lock[dev1] held for
    write by hot_reset"); otherwise the other state the guards wait for.
    """
    own = {tr.pc_slot for tr in cands}
    read, slots = [], set(own)
    for tr in cands:
        for x in sorted(variables(tr.guard), key=lambda x: x.slot):
            if x.slot not in slots:      # by slot: Var == Var builds an expression
                slots.add(x.slot)
                read.append(x)
    locks = [p for x in read if (p := _lock_phrase(m, x, s[x.slot]))]
    if locks:
        return "; ".join(locks)
    waits = []
    for x in read:
        val = x.domain.show(s[x.slot])
        if x.name.startswith("pc["):
            waits.append(f"{x.name[3:-1]} is at {str(val).rsplit('/', 1)[-1]}")
        else:
            waits.append(f"{x.name} is {fmt(val)}")
    return ("waits while " + ", ".join(waits[:4])) if waits else "its guard is false"


def fmt(x) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    return str(x)


def _mismatch(shown: dict, recorded: dict, keys) -> list:
    return [k for k in keys if shown.get(k) != recorded.get(k)]


def _other_branch(m, tr, shown: dict, recorded: dict, keys, thread: str) -> str:
    """How the enabled branch ``tr`` differs from the recorded step."""
    what = tr.note or tr.choice or ""
    pc = f"pc[{thread}]"
    if shown.get(pc) != recorded.get(pc):
        how = (f"it goes to {str(shown.get(pc)).rsplit('/', 1)[-1]}; "
               f"the trace went to {str(recorded.get(pc)).rsplit('/', 1)[-1]}")
    else:
        diff = [k for k in _mismatch(shown, recorded, keys) if not k.startswith("pc[")]
        how = "; ".join(f"{k} becomes {fmt(shown.get(k))}, the trace has {fmt(recorded.get(k))}"
                        for k in diff[:2])
    return f"{what} ({how})" if what and how else (what or how)


def replay(trace: Trace, sem: Semantics, fairness=None) -> ReplayResult:
    """Re-execute ``trace`` on ``sem``; check each step's recorded state.

    The variables the trace and the model share must take the recorded
    values after every step (a variable added to the model since the trace
    was stored does not break it).  A step stops the replay either because it
    is *not enabled* (its guard is false: who holds the lock) or because it
    is enabled but the variant *takes a different branch* (``fix=True``):
    replayed on a fixed variant, that is how the fix shows.

    A lasso (``trace.loop`` set) must close: the state after the last step
    equals the state after ``loop`` steps (or, for ``loop == len(steps)``, no
    step is enabled there); then its liveness violation is re-evaluated
    (:func:`revoke_check.engines.liveness.lasso_violation`), fairness included.
    """
    m = sem.model
    s = m.init
    shown0 = m.show(s)
    keys = [k for k in shown0 if k in trace.initial] if trace.initial else list(shown0)
    if trace.initial and _mismatch(shown0, trace.initial, keys):
        diff = _mismatch(shown0, trace.initial, keys)
        return ReplayResult(False, 0, None, "initial state differs from the model's"
                            + f" ({', '.join(diff[:3])})")
    path: list = []
    seq = [s]
    lock_order = None
    if sem.checks is not None and sem.checks.lock_order:
        from revoke_check.properties.lock_order import LockOrder
        lock_order = LockOrder.of(m)  # dependencies seen along this trace only

    def stop(k, msg, fix=False):
        return ReplayResult(False, k - 1, None, f"step {k}: {msg}", fix, path)

    for k, st in enumerate(trace.steps, 1):
        try:
            th = m.thread(st.thread)
        except KeyError:
            return stop(k, f"no thread {st.thread!r} in this config")
        cands = [tr for tr in m.transitions if tr.thread == st.thread and tr.label == st.label]
        if not cands:
            return stop(k, f"{st.thread} has no step {st.label!r} in variant {m.variant}", fix=True)
        here = th.pc.domain.names[s[th.pc.slot]]
        if here != st.label:
            return stop(k, f"{st.step_label} ({st.thread}) not enabled: "
                           f"{st.thread} is at {here.rsplit('/', 1)[-1]}")
        fired, other = None, None
        for tr in cands:
            try:
                n = sem.enabled(s, tr.index)
            except ModelError as e:
                return stop(k, str(e))
            if n is None:
                continue
            shown = m.show(n)
            if (st.state and _mismatch(shown, st.state, keys)) or \
                    (st.choice is not None and tr.choice != st.choice):
                if other is None or (tr.choice == st.choice and other[0].choice != st.choice):
                    other = (tr, shown)   # prefer the branch of the recorded choice
                continue
            fired = (tr, n)
            break
        if fired is None:
            if other is not None:
                tr, shown = other
                return stop(k, f"{st.step_label} ({st.thread}) is enabled, but {m.variant} takes "
                               f"a different branch here: "
                               f"{_other_branch(m, tr, shown, st.state, keys, st.thread)}", fix=True)
            return stop(k, f"{st.step_label} ({st.thread}) not enabled: {_why_blocked(m, s, cands)}")
        tr, n = fired
        path.append(tr.index)
        v = violation_at(sem, s, fire=tr.index)
        if v:
            return ReplayResult(True, k, v, path=path)
        cyc = lock_order.observe(s, tr.index) if lock_order is not None else None
        if cyc and lock_order is not None:
            return ReplayResult(True, k, (sem.checks.lock_order[0], "lock-order",
                                          lock_order.describe(*cyc)), path=path)
        s = n
        seq.append(s)
        v = violation_at(sem, s)
        if trace.loop is not None and v and v[1] == "deadlock":
            v = None          # a lasso's end is judged by its loop
        if v and (v[1] != "deadlock" or k == len(trace.steps)):
            if k == len(trace.steps) or v[1] == "invariant":
                return ReplayResult(True, k, v, path=path)
    if trace.loop is not None:
        nsteps = len(trace.steps)
        if not 0 <= trace.loop <= nsteps:
            return ReplayResult(False, nsteps, None, f"loop {trace.loop} outside 0..{nsteps}", path=path)
        if trace.loop == nsteps:
            if not sem.stuck(s):
                return ReplayResult(False, nsteps, None, "the loop does not close: the last state "
                                    "repeats, but a step is enabled in it", path=path)
        elif seq[trace.loop] != s:
            shown_a, shown_b = m.show(seq[trace.loop]), m.show(s)
            diff = [x for x in shown_a if shown_a[x] != shown_b[x]]
            return ReplayResult(False, nsteps, None, f"the loop does not close: the state after step "
                                f"{nsteps} differs from the state after step {trace.loop} "
                                f"({', '.join(diff[:3])})", path=path)
        if sem.checks is not None and sem.checks.liveness:
            from revoke_check.engines.liveness import Fairness, lasso_violation
            if fairness is None and trace.fairness:
                fairness = Fairness(trace.fairness["default"], tuple(trace.fairness.get("strong", ())))
            return ReplayResult(True, nsteps, lasso_violation(sem, seq, path, trace.loop, fairness), path=path)
        return ReplayResult(True, nsteps, None, path=path)
    return ReplayResult(True, len(trace.steps), violation_at(sem, s), path=path)
