"""Issue 11 item 9: precondition coverage (which value combinations a step fired with)."""
import re

import pytest
from click.testing import CliRunner

from revoke_check.ci.coverage import COVERAGE_FILE, CoverageError, load_allow
from revoke_check.ci.preconditions import Target, Unseen, judge_preconditions, preconditions
from revoke_check.cli import main

CLOSE = "close_device.dev0 vfio_pci_core_close_device:"
CLEANUP = CLOSE + "cleanup/vfio_pci_dma_buf_cleanup:list_del_init(buf0)"


@pytest.fixture(scope="module")
def allow():
    return load_allow(COVERAGE_FILE)


@pytest.fixture(scope="module")
def close_paths(allow):
    return preconditions("close-paths", None, allow.targets_of("close-paths", "upstream"))


def test_pinned_combination_counts_on_close_paths(close_paths):
    p = close_paths
    assert p.complete and p.distinct_states == 750
    got = {t.step: (len(t.seen), len(t.possible)) for t in p.targets}
    assert got == {
        CLOSE + "mutex_lock": (2, 2),
        CLEANUP: (3, 4),
        CLOSE + "cleanup/vfio_pci_dma_buf_cleanup:revoke/vfio_pci_dma_buf_move:dma_resv_lock(buf0)": (2, 2),
        "config_write.dev0 pwrite_pci_command:write0/vfio_basic_config_write:revoke/"
        "vfio_pci_dma_buf_move:dma_resv_lock(buf0)": (2, 2),
        CLOSE + "vfio_pci_core_disable": (2, 4),
    }
    cleanup = next(t for t in p.targets if t.step == CLEANUP)
    assert [cleanup.text(c) for c in cleanup.unseen] == ["revoked[buf0]=false, live(buf0)=true"]
    # the per-step report: every step, with what its guard and updates read
    assert len(p.steps) == 50
    assert sum(len(s.seen) for s in p.steps) == 51 and sum(len(s.possible) for s in p.steps) == 352


def test_the_project_allow_list_explains_every_unseen_combination(close_paths, allow):
    v = judge_preconditions(close_paths, allow.unseen)
    assert v.ok, v.problems()
    assert len(v.allowed) == 3


def test_a_listed_combination_that_is_seen_is_stale(close_paths, allow):
    extra = Unseen("close-paths", "upstream", CLOSE + "mutex_lock", "vmem[dev0]=false", "wrong on purpose")
    v = judge_preconditions(close_paths, allow.unseen + [extra])
    assert not v.ok
    assert v.problems() == ["upstream@close-paths: stale [[unseen]] entry: "
                            f"{CLOSE}mutex_lock: vmem[dev0]=false: seen now"]


def test_an_unseen_entry_without_a_reason_is_refused(tmp_path):
    f = tmp_path / "cov.toml"
    f.write_text('[[unseen]]\nconfig = "close-paths"\nstep = "x"\ncombination = "vmem[dev0]=false"\n'
                 'reason = "  "\n')
    with pytest.raises(CoverageError, match=r"unseen\[0\]\.reason: .*a written reason is needed"):
        load_allow(f)
    r = CliRunner().invoke(main, ["coverage", "-c", "tiny", "--preconditions", "--allow", str(f)])
    assert r.exit_code == 2 and "a written reason is needed" in r.output


def test_a_config_that_loses_a_combination_fails_the_gate(tmp_path):
    """close-paths whose PCI_COMMAND write cannot fail: the close never finds decode off."""
    from revoke_check.model.config import CONFIG_FILE
    text = CONFIG_FILE.read_text()
    block = re.search(r"^\[close-paths\]\n.*?(?=^\[)", text, re.S | re.M).group(0)
    cfg = tmp_path / "mut.toml"
    cfg.write_text(block.replace("inject = { config_write_fails = true }", ""))
    allow = tmp_path / "cov.toml"
    allow.write_text((COVERAGE_FILE).read_text())
    r = CliRunner().invoke(main, ["coverage", "-c", f"{cfg}:close-paths", "--preconditions",
                                  "--fail-unfired", "--allow", str(allow)])
    assert r.exit_code == 1, r.output
    assert f"{CLOSE}mutex_lock: never fires with vmem[dev0]=false" in r.output
    # and the unmodified config passes the same gate
    r = CliRunner().invoke(main, ["coverage", "-c", "close-paths", "--preconditions", "--fail-unfired",
                                  "--allow", str(allow)])
    assert r.exit_code == 0, r.output


def test_a_target_naming_an_unknown_value_is_a_usage_error():
    with pytest.raises(ValueError, match="no variable or helper 'nope\\(buf0\\)'"):
        preconditions("tiny", None, [Target("tiny", "upstream", "importer.imp0", ("nope(buf0)",))])
