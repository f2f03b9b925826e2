"""vfio/pci: Convert BAR mmap() to use a DMABUF -- v8.

Matt Evans, 2026-10-06, on v7.3-rc4, message id
20261006193643.76330-1-matt@ozlabs.org (kernel-2026 §4.1).  Written as v4
(``bar_mmap_dmabuf_v4.apply_v4``) plus what changed up to v8 (v7 brought it):

* ``vdev->dmabuf_lock``, an rw_semaphore per device that protects
  ``vdev->dmabufs`` and every ``priv->status``; order memory_lock ->
  dmabuf_lock -> resv;
* the shadow revoked state ``vdev->dmabufs_revoked``, written by move under
  dmabuf_lock(W) and copied into a new buf's initial status at export;
* export (VFIO_DEVICE_FEATURE_DMA_BUF and the BAR mmap()): dmabuf_lock(W) ->
  resv, no memory_lock; status from the shadow state;
* move(revoked): memory_lock(W) (the caller) -> dmabuf_lock(W) across the walk;
* the fault also takes dmabuf_lock(R) after memory_lock(R), then re-checks;
* VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE: memory_lock(R) -> dmabuf_lock(W) ->
  the per-buf revoke to PERM_REVOKED.

Not modelled: the extra ``priv->dmabuf->file`` read v8 adds to the revoke
walk (kernel-2026 §4.1 invariant 9), ``zap_bars_on_revoke`` as a flag (the
upstream ``bar_fault`` actor is the .mmap-overriding driver's fault).

Also from v7 (read in opsound/linux, v7.3-rc4 + v7): vfio_pci_dma_buf_release
unlinks under dmabuf_lock(W) instead of memory_lock(W), and cleanup holds
dmabuf_lock(W) (inside memory_lock(W)) around its unlink walk.
"""
from revoke_check.model.expr import ite
from revoke_check.model.lang import Event, step
from revoke_check.model.locks import NONE, resv_free, takes
from revoke_check.model.schema import Field, Lock
from revoke_check.model.variants import variant

from . import _bar_mmap_common as common
from .bar_mmap_dmabuf_v4 import CONFIGS, apply_v4
from ._bar_mmap_common import DMABUF, OK, TEMP, use
from revoke_check.model.vfio_pci_dmabuf import list_add_tail

TITLE = "vfio/pci: Convert BAR mmap() to use a DMABUF"
VERSION, DATE, MSGID = "v8", "2026-10-06", "20261006193643.76330-1-matt@ozlabs.org"


def declare_dmabuf_lock(p):
    p.add_lock(Lock("device", "dmabuf_lock", "rwsem", klass="dmabuf_lock", expr="&{}->dmabuf_lock",
                    doc="vdev->dmabuf_lock (v7+): protects vdev->dmabufs and priv->status; "
                        "taken after memory_lock, before resv"))
    p.add_field(Field("device", "dmabufs_revoked", common.BOOL, lambda cfg, d: not cfg.devices[d].mem,
                      "vdev->dmabufs_revoked: the shadow of what move last wrote, for new bufs"))


def export_v8(t, buf: int):
    """v7+: under dmabuf_lock(W) and resv, status = the device's shadow state; list_add (no memory_lock)."""
    v = t.v
    d = t.cfg.bufs[buf].dev
    dl, rd = v.dmabuf_lock[d], v.dmabuf_lock_readers[d]
    new = ite(v.dmabufs_revoked[d], TEMP, OK)
    return step("list_add_tail",
                "Under dmabuf_lock(W) and resv copy vdev->dmabufs_revoked into the initial status and link "
                "the buf on vdev->dmabufs.",
                when=common.and_(dl == NONE, rd == 0, resv_free(v, buf)),
                do={**common.set_status(v, buf, new), **list_add_tail(v, buf)},
                events=(Event("export_status", (buf, new)), use(buf), takes("dmabuf_lock", "resv")),
                source=f"{DMABUF}:vfio_pci_dmabuf_export")


def down_read_dmabuf_lock(t, buf: int):
    v = t.v
    d = t.cfg.bufs[buf].dev
    rd = v.dmabuf_lock_readers[d]
    return step("down_read(dmabuf_lock)", "Take vdev->dmabuf_lock for read (waits while a writer holds it).",
                when=v.dmabuf_lock[d] == NONE, do={rd: rd + 1},
                events=(takes("mmap_lock", "memory_lock", "dmabuf_lock"),),
                source="drivers/vfio/pci/vfio_pci_core.c:vfio_pci_mmap_huge_fault")


def revoke_ioctl_v8(t, buf: int):
    """v7+: memory_lock(R) (keeps hot reset from queueing behind the drain), then dmabuf_lock(W)."""
    v = t.v
    d = t.cfg.bufs[buf].dev
    mrd = v.memory_lock_readers[d]
    dl, drd = v.dmabuf_lock[d], v.dmabuf_lock_readers[d]
    src = f"{DMABUF}:vfio_pci_core_feature_dma_buf_revoke"
    take = [
        step("down_read(memory_lock)", "Take memory_lock for read.", when=v.memory_lock[d] == NONE,
             do={mrd: mrd + 1}, events=(takes("memory_lock"),), source=src),
        step("down_write(dmabuf_lock)", "Take vdev->dmabuf_lock for write.",
             when=common.and_(dl == NONE, drd == 0), do={dl: t.me},
             events=(takes("memory_lock", "dmabuf_lock"),), source=src),
    ]
    return common.revoke_ioctl(t, buf, take, {dl: NONE, mrd: mrd - 1}, (Event("unlock", (dl, t.me)),),
                               "memory_lock(R) and dmabuf_lock(W)")


def release_under_dmabuf_lock(p):
    """vfio_pci_dma_buf_release unlinks under dmabuf_lock(W) (no memory_lock), then puts the registration."""
    inner = p.procs["vfio_pci_dma_buf_release"][0]

    def make(t, buf):
        s = inner(t, buf)[1]
        v, d = t.v, t.cfg.bufs[buf].dev
        br = s.branches[0]
        br.when = common.and_(v.priv_vdev[buf], v.dmabuf_lock[d] == NONE, v.dmabuf_lock_readers[d] == 0)
        br.events = tuple(e for e in br.events if e.kind != "locks") + (takes("dmabuf_lock"),)
        br.note = "priv->vdev set: unlink under dmabuf_lock(W), put the registration"
        s.doc = s.doc.replace("memory_lock(W)", "dmabuf_lock(W)")
        return common.drop_vfile(t, buf, s)
    p.replace_step("vfio_pci_dma_buf_release", "vfio_pci_dma_buf_release", make)


def cleanup_walk_under_dmabuf_lock(p):
    """vfio_pci_dma_buf_cleanup: after move(true), unlink every buf with dmabuf_lock(W) held too."""
    def down(t, vdev):
        v = t.v
        return step("down_write(dmabuf_lock)", "Take vdev->dmabuf_lock for write around the unlink walk.",
                    when=common.and_(v.dmabuf_lock[vdev] == NONE, v.dmabuf_lock_readers[vdev] == 0),
                    do={v.dmabuf_lock[vdev]: t.me}, source=f"{DMABUF}:vfio_pci_dma_buf_cleanup")

    def up(t, vdev):
        v = t.v
        return step("up_write(dmabuf_lock)", "Release vdev->dmabuf_lock.", do={v.dmabuf_lock[vdev]: NONE},
                    events=(Event("unlock", (v.dmabuf_lock[vdev], t.me)),),
                    source=f"{DMABUF}:vfio_pci_dma_buf_cleanup")
    p.insert_after("vfio_pci_dma_buf_cleanup", "revoke", down)
    p.insert_before("vfio_pci_dma_buf_cleanup", "up_write", up)


def apply_v8_changes(p):
    """v5 -> v8: dmabuf_lock, the shadow state, export without memory_lock, the REVOKE ioctl's locks."""
    declare_dmabuf_lock(p)
    p.replace_procedure(common.MOVE, lambda t, vdev, revoked: common.series_move(t, vdev, revoked, True))
    p.replace_step("vfio_pci_core_feature_dma_buf", "list_add_tail", export_v8)
    p.replace_procedure("bar_mmap", lambda t, buf: common.bar_mmap(t, buf, export_v8))
    p.insert_after("dmabuf_fault", "down_read(memory_lock)", down_read_dmabuf_lock)
    p.replace_step("dmabuf_fault", "recheck_status", lambda t, buf: common.fault_recheck(t, buf, True))
    p.replace_step("dmabuf_fault", "vmf_insert_pfn", lambda t, buf: common.fault_insert(t, buf, True))
    p.replace_procedure("vfio_pci_core_feature_dma_buf_revoke", revoke_ioctl_v8)
    release_under_dmabuf_lock(p)
    cleanup_walk_under_dmabuf_lock(p)


@variant("bar-mmap-dmabuf-v8")
def bar_mmap_dmabuf_v8(p):
    """Matt Evans, vfio/pci: Convert BAR mmap() to use a DMABUF, v8 (2026-10-06): v4 plus dmabuf_lock and the shadow revoked state."""  # noqa: E501 -- one line: the variant's summary in revoke-check list
    apply_v4(p)
    apply_v8_changes(p)
    for name, raw in CONFIGS.items():
        p.add_config(name, raw)
