"""The threads a drm-sched config may run, and the rules of a config.

* ``entity_kill``: drm_sched_entity_fini -> drm_sched_entity_kill, process
  context (a process exiting: Mesa issue 13908's trigger);
* ``add_dependency``: a submission building another job (drm_sched_job_add_dependency);
* ``fence_irq``: a hard-IRQ handler (:mod:`model.irq`): the driver's fence
  interrupt completes a job, whose drm_sched_job_done signals a scheduler
  finished fence; one arrival, on the CPU the config gives it;
* ``kill_jobs_work``: implicit, one kworker per killed job, idle until
  job->work is queued.

Every explicit actor has a ``cpu`` key (default 0).
"""
from __future__ import annotations

from ..config import ConfigError
from ..irq import CPU
from ..schema import ActorKind, Attr

KINDS = [
    ActorKind("entity_kill", "drm_sched_entity_kill", "entity", lambda cfg, a: {"ent": a.target},
              params=(CPU,), doc="drm_sched_entity_kill of an entity with a queued job (process context)"),
    ActorKind("add_dependency", "drm_sched_job_add_dependency", "job",
              lambda cfg, a: {"job": a.target, "dep": a.dep},
              params=(Attr("dep", "ref:fence", doc="the fence added to job->dependencies"), CPU),
              doc="drm_sched_job_add_dependency while a job is built (process context)"),
    ActorKind("fence_irq", "drm_sched_job_done", "fence", lambda cfg, a: {"f": a.target},
              params=(CPU,), idle=True, irq=True,
              doc="a hard IRQ: the job's hardware fence completes and its finished fence is signalled"),
    ActorKind("kill_jobs_work", "process_one_work", "job", lambda cfg, a: {"job": a.target},
              per="job", idle=True, when=lambda cfg, j: any(e.job == j.index for e in cfg.of("entity")),
              thread_name=lambda n: f"kworker.{n}",
              doc="the kworker running job->work (drm_sched_entity_kill_jobs_work)"),
]


def check_config(cfg):
    for e in cfg.of("entity"):
        if cfg.of("job")[e.job].deps and e.last_scheduled in cfg.of("job")[e.job].deps:
            raise ConfigError(f"{cfg.name}: entity {e.name}: its job may not depend on last_scheduled")
    irqs = [a for a in cfg.actors if a.kind == "fence_irq"]
    fences = [a.target for a in irqs]
    if len(set(fences)) != len(fences):
        raise ConfigError(f"{cfg.name}: a fence is signalled by one fence_irq at most")


def declare(p):
    for k in KINDS:
        p.add_actor_kind(k)
    p.add_config_check(check_config)
