"""drivers/vfio/vfio_main.c: the registration count of a vfio_device, unregistration and the free.

``vfio_device.refcount`` (``registration``) starts at 1 for the registration
itself; each open device file holds one (taken by
``vfio_device_try_get_registration`` at open, dropped by
``vfio_device_fops_release``), and so does each dma-buf whose ``priv->vdev``
is set (taken in ``vfio_pci_core_feature_dma_buf``, dropped by
``vfio_pci_dma_buf_cleanup`` or ``vfio_pci_dma_buf_release``).
``vfio_pci_remove`` -> ``vfio_pci_core_unregister_device`` ->
``vfio_unregister_group_dev`` drops the base reference and waits for the
count to reach zero (``device->comp``; meanwhile ``vfio_pci_core_request``
asks userspace to close the device); then ``vfio_put_device`` frees the
``vfio_pci_core_device``.  In ``lifetimes`` configs the device file's
reference is modelled (``dev_file``) and an ``unregister`` actor removes
the device; ``vdev_freed`` is what every ``deref_vdev`` step is checked
against.
"""
from __future__ import annotations

from dataclasses import replace

from .config import ConfigError
from .expr import BOOL, INT
from .lang import DONE, step
from .protocol import procedure
from .schema import ActorKind

SRC = "drivers/vfio/vfio_main.c"


def _lifetimes(cfg) -> bool:
    return bool(cfg.setting("lifetimes", False))


def declare(p):
    """dev_file, unregistered, vdev_freed; the registration count widened for the device file; unregister."""
    p.add_field("device", "dev_file", BOOL, lambda cfg, d: _lifetimes(cfg) and cfg.devices[d].open,
                "lifetimes: the open device file holds a registration reference")
    p.add_field("device", "unregistered", BOOL, 0,
                "vfio_unregister_group_dev has dropped the base registration reference")
    p.add_field("device", "vdev_freed", BOOL, 0,
                "vfio_put_device has freed the vfio_pci_core_device")
    k = next(i for i, f in enumerate(p.fields) if f.name == "registration")
    old = p.fields[k]
    p.fields[k] = replace(
        old,
        domain=lambda cfg, d: INT(0, 1 + int(_lifetimes(cfg)) + len(cfg.bufs_of(d))),
        init=lambda cfg, d: (1 + int(_lifetimes(cfg) and cfg.devices[d].open)
                             + sum(cfg.bufs[b].exists for b in cfg.bufs_of(d))),
        doc="vfio_device.refcount: 1 (registered) + the open device file (lifetimes) + "
            "one per buf whose priv->vdev is set")
    p.add_actor_kind(ActorKind(
        "unregister", "vfio_unregister_group_dev", "device", lambda cfg, a: {"vdev": a.target},
        doc="vfio_pci_remove: vfio_unregister_group_dev waits for the registration count, then the free"))
    p.add_config_check(_check)


def _check(cfg):
    if not _lifetimes(cfg):
        return
    for b in cfg.bufs:
        if not b.exists:
            raise ConfigError(f"{cfg.name}: buf {b.name}: lifetimes configs start with every buf exported")
    if cfg.runtime_pm:
        raise ConfigError(f"{cfg.name}: lifetimes with runtime_pm is not modelled")


@procedure("vfio_unregister_group_dev", f"{SRC}:vfio_unregister_group_dev")
def vfio_unregister_group_dev(t, vdev: int):
    v = t.v
    reg = v.registration[vdev]
    return [
        step("vfio_device_put_registration", "Drop the base registration reference (new opens already fail).",
             do={v.unregistered[vdev]: 1, reg: reg - 1}),
        step("wait_for_completion",
             "Wait until the count is zero, re-sending the device request (vfio_pci_core_request) "
             "to userspace every 10 s.", when=reg == 0),
        step("vfio_put_device", "vfio_pci_remove: put the device; its release frees the vfio_pci_core_device.",
             do={v.vdev_freed[vdev]: 1}, goto=DONE, source="drivers/vfio/pci/vfio_pci.c:vfio_pci_remove"),
    ]
