"""Interrupt context (model/irq.py) and lockdep's IRQ rules (properties/irq.py) on tiny protocols.

Each protocol here is built from scratch with the declaration calls: global
spinlocks, a hard-IRQ handler thread and process threads with a ``cpu``.
"""
import pytest

from revoke_check.model import irq
from revoke_check.model.lang import DONE, Branch, Step
from revoke_check.model.protocol import Protocol
from revoke_check.model.schema import ActorKind, Attr, Lock
from revoke_check.properties import Property, compile_checks
from revoke_check.properties.irq import ALL as IRQ_RULES
from revoke_check.engines.bmc import bmc
from revoke_check.engines.explicit import explore
from revoke_check.traces.render_lockdep import render_lockdep

SRC = "tests/test_irq.py"
DEADLOCK = Property("deadlock-free", "No state where every unfinished thread is blocked.", deadlock=True)


def _take_release(t, names, irqsave):
    """Take each lock in order (irqsave or plain), then release them in reverse, one step each."""
    out = []
    owners = [getattr(t.v, n) for n in names]
    for k, (n, o) in enumerate(zip(names, owners)):
        g, up = (irq.spin_lock_irqsave(t, o, n) if irqsave else irq.spin_lock(t, o))
        out.append(Step(f"lock({n})", [Branch(g, up)], f"Take {n}.", source=f"{SRC}:take"))
    for n, o in reversed(list(zip(names, owners))):
        rel, ev = (irq.spin_unlock_irqrestore(t, o, n) if irqsave else irq.spin_unlock(t, o))
        out.append(Step(f"unlock({n})", [Branch(do=rel, events=(ev,))], f"Release {n}.", source=f"{SRC}:take"))
    out[-1].branches[0].goto = DONE
    return out


def protocol(locks=("A",), configs=None) -> Protocol:
    """Global spinlocks ``locks``; actor kinds ``handler`` (hard IRQ) and ``proc``, both taking
    the locks their ``locks`` key lists, ``proc`` with or without irqsave."""
    p = Protocol("synthetic")
    for n in locks:
        p.add_lock(Lock(None, n, "spinlock", klass=n))
    params = (Attr("locks", "list:bool", (), "which of the locks, by position"), irq.CPU)

    def chosen(a):
        return [n for n, on in zip(locks, a.locks) if on]
    p.add_actor_kind(ActorKind("handler", "handler", args=lambda cfg, a: {"names": chosen(a)},
                               params=params, irq=True, idle=True, doc="a hard IRQ"))
    p.add_actor_kind(ActorKind("proc", "proc", args=lambda cfg, a: {"names": chosen(a), "irqsave": a.irqsave},
                               params=params + (Attr("irqsave", "bool", False, "spin_lock_irqsave"),),
                               doc="a process"))
    p.add_procedure("handler", lambda t, names: _take_release(t, names, False), f"{SRC}:handler")
    p.add_procedure("proc", lambda t, names, irqsave: _take_release(t, names, irqsave), f"{SRC}:proc")
    for prop in IRQ_RULES + [DEADLOCK]:
        p.add_property(prop)
    for name, raw in (configs or {}).items():
        p.add_config(name, raw)
    return p


def run(p, config, props=None, engine="explicit"):
    m = p.build(p.config(config))
    chosen = [x for x in p.properties.values() if props is None or x.name in props]
    checks = compile_checks(m, chosen)
    return m, (explore(m, checks) if engine == "explicit" else bmc(m, checks, depth=12))


ONE_LOCK = {
    "plain": {"actors": [{"kind": "proc", "cpu": 0, "locks": [True]},
                         {"kind": "handler", "cpu": 0, "locks": [True]}]},
    "irqsave": {"actors": [{"kind": "proc", "cpu": 0, "locks": [True], "irqsave": True},
                           {"kind": "handler", "cpu": 0, "locks": [True]}]},
    "other-cpu": {"actors": [{"kind": "proc", "cpu": 1, "locks": [True]},
                             {"kind": "handler", "cpu": 0, "locks": [True]}]},
}


@pytest.fixture(scope="module")
def one():
    return protocol(("A",), ONE_LOCK)


def test_lock_in_handler_and_with_irqs_on_is_inconsistent(one):
    m, r = run(one, "plain", ["irq-inconsistent-lock-state"])
    assert r.verdict == "violated" and r.property == "irq-inconsistent-lock-state"
    assert "A is taken in hard-IRQ context (IN-HARDIRQ-W) and with interrupts enabled" in r.message
    text = render_lockdep(r.trace)
    assert "WARNING: inconsistent lock state" in text
    assert "inconsistent {HARDIRQ-ON-W} -> {IN-HARDIRQ-W} usage." in text
    assert "  <Interrupt>\n    lock(A);" in text


def test_the_same_with_irqsave_holds(one):
    _, r = run(one, "irqsave", ["irq-inconsistent-lock-state", "deadlock-free"])
    assert r.verdict == "holds", r.message
    assert r.witnesses["irq-inconsistent-lock-state/lock-taken-in-hardirq"]


def test_inconsistent_even_when_the_cpus_differ(one):
    """lockdep speaks of usage, not of a run: another CPU's irqs-on use is as bad."""
    _, r = run(one, "other-cpu", ["irq-inconsistent-lock-state"])
    assert r.verdict == "violated"
    _, r = run(one, "other-cpu", ["deadlock-free"])
    assert r.verdict == "holds"     # but only the same CPU can actually deadlock


def test_the_interrupted_holder_deadlocks_its_cpu(one):
    m, r = run(one, "plain", ["deadlock-free"])
    assert r.verdict == "violated" and r.trace.kind == "deadlock"
    steps = [(s.thread, s.step_label) for s in r.trace.steps]
    # the interrupt arrives while proc holds A; the handler spins on A, proc never runs again
    assert steps == [("proc", "proc:lock(A)"), ("handler", "handler:irq_enter")]
    assert "handler at handler:lock(A)" in r.message and "proc at proc:unlock(A)" in r.message


def test_no_interrupt_where_irqs_are_off_and_the_handler_runs_to_completion(one):
    m = one.build(one.config("irqsave"))
    from revoke_check.semantics import Semantics
    sem = Semantics(m, compile_checks(m, []))
    assert [t.name for t in m.threads] == ["proc", "handler"]
    off, hard = m.var("irqs_off[cpu0]"), m.var("in_hardirq[cpu0]")
    seen, todo = {m.init}, [m.init]
    while todo:
        s = todo.pop()
        for ti, n in sem.successors(s):
            tr = m.transitions[ti]
            if tr.thread == "handler" and tr.local_label == "irq_enter":
                assert s[off.slot] == 0, "an interrupt arrived with interrupts disabled"
            if tr.thread == "proc":
                assert not s[hard.slot], "the interrupted thread ran before its handler ended"
            if n not in seen:
                seen.add(n)
                todo.append(n)
    assert any(s[hard.slot] for s in seen)


def test_explicit_and_bmc_agree(one):
    for cfg, prop in (("plain", "irq-inconsistent-lock-state"), ("plain", "deadlock-free")):
        _, a = run(one, cfg, [prop])
        _, b = run(one, cfg, [prop], engine="bmc")
        assert (a.verdict, a.property, len(a.trace)) == (b.verdict, b.property, len(b.trace))


TWO_LOCKS = {
    # the handler takes A; proc1 nests B in A (irqsave); proc0 takes B with interrupts on
    "unsafe": {"actors": [{"kind": "handler", "cpu": 0, "locks": [True, False, False]},
                          {"kind": "proc", "name": "proc1", "cpu": 1, "locks": [True, True, False],
                           "irqsave": True},
                          {"kind": "proc", "name": "proc0", "cpu": 0, "locks": [False, True, False]}]},
    # the same with B always taken irqsave; C stays an unrelated HARDIRQ-unsafe lock
    "safe": {"actors": [{"kind": "handler", "cpu": 0, "locks": [True, False, False]},
                        {"kind": "proc", "name": "proc1", "cpu": 1, "locks": [True, True, False],
                         "irqsave": True},
                        {"kind": "proc", "name": "proc0", "cpu": 0, "locks": [False, True, False],
                         "irqsave": True},
                        {"kind": "proc", "name": "proc2", "cpu": 2, "locks": [False, False, True]}]},
}


@pytest.fixture(scope="module")
def two():
    return protocol(("A", "B", "C"), TWO_LOCKS)


def test_irq_safe_to_unsafe_dependency(two):
    _, r = run(two, "unsafe", ["irq-safe-to-unsafe"])
    assert r.verdict == "violated" and r.property == "irq-safe-to-unsafe"
    assert "B is taken while holding A" in r.message
    text = render_lockdep(r.trace)
    assert "WARNING: HARDIRQ-safe -> HARDIRQ-unsafe lock order detected" in text
    assert " (A){-...} -> (B){+.+.}" not in text      # lockdep's usage strings: B is '+', A '-'
    assert " (A){-...} -> (B){+...}" in text
    assert "Possible interrupt unsafe locking scenario" in text
    _, b = run(two, "unsafe", ["irq-safe-to-unsafe"], engine="bmc")
    assert (b.verdict, b.property, len(b.trace)) == ("violated", "irq-safe-to-unsafe", len(r.trace))


def test_irq_safe_to_unsafe_holds_with_irqsave(two):
    _, r = run(two, "safe")
    assert r.verdict == "holds", r.message
    assert all(r.witnesses.values()), r.witnesses


def test_a_protocol_without_irqs_gets_no_irq_state():
    from revoke_check.model.variants import get_protocol
    p = get_protocol("upstream")
    m = p.build(p.config("tiny"))
    assert not irq.active(p)
    assert not [x for x in m.vars if x.name.startswith(("irqs_off", "in_hardirq", "lockdep_"))]
