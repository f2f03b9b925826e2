"""The command line: verdicts, exit codes, one-line errors, JSON."""
import json

import pytest
from conftest import run_cli as run   # python -m revoke_check.cli in a child process




def test_upstream_default_holds():
    code, out, _ = run("check")
    assert code == 0 and "holds" in out and "distinct states" in out


def test_violation_exit_1_with_trace():
    code, out, _ = run("check", "-v", "flr-revoke-typo", "-p", "undo-restores-every-revoke")
    assert code == 1 and "VIOLATED: undo-restores-every-revoke" in out
    assert "vfio_exp_config_write:up_write" in out


def test_json_fields():
    code, out, _ = run("check", "-v", "no-open-count-check", "--json")
    d = json.loads(out)
    assert code == 1
    for k in ("verdict", "property", "distinct_states", "transitions", "depth", "seconds", "trace"):
        assert k in d
    assert d["verdict"] == "violated" and d["property"] == "no-unopened-vconfig-access"
    assert d["trace"] and {"thread", "label", "source", "changes"} <= set(d["trace"][0])


def test_state_limit_is_incomplete_never_holds():
    code, out, _ = run("check", "--max-states", "50", "--json")
    d = json.loads(out)
    assert code == 3 and d["verdict"] == "incomplete" and "state limit" in d["incomplete_reason"]


@pytest.mark.parametrize("args, msg", [
    (["check", "-c", "nope"], "unknown config 'nope'"),
    (["check", "-v", "nope"], "unknown variant 'nope'"),
    (["check", "-p", "nope"], "unknown property 'nope'"),
    (["check", "-v", "missing.py:x"], "variant file missing.py not found"),
    (["replay", "pyproject.toml"], "not JSON"),
])
def test_bad_input_is_one_line_exit_2(args, msg):
    code, out, err = run(*args)
    assert code == 2
    assert msg in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_trace_out_replays(tmp_path):
    f = tmp_path / "t.json"
    code, _, _ = run("check", "-v", "v5-unrevoke-after-reset", "--trace-out", str(f))
    assert code == 1
    code, out, _ = run("replay", str(f))
    assert code == 1 and "violates undo-restores-every-revoke" in out
    code, out, _ = run("replay", str(f), "-v", "upstream")
    assert code == 0 and "step 11" in out


def test_steps_lists_labels_and_calls_for_variant_authors():
    code, out, _ = run("steps", "--proc", "vfio_exp_config_write")
    assert code == 0
    assert "pci_try_reset_function" in out and "drivers/vfio/pci/vfio_pci_config.c:vfio_exp_config_write" in out
    assert "unrevoke" in out and "Call -> vfio_pci_dma_buf_move" in out
