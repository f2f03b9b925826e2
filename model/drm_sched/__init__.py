"""A second protocol: drm_sched entity kill and dma_fence callbacks in interrupt context.

``revoke-check --protocol drm-sched``.  Its modules are named after the
kernel files they model (``dma_fence`` = drivers/dma-buf/dma-fence.c,
``sched_main`` and ``sched_entity`` = drivers/gpu/drm/scheduler/), each with
``declare(p)`` and its procedures; ``actors`` declares the kinds of threads
(one of them a hard-IRQ handler, :mod:`model.irq`), ``properties`` the
properties, ``configs.toml`` the configs and ``variants`` the historical
versions.  ``upstream`` is the kernel after the October 2025 fix (the
dependency walk of a killed job runs in ``drm_sched_entity_kill_jobs_work``);
variant ``kill-jobs-cb-in-irq`` is the kernel before it (Mesa issue 13908).
"""
from __future__ import annotations

from pathlib import Path

from ..protocol import Protocol, add_module

__all__ = ["upstream", "MODULES", "CONFIG_FILE", "NAME"]

NAME = "drm-sched"
CONFIG_FILE = Path(__file__).with_name("configs.toml")
MODULES = "dma_fence sched_main sched_entity actors".split()

_UPSTREAM: Protocol | None = None


def _modules():
    from . import actors, dma_fence, sched_entity, sched_main
    return [dma_fence, sched_main, sched_entity, actors]


def upstream() -> Protocol:
    """drm_sched after "drm/sched: Fix deadlock in drm_sched_entity_kill_jobs_cb" (v6.18)."""
    global _UPSTREAM
    if _UPSTREAM is None:
        from . import properties
        p = Protocol("upstream", doc="drm_sched after the kill_jobs_cb fix: the dependency walk runs "
                                     "in drm_sched_entity_kill_jobs_work (v6.18-rc, Nov 2025).")
        p.family = NAME
        for m in _modules():
            add_module(p, m)
        for prop in properties.ALL:
            p.add_property(prop)
        p.add_configs_file(CONFIG_FILE)
        _UPSTREAM = p
    return _UPSTREAM.copy("upstream", _UPSTREAM.doc)
