"""Issue 11 items 1 and 6: object lifetimes at the kernel's references, and SR-IOV.

Each test names what would make it fail: a lifetime step that does not
check the device it dereferences, a mutant that is not caught (or caught at
another length, or not by bmc), a new field that moves an older config, a
VF that revokes for good on a MEM=0 write.
"""
import json

import pytest

from revoke_check.engines.bmc import bmc
from revoke_check.engines.explicit import explore
from revoke_check.model.config import ConfigError
from revoke_check.model.expr import and_, implies, variables
from revoke_check.model.protocol import upstream
from revoke_check.model.variants import get_protocol
from revoke_check.properties import Property, Witness, compile_checks, get_properties
from revoke_check.replay import replay
from revoke_check.run import build, check
from revoke_check.semantics import Semantics
from revoke_check.traces.trace import Trace

NEW_FIELDS = ("dentry_refs", "file_freed", "dev_file", "unregistered", "vdev_freed", "sriov_active",
              "vfs_enabled")


def _run(config, variant="upstream", props=("refcounts",), engine="explicit", depth=None):
    p = get_protocol(variant)
    m = p.build(p.config(config))
    c = compile_checks(m, get_properties(list(props), p) if props and isinstance(props[0], str) else list(props))
    return m, (explore(m, c) if engine == "explicit" else bmc(m, c, depth=depth))


@pytest.mark.parametrize("config", ["tiny", "minimal", "mmap", "iommufd", "lowpower", "pm-ctrl"])
def test_older_configs_never_write_the_lifetime_and_sriov_fields(config):
    m = upstream().build(upstream().config(config))
    new = {x.slot for x in m.vars if x.name.split("[")[0] in NEW_FIELDS}
    assert len(new) >= 5
    assert {tr.label for tr in m.transitions if new & set(tr.updates)} == set()
    assert not any(e.kind == "deref_vdev" for tr in m.transitions for e in tr.events)


def test_file_lifetimes_holds_and_reaches_a_device_freed_after_its_buf():
    r = check("file-lifetimes")
    assert (r.verdict, r.distinct_states) == ("holds", 9400), r.message
    assert r.witnesses["refcounts/device-freed-after-release"]


def test_every_step_that_dereferences_priv_vdev_is_checked():
    m = upstream().build(upstream().config("file-lifetimes"))
    deref = {tr.local_label for tr in m.transitions if any(e.kind == "deref_vdev" for e in tr.events)}
    assert {"dma_buf_release", "list_del_init", "vfio_device_put_registration"} <= deref
    c = compile_checks(m, get_properties(["refcounts"], upstream()))
    checked = {m.transitions[i].local_label for i, xs in c.step_asserts.items()
               if any(e.kind == "deref_vdev" for e in m.transitions[i].events)}
    assert checked == deref


def test_the_device_is_freed_only_once_nothing_references_it():
    def inv(m):
        v = m.v
        return and_(*[implies(v.vdev_freed[d], and_(v.registration[d] == 0, ~v.dev_file[d],
                                                    *[~v.priv_vdev[b] for b in m.config.bufs_of(d)]))
                      for d in range(len(m.config.devices))])
    prop = Property("freed-means-unreferenced", "A freed device has no registration reference left.",
                    invariant=inv, witnesses=(Witness("freed", state=lambda m: m.v.vdev_freed[0]),))
    _, r = _run("unregister", props=[prop])
    assert r.verdict == "holds", r.message
    assert r.witnesses["freed-means-unreferenced/freed"]


def test_release_with_priv_vdev_set_runs_after_cleanup_skipped_the_buf():
    """The window the kernel's comment names: cleanup's get_file_active fails, release unlinks."""
    r = check("unregister")
    m = upstream().build(upstream().config("unregister"))
    fired = {m.transitions[i].note for i, n in enumerate(r.coverage) if n}
    assert "get_file_active() failed or not listed: skip" in fired
    assert "priv->vdev set: down_write(&priv->vdev->memory_lock)" in fired


@pytest.mark.parametrize("config,variant,length,states", [
    ("unregister", "release-puts-registration-before-unlock", 16, 1683),
    ("file-lifetimes", "unregister-does-not-wait", 5, 455),
    ("file-lifetimes", "importer-double-put", 6, 406),
])
def test_each_mutant_is_a_refcounts_violation(config, variant, length, states):
    _, r = _run(config, variant)
    assert (r.verdict, r.property, len(r.trace), r.distinct_states) == ("violated", "refcounts", length, states)


def test_a_use_after_free_is_reported_at_the_dereference():
    _, r = _run("file-lifetimes", "unregister-does-not-wait")
    last = r.trace.steps[-1]
    assert (last.thread, last.label) == ("dma_buf_release.buf0", "vfio_pci_dma_buf_release:dma_buf_release")
    assert any(s.label == "vfio_unregister_group_dev:vfio_put_device" for s in r.trace.steps[:-1])


@pytest.mark.parametrize("variant,length", [("unregister-does-not-wait", 5), ("importer-double-put", 6)])
def test_bmc_finds_the_mutants_at_the_same_length(variant, length):
    _, r = _run("file-lifetimes", variant, engine="bmc", depth=length)
    assert (r.verdict, r.property, len(r.trace)) == ("violated", "refcounts", length)


def test_lifetime_actors_need_the_setting_and_exported_bufs():
    p = upstream()
    base = {"devices": [{"name": "d", "open": True}], "bufs": [{"name": "b", "dev": "d"}]}
    p.add_config("x", dict(base, actors=[{"kind": "dup_fd", "buf": "b"}]))
    with pytest.raises(ConfigError, match="lifetimes = true"):
        p.build(p.config("x"))
    p.add_config("y", dict(base, lifetimes=True, bufs=[{"name": "b", "dev": "d", "exists": False}],
                           actors=[{"kind": "feature_dma_buf", "buf": "b"}]))
    with pytest.raises(ConfigError, match="every buf exported"):
        p.build(p.config("y"))


# --- SR-IOV -----------------------------------------------------------------------

def test_sriov_the_ebusy_d3hot_write_un_revokes_while_engaged_and_the_fix_holds():
    r = check("sriov")
    assert (r.verdict, r.property, len(r.trace), r.distinct_states) == \
        ("violated", "buf-usable-only-while-decoding", 18, 6301)
    notes = [s.note for s in r.trace.steps]
    assert "sriov_active: -EBUSY, still D0; memory enabled: un-revoke" in notes
    r = check("sriov", "unrevoke-checks-engaged")
    assert (r.verdict, r.distinct_states) == ("holds", 14260), r.message


def test_sriov_configure_sets_d0_under_memory_lock_and_keeps_a_pm_reference():
    m = upstream().build(upstream().config("sriov"))
    trs = {tr.local_label: tr for tr in m.transitions if tr.thread == "sriov_configure.pf0"}
    assert m.var("memory_lock[pf0]").slot in trs["down_write"].updates
    assert m.var("sriov_active[pf0]").slot in trs["vfio_pci_set_power_state"].updates
    use = m.var("pm_usage[pf0]").slot
    assert use in trs["pm_runtime_resume_and_get"].updates and use in trs["pci_disable_sriov"].updates
    assert use not in trs["vfio_pci_set_power_state"].updates


def test_a_vf_mem_clear_revokes_and_un_revokes_in_one_section():
    r = check("sriov-vf")
    assert (r.verdict, r.distinct_states) == ("holds", 1661), r.message
    m = upstream().build(upstream().config("sriov-vf"))
    fired = {m.transitions[i].note for i, n in enumerate(r.coverage) if n}
    assert "VF: memory still enabled (no_command_memory): un-revoke" in fired
    labels = [tr.label for tr in m.transitions if tr.thread == "config_write.vf0"]
    assert any(lb.startswith("pwrite_pci_command:write0/vfio_basic_config_write:unrevoke/") for lb in labels)


def test_sriov_configs_are_checked():
    p = upstream()
    p.add_config("x", {"devices": [{"name": "v", "open": True, "vf": True}],
                       "actors": [{"kind": "sriov_configure", "dev": "v"}]})
    with pytest.raises(ConfigError, match="no SR-IOV capability"):
        p.build(p.config("x"))


def test_the_pf_stays_in_d0_while_its_vfs_exist_and_the_unlocked_enable_breaks_it():
    _, r = _run("sriov", props=("pf-powered-while-vfs-exist",))
    assert (r.verdict, r.distinct_states) == ("holds", 16248), r.message
    assert r.witnesses["pf-powered-while-vfs-exist/vfs-enabled"]
    _, r = _run("sriov", "sriov-enable-outside-the-lock", props=("pf-powered-while-vfs-exist",))
    assert (r.verdict, len(r.trace), r.distinct_states) == ("violated", 11, 1514)
    labels = [s.label for s in r.trace.steps]
    d3 = [k for k, lb in enumerate(labels) if lb.endswith("vfio_lock_and_set_power_state:vfio_pci_set_power_state")]
    assert d3 and labels[-1] == "vfio_pci_core_sriov_configure:pci_enable_sriov"
    assert labels.index("vfio_pci_core_sriov_configure:vfio_pci_set_power_state") < d3[0]


# --- SR-IOV with the PF: a VF decodes through its PF ---------------------------------

VF_PROP = "vf-buf-usable-only-while-pf-decodes"


def test_a_pf_reset_leaves_its_vfs_buf_usable_and_the_trace_replays():
    r = check("sriov-pf-vf")
    assert (r.verdict, r.property, len(r.trace), r.distinct_states) == ("violated", VF_PROP, 10, 1522)
    labels = [s.label for s in r.trace.steps]
    assert labels.index("vfio_pci_core_sriov_configure:pci_enable_sriov") \
        < labels.index("vfio_pci_core_feature_dma_buf:pci_iov_add_virtfn") \
        < labels.index("vfio_pci_core_feature_dma_buf:list_add_tail")
    last = r.trace.steps[-1]
    assert (last.thread, last.label) == ("ioctl_reset.pf0", "vfio_pci_ioctl_reset:pci_try_reset_function")
    assert last.state["vfs_enabled[pf0]"] and not last.state["revoked[buf0]"]
    t = Trace.from_json(json.loads(r.trace.dumps()))
    m, c = build("sriov-pf-vf", None, [VF_PROP])
    rr = replay(t, Semantics(m, c))
    assert rr.ok and rr.violation and rr.violation[0] == VF_PROP
    # the candidate fix: after zap_and_down_write (step 5) the reset goes to its sriov_active test
    m, c = build("sriov-pf-vf", "pf-reset-checks-sriov-active", [VF_PROP])
    rr = replay(t, Semantics(m, c))
    assert not rr.ok and rr.fix and rr.steps_replayed == 4 and "vfio_pci_ioctl_reset:sriov_active" in rr.error


def test_the_guard_before_memory_lock_races_sriov_configure_and_the_locked_test_holds():
    r = check("sriov-pf-vf", "pf-reset-refused-with-vfs")
    assert (r.verdict, r.property, len(r.trace), r.distinct_states) == ("violated", VF_PROP, 11, 3448)
    labels = [s.label for s in r.trace.steps]
    assert labels.index("vfio_pci_ioctl_reset:pci_num_vf") < labels.index(
        "vfio_pci_core_sriov_configure:pci_enable_sriov") < labels.index("vfio_pci_ioctl_reset:zap_and_down_write")
    r = check("sriov-pf-vf", "pf-reset-checks-sriov-active")
    assert (r.verdict, r.distinct_states) == ("holds", 23250), r.message
    assert r.witnesses[f"{VF_PROP}/vf-buf-usable"]


def test_with_its_pf_everything_else_holds_and_the_vf_comes_and_goes():
    props = [p.name for p in get_properties(None, upstream()) if p.name != VF_PROP]
    r = check("sriov-pf-vf", None, props)
    assert (r.verdict, r.distinct_states) == ("holds", 32166), r.message
    assert r.witnesses["buf-usable-only-while-decoding/usable-buf"]
    m = upstream().build(upstream().config("sriov-pf-vf"))
    fired = {m.transitions[i].local_label for i, n in enumerate(r.coverage) if n}
    assert {"device_lock_numvfs_0", "pci_disable_sriov", "pci_iov_add_virtfn"} <= fired


def test_buf_usable_only_while_decoding_reads_the_vfs_pf():
    m = upstream().build(upstream().config("sriov-pf-vf"))
    c = compile_checks(m, get_properties(["buf-usable-only-while-decoding"], upstream()))
    names = {x.name for x in variables(c.invariants[0][1])}
    assert {"vfs_enabled[pf0]", "pm_ctrl_d3[pf0]", "d3[pf0]"} <= names


def test_pci_disable_sriov_unregisters_the_vf_before_clearing_vf_mse():
    props = [p.name for p in get_properties(None, upstream()) if p.name != VF_PROP]
    r = check("sriov-pf-vf-remove", None, props)
    assert (r.verdict, r.distinct_states) == ("holds", 11772), r.message
    m = upstream().build(upstream().config("sriov-pf-vf-remove"))
    order = [tr.local_label for tr in sorted(m.transitions, key=lambda tr: tr.pc_value)
             if tr.thread == "sriov_configure.pf0"]
    assert order == ["device_lock_numvfs_0", "vfio_device_put_registration(vf0)", "vfio_unregister_group_dev(vf0)",
                     "vfio_put_device(vf0)", "pci_disable_sriov"]
    fired = {m.transitions[i].local_label for i, n in enumerate(r.coverage) if n}
    assert "pci_disable_sriov" in fired
    # the VF there from the start: the PF's reset alone is the finding
    r = check("sriov-pf-vf-remove")
    assert (r.verdict, r.property, len(r.trace), r.distinct_states) == ("violated", VF_PROP, 3, 37)
    r = check("sriov-pf-vf-remove", "pf-reset-checks-sriov-active")
    assert (r.verdict, r.distinct_states) == ("holds", 5974), r.message


def test_the_pfs_config_space_flr_escapes_the_ioctl_only_guard():
    r = check("sriov-pf-vf-flr", "pf-reset-refused-with-vfs")
    assert (r.verdict, r.property, len(r.trace), r.distinct_states) == ("violated", VF_PROP, 3, 20)
    assert r.trace.steps[-1].label == "vfio_exp_config_write:pci_try_reset_function"
    r = check("sriov-pf-vf-flr", "pf-reset-checks-sriov-active")
    assert (r.verdict, r.distinct_states) == ("holds", 1092), r.message


def test_a_pf_vf_config_is_checked():
    p = upstream()
    dev = [{"name": "pf", "open": True}, {"name": "v", "open": True, "vf": True, "pf": "pf"}]
    p.add_config("x", {"devices": [{"name": "pf", "open": True}, {"name": "v", "open": True, "pf": "pf"}]})
    with pytest.raises(ConfigError, match="not a VF"):
        p.build(p.config("x"))
    p.add_config("y", {"devices": dev, "actors": [{"kind": "sriov_configure", "dev": "pf", "disable": True}]})
    with pytest.raises(ConfigError, match="waits for the VF's close"):
        p.build(p.config("y"))
    p.add_config("z", {"devices": dev, "bufs": [{"name": "b", "dev": "v"}]})
    with pytest.raises(ConfigError, match="needs its PF's VFs enabled at the start"):
        p.build(p.config("z"))


def test_a_move_reaches_get_file_active_on_a_freed_struct_file():
    """kernel-2026 §2.4's window: __fput has freed dmabuf->file, the dentry (held by the O_PATH
    open) has not been released, and the buf is still on vdev->dmabufs when a move walks it."""
    from revoke_check.model.expr import or_

    def window(m):
        v = m.v
        at = [th.pc == k for th in m.threads for k, n in enumerate(th.pc.domain.names)
              if "get_file_active(buf0)" in n]
        return and_(v.file_freed[0], v.phase[0] == "listed", or_(*at))
    prop = Property("window", "The freed-file window is reachable.",
                    witnesses=(Witness("move-reads-freed-file", state=window),))
    _, r = _run("file-lifetimes", props=[prop])
    assert r.verdict == "holds" and r.witnesses["window/move-reads-freed-file"]
