"""The properties of the drm-sched protocol: lockdep's rules and the kill's outcome."""
from __future__ import annotations

from ..expr import FALSE, and_, implies, or_

from revoke_check.properties import Property, Witness
from revoke_check.properties.irq import IRQ_INCONSISTENT, IRQ_SAFE_TO_UNSAFE


def _owned_by(m, t):
    me = m.v.owner(t)
    return or_(*[li.owner == me for li in m.locks])


LOCK_DISCIPLINE = Property(
    "lock-discipline",
    """Only the holder releases a spinlock, and no thread ends holding one.

    Covers fence->lock and every job's xa_lock: spin_unlock and
    spin_unlock_irqrestore are done by the owner, and a finished (or idle)
    thread owns none.
    """,
    invariant=lambda m: and_(*[implies(t.pc == 0, ~_owned_by(m, t.name)) for t in m.threads]),
    events={"unlock": lambda m, owner, me: owner == me},
    witnesses=(Witness("fence-lock-held", state=lambda m: or_(*[x != 0 for x in m.v.fence_lock])),),
)


def _in_irq(m):
    return or_(*m.v.in_hardirq.cells) if getattr(m.v, "irq", None) else FALSE


DEADLOCK_FREE = Property(
    "deadlock-free",
    """Some step is enabled while any thread is unfinished.

    A CPU whose hard-IRQ handler spins on a lock held by the thread it
    interrupted, or by itself (dma_fence_add_callback on a fence sharing the
    lock dma_fence_signal holds), never runs again: every unfinished thread
    is blocked.
    """,
    deadlock=True,
    witnesses=(Witness("irq-handler-running", state=_in_irq),),
)

LOCK_ORDER = Property(
    "lock-order",
    """No cycle among lock classes (lockdep's dependency graph), recursive locking included.

    fence->lock is one lockdep class (all fences initialised at one site):
    taking a second fence->lock under one is "possible recursive locking".
    """,
    lock_order=True,
    witnesses=(Witness("fence-lock-held", state=lambda m: or_(*[x != 0 for x in m.v.fence_lock])),),
)


def _killed(m):
    return sorted({e.job for e in m.config.of("entity")})


def _not_lost(m):
    v = m.v
    out = []
    for j in _killed(m):
        armed = or_(*[and_(v.cb_job[f] == j + 1, ~v.signaled[f]) for f in range(len(m.config.of("fence")))])
        out.append(or_(v.freed[j], armed))
    return and_(*out)


KILLED_JOB_NOT_LOST = Property(
    "killed-job-not-lost",
    """A killed job is freed, or its callback waits on an unsignalled fence.

    Once every thread has finished, each job of a killed entity has had its
    fences signalled with -ESRCH and been freed, unless the kill callback is
    armed on a fence that has not signalled yet (it runs when that fence does).
    """,
    at_end=_not_lost,
    witnesses=(Witness("killed-job-freed", state=lambda m: or_(*[m.v.freed[j] for j in _killed(m)])
                       if _killed(m) else FALSE),
               Witness("callback-armed-on-dependency", state=lambda m: or_(*[
                   m.v.cb_job[f] == j + 1 for j in _killed(m) for f in m.config.of("job")[j].deps])
                   if _killed(m) else FALSE)),
)

ALL = [IRQ_SAFE_TO_UNSAFE, IRQ_INCONSISTENT, DEADLOCK_FREE, LOCK_ORDER, LOCK_DISCIPLINE,
       KILLED_JOB_NOT_LOST]
