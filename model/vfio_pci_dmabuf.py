"""drivers/vfio/pci/vfio_pci_dmabuf.c: export, move (revoke/un-revoke), cleanup, release.

vfio_pci_dma_buf_move(vdev, revoked), with memory_lock held for write, walks
vdev->dmabufs; per buf: get_file_active() (skip if the release is pending),
skip if already in the target state, then

  revoke:    dma_resv_lock; revoked = true; dma_buf_invalidate_mappings;
             dma_resv_wait_timeout(BOOKKEEP); dma_resv_unlock;
             kref_put(registered ref); wait_for_completion (every importer
             unmapped); kref_init; reinit_completion
  un-revoke: dma_resv_lock; dma_buf_invalidate_mappings (still revoked);
             dma_resv_wait_timeout; dma_resv_unlock;
             dma_resv_lock; revoked = false; dma_resv_unlock
  fput.
"""
from __future__ import annotations

from .expr import BOOL, ENUM, INT, TRUE, and_, ite, or_, const
from .lang import Branch, Call, Event, RETURN, DONE, Step, step
from .locks import (NONE, down_write, resv_free, rwsem_write_free, takes,
                    up_write)
from .protocol import procedure
from .schema import Attr, Field, ObjectKind

SRC = "drivers/vfio/pci/vfio_pci_dmabuf.c"

# the life of struct vfio_pci_dma_buf: kzalloc'd .. exported .. on vdev->dmabufs
# .. unlinked (cleanup or release) .. freed by vfio_pci_dma_buf_release.
PHASES = ("none", "exported", "listed", "unlisted", "freed")


def live(v, b):
    """On ``vdev->dmabufs`` and ``get_file_active`` would succeed."""
    return and_(v.phase[b] == "listed", v.f_count[b] > 0)


def reachable(v, b):
    """Some file reference exists (fd or importer) and the buf was listed once."""
    return and_(or_(v.phase[b] == "listed", v.phase[b] == "unlisted"), v.f_count[b] > 0)


def declare(p):
    """struct vfio_pci_dma_buf: its life, priv->vdev, priv->revoked, priv->kref, priv->comp."""
    p.add_object_kind(ObjectKind(
        "buf", "bufs", "struct vfio_pci_dma_buf", ref="buf",
        doc="dma-bufs exported from a device's BAR",
        attrs=(Attr("dev", "ref:device", doc="the device whose BAR it exports"),
               Attr("exists", "bool", True,
                    "already exported with an fd at the start (else a feature_dma_buf actor creates it)"))))
    exists = lambda cfg, b: cfg.bufs[b].exists  # noqa: E731
    p.add_field(Field("buf", "phase", ENUM(*PHASES), lambda cfg, b: "listed" if exists(cfg, b) else "none",
                      "where the buf is in its life"))
    p.add_field(Field("buf", "priv_vdev", BOOL, exists, "priv->vdev != NULL (holds a registration reference)"))
    p.add_field(Field("buf", "revoked", BOOL,
                      lambda cfg, b: exists(cfg, b) and not cfg.devices[cfg.bufs[b].dev].mem,
                      "priv->revoked"))
    p.add_field(Field("buf", "kref", lambda cfg, b: INT(0, 1 + len(cfg.importers_of(b))),
                      lambda cfg, b: int(exists(cfg, b)), "priv->kref: 1 (registered) + live sg mappings",
                      refcount=True))
    p.add_field(Field("buf", "comp", BOOL, 0, "priv->comp completed"))
    p.add_helper("live", live)
    p.add_helper("reachable", reachable)


def use(b):
    return Event("use", (b,))


def fput(v, b) -> tuple[dict, Event]:
    """``fput(dmabuf->file)``: the last one queues dma_buf_release (deferred)."""
    return {v.f_count[b]: v.f_count[b] - 1}, Event("fput", (b,))


def invalidate(v, b) -> dict:
    """``dma_buf_invalidate_mappings``: call every attachment's invalidate_mappings under resv.

    A dynamic importer is only told to stop (it unmaps in a later step of its
    own); iommufd's iopt_revoke_notify unmaps the IOMMU ranges right here and
    sets phys.len = 0, which no un-revoke undoes.
    """
    out = {}
    for i in v.cfg.importers_of(b):
        if v.cfg.importers[i].kind == "iommufd":
            out[v.mapped[i]] = 0
            out[v.perm_revoked[i]] = or_(v.perm_revoked[i], v.attached[i])
        elif v.cfg.importers[i].kind != "sync":   # dynamic, and kinds variants add (io_uring)
            out[v.notified[i]] = or_(v.notified[i], v.mapped[i])
    from .mlx5_dmabuf import invalidate_sync  # sync RDMA MRs unmap right here
    out.update(invalidate_sync(v, b))
    return out


def no_fences(v, b):
    return and_(*[~v.fence[i] for i in v.cfg.importers_of(b)])


@procedure("vfio_pci_dma_buf_move", f"{SRC}:vfio_pci_dma_buf_move")
def vfio_pci_dma_buf_move(t, vdev, revoked: bool):
    v, cfg = t.v, t.cfg
    static = isinstance(vdev, int)
    bufs = cfg.bufs_of(vdev) if static else range(len(cfg.bufs))
    out = []
    firsts = [f"get_file_active({cfg.bufs[b].name})" for b in bufs] + [None]
    for n, b in enumerate(bufs):
        bn = cfg.bufs[b].name
        nxt = firsts[n + 1] or RETURN
        on_list = and_(TRUE if static else const(cfg.bufs[b].dev) == vdev,
                       v.phase[b] == "listed")
        live = and_(on_list, v.f_count[b] > 0)
        held = (Event("move_locked", (vdev, t.me)),) if n == 0 else ()
        out.append(Step(f"get_file_active({bn})", [
            Branch(~on_list, goto=nxt, note="not on vdev->dmabufs", events=held),
            Branch(and_(on_list, v.f_count[b] == 0), goto=nxt, events=held,
                   note="get_file_active() failed: release pending"),
            Branch(and_(live, v.revoked[b] == int(revoked)), goto=nxt, events=held,
                   note="already revoked" if revoked else "not revoked"),
            Branch(and_(live, v.revoked[b] != int(revoked)),
                   {v.f_count[b]: v.f_count[b] + 1}, events=held + (use(b),)),
        ], "Take a file reference on the next buf of vdev->dmabufs unless its release is pending."))
        if revoked:
            out += [
                step(f"dma_resv_lock({bn})",
                     "Under the reservation lock set priv->revoked and call every importer's invalidate_mappings.",
                     when=resv_free(v, b),
                     do={v.resv[b]: t.me, v.revoked[b]: 1, **invalidate(v, b)},
                     events=(use(b),)),
                step(f"dma_resv_wait_timeout({bn})",
                     "Wait for every BOOKKEEP fence in resv, unlock resv, then kref_put the registered reference.",
                     when=no_fences(v, b),
                     do={v.resv[b]: NONE, v.kref[b]: v.kref[b] - 1,
                         v.comp[b]: ite(v.kref[b] == 1, 1, v.comp[b])},
                     events=(Event("unlock", (v.resv[b], t.me)), Event("kref_put", (b,)), use(b))),
                step(f"wait_for_completion({bn})",
                     "Wait until every importer has unmapped (kref hit 0), re-arm kref and the completion, fput.",
                     when=v.comp[b],
                     do={v.kref[b]: 1, v.comp[b]: 0, **fput(v, b)[0]},
                     events=(Event("revoke_returned", (b,)), fput(v, b)[1], use(b)),
                     goto=nxt),
            ]
        else:
            out += [
                step(f"dma_buf_invalidate_mappings({bn})",
                     "Under resv, tell importers to re-validate while priv->revoked is still true.",
                     when=resv_free(v, b),
                     do={v.resv[b]: t.me, **invalidate(v, b)}, events=(use(b),)),
                step(f"dma_resv_wait_timeout({bn})",
                     "Wait for every BOOKKEEP fence in resv, then unlock resv.",
                     when=no_fences(v, b),
                     do={v.resv[b]: NONE},
                     events=(Event("unlock", (v.resv[b], t.me)), use(b))),
                step(f"clear_revoked({bn})",
                     "Take resv again, clear priv->revoked, unlock resv and fput.",
                     when=resv_free(v, b),
                     do={v.revoked[b]: 0, **fput(v, b)[0]},
                     events=(fput(v, b)[1], use(b), takes("resv")), goto=nxt),
            ]
    return out or [step("empty", "vdev->dmabufs is empty for this device.", goto=RETURN,
                        events=(Event("move_locked", (vdev, t.me)),))]


@procedure("vfio_pci_dma_buf_cleanup", f"{SRC}:vfio_pci_dma_buf_cleanup")
def vfio_pci_dma_buf_cleanup(t, vdev: int):
    v, cfg = t.v, t.cfg
    unlock, ev = up_write(t, vdev)
    out = [
        step("down_write", "Take memory_lock for write.",
             when=rwsem_write_free(v, vdev), do=down_write(t, vdev)),
        Call("revoke", "vfio_pci_dma_buf_move", {"vdev": vdev, "revoked": True}),
    ]
    for b in cfg.bufs_of(vdev):
        bn = cfg.bufs[b].name
        out.append(Step(f"list_del_init({bn})", [
            Branch(v.live(b),
                   {v.phase[b]: "unlisted", v.priv_vdev[b]: 0,
                    v.registration[vdev]: v.registration[vdev] - 1},
                   events=(use(b), Event("put_registration", (vdev,)))),
            Branch(~v.live(b), note="get_file_active() failed or not listed: skip"),
        ], "Unlink a live buf, clear priv->vdev and drop its registration reference."))
    out.append(step("up_write", "Release memory_lock.", do=unlock, events=(ev,), goto=RETURN))
    return out


@procedure("vfio_pci_core_feature_dma_buf", f"{SRC}:vfio_pci_core_feature_dma_buf")
def vfio_pci_core_feature_dma_buf(t, buf: int):
    v, cfg = t.v, t.cfg
    d = cfg.bufs[buf].dev
    fd_fail = []
    if cfg.may("dma_buf_fd_fails"):
        put, ev = fput(v, buf)
        fd_fail = [Branch(TRUE, put, goto=DONE, choice="fd table full",
                          events=(ev,), note="-EMFILE: dma_buf_put() and return")]
    return [
        step("dma_buf_export",
             "Take a registration reference, export the dma-buf (file refcount 1), kref_init and init_completion.",
             do={v.phase[buf]: "exported", v.f_count[buf]: 1, v.priv_vdev[buf]: 1,
                 v.registration[d]: v.registration[d] + 1, v.kref[buf]: 1, v.comp[buf]: 0}),
        step("list_add_tail",
             "Under memory_lock(W) and resv set revoked = !memory_enabled and link the buf on vdev->dmabufs.",
             when=and_(rwsem_write_free(v, d), resv_free(v, buf)),
             do={v.revoked[buf]: ~v.memory_enabled(d), v.phase[buf]: "listed"},
             events=(Event("mem_enabled_eval", (d,)), use(buf), takes("memory_lock", "resv"))),
        Step("dma_buf_fd", [
            Branch(TRUE, {v.has_fd[buf]: 1}, goto=DONE, choice="fd installed" if fd_fail else None,
                   events=(use(buf),)),
            *fd_fail,
        ], "Install the dma-buf file in the fd table; on failure put the only reference."),
    ]


@procedure("vfio_pci_dma_buf_release", f"{SRC}:vfio_pci_dma_buf_release")
def vfio_pci_dma_buf_release(t, buf: int):
    v, cfg = t.v, t.cfg
    d = cfg.bufs[buf].dev
    return [
        step("idle",
             "The last fput() queued __fput(); dma_buf_release runs later from task work.",
             when=and_(v.f_count[buf] == 0, v.phase[buf] != "none"),
             source="drivers/dma-buf/dma-buf.c:dma_buf_release"),
        Step("vfio_pci_dma_buf_release", [
            Branch(and_(v.priv_vdev[buf], rwsem_write_free(v, d)),
                   {v.phase[buf]: "freed", v.priv_vdev[buf]: 0,
                    v.registration[d]: v.registration[d] - 1},
                   goto=DONE, events=(use(buf), Event("put_registration", (d,)), takes("memory_lock")),
                   note="priv->vdev set: unlink under memory_lock(W), put the registration"),
            Branch(~v.priv_vdev[buf], {v.phase[buf]: "freed"}, goto=DONE, events=(use(buf),),
                   note="cleanup already unlinked it"),
        ], "If priv->vdev is set, unlink the buf under memory_lock(W) and put the registration; free priv."),
    ]
