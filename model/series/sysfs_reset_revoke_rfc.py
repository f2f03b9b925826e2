"""Pranjal, "vfio/pci: Revoke BARs and DMABUFs during sysfs-triggered PCI reset" (RFC, 2026-08-07).

msgid 20260807201405.3717430-2-praan@google.com (kernel-2026 §4.4).  Known
from mail only: vfio-pci gains ``err_handler->reset_prepare`` /
``reset_done``; the hook placement and lock steps are not recorded, so this
file models them the way the brief of issue 11 states them [?]:

* ``reset_prepare`` (from ``pci_dev_save_and_disable``, PCI device lock held):
  vfio_pci_zap_and_down_write_memory_lock, move(true);
* ``reset_done`` (from ``pci_dev_restore``, PCI device lock held): if
  __vfio_pci_memory_enabled move(false); up_write.

Two readings of where the hooks run:

* ``sysfs-reset-revoke-rfc``: on every path through
  ``pci_dev_save_and_disable`` -- the sysfs ``pci_reset_function`` *and*
  vfio's own ``pci_try_reset_function`` (VFIO_DEVICE_RESET, config-space FLR),
  which already holds memory_lock(W) when it trylocks the device lock, and
  the hot reset's ``pci_reset_bus`` (every memory_lock of the dev_set held):
  the hook's down_write then waits for its own caller.
* ``sysfs-reset-revoke-rfc-vfio-owned``: vfio's own resets mark the reset as
  theirs (e.g. a ``vdev->reset_owned`` flag set under memory_lock(W) before
  ``pci_try_reset_function``) and the hooks return at once for them; only a
  reset the PCI core starts revokes in the hooks.
"""
from __future__ import annotations

from revoke_check.model.expr import and_
from revoke_check.model.lang import Branch, Call, Event, NEXT, Step, step
from revoke_check.model.locks import rwsem_write_free, up_write, zap_and_down_write
from revoke_check.model.variants import variant

VFIO = "drivers/vfio/pci/vfio_pci_core.c"
PCI = "drivers/pci/pci.c"
MOVE = "vfio_pci_dma_buf_move"


def _hooks_on_sysfs_path(p):
    """pci_reset_function: reset_prepare before the save-and-disable, reset_done after the restore."""
    def prepare(t, vdev):
        v = t.v
        return [
            step("vfio_pci_reset_prepare",
                 "reset_prepare (device lock held): take memory_lock for write and zap the BAR mmaps.",
                 when=rwsem_write_free(v, vdev), do=zap_and_down_write(t, vdev),
                 source=f"{VFIO}:vfio_pci_reset_prepare"),
            Call("revoke", MOVE, {"vdev": vdev, "revoked": True}),
            step("pci_dev_save_and_disable", "Save config space, D0, COMMAND := INTX_DISABLE.",
                 source=f"{PCI}:pci_dev_save_and_disable"),
        ]

    def done(t, vdev):
        v = t.v
        E = v.memory_enabled(vdev)
        ev = (Event("mem_enabled_eval", (vdev,)),)
        unlock, uev = up_write(t, vdev)
        return [
            Step("pci_dev_restore", [
                Branch(E, goto=NEXT, events=ev, note="memory enabled: un-revoke"),
                Branch(~E, goto="vfio_pci_reset_done_up_write", events=ev, note="memory disabled"),
            ], "Restore config space; reset_done tests __vfio_pci_memory_enabled.",
                source=f"{VFIO}:vfio_pci_reset_done"),
            Call("unrevoke", MOVE, {"vdev": vdev, "revoked": False}),
            step("vfio_pci_reset_done_up_write", "reset_done: release memory_lock.", do=unlock,
                 events=(uev, Event("revoke_window_end", (vdev,))), source=f"{VFIO}:vfio_pci_reset_done"),
        ]
    p.replace_step("pci_reset_function", "pci_dev_save_and_disable", prepare)
    p.replace_step("pci_reset_function", "pci_dev_restore", done)


@variant("sysfs-reset-revoke-rfc")
def sysfs_reset_revoke_rfc(p):
    """Pranjal's RFC (2026-08-07) read literally: vfio-pci's reset_prepare/reset_done revoke and un-revoke.

    The hooks run from pci_dev_save_and_disable/pci_dev_restore on every PCI
    core function reset: the sysfs pci_reset_function, and vfio's own
    pci_try_reset_function, whose caller (VFIO_DEVICE_RESET, config-space FLR)
    already holds memory_lock(W): reset_prepare's down_write waits for its own
    thread.
    """
    _hooks_on_sysfs_path(p)

    def own(proc):
        def make(t, vdev):
            # the step as upstream (and model/pci.py) built it; the trylock-success
            # branches (those that reset) now first run reset_prepare on this thread
            from revoke_check.model.pci import _try_lock
            s = _try_lock(proc)(t, vdev)
            v = t.v
            for b in s.branches:
                if any(e.kind == "hw_reset" for e in b.events):
                    b.when = and_(b.when, rwsem_write_free(v, vdev))
                    b.note = ("reset_prepare: down_write(memory_lock), which this thread holds; " + b.note)
            s.doc += " With the RFC's hooks, pci_dev_save_and_disable calls vfio_pci_reset_prepare here."
            return s
        return make
    for proc in ("vfio_pci_ioctl_reset", "vfio_exp_config_write"):
        p.replace_step(proc, "pci_try_reset_function", own(proc))

    def bus(t):
        # pci_reset_bus -> pci_bus_save_and_disable_locked -> pci_dev_save_and_disable on every
        # device of the bus: each device's reset_prepare takes its memory_lock(W), which the hot
        # reset already holds (down_write_trylock in its locking loop)
        from revoke_check.model.vfio_pci_core import vfio_pci_dev_set_hot_reset
        s = next(x for x in vfio_pci_dev_set_hot_reset(t) if x.label == "pci_reset_bus")
        v = t.v
        for b in s.branches:
            if any(e.kind == "hw_reset" for e in b.events):
                b.when = and_(b.when, *[rwsem_write_free(v, k) for k in range(len(t.cfg.devices))])
                b.note = ("reset_prepare of every device: down_write(memory_lock), which this thread holds; "
                          + b.note).rstrip("; ")
        s.doc += " With the RFC's hooks, pci_bus_save_and_disable_locked calls vfio_pci_reset_prepare per device."
        return s
    p.replace_step("vfio_pci_dev_set_hot_reset", "pci_reset_bus", bus)


@variant("sysfs-reset-revoke-rfc-vfio-owned")
def sysfs_reset_revoke_rfc_vfio_owned(p):
    """Candidate fix: the RFC's hooks, skipped for the resets vfio itself starts.

    vfio's reset paths already zap, hold memory_lock(W) and revoke before
    pci_try_reset_function; they mark the reset as theirs under memory_lock
    and vfio_pci_reset_prepare/reset_done return at once for it.  A reset the
    PCI core starts (sysfs, and any other pci_reset_function caller) revokes
    under the device lock: lock order pci_dev_lock -> memory_lock(W) -> resv,
    against vfio's memory_lock(W) -> pci_dev_trylock (no dependency).
    """
    _hooks_on_sysfs_path(p)


@variant("sysfs-reset-revoke-rfc-vfio-owned-close-safe")
def sysfs_reset_revoke_rfc_vfio_owned_close_safe(p):
    """Candidate fix for the candidate fix: the hooks also survive a device close.

    With ``-c pci-core-reset-close``, ``sysfs-reset-revoke-rfc-vfio-owned``
    lets ``vfio_pci_core_disable`` free vconfig (it holds only dev_set->lock;
    its own ``pci_dev_trylock`` fails and the reset is skipped) while the sysfs
    reset sits between reset_prepare and reset_done; reset_done then reads the
    freed vconfig in ``__vfio_pci_memory_enabled``.  Here
    ``vfio_config_free`` runs under memory_lock(W), which the hooks hold from
    prepare to done, and reset_done tests that vconfig still exists (the
    device is open) before it tests memory_enabled.
    """
    sysfs_reset_revoke_rfc_vfio_owned(p)
    from revoke_check.model.locks import takes

    def done(t, vdev):
        v = t.v
        E = and_(v.vconfig[vdev], v.memory_enabled(vdev))
        ev = (Event("mem_enabled_eval", (vdev,)),)
        return Step("pci_dev_restore", [
            Branch(~v.vconfig[vdev], goto="vfio_pci_reset_done_up_write", note="device closed: no vconfig"),
            Branch(E, goto=NEXT, events=ev, note="memory enabled: un-revoke"),
            Branch(and_(v.vconfig[vdev], ~E), goto="vfio_pci_reset_done_up_write", events=ev,
                   note="memory disabled"),
        ], "Restore config space; reset_done tests vconfig, then __vfio_pci_memory_enabled.",
            source=f"{VFIO}:vfio_pci_reset_done")

    def disable(t, vdev):
        from revoke_check.model.pci import _disable_trylock
        s = _disable_trylock(t, vdev)
        for b in s.branches:
            b.when = and_(b.when, rwsem_write_free(t.v, vdev))
            b.events = tuple(b.events) + (takes("memory_lock"),)
        s.doc += " vfio_config_free runs under memory_lock(W)."
        return s
    p.replace_step("pci_reset_function", "pci_dev_restore", done)
    p.replace_step("vfio_pci_core_close_device", "vfio_pci_core_disable", disable)
