"""States and time with and without --symmetry / --por (benchmarks/reductions.md).

    python benchmarks/bench_reductions.py [--rows CONFIG@VARIANT,...] [--python-max N]
    python benchmarks/bench_reductions.py --compiled-por [--rows large@upstream,...]

Every row checks every safety property (liveness is left out by the reductions; the
unreduced column leaves it out too, so the rows compare the same checks).  Explicit
(Python) columns: unreduced, --symmetry, --por, both; compiled (C) columns: unreduced and
--symmetry.  Seconds are wall time including the z3 proofs of the symmetry and the
visibility analysis (not the C compilation).  Python runs above --python-max unreduced
states are skipped.  ``--compiled-por``: the compiled engine without and with --por
(states, edges, seconds of the search and of POR's static analysis, partially expanded
states) instead.
"""
from __future__ import annotations

import argparse
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT = ["default@upstream", "wide@upstream", "default2@upstream", "default-imp2@upstream",
           "wide-sym@upstream", "imp3@upstream", "two-devs@upstream"]


def _build(config, variant):
    from revoke_check.model.config import get_config, load_configs, parse_config
    from revoke_check.model.variants import get_protocol
    from revoke_check.properties import compile_checks, get_properties
    p = get_protocol(None if variant == "upstream" else variant)
    if config in load_configs():
        cfg = get_config(config)
    else:
        raw = tomllib.loads((ROOT / "benchmarks" / "configs.toml").read_text())
        cfg = parse_config(config, raw[config]) if config in raw else p.config(config)   # e.g. large
    m = p.build(cfg)
    return m, compile_checks(m, [x for x in get_properties(None, p) if not x.liveness])


def _timed(fn):
    t = time.monotonic()
    r = fn()
    return r, time.monotonic() - t


def row(config, variant, python_max):
    from revoke_check.engines.compiled import explore as c_explore, generate_c, load
    from revoke_check.engines.explicit import explore
    from revoke_check.engines.reduced import explore_reduced
    from revoke_check.engines.symmetry import find_symmetry
    out = {"row": f"{config}@{variant}"}
    m, c = _build(config, variant)
    load(generate_c(m, c))                      # compile outside the timings
    r, t = _timed(lambda: c_explore(m, c))
    out["full"], out["c_full_s"], out["verdict"] = r.distinct_states, t, r.verdict
    sym = find_symmetry(m, c)
    out["sym_notes"] = sym.describe()
    load(generate_c(m, c, sym=sym))
    r, t = _timed(lambda: c_explore(*_build(config, variant), symmetry=True))
    out["c_sym"], out["c_sym_s"] = r.distinct_states, t
    assert r.verdict == out["verdict"], (r.verdict, out["verdict"])
    if out["full"] <= python_max:
        r, t = _timed(lambda: explore(*_build(config, variant)))
        out["py_full_s"] = t
        for name, kw in (("sym", dict(symmetry=True)), ("por", dict(por=True)),
                         ("both", dict(symmetry=True, por=True))):
            r, t = _timed(lambda: explore_reduced(*_build(config, variant), **kw))
            assert r.verdict == out["verdict"], (name, r.verdict, out["verdict"])
            out[name], out[name + "_s"] = r.distinct_states, t
            if name == "por":
                out["por_notes"] = "; ".join(r.reductions["notes"])
    return out


def compiled_por_row(config, variant):
    """The compiled engine unreduced and with --por on one instance (C compiled beforehand)."""
    from revoke_check.engines.compiled import explore as c_explore, generate_c, load
    from revoke_check.engines.por import Por
    m, c = _build(config, variant)
    load(generate_c(m, c))
    stats = {}
    r, t = _timed(lambda: c_explore(m, c, stats=stats))
    out = {"row": f"{config}@{variant}", "verdict": r.verdict, "full": r.distinct_states,
           "full_edges": r.transitions, "full_s": t, "full_mb": stats["bytes"] / 2**20}
    m, c = _build(config, variant)
    po, t_static = _timed(lambda: Por(m, c))
    load(generate_c(m, c, por=po))
    stats = {}
    r, t = _timed(lambda: c_explore(m, c, por=True, _por=po, stats=stats))
    assert r.verdict == out["verdict"], (r.verdict, out["verdict"])
    out.update(por=r.distinct_states, por_edges=r.transitions, por_s=t, static_s=t_static,
               por_mb=stats["bytes"] / 2**20, notes="; ".join(r.reductions["notes"]))
    return out


def main_compiled_por(rows):
    print("| instance | verdict | states | edges | s | MB | states --por | edges --por | s --por "
          "(+ static analysis) | MB --por |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---:|")
    notes = []
    for spec in rows.split(","):
        config, _, variant = spec.partition("@")
        o = compiled_por_row(config, variant or "upstream")
        print(f"| {o['row']} | {o['verdict']} | {fmt(o['full'])} | {fmt(o['full_edges'])} | {o['full_s']:.1f} "
              f"| {o['full_mb']:.0f} | {fmt(o['por'])} | {fmt(o['por_edges'])} | {o['por_s']:.1f} "
              f"(+ {o['static_s']:.1f}) | {o['por_mb']:.0f} |", flush=True)
        notes.append(f"* {o['row']}: {o['notes']}")
    print()
    print("\n".join(notes))


def fmt(n):
    return f"{n:,}" if isinstance(n, int) else "—"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default=",".join(DEFAULT))
    ap.add_argument("--python-max", type=int, default=60_000)
    ap.add_argument("--compiled-por", action="store_true",
                    help="the compiled engine without and with --por (default rows: large@upstream)")
    a = ap.parse_args(argv)
    if a.compiled_por:
        main_compiled_por(a.rows if a.rows != ",".join(DEFAULT) else "large@upstream")
        return
    print("| instance | verdict | states | --symmetry | --por | both | Python s: none / sym / por / both "
          "| compiled states --symmetry | compiled s: none / sym |")
    print("|---|---|---:|---:|---:|---:|---|---:|---|")
    notes = []
    for spec in a.rows.split(","):
        config, _, variant = spec.partition("@")
        o = row(config, variant or "upstream", a.python_max)
        py = " / ".join(f"{o[k]:.1f}" if k in o else "—" for k in ("py_full_s", "sym_s", "por_s", "both_s"))
        print(f"| {o['row']} | {o['verdict']} | {fmt(o['full'])} | {fmt(o.get('sym'))} | {fmt(o.get('por'))} "
              f"| {fmt(o.get('both'))} | {py} | {fmt(o['c_sym'])} | {o['c_full_s']:.2f} / {o['c_sym_s']:.2f} |",
              flush=True)
        notes.append(f"* {o['row']}: {o['sym_notes']}" + (f"; {o['por_notes']}" if o.get("por_notes") else ""))
    print()
    print("\n".join(notes))


if __name__ == "__main__":
    main()
