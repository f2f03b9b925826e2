"""vdev->dmabufs is walked in list (creation) order: two created bufs are reached in both orders.

Config ``two-bufs-created``: buf0 and buf1 of dev0 are created at run time by
two exporter threads, so list_add_tail links them in either order; move and
cleanup must then visit them in that order, and every engine must agree.
"""
import shutil

import pytest

from revoke_check.ci.manifest import load_manifest
from revoke_check.engines import compiled
from revoke_check.engines.explicit import explore
from revoke_check.properties import compile_checks
from revoke_check.run import build, check
from conftest import own_compiled_cache

CFG = "two-bufs-created"


@pytest.fixture(scope="module", autouse=True)
def _own_cache(tmp_path_factory):
    with own_compiled_cache(tmp_path_factory):
        yield


def _fired(model, r):
    """(thread, from label, to label) of every transition that fired at least once."""
    return {(t.thread, t.label.rsplit(":", 1)[-1], t.target.rsplit(":", 1)[-1])
            for t in model.transitions if r.coverage[t.index]}


@pytest.fixture(scope="module")
def reached():
    model, _ = build(CFG, "upstream", None)
    r = explore(model, compile_checks(model, []))
    assert r.verdict == "holds"
    return model, r, _fired(model, r)


@pytest.mark.parametrize("thread", ["config_write.dev0", "close_device.dev0"])
@pytest.mark.parametrize("first,second", [("buf0", "buf1"), ("buf1", "buf0")])
def test_move_walks_the_bufs_in_both_orders(reached, thread, first, second):
    """Revoke's last step on one buf leads to get_file_active of the other: both ways round."""
    _, _, fired = reached
    assert (thread, f"wait_for_completion({first})", f"get_file_active({second})") in fired


@pytest.mark.parametrize("first,second", [("buf0", "buf1"), ("buf1", "buf0")])
def test_cleanup_unlinks_in_both_orders(reached, first, second):
    _, _, fired = reached
    assert ("close_device.dev0", f"list_del_init({first})", f"list_del_init({second})") in fired


def test_verdict_and_count_are_pinned():
    e = next(e for e in load_manifest() if (e.config, e.variant, e.engine) == (CFG, "upstream", "explicit"))
    r = check(CFG, "upstream")
    assert (r.verdict, r.distinct_states) == (e.verdict, e.distinct_states)


def test_bufs_present_at_start_keep_index_order():
    """two-bufs: both bufs exist at the start; list_pos is a constant and the walk is buf0, buf1."""
    model, _ = build("two-bufs", "upstream", None)
    assert all(v.domain.hi == 0 for v in model.vars if v.name.startswith("list_pos"))
    assert not any(t.label.endswith("get_file_active(buf1)") and t.target.endswith("get_file_active(buf0)")
                   for t in model.transitions)


def test_a_buf_present_at_start_is_walked_before_created_ones():
    """bar-mmap-two: buf0 exists, m0 and m1 are linked later in either order; the walk is buf0, then by list_pos."""
    model, _ = build("bar-mmap-two", "bar-mmap-dmabuf-v4", None)
    edges = {(t.label.rsplit(":", 1)[-1], t.target.rsplit(":", 1)[-1]) for t in model.transitions
             if t.thread == "config_write.dev0"}
    into = lambda b: {a for a, z in edges if z == f"get_file_active({b})"}  # noqa: E731
    assert not any(a.endswith("(m0)") or a.endswith("(m1)") for a in into("buf0"))
    assert any(a.endswith("(buf0)") for a in into("m0")) and any(a.endswith("(buf0)") for a in into("m1"))
    assert any(a.endswith("(m1)") for a in into("m0")) and any(a.endswith("(m0)") for a in into("m1"))


@pytest.mark.skipif(not shutil.which("cc"), reason="no C compiler")
def test_compiled_agrees():
    out = []
    for eng in (explore, compiled.explore):
        m, c = build(CFG, "upstream", None)
        c.properties = [p for p in c.properties if not p.liveness]
        c.liveness = []
        r = eng(m, c)
        out.append((r.verdict, r.distinct_states, r.transitions, r.coverage))
    assert out[0] == out[1]


@pytest.mark.skipif(not (shutil.which("spin") and shutil.which("gcc")), reason="spin or gcc not installed")
def test_spin_states_equal_ours(tmp_path):
    from revoke_check.diff import reach
    from revoke_check.reports.promela import run_spin, to_promela
    model, _ = build(CFG, "upstream", ["deadlock-free"])
    r = reach(model)
    assert r.complete and not r.error
    spin = run_spin(to_promela(model), tmp_path, opt="-O0")
    assert (spin["stored"], spin["transitions"]) == (r.states, r.edges + 1)
