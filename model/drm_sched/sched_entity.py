"""drivers/gpu/drm/scheduler/sched_entity.c: killing an entity and its queued jobs.

``drm_sched_entity_kill`` arms ``drm_sched_entity_kill_jobs_cb`` on the
previous job's finished fence (``entity->last_scheduled``), or calls it
directly when that fence has signalled.  Upstream (after the fix) the
callback only queues ``job->work``; ``drm_sched_entity_kill_jobs_work`` walks
``job->dependencies`` -- erasing each entry and re-arming the callback on the
first unsignalled fence -- and, once none is left, signals the job's fences
with -ESRCH and frees it.  Variant ``kill-jobs-cb-in-irq`` does the walk in
the callback itself, i.e. with the signalled fence's lock held, possibly in
hard-IRQ context.
"""
from __future__ import annotations

from ..lang import Branch, Call, DONE, RETURN, Step
from ..protocol import procedure
from ..irq import spin_lock, spin_unlock
from ..schema import Attr, ObjectKind
from .dma_fence import add_callback_ret

SRC = "drivers/gpu/drm/scheduler/sched_entity.c"


def declare(p):
    p.add_object_kind(ObjectKind("entity", "entities", "struct drm_sched_entity", ref="entity",
                                 doc="an entity being killed, with one queued job",
                                 attrs=(Attr("last_scheduled", "ref:fence",
                                             doc="entity->last_scheduled: the previous job's finished fence"),
                                        Attr("job", "ref:job", doc="the job in its queue"))))


def dependency_walk(t, job: int, fn: str, then: list) -> list:
    """``xa_for_each(&job->dependencies)``: erase each entry, re-arm the callback on the first
    unsignalled fence (and return), else go on with ``then``."""
    v, cfg = t.v, t.cfg
    deps = cfg.of("job")[job].deps
    n, idx, ret = len(deps), v.dep_idx[job], add_callback_ret(t)
    src = f"{SRC}:{fn}"
    if not n:
        return then
    own = v.xa_lock[job]
    take, up = spin_lock(t, own)
    rel, ev = spin_unlock(t, own)
    return [
        Step("xa_for_each", [
            Branch(idx == n, goto=then[0].label, note="no entry left: every dependency has signalled"),
            Branch(idx < n, note="next entry (found under RCU, no lock)"),
        ], "Look up the next entry of job->dependencies (xa_find under rcu_read_lock).", source=src),
        Step("xa_lock", [Branch(take, up, note="xa_erase: xa_lock, interrupts as they are")],
             "xa_erase takes the xarray's xa_lock with a plain spin_lock.", source=src),
        Step("xa_erase", [Branch(idx == k, {idx: k + 1, **rel}, goto=f"add_callback({cfg.of('fence')[d].name})",
                                 events=(ev,), note=f"erase entry {k} ({cfg.of('fence')[d].name}), xa_unlock")
                          for k, d in enumerate(deps)],
             "Erase the entry and release xa_lock.", source=src),
        *[Call(f"add_callback({cfg.of('fence')[d].name})", "dma_fence_add_callback",
               {"f": d, "job": job}, goto="rearmed") for d in dict.fromkeys(deps)],
        Step("rearmed", [
            Branch(ret == 0, goto=RETURN, note="callback armed on the dependency: return"),
            Branch(ret == 1, goto="xa_for_each", note="dependency already signalled: dma_fence_put, next"),
        ], "If the callback was added, the walk continues when that fence signals.", source=src),
        *then,
    ]


def _free_job(t, job: int, fn: str):
    v = t.v
    return Step("free_job", [Branch(do={v.freed[job]: 1}, goto=RETURN)],
                "drm_sched_fence_scheduled/finished(-ESRCH), then sched->ops->free_job(job).",
                source=f"{SRC}:{fn}")


def _schedule_work(t, job: int, fn: str):
    v = t.v
    return Step("schedule_work", [Branch(do={v.work_queued[job]: 1}, goto=RETURN)],
                "INIT_WORK(&job->work, drm_sched_entity_kill_jobs_work); schedule_work.",
                source=f"{SRC}:{fn}")


@procedure("drm_sched_entity_kill_jobs_cb", f"{SRC}:drm_sched_entity_kill_jobs_cb")
def drm_sched_entity_kill_jobs_cb(t, job: int, f: int | None = None):
    """Upstream: the fence callback only queues job->work (dma_fence_put of the fence aside)."""
    return [_schedule_work(t, job, "drm_sched_entity_kill_jobs_cb")]


@procedure("drm_sched_entity_kill_jobs_work", f"{SRC}:drm_sched_entity_kill_jobs_work")
def drm_sched_entity_kill_jobs_work(t, job: int):
    """Upstream: walk the dependencies in process context, then signal -ESRCH and free the job."""
    fn = "drm_sched_entity_kill_jobs_work"
    return dependency_walk(t, job, fn, [_free_job(t, job, fn)])


@procedure("drm_sched_entity_kill", f"{SRC}:drm_sched_entity_kill")
def drm_sched_entity_kill(t, ent: int):
    """Pop the entity's job and arm the kill callback on the previous finished fence (or call it)."""
    e = t.cfg.of("entity")[ent]
    ret = add_callback_ret(t)
    return [
        Call("dma_fence_add_callback(prev)", "dma_fence_add_callback",
             {"f": e.last_scheduled, "job": e.job}),
        Step("added", [
            Branch(ret == 0, goto=DONE, note="callback armed on entity->last_scheduled"),
            Branch(ret == 1, note="prev already signalled: call the callback directly"),
        ], "If dma_fence_add_callback failed, run drm_sched_entity_kill_jobs_cb(NULL, ...) here.",
            source=f"{SRC}:drm_sched_entity_kill"),
        Call("drm_sched_entity_kill_jobs_cb", "drm_sched_entity_kill_jobs_cb", {"job": e.job}, goto=DONE),
    ]
