"""Issue 13: ``--engine compiled --por`` expands the ample sets of the Python ``--por`` search.

The compiled reduced search must store exactly the states of
:func:`revoke_check.engines.reduced.explore_reduced` with POR (the same count, edges,
partially expanded states and notes), keep the unreduced verdict, property and shortest
trace length pinned in manifest.toml, and refuse what it does not do (workers,
checkpoints, hash compaction, liveness alone).  Skipped where there is no C compiler.
"""
import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from revoke_check.ci.manifest import load_manifest
from revoke_check.cli import main
from revoke_check.model.config import parse_config
from revoke_check.model.variants import get_protocol
from revoke_check.properties import PropertyError, compile_checks, get_properties
from revoke_check.replay import replay
from revoke_check.run import build, check
from revoke_check.semantics import Semantics
from revoke_check.engines import compiled
from revoke_check.engines.explicit import explore
from revoke_check.engines.por import Por
from revoke_check.engines.reduced import explore_reduced

from conftest import own_compiled_cache
from test_reductions import _syn   # the synthetic flips/checker protocol

pytestmark = pytest.mark.skipif(compiled.find_compiler() is None, reason="no C compiler")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _own_cache(tmp_path_factory):
    with own_compiled_cache(tmp_path_factory):
        yield


def _same_search(a, b):
    """What the two reduced searches must agree on (the stored states and expanded edges)."""
    assert (b.verdict, b.property) == (a.verdict, a.property)
    assert (b.distinct_states, b.transitions) == (a.distinct_states, a.transitions)
    assert b.reductions["notes"] == a.reductions["notes"]
    assert b.reductions["por"] is True
    assert (len(b.trace) if b.trace else 0) == (len(a.trace) if a.trace else 0)


# holding and violated entries: lock-order (unmap-takes-memory-lock), step assertions
# (no-wait-for-unmap: the map assertion; v5-dma-buf-fd-leak: a refcount underflow),
# deadlock (a terminal state), an invariant, and a holding run with lock-order on
PICK = [("tiny", "upstream", None), ("close-paths", "config-write-error-unrevokes", None),
        ("bar-mmap-revoke", "bar-mmap-dmabuf-v4", ("dmabuf-pte-needs-ok",)),
        ("write-fails", "upstream", None),
        ("mmap", "unlocked-fault-check", ("no-cpu-mapping-while-disabled",)),
        ("default", "unmap-takes-memory-lock", ("lock-order",)),
        ("default", "unmap-takes-memory-lock", ("deadlock-free",)),
        ("default", "no-wait-for-unmap", ("revoked-means-unmapped",)),
        ("default", "v5-dma-buf-fd-leak", ("refcounts",))]
MANIFEST = [e for e in load_manifest() if e.engine == "explicit" and e.protocol is None]


def _entry(config, variant, props):
    """The manifest entry of config@variant with every property (``props`` None), or the one
    whose properties start with ``props``."""
    hits = [e for e in MANIFEST if (e.config, e.variant) == (config, variant)
            and (not e.properties if props is None else tuple(e.properties or ())[:len(props)] == props)]
    assert len(hits) == 1, (config, variant, props)
    return hits[0]


@pytest.mark.parametrize("key", PICK, ids=[f"{c}@{v}" + (f"[{p[0]}]" if p else "") for c, v, p in PICK])
def test_compiled_por_is_the_python_por_search(key):
    entry = _entry(*key)
    props = entry.properties or None
    py = check(entry.config, entry.variant, props, engine="explicit", por=True)
    c = check(entry.config, entry.variant, props, engine="compiled", por=True)
    _same_search(py, c)
    # the unreduced pinned result: verdict, property, shortest length
    assert c.verdict == entry.verdict, c.message
    if entry.verdict == "violated":
        assert (c.property, len(c.trace)) == (entry.property, entry.trace_length)
        assert c.reductions["shortest_search"]["depth"] >= entry.trace_length
        m, ch = build(entry.config, entry.variant, props)
        rr = replay(c.trace, Semantics(m, ch))
        assert rr.ok and rr.violation and rr.violation[0] == entry.property
    else:
        assert c.distinct_states <= entry.distinct_states
        assert c.reductions["notes"][-1].startswith("por: ") and "expanded partially" in c.reductions["notes"][-1]


def test_the_picks_cover_lock_order_and_step_assertions():
    kinds = set()
    for c, v, p in PICK:
        _, ch = build(c, v, _entry(c, v, p).properties or None)
        kinds |= {"lock-order"} if ch.lock_order else set()
        kinds |= {"step"} if ch.step_asserts else set()
        kinds.add(_entry(c, v, p).verdict)
    assert kinds >= {"lock-order", "step", "holds", "violated"}


def test_compiled_por_reduces_where_python_does():
    """The synthetic flips (two invisible independent threads): 9 states unreduced, 5 with POR."""
    m, c = _syn("flips", [])
    assert compiled.explore(m, c).distinct_states == 9
    r = compiled.explore(m, c, por=True)
    assert (r.verdict, r.distinct_states) == ("holds", 5)
    _same_search(explore_reduced(*_syn("flips", []), por=True), r)
    assert r.reductions["notes"][-1] == "por: 2 of 5 states expanded partially"
    m, c = _syn("all", ["x-clear-at-check"])
    _same_search(explore_reduced(m, c, por=True), compiled.explore(m, c, por=True))


@pytest.mark.parametrize("naive", ["visibility", "attached"])
def test_compiled_por_follows_the_tables_even_when_they_are_unsound(naive):
    """The unsound naive reductions of test_reductions miss the violation in C too: the C
    uses the Python tables and provisos as given (and the sound ones find it)."""
    m, c = _syn("flips" if naive == "visibility" else "check")
    bad = compiled.explore(m, c, por=True, _por=Por(m, c, naive=naive))
    assert bad.verdict == "holds"
    assert bad.distinct_states == explore_reduced(m, c, por=True, _por=Por(m, c, naive=naive)).distinct_states
    good = compiled.explore(m, c, por=True)
    assert (good.verdict, len(good.trace)) == ("violated", 2)


def test_default_without_visibility_reduces_and_agrees():
    """Without C2 POR has real work on `default` (benchmarks/reductions.md: 11,057 -> 10,324
    states with nothing visible): the closures, C3 and the candidate order in C give the
    Python count, edge count and partial-expansion count."""
    m, c = build("default", "upstream", ["refcounts"])
    c.properties = [p for p in c.properties if not p.liveness]
    c.invariants, c.state_witness = [], []
    py = explore_reduced(m, c, por=True, _por=Por(m, c, naive="visibility"))
    cc = compiled.explore(m, c, por=True, _por=Por(m, c, naive="visibility"))
    assert py.distinct_states < 11057
    assert (cc.distinct_states, cc.transitions, cc.reductions["notes"]) == \
        (py.distinct_states, py.transitions, py.reductions["notes"])


def test_symmetry_and_por_together():
    bench = tomllib.loads((ROOT / "benchmarks" / "configs.toml").read_text())
    p = get_protocol(None)

    def mk():
        m = p.build(parse_config("two-devs", bench["two-devs"]))
        return m, compile_checks(m, [x for x in get_properties(None, p) if not x.liveness])
    py = explore_reduced(*mk(), symmetry=True, por=True)
    c = compiled.explore(*mk(), symmetry=True, por=True)
    _same_search(py, c)
    assert c.distinct_states == 4753 and c.reductions["symmetry"] is True


def test_random_mutants_agree():
    """Random small mutants of upstream (revoke_check/ci/difftest.py): the same reduced
    search in both engines, and the unreduced verdict and shortest length."""
    from revoke_check.ci.difftest import build_case, random_case
    mk = build_case       # safety properties only (the reductions do not check liveness)
    kinds = set()
    for seed in range(2000, 2006):
        case = random_case(seed)
        if case is None:
            continue
        e = explore(*mk(case))
        c = compiled.explore(*mk(case), por=True)
        _same_search(explore_reduced(*mk(case), por=True), c)
        assert (c.verdict, c.property, len(c.trace) if c.trace else 0) == \
            (e.verdict, e.property, len(e.trace) if e.trace else 0), case.describe()
        kinds.add(e.verdict)
    assert "violated" in kinds and len(kinds) >= 2


# --- refusals -----------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [["--workers", "2"], ["--checkpoint", "CK"], ["--hash-compaction"]])
def test_cli_refuses_por_with_parallel_or_compacted_search(extra, tmp_path):
    extra = [str(tmp_path / "ck") if x == "CK" else x for x in extra]
    r = CliRunner().invoke(main, ["check", "-c", "tiny", "-e", "compiled", "--por", "-q", *extra])
    assert r.exit_code == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("revoke-check: error:") and "--por" in err[0]


def test_the_engine_itself_refuses_a_parallel_reduced_search():
    m, c = _syn("flips", [])
    for kw in (dict(workers=2), dict(hash_compaction=True)):
        with pytest.raises(ValueError, match="reduces sequentially"):
            compiled.explore(m, c, por=True, **kw)


def test_por_refuses_distributed_and_liveness_alone():
    r = CliRunner().invoke(main, ["check", "-c", "tiny", "-e", "distributed", "--por", "-q"])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    with pytest.raises(PropertyError, match="does not keep fair cycles"):
        check("retry", None, ["revoke-is-temporary"], engine="compiled", por=True)
    r = check("tiny", None, ["revoke-is-temporary", "refcounts"], engine="compiled", por=True)
    assert r.reductions["por"] is True and "not checked with --por: revoke-is-temporary" in r.message


def test_cli_compiled_por_says_so():
    r = CliRunner().invoke(main, ["check", "-c", "write-fails", "-e", "compiled", "--por", "-q", "--json"])
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["verdict"] == "violated" and out["engine"] == "compiled"
    assert out["reductions"]["por"] is True
