"""Known-bug variants: caught by the property naming the bug, fixed by upstream."""
import pytest

from revoke_check.replay import replay
from revoke_check.run import build, check
from revoke_check.semantics import Semantics

KNOWN = {
    "v5-unrevoke-after-reset": "undo-restores-every-revoke",
    "v6-restore-revoke-flag": "lock-discipline",
    "no-open-count-check": "no-unopened-vconfig-access",
    "v5-dma-buf-fd-leak": "refcounts",
    "flr-revoke-typo": "undo-restores-every-revoke",
    "no-wait-for-unmap": "revoked-means-unmapped",
    "fd-fail-double-unwind": "refcounts",
    "disable-before-cleanup": "no-mapping-survives-reset",
}
KNOWN_MMAP = {
    "unlocked-fault-check": "no-cpu-mapping-while-disabled",
}


@pytest.mark.parametrize("config, variant, prop",
                         [("default", v, p) for v, p in KNOWN.items()]
                         + [("mmap", v, p) for v, p in KNOWN_MMAP.items()])
def test_variant_is_violated_and_upstream_does_not_follow_its_trace(config, variant, prop):
    r = check(config, variant, [prop])
    assert r.verdict == "violated" and r.property == prop
    model, checks = build(config, "upstream", [prop])
    rr = replay(r.trace, Semantics(model, checks))
    # upstream either refuses a step of the trace or runs it without violating
    assert (not rr.ok) or rr.violation is None, rr


def test_v5_trace_is_the_expected_shortest_story():
    r = check("default", "v5-unrevoke-after-reset", ["undo-restores-every-revoke"])
    labels = [s.step_label for s in r.trace.steps]
    notes = " ".join(s.note for s in r.trace.steps)
    assert "not owned" in " ".join(s.choice or "" for s in r.trace.steps)
    assert labels[-1] == "vfio_pci_dev_set_hot_reset:up_write"
    assert "vfio_pci_dma_buf_move:dma_resv_lock(buf0)" in labels
    assert "dev1 not owned" in notes


def test_user_variant_file(tmp_path):
    r = check("default", "examples/my_change.py:skip-undo-if-reset-failed")
    assert r.verdict == "violated" and r.property == "undo-restores-every-revoke"
    r = check("default", "examples/my_change.py:open-count-in-helper")
    assert r.verdict == "holds"


def test_move_without_memory_lock_is_a_lock_discipline_violation():
    from revoke_check.model.protocol import upstream
    from revoke_check.model.config import get_config
    from revoke_check.properties import compile_checks, get_properties
    from revoke_check.engines.explicit import explore
    p = upstream().copy("unlocked-move")
    # VFIO_DEVICE_RESET without taking memory_lock (the step still zaps nothing and holds nothing)
    from revoke_check.model.lang import RETURN, step
    p.replace_step("vfio_pci_ioctl_reset", "zap_and_down_write",
                   lambda t, vdev: step("zap_and_down_write", "Forgets to take memory_lock at all."))
    p.replace_step("vfio_pci_ioctl_reset", "up_write",
                   lambda t, vdev: step("up_write", "Nothing to release.", goto=RETURN))
    m = p.build(get_config("minimal"))
    r = explore(m, compile_checks(m, get_properties(["lock-discipline"])))
    assert r.verdict == "violated" and r.property == "lock-discipline"
    assert r.trace.steps[-1].step_label.startswith("vfio_pci_dma_buf_move:get_file_active")
