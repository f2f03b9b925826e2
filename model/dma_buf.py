"""drivers/dma-buf/dma-buf.c as seen by a dynamic, revocable importer; fd close.

An importer (iommufd, an RDMA ODP MR, io_uring) does: dma_buf_get(fd);
dma_buf_dynamic_attach (vfio's .attach checks revocable and revoked without
resv); list the attachment under resv; dma_buf_map_attachment under resv (vfio
refuses with -ENODEV if revoked, else kref_get); optionally queue DMA as a resv
fence and signal it later; dma_buf_unmap_attachment under resv (kref_put);
dma_buf_detach and dma_buf_put.  Its invalidate_mappings callback only marks
the mapping as to be dropped (``notified``): the unmap is a later step.
"""
from __future__ import annotations

from .expr import BOOL, INT, TRUE, and_, ite
from .lang import Branch, DONE, Event, NEXT, Step, step
from .locks import resv_free, takes
from .protocol import procedure
from .config import ConfigError
from .schema import Attr, Field, Lock, ObjectKind
from .vfio_pci_dmabuf import fput, use

SRC = "drivers/dma-buf/dma-buf.c"
VFIO = "drivers/vfio/pci/vfio_pci_dmabuf.c"


def _check_importers(cfg):
    for m in cfg.importers:
        for k in ("retry", "remap"):
            if getattr(m, k) and m.kind != "dynamic":
                raise ConfigError(f"{cfg.name}: importer {m.name}: {k}: only a dynamic importer "
                                  "retries or re-maps")


def declare(p):
    """struct dma_buf (its file's count, the fd, resv) and struct dma_buf_attachment."""
    p.add_field(Field("buf", "f_count",
                      lambda cfg, b: INT(0, 1 + len(cfg.importers_of(b)) + len(cfg.threads)),
                      lambda cfg, b: int(cfg.bufs[b].exists), "dmabuf->file reference count", refcount=True))
    p.add_field(Field("buf", "has_fd", BOOL, lambda cfg, b: cfg.bufs[b].exists,
                      "the fd is installed in the fd table"))
    p.add_lock(Lock("buf", "resv", "ww_mutex", klass="resv", expr="{}->resv",
                    doc="dmabuf->resv: the reservation lock (ww_mutex)"))
    p.add_object_kind(ObjectKind(
        "importer", "importers", "struct dma_buf_attachment", ref="importer",
        doc="importers of a buf (RDMA, iommufd, io_uring ...)",
        attrs=(Attr("buf", "ref:buf", doc="the buf it imports"),
               Attr("revocable", "bool", True, "dma_buf_attach_revocable(): has invalidate_mappings"),
               Attr("fences", "bool", True, "queues DMA as resv fences"),
               Attr("maps", "int", 1, "map/unmap rounds", minimum=1),
               Attr("kind", "str", "dynamic",
                    "dynamic (sg_table map, asynchronous unmap) or iommufd (synchronous, permanent)",
                    choices=("dynamic", "iommufd")),
               Attr("retry", "bool", False,
                    "dynamic: a map refused because the buf is revoked is retried, not given up"),
               Attr("remap", "bool", False,
                    "dynamic: after unmapping for invalidate_mappings, map again"))))
    p.add_config_check(_check_importers)
    for name, doc in (("attached", "on dmabuf->attachments"),
                      ("mapped", "holds a mapping (sg_table or IOMMU PTEs)"),
                      ("notified", "invalidate_mappings told it to stop; it has not unmapped yet"),
                      ("fence", "an unsignalled DMA fence of this importer sits in resv"),
                      ("perm_revoked", "iommufd: pages->dmabuf.phys.len == 0, the mapping is gone for good")):
        p.add_field(Field("importer", name, BOOL, 0, doc))


def creator_done(t, b):
    """The VFIO_DEVICE_FEATURE_DMA_BUF call for ``b`` has returned (or never ran)."""
    return and_(*[t.v.pcs[a.name] == "done" for a in t.cfg.actors
                  if a.kind == "feature_dma_buf" and a.target == b])


IOMMUFD = "drivers/iommu/iommufd"


def iommufd_importer(t, imp: int):
    """IOMMU_IOAS_MAP_FILE with a vfio dma-buf fd, later IOMMU_IOAS_UNMAP (protocol-facts §2.14)."""
    v = t.v
    b = t.cfg.importers[imp].buf
    put, put_ev = fput(v, b)
    return [
        Step("dma_buf_get", [
            Branch(v.has_fd[b], {v.f_count[b]: v.f_count[b] + 1}, events=(use(b),)),
            Branch(and_(~v.has_fd[b], creator_done(t, b)), goto=DONE, note="no fd to import: -EBADF"),
        ], "IOMMU_IOAS_MAP_FILE: take a reference on the dma-buf file.", source=f"{SRC}:dma_buf_get"),
        Step("vfio_pci_dma_buf_attach", [
            Branch(v.revoked[b], put, goto=DONE, events=(put_ev, use(b)),
                   note="-ENODEV: priv->revoked (read without resv); dma_buf_put"),
            Branch(~v.revoked[b], events=(use(b),)),
        ], "Attach with iopt_revoke_notify as invalidate_mappings; vfio refuses revoked bufs.",
            source=f"{VFIO}:vfio_pci_dma_buf_attach"),
        step("list_add_attachment", "Under resv, add the attachment to dmabuf->attachments.",
             when=resv_free(v, b), do={v.attached[imp]: 1}, events=(use(b), takes("resv")),
             source=f"{SRC}:dma_buf_dynamic_attach"),
        Step("vfio_pci_dma_buf_iommufd_map", [
            Branch(and_(resv_free(v, b), v.revoked[b]), goto="iopt_unmap", events=(use(b), takes("resv")),
                   note="-ENODEV: revoked"),
            Branch(and_(resv_free(v, b), ~v.revoked[b], v.perm_revoked[imp]), goto="iopt_unmap",
                   events=(use(b), takes("resv")), note="pages revoked (phys.len == 0): nothing mapped"),
            Branch(and_(resv_free(v, b), ~v.revoked[b], ~v.perm_revoked[imp]), {v.mapped[imp]: 1},
                   events=(Event("map", (b,)), use(b), takes("resv"))),
        ], "Under resv copy the BAR's physical range and map it into the IOMMU domains (no kref).",
            source=f"{IOMMUFD}/pages.c:iopt_map_dmabuf"),
        step("iopt_unmap", "IOMMU_IOAS_UNMAP: unmap the IOVA range (if still mapped).",
             do={v.mapped[imp]: 0}, source=f"{IOMMUFD}/io_pagetable.c:iopt_unmap_iova"),
        step("dma_buf_detach", "Detach under resv, then dma_buf_put.",
             when=resv_free(v, b), do={v.attached[imp]: 0, **put},
             events=(put_ev, use(b), takes("resv")), goto=DONE, source=f"{SRC}:dma_buf_detach"),
    ]


@procedure("importer", f"{SRC}:dma_buf_dynamic_attach")
def importer(t, imp: int):
    v, cfg = t.v, t.cfg
    m = cfg.importers[imp]
    if m.kind == "iommufd":
        return iommufd_importer(t, imp)
    if m.kind in ("sync", "pinned"):  # RDMA MRs: model/mlx5_dmabuf.py
        from . import mlx5_dmabuf
        return (mlx5_dmabuf.sync_importer if m.kind == "sync" else mlx5_dmabuf.pinned_importer)(t, imp)
    b = m.buf
    put, put_ev = fput(v, b)
    rounds = t.local("round", INT(0, m.maps - 1)) if m.maps > 1 else None
    attach = []
    if not m.revocable:
        attach.append(Branch(TRUE, put, goto=DONE, events=(put_ev,),
                             note="-EOPNOTSUPP: not dma_buf_attach_revocable(); dma_buf_put"))
    else:
        attach += [
            Branch(v.revoked[b], put, goto=DONE, events=(put_ev, use(b)),
                   note="-ENODEV: priv->revoked (read without resv); dma_buf_put"),
            Branch(~v.revoked[b], events=(use(b),)),
        ]
    again = ([Branch(rounds < m.maps - 1, {rounds: rounds + 1}, goto="dma_buf_map_attachment",
                     choice="map again"),
              Branch(rounds == m.maps - 1, goto=NEXT, choice="detach")] if rounds is not None else None)
    unmap_do = {v.mapped[imp]: 0, v.notified[imp]: 0, v.kref[b]: v.kref[b] - 1,
                v.comp[b]: ite(v.kref[b] == 1, 1, v.comp[b])}
    unmap_ev = (Event("kref_put", (b,)), use(b), takes("resv"))
    out = [
        Step("dma_buf_get", [
            Branch(v.has_fd[b], {v.f_count[b]: v.f_count[b] + 1}, events=(use(b),)),
            Branch(and_(~v.has_fd[b], creator_done(t, b)), goto=DONE,
                   note="no fd to import: -EBADF"),
        ], "Userspace hands the dma-buf fd to the importer, which takes a file reference.",
            source=f"{SRC}:dma_buf_get"),
        Step("vfio_pci_dma_buf_attach", attach,
             "vfio's .attach refuses non-revocable importers and revoked bufs (unlocked read).",
             source=f"{VFIO}:vfio_pci_dma_buf_attach"),
        step("list_add_attachment", "Under resv, add the attachment to dmabuf->attachments.",
             when=resv_free(v, b), do={v.attached[imp]: 1}, events=(use(b), takes("resv"))),
        Step("dma_buf_map_attachment", [
            Branch(and_(resv_free(v, b), v.revoked[b]),
                   goto="wait_for_unrevoke" if m.retry else "dma_buf_detach",
                   events=(use(b), takes("resv")),
                   note="-ENODEV: revoked" + ("; retry later" if m.retry else "")),
            Branch(and_(resv_free(v, b), ~v.revoked[b]),
                   {v.mapped[imp]: 1, v.kref[b]: v.kref[b] + 1},
                   events=(Event("map", (b,)), Event("kref_get", (b,)), use(b), takes("resv"))),
        ], "Under resv, vfio_pci_dma_buf_map re-checks revoked, builds the sg_table and kref_gets.",
            source=f"{VFIO}:vfio_pci_dma_buf_map"),
    ]
    if m.fences:
        out += [
            Step("dma_resv_add_fence", [
                Branch(and_(resv_free(v, b), ~v.notified[imp]), {v.fence[imp]: 1},
                       choice="queue DMA", events=(use(b), takes("resv"))),
                Branch(TRUE, goto="dma_buf_unmap_attachment", choice="no DMA"),
            ], "Queue peer-to-peer DMA to the BAR and publish its fence in resv (BOOKKEEP).",
                source="drivers/dma-buf/dma-resv.c:dma_resv_add_fence"),
            step("dma_fence_signal", "The DMA completes and its fence signals.",
                 do={v.fence[imp]: 0}, source="drivers/dma-buf/dma-fence.c:dma_fence_signal"),
        ]
    unmap_doc = "Under resv, unmap (after invalidate_mappings or by choice): free the sg_table, kref_put."
    if m.remap:
        out.append(Step("dma_buf_unmap_attachment", [
            Branch(and_(resv_free(v, b), ~v.fence[imp], v.notified[imp]), unmap_do,
                   goto="dma_buf_map_attachment", events=unmap_ev,
                   note="unmapped for invalidate_mappings: map again"),
            Branch(and_(resv_free(v, b), ~v.fence[imp], ~v.notified[imp]), unmap_do, events=unmap_ev),
        ], unmap_doc + " An importer that re-maps when notified maps again right away.",
            source=f"{VFIO}:vfio_pci_dma_buf_unmap"))
    else:
        out.append(step("dma_buf_unmap_attachment", unmap_doc,
                        when=and_(resv_free(v, b), ~v.fence[imp]), do=unmap_do, events=unmap_ev,
                        source=f"{VFIO}:vfio_pci_dma_buf_unmap"))
    if again:
        out.append(Step("next_round", again, "The importer maps again or is done with the buf.",
                        source=f"{SRC}:dma_buf_map_attachment"))
    out.append(step("dma_buf_detach", "Under resv, remove the attachment; then dma_buf_put.",
                    when=resv_free(v, b), do={v.attached[imp]: 0, **put},
                    events=(put_ev, use(b), takes("resv")), goto=DONE, source=f"{SRC}:dma_buf_detach"))
    if m.retry:   # after detach, which ends the thread: nothing falls through into it
        out.append(Step("wait_for_unrevoke", [
            Branch(v.priv_vdev[b], goto="dma_buf_map_attachment", note="try the map again"),
            Branch(~v.priv_vdev[b], goto="dma_buf_detach",
                   note="the exporter's device is gone (priv->vdev cleared): give up"),
        ], "The map was refused (revoked); the importer tries again later (e.g. on its next fault). "
           "It holds no lock while it waits.", source=f"{SRC}:dma_buf_map_attachment"))
    return out


@procedure("close_fd", "fs/file.c:close_fd")
def close_fd(t, buf: int):
    v = t.v
    put, ev = fput(v, buf)
    return [Step("close_fd", [
        Branch(v.has_fd[buf], {v.has_fd[buf]: 0, **put}, goto=DONE, events=(ev, use(buf))),
        Branch(and_(~v.has_fd[buf], creator_done(t, buf)), goto=DONE, note="no fd was installed"),
    ], "Userspace closes the dma-buf fd: the fd table's reference is fput.")]
