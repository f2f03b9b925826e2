"""Which kernel threads a config may run, and the procedure each one enters.

Every actor of a config is one thread of a declared :class:`~model.schema.ActorKind`;
every buf also gets the deferred ``dma_buf_release`` work item, and with
``runtime_pm`` every open device the PM core's suspend work: threads that
idle until there is work.  The failures configs may inject, the
``runtime_pm`` setting and the rules a config must follow are declared here
too.
"""
from __future__ import annotations

from .config import ConfigError
from .lang import Call
from .protocol import procedure
from .schema import ActorKind, Attr

IOCTL = ("vfio_device_fops_unl_ioctl", lambda cfg: cfg.runtime_pm)
CONFIG_ACCESS = ("vfio_pci_rw", lambda cfg: cfg.runtime_pm)


def _dev(cfg, a):
    return {"vdev": a.target}


KINDS = [
    ActorKind("hot_reset", "vfio_pci_dev_set_hot_reset", "device", key="via", holds_fd=True,
              needs_open=True, thread_name=lambda _: "hot_reset",
              doc="VFIO_DEVICE_PCI_HOT_RESET through the fd of device `via`"),
    ActorKind("ioctl_reset", "vfio_pci_ioctl_reset", "device", _dev, holds_fd=True, needs_open=True,
              wrap=IOCTL, doc="VFIO_DEVICE_RESET"),
    ActorKind("config_write", "pwrite_pci_command", "device",
              lambda cfg, a: {"vdev": a.target, "values": a.mem}, holds_fd=True, needs_open=True,
              params=(Attr("mem", "list:bool", (), "the MEM bit values written, in order"),),
              doc="PCI_COMMAND memory-bit writes"),
    ActorKind("config_flr", "vfio_exp_config_write", "device", _dev, holds_fd=True, needs_open=True,
              wrap=CONFIG_ACCESS, doc="PCIe FLR through the config space"),
    ActorKind("feature_dma_buf", "vfio_pci_core_feature_dma_buf", "buf",
              lambda cfg, a: {"buf": a.target}, holds_fd=True, wrap=IOCTL,
              doc="VFIO_DEVICE_FEATURE_DMA_BUF"),
    ActorKind("importer", "importer", "importer", lambda cfg, a: {"imp": a.target},
              doc="a dynamic dma-buf importer"),
    ActorKind("close_fd", "close_fd", "buf", lambda cfg, a: {"buf": a.target},
              doc="userspace closes the dma-buf fd"),
    ActorKind("close_device", "vfio_pci_core_close_device", "device", _dev, needs_open=True,
              doc="last close of the device fd"),
    ActorKind("bar_fault", "vfio_pci_mmap_huge_fault", "device", _dev, holds_fd=True, needs_open=True,
              doc="a CPU page fault on an mmap of a BAR"),
    ActorKind("low_power_entry", "vfio_pci_runtime_pm_entry", "device", _dev, holds_fd=True,
              needs_open=True, wrap=IOCTL,
              doc="VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY (no wake eventfd)"),
    ActorKind("low_power_exit", "vfio_pci_runtime_pm_exit", "device", _dev, holds_fd=True,
              needs_open=True, wrap=IOCTL, doc="VFIO_DEVICE_FEATURE_LOW_POWER_EXIT"),
    # implicit threads: one per object, idle until there is work
    ActorKind("dma_buf_release", "vfio_pci_dma_buf_release", "buf", lambda cfg, a: {"buf": a.target},
              per="buf", idle=True, doc="the deferred dma_buf_release after the last fput"),
    ActorKind("pm_core", "vfio_pci_core_runtime_suspend", "device", _dev, per="device", idle=True,
              when=lambda cfg, d: cfg.runtime_pm and d.open, thread_name=lambda n: f"pm_runtime.{n}",
              doc="the PM core suspending an idle device"),
]

INJECTS = [
    Attr("ownership_fails", "list:ref:device", [], "hot reset: these devices may not be owned by the caller"),
    Attr("reset_fails", "bool", False, "pci_try_reset_function / pci_reset_bus may fail"),
    Attr("dma_buf_fd_fails", "bool", False, "dma_buf_fd may fail (fd table full)"),
    Attr("config_write_fails", "bool", False, "the PCI_COMMAND write may fail after memory_lock is taken"),
]


def check_config(cfg):
    """The rules of an upstream config: who creates a buf, which devices must be open."""
    for b in cfg.bufs:
        creators = [a for a in cfg.actors if a.kind == "feature_dma_buf" and a.target == b.index]
        if not b.exists and not creators:
            raise ConfigError(f"{cfg.name}: buf {b.name} does not exist and no feature_dma_buf actor creates it")
        if b.exists and creators:
            raise ConfigError(f"{cfg.name}: buf {b.name} exists at the start and is also created by an actor")
        if not cfg.devices[b.dev].open:
            raise ConfigError(f"{cfg.name}: buf {b.name} belongs to {cfg.devices[b.dev].name}, which is not open")
    for a in cfg.actors:
        ak = cfg.actor_kinds[a.kind]
        d = cfg.actor_device(a)
        if ak.needs_open and d is not None and not cfg.devices[d].open:
            raise ConfigError(f"{cfg.name}: actor {a.name} needs {cfg.devices[d].name} open")
        if not cfg.runtime_pm and a.kind in ("low_power_entry", "low_power_exit"):
            raise ConfigError(f"{cfg.name}: actor {a.name} needs runtime_pm = true")


def declare(p):
    for k in KINDS:
        p.add_actor_kind(k)
    for a in INJECTS:
        p.add_inject(a)
    p.add_setting(Attr("runtime_pm", "bool", False,
                       "model runtime PM: ioctls resume the device, the PM core may suspend it"))
    p.add_config_check(check_config)


@procedure("pwrite_pci_command", "userspace:pwrite(PCI_COMMAND)")
def pwrite_pci_command(t, vdev: int, values: tuple):
    """Userspace writes the PCI_COMMAND memory bit once per value, in order."""
    if t.cfg.runtime_pm:
        return [Call(f"write{k}", "vfio_pci_rw",
                     {"vdev": vdev, "inner": "vfio_basic_config_write", "args": {"vdev": vdev, "mem": m}})
                for k, m in enumerate(values)]
    return [Call(f"write{k}", "vfio_basic_config_write", {"vdev": vdev, "mem": m})
            for k, m in enumerate(values)]
