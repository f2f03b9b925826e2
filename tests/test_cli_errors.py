"""Issue 10, items 2, 3, 5 and 7: every failure is one line on stderr with a stable
exit code (0 holds, 1 violated, 2 usage/model error, 3 incomplete, 130 interrupted)."""
import json
import re
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli as run   # python -m revoke_check.cli in a child process

CORPUS = ROOT / "traces" / "corpus"




def one_line(err):
    """One error line on stderr (check's start line, ``revoke-check X.Y: ...``, aside)."""
    lines = [x for x in err.strip().splitlines() if not re.match(r"revoke-check \d+\.\d+", x)]
    return len(lines) == 1 and lines[0].startswith("revoke-check: ") and "Traceback" not in err


# --- item 2: a variant file that exits or raises KeyboardInterrupt -------------------

@pytest.fixture
def bad_variants(tmp_path):
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(0)\n")
    (tmp_path / "kbd.py").write_text(
        "from revoke_check.model.variants import variant\n"
        "@variant('kbd')\ndef kbd(p):\n    raise KeyboardInterrupt\n"
        "@variant('late-exit')\ndef late(p):\n"
        "    def make(t, **a):\n        raise SystemExit(0)\n"
        "    p.replace_step('close_fd', 'close_fd', make)\n")
    return tmp_path


@pytest.mark.parametrize("args, what", [
    (("check", "-c", "tiny", "-v", "{d}/exits.py:x"), "SystemExit raised while loading"),
    (("gate", "--no-coverage", "--variant", "{d}/exits.py:x"), "SystemExit raised while loading"),
    (("check", "-c", "tiny", "-v", "{d}/kbd.py:kbd"), "KeyboardInterrupt raised while applying"),
    (("check", "-c", "default", "-v", "{d}/kbd.py:late-exit"), "SystemExit raised while building"),
])
def test_variant_that_exits_is_an_error(bad_variants, args, what):
    code, out, err = run(*[a.format(d=bad_variants) for a in args])
    assert code == 2 and one_line(err) and what in err, (code, out, err)
    assert out == ""


# --- item 5: output paths are checked before the search -------------------------------

@pytest.mark.parametrize("args", [
    ("check", "-c", "wide", "--trace-out", "/nonexistent/x.json"),
    ("check", "-c", "wide", "--junit", "/nonexistent/x.xml"),
    ("check", "-c", "wide", "--sarif", "/nonexistent/x.sarif"),
    ("check", "-c", "wide", "--trace-out", "/"),
    ("reduce", str(CORPUS / "disable-before-cleanup.json"), "-o", "/nonexistent/r.json"),
    ("render", str(CORPUS / "flr-revoke-typo.json"), "-f", "html", "-o", "/nonexistent/r.html"),
    ("export-trace", str(CORPUS / "flr-revoke-typo.json"), "-o", "/nonexistent/r.itf.json"),
    ("gate", "--junit", "/nonexistent/g.xml"),
])
def test_bad_output_path_fails_before_the_search(args):
    code, out, err = run(*args)
    assert code == 2 and one_line(err) and ("/nonexistent" in err or "'/'" in err or " / " in err), err
    assert out == ""          # no search, no summary, no gate entries


# --- item 7: streams and codes ---------------------------------------------------------

def test_replay_of_a_corrupt_trace_against_another_variant_is_2(tmp_path):
    t = json.loads((CORPUS / "flr-revoke-typo.json").read_text())
    t["steps"][2]["thread"] = "nobody"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(t))
    code, out, err = run("replay", str(bad), "-v", "upstream")
    assert code == 2 and one_line(err) and "does not replay on its own variant" in err and out == ""
    code, out, err = run("replay", str(bad))
    assert code == 2 and one_line(err) and out == ""
    # the intact trace: the fix prevents it (0), its own variant violates (1)
    code, out, err = run("replay", str(CORPUS / "flr-revoke-typo.json"), "-v", "upstream")
    assert code == 0 and "does not replay" in out and err == ""
    code, out, err = run("replay", str(CORPUS / "flr-revoke-typo.json"))
    assert code == 1 and "violates undo-restores-every-revoke" in out and err == ""


@pytest.mark.parametrize("args, what", [
    (("check", "-v", ""), "--variant"),
    (("replay", str(CORPUS / "flr-revoke-typo.json"), "-v", " "), "--variant"),
    (("gate", "-v", ""), "--variant"),
    (("check", "-c", "tiny", "--max-seconds", "nan"), "--max-seconds"),
    (("check", "-c", "tiny", "--max-seconds", "inf"), "--max-seconds"),
    (("check", "-c", "tiny", "--max-seconds", "-1"), "--max-seconds"),
    (("check", "--no-such-option"), "--no-such-option"),
    (("frobnicate",), "frobnicate"),
    (("check", "-c", "nope"), "unknown config 'nope'"),
])
def test_usage_errors_are_one_line(args, what):
    code, out, err = run(*args)
    assert code == 2 and one_line(err) and what in err, err
    assert out == ""


def test_model_error_goes_to_stderr(tmp_path):
    # a broken encoding: munmap writes 2 into a bool (a value outside its domain)
    (tmp_path / "bad.py").write_text(
        "from revoke_check.model.lang import RETURN, step\nfrom revoke_check.model.variants import variant\n"
        "@variant('bad')\ndef bad(p):\n"
        "    def make(t, vdev):\n"
        "        return step('munmap', 'broken on purpose', do={t.v.bar_pte[vdev]: 2}, goto=RETURN,\n"
        "                    source='mm/vma.c:do_vmi_munmap')\n"
        "    p.replace_step('vfio_pci_mmap_huge_fault', 'munmap', make)\n")
    code, out, err = run("check", "-c", "mmap", "-v", f"{tmp_path}/bad.py:bad")
    assert code == 2 and one_line(err) and "model error" in err and "bar_pte" in err


def test_z3_default_time_bound_is_documented():
    code, out, _ = run("check", "--help")
    assert code == 0 and "300 s" in out and "--quiet" in out


def test_time_bound_reached_is_incomplete():
    code, out, err = run("check", "-c", "wide", "-e", "bmc", "--depth", "40", "--max-seconds", "2", "-q")
    assert code == 3 and "INCOMPLETE" in out and "time limit of 2s" in out and err == ""


# --- item 3: Ctrl-C ------------------------------------------------------------------------

@pytest.mark.parametrize("engine", [["bmc"], ["kind", "--no-lemmas"], ["spacer"]])
def test_sigint_ends_a_z3_engine_with_130(engine):
    p = subprocess.Popen([sys.executable, "-m", "revoke_check.cli", "check", "-c", "wide",
                          "--depth", "40", "-e", *engine],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(ROOT))
    banner = p.stderr.readline()         # the start line
    assert banner.startswith("revoke-check ") and f"[{engine[0]}]" in banner, banner
    first = p.stderr.readline()          # the first progress line: the engine is running
    assert first.startswith(f"  [{engine[0]}]"), first
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, (out, err)
    assert re.fullmatch(r"revoke-check: interrupted: incomplete after (depth \d+|no depth completed|"
                        r"\d+ of \d+ queries decided)(, k \d+)?\n", err), err
    assert out == ""


def test_sigint_stops_the_explicit_engine():
    """In-process: the explorer polls the flag the SIGINT handler sets."""
    from revoke_check import interrupt
    from revoke_check.engines.explicit import explore
    from revoke_check.run import build
    m, c = build("wide", "upstream")
    interrupt.reset("explicit")
    interrupt.FIRED.set()
    try:
        with pytest.raises(KeyboardInterrupt):
            explore(m, c)
        assert re.fullmatch(r"\d+ states, depth \d+", interrupt.describe())
    finally:
        interrupt.FIRED.clear()


# --- item 4: a thread that spins for ever is not "holds" -----------------------------------

def test_spinning_thread_is_not_holds(tmp_path):
    """The deadlock check sees no stuck state (the spinner is always enabled); the
    required witness some-run-finishes is never reached: vacuous, exit 4."""
    (tmp_path / "spin.py").write_text(
        "from revoke_check.model.lang import Branch, Step\nfrom revoke_check.model.variants import variant\n"
        "@variant('spin')\ndef spin(p):\n"
        "    def make(t, vdev, mem):\n"
        "        return Step('up_write', [Branch(goto='up_write', note='spin')], 'spin')\n"
        "    p.replace_step('vfio_basic_config_write', 'up_write', make)\n")
    code, out, err = run("check", "-c", "tiny", "-v", f"{tmp_path}/spin.py:spin", "-p", "deadlock-free")
    assert code == 4 and "VACUOUS" in out and "deadlock-free/some-run-finishes" in out, out + err
    code, out, _ = run("check", "-c", "tiny", "-p", "deadlock-free")
    assert code == 0 and "holds" in out


def test_a_failed_check_stops_its_progress_ticker():
    """A run that ends in an error must not leave the progress thread printing (it did: a
    full test run showed a stale kind ticker for ten minutes)."""
    import threading
    from click.testing import CliRunner
    from revoke_check.cli import main
    before = sum(t.name == "revoke-check-progress" for t in threading.enumerate())
    r = CliRunner().invoke(main, ["check", "-c", "tiny", "-e", "bmc", "-p", "lock-order"])
    assert r.exit_code == 2
    for t in threading.enumerate():
        if t.name == "revoke-check-progress":
            t.join(timeout=2)        # a stopped ticker ends at once; a running one waits 5 s
    after = sum(t.name == "revoke-check-progress" and t.is_alive() for t in threading.enumerate())
    assert after <= before
