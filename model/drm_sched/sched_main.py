"""drivers/gpu/drm/scheduler/sched_main.c: jobs, their dependency xarray, job completion.

``job->dependencies`` is an xarray initialised with ``XA_FLAGS_ALLOC`` and no
``XA_FLAGS_LOCK_IRQ``: every ``xa_*`` call on it takes ``xa_lock`` with
interrupts enabled.  The model keeps the walk position of a killed job
(``xa_for_each`` visits the entries in index order and the walk erases each
one) and the lock; the fences themselves are the config's ``deps`` list.
"""
from __future__ import annotations

from ..expr import BOOL, INT
from ..irq import spin_lock, spin_unlock
from ..lang import Branch, Call, RETURN, Step
from ..protocol import procedure
from ..schema import Attr, Field, Lock, ObjectKind

SRC = "drivers/gpu/drm/scheduler/sched_main.c"


def declare(p):
    p.add_object_kind(ObjectKind("job", "jobs", "struct drm_sched_job", ref="job", required=True,
                                 doc="a job; deps are its job->dependencies, in index order",
                                 attrs=(Attr("deps", "list:ref:fence", [], "job->dependencies"),)))
    p.add_lock(Lock("job", "xa_lock", "spinlock", klass="&xa->xa_lock", expr="&{}->dependencies.xa_lock",
                    doc="job->dependencies' xa_lock, taken by xa_alloc/xa_store/xa_erase without "
                        "disabling interrupts"))
    p.add_field(Field("job", "dep_idx", lambda cfg, k: INT(0, len(cfg.of("job")[k].deps)), 0,
                      "entries of job->dependencies erased so far by the kill walk"))
    p.add_field(Field("job", "work_queued", BOOL, 0, "job->work is queued (schedule_work)"))
    p.add_field(Field("job", "freed", BOOL, 0,
                      "the killed job's fences were signalled with -ESRCH and free_job ran"))


@procedure("drm_sched_job_add_dependency", f"{SRC}:drm_sched_job_add_dependency")
def drm_sched_job_add_dependency(t, job: int, dep: int):
    """Add fence ``dep`` to ``job->dependencies`` (xa_alloc under xa_lock, interrupts on)."""
    v = t.v
    own = v.xa_lock[job]
    take, up = spin_lock(t, own)
    rel, ev = spin_unlock(t, own)
    return [
        Step("xa_lock", [Branch(take, up)],
             "xa_alloc takes the xarray's xa_lock with a plain spin_lock: interrupts stay enabled.",
             source=f"{SRC}:drm_sched_job_add_dependency"),
        Step("xa_unlock", [Branch(do=rel, events=(ev,), goto=RETURN,
                                  note=f"store {t.cfg.of('fence')[dep].name}, xa_unlock")],
             "__xa_alloc stores the fence in a free slot; xa_unlock.",
             source=f"{SRC}:drm_sched_job_add_dependency"),
    ]


@procedure("drm_sched_job_done", f"{SRC}:drm_sched_job_done")
def drm_sched_job_done(t, f: int):
    """The hardware fence's callback (driver interrupt): signal the scheduler's finished fence ``f``."""
    return [Call("drm_sched_fence_finished", "dma_fence_signal", {"f": f}, goto=RETURN)]


@procedure("process_one_work", "kernel/workqueue.c:process_one_work")
def process_one_work(t, job: int):
    """A kworker runs ``job->work`` each time it is queued (and idles otherwise)."""
    v = t.v
    return [
        Step("worker_thread", [Branch(v.work_queued[job], {v.work_queued[job]: 0},
                                      note="dequeue job->work")],
             "The kworker takes job->work off the pool's worklist (clearing its pending bit).",
             source="kernel/workqueue.c:process_one_work"),
        Call("work->func", "drm_sched_entity_kill_jobs_work", {"job": job}, goto="worker_thread"),
    ]
