"""Vacuity and coverage: per-step firing counts, unfired steps and unreached witnesses."""
from pathlib import Path

import pytest

from revoke_check.ci.coverage import AllowList, CoverageError, coverage, judge, load_allow
from revoke_check.ci.manifest import load_manifest
from conftest import run_cli as run   # python -m revoke_check.cli in a child process

ROOT = Path(__file__).resolve().parent.parent




@pytest.fixture(scope="module")
def wide():
    return coverage("wide", "upstream")


def test_wide_explores_the_manifest_state_space(wide):
    e = next(e for e in load_manifest() if (e.variant, e.config, e.engine, e.properties)
             == ("upstream", "wide", "explicit", []))
    assert wide.complete and wide.distinct_states == e.distinct_states
    assert sum(s.count for s in wide.steps) == wide.transitions


def test_every_wide_step_fires_or_has_a_written_reason(wide):
    allow = load_allow()
    assert ("wide", "upstream") in allow.targets
    v = judge(wide, allow)
    assert v.problems() == []
    assert v.ok
    explained = {x.key for _, x in v.allowed}
    assert explained == {s.key for s in wide.unfired}
    for a, _ in v.allowed:
        assert len(a.reason.split()) >= 8          # a reason, not a placeholder


def test_default_is_a_target_too_and_fully_explained():
    allow = load_allow()
    assert ("default", "upstream") in allow.targets
    v = judge(coverage("default", "upstream"), allow)
    assert v.ok, v.problems()


def test_every_witness_is_reached_on_wide(wide):
    assert wide.witnesses and wide.unreached == []


def test_steps_group_the_branches_of_one_kernel_step(wide):
    keys = [s.key for s in wide.steps]
    assert len(keys) == len(set(keys))
    assert sum(len(s.transitions) for s in wide.steps) >= len(wide.steps)
    s = next(s for s in wide.steps if s.key.startswith("hot_reset vfio_pci_dev_set_hot_reset:err_undo")
             and "(reached the list head)" in s.key)
    assert s.fired and s.source == "drivers/vfio/pci/vfio_pci_core.c:vfio_pci_dev_set_hot_reset"


def test_without_the_allow_list_the_unfired_steps_are_listed(wide):
    v = judge(wide, AllowList())
    assert not v.ok
    assert len(v.unfired) == len(wide.unfired) > 0
    assert any("step never fires: close_fd.buf0 close_fd:close_fd (no fd was installed)" in p
               for p in v.problems())


def test_stale_allow_entries_fail(tmp_path, wide):
    fired = next(s for s in wide.steps if s.fired)
    f = tmp_path / "c.toml"
    f.write_text(f'[[unfired]]\nconfig = "wide"\nstep = "{fired.key}"\nreason = "it never fires"\n'
                 '[[unfired]]\nconfig = "wide"\nstep = "no such step"\nreason = "renamed long ago"\n')
    v = judge(wide, load_allow(f))
    whys = [why for _, why in v.stale]
    assert not v.ok and len(whys) == 2
    assert any("fires" in w for w in whys) and "no such step in this model" in whys


def test_a_dead_branch_is_reported(tmp_path):
    (tmp_path / "dead.py").write_text(
        "from revoke_check.model.expr import FALSE, TRUE\n"
        "from revoke_check.model.lang import Branch, Step\n\n"
        "def dead(p):\n"
        "    '''close_fd first takes a branch that can never be enabled.'''\n"
        "    p.insert_before('close_fd', 'close_fd', lambda t, **a: Step('probe', [\n"
        "        Branch(TRUE, note='always'), Branch(FALSE, note='never')], 'A probe.'))\n")
    cov = coverage("wide", f"{tmp_path / 'dead.py'}:dead")
    keys = {s.key for s in cov.unfired}
    assert "close_fd.buf0 close_fd:probe (never)" in keys
    assert "close_fd.buf0 close_fd:probe (always)" not in keys


def test_unreached_witnesses_are_listed():
    # without wait_for_completion nothing ever waits for the importers to unmap
    cov = coverage("default", "no-wait-for-unmap")
    assert cov.complete
    assert "deadlock-free/revoker-waits-for-importer-unmap" in cov.unreached
    v = judge(cov, AllowList())
    assert ("no-wait-for-unmap@default: witness never reached: "
            "deadlock-free/revoker-waits-for-importer-unmap") in v.problems()


def test_a_violating_variant_is_still_explored_to_the_end():
    from revoke_check.run import check
    r = check("default", "flr-revoke-typo", ["undo-restores-every-revoke"])
    cov = coverage("default", "flr-revoke-typo")
    assert r.verdict == "violated" and cov.complete
    assert cov.distinct_states > r.distinct_states


def test_coverage_cli_prints_per_step_counts():
    code, out, _ = run("coverage", "-c", "wide", "--fail-unfired")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("upstream on wide: ") and " steps fire" in lines[0]
    assert any(line.strip().startswith("0  close_fd.buf0 close_fd:close_fd (no fd was installed)")
               and "(allowed)" in line for line in lines)
    assert "not explained:" not in out


def test_coverage_cli_fails_on_unexplained(tmp_path):
    empty = tmp_path / "none.toml"
    empty.write_text("# no entries\n")
    code, out, _ = run("coverage", "-c", "wide", "--fail-unfired", "--allow", str(empty))
    assert code == 1 and "not explained:" in out and "step never fires" in out
    code, _, _ = run("coverage", "-c", "wide", "--allow", str(empty))
    assert code == 0                   # counts only, without --fail-unfired


def test_coverage_cli_incomplete_is_exit_3():
    code, out, _ = run("coverage", "-c", "wide", "--max-states", "100")
    assert code == 3 and "INCOMPLETE" in out


@pytest.mark.parametrize("text, msg", [
    ('[[unfired]]\nconfig = "wide"\nstep = "x"\n', "needs a written reason"),
    ('[[unfired]]\nstep = "x"\nreason = "r"\n', "needs config"),
    ('[[unfired]]\nconfig = "wide"\nstep = "x"\nreason = "r"\nwhy = 1\n', "unknown key 'why'"),
    ('[[nope]]\n', "unknown table 'nope'"),
    ('[[target]]\n', "target[0]: needs config"),
    ('[[unfired]\n', "c.toml"),
])
def test_malformed_allow_list(tmp_path, text, msg):
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(CoverageError, match=msg.replace("[", r"\[").replace("]", r"\]")):
        load_allow(f)
    code, _, err = run("coverage", "-c", "minimal", "--allow", str(f))
    assert code == 2 and msg in err and len(err.strip().splitlines()) == 1
