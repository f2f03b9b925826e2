"""The distributed engine on a local Ray cluster against the single-process compiled engine.

    python benchmarks/bench_distributed.py [--workers 2] [CONFIG@VARIANT ...]

Each instance is checked with every (safety) property by both engines; the
script stops if they disagree on the verdict, distinct states or transitions.
Wall time of the search, without building the model or compiling the C (both
engines load the cached library first); the distributed time includes
starting the workers' actors (shown apart), not the cluster.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_spin import _model  # noqa: E402

DEFAULT = ["default@upstream", "wide@upstream", "default2@upstream", "wide2@upstream"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("instances", nargs="*", default=DEFAULT)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--address", default="local")
    a = ap.parse_args()
    import ray
    from revoke_check.engines import compiled, distributed
    from revoke_check.properties import compile_checks, get_properties
    if a.address == "local":
        ray.init(num_cpus=a.workers, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=a.address, log_to_driver=False)
    print(f"| instance | states | transitions | compiled s | compiled states/s | "
          f"distributed ({a.workers} workers) s | of which starting actors | levels | "
          f"distributed states/s (search only) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for inst in a.instances:
        config, variant = inst.split("@")

        def fresh():
            m = _model(config, variant)
            c = compile_checks(m, [p for p in get_properties(None) if not p.liveness])
            return m, c
        m, c = fresh()
        compiled.load(compiled.generate_c(m, c))
        compiled.load(distributed.source(m, c))
        t = time.monotonic()
        r1 = compiled.explore(m, c)
        t1 = time.monotonic() - t
        m, c = fresh()
        t = time.monotonic()
        st = {}
        r2 = distributed.explore(m, c, workers=a.workers, stats=st)
        t2 = time.monotonic() - t
        t3 = t2 - st["start_seconds"]
        if (r1.verdict, r1.distinct_states, r1.transitions) != (r2.verdict, r2.distinct_states, r2.transitions):
            raise SystemExit(f"bench_distributed: {inst}: engines disagree: {r1.verdict} {r1.distinct_states} "
                             f"{r1.transitions} vs {r2.verdict} {r2.distinct_states} {r2.transitions}")
        n = r1.distinct_states
        print(f"| {inst} ({r1.verdict}) | {n:,} | {r1.transitions:,} | {t1:.2f} | {n / t1:,.0f} | "
              f"{t2:.2f} | {st['start_seconds']:.2f} | {st['levels']} | {n / t3:,.0f} |", flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
