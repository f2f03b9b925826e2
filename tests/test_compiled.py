"""The compiled engine against the Python reference engine.

On every manifest.toml entry both engines must agree on everything a search
reports: verdict, violated property, message, distinct states, transitions,
depth, per-transition coverage, witnesses reached, vacuity, and the first
counterexample's transition sequence (the compiled trace is replayed through
the Python semantics).  Skipped where there is no C compiler.
"""
import copy
import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest

from revoke_check.model.expr import Const
from revoke_check.properties import compile_checks
from revoke_check.engines import compiled
from revoke_check.engines.explicit import explore as py_explore
from revoke_check.ci.manifest import load_manifest
from conftest import own_compiled_cache
from revoke_check.run import build, check

needs_cc = pytest.mark.skipif(compiled.find_compiler() is None, reason="no C compiler")


@pytest.fixture(scope="module", autouse=True)
def _own_cache(tmp_path_factory):
    with own_compiled_cache(tmp_path_factory):
        yield


def _summary(r):
    steps = [(s.thread, s.label, s.choice, s.state) for s in r.trace.steps] if r.trace else None
    return dict(verdict=r.verdict, property=r.property, message=r.message,
                distinct=r.distinct_states, transitions=r.transitions, depth=r.depth,
                coverage=r.coverage, witnesses=r.witnesses, vacuous=r.vacuous,
                incomplete=r.incomplete_reason, trace=steps,
                kind=r.trace.kind if r.trace else None)


def _safety(c):
    """The compiled engine checks safety; liveness (a property of infinite runs) is explicit's."""
    c.properties = [p for p in c.properties if not p.liveness]
    c.liveness = []
    return c


def _both(config, variant, props, protocol=None, **kw):
    m, c = build(config, variant, props, protocol)
    a = py_explore(m, _safety(c), **kw)
    m, c = build(config, variant, props, protocol)
    b = compiled.explore(m, _safety(c), **kw)
    assert b.engine == "compiled"
    return _summary(a), _summary(b)


@needs_cc
def test_every_manifest_entry_agrees():
    from revoke_check.properties import get_properties
    from revoke_check.model.variants import get_protocol

    def safety_entry(e):
        if e.engine != "explicit" or e.fairness or e.strong_fair:
            return False
        props = get_properties(e.properties or None, get_protocol(e.variant, protocol=e.protocol))
        return not any(p.liveness for p in props) or not e.properties
    entries = [e for e in load_manifest() if safety_entry(e)]
    assert len(entries) >= 20

    def one(e):
        return e, *_both(e.config, e.variant, e.properties or None, e.protocol)
    with ThreadPoolExecutor(2) as ex:     # the C compiles run in parallel
        rows = list(ex.map(one, entries))
    for e, a, b in rows:
        assert a == b, e.name
        # and both are the pinned figures
        assert b["verdict"] == e.verdict and b["distinct"] == e.distinct_states, e.name
        assert len(b["trace"] or []) == e.trace_length, e.name
    assert sum(1 for _, _, b in rows if b["verdict"] == "violated") >= 10
    assert any(b["property"] == "lock-order" for _, _, b in rows)
    assert any(b["property"] == "deadlock-free" for _, _, b in rows)


@needs_cc
@pytest.mark.parametrize("limit", [1, 100, 5000])
def test_state_limit_is_incomplete_at_the_same_point(limit):
    a, b = _both("default", None, None, max_states=limit)
    assert b["verdict"] == "incomplete" and a == b


@needs_cc
def test_no_properties_explores_the_full_reachable_set():
    m, _ = build("lowpower", None, None)
    a = _summary(py_explore(m, compile_checks(m, [])))
    b = _summary(compiled.explore(m, compile_checks(m, [])))
    assert a == b and b["verdict"] == "holds"
    # upstream on lowpower violates a property after 14071 states; the full set is larger
    assert b["distinct"] > 14071


def _break_domain(model):
    """A copy of ``model`` whose first update of an int variable writes one past its domain."""
    m = copy.copy(model)
    trs = list(model.transitions)
    for k, tr in enumerate(trs):
        slots = [s for s in tr.updates if model.vars[s].domain.kind == "int"]
        if slots:
            ups = dict(tr.updates)
            ups[slots[0]] = Const(model.vars[slots[0]].domain.hi + 1)
            trs[k] = dataclasses.replace(tr, updates=ups)
            m.transitions = trs
            return m
    raise AssertionError("no int variable updated")


@needs_cc
def test_model_error_is_the_same():
    m, c = build("minimal", None, None)
    a = py_explore(_break_domain(m), c)
    m, c = build("minimal", None, None)
    b = compiled.explore(_break_domain(m), c)
    assert a.verdict == b.verdict == "error"
    assert a.message == b.message and "model error:" in b.message
    assert [s.label for s in a.trace.steps] == [s.label for s in b.trace.steps]
    assert a.distinct_states == b.distinct_states


@needs_cc
def test_built_once_per_digest():
    m, c = build("tiny", None, None)
    src = compiled.generate_c(m, c)
    compiled._LOADED.clear()      # another module of this process may have loaded it from its own cache
    lib = compiled.load(src)
    so = lib.path
    assert so.exists() and so.parent == compiled.cache_dir() and so.name.startswith(lib.digest)
    mtime = so.stat().st_mtime_ns
    compiled._LOADED.clear()
    assert compiled.load(src).digest == lib.digest
    assert so.stat().st_mtime_ns == mtime          # loaded from the cache, not rebuilt


@needs_cc
def test_states_are_bit_packed():
    m, c = build("wide", None, None)
    lay = compiled.Layout(m.vars)
    bits = sum((v.domain.hi - v.domain.lo).bit_length() for v in m.vars)
    assert lay.nbits >= bits and lay.nbytes <= (bits + 7) // 8 + len(m.vars) // 8 + 1
    assert lay.nbytes < len(m.vars)                 # fewer bytes than one byte per variable
    stats = {}
    r = compiled.explore(m, c, stats=stats)
    assert r.verdict == "holds" and stats["state_bytes"] == lay.nbytes
    assert stats["bytes"] / r.distinct_states < 64


@needs_cc
def test_progress_lines_on_stderr(capfd):
    m, c = build("default", None, None)
    compiled.explore(m, c, progress_secs=1e-9)
    err = capfd.readouterr().err
    assert "revoke-check: compiled upstream on default:" in err
    assert "distinct" in err and "queued" in err and "states/s" in err and "MB" in err


def test_falls_back_without_a_compiler(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("REVOKE_CHECK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(compiled, "_LOADED", {})
    r = check("tiny", None, None, engine="compiled")
    assert r.engine == "explicit" and r.verdict == "holds" and r.distinct_states == 97
    assert "compiled engine unavailable" in capsys.readouterr().err


@needs_cc
def test_cli_compiled(tmp_path):
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "revoke_check.cli", "check", "-e", "compiled",
                        "-v", "v5-unrevoke-after-reset", "--trace-out", str(tmp_path / "t.json")],
                       capture_output=True, text=True)
    assert p.returncode == 1, p.stderr
    assert "[compiled]: VIOLATED: undo-restores-every-revoke -- 2186 distinct states" in p.stdout
    p = subprocess.run([sys.executable, "-m", "revoke_check.cli", "replay", str(tmp_path / "t.json")],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "replays 12 steps" in p.stdout
    p = subprocess.run([sys.executable, "-m", "revoke_check.cli", "check", "-e", "nope"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "compiled" in p.stderr and "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "revoke_check.cli", "export", "-f", "c", "-c", "tiny"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and "int rc_explore(" in p.stdout and "upstream on tiny" in p.stdout
    p = subprocess.run([sys.executable, "-m", "revoke_check.cli", "check", "-e", "compiled",
                        "-c", "wide", "--hash-compaction"], capture_output=True, text=True)
    assert p.returncode == 3, p.stderr
    assert "INCOMPLETE" in p.stdout and "holds (hash compaction, P(miss) <= ~" in p.stdout


# --- hash compaction -------------------------------------------------------------

@needs_cc
@pytest.mark.parametrize("config", ["minimal", "default", "wide", "iommufd"])
def test_hash_compaction_never_says_holds(config):
    m, c = build(config, None, None)
    exact = compiled.explore(m, c)
    r = compiled.explore(m, c, hash_compaction=True)
    assert exact.verdict == "holds"
    assert r.verdict == "incomplete" and r.exit_code == 3
    assert r.message.startswith("holds (hash compaction, P(miss) <= ~")
    # with 64-bit fingerprints nothing collides on these sizes (the hash is fixed: deterministic)
    assert r.distinct_states == exact.distinct_states and r.coverage == exact.coverage


@needs_cc
def test_hash_compaction_finds_the_same_violation():
    for e in load_manifest():
        if e.verdict != "violated" or e.config != "default" or e.protocol or e.engine != "explicit":
            continue
        m, c = build(e.config, e.variant, e.properties or None)
        c = _safety(c)
        if not c.properties:
            continue
        a, b = compiled.explore(m, c), compiled.explore(m, c, hash_compaction=True)
        assert (b.verdict, b.property, b.distinct_states) == (a.verdict, a.property, a.distinct_states)
        assert [s.label for s in b.trace.steps] == [s.label for s in a.trace.steps]


@needs_cc
def test_collisions_hide_states_but_never_give_holds():
    """8-bit fingerprints collide a lot: fewer states, missed violations, still not 'holds'."""
    m, c = build("default", "v5-unrevoke-after-reset", ["undo-restores-every-revoke"])
    r = compiled.explore(m, c, hash_compaction=True, fp_bits=8)
    assert r.distinct_states <= 256
    assert r.verdict in ("incomplete", "violated")
    if r.verdict == "incomplete":
        assert "P(miss) <= ~1.0e+00" in r.message
    m, c = build("wide", None, None)
    r = compiled.explore(m, c, hash_compaction=True, fp_bits=8)
    assert r.verdict == "incomplete" and r.distinct_states < 30638


def test_hash_compaction_needs_the_compiled_engine():
    with pytest.raises(ValueError):
        check("tiny", None, None, engine="explicit", hash_compaction=True)


def test_unwritable_cache_falls_back(monkeypatch, capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("REVOKE_CHECK_CACHE", str(blocker / "cache"))   # under a regular file
    monkeypatch.setattr(compiled, "_LOADED", {})
    if compiled.find_compiler() is None:
        pytest.skip("no C compiler")
    r = check("tiny", None, None, engine="compiled")
    assert r.engine == "explicit" and r.distinct_states == 97
    assert "compiled engine unavailable (cannot build in" in capsys.readouterr().err


@needs_cc
def test_ctrl_c_stops_the_search_as_incomplete(monkeypatch):
    """Ctrl-C during the C search: the search stops, the result says incomplete, nothing crashes."""
    import _thread
    import threading
    import tomllib
    from pathlib import Path
    from revoke_check.model.config import parse_config
    from revoke_check.model.variants import get_protocol
    from revoke_check.properties import get_properties
    raw = tomllib.loads((Path(__file__).resolve().parent.parent / "benchmarks" / "configs.toml").read_text())
    m = get_protocol(None).build(parse_config("wide3", raw["wide3"]))   # 3.8M states: seconds of search
    c = compile_checks(m, get_properties(["deadlock-free"]))
    orig = compiled._run_interruptibly

    def interrupted(lib, run, *args):
        threading.Timer(0.3, _thread.interrupt_main).start()
        return orig(lib, run, *args)
    monkeypatch.setattr(compiled, "_run_interruptibly", interrupted)
    r = compiled.explore(m, c)
    assert r.verdict == "incomplete" and r.message == "interrupted"
    assert 0 < r.distinct_states < 3793464
