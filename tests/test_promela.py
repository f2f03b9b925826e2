"""The Promela export is the identical transition system: SPIN stores exactly our states.

For every config of model/configs.toml (upstream) and every (config, variant)
of manifest.toml, SPIN's ``states stored`` (``spin -o2 -a``, ``-DNOREDUCE
-DSAFETY``, a depth limit pan never reaches) equals the distinct states of our
explicit explorer run with no property at all, i.e. the full reachable set
(a violated entry's manifest count is only the prefix explored up to its first
violation).  Skipped only where spin or gcc is absent; installs nothing.
"""
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from revoke_check.model.config import load_configs
from revoke_check.model.expr import BOOL, INT, Var
from revoke_check.ci.manifest import load_manifest
from revoke_check.reports.promela import expr_promela, run_spin, to_promela
from revoke_check.run import build

needs_spin = pytest.mark.skipif(not (shutil.which("spin") and shutil.which("gcc")),
                                reason="spin or gcc not installed")


def _instances():
    out = [(c, "upstream", None) for c in load_configs()]
    for e in load_manifest():
        if e.engine == "compiled":     # the large instances (model/configs-large.toml)
            continue
        key = (e.config, e.variant, getattr(e, "protocol", None))
        if key not in out and (e.config, e.variant, None) not in out:
            out.append(key)
    return out


def _full_reachable(config, variant, protocol=None):
    """The full reachable set: a step that would take a reference count below zero has no
    successor (it is a refcounts violation there), as in the export."""
    from revoke_check.diff import reach
    model, _ = build(config, variant, ["deadlock-free"], protocol)
    r = reach(model)
    assert r.complete and not r.error, r.error
    r.distinct_states = r.states
    r.transitions = r.edges
    return model, r


def test_expressions_translate():
    x, b = Var("x", 0, INT(0, 3)), Var("b", 1, BOOL)
    names = ["x", "b"]
    assert expr_promela((x + 1 == 2) & ~b, names) == "(((x + 1) == 2) && (!b))"
    from revoke_check.model.expr import ite
    assert expr_promela(ite(b, x - 1, 3), names) == "(b -> (x - 1) : 3)"


def test_export_shape():
    model, _ = build("tiny", None, ["deadlock-free"])
    text = to_promela(model)
    assert text.count(":: d_step {") == len(model.transitions)
    assert "hidden int _t0;" in text
    # every variable is declared once with its initial value
    for v in model.vars:
        assert f" = {model.init[v.slot]};\t/* {v.name}:" in text


@needs_spin
def test_spin_states_equal_ours(tmp_path):
    inst = _instances()
    configs = set(load_configs())
    assert configs <= {c for c, v, _ in inst if v == "upstream"}
    assert len(inst) >= len(configs) + 5

    def one(k_cv):
        k, (config, variant, protocol) = k_cv
        model, r = _full_reachable(config, variant, protocol)
        spin = run_spin(to_promela(model), tmp_path / f"i{k}", opt="-O0")  # small spaces: compile fast
        return config, variant, r.distinct_states, r.transitions, spin

    with ThreadPoolExecutor(2) as ex:
        rows = list(ex.map(one, enumerate(inst)))
    bad = [(c, v, ours, s["stored"]) for c, v, ours, _, s in rows if ours != s["stored"]]
    assert not bad, f"(config, variant, ours, spin) differ: {bad}"
    # SPIN counts one more transition: the process's start
    bad = [(c, v, t, s["transitions"]) for c, v, _, t, s in rows if t + 1 != s["transitions"]]
    assert not bad, f"transition counts differ: {bad}"


@needs_spin
def test_spin_sees_a_changed_model(tmp_path):
    """The comparison can fail: dropping one transition changes SPIN's count."""
    model, r = _full_reachable("minimal", "upstream")
    text = to_promela(model)
    i = text.index("  :: d_step {")                # the first transition
    j = text.index("  :: d_step {", i + 1)
    spin = run_spin(text[:i] + text[j:], tmp_path)
    assert spin["stored"] != r.distinct_states


@needs_spin
def test_cli_export_promela_runs_in_spin(tmp_path):
    out = tmp_path / "tiny.pml"
    p = subprocess.run([sys.executable, "-m", "revoke_check.cli", "export", "-c", "tiny",
                        "--format", "promela", "-o", str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert run_spin(out.read_text(), tmp_path / "w")["stored"] == 97


def test_cli_export_bad_input():
    for args in (["-c", "nope"], ["-v", "nope"], ["--format", "dot"]):
        p = subprocess.run([sys.executable, "-m", "revoke_check.cli", "export", *args],
                           capture_output=True, text=True)
        assert p.returncode == 2 and "Traceback" not in p.stderr, args
        last = p.stderr.strip().splitlines()[-1]
        assert last.startswith(("revoke-check: error:", "Error:")), p.stderr
