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
upstream ``bar_fault`` actor is the .mmap-overriding driver's fault), the
locks vfio_pci_dma_buf_release and cleanup take around list_del in v8 (kept
as v4: memory_lock(W)).
"""
from model.expr import ite
from model.lang import Branch, DONE, Event, NEXT, Step, step
from model.locks import NONE, resv_free, takes
from model.schema import Field, Lock
from model.variants import variant

from . import _bar_mmap_common as common
from .bar_mmap_dmabuf_v4 import CONFIGS, apply_v4
from ._bar_mmap_common import DMABUF, OK, PERM, TEMP, fput, use

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
                do={**common.set_status(v, buf, new), v.phase[buf]: "listed"},
                events=(Event("export_status", (buf, new)), use(buf), takes("dmabuf_lock", "resv")),
                source=f"{DMABUF}:vfio_pci_core_feature_dma_buf")


def down_read_dmabuf_lock(t, buf: int):
    v = t.v
    d = t.cfg.bufs[buf].dev
    rd = v.dmabuf_lock_readers[d]
    return step("down_read(dmabuf_lock)", "Take vdev->dmabuf_lock for read (waits while a writer holds it).",
                when=v.dmabuf_lock[d] == NONE, do={rd: rd + 1},
                events=(takes("mmap_lock", "memory_lock", "dmabuf_lock"),),
                source=f"{DMABUF}:vfio_pci_dma_buf_mmap_huge_fault")


def revoke_ioctl_v8(t, buf: int):
    """VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE, v8: dma_buf_get; memory_lock(R); dmabuf_lock(W); PERM_REVOKED."""
    v = t.v
    d = t.cfg.bufs[buf].dev
    fp, fev = fput(v, buf)
    mrd = v.memory_lock_readers[d]
    dl, drd = v.dmabuf_lock[d], v.dmabuf_lock_readers[d]
    unlock = {dl: NONE, mrd: mrd - 1, **fp}
    uev = (Event("unlock", (dl, t.me)), fev, use(buf))
    src = f"{DMABUF}:vfio_pci_core_feature_dma_buf_revoke"
    return [
        Step("dma_buf_get", [
            Branch(v.has_fd[buf], {v.f_count[buf]: v.f_count[buf] + 1}, events=(use(buf),)),
            Branch(common.and_(~v.has_fd[buf], common.upstream_actors_creator_done(t, buf)), goto=DONE,
                   note="no fd: -EBADF"),
        ], "Look the dma-buf up by fd and take a file reference.", source=src),
        step("down_read(memory_lock)", "Take memory_lock for read.", when=v.memory_lock[d] == NONE,
             do={mrd: mrd + 1}, events=(takes("memory_lock"),), source=src),
        step("down_write(dmabuf_lock)", "Take vdev->dmabuf_lock for write.",
             when=common.and_(dl == NONE, drd == 0), do={dl: t.me},
             events=(takes("memory_lock", "dmabuf_lock"),), source=src),
        Step("check_status", [
            Branch(common.and_(v.phase[buf] == "listed", v.priv_vdev[buf], v.status[buf] != PERM)),
            Branch(v.status[buf] == PERM, unlock, goto=DONE, events=uev, note="already PERM_REVOKED: -EBADFD"),
            Branch(common.and_(v.status[buf] != PERM, common.or_(v.phase[buf] != "listed", ~v.priv_vdev[buf])),
                   unlock, goto=DONE, events=uev, note="not a live buf of this device: -ENODEV"),
        ], "Refuse a buf that is already permanently revoked or no longer on vdev->dmabufs.", source=src),
        *common.revoke_buf(t, buf, PERM, NEXT, put=False),
        step("up_write(dmabuf_lock)", "Release dmabuf_lock and memory_lock(R), dma_buf_put.", do=unlock,
             events=uev, goto=DONE, source=src),
    ]


def apply_v8_changes(p):
    """v5 -> v8: dmabuf_lock, the shadow state, export without memory_lock, the REVOKE ioctl's locks."""
    declare_dmabuf_lock(p)
    p.replace_procedure(common.MOVE, lambda t, vdev, revoked: common.series_move(t, vdev, revoked, True))
    p.replace_step("vfio_pci_core_feature_dma_buf", "list_add_tail", export_v8)
    p.replace_procedure("bar_mmap", lambda t, buf: common.bar_mmap(t, buf, export_v8))
    p.insert_after("dmabuf_fault", "down_read(memory_lock)", down_read_dmabuf_lock)
    p.replace_step("dmabuf_fault", "vmf_insert_pfn", lambda t, buf: common.fault_insert(t, buf, True))
    p.replace_procedure("vfio_pci_core_feature_dma_buf_revoke", revoke_ioctl_v8)


@variant("bar-mmap-dmabuf-v8")
def bar_mmap_dmabuf_v8(p):
    """Matt Evans, vfio/pci: Convert BAR mmap() to use a DMABUF, v8 (2026-10-06): v4 plus dmabuf_lock and the shadow revoked state."""
    apply_v4(p)
    apply_v8_changes(p)
    for name, raw in CONFIGS.items():
        p.add_config(name, raw)
