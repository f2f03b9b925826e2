"""drivers/vfio/pci/vfio_pci_config.c: PCI_COMMAND memory-bit writes and config-space FLR.

vfio_basic_config_write() for PCI_COMMAND:
  MEM cleared -> vfio_pci_zap_and_down_write_memory_lock(); move(true)
  else        -> down_write(&vdev->memory_lock)
  count = vfio_default_config_write(); on error: up_write, return (no un-revoke)
  update the virtual MEM bit; if __vfio_pci_memory_enabled -> move(false); up_write
"""
from __future__ import annotations

from .expr import BOOL
from .lang import Branch, Call, Event, NEXT, RETURN, Step, step
from .locks import down_write, rwsem_write_free, up_write, zap_and_down_write
from .protocol import procedure
from .schema import Field
from .vfio_pci_core import reset_function

SRC = "drivers/vfio/pci/vfio_pci_config.c"


def declare(p):
    """vdev->vconfig, the virtual config space, and its PCI_COMMAND MEM bit."""
    p.add_field(Field("device", "vconfig", BOOL, lambda cfg, d: cfg.devices[d].open,
                      "vdev->vconfig allocated (vfio_config_init .. vfio_pci_core_disable)"))
    p.add_field(Field("device", "vmem", BOOL, lambda cfg, d: cfg.devices[d].open and cfg.devices[d].mem,
                      "PCI_COMMAND_MEMORY in the virtual config space"))


@procedure("vfio_basic_config_write", f"{SRC}:vfio_basic_config_write")
def vfio_basic_config_write(t, vdev: int, mem: bool):
    v, cfg = t.v, t.cfg
    unlock, ev = up_write(t, vdev)
    ev_E = Event("mem_enabled_eval", (vdev,))
    write = [Branch(do={v.vmem[vdev]: int(mem)}, goto=NEXT if mem else "up_write",
                    choice="write ok" if cfg.may("config_write_fails") else None,
                    events=(ev_E,),
                    note="memory enabled: un-revoke" if mem else "memory disabled")]
    if cfg.may("config_write_fails"):
        write.append(Branch(goto="up_write", choice="write fails",
                            note="-EIO: up_write and return, no un-revoke on this path"))
    lock = ([step("zap_and_down_write", "MEM cleared: take memory_lock for write and zap the BAR mmaps.",
                  when=rwsem_write_free(v, vdev), do=zap_and_down_write(t, vdev)),
             Call("revoke", "vfio_pci_dma_buf_move", {"vdev": vdev, "revoked": True})]
            if not mem else
            [step("down_write", "MEM set: take memory_lock for write.",
                  when=rwsem_write_free(v, vdev), do=down_write(t, vdev))])
    # with MEM cleared memory_enabled is false after the write: the un-revoke is dead code
    unrevoke = [Call("unrevoke", "vfio_pci_dma_buf_move", {"vdev": vdev, "revoked": False})] if mem else []
    return lock + [
        Step("vfio_default_config_write", write,
             "Write PCI_COMMAND through to the device and update the virtual MEM bit."),
        *unrevoke,
        step("up_write", "Release memory_lock.", do=unlock,
             events=(ev, Event("revoke_window_end", (vdev,))), goto=RETURN),
    ]


@procedure("vfio_exp_config_write", f"{SRC}:vfio_exp_config_write")
def vfio_exp_config_write(t, vdev: int):
    return reset_function(t, vdev, "PCIe FLR bit written")
