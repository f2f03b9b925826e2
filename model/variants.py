"""Historical versions of the protocol, each an edit of ``upstream`` (protocol-facts §4).

A variant is a function that receives a copy of the upstream
:class:`~model.protocol.Protocol` and edits it by procedure name and step
label.  A user's own variant file is the same: a module with functions
decorated by :func:`variant` (or any function ``fn(p)``), loaded with
``--variant path/to/file.py:NAME``.
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

from .expr import ENUM, BOOL, TRUE, and_, ite
from .lang import Branch, Call, DONE, Event, ModelError, NEXT, RETURN as RETURN_, Step, step
from .locks import up_write
from .protocol import Protocol, upstream  # noqa: F401 -- re-exported: ci/difftest.py and tests import upstream from here

__all__ = ["variant", "get_protocol", "VARIANTS", "VariantError", "hot_reset_cursor"]

VARIANTS: dict = {}


class VariantError(ValueError):
    """Unknown variant, or a variant file that cannot be loaded."""


def variant(name: str, doc: str = "", fixed_by: str | None = None):
    """Register ``fn(p: Protocol)`` as a variant of upstream named ``name``.

    ``fixed_by`` names the variant that fixes it (a known bug: ``upstream``);
    the HTML report marks where the fix differs.
    """
    def deco(fn):
        fn.variant_name, fn.variant_doc = name, doc or (fn.__doc__ or "").strip()
        fn.fixed_by = fixed_by
        VARIANTS[name] = fn
        return fn
    return deco


HOT_RESET = "vfio_pci_dev_set_hot_reset"
MOVE = "vfio_pci_dma_buf_move"


def hot_reset_cursor(t):
    """The hot-reset list cursor `vdev`: 0 is the list head, k+1 is device k."""
    return t.local("vdev", ENUM("head", *[d.name for d in t.cfg.devices]), "head")


def _forward_unrevoke(t, label: str, then: str):
    """A forward walk over device_list: if memory is enabled, move(vdev, false)."""
    v, cfg = t.v, t.cfg
    cur, n = hot_reset_cursor(t), len(cfg.devices)
    walk = [Branch(cur == 0, {cur: n}, goto=then, note="end of device_list; vdev = list_last_entry()")
            if then == "err_undo" else
            Branch(cur == 0, goto=then, note="end of device_list: vdev is the list head")]
    for k, dev in enumerate(cfg.devices):
        at = cur == k + 1
        ev = (Event("mem_enabled_eval", (k,)),)
        cond = v.memory_enabled(k)  # no open_count test in these versions
        walk += [Branch(and_(at, cond), goto=NEXT, events=ev,
                        note=f"{dev.name} memory enabled: un-revoke"),
                 Branch(and_(at, ~cond), {cur: ite(cur == n, 0, cur + 1)}, goto=label,
                        events=ev, note=f"{dev.name}: nothing to restore")]
    return [
        Step(label, walk, "list_for_each_entry(vdev, &dev_set->device_list): un-revoke where memory is enabled."),
        Call(f"{label}_move", MOVE, {"vdev": cur - 1, "revoked": False}),
        step(f"{label}_next", "Advance vdev to the next entry (or the list head).",
             do={cur: ite(cur == n, 0, cur + 1)}, goto=label),
    ]


def _undo_unlock_only(t):
    """err_undo that only releases: reverse walk from vdev with up_write()."""
    cur = hot_reset_cursor(t)
    br = [Branch(cur == 0, goto="mutex_unlock", note="reached the list head")]
    for k, dev in enumerate(t.cfg.devices):
        br.append(Branch(cur == k + 1, goto="up_write", events=(Event("err_undo_visit", (k,)),)))
    return Step("err_undo", br, "list_for_each_entry_from_reverse: release each memory_lock taken.")


@variant("v5-unrevoke-after-reset", fixed_by="upstream")
def v5_unrevoke_after_reset(p: Protocol):
    """v5 10/10 (2025-10-30): the un-revoke loop runs after pci_reset_bus, outside err_undo.

    A break out of the locking loop (-EINVAL ownership, -EBUSY trylock) jumps to
    err_undo, which only calls up_write, so bufs of the devices already revoked
    stay revoked.  The loop also evaluated memory_enabled on unopened devices.
    """
    def reset_then_walk(t):
        cur = hot_reset_cursor(t)
        resets = [("reset ok", True)] + ([("reset fails", False)] if t.cfg.may("reset_fails") else [])
        return Step("pci_reset_bus", [
            Branch(TRUE, {cur: 1}, goto="unrevoke_loop", choice=c if len(resets) > 1 else None,
                   events=tuple(Event("hw_reset", (k,)) for k in range(len(t.cfg.devices))) if ok else ())
            for c, ok in resets], "Set D0 and reset the bus; then walk device_list to un-revoke.")
    p.replace_step(HOT_RESET, "pci_reset_bus", reset_then_walk)
    p.insert_after(HOT_RESET, "pci_reset_bus",
                   lambda t: _forward_unrevoke(t, "unrevoke_loop", "err_undo"))
    p.replace_step(HOT_RESET, "err_undo", _undo_unlock_only)
    p.delete_step(HOT_RESET, "unrevoke")


@variant("v6-restore-revoke-flag", fixed_by="upstream")
def v6_restore_revoke_flag(p: Protocol):
    """v6: err_undo first walks forward over every device to un-revoke (if restore_revoke).

    The forward walk leaves the cursor at the list head, so the reverse
    up_write walk that follows runs zero times: every memory_lock taken by the
    hot reset stays held for write.
    """
    def flag(t):
        return t.local("restore_revoke", BOOL, 0)

    def set_flag(t):
        cur = hot_reset_cursor(t)
        return step("vfio_pci_zap_bars", "Zap the BAR mmaps, set restore_revoke, advance vdev.",
                    do={flag(t): 1, cur: ite(cur == len(t.cfg.devices), 0, cur + 1)},
                    goto="down_write_trylock")

    def err_undo(t):
        cur, f = hot_reset_cursor(t), flag(t)
        return [Step("err_undo", [
            Branch(f, {cur: 1}, goto="restore_loop", note="restore_revoke: walk forward first"),
            Branch(~f, goto="err_undo_reverse"),
        ], "if (restore_revoke) un-revoke every device before releasing the locks."),
            *_forward_unrevoke(t, "restore_loop", "err_undo_reverse")]

    def reverse(t):
        s = _undo_unlock_only(t)
        s.label = "err_undo_reverse"
        s.branches[0].do = {flag(t): 0}
        for b in s.branches[1:]:
            b.goto = "up_write"
        return s

    def release(t):
        cur = hot_reset_cursor(t)
        br = []
        for k in range(len(t.cfg.devices)):
            up, ev = up_write(t, k)
            br.append(Branch(cur == k + 1, {**up, cur: k}, goto="err_undo_reverse",
                             events=(ev, Event("revoke_window_end", (k,)))))
        return Step("up_write", br, "up_write(&vdev->memory_lock) and step to the previous entry.")

    p.replace_step(HOT_RESET, "vfio_pci_zap_bars", set_flag)
    p.replace_step(HOT_RESET, "err_undo", err_undo)
    p.insert_after(HOT_RESET, "restore_loop_next", reverse)
    p.delete_step(HOT_RESET, "unrevoke")
    p.replace_step(HOT_RESET, "up_write", release)


@variant("no-open-count-check", fixed_by="upstream")
def no_open_count_check(p: Protocol):
    """v9 10/11: err_undo tests __vfio_pci_memory_enabled without vdev->vdev.open_count.

    An unopened member of the dev_set has no vconfig: the test dereferences NULL.
    """
    def err_undo(t):
        v, cur = t.v, hot_reset_cursor(t)
        br = [Branch(cur == 0, goto="mutex_unlock", note="reached the list head")]
        for k, dev in enumerate(t.cfg.devices):
            ev = (Event("err_undo_visit", (k,)), Event("mem_enabled_eval", (k,)))
            br += [Branch(and_(cur == k + 1, v.memory_enabled(k)), goto=NEXT, events=ev),
                   Branch(and_(cur == k + 1, ~v.memory_enabled(k)), goto="up_write", events=ev)]
        return Step("err_undo", br, "Walk back from vdev: if memory is enabled, un-revoke its bufs.")
    p.replace_step(HOT_RESET, "err_undo", err_undo)


@variant("v5-dma-buf-fd-leak", fixed_by="upstream")
def v5_dma_buf_fd_leak(p: Protocol):
    """v5: VFIO_DEVICE_FEATURE_DMA_BUF returns dma_buf_fd()'s error without dma_buf_put.

    On fd exhaustion the export's file reference leaks: the buf stays listed,
    and is never released.
    """
    def fd(t, buf):
        v = t.v
        return Step("dma_buf_fd", [
            Branch(TRUE, {v.has_fd[buf]: 1}, goto=DONE, choice="fd installed"),
            Branch(TRUE, goto=DONE, choice="fd table full", note="-EMFILE returned as is"),
        ], "Install the dma-buf file in the fd table; return its result.")
    p.replace_step("vfio_pci_core_feature_dma_buf", "dma_buf_fd", fd)


@variant("flr-revoke-typo", fixed_by="upstream")
def flr_revoke_typo(p: Protocol):
    """Vivek v2 (2024): config-space FLR calls move(true) after the reset instead of move(false).

    Fixed by "vfio/pci: fix dma-buf revoke typo on reset" (Xu Yilun): the bufs
    stay revoked after every FLR.
    """
    p.replace_step("vfio_exp_config_write", "unrevoke",
                   lambda t, vdev: Call("unrevoke", MOVE, {"vdev": vdev, "revoked": True}))


@variant("no-wait-for-unmap", fixed_by="upstream")
def no_wait_for_unmap(p: Protocol):
    """5d74781ebc86 .. 1a8a5227: revoke flips priv->revoked and notifies, without waiting.

    Importers may still DMA to the BAR after move() returns, i.e. during the
    reset or disable that follows.
    """
    def move(t, vdev, revoked):
        from .vfio_pci_dmabuf import _move_buf, invalidate, use, vfio_pci_dma_buf_move, walk_list
        v, static = t.v, isinstance(vdev, int)

        def body(b, nxt, evs):
            bn = t.cfg.bufs[b].name
            return [_move_buf(t, vdev, static, b, revoked, nxt, evs)[0],
                    step(f"dma_resv_lock({bn})",
                         "Under resv set priv->revoked and call move_notify; no wait; fput.",
                         when=v.resv[b] == 0,
                         do={v.revoked[b]: int(revoked), v.f_count[b]: v.f_count[b] - 1,
                             **invalidate(v, b)},
                         events=(Event("fput", (b,)), use(b))
                         + ((Event("revoke_returned", (b,)),) if revoked else ()),
                         goto=nxt)]
        held = (Event("move_locked", (vdev, t.me)),)
        return walk_list(t, vdev, body, held=held) or vfio_pci_dma_buf_move(t, vdev, revoked)
    p.replace_procedure(MOVE, move)


def load_variant_file(spec: str):
    """``path/to/file.py:NAME`` -> the variant function NAME defined in that file."""
    path, _, name = spec.rpartition(":")
    if not path or not name:
        raise VariantError(f"variant file must be given as FILE.py:NAME, got {spec!r}")
    fp = Path(path)
    if not fp.is_file():
        raise VariantError(f"variant file {path} not found")
    modname = f"revoke_check_user_variant_{abs(hash(str(fp.resolve()))) % 10**8}"
    registered = dict(VARIANTS)  # a user's @variant must not join the built-in list
    spec_ = importlib.util.spec_from_file_location(modname, fp)
    if spec_ is None or spec_.loader is None:
        raise VariantError(f"variant file {path}: not a Python source file")
    try:
        mod = importlib.util.module_from_spec(spec_)
        sys.modules[modname] = mod
        spec_.loader.exec_module(mod)
    except (Exception, SystemExit, KeyboardInterrupt) as e:  # a user's file: report it, don't crash or exit
        raise VariantError(f"variant file {path}: {type(e).__name__} raised while loading it"
                           + (f": {e}" if str(e) else "")) from None
    finally:
        VARIANTS.clear()
        VARIANTS.update(registered)
    fns = {getattr(f, "variant_name", None): f for f in vars(mod).values() if callable(f)}
    fn = fns.get(name) or getattr(mod, name, None)
    if fn is None or not callable(fn):
        known = sorted(k for k in fns if k)
        raise VariantError(f"variant file {path} defines no variant {name!r}"
                           + (f" (it defines: {', '.join(known)})" if known else ""))
    return fn


def file_sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def get_protocol(name: str | None, protocol: str | None = None) -> Protocol:
    """``upstream``, a built-in variant name, or ``FILE.py:NAME`` of ``protocol``
    (default ``vfio-dmabuf``, see :mod:`model.protocols`); the protocol remembers the spec."""
    from . import protocols
    family = protocols.check_name(protocol)
    if name is None or name == "upstream":
        p = protocols.upstream_of(family)
        p.spec = "upstream"
        return p
    if not isinstance(name, str) or not name.strip():
        raise VariantError("empty variant name (use upstream, a variant name, or FILE.py:NAME)")
    registry = protocols.variants_of(family)
    if name in registry:
        fn = registry[name]
    elif name.endswith(".py") or ".py:" in name:
        fn = load_variant_file(name)
    else:
        raise VariantError(f"unknown variant {name!r} of {family} (known: upstream, {', '.join(registry)}; "
                           f"or FILE.py:NAME)")
    label = getattr(fn, "variant_name", None) or name
    p = protocols.upstream_of(family).copy(label, (fn.__doc__ or "").strip())
    p.spec = name
    p.fixed_by = getattr(fn, "fixed_by", None)
    try:
        fn(p)
    except (ModelError, VariantError):
        raise
    except (Exception, SystemExit, KeyboardInterrupt) as e:
        raise VariantError(f"variant {label}: {type(e).__name__} raised while applying it"
                           + (f": {e}" if str(e) else "")) from None
    return p


def _load_builtin_series():
    """The 2026 series (``model/series/``) register themselves as built-in variants on import."""
    from . import series  # noqa: F401


@variant("unlocked-fault-check")
def unlocked_fault_check(p: Protocol):
    """Synthetic: Vivek v2's dmabuf-fault bug (protocol-facts §4.6) moved onto the BAR fault.

    Not a historical version of the BAR fault; it shows the read side is
    checked.  The fault tests memory_enabled before taking memory_lock and does not
    re-test under it, so a PFN can be inserted after a revoke and zap; the
    mapping then survives the reset that follows.
    """
    def check_then_insert(t, vdev):
        v = t.v
        readers = v.memory_lock_readers[vdev]
        return [
            Step("down_read", [
                Branch(v.memory_enabled(vdev), goto="vmf_insert_pfn",
                       events=(Event("mem_enabled_eval", (vdev,)),), note="memory enabled (unlocked test)"),
                Branch(~v.memory_enabled(vdev), goto="munmap",
                       events=(Event("mem_enabled_eval", (vdev,)),), note="SIGBUS"),
            ], "Test __vfio_pci_memory_enabled without memory_lock."),
            step("vmf_insert_pfn", "Take memory_lock for read, insert the PFN without re-testing, up_read.",
                 when=v.memory_lock[vdev] == 0, do={v.bar_pte[vdev]: 1, readers: readers}),
        ]
    p.delete_step("vfio_pci_mmap_huge_fault", "vmf_insert_pfn")
    p.replace_step("vfio_pci_mmap_huge_fault", "down_read", check_then_insert)


@variant("fd-fail-double-unwind", fixed_by="upstream")
def fd_fail_double_unwind(p: Protocol):
    """5d74781ebc86 .. e98137f0a874 (v6.19 .. v7.0-rc5): dma_buf_fd failure unwinds twice.

    After dma_buf_put() the error path fell through to put_registration and
    kfree(priv) although the deferred dma_buf_release still runs: the
    registration is put twice and priv is freed while still on vdev->dmabufs.
    Fixed by "vfio/pci: Fix double free in dma-buf feature".
    """
    def fd(t, buf):
        v, d = t.v, t.cfg.bufs[buf].dev
        return Step("dma_buf_fd", [
            Branch(TRUE, {v.has_fd[buf]: 1}, goto=DONE, choice="fd installed"),
            Branch(TRUE, {v.f_count[buf]: v.f_count[buf] - 1,
                          v.registration[d]: v.registration[d] - 1, v.phase[buf]: "freed"},
                   goto=DONE, choice="fd table full",
                   events=(Event("fput", (buf,)), Event("put_registration", (d,))),
                   note="-EMFILE: dma_buf_put, then put_registration and kfree(priv) as well"),
        ], "Install the dma-buf file in the fd table; on failure unwind everything.")
    p.replace_step("vfio_pci_core_feature_dma_buf", "dma_buf_fd", fd)


@variant("disable-before-cleanup", fixed_by="upstream")
def disable_before_cleanup(p: Protocol):
    """Leon v1..v5: close_device called vfio_pci_core_disable() before the dma-buf cleanup.

    The function reset in disable runs while the bufs are still live and not
    revoked, so an importer can be mapped across it.
    """
    close = "vfio_pci_core_close_device"
    p.delete_step(close, "cleanup")
    p.insert_after(close, "vfio_pci_core_disable",
                   lambda t, vdev: Call("cleanup", "vfio_pci_dma_buf_cleanup", {"vdev": vdev}))


@variant("unrevoke-checks-engaged")
def unrevoke_checks_engaged(p: Protocol):
    """Candidate fix for the low-power finding: no un-revoke while pm_runtime_engaged.

    vfio_pci_dma_buf_move(vdev, false) returns at once while the device is in
    low power (LOW_POWER_EXIT clears engaged before it un-revokes), and a buf
    created while engaged starts revoked -- the dma-buf analogue of the BAR
    fault's SIGBUS (uapi: mmap'd access is disabled from LOW_POWER_ENTRY
    until LOW_POWER_EXIT).
    """
    from .vfio_pci_dmabuf import list_add_tail, vfio_pci_dma_buf_move

    def move(t, vdev, revoked):
        stmts = vfio_pci_dma_buf_move(t, vdev, revoked)
        if revoked:
            return stmts
        v = t.v
        engaged = v.engaged[vdev] if isinstance(vdev, int) else v.engaged[vdev]
        return [Step("pm_runtime_engaged", [
            Branch(engaged, goto=RETURN_, note="low power: keep the bufs revoked"),
            Branch(~engaged, goto=stmts[0].label),
        ], "Un-revoke only outside low power (pm_runtime_engaged clear).")] + stmts

    def create(t, buf):
        v, d = t.v, t.cfg.bufs[buf].dev
        return step("list_add_tail",
                    "Under memory_lock(W) and resv set revoked = !memory_enabled || engaged and link the buf.",
                    when=and_(v.memory_lock[d] == 0, v.memory_lock_readers[d] == 0, v.resv[buf] == 0),
                    do={v.revoked[buf]: ~and_(v.memory_enabled(d), ~v.engaged[d]), **list_add_tail(v, buf)},
                    events=(Event("mem_enabled_eval", (d,)), Event("use", (buf,))))
    p.replace_procedure(MOVE, move)
    p.replace_step("vfio_pci_core_feature_dma_buf", "list_add_tail", create)


@variant("unmap-takes-memory-lock")
def unmap_takes_memory_lock(p: Protocol):
    """Synthetic: the exporter's unmap callback takes memory_lock (read) under dmabuf->resv.

    vfio_pci_dma_buf_move takes resv under memory_lock(W), so this inverts the
    order (protocol-facts §3 forbids memory_lock inside resv).  lock-order
    reports the inversion from the two dependencies alone (9 steps on
    default); deadlock-free finds the actual deadlock later (14 steps: move
    waits in wait_for_completion for an unmap that waits for memory_lock).
    """
    def unmap(t, imp):
        v = t.v
        b = t.cfg.importers[imp].buf
        d = t.cfg.bufs[b].dev
        return step("dma_buf_unmap_attachment",
                    "Under resv, unmap; the callback takes memory_lock for read to look at the device.",
                    when=and_(v.resv[b] == 0, ~v.fence[imp], v.memory_lock[d] == 0),
                    do={v.mapped[imp]: 0, v.notified[imp]: 0, v.kref[b]: v.kref[b] - 1,
                        v.comp[b]: ite(v.kref[b] == 1, 1, v.comp[b])},
                    events=(Event("kref_put", (b,)), Event("use", (b,)), Event("locks", ("resv", "memory_lock"))),
                    source="drivers/vfio/pci/vfio_pci_dmabuf.c:vfio_pci_dma_buf_unmap")
    p.replace_step("importer", "dma_buf_unmap_attachment", unmap)


# --- liveness demonstrations (synthetic; docs/liveness.md) ----------------------

def _poll_device(bounded: int | None):
    def make(t, vdev, mem):
        if bounded is None:
            return Step("poll_device_ready", [
                Branch(goto="poll_device_ready", choice="not ready", note="poll again"),
                Branch(goto=NEXT, choice="ready"),
            ], "Busy-wait for the device to acknowledge the write, memory_lock still held.")
        n = t.local("polls", ENUM(*[str(k) for k in range(bounded + 1)]), "0")
        return Step("poll_device_ready", [
            Branch(n < bounded, {n: n + 1}, goto="poll_device_ready", choice="not ready",
                   note="poll again"),
            Branch(TRUE, {n: 0}, goto=NEXT, choice="ready",
                   note="ready, or the poll budget is spent: give up waiting"),
        ], f"Poll the device at most {bounded} times, memory_lock still held.")
    return make


@variant("config-write-spins-holding-memory-lock")
def config_write_spins(p: Protocol):
    """Synthetic: a PCI_COMMAND write busy-waits for the device with memory_lock held, without bound.

    A device that never answers keeps the writer spinning forever: it never
    finishes, and everything that needs memory_lock (reset, fault, close,
    a second write) waits behind it: a non-progress cycle (``progress``).
    """
    p.insert_before("vfio_basic_config_write", "up_write", _poll_device(None))


@variant("config-write-poll-times-out")
def config_write_poll_times_out(p: Protocol):
    """Fix of the synthetic spin: the busy-wait gives up after 2 polls, then up_write."""
    p.insert_before("vfio_basic_config_write", "up_write", _poll_device(2))


@variant("reset-never-unrevokes")
def reset_never_unrevokes(p: Protocol):
    """Synthetic: VFIO_DEVICE_RESET revokes but never un-revokes (the move(false) call dropped).

    The bufs of an open, decoding device stay revoked after the reset:
    ``revoke-is-temporary`` fails with a lasso in which importers are refused
    forever (``undo-restores-every-revoke`` also fails, as a safety check).
    """
    p.delete_step("vfio_pci_ioctl_reset", "unrevoke")


@variant("config-write-error-unrevokes")
def config_write_error_unrevokes(p: Protocol):
    """Candidate fix: a failed PCI_COMMAND write un-revokes if memory is still enabled.

    Upstream's ``vfio_basic_config_write`` returns on a failed
    ``vfio_default_config_write`` with only up_write, so after a revoking MEM
    clear the bufs stay revoked while the virtual MEM bit is still set
    (``write-fails``; ``revoke-is-temporary`` and
    ``undo-restores-every-revoke``).  Here the error path goes through the
    same ``if (__vfio_pci_memory_enabled(vdev)) vfio_pci_dma_buf_move(vdev,
    false)`` as the success path before up_write.
    """
    from .locks import rwsem_write_free, zap_and_down_write, down_write

    def write(t, vdev: int, mem: bool):
        v, cfg = t.v, t.cfg
        unlock, ev = up_write(t, vdev)
        ev_E = Event("mem_enabled_eval", (vdev,))
        E = v.memory_enabled(vdev)
        fails = cfg.may("config_write_fails")
        br = [Branch(do={v.vmem[vdev]: int(mem)}, goto="unrevoke" if mem else "up_write",
                     choice="write ok" if fails else None, events=(ev_E,),
                     note="memory enabled: un-revoke" if mem else "memory disabled")]
        if fails:
            br += [Branch(E, goto="unrevoke", choice="write fails", events=(ev_E,),
                          note="-EIO; memory still enabled: un-revoke before up_write"),
                   Branch(~E, goto="up_write", choice="write fails", events=(ev_E,),
                          note="-EIO; memory disabled")]
        lock = ([step("zap_and_down_write", "MEM cleared: take memory_lock for write and zap the BAR mmaps.",
                      when=rwsem_write_free(v, vdev), do=zap_and_down_write(t, vdev)),
                 Call("revoke", MOVE, {"vdev": vdev, "revoked": True})]
                if not mem else
                [step("down_write", "MEM set: take memory_lock for write.",
                      when=rwsem_write_free(v, vdev), do=down_write(t, vdev))])
        return lock + [
            Step("vfio_default_config_write", br,
                 "Write PCI_COMMAND through to the device and update the virtual MEM bit."),
            Call("unrevoke", MOVE, {"vdev": vdev, "revoked": False}),
            step("up_write", "Release memory_lock.", do=unlock,
                 events=(ev, Event("revoke_window_end", (vdev,))), goto=RETURN_),
        ]

    p.replace_procedure("vfio_basic_config_write", write)


# the 2026 series are built-in variants too (model/series/ registers them on import)
_load_builtin_series()

# the lifetimes mutants (issue 11 item 1) register themselves on import
from . import lifetime_variants  # noqa: E402,F401
from . import sriov_variants  # noqa: E402,F401
