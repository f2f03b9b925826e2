"""drivers/dma-buf/dma-fence.c: fences, their spinlocks, signalling and callbacks.

A ``struct dma_fence`` is initialised with a ``spinlock_t *lock`` the caller
provides (``dma_fence_init``); several fences may share one (a drm_sched
fence's scheduled and finished fences share ``&s_fence->lock``; drivers share
one per ring), so the lock is an object of its own (``fence_locks``) that
fences name.  The callback list holds at most the kill-jobs callback of one
job (``cb_job``: 0 none, k+1 job k) -- the only callback modelled.
"""
from __future__ import annotations

from ..expr import BOOL, INT
from ..irq import spin_lock_irqsave, spin_unlock_irqrestore
from ..lang import Branch, Call, RETURN, Step
from ..protocol import procedure
from ..schema import Attr, Field, Lock, ObjectKind

SRC = "drivers/dma-buf/dma-fence.c"


def declare(p):
    p.add_object_kind(ObjectKind("fence_lock", "fence_locks", "spinlock_t", ref="fence_lock",
                                 doc="the spinlock a dma_fence_init() is given (fences may share one)",
                                 required=True))
    p.add_object_kind(ObjectKind("fence", "fences", "struct dma_fence", ref="fence", required=True,
                                 doc="a fence; its lock is a fence_lock",
                                 attrs=(Attr("lock", "ref:fence_lock", doc="fence->lock"),
                                        Attr("signaled", "bool", False, "signalled at the start"))))
    p.add_lock(Lock("fence_lock", "fence_lock", "spinlock", klass="&fence->lock", expr="&{}",
                    doc="fence->lock: protects the callback list and the signalled bit"))
    p.add_field(Field("fence", "signaled", BOOL, lambda cfg, k: int(cfg.of("fence")[k].signaled),
                      "DMA_FENCE_FLAG_SIGNALED_BIT"))
    p.add_field(Field("fence", "cb_job", lambda cfg, k: INT(0, len(cfg.of("job"))), 0,
                      "fence->cb_list: 0 empty, k+1 the kill-jobs callback of job k"))


def lock_of(t, f: int):
    """The owner field of fence ``f``'s spinlock."""
    return t.v.fence_lock[t.cfg.of("fence")[f].lock]


def add_callback_ret(t):
    """dma_fence_add_callback's return value: 0 added, 1 -ENOENT (already signalled)."""
    return t.local("add_cb_ret", BOOL, 0)


def killed_jobs(cfg) -> list[int]:
    return sorted({e.job for e in cfg.of("entity")})


@procedure("dma_fence_add_callback", f"{SRC}:dma_fence_add_callback")
def dma_fence_add_callback(t, f: int, job: int):
    """Add the kill-jobs callback of ``job`` to fence ``f``, or -ENOENT if it has signalled."""
    v, ret, lk = t.v, add_callback_ret(t), lock_of(t, f)
    fname = t.cfg.of("fence")[f].name
    take, up = spin_lock_irqsave(t, lk, "add_cb")
    rel, ev = spin_unlock_irqrestore(t, lk, "add_cb")
    return [
        Step("dma_fence_is_signaled", [
            Branch(v.signaled[f], {ret: 1}, goto=RETURN, note=f"{fname} already signalled: -ENOENT"),
            Branch(~v.signaled[f], note=f"{fname} not signalled yet"),
        ], "Test the signalled bit without the lock; a signalled fence returns -ENOENT at once.",
            source=f"{SRC}:dma_fence_add_callback"),
        Step(f"spin_lock_irqsave({fname})", [Branch(take, up)],
             "Take fence->lock with interrupts disabled (spins while anyone, this CPU too, holds it).",
             source=f"{SRC}:dma_fence_add_callback"),
        Step("list_add_tail", [
            Branch(~v.signaled[f], {v.cb_job[f]: job + 1, ret: 0, **rel}, goto=RETURN, events=(ev,),
                   note="enable signalling, add the callback to cb_list, unlock"),
            Branch(v.signaled[f], {ret: 1, **rel}, goto=RETURN, events=(ev,),
                   note="signalled meanwhile: -ENOENT, unlock"),
        ], "Under fence->lock add the callback unless the fence signalled; spin_unlock_irqrestore.",
            source=f"{SRC}:dma_fence_add_callback"),
    ]


@procedure("dma_fence_signal", f"{SRC}:dma_fence_signal")
def dma_fence_signal(t, f: int):
    """Signal fence ``f``: set the bit and run every callback with fence->lock held."""
    v, lk = t.v, lock_of(t, f)
    fname = t.cfg.of("fence")[f].name
    take, up = spin_lock_irqsave(t, lk, "signal")
    rel, ev = spin_unlock_irqrestore(t, lk, "signal")
    jobs = killed_jobs(t.cfg)
    # one signaller per fence (actors.check_config): the -EINVAL of a second signal is not modelled
    run = [Branch(~v.signaled[f] & (v.cb_job[f] == 0), {v.signaled[f]: 1},
                  goto="spin_unlock_irqrestore", note="no callback on cb_list")]
    run += [Branch(~v.signaled[f] & (v.cb_job[f] == j + 1), {v.signaled[f]: 1, v.cb_job[f]: 0},
                   goto=f"cb({t.cfg.of('job')[j].name})",
                   note=f"run the kill-jobs callback of {t.cfg.of('job')[j].name} with {fname}'s lock held")
            for j in jobs]
    return [
        Step(f"spin_lock_irqsave({fname})", [Branch(take, up)],
             "Take fence->lock with interrupts disabled.", source=f"{SRC}:dma_fence_signal"),
        Step("dma_fence_signal_timestamp_locked", run,
             "Set the signalled bit and detach cb_list; call each callback, fence->lock still held.",
             source=f"{SRC}:dma_fence_signal_timestamp_locked"),
        *[Call(f"cb({t.cfg.of('job')[j].name})", "drm_sched_entity_kill_jobs_cb",
               {"f": f, "job": j}, goto="spin_unlock_irqrestore") for j in jobs],
        Step("spin_unlock_irqrestore", [Branch(do=rel, events=(ev,), goto=RETURN)],
             "Release fence->lock and restore the interrupt state.", source=f"{SRC}:dma_fence_signal"),
    ]
