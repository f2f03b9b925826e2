"""Candidate changes to the PF's function reset while its VFs exist (issue 11, SR-IOV with a PF and a VF).

An FLR of a PF clears VF Enable in its SR-IOV capability: every VF stops
decoding until ``pci_dev_restore`` restores the capability, and nothing
revokes the VFs' dma-bufs (``-c sriov-pf-vf``, ``-c sriov-pf-vf-flr``,
``-c sriov-pf-vf-close``, README Findings).
"""
from __future__ import annotations

from .expr import and_
from .lang import Branch, NEXT, RETURN, Step
from .locks import up_write
from .variants import variant

_SRC = "drivers/vfio/pci/vfio_pci_core.c:vfio_pci_ioctl_reset"


@variant("pf-reset-refused-with-vfs", fixed_by="pf-reset-checks-sriov-active")
def pf_reset_refused_with_vfs(p):
    """VFIO_DEVICE_RESET refuses to reset a PF while pci_num_vf() > 0, tested before memory_lock.

    The shape kernel-2026 §4.6 records for "PCI/vfio-pci: Guard resets against
    active SR-IOV VFs" (the posting itself was not re-read here).  The test is
    not under any lock sriov_configure takes: VFs enabled between the test and
    pci_try_reset_function are reset with the PF.
    """
    def guard(t, vdev):
        if not any(a.target == vdev for a in t.cfg.actors_of_kind("sriov_configure")):
            return []   # no VF of this device can exist: the test always passes (keeps other counts)
        on = t.v.vfs_enabled[vdev]
        return Step("pci_num_vf", [
            Branch(on, goto=RETURN, choice="VFs exist", note="the PF has VFs: refuse the reset"),
            Branch(~on, goto=NEXT, choice="no VFs"),
        ], "Refuse to reset a PF whose VFs exist (pci_num_vf() > 0), before taking memory_lock.", source=_SRC)
    p.insert_before("vfio_pci_ioctl_reset", "zap_and_down_write", guard)


@variant("pf-reset-checks-sriov-active")
def pf_reset_checks_sriov_active(p):
    """VFIO_DEVICE_RESET and the config-space FLR refuse to reset a PF while vdev->sriov_active,
    tested under memory_lock(W); the PF's close skips its function reset then.

    sriov_configure sets sriov_active under memory_lock(W) before
    pci_enable_sriov and clears it only after pci_disable_sriov, so with the
    test under the same lock no VF can appear between the test and the reset.
    vfio_pci_core_disable holds no memory_lock: it tests sriov_active after
    its pci_dev_trylock, the PF's device lock that sriov_numvfs_store holds
    across sriov_configure, so there too no VF comes or goes between the test
    and __pci_reset_function_locked (needs_reset stays true when skipped).
    """
    def guard(t, vdev):
        if not any(a.target == vdev for a in t.cfg.actors_of_kind("sriov_configure")):
            return []   # sriov_active of this device is never set: the test always passes
        act = t.v.sriov_active[vdev]
        unlock, ev = up_write(t, vdev)
        return Step("sriov_active", [
            Branch(act, unlock, goto=RETURN, choice="sriov active", events=(ev,),
                   note="VFs are being enabled or exist: up_write, refuse the reset"),
            Branch(~act, goto=NEXT, choice="no VFs"),
        ], "With memory_lock held, refuse to reset a PF whose VFs are enabled (vdev->sriov_active).", source=_SRC)
    p.insert_after("vfio_pci_ioctl_reset", "zap_and_down_write", guard)
    # the config-space FLR of the PF (vfio_exp_config_write) resets it the same way: same test
    p.insert_after("vfio_exp_config_write", "zap_and_down_write", guard)
    p.replace_step("vfio_pci_core_close_device", "vfio_pci_core_disable", _disable_checks_sriov_active)


def _disable_checks_sriov_active(t, vdev):
    """``vfio_pci_core_disable``: after pci_dev_trylock, reset the PF only if !vdev->sriov_active."""
    from .pci import _disable_trylock
    s = _disable_trylock(t, vdev)
    if not any(a.target == vdev for a in t.cfg.actors_of_kind("sriov_configure")):
        return s   # sriov_active of this device is never set: the test always passes
    act = t.v.sriov_active[vdev]
    out = []
    for b in s.branches:
        if not any(e.kind == "hw_reset" for e in b.events):
            out.append(b)
            continue
        out += [Branch(and_(b.when, ~act), b.do, b.goto, b.choice, b.events, b.note),
                Branch(and_(b.when, act), b.do, b.goto, b.choice,
                       tuple(e for e in b.events if e.kind != "hw_reset"),
                       "sriov_active: the PF's function reset is skipped (needs_reset stays true)")]
    return Step(s.label, out, s.doc + " Skip the reset while vdev->sriov_active (tested under the device lock).",
                source="drivers/vfio/pci/vfio_pci_core.c:vfio_pci_core_disable")
