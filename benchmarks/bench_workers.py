"""The compiled engine on 1 and N workers: the same search, its wall time.

    python benchmarks/bench_workers.py [--instances large@upstream,...] [--workers 0,1,2] [--props none|all]
                                       [--max-seconds S] [-o FILE]

Workers 0 is the sequential search (``rc_explore``, what ``--workers 1`` runs);
1 and more the level-synchronous one, whose calling thread's CPU seconds per
phase (A: successors, lookups, checks on every worker; B: the sequential
bookkeeping; C: insertion and table growth on every worker) are shown.

Each run is its own process (so peak RSS is per run).  Every run must report the
same distinct states, transitions and verdict as the first (the script stops
otherwise).  Columns: wall = seconds of the C search (generating and compiling
the C apart); CPU = its user + system seconds (all threads); states/s = distinct
states per wall second; B/state = arena + parent ids + transition ids + hash
table per state; speedup = wall of 1 worker / wall of N.  On a machine shared
with other jobs the wall figures depend on the load (the CPU column shows how
much of the machine the run got).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


def one(config, variant, props, workers, max_seconds):
    from bench_spin import _model
    from revoke_check.engines import compiled
    from revoke_check.properties import compile_checks, get_properties
    m = _model(config, variant)
    checks = compile_checks(m, get_properties(None) if props == "all" else [])
    if props == "all":
        checks.properties = [p for p in checks.properties if not p.liveness]
        checks.liveness = []
    t0 = time.monotonic()
    compiled.load(compiled.generate_c(m, checks))
    build = time.monotonic() - t0
    st: dict = {}
    import tempfile
    with tempfile.TemporaryDirectory() as d:   # a checkpoint path selects the parallel search on 1 worker
        kw = {} if workers == 0 else {"workers": workers, "checkpoint": os.path.join(d, "ck"),
                                      "checkpoint_every": 1e12}
        r = compiled.explore(m, checks, stats=st, max_seconds=max_seconds, progress_secs=30.0, **kw)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"distinct": r.distinct_states, "transitions": r.transitions, "verdict": r.verdict,
            "depth": r.depth, "wall": st["c_seconds"], "cpu": st["c_cpu_seconds"], "build": build,
            "bytes": st["bytes"], "rss_mb": ru.ru_maxrss / 1024, "load": os.getloadavg()[0],
            "phases": st.get("phase_cpu")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", default="large@upstream")
    ap.add_argument("--workers", default="0,1,2")
    ap.add_argument("--props", default="none", choices=["none", "all"])
    ap.add_argument("--max-seconds", type=float, default=None)
    ap.add_argument("--output", "-o", default=None)
    ap.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        c, v, pr, w, ms = a.one
        print(json.dumps(one(c, v, pr, int(w), float(ms) if ms != "-" else None)))
        return
    lines = ["| instance | properties | workers | states | transitions | depth | verdict | wall s | CPU s "
             "| states/s (wall) | B/state | peak RSS MB | load avg | speedup | caller's CPU s in A / B / C |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for inst in a.instances.split(","):
        config, _, variant = inst.partition("@")
        base = None
        for w in (int(x) for x in a.workers.split(",")):
            p = subprocess.run([sys.executable, __file__, "--one", config, variant or "upstream", a.props,
                                str(w), str(a.max_seconds) if a.max_seconds else "-"],
                               capture_output=True, text=True)
            if p.returncode != 0:
                raise SystemExit(f"bench_workers: {inst} on {w} workers failed:\n{p.stderr[-2000:]}")
            r = json.loads(p.stdout.strip().splitlines()[-1])
            if base is None:
                base = r
            elif (r["distinct"], r["transitions"], r["verdict"]) != \
                    (base["distinct"], base["transitions"], base["verdict"]):
                raise SystemExit(f"bench_workers: {inst}: {w} workers disagree with {a.workers[0]}: {r} {base}")
            lines.append(f"| {inst} | {a.props} | {w} | {r['distinct']:,} | {r['transitions']:,} | {r['depth']} "
                         f"| {r['verdict']} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['distinct'] / r['wall']:,.0f} "
                         f"| {r['bytes'] / r['distinct']:.1f} | {r['rss_mb']:.0f} | {r['load']:.1f} "
                         f"| {base['wall'] / r['wall']:.2f}x | "
                         + (" / ".join(f"{x:.2f}" for x in r["phases"]) if r["phases"] else "—") + " |")
            print(lines[-1], file=sys.stderr)
    print("\n".join(lines))
    if a.output:
        Path(a.output).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
