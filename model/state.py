"""The state of the modelled kernel objects, one array per struct field.

``struct vfio_pci_core_device`` (per device of the dev_set), ``struct
vfio_device_set``, ``struct vfio_pci_dma_buf`` + its ``struct dma_buf``
(per buf) and ``struct dma_buf_attachment`` (per importer).  Lock owners are
enums of thread names so that lock-discipline can say who holds what.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import Config
from .expr import BOOL, ENUM, INT, and_, or_
from .lang import Array, StateBuilder

# enum of struct vfio_pci_dma_buf's life: kzalloc'd .. exported .. on vdev->dmabufs
# .. unlinked (cleanup or release) .. freed by vfio_pci_dma_buf_release.
PHASES = ("none", "exported", "listed", "unlisted", "freed")


@dataclass
class Vars:
    """Handles on every shared state variable (thread pcs and locals live in threads)."""

    cfg: Config
    owners: tuple            # "none" + thread names: the values of a lock owner
    # struct vfio_pci_core_device
    open: Array              # vdev->vdev.open_count > 0
    vconfig: Array           # vdev->vconfig allocated (vfio_config_init .. vfio_pci_core_disable)
    vmem: Array              # PCI_COMMAND_MEMORY in the virtual config space
    memory_lock: Array       # owner of vdev->memory_lock held for write
    memory_lock_readers: Array
    bar_pte: Array           # a CPU page-table entry maps a BAR of the device
    engaged: Array           # vdev->pm_runtime_engaged (LOW_POWER_ENTRY done, not exited)
    d3: Array                # runtime suspended: pdev->current_state >= PCI_D3hot
    pm_usage: Array          # runtime PM usage count (1 while open, -1 by LOW_POWER_ENTRY)
    registration: Array      # vfio_device.refcount
    dev_set_lock: object     # owner of dev_set->lock
    # struct vfio_pci_dma_buf / struct dma_buf
    phase: Array
    f_count: Array           # dmabuf->file reference count
    has_fd: Array            # the fd is installed in the fd table
    priv_vdev: Array         # priv->vdev != NULL (holds a registration reference)
    revoked: Array
    kref: Array              # priv->kref: 1 (registered) + live sg mappings
    comp: Array              # priv->comp completed
    resv: Array              # owner of dmabuf->resv
    # struct dma_buf_attachment, one per importer
    attached: Array
    mapped: Array
    notified: Array          # invalidate_mappings told it to stop; it has not unmapped yet
    fence: Array             # an unsignalled DMA fence of this importer sits in resv
    perm_revoked: Array      # iommufd: pages->dmabuf.phys.len == 0, the mapping is gone for good

    def owner(self, thread: str) -> int:
        return self.owners.index(thread)

    def memory_enabled(self, d):
        """``__vfio_pci_memory_enabled``: below D3hot and the virtual MEM bit (VFs not modelled)."""
        return and_(self.vmem[d], ~self.d3[d])

    def E(self, d):
        """The safety predicate of protocol-facts §6: open, vconfig, decode on, powered."""
        return and_(self.open[d], self.vconfig[d], self.vmem[d], ~self.d3[d])

    def live(self, b):
        """On ``vdev->dmabufs`` and ``get_file_active`` would succeed."""
        return and_(self.phase[b] == "listed", self.f_count[b] > 0)

    def reachable(self, b):
        """Some file reference exists (fd or importer) and the buf was listed once."""
        return and_(or_(self.phase[b] == "listed", self.phase[b] == "unlisted"),
                    self.f_count[b] > 0)


def declare(sb: StateBuilder, cfg: Config) -> Vars:
    """Declare the shared state of ``cfg`` and its initial values."""
    owners = ("none",) + tuple(cfg.thread_names())
    owner = ENUM(*owners)
    dn = [d.name for d in cfg.devices]
    bn = [b.name for b in cfg.bufs]
    im = [m.name for m in cfg.importers]
    nthreads = len(owners) - 1
    v = Vars(
        cfg=cfg, owners=owners,
        open=sb.array("open", dn, BOOL, [d.open for d in cfg.devices]),
        vconfig=sb.array("vconfig", dn, BOOL, [d.open for d in cfg.devices]),
        vmem=sb.array("vmem", dn, BOOL, [d.open and d.mem for d in cfg.devices]),
        memory_lock=sb.array("memory_lock", dn, owner, "none"),
        memory_lock_readers=Array("memory_lock_readers", [
            sb.var(f"memory_lock_readers[{d.name}]",
                   INT(0, max(1, sum(a.kind == "bar_fault" and a.target == k for a in cfg.actors))), 0)
            for k, d in enumerate(cfg.devices)]),
        bar_pte=sb.array("bar_pte", dn, BOOL, 0),
        engaged=sb.array("engaged", dn, BOOL, 0),
        d3=sb.array("d3", dn, BOOL, 0),
        pm_usage=Array("pm_usage", [
            sb.var(f"pm_usage[{d.name}]", INT(0, 1 + len(cfg.fd_users(k))), int(d.open))
            for k, d in enumerate(cfg.devices)]),
        registration=Array("registration", [
            sb.var(f"registration[{d.name}]", INT(0, 1 + len(cfg.bufs_of(k))),
                   1 + sum(cfg.bufs[b].exists for b in cfg.bufs_of(k)))
            for k, d in enumerate(cfg.devices)]),
        dev_set_lock=sb.var("dev_set->lock", owner, "none"),
        phase=sb.array("phase", bn, ENUM(*PHASES),
                       ["listed" if b.exists else "none" for b in cfg.bufs]),
        f_count=Array("f_count", [
            sb.var(f"f_count[{b.name}]", INT(0, 1 + len(cfg.importers_of(k)) + nthreads),
                   1 if b.exists else 0)
            for k, b in enumerate(cfg.bufs)]),
        has_fd=sb.array("has_fd", bn, BOOL, [b.exists for b in cfg.bufs]),
        priv_vdev=sb.array("priv_vdev", bn, BOOL, [b.exists for b in cfg.bufs]),
        revoked=sb.array("revoked", bn, BOOL,
                         [b.exists and not cfg.devices[b.dev].mem for b in cfg.bufs]),
        kref=Array("kref", [
            sb.var(f"kref[{b.name}]", INT(0, 1 + len(cfg.importers_of(k))), 1 if b.exists else 0)
            for k, b in enumerate(cfg.bufs)]),
        comp=sb.array("comp", bn, BOOL, 0),
        resv=sb.array("resv", bn, owner, "none"),
        attached=sb.array("attached", im, BOOL, 0),
        mapped=sb.array("mapped", im, BOOL, 0),
        notified=sb.array("notified", im, BOOL, 0),
        fence=sb.array("fence", im, BOOL, 0),
        perm_revoked=sb.array("perm_revoked", im, BOOL, 0),
    )
    return v
