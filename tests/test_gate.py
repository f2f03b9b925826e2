"""revoke-check gate: passes on the project's manifest, fails with expected vs actual lines."""
import re
from pathlib import Path

import pytest
from junitparser import JUnitXml

from revoke_check.ci.coverage import load_allow
from revoke_check.ci.gate import GateError, run_gate
from conftest import run_cli as run   # python -m revoke_check.cli in a child process

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = (ROOT / "manifest.toml").read_text()




def entry_block(text: str, variant: str, config: str, prop: str | None = None) -> str:
    """The [[check]] block of ``text`` for (variant, config[, first property])."""
    blocks = re.split(r"(?m)^(?=\[\[check\]\])", text)
    for b in blocks:
        if f'variant = "{variant}"' in b and f'config = "{config}"' in b \
                and (prop is None or f'properties = ["{prop}"]' in b):
            return b
    raise AssertionError(f"no manifest entry for {variant}@{config}")


def all_block(variant: str, config: str) -> str:
    """The [[check]] block of the manifest for (variant, config) with every property."""
    for b in re.split(r"(?m)^(?=\[\[check\]\])", MANIFEST):
        if f'variant = "{variant}"' in b and f'config = "{config}"' in b and "properties =" not in b:
            return b
    raise AssertionError(f"no all-properties manifest entry for {variant}@{config}")


# two entries that pass, beside the one a test alters (the whole gate runs once, below)
OTHERS = all_block("upstream", "tiny") + all_block("upstream", "minimal")


def test_gate_passes_on_the_project_manifest():
    code, out, err = run("gate")
    assert code == 0, out + err
    assert "FAIL" not in out
    assert re.search(r"gate: passed: (\d+) of \1 as expected", out)
    # the coverage target of coverage.toml ran too
    assert "ok   coverage upstream@wide" in out
    assert "ok   coverage upstream@default" in out
    # and the precondition targets (issue 11 item 9)
    assert "ok   preconditions upstream@close-paths" in out and "ok   preconditions upstream@default" in out


def test_altered_state_count_fails_with_expected_vs_actual(tmp_path):
    block = entry_block(MANIFEST, "upstream", "wide")
    want = int(re.search(r"distinct_states = (\d+)", block).group(1))
    m = tmp_path / "manifest.toml"
    m.write_text(OTHERS + block.replace(f"distinct_states = {want}", f"distinct_states = {want + 1}"))
    code, out, _ = run("gate", "--manifest", str(m), "--no-coverage")
    assert code == 1
    assert f"upstream@wide[explicit:all]: distinct_states: expected {want + 1}, got {want}" in out
    assert "FAIL upstream@wide[explicit:all]" in out
    assert "ok   upstream@tiny[explicit:all]" in out
    assert "gate: FAILED: 1 of 3" in out


def test_known_bug_no_longer_caught_fails(tmp_path):
    # the entry that expects flr-revoke-typo to be caught now runs upstream (the fix)
    block = entry_block(MANIFEST, "flr-revoke-typo", "default")
    m = tmp_path / "manifest.toml"
    m.write_text(OTHERS + block.replace('variant = "flr-revoke-typo"', 'variant = "upstream"'))
    code, out, _ = run("gate", "-m", str(m), "--no-coverage")
    assert code == 1
    assert ("upstream@default[explicit:undo-restores-every-revoke]: verdict: expected violated, "
            "got holds") in out
    assert "property: expected undo-restores-every-revoke, got None" in out


def test_proposed_variant_that_breaks_upstream_fails_with_the_trace(tmp_path):
    # --variant replaces upstream everywhere: a change that reintroduces the FLR bug
    m = tmp_path / "manifest.toml"
    m.write_text(OTHERS + all_block("upstream", "default"))
    code, out, _ = run("gate", "-m", str(m), "--variant", "flr-revoke-typo", "--no-coverage")
    assert code == 1
    assert "upstream@default[explicit:all]: verdict: expected holds, got violated" in out
    # the counterexample is printed under the difference
    assert "vfio_exp_config_write:up_write" in out


def test_variant_file_relative_to_the_manifest(tmp_path):
    (tmp_path / "change.py").write_text(
        "from revoke_check.model.variants import VARIANTS\n\n"
        "def typo(p):\n"
        "    '''Reintroduce the FLR typo.'''\n"
        "    VARIANTS['flr-revoke-typo'](p)\n")
    block = entry_block(MANIFEST, "flr-revoke-typo", "default")
    (tmp_path / "m.toml").write_text(block.replace('variant = "flr-revoke-typo"',
                                                   'variant = "change.py:typo"'))
    # run from elsewhere: the variant file is found beside the manifest
    code, out, err = run("gate", "-m", str(tmp_path / "m.toml"), cwd=ROOT / "tests")
    assert code == 0, out + err
    assert "gate: passed: 1 of 1" in out


@pytest.mark.parametrize("text, msg", [
    ("[[check]\n", "m.toml"),
    ('[[check]]\nconfig = "default"\n', "check[0]: needs variant"),
    ('[[check]]\nconfig = "default"\nvariant = "upstream"\ncolour = 1\n', "unknown key 'colour'"),
    ('[[check]]\nconfig = "default"\nvariant = "upstream"\nengine = "nope"\n',
     "check[0].engine: 'nope' is not one of explicit"),
    # issue 10: a misspelt table, an empty or mistyped value
    ('[[chek]]\nconfig = "default"\nvariant = "upstream"\n', "unknown table 'chek'"),
    ('[[check]]\nconfig = "tiny"\nvariant = "upstream"\nverdict = ""\n', "check[0].verdict: '' is not one of holds"),
    ('[[check]]\nconfig = "tiny"\nvariant = "upstream"\ndistinct_states = "97"\n',
     "check[0].distinct_states: '97' is not of type integer"),
    ('[[check]]\nconfig = "tiny"\nvariant = "upstream"\ntrace_length = -1\n', "check[0].trace_length"),
    ('[[check]]\nconfig = "tiny"\nvariant = ""\n', "check[0].variant: must not be empty"),
    ('[[check]]\nconfig = "nope"\nvariant = "upstream"\n', "unknown config 'nope'"),
    ("# nothing\n", "top level: needs check"),
])
def test_malformed_manifest_is_one_line_exit_2(tmp_path, text, msg):
    m = tmp_path / "m.toml"
    m.write_text(text)
    code, out, err = run("gate", "-m", str(m))
    assert code == 2, out + err
    assert msg in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_missing_manifest_is_exit_2(tmp_path):
    code, _, err = run("gate", "-m", str(tmp_path / "none.toml"))
    assert code == 2 and "No such file" in err and "Traceback" not in err


def test_a_manifest_or_allow_list_that_is_not_utf8_is_exit_2(tmp_path):
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('[[check]]\nconfig = "default"\nnote = "caf\u00e9"\n'.encode("latin-1"))
    for args in (("gate", "-m", str(bad)), ("gate", "--allow", str(bad))):
        code, _, err = run(*args)
        assert code == 2 and "latin1.toml: 'utf-8' codec can't decode" in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_malformed_allow_list_is_exit_2(tmp_path):
    a = tmp_path / "cov.toml"
    a.write_text('[[unfired]]\nconfig = "wide"\nstep = "x"\n')
    code, _, err = run("gate", "--allow", str(a))
    assert code == 2 and "needs a written reason" in err and len(err.strip().splitlines()) == 1


def test_gate_junit_one_case_per_entry(tmp_path):
    block = entry_block(MANIFEST, "upstream", "minimal")
    bug = entry_block(MANIFEST, "no-open-count-check", "default")
    m = tmp_path / "m.toml"
    m.write_text(block + bug.replace("trace_length = ", "trace_length = 1"))  # 10 -> 110
    out = tmp_path / "gate.xml"
    code, stdout, _ = run("gate", "-m", str(m), "--allow", str(ROOT / "coverage.toml"),
                          "--coverage", "wide", "--junit", str(out))
    assert code == 1
    xml = JUnitXml.fromfile(str(out))
    cases = [c for s in xml for c in s]
    # two entries + the coverage targets of coverage.toml (wide once, though also --coverage)
    # + one case per config with precondition targets
    allow = load_allow(ROOT / "coverage.toml")
    targets, pres = len(allow.targets), len(allow.precondition_configs())
    assert len(cases) == 2 + targets + pres and targets >= 1 and pres >= 2
    failed = [c for c in cases if not c.is_passed]
    assert len(failed) == 1 and "trace_length: expected 1" in failed[0].result[0].text
    assert failed[0].name == "no-open-count-check@default[explicit:no-unopened-vconfig-access]"


def test_coverage_target_without_allow_list_lists_unfired_steps(tmp_path):
    m = tmp_path / "m.toml"
    m.write_text(entry_block(MANIFEST, "upstream", "minimal"))
    code, out, _ = run("gate", "-m", str(m), "--coverage", "wide")
    assert code == 1
    assert "FAIL coverage upstream@wide" in out
    assert ("upstream@wide: step never fires: close_fd.buf0 close_fd:close_fd "
            "(no fd was installed)") in out


def test_run_gate_api_reports_each_outcome(tmp_path):
    block = entry_block(MANIFEST, "upstream", "minimal")
    m = tmp_path / "m.toml"
    m.write_text(block)
    seen = []
    outs = run_gate(m, on_outcome=seen.append)
    assert len(outs) == 1 and outs[0].ok and seen == outs
    m.write_text(block.replace('engine = "explicit"', 'engine = "nope"'))
    with pytest.raises(GateError, match=r"check\[0\]\.engine: 'nope' is not one of"):
        run_gate(m)


SLOW = """
[[check]]
config = "tiny"
variant = "upstream"
verdict = "holds"
distinct_states = 97

[[check]]
config = "tiny"
variant = "no-wait-for-unmap"
verdict = "holds"
distinct_states = 1
slow = true
"""


def test_slow_entries_run_only_with_slow(tmp_path):
    m = tmp_path / "manifest.toml"
    m.write_text(SLOW)
    j = tmp_path / "gate.xml"
    code, out, _ = run("gate", "-m", str(m), "--no-coverage", "--junit", str(j))
    assert code == 0, out
    assert "skip no-wait-for-unmap@tiny[explicit:all]: slow = true" in out
    assert "gate: passed: 1 of 1 as expected (1 slow = true entry not run: --slow runs them)" in out
    assert JUnitXml.fromfile(str(j)).skipped == 1
    # with --slow the entry runs, and its wrong expectations fail the gate
    code, out, _ = run("gate", "-m", str(m), "--no-coverage", "--slow")
    assert code == 1
    assert "FAIL no-wait-for-unmap@tiny[explicit:all]: violated" in out
    assert "gate: FAILED: 1 of 2" in out
