"""Issue 11 item 7: the atomicity audit's splits and folds, each with what would make it fail."""
from revoke_check.engines.explicit import explore
from revoke_check.model.expr import and_, implies
from revoke_check.model.protocol import upstream
from revoke_check.model.variants import get_protocol
from revoke_check.properties import Property, Witness, compile_checks
from revoke_check.run import check


def _explore(config, props, variant="upstream"):
    p = get_protocol(variant)
    m = p.build(p.config(config))
    return m, explore(m, compile_checks(m, list(props)))


def test_runtime_suspend_sets_d3hot_after_the_callback_s_up_write():
    """Between the callback (memory_lock free again, device still in D0) and D3hot nobody takes a
    PM reference: pm_runtime_resume_and_get waits while the status is RPM_SUSPENDING."""
    prop = Property(
        "suspending-window", "While suspending, usage stays 0 and the device is not yet in D3hot.",
        invariant=lambda m: implies(m.v.rpm_suspending[0], and_(m.v.pm_usage[0] == 0, ~m.v.d3[0])),
        witnesses=(Witness("window-with-lock-taken",
                           state=lambda m: and_(m.v.rpm_suspending[0], m.v.memory_lock_readers[0] > 0)),))
    m, r = _explore("lowpower", [prop])
    assert r.verdict == "holds", r.message
    # the window is real: a BAR fault takes memory_lock(R) while the suspend is half done
    assert r.witnesses["suspending-window/window-with-lock-taken"]
    labels = [tr.label for tr in m.transitions if tr.thread.startswith("pm_runtime")]
    assert labels == ["vfio_pci_core_runtime_suspend:rpm_suspend",
                      "vfio_pci_core_runtime_suspend:pci_finish_runtime_suspend"]


def test_the_reset_ioctl_sets_d0_in_its_locking_step_and_the_flr_does_not(tmp_path):
    cfg = tmp_path / "d0.toml"
    cfg.write_text("""[d0]
runtime_pm = true
devices = [{ name = "dev0", open = true, mem = true }]
bufs = [{ name = "buf0", dev = "dev0", exists = true }]
actors = [
  { kind = "pm_ctrl_write", dev = "dev0", d3 = [true] },
  { kind = "ioctl_reset", dev = "dev0" },
  { kind = "config_flr", dev = "dev0" },
]
""")
    p = upstream()
    m = p.build(p.config(f"{cfg}:d0"))
    d3 = m.var("pm_ctrl_d3[dev0]").slot
    writes = {tr.thread.split(".")[0] for tr in m.transitions
              if tr.label.endswith(":zap_and_down_write") and d3 in tr.updates}
    assert writes == {"ioctl_reset"}
    # without a PM_CTRL writer nothing writes pm_ctrl_d3 (older configs cannot move)
    m = p.build(p.config("minimal"))
    assert not [tr for tr in m.transitions if m.var("pm_ctrl_d3[dev0]").slot in tr.updates]


def test_disable_skips_its_reset_while_a_sysfs_reset_holds_the_device_lock():
    r = check("pci-core-reset-close", properties=["refcounts"])
    m = upstream().build(upstream().config("pci-core-reset-close"))
    fired = {m.transitions[i].note for i, n in enumerate(r.coverage) if n}
    assert "pci_dev_trylock failed: the function reset is skipped" in fired
    assert "pci_dev_trylock: reset the function" in fired


def test_the_vfio_owned_rfc_reads_a_freed_vconfig_and_the_close_safe_fix_holds():
    r = check("pci-core-reset-close", "sysfs-reset-revoke-rfc-vfio-owned")
    assert (r.verdict, r.property, len(r.trace)) == ("violated", "no-unopened-vconfig-access", 26)
    labels = [s.label for s in r.trace.steps]
    assert labels[-2:] == ["vfio_pci_core_close_device:vfio_pci_core_disable", "pci_reset_function:pci_dev_restore"]
    assert check("pci-core-reset-close", "sysfs-reset-revoke-rfc-vfio-owned-close-safe").verdict == "holds"
