"""Issue 11, fidelity to v7.3: importers as they are, runtime PM in full, PCI-core resets,
BAR read/write, and the I1 property.  Each test names what would make it fail."""
import pytest

from revoke_check.model.config import ConfigError
from revoke_check.model.expr import and_, implies, or_
from revoke_check.model.protocol import upstream
from revoke_check.model.variants import get_protocol
from revoke_check.properties import Property, Witness, compile_checks, get_properties
from revoke_check.engines.explicit import explore
from revoke_check.run import check

OLD_CONFIGS = ["tiny", "minimal", "default", "wide", "write-fails", "mmap", "lowpower", "iommufd"]


def _explore(config, variant="upstream", props=()):
    p = get_protocol(variant)
    m = p.build(p.config(config))
    return m, explore(m, compile_checks(m, list(props)))


def _labels(r):
    return [s.label for s in r.trace.steps]


@pytest.mark.parametrize("config", OLD_CONFIGS)
def test_the_new_state_is_constant_on_the_older_configs(config):
    """No transition of an older config writes the issue-11 fields: their counts cannot move."""
    m = upstream().build(upstream().config(config))
    new = {x.slot for x in m.vars if x.name.split("[")[0] in
           ("pci_dev_lock", "wake_eventfd", "pm_ctrl_d3", "mmap_lock", "mmap_lock_readers")}
    assert len(new) >= 4
    written = {tr.label for tr in m.transitions if new & set(tr.updates)}
    assert written == set()


def test_sync_importer_unmaps_inside_the_revoking_resv_section():
    """When a revoker leaves move(true)'s first resv section, the mlx5 MR holds no mapping."""
    def inv(m):
        mr = [i for i, x in enumerate(m.config.importers) if x.kind == "sync"][0]
        at_wait = []
        for th in m.threads:
            for k, name in enumerate(th.pc.domain.names):
                if name.endswith("dma_resv_wait_timeout(buf0)") and "revoke/" in name:
                    at_wait.append(th.pc == k)
        assert at_wait
        return implies(or_(*at_wait), ~m.v.mapped[mr])
    prop = Property("sync-unmapped-at-wait", "The sync MR is unmapped once the revoking resv section ends, "
                    "before the fence wait, so the kref_put that follows can complete the revoke at once.",
                    invariant=inv, witnesses=(Witness("mr-mapped", state=lambda m: m.v.mapped[0]),))
    m, r = _explore("sync-importer", props=[prop])
    assert r.verdict == "holds", r.message
    assert r.witnesses["sync-unmapped-at-wait/mr-mapped"]


def test_the_sync_importer_re_maps_after_an_un_revoke_and_is_refused_while_revoked():
    m = upstream().build(upstream().config("sync-importer"))
    notes = {tr.note for tr in m.transitions if tr.thread == "importer.mr0"}
    assert "invalidated, not revoked: map again" in notes
    assert "invalidated and revoked: -ENODEV, the RDMA op fails" in notes
    r = check("sync-importer")
    fired = {m.transitions[i].note for i, n in enumerate(r.coverage) if n and m.transitions[i].thread == "importer.mr0"}
    assert "invalidated, not revoked: map again" in fired


def test_a_pinned_importer_never_attaches_or_maps():
    prop = Property("pinned-refused", "vfio's attach refuses an importer without invalidate_mappings: it is "
                    "never on the attachment list and never maps, whatever the buf's state.",
                    invariant=lambda m: and_(*[and_(~m.v.attached[i], ~m.v.mapped[i])
                                               for i, x in enumerate(m.config.importers) if x.kind == "pinned"]),
                    witnesses=(Witness("w", state=lambda m: m.v.f_count[0] > 1),))
    for config in ("sync-importer", "two-bufs"):
        _, r = _explore(config, props=[prop])
        assert r.verdict == "holds", (config, r.message)


def test_sysfs_reset_resets_the_hardware_with_a_usable_buf():
    r = check("pci-core-reset")
    assert (r.verdict, r.property, len(r.trace)) == ("violated", "no-mapping-survives-reset", 3)
    assert _labels(r)[-1] == "pci_reset_function:__pci_reset_function_locked"
    assert "buf0 is not revoked" in r.message


def test_vfio_reset_gets_eagain_only_where_the_pci_core_contends():
    def notes(config):
        m = upstream().build(upstream().config(config))
        return {tr.note for tr in m.transitions if tr.thread.startswith("ioctl_reset")}
    assert any("-EAGAIN" in n for n in notes("pci-core-reset"))
    assert not any("-EAGAIN" in n for n in notes("minimal"))


def test_the_rfc_hooks_deadlock_vfio_s_own_reset_and_the_vfio_owned_fix_holds():
    r = check("pci-core-reset", "sysfs-reset-revoke-rfc", ["deadlock-free"])
    assert r.verdict == "violated" and "ioctl_reset.dev0 at vfio_pci_ioctl_reset:pci_try_reset_function" in r.message
    assert check("pci-core-reset", "sysfs-reset-revoke-rfc-vfio-owned").verdict == "holds"
    # the hooks take pci_dev_lock -> memory_lock: no cycle with vfio's trylock of the device lock
    assert check("pci-core-reset", "sysfs-reset-revoke-rfc-vfio-owned", ["lock-order"]).verdict == "holds"


def test_the_wake_exit_leaves_the_bufs_revoked_and_the_fix_un_revokes():
    r = check("lowpower-wake", properties=["undo-restores-every-revoke"])
    assert r.verdict == "violated"
    assert _labels(r)[-1].endswith("vfio_pci_core_runtime_resume_up_write")
    last = r.trace.steps[-1].state
    assert last["engaged[dev0]"] is False and last["revoked[buf0]"] is True and last["wake_eventfd[dev0]"] is False
    assert check("lowpower-wake", "wake-exit-unrevokes").verdict == "holds"


def test_entry_with_wakeup_stores_the_eventfd_and_plain_entry_does_not():
    m = upstream().build(upstream().config("lowpower-wake"))
    w = m.var("wake_eventfd[dev0]").slot
    setters = {tr.thread for tr in m.transitions if w in tr.updates and "engaged = true" in tr.note}
    assert setters == {"low_power_entry_wakeup.dev0"}
    from revoke_check.model.config import parse_config
    with pytest.raises(ConfigError, match="needs runtime_pm"):
        parse_config("x", {"devices": [{"name": "d"}],
                           "actors": [{"kind": "low_power_entry_wakeup", "dev": "d"}]}, upstream())


def test_pm_ctrl_d3hot_zaps_and_disables_memory():
    prop = Property("d3-no-pte", "While PCI_PM_CTRL holds the device in D3hot no CPU PTE maps its BAR and every "
                    "live buf is revoked, because the write zaps and revokes before setting the state.",
                    invariant=lambda m: implies(m.v.pm_ctrl_d3[0], and_(~m.v.bar_pte[0],
                                                                          implies(m.v.live(0), m.v.revoked[0]))),
                    witnesses=(Witness("in-d3", state=lambda m: m.v.pm_ctrl_d3[0]),))
    _, r = _explore("pm-ctrl", props=[prop])
    assert r.verdict == "holds" and r.witnesses["d3-no-pte/in-d3"]
    r = check("pm-ctrl")
    assert (r.verdict, r.property) == ("violated", "buf-usable-only-while-decoding")
    assert "low power" in r.message
    assert check("pm-ctrl", "unrevoke-checks-engaged").verdict == "holds"


def test_bar_rw_copies_outside_memory_lock_and_nvgrace_inverts_the_order():
    r = check("bar-rw")
    assert r.verdict == "holds" and r.witnesses["no-bar-access-while-disabled/bar-accessed"]
    r = check("nvgrace-rw", "nvgrace-dmabuf-phys", ["lock-order"])
    assert r.verdict == "violated" and "mmap_lock" in r.message and "memory_lock" in r.message
    r = check("nvgrace-rw", "nvgrace-dmabuf-phys", ["deadlock-free"])
    assert r.verdict == "violated"
    for who in ("bar_rw.gpu0", "bar_fault.gpu0", "config_write_queued.gpu0", "munmap"):
        assert who in r.message
    assert check("nvgrace-rw", "nvgrace-copy-outside-lock").verdict == "holds"


def test_without_writer_queueing_nvgrace_does_not_deadlock():
    """The deadlock needs rwsem fairness: drop the queued writers and the readers all get through."""
    p = get_protocol("nvgrace-dmabuf-phys")
    raw = dict(p.configs["nvgrace-rw"][0])
    raw["actors"] = [a for a in raw["actors"] if a["kind"] not in ("config_write_queued", "munmap")]
    p.add_config("nvgrace-no-writers", raw)
    m = p.build(p.config("nvgrace-no-writers"))
    r = explore(m, compile_checks(m, get_properties(["deadlock-free"], p)))
    assert r.verdict in ("holds", "vacuous") and r.property is None   # (no unmap wait to witness)


def test_buf_usable_only_while_decoding_holds_on_the_older_configs_and_sees_low_power():
    for config in ("minimal", "mmap", "iommufd"):
        assert check(config, properties=["buf-usable-only-while-decoding"]).verdict == "holds"
    r = check("lowpower", properties=["buf-usable-only-while-decoding"])
    assert r.verdict == "violated" and "pm_runtime_engaged" in r.message
    assert check("lowpower", "unrevoke-checks-engaged", ["buf-usable-only-while-decoding"]).verdict == "holds"
