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
from .lang import Branch, Call, Event, ModelError, NEXT, RETURN, DONE, Step, step
from .locks import (NONE, down_write, resv_free, rwsem_write_free, takes,
                    up_write)
from .protocol import procedure
from .schema import Attr, Field, ObjectKind

SRC = "drivers/vfio/pci/vfio_pci_dmabuf.c"

# the life of struct vfio_pci_dma_buf: kzalloc'd .. exported .. on vdev->dmabufs
# .. unlinked (cleanup or release) .. freed by vfio_pci_dma_buf_release.
PHASES = ("none", "exported", "listed", "unlisted", "freed")


def created_bufs(cfg, d) -> list[int]:
    """Bufs of device ``d`` whose place on vdev->dmabufs is decided at run time.

    Bufs that exist at the start were linked in index order before anything
    ran; a buf created later is linked behind them (list_add_tail).  Only
    when a device has two or more such bufs can their order differ between
    runs, so only then does each carry ``list_pos``; otherwise the list order
    is the buf index order and no field changes.
    """
    made = [b for b in cfg.bufs_of(d) if not cfg.bufs[b].exists]
    return made if len(made) >= 2 else []


def list_order(cfg, bufs) -> list[int]:
    """The bufs of ``bufs`` whose list order is fixed: those present at the start, then lone created ones."""
    fixed = [b for b in bufs if b not in created_bufs(cfg, cfg.bufs[b].dev)]
    return [b for b in fixed if cfg.bufs[b].exists] + [b for b in fixed if not cfg.bufs[b].exists]


def ever_listed(v, b):
    """list_add_tail has run for ``b`` (it may have been unlinked since)."""
    return and_(v.phase[b] != "none", v.phase[b] != "exported")


def list_add_tail(v, buf) -> dict:
    """Link ``buf`` at the tail of vdev->dmabufs: its ``list_pos`` counts the created bufs linked before it.

    Positions are handed out 0, 1, ... in linking order and never reused (a
    buf is linked once), so the walk below visits slot after slot and stops
    at the first empty one.
    """
    made = created_bufs(v.cfg, v.cfg.bufs[buf].dev)
    out = {v.phase[buf]: "listed"}
    if buf in made:
        out[v.list_pos[buf]] = sum((ite(ever_listed(v, c), 1, 0) for c in made if c != buf), const(0))
    return out


def walk_next(v, groups, g: int, slot: int, end: str, label, match=lambda b: TRUE) -> list:
    """Where list_for_each_entry goes from slot ``slot`` of created group ``g``: [(guard, label)].

    The guards are exclusive and cover every state: the buf linked at that
    slot (``match`` narrows to the walked device), else the next group, else ``end``.
    """
    if g >= len(groups):
        return [(TRUE, end)]
    made = groups[g]
    if slot >= len(made):
        return walk_next(v, groups, g + 1, 0, end, label, match)
    at = [and_(match(c), ever_listed(v, c), v.list_pos[c] == slot) for c in made]
    rest = walk_next(v, groups, g + 1, 0, end, label, match)
    return ([(a, label(c)) for a, c in zip(at, made)]
            + [(and_(*[~a for a in at], r), lab) for r, lab in rest])


def after(v, groups, g: int, b: int, end: str, label, match=lambda b: TRUE) -> list:
    """Where the walk goes once it is done with created buf ``b`` of group ``g``: by ``b``'s slot."""
    return [(and_(v.list_pos[b] == j, guard), lab)
            for j in range(len(groups[g])) for guard, lab in walk_next(v, groups, g, j + 1, end, label, match)]


def fan(stmt: Step, mark: str, alts) -> Step:
    """Split every branch of ``stmt`` that goes to ``mark`` into one branch per (guard, label) of ``alts``."""
    if not isinstance(stmt, Step):
        if getattr(stmt, "goto", None) == mark:
            raise ModelError(f"{stmt.label}: a walk's exit must be a step, not a call")
        return stmt
    out = []
    for br in stmt.branches:
        if br.goto != mark:
            out.append(br)
            continue
        out += [Branch(and_(br.when, g), dict(br.do), lab, br.choice, br.events, br.note) for g, lab in alts]
    stmt.branches = out
    return stmt


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
    p.add_field(Field("buf", "list_pos",
                      lambda cfg, b: INT(0, max(0, len(created_bufs(cfg, cfg.bufs[b].dev)) - 1)), 0,
                      "the buf's place among the created bufs of its device on vdev->dmabufs "
                      "(only with two or more of them; the list order otherwise is the index order)"))
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


WALK = "<walk-next>"


def walk_list(t, vdev, body, end: str = RETURN, held: tuple = ()) -> list:
    """list_for_each_entry over vdev->dmabufs in list order: ``body(b, nxt, events)`` per buf.

    ``body`` returns the buf's steps; the first is the visit (labelled
    ``get_file_active(<buf>)``) and every branch that leaves the buf goes to
    ``nxt``.  The fixed part of the list (``list_order``) is walked buf after
    buf; created bufs (``created_bufs``) slot after slot by ``list_pos``,
    their exits split by where the walk goes next.  ``held`` rides on the
    walk's first step.  Empty list: no steps (the caller says what happens).
    """
    v, cfg = t.v, t.cfg
    static = isinstance(vdev, int)
    devs = [vdev] if static else range(len(cfg.devices))
    bufs = list_order(cfg, cfg.bufs_of(vdev) if static else range(len(cfg.bufs)))
    groups = [g for g in (created_bufs(cfg, d) for d in devs) if g]
    first = lambda b: f"get_file_active({cfg.bufs[b].name})"  # noqa: E731
    match = (lambda b: TRUE) if static else (lambda b: const(cfg.bufs[b].dev) == vdev)
    out = []
    for n, b in enumerate(bufs):
        nxt = first(bufs[n + 1]) if n + 1 < len(bufs) else (WALK if groups else end)
        out += body(b, nxt, held if n == 0 else ())
    if out and groups:
        for st in out:
            fan(st, WALK, walk_next(v, groups, 0, 0, end, first, match))
    if not out and groups:
        out.append(Step("list_for_each_entry", [
            Branch(g, goto=lab, events=held, note="" if lab != end else "vdev->dmabufs is empty")
            for g, lab in walk_next(v, groups, 0, 0, end, first, match)],
            "Start at the head of vdev->dmabufs: the buf linked first."))
    for gi, made in enumerate(groups):
        for b in made:
            out += [fan(st, WALK, after(v, groups, gi, b, end, first, match)) for st in body(b, WALK, ())]
    return out


@procedure("vfio_pci_dma_buf_move", f"{SRC}:vfio_pci_dma_buf_move")
def vfio_pci_dma_buf_move(t, vdev, revoked: bool):
    static = isinstance(vdev, int)
    held = (Event("move_locked", (vdev, t.me)),)
    out = walk_list(t, vdev, lambda b, nxt, evs: _move_buf(t, vdev, static, b, revoked, nxt, evs), held=held)
    return out or [step("empty", "vdev->dmabufs is empty for this device.", goto=RETURN, events=held)]


def _move_buf(t, vdev, static, b, revoked, nxt, held) -> list:
    """One buf of the walk: get_file_active, then revoke or un-revoke it; ``nxt`` is where the walk goes on."""
    v, cfg = t.v, t.cfg
    bn = cfg.bufs[b].name
    on_list = and_(TRUE if static else const(cfg.bufs[b].dev) == vdev,
                   v.phase[b] == "listed")
    live = and_(on_list, v.f_count[b] > 0)
    out = [Step(f"get_file_active({bn})", [
        Branch(~on_list, goto=nxt, note="not on vdev->dmabufs", events=held),
        Branch(and_(on_list, v.f_count[b] == 0), goto=nxt, events=held,
               note="get_file_active() failed: release pending"),
        Branch(and_(live, v.revoked[b] == int(revoked)), goto=nxt, events=held,
               note="already revoked" if revoked else "not revoked"),
        Branch(and_(live, v.revoked[b] != int(revoked)),
               {v.f_count[b]: v.f_count[b] + 1}, events=held + (use(b),)),
    ], "Take a file reference on the next buf of vdev->dmabufs unless its release is pending.")]
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
    return out


@procedure("vfio_pci_dma_buf_cleanup", f"{SRC}:vfio_pci_dma_buf_cleanup")
def vfio_pci_dma_buf_cleanup(t, vdev: int):
    v, cfg = t.v, t.cfg
    unlock, ev = up_write(t, vdev)
    out = [
        step("down_write", "Take memory_lock for write.",
             when=rwsem_write_free(v, vdev), do=down_write(t, vdev)),
        Call("revoke", "vfio_pci_dma_buf_move", {"vdev": vdev, "revoked": True}),
    ]
    bufs = list_order(cfg, cfg.bufs_of(vdev))
    groups = [g for g in [created_bufs(cfg, vdev)] if g]
    label = lambda b: f"list_del_init({cfg.bufs[b].name})"  # noqa: E731

    def unlink(b, nxt):
        return Step(label(b), [
            Branch(v.live(b),
                   {v.phase[b]: "unlisted", v.priv_vdev[b]: 0,
                    v.registration[vdev]: v.registration[vdev] - 1},
                   goto=nxt, events=(use(b), Event("put_registration", (vdev,)))),
            Branch(~v.live(b), goto=nxt, note="get_file_active() failed or not listed: skip"),
        ], "Unlink a live buf, clear priv->vdev and drop its registration reference.")
    for n, b in enumerate(bufs):
        out.append(unlink(b, WALK if groups and n + 1 == len(bufs) else NEXT))
    if groups:
        start = walk_next(v, groups, 0, 0, "up_write", label)
        if bufs:
            fan(out[-1], WALK, start)
        else:
            out.append(Step("list_for_each_entry_safe", [Branch(g, goto=lab) for g, lab in start],
                            "Start at the head of vdev->dmabufs: the buf linked first."))
        out += [fan(unlink(b, WALK), WALK, after(v, groups, 0, b, "up_write", label)) for b in groups[0]]
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
             do={v.revoked[buf]: ~v.memory_enabled(d), **list_add_tail(v, buf)},
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
