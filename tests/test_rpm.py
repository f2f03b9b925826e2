"""Issue 11 item 3, runtime PM in full: hot reset, device close and the sysfs reset
under ``runtime_pm``.  Each test names what would make it fail."""
import re

import pytest

from revoke_check.engines import compiled
from revoke_check.engines.explicit import explore
from revoke_check.model.config import parse_config
from revoke_check.model.expr import and_, implies
from revoke_check.model.protocol import upstream
from revoke_check.model.variants import get_protocol
from revoke_check.properties import Property, Witness, compile_checks
from revoke_check.replay import replay
from revoke_check.run import build, check
from revoke_check.semantics import Semantics

# (config, variant, properties or None for all) -> (verdict, violated property, distinct states,
# trace length); the same figures as manifest.toml
PINNED = [
    ("rpm-hot-reset", "upstream", None, ("violated", "buf-usable-only-while-decoding", 2610, 26)),
    ("rpm-hot-reset", "upstream", ["low-power-keeps-bufs-revoked"],
     ("violated", "low-power-keeps-bufs-revoked", 2970, 32)),
    ("rpm-hot-reset", "unrevoke-checks-engaged", None, ("holds", None, 2918, 0)),
    ("rpm-hot-reset-wake", "upstream", None, ("violated", "undo-restores-every-revoke", 1332, 14)),
    ("rpm-hot-reset-wake", "upstream", ["revoke-is-temporary"], ("violated", "revoke-is-temporary", 3706, 23)),
    ("rpm-hot-reset-wake", "wake-exit-unrevokes", None, ("holds", None, 3667, 0)),
    ("rpm-hot-reset-close", "upstream", None, ("violated", "buf-usable-only-while-decoding", 1189, 26)),
    ("rpm-hot-reset-close", "unrevoke-checks-engaged", None, ("holds", None, 1450, 0)),
    ("rpm-close", "upstream", None, ("holds", None, 671, 0)),
    ("rpm-close", "unrevoke-checks-engaged", None, ("holds", None, 715, 0)),
    ("rpm-sysfs-reset", "upstream", None, ("violated", "no-mapping-survives-reset", 51, 4)),
    ("rpm-sysfs-reset", "upstream", ["undo-restores-every-revoke"],
     ("violated", "undo-restores-every-revoke", 1019, 13)),
    ("rpm-sysfs-reset", "rpm-fixes", None, ("holds", None, 2659, 0)),
]


@pytest.mark.parametrize("config,variant,props,want", PINNED)
def test_pinned_verdicts_and_counts(config, variant, props, want):
    r = check(config, variant, props)
    got = (r.verdict, r.property if r.verdict == "violated" else None, r.distinct_states,
           len(r.trace.steps) if r.trace else 0)
    assert got == want


@pytest.mark.parametrize("kind,key", [("hot_reset", "via"), ("close_device", "dev"), ("sysfs_reset", "dev")])
def test_the_loader_accepts_them_under_runtime_pm(kind, key):
    """The old refusals (actors.py, pci.py) are gone: the configs parse and build."""
    raw = {"runtime_pm": True, "devices": [{"name": "d"}], "actors": [{"kind": kind, key: "d"}]}
    cfg = parse_config("x", raw, upstream())
    assert upstream().build(cfg).transitions


def v(m):
    return m.v


def done(m):
    return m.v.pcs["close_device.dev0"] == "done"


def _updaters(m, var):
    slot = m.var(var).slot
    return {(tr.thread, tr.label.rsplit("/", 1)[-1]) for tr in m.transitions if slot in tr.updates}


def test_hot_reset_takes_one_pm_reference_per_device_and_drops_them_at_unlock():
    m = upstream().build(upstream().config("rpm-hot-reset"))
    hr = {lbl for th, lbl in _updaters(m, "pm_usage[dev1]") if th == "hot_reset"}
    assert hr == {"pm_runtime_resume_and_get:pm_runtime_resume_and_get", "vfio_pci_dev_set_hot_reset:mutex_unlock"}
    labels = [tr.label for tr in m.transitions if tr.thread == "hot_reset"]
    first = {k: min(i for i, lbl in enumerate(labels) if k in lbl)
             for k in ("mutex_lock", "pm_runtime_resume_and_get(dev0)", "pm_runtime_resume_and_get(dev1)",
                       "down_write_trylock")}
    assert first["mutex_lock"] < first["pm_runtime_resume_and_get(dev0)"] \
        < first["pm_runtime_resume_and_get(dev1)"] < first["down_write_trylock"]
    # without runtime PM the hot reset does not touch the PM usage count
    d = upstream().build(upstream().config("default"))
    assert not {th for th, _ in _updaters(d, "pm_usage[dev0]") if th == "hot_reset"}


def test_the_hot_reset_locks_only_resumed_devices_and_drops_its_references():
    """Without vfio_pci_dev_set_pm_runtime_get the trylock would take a suspended dev0's memory_lock."""
    prop = Property("hot-reset-pm-balanced", "memory_lock(W) is never held on a suspended dev0; "
                    "once the hot reset is done it holds no PM reference on dev1.",
                    invariant=lambda m: and_(implies(v(m).pcs["hot_reset"] == "done", v(m).pm_usage[1] == 1),
                                             implies(v(m).memory_lock[0] != 0, ~v(m).d3[0])),
                    witnesses=(Witness("done", state=lambda m: v(m).pcs["hot_reset"] == "done"),
                               Witness("dev0-suspended-before", state=lambda m: and_(
                                   v(m).d3[0], v(m).pcs["hot_reset"] != "done")),))
    p = get_protocol("upstream")
    m = p.build(p.config("rpm-hot-reset"))
    r = explore(m, compile_checks(m, [prop]))
    assert r.verdict == "holds" and all(r.witnesses.values())


def test_close_leaves_low_power_and_drops_the_open_reference():
    """After the last close: engaged clear, no PM reference, and the suspended-at-close case is reached."""
    prop = Property("close-ends-low-power", "A closed device is out of low power and holds no PM reference.",
                    invariant=lambda m: implies(done(m), and_(~v(m).engaged[0], v(m).pm_usage[0] == 0)),
                    witnesses=(Witness("closed", state=done),
                               Witness("suspended-then-closed", state=lambda m: and_(
                                   done(m), v(m).pcs["pm_runtime.dev0"] != "done")),))
    p = get_protocol("upstream")
    m = p.build(p.config("rpm-close"))
    r = explore(m, compile_checks(m, [prop]))
    assert r.verdict == "holds" and all(r.witnesses.values())
    ups = _updaters(m, "pm_usage[dev0]")
    assert ("close_device.dev0", "vfio_pci_core_close_device:vfio_pci_core_disable") in ups
    assert ("close_device.dev0", "vfio_pci_runtime_pm_exit:__vfio_pci_runtime_pm_exit") in ups


def test_the_sysfs_reset_wake_trace_replays_and_the_fix_departs_from_it():
    r = check("rpm-sysfs-reset", "upstream", ["undo-restores-every-revoke"])
    assert r.verdict == "violated"
    steps = r.trace.steps
    assert steps[-1].thread == "sysfs_reset.dev0"
    assert steps[-1].label.endswith("pm_runtime_get_sync/pm_runtime_resume_and_get:"
                                    "vfio_pci_core_runtime_resume_up_write")
    last = steps[-1].state
    assert last["engaged[dev0]"] is False and last["revoked[buf0]"] is True
    model, checks = build("rpm-sysfs-reset", "upstream", ["undo-restores-every-revoke"])
    rr = replay(r.trace, Semantics(model, checks))
    assert rr.ok and rr.violation is not None
    model, checks = build("rpm-sysfs-reset", "rpm-fixes", ["undo-restores-every-revoke"])
    rr = replay(r.trace, Semantics(model, checks))
    assert (not rr.ok) or rr.violation is None


def test_the_hot_reset_err_undo_un_revokes_while_engaged():
    r = check("rpm-hot-reset", "upstream", ["buf-usable-only-while-decoding"])
    steps = r.trace.steps
    assert steps[-1].thread == "hot_reset" and "err_undo/" not in steps[-1].label
    assert any(s.label.endswith("vfio_pci_dev_set_hot_reset:err_undo") and "dev0" in (s.note or "")
               for s in steps)
    assert steps[-1].state["engaged[dev0]"] is True and steps[-1].state["revoked[buf0]"] is False


@pytest.mark.skipif(compiled.find_compiler() is None, reason="no C compiler")
@pytest.mark.parametrize("config", ["rpm-close", "rpm-hot-reset-wake"])
def test_the_compiled_engine_agrees(config):
    a, b = check(config, "upstream"), check(config, "upstream", engine="compiled")
    assert (a.verdict, a.property, a.distinct_states) == (b.verdict, b.property, b.distinct_states)
    assert len(a.trace.steps if a.trace else []) == len(b.trace.steps if b.trace else [])


@pytest.mark.parametrize("variant", ["upstream", "wake-exit-unrevokes", "rpm-fixes"])
@pytest.mark.parametrize("config", ["rpm-hot-reset-wake", "rpm-close", "rpm-sysfs-reset"])
def test_every_new_step_has_a_kernel_source_and_a_sentence(config, variant):
    m = get_protocol(variant).build(get_protocol(variant).config(config))
    for tr in m.transitions:
        assert re.match(r"^(drivers|fs|mm)/[\w/.-]+\.c:[a-z_][a-z0-9_]*$", tr.source), (tr.label, tr.source)
        assert tr.doc and tr.doc.endswith(".") and len(tr.doc) > 15, tr.label
