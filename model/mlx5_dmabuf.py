"""drivers/infiniband/hw/mlx5/mr.c + drivers/infiniband/core/umem_dmabuf.c: RDMA MR importers.

Two importer kinds (kernel-2026 §2.13), chosen by an importer's ``kind``:

* ``sync`` -- a dynamic mlx5 MR (``ib_umem_dmabuf_get``, ODP).  Its
  ``invalidate_mappings`` callback, ``mlx5_ib_dmabuf_invalidate_cb``, runs with
  resv held inside vfio's move: it zaps the MR translation and unmaps at once
  (``ib_umem_dmabuf_unmap_pages`` -> ``dma_buf_unmap_attachment`` -> vfio
  ``kref_put``), i.e. inside move(true)'s first resv section
  (:func:`model.vfio_pci_dmabuf.invalidate`).  Re-mapping is lazy, from an ODP
  page fault under resv [?]; it fails with -ENODEV while the buf is revoked.
* ``pinned`` -- a pinned MR (``ib_umem_dmabuf_get_pinned``): its ops have no
  ``invalidate_mappings``, so ``dma_buf_attach_revocable`` is false and vfio's
  ``.attach`` refuses it with -EOPNOTSUPP (61ceaf236115); it never maps.
"""
from __future__ import annotations

from dataclasses import replace

from .expr import TRUE, and_, ite
from .lang import Branch, DONE, Event, Step, step
from .locks import resv_free, takes
from .dma_buf import creator_done
from .vfio_pci_dmabuf import fput, use

MR = "drivers/infiniband/hw/mlx5/mr.c"
UMEM = "drivers/infiniband/core/umem_dmabuf.c"
VFIO = "drivers/vfio/pci/vfio_pci_dmabuf.c"
KINDS = ("sync", "pinned")


def declare(p):
    """Add the two kinds to the importer's ``kind`` attribute."""
    k = p.kinds["importer"]
    attrs = tuple(replace(a, choices=a.choices + tuple(x for x in KINDS if x not in a.choices),
                          doc=a.doc + "; sync (mlx5 dynamic MR: unmaps inside invalidate_mappings) "
                                      "or pinned (pinned MR: refused by vfio's attach)")
                  if a.name == "kind" else a for a in k.attrs)
    p.kinds["importer"] = replace(k, attrs=attrs)


def invalidate_sync(v, b) -> dict:
    """``mlx5_ib_dmabuf_invalidate_cb`` for every sync importer of ``b`` (resv held).

    A mapped MR is zapped and unmapped here: its kref reference goes now, so
    move(true)'s ``kref_put`` of the registered reference completes ``comp``
    when no other importer holds a mapping.
    """
    sync = [i for i in v.cfg.importers_of(b) if v.cfg.importers[i].kind == "sync"]
    if not sync:
        return {}
    out = {v.mapped[i]: 0 for i in sync}
    total = v.kref[b]
    for i in sync:
        total = total - ite(v.mapped[i], 1, 0)
    out[v.kref[b]] = total
    return out


def pinned_importer(t, imp: int):
    """``ib_umem_dmabuf_get_pinned``: dma_buf_get, vfio refuses the attach, dma_buf_put."""
    v = t.v
    b = t.cfg.importers[imp].buf
    put, put_ev = fput(v, b)
    return [
        Step("dma_buf_get", [
            Branch(v.has_fd[b], {v.f_count[b]: v.f_count[b] + 1}, events=(use(b),)),
            Branch(and_(~v.has_fd[b], creator_done(t, b)), goto=DONE, note="no fd to import: -EBADF"),
        ], "ib_umem_dmabuf_get_pinned takes a reference on the dma-buf file.",
            source="drivers/dma-buf/dma-buf.c:dma_buf_get"),
        Step("vfio_pci_dma_buf_attach", [
            Branch(v.revoked[b], put, goto=DONE, events=(put_ev, use(b)),
                   note="-ENODEV: priv->revoked; dma_buf_put"),
            Branch(~v.revoked[b], put, goto=DONE, events=(put_ev, use(b)),
                   note="-EOPNOTSUPP: no invalidate_mappings, not dma_buf_attach_revocable(); dma_buf_put"),
        ], "vfio's .attach refuses an importer without invalidate_mappings (pinned MR).",
            source=f"{VFIO}:vfio_pci_dma_buf_attach"),
    ]


def sync_importer(t, imp: int):
    """A dynamic mlx5 MR: register (map under resv), maybe an ODP fault re-maps, deregister."""
    v = t.v
    b = t.cfg.importers[imp].buf
    put, put_ev = fput(v, b)
    get = {v.mapped[imp]: 1, v.kref[b]: v.kref[b] + 1}
    get_ev = (Event("map", (b,)), Event("kref_get", (b,)), use(b), takes("resv"))
    return [
        Step("dma_buf_get", [
            Branch(v.has_fd[b], {v.f_count[b]: v.f_count[b] + 1}, events=(use(b),)),
            Branch(and_(~v.has_fd[b], creator_done(t, b)), goto=DONE, note="no fd to import: -EBADF"),
        ], "ib_umem_dmabuf_get takes a reference on the dma-buf file.",
            source="drivers/dma-buf/dma-buf.c:dma_buf_get"),
        Step("vfio_pci_dma_buf_attach", [
            Branch(v.revoked[b], put, goto=DONE, events=(put_ev, use(b)),
                   note="-ENODEV: priv->revoked (read without resv); dma_buf_put"),
            Branch(~v.revoked[b], events=(use(b),)),
        ], "vfio's .attach accepts the MR: it has invalidate_mappings (revocable).",
            source=f"{VFIO}:vfio_pci_dma_buf_attach"),
        step("list_add_attachment", "Under resv, add the attachment to dmabuf->attachments.",
             when=resv_free(v, b), do={v.attached[imp]: 1}, events=(use(b), takes("resv")),
             source="drivers/dma-buf/dma-buf.c:dma_buf_dynamic_attach"),
        Step("ib_umem_dmabuf_map_pages", [
            Branch(and_(resv_free(v, b), v.revoked[b]), goto="ib_umem_dmabuf_release",
                   events=(use(b), takes("resv")), note="-ENODEV: revoked; the MR is not registered"),
            Branch(and_(resv_free(v, b), ~v.revoked[b]), get, events=get_ev),
        ], "mlx5_ib_reg_user_mr_dmabuf: under resv map the buf (vfio re-checks revoked, kref_get).",
            source=f"{UMEM}:ib_umem_dmabuf_map_pages"),
        Step("odp_page_fault", [
            Branch(and_(resv_free(v, b), v.mapped[imp]), choice="fault",
                   events=(use(b), takes("resv")), note="still mapped: nothing to do"),
            Branch(and_(resv_free(v, b), ~v.mapped[imp], v.revoked[b]), choice="fault",
                   events=(use(b), takes("resv")), note="invalidated and revoked: -ENODEV, the RDMA op fails"),
            Branch(and_(resv_free(v, b), ~v.mapped[imp], ~v.revoked[b]), get, choice="fault",
                   events=get_ev, note="invalidated, not revoked: map again"),
            Branch(TRUE, choice="no fault"),
        ], "An RDMA access to an invalidated MR faults: under resv re-map it (lazy re-map) [?].",
            source=f"{MR}:pagefault_dmabuf_mr"),
        Step("ib_umem_dmabuf_release", [
            Branch(and_(resv_free(v, b), v.mapped[imp]),
                   {v.mapped[imp]: 0, v.attached[imp]: 0, v.kref[b]: v.kref[b] - 1,
                    v.comp[b]: ite(v.kref[b] == 1, 1, v.comp[b]), **put},
                   goto=DONE, events=(Event("kref_put", (b,)), put_ev, use(b), takes("resv")),
                   note="mapped: unmap (kref_put), detach, dma_buf_put"),
            Branch(and_(resv_free(v, b), ~v.mapped[imp]), {v.attached[imp]: 0, **put},
                   goto=DONE, events=(put_ev, use(b), takes("resv")), note="detach, dma_buf_put"),
        ], "Deregister the MR: under resv unmap if still mapped, detach; then dma_buf_put.",
            source=f"{UMEM}:ib_umem_dmabuf_release"),
    ]
