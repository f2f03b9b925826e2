"""The properties of the vfio-pci dma-buf revoke protocol (protocol-facts §6)."""
from __future__ import annotations

from revoke_check.model.expr import FALSE, TRUE, and_, implies, or_
from revoke_check.model.vfio_pci_sriov import pf_decodes, pf_of, vfs_of

from . import Property, Witness, each, some


def _has_hot_reset(m):
    return bool(m.config.actors_of_kind("hot_reset"))


def _bufs(m, d):
    return m.config.bufs_of(d)


def _imps(m, b):
    return m.config.importers_of(b)


def _quiet(m, b):
    """No importer of ``b`` holds a mapping or has DMA (a fence) in flight."""
    v = m.v
    return and_(*[and_(~v.mapped[i], ~v.fence[i]) for i in _imps(m, b)])


def _nd(m):
    return len(m.config.devices)


def _nb(m):
    return len(m.config.bufs)


# --- explanations: the offending objects, in kernel words --------------------

def _live(st, b):
    return st[f"phase[{b}]"] == "listed" and st[f"f_count[{b}]"] > 0


def _reachable(st, b):
    return st[f"phase[{b}]"] in ("listed", "unlisted") and st[f"f_count[{b}]"] > 0


def _explain_access(m, st, *, need_suspended=False):
    out = []
    for k, d in enumerate(m.config.devices):
        if need_suspended and not st[f"d3[{d.name}]"]:
            continue
        where = f"{d.name} is in D3hot" if need_suspended else d.name
        if st[f"bar_pte[{d.name}]"]:
            out.append(f"{where}: a CPU PTE still maps its BAR")
        for b in m.config.bufs_of(k):
            bn = m.config.bufs[b].name
            if _reachable(st, bn) and not st[f"revoked[{bn}]"]:
                out.append(f"{where}: {bn} is not revoked")
            for i in m.config.importers_of(b):
                im = m.config.importers[i].name
                if st[f"mapped[{im}]"]:
                    out.append(f"{im} still maps {bn}")
                if st[f"fence[{im}]"]:
                    out.append(f"{im} has DMA in flight on {bn}")
    return "; ".join(out)


def _explain_restore(m, st):
    out = []
    for k, d in enumerate(m.config.devices):
        if not (st[f"open[{d.name}]"] and st[f"vmem[{d.name}]"] and not st[f"d3[{d.name}]"]
                and not st[f"engaged[{d.name}]"]):
            continue
        left = [m.config.bufs[b].name for b in m.config.bufs_of(k)
                if _live(st, m.config.bufs[b].name) and st[f"revoked[{m.config.bufs[b].name}]"]]
        if left:
            out.append(f"{d.name} is open with memory enabled but {', '.join(left)} "
                       f"{'is' if len(left) == 1 else 'are'} still revoked")
    return "; ".join(out)


def _explain_vconfig(m, st):
    gone = [d.name for d in m.config.devices if not st[f"vconfig[{d.name}]"]]
    return f"vconfig of {', '.join(gone)} is not allocated (never opened or already disabled)" if gone else ""


def _explain_cpu(m, st):
    return "; ".join(f"a CPU PTE maps {d.name}'s BAR while its decode is off or it is closed"
                     for d in m.config.devices
                     if st[f"bar_pte[{d.name}]"] and not (st[f"open[{d.name}]"] and st[f"vmem[{d.name}]"]))


# --- no-mapping-survives-reset -------------------------------------------------

def _reset_safe(m, d):
    v = m.v
    return each(d, _nd(m), lambda k: and_(~v.bar_pte[k], *[
        implies(v.reachable(b), and_(v.revoked[b], _quiet(m, b))) for b in _bufs(m, k)]))


NO_MAPPING_SURVIVES_RESET = Property(
    "no-mapping-survives-reset",
    """While a device is reset, no importer can reach its BAR.

    At every function reset (VFIO_DEVICE_RESET, config-space FLR,
    vfio_pci_core_disable) and at pci_reset_bus for every device of the
    dev_set, no CPU page-table entry maps its BARs, every buf of the device
    that some file still references is revoked, and none of its importers
    holds a mapping or has DMA in flight.
    """,
    events={"hw_reset": _reset_safe},
    witnesses=(
        Witness("reset-with-importer-attached", event=("hw_reset", lambda m, d: some(
            d, _nd(m), lambda k: or_(*[m.v.attached[i] for b in _bufs(m, k) for i in _imps(m, b)])))),
        Witness("importer-mapped", state=lambda m: or_(*[m.v.mapped[i] for i in range(len(m.config.importers))])),
        Witness("bar-pte-mapped", state=lambda m: or_(*[m.v.bar_pte[d] for d in range(_nd(m))]),
                applies=lambda m: bool(m.config.actors_of_kind("bar_fault"))),
    ),
    explain=lambda m, st: _explain_access(m, st),
)


# --- no-cpu-mapping-while-disabled -------------------------------------------

NO_CPU_MAPPING_WHILE_DISABLED = Property(
    "no-cpu-mapping-while-disabled",
    """No CPU page-table entry maps a BAR while its memory decode is off.

    A BAR mmap fault inserts a PFN only under memory_lock(R) after testing
    __vfio_pci_memory_enabled, and every path that clears decode zaps under
    memory_lock(W) first, so a PTE never outlives the enabled state
    (CVE-2020-12888: access to disabled MMIO).
    """,
    invariant=lambda m: and_(*[implies(m.v.bar_pte[d], m.v.E(d)) for d in range(_nd(m))]),
    witnesses=(
        Witness("bar-pte-mapped", state=lambda m: or_(*[m.v.bar_pte[d] for d in range(_nd(m))]),
                applies=lambda m: bool(m.config.actors_of_kind("bar_fault"))),
        Witness("decode-off", state=lambda m: or_(*[and_(m.v.open[d], ~m.v.vmem[d])
                                                    for d in range(_nd(m))])),
    ),
    explain=_explain_cpu,
)


# --- low-power-keeps-bufs-revoked -------------------------------------------

LOW_POWER_KEEPS_BUFS_REVOKED = Property(
    "low-power-keeps-bufs-revoked",
    """No importer can reach the BAR of a runtime-suspended device.

    While the device is in D3hot after VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY,
    every buf some file still references is revoked, no importer holds a
    mapping or has DMA in flight, and no CPU PTE maps a BAR (protocol-facts
    §6 I1: the ¬pm_runtime_engaged clause; BAR faults SIGBUS while engaged).
    """,
    invariant=lambda m: and_(*[implies(m.v.d3[d], and_(~m.v.bar_pte[d], *[
        implies(m.v.reachable(b), and_(m.v.revoked[b], _quiet(m, b))) for b in _bufs(m, d)]))
        for d in range(_nd(m))]),
    witnesses=(
        Witness("suspended-with-buf", state=lambda m: or_(*[
            and_(m.v.d3[d], *[m.v.reachable(b) for b in _bufs(m, d)]) for d in range(_nd(m))
            if _bufs(m, d)]), applies=lambda m: m.config.runtime_pm),
        Witness("resumed-while-engaged", state=lambda m: or_(*[
            and_(m.v.engaged[d], ~m.v.d3[d], m.v.pm_usage[d] > 0) for d in range(_nd(m))]),
            applies=lambda m: m.config.runtime_pm),
    ),
    explain=lambda m, st: _explain_access(m, st, need_suspended=True),
)


# --- undo-restores-every-revoke ------------------------------------------------

def _restored(m, d):
    v = m.v
    return each(d, _nd(m), lambda k: implies(and_(v.E(k), ~v.engaged[k]), and_(*[
        implies(v.live(b), ~v.revoked[b]) for b in _bufs(m, k)])))


UNDO_RESTORES_EVERY_REVOKE = Property(
    "undo-restores-every-revoke",
    """When an operation that revoked temporarily ends, its bufs are un-revoked.

    At the up_write(memory_lock) that ends a hot reset (on every path,
    including -EINVAL, -EBUSY and a failed pci_reset_bus), VFIO_DEVICE_RESET,
    a config-space FLR or a PCI_COMMAND write: if the device is open with
    memory enabled, no live buf on vdev->dmabufs is left revoked.
    """,
    events={"revoke_window_end": _restored},
    witnesses=(
        Witness("restore-with-live-buf", event=("revoke_window_end", lambda m, d: some(
            d, _nd(m), lambda k: and_(m.v.E(k), or_(*[m.v.live(b) for b in _bufs(m, k)]))))),
        Witness("hot-reset-breaks-after-revoking", event=("hot_reset_break", lambda m, k: or_(*[
            and_(m.v.live(b), m.v.revoked[b], m.v.E(m.config.bufs[b].dev))
            for b in range(_nb(m)) if m.config.bufs[b].dev < k])), applies=_has_hot_reset),
    ),
    explain=_explain_restore,
)


# --- revoked-means-unmapped ----------------------------------------------------

REVOKED_MEANS_UNMAPPED = Property(
    "revoked-means-unmapped",
    """A revoke is complete when vfio_pci_dma_buf_move returns.

    Once the revoking move has finished with a buf, no importer holds a
    mapping of it or has DMA in flight; and dma_buf_map_attachment never
    succeeds while priv->revoked is set.  An iommufd mapping, once revoked
    (phys.len = 0), never comes back: un-revoke does not re-map (I10).
    """,
    invariant=lambda m: and_(*[implies(m.v.perm_revoked[i], ~m.v.mapped[i])
                               for i in range(len(m.config.importers))]),
    events={
        "revoke_returned": lambda m, b: each(b, _nb(m), lambda k: _quiet(m, k)),
        "map": lambda m, b: each(b, _nb(m), lambda k: ~m.v.revoked[k]),
    },
    witnesses=(
        Witness("iommufd-revoked-while-attached", state=lambda m: or_(*[
            and_(m.v.perm_revoked[i], m.v.attached[i]) for i, x in enumerate(m.config.importers)
            if x.kind == "iommufd"]), applies=lambda m: any(x.kind == "iommufd" for x in m.config.importers)),
        Witness("drain-in-progress", state=lambda m: or_(*[
            and_(m.v.revoked[m.config.importers[i].buf], m.v.mapped[i], m.v.notified[i])
            for i in range(len(m.config.importers))])),
    ),
    explain=lambda m, st: "; ".join(
        [x for x in _explain_access(m, st).split("; ") if x.startswith("imp")]
        + [f"{b.name} is revoked" for b in m.config.bufs if st[f"revoked[{b.name}]"]]),
)


# --- lock-discipline -------------------------------------------------------------

def _owned_by(m, t):
    me = m.v.owner(t)
    return or_(*[li.owner == me for li in m.locks])


def _readers_released(m):
    """Once every thread that takes an rwsem for read has returned, it has no reader."""
    out = []
    for li in m.locks:
        if li.readers is None:
            continue
        users = sorted({tr.thread for tr in m.transitions if li.readers.slot in tr.updates})
        if users:
            out.append(implies(and_(*[m.thread(u).pc == 0 for u in users]), li.readers == 0))
    return and_(*out)


def _explain_locks(m, st):
    out = []
    names = {li.owner.name for li in m.locks}
    for t in m.threads:
        if st[t.pc.name] != "done":
            continue
        held = [k for k in sorted(names) if st.get(k) == t.name]
        if held:
            out.append(f"{t.name} returned still holding {', '.join(held)}")
    for li in m.locks:
        if li.readers is None or not st.get(li.readers.name):
            continue
        users = {tr.thread for tr in m.transitions if li.readers.slot in tr.updates}
        if users and all(st[m.thread(u).pc.name] == "done" for u in users):
            out.append(f"{li.readers.name} still counts a reader after {', '.join(sorted(users))} returned")
    return "; ".join(out)


LOCK_DISCIPLINE = Property(
    "lock-discipline",
    """Only the holder releases a lock, and no thread ends holding one.

    Covers every declared lock (vdev->memory_lock, dev_set->lock, every
    dmabuf->resv, and the locks a variant adds): an up_write/mutex_unlock/
    dma_resv_unlock is done by the owner, and a finished thread (ioctl
    returned, importer detached) owns none.
    vfio_pci_dma_buf_move runs only with the device's memory_lock held for
    write by the caller (its lockdep_assert_held_write).
    """,
    invariant=lambda m: and_(*[implies(t.pc == 0, ~_owned_by(m, t.name)) for t in m.threads],
                             _readers_released(m)),
    events={"unlock": lambda m, owner, me: owner == me,
            "move_locked": lambda m, d, me: each(d, _nd(m), lambda k: m.v.memory_lock[k] == me)},
    witnesses=(
        Witness("two-memory-locks-held", applies=_has_hot_reset, state=lambda m: or_(*[
            and_(m.v.memory_lock[a] == m.v.memory_lock[b], m.v.memory_lock[a] != 0)
            for a in range(_nd(m)) for b in range(a + 1, _nd(m))]) if _nd(m) > 1 else FALSE),
        Witness("trylock-contended", event=("trylock_fail", lambda m, k: TRUE), applies=_has_hot_reset),
        Witness("memory-lock-held", state=lambda m: or_(*[x != 0 for x in m.v.memory_lock])),
    ),
    explain=_explain_locks,
)


# --- no-unopened-vconfig-access ------------------------------------------------

NO_UNOPENED_VCONFIG_ACCESS = Property(
    "no-unopened-vconfig-access",
    """__vfio_pci_memory_enabled() is only evaluated while vdev->vconfig exists.

    vconfig is allocated by vfio_pci_core_enable and freed by
    vfio_pci_core_disable; hot reset includes dev_set members that were never
    opened, so err_undo must test open_count before reading PCI_COMMAND.
    """,
    events={"mem_enabled_eval": lambda m, d: each(d, _nd(m), lambda k: m.v.vconfig[k])},
    witnesses=(
        Witness("err-undo-visits-unopened", event=("err_undo_visit", lambda m, k: ~m.v.open[k]),
                applies=lambda m: _has_hot_reset(m) and not all(d.open for d in m.config.devices)),
        Witness("memory-enabled-evaluated", event=("mem_enabled_eval", lambda m, d: TRUE)),
    ),
    explain=_explain_vconfig,
)


# --- refcounts -------------------------------------------------------------------

def _reg_balanced(m):
    from .file_refs import accounted
    v = m.v
    files = [accounted(m, b) for b in range(_nb(m))]
    files = [implies(or_(m.v.phase[b] == "exported", m.v.phase[b] == "listed",
                         m.v.phase[b] == "unlisted"), e)
             for b, e in enumerate(files) if e is not None]
    return and_(*[v.registration[d] == _reg_base(m, d) + _sum_bool([v.priv_vdev[b] for b in _bufs(m, d)])
                  for d in range(_nd(m))], *files)


def _reg_base(m, d):
    """The registration references not held by bufs: the base one until unregistration
    drops it, and the open device file's (modelled in ``lifetimes`` configs only)."""
    from revoke_check.model.expr import ite
    v = m.v
    return ite(v.unregistered[d], 0, 1) + ite(v.dev_file[d], 1, 0)


def _sum_bool(xs):
    from revoke_check.model.expr import ite, const
    total = const(0)
    for x in xs:
        total = total + ite(x, 1, 0)
    return total


def _nothing_leaked(m):
    v = m.v
    return and_(*[implies(~v.has_fd[b], or_(v.phase[b] == "none", v.phase[b] == "freed"))
                  for b in range(_nb(m))],
                *[implies(and_(~v.open[d], ~v.dev_file[d]), v.registration[d] == _reg_base(m, d))
                  for d in range(_nd(m))])


def _explain_refs(m, st):
    from .file_refs import holds_at
    out = []
    h = holds_at(m)
    for b, buf in enumerate(m.config.bufs):
        if st[f"phase[{buf.name}]"] not in ("exported", "listed", "unlisted"):
            continue
        owned = int(st[f"has_fd[{buf.name}]"])
        for th in m.threads:
            pc = th.pc.domain.names.index(st[th.pc.name])
            if pc not in th.finals:
                owned += max(h.get((th.name, pc, b), {0}))
        if st[f"f_count[{buf.name}]"] > owned:
            out.append(f"{buf.name} has {st[f'f_count[{buf.name}]']} file reference(s) but the fd table "
                       f"and the running threads own {owned}: a thread returned without dma_buf_put")
    finished = all(st[t.pc.name] == "done" or t.kind == "dma_buf_release" or t.kind == "pm_core"
                   for t in m.threads)
    for b in m.config.bufs:
        if finished and not st[f"has_fd[{b.name}]"] and st[f"phase[{b.name}]"] not in ("none", "freed"):
            out.append(f"{b.name} is never freed: no fd, f_count {st[f'f_count[{b.name}]']}, "
                       f"phase {st[f'phase[{b.name}]']}")
    for d in m.config.devices:
        base = (0 if st.get(f"unregistered[{d.name}]") else 1) + int(bool(st.get(f"dev_file[{d.name}]")))
        if st.get(f"vdev_freed[{d.name}]"):
            held = [b.name for b in m.config.bufs if m.config.devices[b.dev] is d and st[f"priv_vdev[{b.name}]"]]
            out.append(f"{d.name} is freed" + (f" while priv->vdev of {', '.join(held)} still points to it"
                                                 if held else ""))
        if st[f"registration[{d.name}]"] != base + sum(
                st[f"priv_vdev[{b.name}]"] for b in m.config.bufs if m.config.devices[b.dev] is d):
            out.append(f"registration[{d.name}] is {st[f'registration[{d.name}]']}")
    return "; ".join(out)


REFCOUNTS = Property(
    "refcounts",
    """Reference counts never underflow and nothing leaks.

    The dma-buf file count, priv->kref and the vfio_device registration count
    never drop below zero (nor below the base reference); no step touches a
    freed buf (priv, the dma_buf) and no step dereferences a freed device
    (``deref_vdev``: ``priv->vdev`` in release, the device file's put): a use
    after free is a refcounts violation, the count that should have kept the
    object alive being the one at fault; the registration count is 1 (until
    unregistration drops it) + the open device file (``lifetimes`` configs) +
    the bufs whose priv->vdev is set; the file count is the fd table's
    reference plus those the running threads hold (a thread that returns
    owning one leaks it); and once every fd is closed and the device closed,
    every buf is freed.
    """,
    invariant=_reg_balanced,
    events={
        "fput": lambda m, b: each(b, _nb(m), lambda k: m.v.f_count[k] > 0),
        "kref_put": lambda m, b: each(b, _nb(m), lambda k: m.v.kref[k] > 0),
        "kref_get": lambda m, b: each(b, _nb(m), lambda k: m.v.kref[k] > 0),
        "put_registration": lambda m, d: each(d, _nd(m), lambda k: m.v.registration[k] > 1),
        "use": lambda m, b: each(b, _nb(m), lambda k: m.v.phase[k] != "freed"),
        # a step that dereferences priv->vdev (or the device otherwise): the device is not freed
        "deref_vdev": lambda m, d: each(d, _nd(m), lambda k: ~m.v.vdev_freed[k]),
        # any step that lowers a field declared refcount=True: it must not go below zero
        "refcount_dec": lambda m, x, e: x.domain.lo <= e,
    },
    at_end=_nothing_leaked,
    witnesses=(
        Witness("buf-freed", applies=lambda m: bool(m.config.actors_of_kind("close_fd")),
                state=lambda m: or_(*[m.v.phase[b] == "freed" for b in range(_nb(m))])),
        Witness("kref-drained", state=lambda m: or_(*[m.v.comp[b] for b in range(_nb(m))])),
        Witness("device-freed-after-release", applies=lambda m: bool(m.config.actors_of_kind("unregister")),
                state=lambda m: or_(*[and_(m.v.vdev_freed[m.config.bufs[b].dev], m.v.phase[b] == "freed",
                                           m.v.file_freed[b])
                                      for b in range(_nb(m))])),
    ),
    explain=_explain_refs,
)


# --- deadlock-free ----------------------------------------------------------------

def _waiting_for_unmap(m):
    v = m.v
    out = []
    for t in m.threads:
        for val, name in enumerate(t.pc.domain.names):
            if "wait_for_completion(" in name:
                b = next(k for k, x in enumerate(m.config.bufs) if f"({x.name})" in name)
                out.append(and_(t.pc == val, ~v.comp[b],
                                or_(*[v.mapped[i] for i in _imps(m, b)])))
    return or_(*out)


def _all_finished(m):
    """Every thread at a final pc: a run that ends.  Issue 10, item 4: the deadlock
    check alone says nothing about a thread that spins for ever (say holding
    memory_lock): the spinner is always enabled, so no state is stuck.  Proving
    that every run ends is a liveness question (another issue); this required
    witness is the cheap part: if no run ends at all, deadlock-free is reported
    vacuous (exit 4) instead of holds."""
    return and_(*[or_(*[t.pc == v for v in sorted(t.finals)]) for t in m.threads])


DEADLOCK_FREE = Property(
    "deadlock-free",
    """Some step is enabled while any thread is unfinished.

    Every blocking point (down_write, dma_resv_lock, dma_resv_wait_timeout,
    wait_for_completion with memory_lock and dev_set->lock held) is eventually
    released by a step of another thread; a state where every unfinished
    thread is blocked is a deadlock.
    """,
    deadlock=True,
    witnesses=(Witness("revoker-waits-for-importer-unmap", state=_waiting_for_unmap),
               Witness("some-run-finishes", state=lambda m: _all_finished(m), required=True)),
)


LOCK_ORDER = Property(
    "lock-order",
    """The locks are always taken in one order (protocol-facts §3), lockdep style.

    dev_set->lock before memory_lock before dmabuf->resv; several memory_locks
    only by trylock (hot reset).  Any thread that blocks on a lock while
    holding another adds a dependency; a cycle (e.g. memory_lock taken under
    resv while move() takes resv under memory_lock) is a possible deadlock,
    reported even when the explored interleavings never close it.
    """,
    lock_order=True,
    witnesses=(
        Witness("resv-under-memory-lock", state=lambda m: or_(*[
            and_(m.v.resv[b] != 0, m.v.resv[b] == m.v.memory_lock[m.config.bufs[b].dev])
            for b in range(_nb(m))]), applies=lambda m: bool(m.config.bufs)),
    ),
)


# --- liveness (under fairness; revoke_check/liveness.py) -------------------------

# Steps where a thread waits without holding anything and may wait forever:
# an idle work item, the PM core, an importer waiting to retry a refused map.
IDLE_STEPS = frozenset({"idle", "rpm_suspend", "wait_for_unrevoke"})
# Steps at which a dynamic importer wants a mapping of its buf.
WANTS_MAP_STEPS = frozenset({"dma_buf_map_attachment", "wait_for_unrevoke"})


def _at_steps(m, thread, steps):
    """``pc[thread]`` is at a step whose own label is in ``steps``."""
    th = m.thread(thread)
    vals = sorted({tr.pc_value for tr in m.transitions
                   if tr.thread == thread and tr.local_label in steps})
    return or_(*[th.pc == v for v in vals]) if vals else FALSE


def _temporary_revoke(m, b):
    """buf ``b`` is live and revoked while its device is open, decoding and not in low power."""
    v, d = m.v, m.config.bufs[b].dev
    return and_(v.live(b), v.revoked[b], v.open[d], v.vmem[d], ~v.d3[d], ~v.engaged[d])


def _revoke_obligations(m):
    return [(m.config.bufs[b].name, _temporary_revoke(m, b), ~_temporary_revoke(m, b))
            for b in range(_nb(m))]


REVOKE_IS_TEMPORARY = Property(
    "revoke-is-temporary",
    """A temporary revoke of an open, decoding device is eventually undone.

    Always: if a live buf (on vdev->dmabufs, file alive) is revoked while its
    device is open with PCI_COMMAND_MEMORY set, powered and not in
    LOW_POWER_ENTRY, then eventually it is un-revoked, or the revoke becomes
    legitimate (the MEM bit is cleared, the device closed or suspended, the
    buf released).  A reset, FLR or PCI_COMMAND write revokes only for the
    duration of its memory_lock section; a revoke that outlives every such
    section keeps importers out for good.  Assumes the fairness chosen
    (default: weak per thread), so a run where the un-revoking thread is
    simply never scheduled is not a counterexample.
    """,
    liveness=_revoke_obligations,
    witnesses=(Witness("temporary-revoke", state=lambda m: or_(*[
        _temporary_revoke(m, b) for b in range(_nb(m))]), applies=lambda m: bool(m.config.bufs)),),
)


def _dynamic_importers(m):
    return [i for i, x in enumerate(m.config.importers) if x.kind == "dynamic" and x.revocable]


def _imp_thread(m, i):
    return next(a.name for a in m.config.actors if a.kind == "importer" and a.target == i)


def _wants_unrevoked(m, i):
    b = m.config.importers[i].buf
    return and_(_at_steps(m, _imp_thread(m, i), WANTS_MAP_STEPS), ~m.v.revoked[b])


def _remap_obligations(m):
    out = []
    for i in _dynamic_importers(m):
        if not any(a.kind == "importer" and a.target == i for a in m.config.actors):
            continue
        b = m.config.importers[i].buf
        out.append((m.config.importers[i].name, _wants_unrevoked(m, i),
                    or_(m.v.mapped[i], m.v.revoked[b])))
    return out


IMPORTER_CAN_REMAP = Property(
    "importer-can-remap",
    """An importer that wants to map a buf maps it once the buf is un-revoked and stays so.

    Always: if a dynamic importer is at dma_buf_map_attachment (or waiting to
    retry a refused map) while the buf is not revoked, then eventually it
    holds a mapping, or the buf is revoked again (then the obligation starts
    over at the next un-revoke).  So a buf that stays un-revoked is mapped:
    nobody keeps dmabuf->resv forever and the importer is not refused for a
    revoke that is over.  Assumes the chosen fairness (default weak per
    thread: the importer, enabled, eventually runs).
    """,
    liveness=_remap_obligations,
    witnesses=(Witness("importer-wants-unrevoked-buf", state=lambda m: or_(*[
        _wants_unrevoked(m, i) for i in _dynamic_importers(m)
        if any(a.kind == "importer" and a.target == i for a in m.config.actors)]),
        applies=lambda m: any(a.kind == "importer" and m.config.importers[a.target].kind == "dynamic"
                              and m.config.importers[a.target].revocable for a in m.config.actors)),),
)


def _resting(m, th):
    """Thread ``th`` has finished or waits in an idle state (IDLE_STEPS)."""
    return or_(*[th.pc == f for f in sorted(th.finals)], _at_steps(m, th.name, IDLE_STEPS))


PROGRESS = Property(
    "progress",
    """Every thread eventually finishes or waits only in an idle state.

    Always eventually, each kernel thread (ioctl, config write, importer,
    close) has returned, or rests where it holds nothing and may wait forever
    (the deferred dma_buf_release before the last fput, the PM core, an
    importer waiting to retry a refused map).  A violation is a
    non-progress cycle: a run in which one thread never gets past some step
    (blocked, or spinning) while the others keep running; the trace says
    which locks it holds meanwhile.  Assumes the chosen fairness (default
    weak per thread): a thread that stays enabled is eventually scheduled.
    """,
    liveness=lambda m: [(th.name, TRUE, _resting(m, th)) for th in m.threads],
    witnesses=(Witness("some-thread-finishes", state=lambda m: or_(*[
        th.pc == 0 for th in m.threads])),),
)

LIVENESS = [REVOKE_IS_TEMPORARY, IMPORTER_CAN_REMAP, PROGRESS]



# --- buf-usable-only-while-decoding (protocol-facts §6 I1) ---------------------

def _usable(m, b):
    return and_(m.v.live(b), ~m.v.revoked[b])


def _decoding(m, d):
    """Open, memory enabled, not in low power, and for a VF with its PF: the PF powered with VF MSE set."""
    v = m.v
    return and_(v.open[d], v.memory_enabled(d), ~v.engaged[d], pf_decodes(v, d))


def _explain_usable(m, st):
    out = []
    for b in m.config.bufs:
        d = m.config.devices[b.dev].name
        if not (_live(st, b.name) and not st[f"revoked[{b.name}]"]):
            continue
        why = [w for w, bad in ((f"{d} is not open", not st[f"open[{d}]"]),
                                (f"{d}'s PCI_COMMAND memory bit is off", not st[f"vmem[{d}]"]),
                                (f"{d} is in D3hot", st[f"d3[{d}]"] or st.get(f"pm_ctrl_d3[{d}]", False)),
                                (f"{d} is in low power (pm_runtime_engaged)", st[f"engaged[{d}]"]),
                                *_pf_why(m, st, b.dev)) if bad]
        if why:
            out.append(f"{b.name} is live and not revoked but {', '.join(why)}")
    return "; ".join(out)


def _pf_why(m, st, d):
    """Why a VF's PF does not let it decode, for explanations."""
    p = pf_of(m.config, d)
    if p is None:
        return ()
    pn = m.config.devices[p].name
    return ((f"its PF {pn} has VF Enable/MSE clear", not st[f"vfs_enabled[{pn}]"]),
            (f"its PF {pn} is in D3hot", st[f"d3[{pn}]"] or st[f"pm_ctrl_d3[{pn}]"]))


BUF_USABLE_ONLY_WHILE_DECODING = Property(
    "buf-usable-only-while-decoding",
    """A buf is usable only while its device decodes memory.

    Every live buf (on vdev->dmabufs, file referenced) that is not revoked
    belongs to a device that is open, has memory enabled (PCI_COMMAND MEM
    set, below D3hot) and is not in low power (pm_runtime_engaged clear);
    for a VF whose PF is in the config, the PF is also in D0 with VF Enable
    and VF MSE set (a VF decodes through its PF): protocol-facts §6 I1, the dma-buf analogue of the BAR fault's test
    (kernel-2026 §2.10: SIGBUS if engaged || !memory_enabled).
    """,
    invariant=lambda m: and_(*[implies(_usable(m, b), _decoding(m, m.config.bufs[b].dev))
                               for b in range(_nb(m))]),
    witnesses=(
        Witness("usable-buf", state=lambda m: or_(*[_usable(m, b) for b in range(_nb(m))]),
                applies=lambda m: bool(m.config.bufs)),
        Witness("revoked-while-not-decoding", state=lambda m: or_(*[
            and_(m.v.live(b), m.v.revoked[b], ~_decoding(m, m.config.bufs[b].dev))
            for b in range(_nb(m))]),
            applies=lambda m: any(a.kind in ("config_write", "low_power_entry", "low_power_entry_wakeup",
                                             "pm_ctrl_write")
                                  and m.config.actor_device(a) is not None
                                  and m.config.bufs_of(m.config.actor_device(a))
                                  for a in m.config.actors)),
    ),
    explain=_explain_usable,
)


# --- pf-powered-while-vfs-exist (SR-IOV, model/vfio_pci_sriov.py) -------------------

PF_POWERED_WHILE_VFS_EXIST = Property(
    "pf-powered-while-vfs-exist",
    """A PF whose VFs exist is in D0.

    vfio_pci_core_sriov_configure's comment: the PF power state should always
    be higher than the VF power state.  Neither a PCI_PM_CTRL write nor
    runtime suspend may leave the PF in D3hot while pci_num_vf() > 0
    (sriov_active makes vfio_pci_set_power_state refuse D3hot from before
    pci_enable_sriov; the PM reference sriov_configure keeps stops runtime
    suspend).
    """,
    invariant=lambda m: and_(*[implies(m.v.vfs_enabled[d], and_(~m.v.d3[d], ~m.v.pm_ctrl_d3[d]))
                               for d in range(_nd(m))]),
    witnesses=(
        Witness("vfs-enabled", state=lambda m: or_(*[m.v.vfs_enabled[d] for d in range(_nd(m))]),
                applies=lambda m: bool(m.config.actors_of_kind("sriov_configure"))),
    ),
    explain=lambda m, st: "; ".join(f"{d.name} has VFs but is in D3hot" for d in m.config.devices
                                    if st.get(f"vfs_enabled[{d.name}]")
                                    and (st[f"d3[{d.name}]"] or st.get(f"pm_ctrl_d3[{d.name}]"))),
)


# --- vf-buf-usable-only-while-pf-decodes (SR-IOV, model/vfio_pci_sriov.py) ---------------

def _vf_bufs(m, p):
    """The bufs of the VFs of PF ``p``."""
    return [b for k in vfs_of(m.config, p) for b in _bufs(m, k)]


def _has_pf_vf(m):
    return any(pf_of(m.config, d) is not None for d in range(_nd(m)))


def _pf_reset_safe(m, d):
    v = m.v
    return each(d, _nd(m), lambda p: and_(*[
        implies(v.reachable(b), and_(v.revoked[b], _quiet(m, b))) for b in _vf_bufs(m, p)]))


def _explain_vf(m, st):
    out = []
    for p, pd in enumerate(m.config.devices):
        for b in _vf_bufs(m, p):
            bn = m.config.bufs[b].name
            if _reachable(st, bn) and not st[f"revoked[{bn}]"]:
                why = [w for w, bad in _pf_why(m, st, m.config.bufs[b].dev) if bad]
                out.append(f"{bn} of a VF of {pd.name} is not revoked"
                           + (f" but {', '.join(why)}" if why else f" while {pd.name} is reset"))
    return "; ".join(out)


VF_BUF_USABLE_ONLY_WHILE_PF_DECODES = Property(
    "vf-buf-usable-only-while-pf-decodes",
    """A VF's buf is usable only while its PF lets the VF decode.

    A VF's BARs decode only while its PF is in D0 with VF Enable and VF MSE
    set in its SR-IOV capability (drivers/pci/iov.c: sriov_enable sets them,
    sriov_disable clears them after removing the VFs), and not while the PF
    is reset (an FLR of the PF clears VF Enable until pci_dev_restore's
    sriov_restore_state).  So every live, un-revoked buf of a VF belongs to
    a VF whose PF is powered with VF MSE set, and at every reset of the PF
    (hw_reset) each buf of its VFs that some file still references is
    revoked with no importer mapping it or DMA in flight.  Applies to
    configs with a VF whose PF is in the config (``pf`` on the VF).
    """,
    invariant=lambda m: and_(*[implies(_usable(m, b), pf_decodes(m.v, m.config.bufs[b].dev))
                               for b in range(_nb(m))]),
    events={"hw_reset": _pf_reset_safe},
    witnesses=(
        Witness("vf-buf-usable", state=lambda m: or_(*[
            _usable(m, b) for p in range(_nd(m)) for b in _vf_bufs(m, p)]), applies=_has_pf_vf),
        Witness("pf-reset-with-vfs", event=("hw_reset", lambda m, d: some(
            d, _nd(m), lambda p: m.v.vfs_enabled[p] if _vf_bufs(m, p) else FALSE)), applies=_has_pf_vf),
    ),
    explain=_explain_vf,
)


ALL = [NO_MAPPING_SURVIVES_RESET, NO_CPU_MAPPING_WHILE_DISABLED, LOW_POWER_KEEPS_BUFS_REVOKED,
       UNDO_RESTORES_EVERY_REVOKE, REVOKED_MEANS_UNMAPPED,
       LOCK_DISCIPLINE, LOCK_ORDER, NO_UNOPENED_VCONFIG_ACCESS, REFCOUNTS, DEADLOCK_FREE,
       BUF_USABLE_ONLY_WHILE_DECODING, PF_POWERED_WHILE_VFS_EXIST, VF_BUF_USABLE_ONLY_WHILE_PF_DECODES,
       *LIVENESS]
