"""Our Python engine, our compiled engine and SPIN on the same instances, one markdown table.

Every engine explores the full reachable set with no property (SPIN gets our
Promela export, ``spin -o2 -a``, ``gcc -O2 -DNOREDUCE -DSAFETY``, no partial-order
reduction, a hash table of 2^(ceil(log2 states)+1) slots); the state counts must
agree, else the script stops.  The compiled engine is also timed with every
property (its normal use).  Each run is its own process, so peak RSS is per run.

    python benchmarks/bench_spin.py [--instances default,wide,...] [--python-max-states N] [-o FILE]

Columns: states/s = distinct states / CPU seconds (user + system) of the search
alone (building the model, generating and compiling C, and pan's compile are not
included; CPU time rather than wall time, so that a loaded machine distorts less);
B/state: compiled = its arena + parent ids + transition ids + hash table
(allocated) per state; SPIN = pan's "actual memory usage for states" per state
(its hash table apart, in the RSS column); Python = the growth of peak RSS during
the search per state; RSS = peak resident set of the run's process.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DEFAULT = ["default@upstream", "wide@upstream", "lowpower@unrevoke-checks-engaged",
           "default2@upstream", "wide2@upstream", "wide3@upstream"]


def _model(config: str, variant: str):
    from revoke_check.model.config import get_config, load_configs, parse_config
    from revoke_check.model.variants import get_protocol
    from revoke_check.model.protocol import upstream
    if config in load_configs() or config in upstream().configs:   # configs-large.toml too
        cfg = get_config(config)
    else:
        raw = tomllib.loads((ROOT / "benchmarks" / "configs.toml").read_text())
        if config not in raw:
            raise SystemExit(f"bench_spin: unknown config {config!r}")
        cfg = parse_config(config, raw[config])
    return get_protocol(None if variant == "upstream" else variant).build(cfg)


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(engine: str, config: str, variant: str, props: str) -> dict:
    """Run one engine in this process; a dict of figures."""
    from revoke_check.properties import compile_checks, get_properties
    m = _model(config, variant)
    checks = compile_checks(m, get_properties(None) if props == "all" else [])
    if engine == "spin":
        from revoke_check.reports.promela import run_spin, to_promela
        with tempfile.TemporaryDirectory() as d:
            # pan's hash table: twice the expected states (the caller passes the count)
            bits = int(os.environ.get("BENCH_HASH_BITS", "22"))
            t0 = time.monotonic()
            # pan's memory limit: BENCH_MEMLIM_MB (huge needs about 20 GB)
            r = run_spin(to_promela(m), d, hash_bits=bits, max_depth=100_000,
                         memlim_mb=int(os.environ.get("BENCH_MEMLIM_MB", "8192")))
            build = time.monotonic() - t0 - r["seconds"]
            return {"distinct": r["stored"], "transitions": r["transitions"] - 1,
                    "seconds": r["cpu_seconds"], "wall": r["seconds"],
                    "build": build, "bytes_per_state": r["states_mb"] * 2**20 / r["stored"],
                    "rss_mb": r["rss_mb"], "verdict": "n/a"}
    before = _rss_mb()
    if engine == "python":
        from revoke_check.engines.explicit import explore
        t0, c0 = time.monotonic(), _cpu()
        r = explore(m, checks)
        secs, wall = _cpu() - c0, time.monotonic() - t0
        return {"distinct": r.distinct_states, "transitions": r.transitions, "seconds": secs, "wall": wall,
                "build": 0.0, "bytes_per_state": (_rss_mb() - before) * 2**20 / r.distinct_states,
                "rss_mb": _rss_mb(), "verdict": r.verdict}
    from revoke_check.engines import compiled
    t0 = time.monotonic()
    compiled.load(compiled.generate_c(m, checks))          # build (or cache hit), timed apart
    build = time.monotonic() - t0
    st: dict = {}
    r = compiled.explore(m, checks, stats=st)
    return {"distinct": r.distinct_states, "transitions": r.transitions, "seconds": st["c_cpu_seconds"],
            "wall": st["c_seconds"],
            "build": build, "bytes_per_state": st["bytes"] / r.distinct_states,
            "packed_bytes": st["state_bytes"], "rss_mb": _rss_mb(), "verdict": r.verdict}


def run_child(engine, config, variant, props, env=None) -> dict:
    p = subprocess.run([sys.executable, __file__, "--one", engine, config, variant, props],
                       capture_output=True, text=True, env={**os.environ, **(env or {})})
    if p.returncode != 0:
        raise SystemExit(f"bench_spin: {engine} on {config}/{variant} failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", default=",".join(DEFAULT),
                    help="comma-separated CONFIG@VARIANT (configs of model/ or benchmarks/configs.toml)")
    ap.add_argument("--python-max-states", type=int, default=500_000,
                    help="skip the Python engine above this many states (it would take minutes)")
    ap.add_argument("--output", "-o", default=None, help="also write the table to FILE")
    ap.add_argument("--one", nargs=4, metavar=("ENGINE", "CONFIG", "VARIANT", "PROPS"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(*a.one)))
        return
    if not (shutil.which("spin") and shutil.which("gcc")):
        raise SystemExit("bench_spin: needs spin and gcc")
    rows = []
    for inst in a.instances.split(","):
        config, _, variant = inst.partition("@")
        variant = variant or "upstream"
        c = run_child("compiled", config, variant, "none")
        bits = max(10, math.ceil(math.log2(max(2, c["distinct"]))) + 1)
        s = run_child("spin", config, variant, "none", {"BENCH_HASH_BITS": str(bits)})
        if s["distinct"] != c["distinct"]:
            raise SystemExit(f"bench_spin: {inst}: SPIN stores {s['distinct']} states, we {c['distinct']}")
        ca = run_child("compiled", config, variant, "all")
        p = run_child("python", config, variant, "none") if c["distinct"] <= a.python_max_states else None
        if p is not None and p["distinct"] != c["distinct"]:
            raise SystemExit(f"bench_spin: {inst}: Python {p['distinct']} states, compiled {c['distinct']}")
        rows.append((inst, c, s, ca, p))
        print(f"bench_spin: {inst}: {c['distinct']} states done", file=sys.stderr)
    print(table(rows, a.python_max_states))
    if a.output:
        Path(a.output).write_text(table(rows, a.python_max_states) + "\n")


def table(rows, pmax) -> str:
    def rate(x):
        return x["distinct"] / x["seconds"] if x["seconds"] > 0 else float("inf")
    out = [
        "| instance | states | transitions | Python states/s | compiled states/s "
        "| compiled, all properties, states/s | SPIN states/s | compiled / SPIN (speed) "
        "| compiled / Python (speed) | Python B/state | compiled B/state (packed) | SPIN B/state "
        "| SPIN / compiled (B/state) | peak RSS MB: Python / compiled / SPIN |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for inst, c, s, ca, p in rows:
        cells = [inst, f"{c['distinct']:,}", f"{c['transitions']:,}",
                 f"{rate(p):,.0f}" if p else f"— (> {pmax:,} states)",
                 f"{rate(c):,.0f}", f"{rate(ca):,.0f}", f"{rate(s):,.0f}",
                 f"{rate(c) / rate(s):.2f}x", f"{rate(c) / rate(p):.0f}x" if p else "—",
                 f"{p['bytes_per_state']:.0f}" if p else "—",
                 f"{c['bytes_per_state']:.1f} ({c['packed_bytes']})",
                 f"{s['bytes_per_state']:.1f}",
                 f"{s['bytes_per_state'] / c['bytes_per_state']:.2f}x",
                 f"{p['rss_mb']:.0f} / {c['rss_mb']:.0f} / {s['rss_mb']:.0f}" if p else
                 f"— / {c['rss_mb']:.0f} / {s['rss_mb']:.0f}"]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
