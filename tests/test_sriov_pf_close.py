"""Issue 11, SR-IOV: the PF's close (vfio_pci_core_disable's function reset) while its VF exists,
and PCI_PM_CTRL writes to a VF.

Fails if disable's reset of the PF stops being checked against the VF's
buf (verdict, length or count moves), if the trace stops replaying, if
bmc finds another length, if the candidate fix stops skipping the reset
while sriov_active, or if the trylock no longer fails while echo 0 >
sriov_numvfs holds the PF's device lock; if a VF's D0 write starts
reading its MEM bit, or a VF's PM_CTRL write under runtime PM is accepted.
"""
import json

import pytest

from revoke_check.model.config import ConfigError
from revoke_check.model.expr import variables
from revoke_check.model.protocol import upstream
from revoke_check.model.variants import get_protocol
from revoke_check.properties import get_properties
from revoke_check.replay import replay
from revoke_check.run import build, check
from revoke_check.semantics import Semantics
from revoke_check.traces.trace import Trace

VF_PROP = "vf-buf-usable-only-while-pf-decodes"
CFG = "sriov-pf-vf-close"
FIX = "pf-reset-checks-sriov-active"


def _fired_notes(variant, config=CFG, props=None):
    p = get_protocol(variant or "upstream")
    m = p.build(p.config(config))
    r = check(config, variant, props)
    return r, {m.transitions[i].note for i, n in enumerate(r.coverage)
               if n and m.transitions[i].thread == "close_device.pf0"}


def test_the_pfs_close_resets_the_pf_under_its_vfs_buf_and_the_trace_replays():
    r = check(CFG)
    assert (r.verdict, r.property, len(r.trace), r.distinct_states) == ("violated", VF_PROP, 5, 70)
    last = r.trace.steps[-1]
    assert (last.thread, last.label) == ("close_device.pf0", "vfio_pci_core_close_device:vfio_pci_core_disable")
    assert last.state["vfs_enabled[pf0]"] and last.state["sriov_active[pf0]"] and not last.state["revoked[buf0]"]
    t = Trace.from_json(json.loads(r.trace.dumps()))
    m, c = build(CFG, None, [VF_PROP])
    rr = replay(t, Semantics(m, c))
    assert rr.ok and rr.violation and rr.violation[0] == VF_PROP
    # the candidate fix: the same steps replay, disable now skips the reset and nothing is violated
    m, c = build(CFG, FIX, [VF_PROP])
    rr = replay(t, Semantics(m, c))
    assert rr.ok and rr.steps_replayed == 5 and rr.violation is None


def test_bmc_finds_the_same_length():
    r = check(CFG, None, [VF_PROP], engine="bmc", depth=8)
    assert (r.verdict, r.property, len(r.trace)) == ("violated", VF_PROP, 5)


def test_everything_else_holds_and_the_trylock_fails_while_sriov_numvfs_holds_the_device_lock():
    props = [p.name for p in get_properties(None, get_protocol("upstream")) if p.name != VF_PROP]
    r, notes = _fired_notes(None, props=props)
    assert (r.verdict, r.distinct_states) == ("holds", 1812), r.message
    assert {"pci_dev_trylock: reset the function", "pci_dev_trylock failed: the function reset is skipped"} <= notes


def test_the_ioctl_only_guard_misses_the_close_and_the_fix_skips_the_reset_while_sriov_active():
    r = check(CFG, "pf-reset-refused-with-vfs")
    assert (r.verdict, r.property, len(r.trace), r.distinct_states) == ("violated", VF_PROP, 5, 70)
    r, notes = _fired_notes(FIX)
    assert (r.verdict, r.distinct_states) == ("holds", 1812), r.message
    assert r.witnesses[f"{VF_PROP}/vf-buf-usable"]
    # the PF is still reset once its VF is gone, and the guard's skip is reached
    assert {"pci_dev_trylock: reset the function",
            "sriov_active: the PF's function reset is skipped (needs_reset stays true)"} <= notes


def test_pm_ctrl_writes_to_a_vf_revoke_and_un_revoke_whatever_its_mem_bit():
    r = check("sriov-vf-pm-ctrl")
    assert (r.verdict, r.distinct_states) == ("holds", 4182), r.message
    assert r.witnesses[f"{VF_PROP}/vf-buf-usable"]
    m = upstream().build(upstream().config("sriov-vf-pm-ctrl"))
    fired = {(m.transitions[i].local_label, m.transitions[i].note) for i, n in enumerate(r.coverage)
             if n and m.transitions[i].thread.startswith("pm_ctrl_write")}
    assert ("vfio_pci_set_power_state", "D3hot: memory disabled") in fired
    assert ("vfio_pci_set_power_state", "VF: D0; memory enabled (no_command_memory): un-revoke") in fired
    d0 = [tr for tr in m.transitions if tr.thread.startswith("pm_ctrl_write")
          and tr.note.startswith("VF: D0")]
    assert len(d0) == 2 and all("vmem[vf0]" not in {x.name for x in variables(tr.guard)} for tr in d0)


def test_pm_ctrl_on_a_vf_under_runtime_pm_is_rejected():
    p = upstream()
    p.add_config("x", {"runtime_pm": True, "devices": [{"name": "v", "open": True, "vf": True}],
                       "actors": [{"kind": "pm_ctrl_write", "dev": "v", "d3": [True]}]})
    with pytest.raises(ConfigError, match="PCI_PM_CTRL writes to a VF under runtime_pm"):
        p.build(p.config("x"))


def test_a_vf_of_a_pf_under_runtime_pm_holds_and_the_pf_suspends_only_once_the_vf_is_gone():
    m = upstream().build(upstream().config("sriov-pf-vf-rpm"))
    # the VF was enabled before the start: sriov_configure's PM reference is held besides the open's
    assert m.init[m.var("pm_usage[pf0]").slot] == 2
    props = [p.name for p in get_properties(None, upstream()) if p.name != "undo-restores-every-revoke"]
    r = check("sriov-pf-vf-rpm", None, props)
    assert (r.verdict, r.distinct_states) == ("holds", 6504), r.message
    assert r.witnesses["pf-powered-while-vfs-exist/vfs-enabled"]
    assert r.witnesses["low-power-keeps-bufs-revoked/suspended-with-buf"]
    fired = {m.transitions[i].thread for i, n in enumerate(r.coverage)
             if n and m.transitions[i].local_label == "pci_finish_runtime_suspend"}
    assert fired == {"pm_runtime.pf0", "pm_runtime.vf0"}
