"""What every version of Matt Evans' "vfio/pci: Convert BAR mmap() to use a DMABUF" shares.

kernel-2026 §4.1.  Not a variant itself: ``bar_mmap_dmabuf_v4.py`` applies
:func:`apply` with the v4 locking (memory_lock only), ``bar_mmap_dmabuf_v8.py``
applies v4 and then edits in ``vdev->dmabuf_lock`` and the shadow state.

What the series adds, as modelled here:

* ``priv->status`` in {OK, TEMP_REVOKED, PERM_REVOKED} (upstream's ``revoked``
  is kept as ``status != OK``, written in the same steps, so upstream's
  importer and property code reads it unchanged);
* every BAR ``mmap()`` of the device fd creates an internal vfio dma-buf (a
  ``buf`` with ``mmap = true``): no fd, the VMA holds its file, ``priv->vfile``
  holds the device file; exported bufs become mmap-able too;
* the PTEs live in the dma-buf's own address_space (``pte[buf]``); the fault
  (``dmabuf_fault``) inserts them, revoke zaps them with unmap_mapping_range;
* ``VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE`` (``dmabuf_revoke``): PERM_REVOKED;
* un-revoke (v4+) is one resv section TEMP_REVOKED -> OK, without invalidate.

Upstream's ``bar_fault`` actor stays: it is the fault on the device inode of a
driver that overrides ``.mmap`` (``zap_bars_on_revoke``), still zapped by
``vfio_pci_zap_and_down_write_memory_lock``; so upstream's configs run.
"""
from __future__ import annotations

from revoke_check.model import actors as upstream_actors
from revoke_check.model.config import ConfigError
from revoke_check.model.expr import BOOL, ENUM, FALSE, TRUE, and_, implies, ite, or_
from revoke_check.model.lang import Branch, DONE, Event, RETURN, Step, step
from revoke_check.model.locks import NONE, resv_free, rwsem_write_free, takes
from revoke_check.model.schema import ActorKind, Attr, Field, Lock
from revoke_check.model.vfio_pci_dmabuf import fput, invalidate, list_add_tail, no_fences, use, walk_list
from revoke_check.properties import Property, Witness, each
from revoke_check.properties import catalog

DMABUF = "drivers/vfio/pci/vfio_pci_dmabuf.c"
CORE = "drivers/vfio/pci/vfio_pci_core.c"
MOVE = "vfio_pci_dma_buf_move"

STATUS = ("OK", "TEMP_REVOKED", "PERM_REVOKED")
OK, TEMP, PERM = 0, 1, 2


# --- state ---------------------------------------------------------------------

def declare_state(p):
    """priv->status, the dma-buf address_space's PTEs, the VMA, priv->vfile, mm->mmap_lock."""
    p.add_attr("buf", Attr("mmap", "bool", False,
                           "an internal dma-buf a BAR mmap() of the device fd creates (no fd; "
                           "exists must be false and a bar_mmap actor creates it)"))
    p.add_field(Field("buf", "status", ENUM(*STATUS),
                      lambda cfg, b: "TEMP_REVOKED" if cfg.bufs[b].exists and not cfg.devices[cfg.bufs[b].dev].mem
                      else "OK",
                      "priv->status (replaces priv->revoked; revoked == status != OK)"))
    p.add_field(Field("buf", "pte", BOOL, 0, "a PTE in the dma-buf's address_space maps the BAR"))
    p.add_field(Field("buf", "vma", BOOL, 0, "a VMA whose vm_file is the dma-buf file exists"))
    p.add_field(Field("buf", "vfile", BOOL, 0, "priv->vfile holds a reference on the vfio device file"))
    p.add_field(Field("buf", "zap_pending", BOOL, 0,
                      "ghost: a revoker left OK and has not yet run unmap_mapping_range on the buf "
                      "(it will zap every PTE)"))
    if not any(lk.name == "mmap_lock" for lk in p.locks):   # mainline declares it (vfio_pci_rdwr.py)
        p.add_lock(Lock(None, "mmap_lock", "rwsem", klass="mmap_lock", var="mmap_lock",
                        expr="&mm->mmap_lock",
                        doc="mm->mmap_lock of the process that mmaps: mmap()/munmap() write, faults read"))


def set_status(v, b, new) -> dict:
    """``priv->status = new`` and upstream's ``revoked`` with it."""
    return {v.status[b]: new, v.revoked[b]: ite(new == OK, 0, 1) if not isinstance(new, int) else int(new != OK)}


def status_event(b, new):
    return Event("set_status", (b, new))


# --- the revoke of one buf (move(true) and the REVOKE ioctl) ----------------------

def revoke_buf(t, b: int, new: int, nxt: str, put: bool, returned=True) -> list:
    """L(resv); status = new; invalidate; fence wait; U(resv); kref_put; wait_for_completion;
    unmap_mapping_range of the dma-buf address_space; kref_init; reinit_completion."""
    v, bn = t.v, t.cfg.bufs[b].name
    fp, fev = fput(v, b)
    ends = (Event("revoke_returned", (b,)),) if returned else ()
    return [
        step(f"dma_resv_lock({bn})",
             f"Under the reservation lock set priv->status = {STATUS[new]} and call every importer's "
             "invalidate_mappings.",
             when=resv_free(v, b),
             do={v.resv[b]: t.me, **set_status(v, b, new), v.zap_pending[b]: 1, **invalidate(v, b)},
             events=(use(b), status_event(b, new)), source=f"{DMABUF}:vfio_pci_dma_buf_set_status"),
        step(f"dma_resv_wait_timeout({bn})",
             "Wait for every BOOKKEEP fence in resv, unlock resv, then kref_put the registered reference.",
             when=no_fences(v, b),
             do={v.resv[b]: NONE, v.kref[b]: v.kref[b] - 1, v.comp[b]: ite(v.kref[b] == 1, 1, v.comp[b])},
             events=(Event("unlock", (v.resv[b], t.me)), Event("kref_put", (b,)), use(b)),
             source=f"{DMABUF}:vfio_pci_dma_buf_set_status"),
        step(f"wait_for_completion({bn})", "Wait until every importer has unmapped (kref hit 0).",
             when=v.comp[b], events=(use(b),), source=f"{DMABUF}:vfio_pci_dma_buf_set_status"),
        step(f"unmap_mapping_range({bn})",
             "Zap every CPU PTE in the dma-buf's address_space, re-arm kref and the completion"
             + (", fput." if put else "."),
             do={v.pte[b]: 0, v.zap_pending[b]: 0, v.kref[b]: 1, v.comp[b]: 0, **(fp if put else {})},
             events=ends + ((fev,) if put else ()) + (use(b),), goto=nxt,
             source=f"{DMABUF}:vfio_pci_dma_buf_set_status"),
    ]


def series_move(t, vdev, revoked: bool, dmabuf_lock: bool = False, unrevoke_any: bool = False):
    """vfio_pci_dma_buf_move(vdev, revoked) of the series: status instead of revoked.

    revoke: every OK buf -> TEMP_REVOKED with the full drain and the PTE zap;
    un-revoke (v4+): every TEMP_REVOKED buf -> OK in one resv section, no
    invalidate, no wait; PERM_REVOKED bufs are skipped both ways.  With
    ``dmabuf_lock`` (v7+) the walk runs under vdev->dmabuf_lock(W), which also
    writes the shadow state vdev->dmabufs_revoked.  ``unrevoke_any`` is a
    mutation for the tests (un-revoke every buf that is not OK, PERM too).
    """
    v, cfg = t.v, t.cfg
    static = isinstance(vdev, int)
    out = []
    end = "up_write(dmabuf_lock)" if dmabuf_lock else RETURN
    held = Event("move_locked", (vdev, t.me))
    if dmabuf_lock:
        dl, rd = v.dmabuf_lock[vdev], v.dmabuf_lock_readers[vdev]
        out.append(step("down_write(dmabuf_lock)",
                        "Take vdev->dmabuf_lock for write and record the device's revoked state "
                        "(vdev->dmabufs_revoked) for bufs exported later.",
                        when=and_(dl == NONE, rd == 0), do={dl: t.me, v.dmabufs_revoked[vdev]: int(revoked)},
                        events=(held,), source=f"{DMABUF}:vfio_pci_dma_buf_move"))

    def body(b, nxt, evs):
        bn = cfg.bufs[b].name
        on_list = and_(TRUE if static else (vdev == cfg.bufs[b].dev), v.phase[b] == "listed")
        live = and_(on_list, v.f_count[b] > 0)
        want = v.status[b] == (OK if revoked else TEMP)
        if unrevoke_any and not revoked:
            want = v.status[b] != OK
        visit = (Event("unrevoke_visit", (b,)),) if not revoked else ()
        steps = [Step(f"get_file_active({bn})", [
            Branch(~on_list, goto=nxt, note="not on vdev->dmabufs", events=evs),
            Branch(and_(on_list, v.f_count[b] == 0), goto=nxt, events=evs,
                   note="get_file_active() failed: release pending"),
            Branch(and_(live, ~want), goto=nxt, events=evs + visit,
                   note="not OK: already revoked" if revoked else "not TEMP_REVOKED: nothing to restore"),
            Branch(and_(live, want), {v.f_count[b]: v.f_count[b] + 1}, events=evs + visit + (use(b),)),
        ], "Take a file reference on the next buf of vdev->dmabufs unless its release is pending.",
            source=f"{DMABUF}:vfio_pci_dma_buf_move")]
        if revoked:
            return steps + revoke_buf(t, b, TEMP, nxt, put=True)
        fp, fev = fput(v, b)
        return steps + [step(f"dma_resv_lock({bn})",
                             "Under resv move TEMP_REVOKED -> OK (no invalidate, no wait), unlock, fput.",
                             when=resv_free(v, b), do={**set_status(v, b, OK), **fp},
                             events=(fev, use(b), status_event(b, OK), takes("resv")), goto=nxt,
                             source=f"{DMABUF}:vfio_pci_dma_buf_set_status")]
    walk = walk_list(t, vdev, body, end, () if dmabuf_lock else (held,))
    out += walk
    if dmabuf_lock:
        out.append(step("up_write(dmabuf_lock)", "Release vdev->dmabuf_lock.",
                        do={v.dmabuf_lock[vdev]: NONE},
                        events=(Event("unlock", (v.dmabuf_lock[vdev], t.me)),), goto=RETURN,
                        source=f"{DMABUF}:vfio_pci_dma_buf_move"))
    if not walk and not dmabuf_lock:
        return [step("empty", "vdev->dmabufs is empty for this device.", goto=RETURN, events=(held,))]
    return out


# --- export (VFIO_DEVICE_FEATURE_DMA_BUF and mmap()) ---------------------------------

def export_v4(t, buf: int):
    """v1-v5: under memory_lock(W) and resv, status = memory_enabled ? OK : TEMP_REVOKED; list_add."""
    v = t.v
    d = t.cfg.bufs[buf].dev
    new = ite(v.memory_enabled(d), OK, TEMP)
    return step("list_add_tail",
                "Under memory_lock(W) and resv set the initial status from __vfio_pci_memory_enabled and "
                "link the buf on vdev->dmabufs.",
                when=and_(rwsem_write_free(v, d), resv_free(v, buf)),
                do={**set_status(v, buf, new), **list_add_tail(v, buf)},
                events=(Event("mem_enabled_eval", (d,)), Event("export_status", (buf, new)), use(buf),
                        takes("memory_lock", "resv")),
                source=f"{DMABUF}:vfio_pci_dmabuf_export")


# --- the BAR mmap, its fault, munmap ---------------------------------------------------

def bar_mmap(t, buf: int, export=export_v4):
    """mmap() of a BAR (or of an exported dma-buf fd), later munmap().

    A BAR mmap of the device fd runs vfio_pci_core_mmap_prep_dmabuf with
    mmap_lock held for write: try_get_registration, dma_buf_export (the VMA
    owns the file reference), priv->vfile = a reference on the device file,
    list the buf; vm_file becomes the dma-buf file.  An mmap of an exported
    dma-buf fd only takes a file reference for the VMA.
    """
    v, cfg = t.v, t.cfg
    d = cfg.bufs[buf].dev
    mm, mrd = v.mmap_lock, v.mmap_lock_readers
    fp, fev = fput(v, buf)
    wfree = and_(mm == NONE, mrd == 0)
    lock = step("mmap_write_lock", "mmap(): take mmap_lock for write.", when=wfree, do={mm: t.me},
                source="mm/util.c:vm_mmap_pgoff")
    unlock = step("mmap_write_unlock", "Link the VMA (vm_file = the dma-buf file) and drop mmap_lock.",
                  do={mm: NONE, v.vma[buf]: 1}, events=(Event("unlock", (mm, t.me)), use(buf)),
                  source="mm/util.c:vm_mmap_pgoff")
    munmap = step("munmap",
                  "munmap(): under mmap_lock(W) zap the VMA's PTEs and drop its dma-buf file reference.",
                  when=wfree, do={v.vma[buf]: 0, v.pte[buf]: 0, **fp},
                  events=(fev, use(buf), takes("mmap_lock")), goto=DONE, source="mm/vma.c:do_vmi_munmap")
    if not cfg.bufs[buf].mmap:
        return [
            lock,
            Step("dma_buf_mmap", [
                Branch(and_(v.has_fd[buf], v.status[buf] == OK), {v.f_count[buf]: v.f_count[buf] + 1},
                       events=(use(buf),), note="the VMA takes a reference on the dma-buf file"),
                Branch(and_(v.has_fd[buf], v.status[buf] != OK), {mm: NONE}, goto=DONE,
                       events=(use(buf), Event("unlock", (mm, t.me))), note="revoked: -ENODEV"),
            ], "mmap() of the exported dma-buf fd: vfio's mmap refuses a revoked buf.",
                source=f"{DMABUF}:vfio_pci_dma_buf_mmap"),
            unlock, munmap]
    return [
        lock,
        step("dma_buf_export",
             "vfio_pci_core_mmap_prep_dmabuf: take a registration reference, export the internal dma-buf "
             "(the VMA owns its file), hold the device file in priv->vfile.",
             do={v.phase[buf]: "exported", v.f_count[buf]: 1, v.priv_vdev[buf]: 1, v.vfile[buf]: 1,
                 v.registration[d]: v.registration[d] + 1, v.kref[buf]: 1, v.comp[buf]: 0},
             source=f"{DMABUF}:vfio_pci_core_mmap_prep_dmabuf"),
        export(t, buf),
        unlock, munmap]


def _fault_release(t, buf, dmabuf_lock):
    v = t.v
    d = t.cfg.bufs[buf].dev
    rel = {v.memory_lock_readers[d]: v.memory_lock_readers[d] - 1, v.mmap_lock_readers: v.mmap_lock_readers - 1}
    if dmabuf_lock:
        rel[v.dmabuf_lock_readers[d]] = v.dmabuf_lock_readers[d] - 1
    return rel


def fault_recheck(t, buf: int, dmabuf_lock: bool = False):
    """Re-read priv->status under the fault's read locks; revoked meanwhile -> SIGBUS, U, U."""
    v = t.v
    ok = v.status[buf] == OK
    return Step("recheck_status", [
        Branch(ok, events=(use(buf),), note="still OK: find the PFN"),
        Branch(~ok, _fault_release(t, buf, dmabuf_lock), goto=DONE, events=(use(buf),),
               note="revoked meanwhile: VM_FAULT_SIGBUS, up_read, put_registration"),
    ], "Re-read priv->status under the read lock(s) (vfio_pci_dma_buf_find_pfn refuses a revoked buf).",
        source=f"{DMABUF}:vfio_pci_dma_buf_find_pfn")


def fault_insert(t, buf: int, dmabuf_lock: bool = False):
    """vfio_pci_vmf_insert_pfn: SIGBUS if engaged or !memory_enabled, else insert; U; U; put_registration."""
    v = t.v
    d = t.cfg.bufs[buf].dev
    rel = _fault_release(t, buf, dmabuf_lock)
    can = and_(v.memory_enabled(d), ~v.engaged[d])
    me = Event("mem_enabled_eval", (d,))
    return Step("vmf_insert_pfn", [
        Branch(can, {**rel, v.pte[buf]: 1}, goto=DONE,
               events=(me, Event("dmabuf_pte_insert", (buf,)), use(buf)),
               note="memory enabled, not engaged: insert the PFN"),
        Branch(~can, rel, goto=DONE, events=(me, use(buf)),
               note="pm_runtime_engaged or memory disabled: VM_FAULT_SIGBUS"),
    ], "Insert the PFN unless engaged or !memory_enabled, up_read, up_read, vfio_device_put_registration.",
        source="drivers/vfio/pci/vfio_pci_core.c:vfio_pci_vmf_insert_pfn")


def dmabuf_fault(t, buf: int):
    """A CPU touches the dma-buf VMA (v4 locking: resv, then memory_lock(R))."""
    v = t.v
    d = t.cfg.bufs[buf].dev
    mm, mrd = v.mmap_lock, v.mmap_lock_readers
    mem_rd = v.memory_lock_readers[d]
    up_mm = {mrd: mrd - 1}
    got = Event("fault_get_vdev", (buf,))
    return [
        Step("lock_vma", [
            Branch(and_(mm == NONE, v.vma[buf]), {mrd: mrd + 1}, note="the VMA exists: mmap_lock(R) held"),
            Branch(and_(mm == NONE, ~v.vma[buf], v.phase[buf] != "none"), goto=DONE,
                   note="munmapped: SIGSEGV"),
        ], "The fault finds the VMA with mmap_lock (or the per-VMA lock) held for read.",
            source="mm/memory.c:handle_mm_fault"),
        Step("dma_resv_lock", [
            Branch(and_(resv_free(v, buf), v.status[buf] == OK, v.priv_vdev[buf]),
                   events=(got, use(buf), takes("mmap_lock", "resv")),
                   note="status OK: vdev = priv->vdev, vfio_device_try_get_registration"),
            Branch(and_(resv_free(v, buf), v.status[buf] == OK, ~v.priv_vdev[buf]), up_mm, goto=DONE,
                   events=(got, use(buf), takes("mmap_lock", "resv")),
                   note="priv->vdev is NULL: try_get fails, SIGBUS"),
            Branch(and_(resv_free(v, buf), v.status[buf] != OK), up_mm, goto=DONE,
                   events=(use(buf), takes("mmap_lock", "resv")), note="revoked: VM_FAULT_SIGBUS"),
        ], "Under resv test priv->status, read priv->vdev and take a registration reference; unlock resv.",
            source=f"{CORE}:vfio_pci_mmap_huge_fault"),
        step("down_read(memory_lock)", "Take memory_lock for read (waits while a writer holds it).",
             when=v.memory_lock[d] == NONE, do={mem_rd: mem_rd + 1},
             events=(takes("mmap_lock", "memory_lock"),), source=f"{CORE}:vfio_pci_mmap_huge_fault"),
        fault_recheck(t, buf),
        fault_insert(t, buf),
    ]


def revoke_ioctl(t, buf: int, take: list, release: dict, release_ev: tuple, what: str):
    """VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE with the given locks (``what`` names them).

    dma_buf_get(fd); READ_ONCE(priv->vdev) must be this device (stable: the
    ioctl holds the device fd, so cleanup cannot run); take the locks;
    PERM_REVOKED already -> -EBADFD; TEMP_REVOKED -> PERM_REVOKED in one resv
    section (already drained, no wait); OK -> the full revoke with the PTE zap;
    release the locks; dma_buf_put.
    """
    v = t.v
    fp, fev = fput(v, buf)
    src = f"{DMABUF}:vfio_pci_core_feature_dma_buf_revoke"
    out = [
        Step("dma_buf_get", [
            Branch(v.has_fd[buf], {v.f_count[buf]: v.f_count[buf] + 1}, events=(use(buf),)),
            Branch(and_(~v.has_fd[buf], upstream_actors_creator_done(t, buf)), goto=DONE,
                   note="no fd: -EBADF"),
        ], "Look the dma-buf up by fd and take a file reference.", source=src),
        Step("check_vdev", [
            Branch(v.priv_vdev[buf], events=(use(buf),)),
            Branch(~v.priv_vdev[buf], fp, goto=DONE, events=(fev, use(buf)),
                   note="priv->vdev is not this device: -ENODEV, dma_buf_put"),
        ], "Check (without a lock) that priv->vdev is this device.", source=src),
        *take,
        Step("check_status", [
            Branch(v.status[buf] == OK, note="OK: revoke and drain"),
            Branch(v.status[buf] == TEMP, goto="upgrade", note="TEMP_REVOKED: already drained"),
            Branch(v.status[buf] == PERM, {**release, **fp}, goto=DONE, events=release_ev + (fev, use(buf)),
                   note="already PERM_REVOKED: -EBADFD"),
        ], f"Under {what} refuse a buf that is already permanently revoked.", source=src),
        *revoke_buf(t, buf, PERM, "unlock", put=False),
        step("upgrade", "Under resv turn TEMP_REVOKED into PERM_REVOKED; nothing to drain.",
             when=resv_free(v, buf), do=set_status(v, buf, PERM), goto="unlock",
             events=(use(buf), status_event(buf, PERM), takes("resv")),
             source=f"{DMABUF}:vfio_pci_dma_buf_set_status"),
        step("unlock", f"Release {what}; dma_buf_put.", do={**release, **fp},
             events=release_ev + (fev, use(buf)), goto=DONE, source=src),
    ]
    return out


def revoke_ioctl_v4(t, buf: int):
    """v2-v5: the REVOKE ioctl takes memory_lock for write (set_status asserts it)."""
    v = t.v
    d = t.cfg.bufs[buf].dev
    ml = v.memory_lock[d]
    take = [step("down_write(memory_lock)", "Take memory_lock for write.", when=rwsem_write_free(v, d),
                 do={ml: t.me}, source=f"{DMABUF}:vfio_pci_core_feature_dma_buf_revoke")]
    return revoke_ioctl(t, buf, take, {ml: NONE}, (Event("unlock", (ml, t.me)),), "memory_lock(W)")


def upstream_actors_creator_done(t, b):
    from revoke_check.model.dma_buf import creator_done
    return creator_done(t, b)


def bar_rw_user_copy(t, vdev: int):
    """A BAR read() of nvgrace-gpu device memory (the readiness patches, 682ecb14e838 in v7.2).

    Not part of the series: the reader that kernel-2026 §4.1 invariant 6 names.
    nvgrace_gpu_read_mem holds memory_lock(R) across the copy to the user
    buffer; copy_to_user may fault, and the fault may take mmap_lock for read
    (might_fault() tells lockdep it can): memory_lock(R) -> mmap_lock.
    """
    v = t.v
    rd = v.memory_lock_readers[vdev]
    src = "drivers/vfio/pci/nvgrace-gpu/main.c:nvgrace_gpu_read_mem"
    return [
        step("down_read(memory_lock)", "Take memory_lock for read and check the device is ready.",
             when=v.memory_lock[vdev] == NONE, do={rd: rd + 1}, events=(takes("memory_lock"),), source=src),
        step("copy_to_user",
             "Copy to the user buffer; its page fault takes mmap_lock for read (waits while mmap() "
             "holds it for write); then up_read(memory_lock).",
             when=v.mmap_lock == NONE, do={rd: rd - 1}, goto=DONE,
             events=(takes("memory_lock", "mmap_lock"),), source=src),
    ]


# --- release and close: priv->vfile -----------------------------------------------------

def release_puts_vfile(p):
    """vfio_pci_dma_buf_release also fputs priv->vfile (BAR-mmap bufs)."""
    inner = p.procs["vfio_pci_dma_buf_release"][0]

    def make(t, buf):
        return drop_vfile(t, buf, inner(t, buf)[1])
    p.replace_step("vfio_pci_dma_buf_release", "vfio_pci_dma_buf_release", make)


def drop_vfile(t, buf, s):
    """Add ``if (priv->vfile) fput(priv->vfile)`` to the release step ``s``."""
    for br in s.branches:
        br.do[t.v.vfile[buf]] = 0
    s.doc += " A BAR-mmap buf then drops priv->vfile, its device-file reference."
    return s


def close_waits_for_vfile(p):
    """The last close of the device file cannot run while a BAR-mmap dma-buf holds it (priv->vfile)."""
    inner = p.procs["vfio_pci_core_close_device"][0]

    def make(t, vdev):
        s = inner(t, vdev)[0]
        for br in s.branches:
            br.when = and_(br.when, *[~t.v.vfile[b] for b in t.cfg.bufs_of(vdev)])
        s.doc += " Every BAR-mmap dma-buf's priv->vfile must be gone first."
        return s
    p.replace_step("vfio_pci_core_close_device", "mutex_lock", make)


# --- configs ------------------------------------------------------------------------------

def check_config(cfg):
    """Upstream's rules, with bar_mmap actors creating the internal bufs."""
    for b in cfg.bufs:
        if b.mmap:
            makers = [a for a in cfg.actors if a.kind == "bar_mmap" and a.target == b.index]
            if b.exists or len(makers) != 1:
                raise ConfigError(f"{cfg.name}: BAR-mmap buf {b.name} must not exist at the start and "
                                  "needs exactly one bar_mmap actor")
            if cfg.importers_of(b.index) or any(a.target == b.index and a.kind in
                                                ("feature_dma_buf", "close_fd", "dmabuf_revoke")
                                                for a in cfg.actors):
                raise ConfigError(f"{cfg.name}: BAR-mmap buf {b.name} has no fd to import, close or revoke")
    for a in cfg.actors:
        if a.kind == "dmabuf_fault" and not any(x.kind == "bar_mmap" and x.target == a.target for x in cfg.actors):
            raise ConfigError(f"{cfg.name}: actor {a.name} faults on a buf no bar_mmap actor maps")
    # upstream's rules, to which a BAR-mmap buf looks like one that exists (no feature_dma_buf makes it)
    from dataclasses import replace
    from revoke_check.model.config import Obj
    bufs = [Obj("buf", b.name, b.index, {**b._attrs, "exists": True}) if b.mmap else b for b in cfg.bufs]
    upstream_actors.check_config(replace(cfg, objects={**cfg.objects, "buf": bufs}))


def replace_config_check(p):
    p.config_checks = [c for c in p.config_checks if c is not upstream_actors.check_config] + [check_config]


# --- properties ---------------------------------------------------------------------------

def _nb(m):
    return len(m.config.bufs)


def _dev(m, b):
    return m.config.bufs[b].dev


def _reader_kinds_done(m, kinds):
    return and_(*[t.pc == 0 for t in m.threads if t.kind in kinds])


def _lock_discipline(m):
    v = m.v
    nd = len(m.config.devices)
    inv = [implies(t.pc == 0, ~catalog._owned_by(m, t.name)) for t in m.threads]
    inv += [implies(_reader_kinds_done(m, ("bar_fault", "dmabuf_fault", "dmabuf_revoke", "bar_rw_user_copy")),
                    v.memory_lock_readers[d] == 0) for d in range(nd)]
    inv.append(implies(_reader_kinds_done(m, ("dmabuf_fault",)), v.mmap_lock_readers == 0))
    try:
        rd = v.dmabuf_lock_readers
    except AttributeError:
        rd = None
    if rd is not None:
        inv += [implies(_reader_kinds_done(m, ("dmabuf_fault",)), rd[d] == 0) for d in range(nd)]
    return and_(*inv)


LOCK_DISCIPLINE = Property(
    "lock-discipline", catalog.LOCK_DISCIPLINE.doc.rstrip() + """

    Restated for the BAR-mmap series: memory_lock has read holders beside
    the BAR fault (the dma-buf fault, v8's REVOKE ioctl), and mm->mmap_lock
    and vdev->dmabuf_lock (v7+) have read holders too; none is left once
    those threads are done.
    """,
    invariant=_lock_discipline, events=catalog.LOCK_DISCIPLINE.events,
    witnesses=catalog.LOCK_DISCIPLINE.witnesses, explain=catalog.LOCK_DISCIPLINE.explain)


def _restored(m, d):
    v = m.v
    return each(d, len(m.config.devices), lambda k: implies(and_(v.E(k), ~v.engaged[k]), and_(*[
        implies(v.live(b), v.status[b] != TEMP) for b in m.config.bufs_of(k)])))


UNDO_RESTORES_EVERY_REVOKE = Property(
    "undo-restores-every-revoke",
    """When an operation that revoked temporarily ends, its bufs are un-revoked.

    Restated over priv->status (kernel-2026 §4.1 invariant 10): at the
    up_write(memory_lock) that ends a hot reset, VFIO_DEVICE_RESET, a
    config-space FLR or a PCI_COMMAND write, if the device is open with
    memory enabled and not engaged, no live buf (BAR-mmap ones included) is
    left TEMP_REVOKED; PERM_REVOKED bufs stay revoked by design.
    """,
    events={"revoke_window_end": _restored},
    witnesses=catalog.UNDO_RESTORES_EVERY_REVOKE.witnesses,
    explain=catalog.UNDO_RESTORES_EVERY_REVOKE.explain)


def _pte_ok(m, b):
    v = m.v
    d = _dev(m, b)
    return implies(v.pte[b], and_(v.E(d), ~v.engaged[d], or_(v.status[b] == OK, v.zap_pending[b])))


DMABUF_PTE_NEEDS_OK = Property(
    "dmabuf-pte-needs-ok",
    """No PTE in a dma-buf's address_space unless the buf is OK and the BAR decodes.

    kernel-2026 §4.1 invariant 1: a PTE of a vfio dma-buf mapping (a BAR
    mmap's internal buf or an mmapped exported buf) exists only while
    priv->status is OK, the device is open with __vfio_pci_memory_enabled
    and not pm_runtime_engaged; the only exception is the revoker's own
    window between setting TEMP/PERM_REVOKED under resv and its
    unmap_mapping_range.  At every function or bus reset no such PTE exists.
    """,
    invariant=lambda m: and_(*[_pte_ok(m, b) for b in range(_nb(m))]),
    events={"hw_reset": lambda m, d: each(d, len(m.config.devices), lambda k: and_(
        *[~m.v.pte[b] for b in m.config.bufs_of(k)]))},
    witnesses=(
        Witness("pte-inserted", state=lambda m: or_(*[m.v.pte[b] for b in range(_nb(m))]),
                applies=lambda m: bool(m.config.actors_of_kind("dmabuf_fault"))),
        Witness("revoke-while-mapped", state=lambda m: or_(*[m.v.zap_pending[b] for b in range(_nb(m))]),
                applies=lambda m: bool(m.config.actors_of_kind("dmabuf_fault"))),
    ),
)


def _insert_locked(m, b):
    v = m.v
    d = _dev(m, b)
    conds = [v.status[b] == OK, v.memory_lock[d] == NONE]
    try:
        conds.append(v.dmabuf_lock[d] == NONE)
    except AttributeError:
        pass
    return and_(*conds)


FAULT_RECHECKS = Property(
    "fault-rechecks-under-lock",
    """A dma-buf fault inserts a PFN only after re-checking status under the revoker's lock.

    kernel-2026 §4.1 invariant 2: the fault tests priv->status under resv,
    drops resv, and takes memory_lock(R) (and dmabuf_lock(R) from v7); at
    vfio_pci_vmf_insert_pfn the buf is still OK and no writer of status
    (move under memory_lock(W), the REVOKE ioctl) holds the lock the fault
    holds for read.
    """,
    events={"dmabuf_pte_insert": lambda m, b: each(b, _nb(m), lambda k: _insert_locked(m, k))},
    witnesses=(Witness("insert", event=("dmabuf_pte_insert", lambda m, b: TRUE),
                       applies=lambda m: bool(m.config.actors_of_kind("dmabuf_fault"))),),
)


PERM_ABSORBING = Property(
    "perm-revoked-absorbing",
    """PERM_REVOKED is absorbing.

    kernel-2026 §4.1 invariant 4: once VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE
    has set a buf PERM_REVOKED, no step (move(true), move(false), the export
    shadow, hot-reset undo) sets its status to anything else.
    """,
    events={"set_status": lambda m, b, new: each(b, _nb(m), lambda k: implies(
        m.v.status[k] == PERM, new == PERM))},
    witnesses=(Witness("unrevoke-visits-perm", event=("unrevoke_visit", lambda m, b: each(
        b, _nb(m), lambda k: m.v.status[k] == PERM)),
        applies=lambda m: bool(m.config.actors_of_kind("dmabuf_revoke"))),
        Witness("perm-revoked", state=lambda m: or_(*[m.v.status[b] == PERM for b in range(_nb(m))]),
                applies=lambda m: bool(m.config.actors_of_kind("dmabuf_revoke")))),
)


def _agrees(m, b, new):
    v = m.v
    sib = [s for s in m.config.bufs_of(_dev(m, b)) if s != b]
    return and_(*[implies(and_(v.live(s), v.status[s] != PERM), (v.status[s] == TEMP) == (new == TEMP))
                  for s in sib])


INITIAL_STATUS = Property(
    "export-status-agrees",
    """A new buf's initial status agrees with its live siblings.

    kernel-2026 §4.1 invariant 5: when an exported or BAR-mmap dma-buf is
    linked on vdev->dmabufs, it is TEMP_REVOKED exactly when the other live,
    not permanently revoked bufs of the device are (what move last wrote);
    a new buf is never OK while a sibling is TEMP_REVOKED.
    """,
    events={"export_status": lambda m, b, new: each(b, _nb(m), lambda k: _agrees(m, k, new))},
    witnesses=(Witness("export-beside-revoked-sibling", event=("export_status", lambda m, b, new: each(
        b, _nb(m), lambda k: or_(FALSE, *[and_(m.v.live(s), m.v.status[s] == TEMP)
                                         for s in m.config.bufs_of(_dev(m, k)) if s != k]))),
        applies=lambda m: any((a.kind == "feature_dma_buf" or (a.kind == "bar_mmap" and m.config.bufs[a.target].mmap))
                              and len(m.config.bufs_of(m.config.bufs[a.target].dev)) > 1
                              for a in m.config.actors)),),
)


VFILE = Property(
    "vfile-outlives-mmap-buf",
    """The device file outlives every BAR-mmap dma-buf.

    kernel-2026 §4.1 invariant 7: while priv->vfile holds the vfio device
    file (from the mmap() that created the internal buf until
    vfio_pci_dma_buf_release), the device stays open: close_device and its
    dma-buf cleanup cannot run, so the buf keeps priv->vdev.
    """,
    invariant=lambda m: and_(*[implies(m.v.vfile[b], and_(m.v.open[_dev(m, b)], m.v.priv_vdev[b]))
                               for b in range(_nb(m)) if m.config.bufs[b].mmap]),
    witnesses=(Witness("mmap-buf-release-pending", state=lambda m: or_(FALSE, *[
        and_(m.v.vfile[b], m.v.f_count[b] == 0) for b in range(_nb(m)) if m.config.bufs[b].mmap]),
        applies=lambda m: any(b.mmap for b in m.config.bufs)),),
)


OK_MEANS_VDEV = Property(
    "ok-means-vdev",
    """A fault that finds the buf OK under resv finds priv->vdev set.

    kernel-2026 §4.1 invariant 3: cleanup revokes (TEMP_REVOKED) before it
    clears priv->vdev, and un-revoke never reaches an unlinked buf, so
    status == OK under resv implies priv->vdev != NULL and the fault's
    vfio_device_try_get_registration has a device to pin.
    """,
    events={"fault_get_vdev": lambda m, b: each(b, _nb(m), lambda k: implies(
        m.v.status[k] == OK, m.v.priv_vdev[k]))},
    witnesses=(Witness("fault-finds-ok", event=("fault_get_vdev", lambda m, b: each(
        b, _nb(m), lambda k: m.v.status[k] == OK)),
        applies=lambda m: bool(m.config.actors_of_kind("dmabuf_fault"))),),
)


PROPERTIES = [DMABUF_PTE_NEEDS_OK, FAULT_RECHECKS, OK_MEANS_VDEV, PERM_ABSORBING, INITIAL_STATUS, VFILE]


# --- the common part of the patch --------------------------------------------------------

ACTOR_KINDS = [
    ActorKind("bar_mmap", "bar_mmap", "buf", lambda cfg, a: {"buf": a.target}, holds_fd=True,
              doc="mmap() of a BAR (creates the buf's internal dma-buf) or of an exported dma-buf fd; "
                  "later munmap()"),
    ActorKind("dmabuf_fault", "dmabuf_fault", "buf", lambda cfg, a: {"buf": a.target},
              doc="a CPU page fault on a dma-buf VMA (the series' vm_ops fault)"),
    ActorKind("bar_rw_user_copy", "bar_rw_user_copy", "device", lambda cfg, a: {"vdev": a.target},
              holds_fd=True, needs_open=True,
              doc="nvgrace-gpu BAR read(): memory_lock(R) held across copy_to_user (may take mmap_lock)"),
    ActorKind("dmabuf_revoke", "vfio_pci_core_feature_dma_buf_revoke", "buf",
              lambda cfg, a: {"buf": a.target}, holds_fd=True, needs_open=True,
              wrap=upstream_actors.IOCTL, doc="VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE on the buf's fd"),
]


def apply(p, *, export, fault, revoke_ioctl, dmabuf_lock: bool):
    """Everything but the version-specific locking, which the caller passes in."""
    declare_state(p)
    for ak in ACTOR_KINDS:
        p.add_actor_kind(ak)
    replace_config_check(p)
    p.replace_procedure(MOVE, lambda t, vdev, revoked: series_move(t, vdev, revoked, dmabuf_lock),
                        f"{DMABUF}:vfio_pci_dma_buf_move")
    p.replace_step("vfio_pci_core_feature_dma_buf", "list_add_tail", export)
    p.add_procedure("bar_mmap", lambda t, buf: bar_mmap(t, buf, export), f"{CORE}:vfio_pci_core_mmap")
    p.add_procedure("dmabuf_fault", fault, f"{CORE}:vfio_pci_mmap_huge_fault")
    p.add_procedure("bar_rw_user_copy", bar_rw_user_copy,
                    "drivers/vfio/pci/nvgrace-gpu/main.c:nvgrace_gpu_read_mem")
    p.add_procedure("vfio_pci_core_feature_dma_buf_revoke", revoke_ioctl,
                    f"{DMABUF}:vfio_pci_core_feature_dma_buf_revoke")
    release_puts_vfile(p)
    close_waits_for_vfile(p)
    p.add_property(LOCK_DISCIPLINE, replace=True)
    p.add_property(UNDO_RESTORES_EVERY_REVOKE, replace=True)
    for prop in PROPERTIES:
        p.add_property(prop)
