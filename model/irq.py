"""Interrupt context for any protocol: CPUs, hard-IRQ handler threads, irq-disabled sections.

A protocol that declares an actor kind with ``irq=True`` (or gives actors the
:data:`CPU` key) gets, when it is built for a config:

* a CPU for every thread: the actor's ``cpu`` key (default 0); an implicit
  thread (a work item) runs on a CPU of its own, numbered after the others;
* per CPU ``c`` two state variables: ``irqs_off[cpuC]`` -- ``none`` or the
  thread that disabled interrupts there (``spin_lock_irqsave``,
  ``local_irq_save``) -- and ``in_hardirq[cpuC]`` -- a hard-IRQ handler is
  running on that CPU;
* the rules of a CPU, added as guard conjuncts to the compiled transitions
  (:func:`finish`): an IRQ handler thread (one interrupt arrival) may take its
  arrival step (``irq_enter``, added before its first statement) only when
  its CPU has interrupts enabled and runs no other handler (hard IRQs do not
  nest); from then until it ends, no other thread of that CPU steps (the
  handler runs to completion on the interrupted CPU, or spins there forever).
  A process-context thread steps only while no handler runs on its CPU and no
  *other* thread of its CPU has interrupts disabled (a CPU with interrupts
  off does not switch tasks);
* lockdep's usage bits as ghost state, per declared lock class ``L``:
  ``lockdep_in_hardirq[L]`` (taken in hard-IRQ context: IN-HARDIRQ-W) and
  ``lockdep_hardirq_on[L]`` (taken with interrupts enabled: HARDIRQ-ON-W), and
  per ordered pair of classes ``lockdep_dep[A -> B]`` (B taken, blocking, while
  A is held).  They are set by the acquiring transition (an owner field set
  to the thread), from the pre-state, exactly as lockdep's
  ``mark_lock``/``check_prev_add`` record them.  The properties of
  :mod:`properties.irq` read them.

A protocol without interrupt context builds exactly as before (nothing is
added), so its state counts do not move.

Steps use the helpers below to disable interrupts: :func:`spin_lock_irqsave`
(guard, updates) and :func:`spin_unlock_irqrestore` (updates, unlock event),
with a thread-local ``flags`` variable per nesting level, as the kernel does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .expr import BOOL, ENUM, Const, and_, ite, or_
from .lang import DONE, Array, Event
from .schema import Attr

__all__ = ["CPU", "IrqInfo", "active", "prepare", "finish", "cpu", "irqs_enabled",
           "spin_lock", "spin_unlock", "spin_lock_irqsave", "spin_unlock_irqrestore",
           "local_irq_save", "local_irq_restore"]

CPU = Attr("cpu", "int", 0, "the CPU this thread runs on (an IRQ interrupts the threads of its CPU)",
           minimum=0)
"""The ``cpu`` key of an actor: add it to an :class:`~model.schema.ActorKind`'s params."""

NONE = Const(0)


@dataclass
class IrqInfo:
    """What :func:`prepare` set up for one build: CPUs, per-CPU state, ghost usage bits."""

    cpu_of: dict                        # thread -> cpu index
    cpus: list                          # cpu numbers, in index order
    irq_threads: set                    # names of hard-IRQ handler threads
    irqs_off: Array = None              # per cpu: none or the thread that disabled them
    in_hardirq: Array = None            # per cpu: a handler runs there
    classes: list = field(default_factory=list)    # lock classes with usage bits
    in_hardirq_use: dict = field(default_factory=dict)   # class -> Var
    hardirq_on_use: dict = field(default_factory=dict)   # class -> Var
    dep: dict = field(default_factory=dict)               # (A, B) -> Var

    def reach(self, a: str, b: str):
        """An expression: a dependency chain leads from class ``a`` to class ``b``."""
        n = self.classes
        # transitive closure by path length (Floyd-Warshall over expressions)
        r = {(x, y): (self.dep[x, y] if (x, y) in self.dep else Const(0)) for x in n for y in n}
        for k in n:
            r = {(x, y): or_(r[x, y], and_(r[x, k], r[k, y])) if x != y else r[x, y]
                 for x in n for y in n}
        return r[a, b]


def active(protocol) -> bool:
    """Does this protocol have interrupt context (an IRQ actor kind or a ``cpu`` key)?"""
    return any(getattr(ak, "irq", False) or any(a.name == "cpu" for a in ak.params)
               for ak in protocol.actor_kinds.values())


def _cpu_of(protocol, cfg, plan) -> dict:
    explicit = {a.name: dict(a.params).get("cpu", 0) for a in cfg.actors}
    nxt = max(list(explicit.values()) + [-1]) + 1
    out = {}
    for name, kind, *_ in plan:
        if name in explicit:
            out[name] = explicit[name]
        else:   # an implicit thread (a work item): a CPU of its own
            out[name], nxt = nxt, nxt + 1
    return out


def prepare(protocol, cfg, plan, sb, v, locks) -> IrqInfo | None:
    """Declare the per-CPU state (before procedures are instantiated); None without IRQs."""
    if not active(protocol):
        return None
    cpu_of = _cpu_of(protocol, cfg, plan)
    cpus = sorted(set(cpu_of.values()))
    irq_threads = {name for name, kind, *_ in plan if getattr(protocol.actor_kinds[kind], "irq", False)}
    info = IrqInfo({t: cpus.index(c) for t, c in cpu_of.items()}, cpus, irq_threads)
    info.irqs_off = Array("irqs_off", [sb.var(f"irqs_off[cpu{c}]", ENUM(*v.owners), 0) for c in cpus])
    info.in_hardirq = Array("in_hardirq", [sb.var(f"in_hardirq[cpu{c}]", BOOL, 0) for c in cpus])
    v.irq = info
    v.irqs_off, v.in_hardirq = info.irqs_off, info.in_hardirq
    classes = list(dict.fromkeys(li.decl.lock_class for li in locks))
    info.classes = classes
    for c in classes:
        info.in_hardirq_use[c] = sb.var(f"lockdep_in_hardirq[{c}]", BOOL, 0)
        info.hardirq_on_use[c] = sb.var(f"lockdep_hardirq_on[{c}]", BOOL, 0)
    for a in classes:
        for b in classes:
            if a != b:
                info.dep[a, b] = sb.var(f"lockdep_dep[{a} -> {b}]", BOOL, 0)
    return info


def _arrival(info, v, th, transitions, sb):
    """The interrupt's arrival: a step of its own (pc ``irq_enter``, the handler's new first
    label) from which the handler's first statement follows; so an interrupt arrives whatever
    its first statement waits for (a lock its CPU holds: the CPU then spins forever)."""
    from .lang import Transition
    c = info.cpu_of[th.name]
    off, hard = info.irqs_off[c], info.in_hardirq[c]
    first = sb.init[th.pc.slot]
    names = th.pc.domain.names
    entry = names[first].split(":", 1)[0]
    th.pc = sb.set_domain(th.pc, ENUM(*names, f"{entry}:irq_enter"))
    at = len(names)
    sb.init[th.pc.slot] = at
    th.finals = frozenset({0} | ({at} if first in th.finals else set()))
    transitions.append(Transition(
        index=len(transitions), thread=th.name, label=f"{entry}:irq_enter", pc_slot=th.pc.slot,
        pc_value=at, target=names[first], guard=and_(off == NONE, ~hard),
        updates={hard.slot: Const(1), th.pc.slot: Const(first)}, choice=None,
        note=f"a hard interrupt arrives on CPU{info.cpus[c]}", source="kernel/softirq.c:irq_enter_rcu",
        doc=f"A hard IRQ arrives on CPU{info.cpus[c]} (interrupts enabled there, no handler running): "
            f"hard-IRQ context begins and the CPU's other threads wait until the handler returns.",
        events=(), proc=entry, local_label="irq_enter"))


def finish(info: IrqInfo | None, v, model_threads, transitions, locks, sb) -> None:
    """Add the interrupts' arrivals, the CPU rules to the guards and the lockdep usage bits."""
    if info is None:
        return
    owners_slot = {li.owner.slot: li for li in locks}
    for th in model_threads:
        if th.name in info.irq_threads:
            _arrival(info, v, th, transitions, sb)
    for tr in transitions:
        c = info.cpu_of[tr.thread]
        off, hard = info.irqs_off[c], info.in_hardirq[c]
        me = Const(v.owner(tr.thread))         # the thread's value in an owner field
        is_irq = tr.thread in info.irq_threads
        if is_irq:
            if tr.target == DONE:              # the handler returns: irq_exit
                tr.updates[hard.slot] = Const(0)
        else:
            tr.guard = and_(~hard, or_(off == NONE, off == me), tr.guard)
        # lockdep usage: acquisitions are owner fields set to the thread
        up = tr.updates.get(off.slot)
        disables = isinstance(up, Const) and up.value == me.value   # irqsave: taken with irqs off
        for slot, e in list(tr.updates.items()):
            li = owners_slot.get(slot)
            if li is None or not (isinstance(e, Const) and e.value == me.value):
                continue
            cls = li.decl.lock_class
            if is_irq:
                u = info.in_hardirq_use[cls]
                tr.updates[u.slot] = Const(1)
            elif not disables:
                u = info.hardirq_on_use[cls]
                tr.updates[u.slot] = or_(u, off == NONE)
            if "trylock" in tr.local_label:
                continue        # lockdep adds no dependency towards a trylock
            for other in locks:
                a = other.decl.lock_class
                if a == cls or other.owner.slot == slot:
                    continue
                d = info.dep[a, cls]
                held = other.owner == me
                prev = tr.updates.get(d.slot, d)
                tr.updates[d.slot] = or_(prev, held)


# --- helpers for steps ------------------------------------------------------------

def cpu(t) -> int:
    """The index of the thread's CPU."""
    return t.v.irq.cpu_of[t.thread]


def irqs_enabled(t):
    """Interrupts are enabled on the thread's CPU (and it is not in a handler)."""
    c = cpu(t)
    return and_(t.v.irqs_off[c] == NONE, ~t.v.in_hardirq[c])


def _flags(t, name):
    return t.local(f"flags_{name}", BOOL, 0)


def local_irq_save(t, name: str = "flags") -> dict:
    """``local_irq_save(flags)``: remember whether interrupts were off, disable them."""
    off = t.v.irqs_off[cpu(t)]
    return {_flags(t, name): off != NONE, off: t.me}


def local_irq_restore(t, name: str = "flags") -> dict:
    """``local_irq_restore(flags)``: interrupts are enabled again unless they were off before."""
    off = t.v.irqs_off[cpu(t)]
    return {off: ite(_flags(t, name), t.me, NONE)}


def spin_lock(t, owner):
    """``spin_lock``: (guard, updates); interrupts stay as they are."""
    return owner == NONE, {owner: t.me}


def spin_unlock(t, owner):
    """``spin_unlock``: (updates, unlock event)."""
    return {owner: NONE}, Event("unlock", (owner, t.me))


def spin_lock_irqsave(t, owner, name: str = "flags"):
    """``spin_lock_irqsave(lock, flags)``: (guard, updates)."""
    return owner == NONE, {owner: t.me, **local_irq_save(t, name)}


def spin_unlock_irqrestore(t, owner, name: str = "flags"):
    """``spin_unlock_irqrestore(lock, flags)``: (updates, unlock event)."""
    return {owner: NONE, **local_irq_restore(t, name)}, Event("unlock", (owner, t.me))
