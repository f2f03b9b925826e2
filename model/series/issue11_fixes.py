"""Candidate fixes for the issue-11 findings on v7.3 (not posted; written to be checked).

* ``wake-exit-unrevokes``: ``vfio_pci_core_runtime_resume``'s wake-eventfd
  path ends the low-power episode (engaged = false) but never un-revokes; the
  fix un-revokes there as LOW_POWER_EXIT does (if memory_enabled,
  move(false), still under memory_lock(W)).  It includes
  ``unrevoke-checks-engaged`` (no un-revoke while engaged), which the FLR and
  PM_CTRL paths need too.
"""
from __future__ import annotations

from revoke_check.model.lang import Branch, Call, Event, NEXT, Step
from revoke_check.model.variants import VARIANTS, variant


def _unrevoke_after_wake(p):
    # every PM get that can run the wake path: the ioctl and config-access wrappers, and the
    # gets of hot reset (vfio_pci_dev_set_pm_runtime_get) and of the sysfs reset (reset_store)
    for proc in ("vfio_device_fops_unl_ioctl", "vfio_pci_rw", "pm_runtime_resume_and_get"):
        p.replace_procedure(proc, _with_unrevoke(p.procs[proc][0]))


def _with_unrevoke(orig):
    def wrapped(t, vdev, **kw):
        stmts = orig(t, vdev=vdev, **kw)
        k = next((i for i, s in enumerate(stmts) if s.label == "vfio_pci_core_runtime_resume"), None)
        if k is None:          # no wake eventfd can be armed on this device
            return stmts
        v = t.v
        E = v.memory_enabled(vdev)
        ev = (Event("mem_enabled_eval", (vdev,)),)
        test = Step("vfio_pci_core_runtime_resume_unrevoke", [
            Branch(E, goto=NEXT, events=ev, note="memory enabled: un-revoke"),
            Branch(~E, goto="vfio_pci_core_runtime_resume_up_write", events=ev, note="memory disabled"),
        ], "After __vfio_pci_runtime_pm_exit, un-revoke as LOW_POWER_EXIT does.",
            source="drivers/vfio/pci/vfio_pci_core.c:vfio_pci_core_runtime_resume")
        return stmts[:k + 1] + [test, Call("wake_unrevoke", "vfio_pci_dma_buf_move",
                                           {"vdev": vdev, "revoked": False})] + stmts[k + 1:]
    return wrapped


@variant("wake-exit-unrevokes")
def wake_exit_unrevokes(p):
    """Candidate fix: the wake-eventfd resume un-revokes (if memory_enabled), and no un-revoke while engaged."""
    VARIANTS["unrevoke-checks-engaged"](p)
    _unrevoke_after_wake(p)


@variant("rpm-fixes")
def rpm_fixes(p):
    """The candidate fixes together, for configs that reach both findings: ``wake-exit-unrevokes``
    (with ``unrevoke-checks-engaged``) and ``sysfs-reset-revoke-rfc-vfio-owned`` (revoke in the
    sysfs reset's reset_prepare/reset_done hooks)."""
    VARIANTS["wake-exit-unrevokes"](p)
    VARIANTS["sysfs-reset-revoke-rfc-vfio-owned"](p)
