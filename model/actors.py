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
}


@procedure("pwrite_pci_command", "userspace:pwrite(PCI_COMMAND)")
def pwrite_pci_command(t, vdev: int, values: tuple):
    """Userspace writes the PCI_COMMAND memory bit once per value, in order."""
    return [Call(f"write{k}", "vfio_basic_config_write", {"vdev": vdev, "mem": m})
            for k, m in enumerate(values)]


def threads_of(cfg: Config) -> list[tuple]:
    """(thread name, kind, entry procedure, args, idles) for every thread of ``cfg``."""
    out = []
    for a in cfg.actors:
        entry, args = ENTRY[a.kind]
        out.append((a.name, a.kind, entry, args(a), False))
    for b, buf in enumerate(cfg.bufs):
        out.append((f"dma_buf_release.{buf.name}", "dma_buf_release",
                    "vfio_pci_dma_buf_release", {"buf": b}, True))
    return out
