"""Historical versions of the drm-sched protocol, each an edit of its upstream.

``kill-jobs-cb-in-irq``: drm_sched before "drm/sched: Fix deadlock in
drm_sched_entity_kill_jobs_cb" (Pierre-Eric Pelloux-Prayer, reviewed by
Christian König, Nov 2025; Mesa issue 13908): the fence callback walks
job->dependencies itself, with the signalled fence's lock held and possibly
in hard-IRQ context, and only queues job->work for the final signal-and-free.
"""
from __future__ import annotations

from .sched_entity import SRC, _free_job, _schedule_work, dependency_walk

__all__ = ["VARIANTS", "variant"]

VARIANTS: dict = {}


def variant(name: str, doc: str = ""):
    """Register ``fn(p)`` as a variant of the drm-sched upstream."""
    def deco(fn):
        fn.variant_name, fn.variant_doc = name, doc or (fn.__doc__ or "").strip()
        VARIANTS[name] = fn
        return fn
    return deco


@variant("kill-jobs-cb-in-irq")
def kill_jobs_cb_in_irq(p):
    """Before the fix: drm_sched_entity_kill_jobs_cb walks job->dependencies (xa_erase,
    dma_fence_add_callback) as a fence callback, under fence->lock, in hard-IRQ context.

    xa_lock is then taken in hard-IRQ context and elsewhere with interrupts
    enabled (drm_sched_job_add_dependency), and a dependency fence sharing
    the signalled fence's lock deadlocks its own CPU.
    """
    def cb(t, job, f=None):
        fn = "drm_sched_entity_kill_jobs_cb"
        return dependency_walk(t, job, fn, [_schedule_work(t, job, fn)])

    def work(t, job):
        return [_free_job(t, job, "drm_sched_entity_kill_jobs_work")]

    p.replace_procedure("drm_sched_entity_kill_jobs_cb", cb, f"{SRC}:drm_sched_entity_kill_jobs_cb")
    p.replace_procedure("drm_sched_entity_kill_jobs_work", work, f"{SRC}:drm_sched_entity_kill_jobs_work")
