"""Which kernel threads a config runs, and the procedure each one enters.

Every actor of the config is one thread; every buf also gets the deferred
``dma_buf_release`` work item, a thread that idles until the last fput.
"""
from __future__ import annotations

from .config import Config
from .lang import Call
from .protocol import procedure

ENTRY = {
    "hot_reset": ("vfio_pci_dev_set_hot_reset", lambda a: {}),
    "ioctl_reset": ("vfio_pci_ioctl_reset", lambda a: {"vdev": a.target}),
    "config_write": ("pwrite_pci_command", lambda a: {"vdev": a.target, "values": a.mem}),
    "config_flr": ("vfio_exp_config_write", lambda a: {"vdev": a.target}),
    "feature_dma_buf": ("vfio_pci_core_feature_dma_buf", lambda a: {"buf": a.target}),
    "importer": ("importer", lambda a: {"imp": a.target}),
    "close_fd": ("close_fd", lambda a: {"buf": a.target}),
    "close_device": ("vfio_pci_core_close_device", lambda a: {"vdev": a.target}),
    "bar_fault": ("vfio_pci_mmap_huge_fault", lambda a: {"vdev": a.target}),
    "low_power_entry": ("vfio_pci_runtime_pm_entry", lambda a: {"vdev": a.target}),
    "low_power_exit": ("vfio_pci_runtime_pm_exit", lambda a: {"vdev": a.target}),
}

# with runtime_pm, these run inside vfio_device_fops_unl_ioctl's PM reference
IOCTLS = {"ioctl_reset", "feature_dma_buf", "low_power_entry", "low_power_exit"}
CONFIG_ACCESS = {"config_flr"}


@procedure("pwrite_pci_command", "userspace:pwrite(PCI_COMMAND)")
def pwrite_pci_command(t, vdev: int, values: tuple):
    """Userspace writes the PCI_COMMAND memory bit once per value, in order."""
    if t.cfg.runtime_pm:
        return [Call(f"write{k}", "vfio_pci_rw",
                     {"vdev": vdev, "inner": "vfio_basic_config_write", "args": {"vdev": vdev, "mem": m}})
                for k, m in enumerate(values)]
    return [Call(f"write{k}", "vfio_basic_config_write", {"vdev": vdev, "mem": m})
            for k, m in enumerate(values)]


def threads_of(cfg: Config) -> list[tuple]:
    """(thread name, kind, entry procedure, args, idles) for every thread of ``cfg``."""
    out = []
    for a in cfg.actors:
        entry, args = ENTRY[a.kind]
        args = args(a)
        if cfg.runtime_pm and (a.kind in IOCTLS or a.kind in CONFIG_ACCESS):
            d = cfg.bufs[a.target].dev if a.kind == "feature_dma_buf" else a.target
            wrapper = "vfio_device_fops_unl_ioctl" if a.kind in IOCTLS else "vfio_pci_rw"
            entry, args = wrapper, {"vdev": d, "inner": entry, "args": args}
        out.append((a.name, a.kind, entry, args, False))
    for b, buf in enumerate(cfg.bufs):
        out.append((f"dma_buf_release.{buf.name}", "dma_buf_release",
                    "vfio_pci_dma_buf_release", {"buf": b}, True))
    for name in cfg.pm_threads():
        d = [x.name for x in cfg.devices].index(name.split(".", 1)[1])
        out.append((name, "pm_core", "vfio_pci_core_runtime_suspend", {"vdev": d}, True))
    return out
