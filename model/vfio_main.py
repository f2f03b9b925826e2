"""drivers/vfio/vfio_main.c (and vfio_pci_rw): runtime PM around every device access.

With ``runtime_pm`` configs, an ioctl or a config-space access is wrapped in
pm_runtime_resume_and_get .. pm_runtime_put; hot reset (one get per device of
the dev_set) and the sysfs reset (``reset_store``'s pm_runtime_get_sync) take
the same get through the ``pm_runtime_resume_and_get`` procedure.  Resuming a suspended device runs
vfio_pci_core_runtime_resume under memory_lock for write; without a wake
eventfd it leaves pm_runtime_engaged set and does not un-revoke.
"""
from __future__ import annotations

from .expr import BOOL, INT, and_
from .lang import Branch, Call, RETURN, Step, step
from .locks import rwsem_write_free, takes
from .protocol import procedure
from .schema import Field, Lock

SRC = "drivers/vfio/vfio_main.c"


def declare(p):
    """struct vfio_device (open_count, the registration refcount), struct vfio_device_set, runtime PM."""
    p.add_field(Field("device", "open", BOOL, lambda cfg, d: cfg.devices[d].open,
                      "vdev->vdev.open_count > 0 (protected by dev_set->lock)"))
    p.add_field(Field("device", "registration",
                      lambda cfg, d: INT(0, 1 + len(cfg.bufs_of(d))),
                      lambda cfg, d: 1 + sum(cfg.bufs[b].exists for b in cfg.bufs_of(d)),
                      "vfio_device.refcount: 1 + one per buf whose priv->vdev is set", refcount=True))
    p.add_field(Field("device", "pm_usage",
                      lambda cfg, d: INT(0, 1 + len(cfg.fd_users(d)) + len(_pm_holders(cfg, d))),
                      lambda cfg, d: int(cfg.devices[d].open),
                      "the runtime PM usage count (1 while open, -1 by LOW_POWER_ENTRY)", refcount=True))
    p.add_lock(Lock(None, "dev_set_lock", "mutex", klass="dev_set->lock", var="dev_set->lock",
                    expr="&dev_set->lock", doc="dev_set->lock: serialises open, close and hot reset"))


def _pm_holders(cfg, d) -> list:
    """Threads outside the device fd that take a runtime PM reference on ``d``.

    Hot reset takes one on every device of the dev_set (kernel-2026 §2.9 step 2),
    a sysfs reset on its device (pci-sysfs.c:reset_store); only under runtime PM.
    """
    if not cfg.runtime_pm:
        return []
    return [a for a in cfg.actors
            if a.kind == "hot_reset" or (a.kind == "sysfs_reset" and a.target == d)]


def pm_get(t, vdev: int, source: str) -> Step:
    v = t.v
    use = v.pm_usage[vdev]
    # rpm_resume waits while runtime_status is RPM_SUSPENDING (drivers/base/power/runtime.c)
    return Step("pm_runtime_resume_and_get", [
        Branch(and_(~v.d3[vdev], ~v.rpm_suspending[vdev]), {use: use + 1}, note="device active"),
        Branch(and_(v.d3[vdev], rwsem_write_free(v, vdev)), {use: use + 1, v.d3[vdev]: 0},
               events=(takes("memory_lock"),),
               note="suspended: vfio_pci_core_runtime_resume under memory_lock; engaged stays set"),
    ], "Take a runtime PM reference, resuming the device (its resume callback takes memory_lock).",
        source=source)


def pm_get_steps(t, vdev: int, source: str, then: str) -> list:
    """pm_get, plus the wake-eventfd resume of model/pm_runtime.py when a config arms one."""
    from .pm_runtime import wake_resume_steps
    return wake_resume_steps(t, vdev, pm_get(t, vdev, source), then)


def pm_put(t, vdev: int, source: str, goto=RETURN) -> Step:
    use = t.v.pm_usage[vdev]
    return step("pm_runtime_put", "Drop the runtime PM reference; the PM core may suspend the device now.",
                do={use: use - 1}, source=source, goto=goto)


@procedure("pm_runtime_resume_and_get", "drivers/base/power/runtime.c:__pm_runtime_resume")
def pm_runtime_resume_and_get(t, vdev: int, source: str):
    """A runtime PM get taken outside the ioctl wrapper (hot reset, sysfs reset): the same steps."""
    return pm_get_steps(t, vdev, source, RETURN)


@procedure("vfio_device_fops_unl_ioctl", f"{SRC}:vfio_device_fops_unl_ioctl")
def vfio_device_fops_unl_ioctl(t, vdev: int, inner: str, args: dict):
    """An ioctl on the device fd: vfio_device_pm_runtime_get, the ioctl, vfio_device_pm_runtime_put."""
    src = f"{SRC}:vfio_device_fops_unl_ioctl"
    return [*pm_get_steps(t, vdev, src, "ioctl"), Call("ioctl", inner, args), pm_put(t, vdev, src)]


@procedure("vfio_pci_rw", "drivers/vfio/pci/vfio_pci_core.c:vfio_pci_rw")
def vfio_pci_rw(t, vdev: int, inner: str, args: dict):
    """A config-space read/write on the device fd, with a runtime PM reference around it."""
    src = "drivers/vfio/pci/vfio_pci_core.c:vfio_pci_rw"
    return [*pm_get_steps(t, vdev, src, "access"), Call("access", inner, args), pm_put(t, vdev, src)]
