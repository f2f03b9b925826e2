"""dma-buf: typed mapping ops; iommufd maps vfio dma-bufs through the PAL mapping type.

Series: Jason Gunthorpe, "dma-buf: Add mapping types" RFC v1, 26 patches,
posted 2026-02-17, message id
``0-v1-b5cab63049c0+191af-dmabuf_map_type_jgg@nvidia.com`` (tree
jgunthorpe/linux 29ddc7d3); patch 23/26 switches iommufd to the PAL
(physical address list) mapping type.  kernel-2026 §4.2, §2.13, §2.14.

What the series changes, as modelled here:

* The private vfio -> iommufd hook ``vfio_pci_dma_buf_iommufd_map`` is gone.
  iommufd asks for a PAL mapping through the typed ops:
  ``dma_buf_pal_map_phys`` under resv reaches vfio's
  ``vfio_pci_dma_pal_map_phys``, whose ``match_mapping`` only tests
  ``!priv->vdev``; on success vfio takes ``kref_get(&priv->kref)``, so
  iommufd now holds one kref per mapping like any dynamic importer.
* ``iopt_revoke_notify`` (iommufd's invalidate_mappings, called with resv
  held from vfio's move) takes ``pages->mutex``, unmaps the IOMMU ranges and
  calls ``dma_buf_pal_unmap_phys``, which is vfio's ``kref_put``.  move(true)'s
  ``wait_for_completion`` therefore also waits for iommufd's unmap (here it
  is synchronous, inside the invalidate).
* ``IOMMU_IOAS_UNMAP`` ends in ``iopt_release_pages``, which under resv gives
  the mapping back with ``dma_buf_pal_unmap_phys`` (kref_put) unless
  ``iopt_revoke_notify`` already did (``exp_phys`` is NULL then).  Patch 23/26
  also removes ``vfio_pci_dma_buf_iommufd_map`` -- and with it the only
  ``priv->revoked`` test on iommufd's path (the selftest exporter's new
  ``map_phys`` keeps its revoked test; vfio's does not).

Declarations added: the lock ``pages_mutex`` of each importer (the DMABUF
``pages->mutex`` class; order resv -> pages->mutex), the properties
``pal-map-needs-unrevoked`` (protocol-facts I3), ``kref-counts-mappings`` (I6,
iommufd's mappings included) and ``iommufd-unmap-under-resv`` (the unmap
inside invalidate needs only resv and pages->mutex), and the configs ``pal``
and ``pal-reset``.  I10 (iommufd's mappings stay gone after un-revoke until
userspace maps again) is upstream's revoked-means-unmapped invariant
(``perm_revoked -> !mapped``), which still applies.

Edits of upstream: procedure ``importer`` (the iommufd kind is rewritten;
the dynamic kind is unchanged) and the resv sections of
``vfio_pci_dma_buf_move`` whose invalidate reaches iopt_revoke_notify.

``mapping-type-rfc-check-revoked`` is the candidate fix of the review
finding: ``vfio_pci_dma_pal_map_phys`` also refuses a revoked buf with
-ENODEV, as ``vfio_pci_dma_buf_map`` does.
"""
from __future__ import annotations

from revoke_check.model.dma_buf import creator_done
from revoke_check.model.expr import TRUE, and_, const, implies, ite, or_
from revoke_check.model.lang import Branch, DONE, Event, Step, step
from revoke_check.model.locks import NONE, resv_free, takes
from revoke_check.model.schema import Lock
from revoke_check.model.variants import variant
from revoke_check.model.vfio_pci_dmabuf import fput, use
from revoke_check.properties import Property, Witness, each

DMABUF = "drivers/dma-buf/dma-buf.c"
VFIO = "drivers/vfio/pci/vfio_pci_dmabuf.c"
IOMMUFD = "drivers/iommu/iommufd"
MOVE = "vfio_pci_dma_buf_move"


def _iommufd(cfg, b):
    return [i for i in cfg.importers_of(b) if cfg.importers[i].kind == "iommufd"]


def _n(x):
    return ite(x, 1, 0)


# --- iommufd as a PAL importer ----------------------------------------------------

def iommufd_pal_importer(t, imp: int, check_revoked: bool):
    """IOMMU_IOAS_MAP_FILE through dma_buf_pal_map_phys; IOMMU_IOAS_UNMAP ends in iopt_release_pages."""
    v = t.v
    b = t.cfg.importers[imp].buf
    put, put_ev = fput(v, b)
    locked = and_(resv_free(v, b), v.pages_mutex[imp] == NONE)
    got = and_(locked, v.priv_vdev[b])
    refuse = []
    if check_revoked:
        refuse = [Branch(and_(got, v.revoked[b]), goto="dma_buf_detach",
                         events=(use(b), takes("resv", "pages_mutex")),
                         note="-ENODEV: priv->revoked (the fix); err_detach")]
        got = and_(got, ~v.revoked[b])
    return [
        Step("dma_buf_get", [
            Branch(v.has_fd[b], {v.f_count[b]: v.f_count[b] + 1}, events=(use(b),)),
            Branch(and_(~v.has_fd[b], creator_done(t, b)), goto=DONE, note="no fd to import: -EBADF"),
        ], "IOMMU_IOAS_MAP_FILE takes a reference on the dma-buf file.", source=f"{DMABUF}:dma_buf_get"),
        Step("vfio_pci_dma_buf_attach", [
            Branch(v.revoked[b], put, goto=DONE, events=(put_ev, use(b)),
                   note="-ENODEV: priv->revoked (read without resv); dma_buf_put"),
            Branch(~v.revoked[b], events=(use(b),)),
        ], "dma_buf_mapping_attach asks for the PAL type with iopt_revoke_notify; vfio's .attach "
           "refuses revoked bufs.", source=f"{VFIO}:vfio_pci_dma_buf_attach"),
        step("list_add_attachment", "Under resv, add the attachment to dmabuf->attachments.",
             when=resv_free(v, b), do={v.attached[imp]: 1}, events=(use(b), takes("resv")),
             source=f"{DMABUF}:dma_buf_dynamic_attach"),
        Step("dma_buf_pal_map_phys", [
            Branch(and_(locked, ~v.priv_vdev[b]), goto="dma_buf_detach",
                   events=(use(b), takes("resv", "pages_mutex")),
                   note="match_mapping: priv->vdev is NULL: -ENODEV; err_detach"),
            *refuse,
            Branch(got, {v.mapped[imp]: 1, v.kref[b]: v.kref[b] + 1},
                   events=(Event("map", (b,)), Event("pal_map", (b,)), Event("kref_get", (b,)),
                           use(b), takes("resv", "pages_mutex"))),
        ], "Under resv, dma_buf_pal_map_phys reaches vfio_pci_dma_pal_map_phys, which copies the BAR's "
           "physical ranges and takes kref_get; iommufd keeps them as pages->dmabuf.exp_phys.",
            source=f"{VFIO}:vfio_pci_dma_pal_map_phys"),
        Step("iopt_release_pages", [
            Branch(and_(resv_free(v, b), v.mapped[imp]),
                   {v.mapped[imp]: 0, v.kref[b]: v.kref[b] - 1,
                    v.comp[b]: ite(v.kref[b] == 1, 1, v.comp[b])},
                   events=(Event("kref_put", (b,)), Event("pal_unmap", (imp, 1)), use(b), takes("resv")),
                   note="exp_phys set: dma_buf_pal_unmap_phys (vfio kref_put)"),
            Branch(and_(resv_free(v, b), ~v.mapped[imp]), events=(use(b), takes("resv")),
                   note="exp_phys is NULL: iopt_revoke_notify already gave the mapping back"),
        ], "IOMMU_IOAS_UNMAP drops the last area; iopt_release_pages gives the PAL mapping back under "
           "resv if iopt_revoke_notify has not.", source=f"{IOMMUFD}/pages.c:iopt_release_pages"),
        step("dma_buf_detach", "Detach under resv, then dma_buf_put.",
             when=resv_free(v, b), do={v.attached[imp]: 0, **put},
             events=(put_ev, use(b), takes("resv")), goto=DONE, source=f"{DMABUF}:dma_buf_detach"),
    ]


def _importer(inner, check_revoked):
    def importer(t, imp: int):
        if t.cfg.importers[imp].kind == "iommufd":
            return iommufd_pal_importer(t, imp, check_revoked)
        return inner(t, imp)
    return importer


def _revoke_notify(t, b) -> tuple:
    """iopt_revoke_notify of every iommufd attachment of ``b`` (resv held): guard, updates, events."""
    v = t.v
    imps = _iommufd(t.cfg, b)
    if not imps:
        return TRUE, {}, ()
    drop = sum((_n(v.mapped[i]) for i in imps[1:]), _n(v.mapped[imps[0]]))
    guard = and_(*[v.pages_mutex[i] == NONE for i in imps])
    evs = tuple(Event("pal_unmap", (i, 0)) for i in imps) + (Event("kref_put", (b,)), takes("pages_mutex"))
    # phys.len != 0 only once mapped: an attachment revoked before its map is not revoked for good
    perm = {v.perm_revoked[i]: or_(v.perm_revoked[i], v.mapped[i]) for i in imps}
    return guard, {v.kref[b]: v.kref[b] - drop, **perm, **{v.mapped[i]: 0 for i in imps}}, evs


def _move(inner):
    """move: each resv section whose invalidate reaches iopt_revoke_notify also drops iommufd's krefs."""
    def vfio_pci_dma_buf_move(t, vdev, revoked):
        stmts = inner(t, vdev, revoked)
        names = [x.name for x in t.cfg.bufs]
        for s in stmts:
            for pre in ("dma_resv_lock(", "dma_buf_invalidate_mappings("):
                if s.label.startswith(pre):
                    b = names.index(s.label[len(pre):-1])
                    guard, do, evs = _revoke_notify(t, b)
                    for br in s.branches:
                        br.when = and_(br.when, guard)
                        br.do.update(do)
                        br.events = tuple(br.events) + evs
        return stmts
    return vfio_pci_dma_buf_move


# --- properties --------------------------------------------------------------------

def _nb(m):
    return len(m.config.bufs)


def _has_iommufd(m):
    return any(x.kind == "iommufd" for x in m.config.importers)


PAL_MAP_NEEDS_UNREVOKED = Property(
    "pal-map-needs-unrevoked",
    """A PAL mapping of a vfio dma-buf is handed out only while it is not revoked.

    dma_buf_pal_map_phys runs under dmabuf->resv; vfio_pci_dma_pal_map_phys
    must see priv->revoked == false there (protocol-facts I3), else iommufd
    maps a BAR that move(true) has already revoked and that a reset or
    disable is about to touch.
    """,
    events={"pal_map": lambda m, b: each(b, _nb(m), lambda k: ~m.v.revoked[k])},
    witnesses=(Witness("pal-map", applies=_has_iommufd, event=("pal_map", lambda m, b: TRUE)),
               Witness("buf-revoked-while-attached", applies=_has_iommufd, state=lambda m: or_(*[
                   and_(m.v.revoked[x.buf], m.v.attached[i]) for i, x in enumerate(m.config.importers)
                   if x.kind == "iommufd"]))),
)


def _waiting(m, b):
    """Some thread is between move(true)'s kref_put and its kref_init for buf ``b``."""
    name = f"wait_for_completion({m.config.bufs[b].name})"
    out = []
    for t in m.threads:
        vals = [k for k, n in enumerate(t.pc.domain.names) if name in n]
        out += [t.pc == k for k in vals]
    return or_(*out)


def _kref_ok(m):
    v = m.v
    out = []
    for b in range(_nb(m)):
        imps = m.config.importers_of(b)
        maps = sum((_n(v.mapped[i]) for i in imps), const(0))
        alive = or_(v.phase[b] == "exported", v.phase[b] == "listed", v.phase[b] == "unlisted")
        out.append(implies(and_(alive, ~_waiting(m, b)), v.kref[b] == maps + 1))
    return and_(*out)


KREF_COUNTS_MAPPINGS = Property(
    "kref-counts-mappings",
    """Quiescent priv->kref is 1 + the live mappings, iommufd's PAL mappings included.

    Outside move(true)'s window between the kref_put of the registered
    reference and kref_init, priv->kref counts the registered reference and
    one reference per sg_table or PAL mapping (protocol-facts I6): every
    dma_buf_pal_map_phys took kref_get and every dma_buf_pal_unmap_phys
    (IOMMU_IOAS_UNMAP or iopt_revoke_notify) a kref_put.
    """,
    invariant=_kref_ok,
    witnesses=(Witness("iommufd-holds-kref", applies=_has_iommufd, state=lambda m: or_(*[
        and_(m.v.mapped[i], m.v.kref[x.buf] == 2) for i, x in enumerate(m.config.importers)
        if x.kind == "iommufd"])),
               Witness("revoke-drops-iommufd-kref", applies=_has_iommufd, event=("pal_unmap", lambda m, i, ioas: and_(
                   const(ioas) == 0, m.v.mapped[i])))),
)


def _unmap_locked(m, i, ioas):
    """At dma_buf_pal_unmap_phys the step takes resv (free before it) and pages->mutex is free.

    A one-step resv section is modelled by Lipton's reduction: resv is free
    in the pre-state and held for the whole step.
    """
    v = m.v
    b = m.config.importers[i].buf
    return and_(v.resv[b] == NONE, v.pages_mutex[i] == NONE)


IOMMUFD_UNMAP_UNDER_RESV = Property(
    "iommufd-unmap-under-resv",
    """iommufd's unmap needs only dmabuf->resv and pages->mutex.

    iopt_revoke_notify runs inside move's resv section (memory_lock(W) and,
    in hot reset, dev_set->lock held by the revoker) and takes only
    pages->mutex, which no path holds while waiting for memory_lock, resv or
    a completion; after IOMMU_IOAS_UNMAP, iopt_release_pages takes resv
    alone to give the mapping back.  So
    dma_buf_pal_unmap_phys always runs with resv held and never waits for a
    lock the revoker holds (lock order resv -> pages->mutex).
    """,
    events={"pal_unmap": _unmap_locked},
    witnesses=(Witness("unmap-in-invalidate", applies=_has_iommufd, event=("pal_unmap", lambda m, i, ioas: and_(
        const(ioas) == 0, m.v.mapped[i]))),
               Witness("unmap-by-ioas-unmap", applies=_has_iommufd,
                       event=("pal_unmap", lambda m, i, ioas: const(ioas) == 1))),
)

PROPS = (PAL_MAP_NEEDS_UNREVOKED, KREF_COUNTS_MAPPINGS, IOMMUFD_UNMAP_UNDER_RESV)

CONFIGS = {
    "pal": {
        "doc": "One open device exporting one buf to an iommufd IOAS that maps it through the PAL "
               "mapping type, beside a dynamic importer; PCI_COMMAND writes revoke and un-revoke.",
        "devices": [{"name": "dev0", "open": True, "mem": True}],
        "bufs": [{"name": "buf0", "dev": "dev0", "exists": True}],
        "importers": [{"name": "ioas0", "buf": "buf0", "kind": "iommufd"},
                      {"name": "imp1", "buf": "buf0", "fences": False}],
        "actors": [{"kind": "config_write", "dev": "dev0", "mem": [False, True]},
                   {"kind": "importer", "importer": "ioas0"},
                   {"kind": "importer", "importer": "imp1"}],
    },
    "pal-reset": {
        "doc": "The PAL iommufd importer beside a dynamic importer; a reset ioctl (which may fail) and "
               "a PCI_COMMAND write revoke; device close.",
        "devices": [{"name": "dev0", "open": True, "mem": True}],
        "bufs": [{"name": "buf0", "dev": "dev0", "exists": True}],
        "importers": [{"name": "ioas0", "buf": "buf0", "kind": "iommufd"},
                      {"name": "imp1", "buf": "buf0", "fences": False}],
        "actors": [{"kind": "config_write", "dev": "dev0", "mem": [False]},
                   {"kind": "ioctl_reset", "dev": "dev0"},
                   {"kind": "importer", "importer": "ioas0"},
                   {"kind": "importer", "importer": "imp1"}],
    },
}


def _series(p, check_revoked: bool):
    p.add_lock(Lock("importer", "pages_mutex", "mutex", klass="pages_mutex", expr="&{}->pages->mutex",
                    doc="iommufd pages->mutex (the DMABUF pages lockdep class); taken under resv"))
    p.replace_procedure("importer", _importer(p.procs["importer"][0], check_revoked),
                        f"{DMABUF}:dma_buf_dynamic_attach")
    p.replace_procedure(MOVE, _move(p.procs[MOVE][0]))
    for prop in PROPS:
        p.add_property(prop)
    for name, raw in CONFIGS.items():
        p.add_config(name, raw)


@variant("mapping-type-rfc")
def mapping_type_rfc(p):
    """Gunthorpe mapping-type RFC v1 (2026-02-17): iommufd maps vfio dma-bufs through the PAL type."""
    _series(p, check_revoked=False)


@variant("mapping-type-rfc-check-revoked")
def mapping_type_rfc_check_revoked(p):
    """The RFC plus the fix: vfio_pci_dma_pal_map_phys refuses a revoked buf with -ENODEV."""
    _series(p, check_revoked=True)
