"""lock-order: lockdep-style dependency cycles over the explored state space."""
import doctest

import pytest

import revoke_check.properties.lock_order as lock_order
from revoke_check.run import check


def test_doctests():
    assert doctest.testmod(lock_order).failed == 0


@pytest.mark.parametrize("config", ["minimal", "default", "wide", "mmap", "lowpower"])
def test_upstream_takes_locks_in_one_order(config):
    # hot reset nests memory_locks of several devices, by trylock: no dependency, no report
    r = check(config, "upstream", ["lock-order"])
    assert r.verdict == "holds", r.message


def test_memory_lock_under_resv_is_an_inversion_naming_both_chains():
    r = check("default", "unmap-takes-memory-lock", ["lock-order"])
    assert r.verdict == "violated" and r.trace.kind == "lock-order"
    assert "takes memory_lock while holding resv" in r.message
    assert "memory_lock -> resv" in r.message
    # shorter than waiting for the interleaving that actually deadlocks
    d = check("default", "unmap-takes-memory-lock", ["deadlock-free"])
    assert d.verdict == "violated" and len(r.trace) < len(d.trace)


def test_blocking_nested_acquisition_of_one_class_is_recursive_locking():
    from revoke_check.model.expr import ite
    from revoke_check.model.lang import step
    from revoke_check.model.variants import hot_reset_cursor
    from revoke_check.model.protocol import upstream
    from revoke_check.model.config import get_config
    from revoke_check.properties import compile_checks, get_properties
    from revoke_check.engines.explicit import explore
    p = upstream().copy("hot-reset-down-write")

    def blocking(t):
        # the hot reset with a blocking down_write instead of down_write_trylock
        s = [x for x in upstream().procs["vfio_pci_dev_set_hot_reset"][0](t) if x.label == "down_write_trylock"][0]
        for b in s.branches:
            b.choice = None
        s.label = "down_write"
        return s
    p.replace_step("vfio_pci_dev_set_hot_reset", "down_write_trylock", blocking)
    def advance(t):
        cur, n = hot_reset_cursor(t), len(t.cfg.devices)
        return step("vfio_pci_zap_bars", "Zap and advance.", do={cur: ite(cur == n, 0, cur + 1)},
                    goto="down_write")
    p.replace_step("vfio_pci_dev_set_hot_reset", "vfio_pci_zap_bars", advance)
    m = p.build(get_config("wide"))
    r = explore(m, compile_checks(m, get_properties(["lock-order"])))
    assert r.verdict == "violated" and "recursive locking" in r.message
