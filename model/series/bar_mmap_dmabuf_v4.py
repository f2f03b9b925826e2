"""vfio/pci: Convert BAR mmap() to use a DMABUF -- v4.

Matt Evans, 2026-07-01, 10 patches on v7.1, message id
20260701171245.90111… (kernel-2026 §4.1).  Before ``vdev->dmabuf_lock``:

* adds ``priv->status`` {OK, TEMP_REVOKED, PERM_REVOKED}, the per-buf PTEs of
  the dma-buf's address_space, the VMA, ``priv->vfile`` and ``mm->mmap_lock``
  (``_bar_mmap_common.declare_state``);
* every BAR ``mmap()`` creates an internal dma-buf inside ``mmap()`` with
  mmap_lock held for write; its export, like VFIO_DEVICE_FEATURE_DMA_BUF,
  takes memory_lock(W) -> resv as mainline does and sets the initial status
  from ``__vfio_pci_memory_enabled``;
* the fault: L(resv); status OK? else SIGBUS; vdev = priv->vdev;
  try_get_registration; U(resv); L(memory_lock R); re-check; insert the PFN
  (SIGBUS if engaged or !memory_enabled); U; put_registration;
* revoke per buf: L(resv); TEMP_REVOKED; invalidate; fence wait; U(resv);
  kref_put; wait_for_completion; unmap_mapping_range; kref_init;
  reinit_completion.  Un-revoke: one resv section TEMP_REVOKED -> OK (the
  invalidate and the wait were dropped after Kevin Tian's review of v3);
* VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE sets PERM_REVOKED; in v3/v4
  ``vfio_pci_dma_buf_set_status`` asserts memory_lock held for write, so the
  ioctl is modelled under memory_lock(W) [? the ioctl body was not read].

Actor kinds added: ``bar_mmap``, ``dmabuf_fault``, ``dmabuf_revoke``, and
``bar_rw_user_copy`` (nvgrace-gpu's BAR read(), not the series', for the lock
graph of kernel-2026 §4.1 invariant 6).
Configs added: ``bar-mmap``, ``bar-mmap-two``, ``bar-mmap-revoke``,
``bar-mmap-lowpower``, ``bar-mmap-hotreset``, ``bar-mmap-nvgrace``, ``bar-mmap-nvgrace-busy``,
``bar-mmap-nvgrace-fault``.
"""
from revoke_check.model.variants import variant

from . import _bar_mmap_common as common

TITLE = "vfio/pci: Convert BAR mmap() to use a DMABUF"
VERSION, DATE, MSGID = "v4", "2026-07-01", "20260701171245.90111…"

CONFIGS = {
    "bar-mmap": {
        "doc": "One device: a BAR mmap (internal dma-buf) faulted by a CPU while VFIO_DEVICE_RESET and a "
               "PCI_COMMAND writer revoke and un-revoke it, then the device is closed.",
        "devices": [{"name": "dev0"}],
        "bufs": [{"name": "m0", "dev": "dev0", "exists": False, "mmap": True}],
        "actors": [{"kind": "bar_mmap", "buf": "m0"}, {"kind": "dmabuf_fault", "buf": "m0"},
                   {"kind": "config_write", "dev": "dev0", "mem": [False, True]},
                   {"kind": "ioctl_reset", "dev": "dev0"},
                   {"kind": "close_device", "dev": "dev0"}],
    },
    "bar-mmap-two": {
        "doc": "Two BAR mmaps of one device, each faulted once, an exported buf with an importer, and a "
               "PCI_COMMAND writer revoking and un-revoking them all.",
        "devices": [{"name": "dev0"}],
        "bufs": [{"name": "buf0", "dev": "dev0"},
                 {"name": "m0", "dev": "dev0", "exists": False, "mmap": True},
                 {"name": "m1", "dev": "dev0", "exists": False, "mmap": True}],
        "importers": [{"name": "imp0", "buf": "buf0", "fences": False}],
        "actors": [{"kind": "bar_mmap", "buf": "m0"}, {"kind": "dmabuf_fault", "buf": "m0"},
                   {"kind": "bar_mmap", "buf": "m1"}, {"kind": "dmabuf_fault", "buf": "m1"},
                   {"kind": "config_write", "dev": "dev0", "mem": [False, True]},
                   {"kind": "importer", "importer": "imp0"}],
    },
    "bar-mmap-revoke": {
        "doc": "An exported buf that userspace mmaps and faults on while the REVOKE ioctl permanently "
               "revokes it and a PCI_COMMAND writer revokes and un-revokes the device.",
        "devices": [{"name": "dev0"}],
        "bufs": [{"name": "buf0", "dev": "dev0"}],
        "actors": [{"kind": "bar_mmap", "buf": "buf0"}, {"kind": "dmabuf_fault", "buf": "buf0"},
                   {"kind": "dmabuf_revoke", "buf": "buf0"},
                   {"kind": "config_write", "dev": "dev0", "mem": [False, True]}],
    },
    "bar-mmap-hotreset": {
        "doc": "A dev_set of two open devices: hot reset through dev0 (dev1 may not be owned) against the "
               "REVOKE ioctl on dev0's exported buf and a BAR mmap of dev1 with its fault.",
        "devices": [{"name": "dev0"}, {"name": "dev1"}],
        "bufs": [{"name": "buf0", "dev": "dev0"},
                 {"name": "m1", "dev": "dev1", "exists": False, "mmap": True}],
        "actors": [{"kind": "hot_reset", "via": "dev0"}, {"kind": "dmabuf_revoke", "buf": "buf0"},
                   {"kind": "bar_mmap", "buf": "m1"}, {"kind": "dmabuf_fault", "buf": "m1"}],
        "inject": {"ownership_fails": ["dev1"]},
    },
    "bar-mmap-nvgrace": {
        "doc": "A BAR mmap() (export inside mmap_lock(W)) races an nvgrace-gpu BAR read() that holds "
               "memory_lock(R) across copy_to_user.",
        "devices": [{"name": "dev0"}],
        "bufs": [{"name": "m0", "dev": "dev0", "exists": False, "mmap": True}],
        "actors": [{"kind": "bar_mmap", "buf": "m0"}, {"kind": "bar_rw_user_copy", "dev": "dev0"}],
    },
    "bar-mmap-nvgrace-busy": {
        "doc": "bar-mmap-nvgrace beside an exported buf, its importer and a "
               "PCI_COMMAND writer.",
        "devices": [{"name": "dev0"}],
        "bufs": [{"name": "buf0", "dev": "dev0"},
                 {"name": "m0", "dev": "dev0", "exists": False, "mmap": True}],
        "importers": [{"name": "imp0", "buf": "buf0", "fences": False}],
        "actors": [{"kind": "bar_mmap", "buf": "m0"}, {"kind": "bar_rw_user_copy", "dev": "dev0"},
                   {"kind": "config_write", "dev": "dev0", "mem": [False, True]},
                   {"kind": "importer", "importer": "imp0"}],
    },
    "bar-mmap-nvgrace-fault": {
        "doc": "bar-mmap-nvgrace plus a CPU fault on the mapping (mmap_lock(R) -> memory_lock(R)).",
        "devices": [{"name": "dev0"}],
        "bufs": [{"name": "m0", "dev": "dev0", "exists": False, "mmap": True}],
        "actors": [{"kind": "bar_mmap", "buf": "m0"}, {"kind": "dmabuf_fault", "buf": "m0"},
                   {"kind": "bar_rw_user_copy", "dev": "dev0"}],
    },
    "bar-mmap-lowpower": {
        "doc": "LOW_POWER_ENTRY revokes an exported buf while the process mmaps a BAR (a new internal "
               "dma-buf) and faults on it; runtime PM may suspend the device.",
        "runtime_pm": True,
        "devices": [{"name": "dev0"}],
        "bufs": [{"name": "buf0", "dev": "dev0"},
                 {"name": "m0", "dev": "dev0", "exists": False, "mmap": True}],
        "actors": [{"kind": "low_power_entry", "dev": "dev0"},
                   {"kind": "bar_mmap", "buf": "m0"}, {"kind": "dmabuf_fault", "buf": "m0"}],
    },
}


def apply_v4(p):
    """The v4 patch: memory_lock protects status; export and REVOKE take memory_lock(W)."""
    common.apply(p, export=common.export_v4, fault=common.dmabuf_fault,
                 revoke_ioctl=common.revoke_ioctl_v4, dmabuf_lock=False)


@variant("bar-mmap-dmabuf-v4")
def bar_mmap_dmabuf_v4(p):
    """Matt Evans, vfio/pci: Convert BAR mmap() to use a DMABUF, v4 (2026-07-01): status, BAR-mmap dma-bufs, REVOKE; no dmabuf_lock."""  # noqa: E501 -- one line: the variant's summary in revoke-check list
    apply_v4(p)
    for name, raw in CONFIGS.items():
        p.add_config(name, raw)


def revoke_ioctl_read_locked(t, buf: int):
    """RFC v2 08/10: vfio_pci_dma_buf_revoke ran the revoke under memory_lock held for *read*."""
    from revoke_check.model.lang import step
    from revoke_check.model.locks import NONE
    v = t.v
    d = t.cfg.bufs[buf].dev
    rd = v.memory_lock_readers[d]
    take = [step("down_read(memory_lock)", "Take memory_lock for read (scoped_guard(rwsem_read)).",
                 when=v.memory_lock[d] == NONE, do={rd: rd + 1}, events=(common.takes("memory_lock"),),
                 source=f"{common.DMABUF}:vfio_pci_dma_buf_revoke")]
    return common.revoke_ioctl(t, buf, take, {rd: rd - 1}, (), "memory_lock(R)")


@variant("bar-mmap-dmabuf-v4-revoke-read-lock")
def bar_mmap_dmabuf_v4_revoke_read_lock(p):
    """v4 with the REVOKE locking of RFC v2 (2026-03-12, 20260312184613.3710705-9-mattev@meta.com): memory_lock(R) only.

    Historical: RFC v2's vfio_pci_dma_buf_revoke took memory_lock for read,
    the lock the fault also holds for read while it re-checks the status and
    inserts the PFN; v2 (2026-05-27) took it for write, v7 moved the
    exclusion to dmabuf_lock(W).  Everything else is v4.
    """
    apply_v4(p)
    p.replace_procedure("vfio_pci_core_feature_dma_buf_revoke", revoke_ioctl_read_locked)
    for name, raw in CONFIGS.items():
        p.add_config(name, raw)
