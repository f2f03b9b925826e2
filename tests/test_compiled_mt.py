"""The compiled engine on several workers, and its checkpoints.

``--workers 2`` must report exactly what one worker reports (distinct states,
transitions, depth, coverage, witnesses, verdict, violated property, the first
counterexample) on every safety entry of manifest.toml; chunks of a few parents
split each BFS level so that duplicates across chunks and within one are both
exercised.  A search stopped by a state limit with ``--checkpoint`` and resumed
with ``--recover`` must end exactly as an uninterrupted one; a checkpoint of
another model or a damaged one is refused (one line, exit 2).
"""
import os
import subprocess
import sys

import pytest

from revoke_check.engines import compiled
from revoke_check.engines.compiled_mt import CheckpointError
from revoke_check.ci.manifest import load_manifest
from conftest import own_compiled_cache
from revoke_check.run import build

from test_compiled import _safety, _summary

needs_cc = pytest.mark.skipif(compiled.find_compiler() is None, reason="no C compiler")


@pytest.fixture(scope="module", autouse=True)
def _own_cache(tmp_path_factory):
    with own_compiled_cache(tmp_path_factory):
        yield


def _run(config, variant=None, props=None, protocol=None, **kw):
    m, c = build(config, variant, props, protocol)
    return _summary(compiled.explore(m, _safety(c), **kw))


def _safety_entries():
    from revoke_check.properties import get_properties
    from revoke_check.model.variants import get_protocol
    out = []
    for e in load_manifest():
        if e.engine != "explicit" or e.fairness or e.strong_fair:
            continue
        props = get_properties(e.properties or None, get_protocol(e.variant, protocol=e.protocol))
        if not any(p.liveness for p in props) or not e.properties:
            out.append(e)
    return out


def _representative(entries):
    """The first violated entry of each property, and the first holding entry of 8 configs."""
    seen, out = set(), []
    for e in entries:
        key = ("v", e.property) if e.verdict == "violated" else ("h", e.config)
        if key not in seen and (key[0] == "v" or sum(k[0] == "h" for k in seen) < 8):
            seen.add(key)
            out.append(e)
    return out


@needs_cc
def test_two_workers_match_one_on_the_manifest():
    """Every safety entry with REVOKE_CHECK_MT_ALL=1 (about 4 minutes), else a representative set."""
    entries = _safety_entries()
    assert len(entries) >= 20
    if not os.environ.get("REVOKE_CHECK_MT_ALL"):
        entries = _representative(entries)
        assert sum(e.verdict == "violated" for e in entries) >= 10
    for e in entries:
        args = (e.config, e.variant, e.properties or None, e.protocol)
        one = _run(*args)
        two = _run(*args, workers=2, _chunk=3)
        assert two == one, e.name
        assert two["verdict"] == e.verdict and two["distinct"] == e.distinct_states, e.name
    kinds = {_run(e.config, e.variant, e.properties or None, e.protocol, workers=2)["property"]
             for e in entries if e.verdict == "violated"}
    assert {"lock-order", "deadlock-free"} <= kinds


@needs_cc
@pytest.mark.parametrize("workers,chunk", [(1, 1), (3, 64), (2, None)])
def test_chunking_and_worker_counts_do_not_change_the_search(workers, chunk):
    one = _run("wide")
    assert _run("wide", workers=workers, _chunk=chunk) == one
    assert one["verdict"] == "holds" and one["distinct"] > 30000


@needs_cc
def test_hash_compaction_on_two_workers():
    assert _run("default", hash_compaction=True, workers=2, _chunk=5) == \
        _run("default", hash_compaction=True)


@needs_cc
@pytest.mark.parametrize("config,variant,limit", [("wide", None, 9000),
                                                   ("default", "v5-unrevoke-after-reset", 700),
                                                   ("default", None, 1)])
def test_resume_from_a_checkpoint_ends_as_an_uninterrupted_search(tmp_path, config, variant, limit):
    whole = _run(config, variant)
    ck = tmp_path / "search.ck"
    part = _run(config, variant, max_states=limit, checkpoint=str(ck), workers=2, _chunk=17)
    assert part["verdict"] == "incomplete" and part["distinct"] < whole["distinct"]
    assert ck.exists() and not (tmp_path / "search.ck.tmp").exists()
    assert _run(config, variant, recover=str(ck), workers=2) == whole
    assert _run(config, variant, recover=str(ck)) == whole      # one worker resumes it too


@needs_cc
def test_periodic_checkpoint_resumes(tmp_path):
    ck = tmp_path / "p.ck"
    whole = _run("wide", checkpoint=str(ck), checkpoint_every=1e-9, _chunk=50)
    assert ck.exists()          # written between chunks; the last one is of a late point
    assert _run("wide", recover=str(ck)) == whole == _run("wide")


@needs_cc
def test_a_checkpoint_of_another_model_or_a_damaged_one_is_refused(tmp_path):
    ck = tmp_path / "a.ck"
    _run("default", max_states=300, checkpoint=str(ck))
    with pytest.raises(CheckpointError, match="another model"):
        _run("wide", recover=str(ck))
    with pytest.raises(CheckpointError, match="another model"):
        _run("default", props=["deadlock-free"], recover=str(ck))
    with pytest.raises(CheckpointError, match="another model"):
        _run("default", recover=str(ck), hash_compaction=True)
    data = bytearray(ck.read_bytes())
    bad = tmp_path / "bad.ck"
    data[len(data) // 2] ^= 0x40
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        _run("default", recover=str(bad))
    bad.write_bytes(ck.read_bytes()[:-3])
    with pytest.raises(CheckpointError, match="corrupt"):
        _run("default", recover=str(bad))
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        _run("default", recover=str(bad))
    # the CLI: one line, exit 2
    cmd = [sys.executable, "-m", "revoke_check", "check", "-c", "wide", "-e", "compiled", "-q",
           "--recover", str(ck)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        f"revoke-check: error: {ck}: a checkpoint of another model, properties or search "
        "(its digest or hash compaction differs)"]


@needs_cc
def test_cli_checkpoint_then_recover(tmp_path):
    ck = tmp_path / "c.ck"
    base = [sys.executable, "-m", "revoke_check", "check", "-c", "default", "-v",
            "v5-unrevoke-after-reset", "-e", "compiled", "-q", "--workers", "2"]
    p = subprocess.run(base + ["--max-states", "500", "--checkpoint", str(ck)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 3 and ck.exists()
    p = subprocess.run(base + ["--recover", str(ck)], capture_output=True, text=True, timeout=120)
    q = subprocess.run(base[:-2], capture_output=True, text=True, timeout=120)
    assert p.returncode == q.returncode == 1
    strip = [ln for ln in p.stdout.splitlines() if " distinct states" not in ln]
    assert strip == [ln for ln in q.stdout.splitlines() if " distinct states" not in ln]
    assert "2186 distinct states" in p.stdout and "2186 distinct states" in q.stdout
    p = subprocess.run(base[:-2] + ["-e", "explicit", "--workers", "2"], capture_output=True, text=True)
    assert p.returncode == 2 and "needs --engine compiled" in p.stderr


@needs_cc
def test_resume_with_hash_compaction(tmp_path):
    ck = tmp_path / "hc.ck"
    whole = _run("wide", hash_compaction=True)
    part = _run("wide", hash_compaction=True, max_states=12000, checkpoint=str(ck), _chunk=40)
    assert part["distinct"] < whole["distinct"]
    assert _run("wide", hash_compaction=True, recover=str(ck), workers=2) == whole
    with pytest.raises(CheckpointError, match="another model"):
        _run("wide", recover=str(ck))
