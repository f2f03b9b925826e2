"""The protocols revoke-check knows, by name: ``--protocol NAME`` chooses one.

A protocol is a package of object kinds, locks, procedures, actor kinds,
configs, properties and variants, all written in the one model language
(:mod:`model.lang`, :mod:`model.schema`).  Each entry maps a name to the
factory of its ``upstream`` :class:`~model.protocol.Protocol` and to its
registry of variants (name -> ``fn(p)``).

* ``vfio-dmabuf`` (the default): the vfio-pci dma-buf revoke and locking
  protocol, ``model/*.py`` and :data:`model.variants.VARIANTS`;
* ``drm-sched``: drm_sched entity kill and dma_fence callbacks in interrupt
  context, ``model/drm_sched/``.
"""
from __future__ import annotations

import importlib

__all__ = ["DEFAULT", "PROTOCOLS", "names", "upstream_of", "variants_of", "check_name"]

DEFAULT = "vfio-dmabuf"

# name -> (module of the upstream factory, factory, module of the variants, registry, doc)
PROTOCOLS = {
    "vfio-dmabuf": ("revoke_check.model.protocol", "upstream", "revoke_check.model.variants", "VARIANTS",
                    "vfio-pci dma-buf revoke and locking (memory_lock, resv, hot reset)"),
    "drm-sched": ("revoke_check.model.drm_sched", "upstream", "revoke_check.model.drm_sched.variants", "VARIANTS",
                  "drm_sched entity kill, dma_fence callbacks in hard-IRQ context"),
}


def names() -> list[str]:
    return list(PROTOCOLS)


def check_name(name: str | None) -> str:
    name = name or DEFAULT
    if name not in PROTOCOLS:
        from .variants import VariantError
        raise VariantError(f"unknown protocol {name!r} (known: {', '.join(PROTOCOLS)})")
    return name


def upstream_of(name: str | None):
    """A fresh copy of the named protocol's upstream."""
    mod, fn, *_ = PROTOCOLS[check_name(name)]
    p = getattr(importlib.import_module(mod), fn)()
    p.family = check_name(name)
    return p


def variants_of(name: str | None) -> dict:
    """The named protocol's registry of built-in variants (name -> fn(p))."""
    _, _, mod, reg, _ = PROTOCOLS[check_name(name)]
    m = importlib.import_module(mod)
    if check_name(name) == DEFAULT:
        from .variants import _load_builtin_series
        _load_builtin_series()
    return getattr(m, reg)
