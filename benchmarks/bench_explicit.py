"""Measure the explicit explorer: states, transitions, states/second, peak memory.

    python benchmarks/bench_explicit.py [--repeat N] [CONFIG ...]

Prints a markdown table (best of N runs). Figures are reported, never asserted.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc


from revoke_check.model.config import load_configs
from revoke_check.run import build
from revoke_check.engines.explicit import explore


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("configs", nargs="*")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--variant", default="upstream")
    a = ap.parse_args()
    names = a.configs or list(load_configs())
    print("| config | variant | verdict | distinct states | transitions | depth | build s | explore s | states/s "
          "| peak MiB (tracemalloc) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        best = None
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            model, checks = build(name, a.variant)
            t1 = time.perf_counter()
            r = explore(model, checks)
            t2 = time.perf_counter()
            if best is None or t2 - t1 < best[2]:
                best = (r, t1 - t0, t2 - t1)
        model, checks = build(name, a.variant)
        tracemalloc.start()
        explore(model, checks)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        r, tb, te = best
        print(f"| {name} | {a.variant} | {r.verdict} | {r.distinct_states} | {r.transitions} | {r.depth} "
              f"| {tb:.3f} | {te:.3f} | {r.distinct_states / te:,.0f} | {peak:.1f} |")
    print(f"\nmax RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
          f"python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
