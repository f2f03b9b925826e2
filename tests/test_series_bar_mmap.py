"""Matt Evans' "vfio/pci: Convert BAR mmap() to use a DMABUF", v4 and v8 (model/series/)."""
import pytest

from revoke_check.model.config import ConfigError
from revoke_check.model.series import _bar_mmap_common as common
from revoke_check.model.variants import get_protocol
from revoke_check.properties import compile_checks, get_properties
from revoke_check.properties.lock_order import LockOrder
from revoke_check.engines.explicit import explore
from revoke_check.replay import replay
from revoke_check.run import build, check
from revoke_check.semantics import Semantics

V4, V8 = "bar-mmap-dmabuf-v4", "bar-mmap-dmabuf-v8"


def _run(p, config, props):
    model = p.build(p.config(config))
    return explore(model, compile_checks(model, get_properties(props, p)))


@pytest.mark.parametrize("variant", [V4, V8])
@pytest.mark.parametrize("config", ["minimal", "default", "mmap"])
def test_the_series_builds_on_upstream_configs(variant, config):
    model, _ = build(config, variant)
    assert any(x.name.startswith("status[") for x in model.vars)


def test_v8_has_a_dmabuf_lock_class_and_v4_does_not():
    m4, _ = build("bar-mmap", V4)
    m8, _ = build("bar-mmap", V8)
    c4 = {li.decl.lock_class for li in m4.locks}
    c8 = {li.decl.lock_class for li in m8.locks}
    assert "dmabuf_lock" not in c4 and "dmabuf_lock" in c8
    assert "mmap_lock" in c4 and "mmap_lock" in c8


def _chains(model):
    lo = LockOrder.of(model)
    return {mode for acq in lo.acquires.values() for cls, mode in acq if cls == "chain"}


def test_lock_order_sees_mmap_lock_and_the_fault_chain():
    m4, _ = build("bar-mmap", V4)
    m8, _ = build("bar-mmap", V8)
    assert ("mmap_lock", "memory_lock", "dmabuf_lock") in _chains(m8)
    assert ("mmap_lock", "resv") in _chains(m4) and ("memory_lock", "resv") in _chains(m4)
    assert ("dmabuf_lock", "resv") in _chains(m8) and ("memory_lock", "resv") not in _chains(m8)


def test_v4_mmap_after_low_power_entry_is_ok_beside_revoked_siblings_and_v8_is_not():
    r = check("bar-mmap-lowpower", V4, ["export-status-agrees"])
    assert r.verdict == "violated" and r.property == "export-status-agrees" and len(r.trace) == 12
    labels = [s.step_label for s in r.trace.steps]
    assert labels[-1] == "bar_mmap:list_add_tail"
    assert any("pm_runtime_engaged" in x for x in labels)
    model, checks = build("bar-mmap-lowpower", V4, ["export-status-agrees"])
    rr = replay(r.trace, Semantics(model, checks))
    assert rr.ok and rr.violation and rr.violation[0] == "export-status-agrees"
    model, checks = build("bar-mmap-lowpower", V8, ["export-status-agrees"])
    rr = replay(r.trace, Semantics(model, checks))
    assert (not rr.ok) or rr.violation is None
    assert check("bar-mmap-lowpower", V8, ["export-status-agrees"]).verdict == "holds"


def test_perm_revoked_never_goes_back():
    # the series' un-revoke moves only TEMP_REVOKED -> OK ...
    assert check("bar-mmap-revoke", V8, ["perm-revoked-absorbing"]).verdict == "holds"
    # ... an un-revoke of every non-OK buf is caught
    p = get_protocol(V8)
    p.replace_procedure(common.MOVE, lambda t, vdev, revoked: common.series_move(
        t, vdev, revoked, True, unrevoke_any=True))
    r = _run(p, "bar-mmap-revoke", ["perm-revoked-absorbing"])
    assert r.verdict == "violated" and r.property == "perm-revoked-absorbing"
    assert any("dmabuf_revoke" in s.thread for s in r.trace.steps)


def test_a_fault_without_the_recheck_is_caught():
    # on bar-mmap the memory_enabled test under memory_lock(R) hides the missing re-check
    # (temporary revokes there go with decode off or are undone under the same lock);
    # the REVOKE ioctl's PERM_REVOKED is what only the status re-check refuses
    p = get_protocol(V8)
    p.delete_step("dmabuf_fault", "recheck_status")
    r = _run(p, "bar-mmap-revoke", ["fault-rechecks-under-lock", "dmabuf-pte-needs-ok"])
    assert r.verdict == "violated" and r.property == "fault-rechecks-under-lock"


def test_the_device_file_outlives_every_bar_mmap_buf():
    r = check("bar-mmap", V8, ["vfile-outlives-mmap-buf"])
    assert r.verdict == "holds" and not r.vacuous
    # without priv->vfile the close would run under a live BAR-mmap buf
    p = get_protocol(V8)
    p.replace_step("vfio_pci_core_close_device", "mutex_lock",
                   lambda t, vdev: get_protocol("upstream").procs["vfio_pci_core_close_device"][0](t, vdev)[0])
    r = _run(p, "bar-mmap", ["vfile-outlives-mmap-buf"])
    assert r.verdict == "violated"


def test_a_bar_mmap_buf_has_no_fd():
    p = get_protocol(V8)
    raw = dict(p.configs["bar-mmap-two"][0])
    raw["importers"] = [{"name": "imp1", "buf": "m0"}]
    p.add_config("bad", raw)
    with pytest.raises(ConfigError):
        p.build(p.config("bad"))


def test_rfc2_revoke_under_memory_lock_read_leaves_a_pte_on_a_perm_revoked_buf():
    rl = "bar-mmap-dmabuf-v4-revoke-read-lock"
    r = check("bar-mmap-revoke", rl, ["dmabuf-pte-needs-ok"])
    assert r.verdict == "violated" and len(r.trace) == 16
    labels = [s.step_label for s in r.trace.steps]
    # the fault re-checked OK before the REVOKE, and inserts after its unmap_mapping_range
    assert labels.index("dmabuf_fault:recheck_status") < labels.index(
        "vfio_pci_core_feature_dma_buf_revoke:dma_resv_lock(buf0)")
    assert labels[-2].endswith("unmap_mapping_range(buf0)") and labels[-1] == "dmabuf_fault:vmf_insert_pfn"
    for fixed in (V4, V8):   # memory_lock(W) (v2..v5) and dmabuf_lock(W) (v7+) refuse this interleaving
        model, checks = build("bar-mmap-revoke", fixed, ["dmabuf-pte-needs-ok"])
        rr = replay(r.trace, Semantics(model, checks))
        assert (not rr.ok) or rr.violation is None


def test_v4_mmap_export_under_memory_lock_deadlocks_against_a_user_copy_under_memory_lock_read():
    r = check("bar-mmap-nvgrace", V4, ["deadlock-free"])
    assert r.verdict == "violated" and len(r.trace) == 3
    assert "bar_mmap:list_add_tail" in r.message and "copy_to_user" in r.message
    lo = check("bar-mmap-nvgrace", V4, ["lock-order"])
    assert lo.verdict == "violated" and "mmap_lock" in lo.message and "memory_lock" in lo.message
    # v7+ exports under dmabuf_lock(W): no memory_lock inside mmap_lock(W)
    assert check("bar-mmap-nvgrace-busy", V8, ["deadlock-free", "lock-order"]).verdict == "holds"


def test_v8_keeps_mainlines_read_read_cycle_between_the_fault_and_a_user_copy():
    # not the series': the fault nests memory_lock(R) in mmap_lock(R) as mainline's does, and
    # nvgrace-gpu's read() nests mmap_lock in memory_lock(R) (copy_to_user); lockdep-style cycle
    r = check("bar-mmap-nvgrace-fault", V8, ["lock-order"])
    assert r.verdict == "violated"
    assert "dmabuf_fault" in r.message and "copy_to_user" in r.message
