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


def _bus_reset_needs_free_device_locks():
    """At a hw_reset of dev1 that the sysfs reset does not issue (so the hot reset's pci_reset_bus),
    nobody holds dev1's device lock."""
    from revoke_check.model.expr import FALSE, or_
    from revoke_check.model.locks import NONE

    def at_sysfs_reset(m):
        th = next(t for t in m.threads if t.name == "sysfs_reset.dev1")
        return or_(FALSE, *[th.pc == k for k, n in enumerate(th.pc.domain.names)
                            if n.endswith("pci_reset_function:__pci_reset_function_locked")])

    def ok(m, d):
        return implies(and_(d == 1, ~at_sysfs_reset(m)), m.v.pci_dev_lock[1] == NONE)
    return Property("bus-reset-trylocks", "pci_reset_bus resets only devices whose lock it got.",
                    events={"hw_reset": ok},
                    witnesses=(Witness("sysfs-holds-dev1", state=lambda m: m.v.pci_dev_lock[1] != NONE),))


def test_pci_reset_bus_fails_while_a_sysfs_reset_holds_a_device_lock_of_the_dev_set():
    r = check("hot-reset-vs-sysfs-reset")
    assert (r.verdict, r.distinct_states) == ("holds", 3546), r.message
    m = upstream().build(upstream().config("hot-reset-vs-sysfs-reset"))
    fired = {m.transitions[i].note for i, n in enumerate(r.coverage) if n}
    assert "pci_bus_trylock failed (a device lock is held): -EAGAIN, no reset; undo" in fired
    m, r = _explore("hot-reset-vs-sysfs-reset", [_bus_reset_needs_free_device_locks()])
    assert r.verdict == "holds" and r.witnesses["bus-reset-trylocks/sysfs-holds-dev1"], r.message
    # without the trylock (the step as vfio_pci_core.py writes it) the bus is reset under dev1's lock;
    # replayed on upstream the same trace ends in the -EAGAIN branch, with no reset to violate it
    from revoke_check.model.vfio_pci_core import vfio_pci_dev_set_hot_reset
    from revoke_check.replay import replay
    from revoke_check.semantics import Semantics
    p = upstream()
    p.replace_step("vfio_pci_dev_set_hot_reset", "pci_reset_bus",
                   lambda t: next(s for s in vfio_pci_dev_set_hot_reset(t) if s.label == "pci_reset_bus"))
    bad = p.build(p.config("hot-reset-vs-sysfs-reset"))
    prop = _bus_reset_needs_free_device_locks()
    r = explore(bad, compile_checks(bad, [prop]))
    assert (r.verdict, r.property) == ("violated", "bus-reset-trylocks")
    assert r.trace.steps[-1].label == "vfio_pci_dev_set_hot_reset:pci_reset_bus"
    rr = replay(r.trace, Semantics(m, compile_checks(m, [prop])))
    assert rr.ok and rr.violation is None and rr.steps_replayed == len(r.trace)
    assert m.transitions[rr.path[-1]].note.startswith("pci_bus_trylock failed")
