"""The distributed engine on a local Ray cluster of two workers, against the compiled engine.

On manifest entries that hold and entries that are violated (an invariant, a
step assertion with a reference-count underflow, a lock-order cycle, a
deadlock) both engines must report the same verdict, violated property,
message, distinct states, transitions, depth, coverage, witnesses and first
counterexample, and the distributed trace must replay on the explicit
semantics.  One cluster serves the module (Ray takes seconds to start).
Skipped where ray (the ``distributed`` extra) or a C compiler is absent.
"""
import subprocess
import sys

import pytest

ray = pytest.importorskip("ray")

from revoke_check.ci.manifest import load_manifest  # noqa: E402
from revoke_check.engines import compiled, distributed  # noqa: E402
from revoke_check.replay import replay  # noqa: E402
from revoke_check.run import build  # noqa: E402
from revoke_check.semantics import Semantics  # noqa: E402
from conftest import own_compiled_cache  # noqa: E402
from test_compiled import _safety, _summary  # noqa: E402

pytestmark = [pytest.mark.skipif(compiled.find_compiler() is None, reason="no C compiler"),
              pytest.mark.xdist_group("ray")]

# (config, variant, properties): expected (verdict, property) from manifest.toml
ENTRIES = [
    ("minimal", "upstream", None),
    ("write-fails", "upstream", None),                       # invariant at the end of a failed write
    ("default", "v5-dma-buf-fd-leak", ["refcounts"]),        # step assertion on an underflow
    ("default", "unmap-takes-memory-lock", ["lock-order"]),  # a cycle in lockdep's graph
    ("bar-mmap-nvgrace", "bar-mmap-dmabuf-v4", ["deadlock-free"]),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with own_compiled_cache(tmp_path_factory):
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        yield ray.get_runtime_context().gcs_address
        ray.shutdown()


def _pinned(config, variant, props):
    for e in load_manifest():
        if (e.config, e.variant, e.properties or None, e.engine) == (config, variant, props, "explicit"):
            return e
    raise AssertionError(f"{config} {variant} {props} not in manifest.toml")


def test_same_results_as_compiled(cluster):
    seen = set()
    for config, variant, props in ENTRIES:
        m, c = build(config, variant, props)
        a = compiled.explore(m, _safety(c))
        m, c = build(config, variant, props)
        b = distributed.explore(m, _safety(c), workers=2)
        assert b.engine == "distributed"
        assert _summary(a) == _summary(b), (config, variant)
        e = _pinned(config, variant, props)
        assert (b.verdict, b.distinct_states) == (e.verdict, e.distinct_states), (config, variant)
        assert len(b.trace or []) == e.trace_length
        if b.verdict == "violated":
            seen.add(b.property)
            rr = replay(b.trace, Semantics(m, c))
            assert rr.ok and rr.steps_replayed == len(b.trace), rr.error
            if b.property != "lock-order":   # replay sees the dependencies along the trace only
                assert rr.violation and rr.violation[0] == b.property
    assert {"undo-restores-every-revoke", "refcounts", "lock-order", "deadlock-free"} <= seen


def test_model_error_and_state_limit(cluster):
    from test_compiled import _break_domain
    m, c = build("minimal", None, None)
    a = compiled.explore(_break_domain(m), c)
    m, c = build("minimal", None, None)
    b = distributed.explore(_break_domain(m), c, workers=2)
    assert a.verdict == b.verdict == "error" and a.message == b.message
    assert [s.label for s in a.trace.steps] == [s.label for s in b.trace.steps]
    assert a.distinct_states == b.distinct_states and a.transitions == b.transitions
    m, c = build("default", None, None)
    r = distributed.explore(m, c, workers=2, max_states=100)   # checked between levels
    assert r.verdict == "incomplete" and r.distinct_states > 100


def test_cli_joins_the_cluster(cluster, tmp_path):
    """--ray-address ADDR joins a running cluster (as on a real one) and the trace replays."""
    t = tmp_path / "t.json"
    p = subprocess.run([sys.executable, "-m", "revoke_check.cli", "check", "-q", "-e", "distributed",
                        "--ray-address", cluster, "--ray-workers", "2", "-c", "write-fails",
                        "--trace-out", str(t)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stderr
    assert "[distributed]: VIOLATED: undo-restores-every-revoke -- 35 distinct states" in p.stdout
    p = subprocess.run([sys.executable, "-m", "revoke_check.cli", "replay", str(t)],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "replays 7 steps" in p.stdout
    p = subprocess.run([sys.executable, "-m", "revoke_check.cli", "check", "-q", "-e", "distributed",
                        "--ray-address", cluster, "--ray-workers", "64", "-c", "tiny"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "the Ray cluster has 2 CPUs" in p.stderr and "Traceback" not in p.stderr


def test_unreachable_head_is_one_line():
    import socket
    with socket.socket() as sk:      # a port nothing listens on
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    p = subprocess.run([sys.executable, "-m", "revoke_check.cli", "check", "-q", "-e", "distributed",
                        "--ray-address", f"127.0.0.1:{port}", "-c", "tiny"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.startswith("revoke-check: error: cannot reach the Ray head")
    assert len(p.stderr.strip().splitlines()) == 1
