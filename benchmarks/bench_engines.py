"""Time every engine on the upstream protocol, side by side (reported, never asserted).

    python benchmarks/bench_engines.py [--seconds S] [--depth K] [CONFIG ...]

explicit: exhaustive BFS.  bmc: z3 BMC to depth K (a bound, not a proof).
kind: z3 1-induction strengthened with lemmas (then plain k-induction) within
S seconds; kind-plain: k-induction without lemmas.  spacer: z3 Spacer, one
query per kind of bad state, S seconds in all.  Prints a markdown table.
"""
from __future__ import annotations

import argparse
import time


from revoke_check.run import check


def cell(r, t):
    if r.engine == "explicit":
        return f"{r.verdict}, {r.distinct_states} states, {t:.2f}s"
    if r.verdict == "incomplete":
        spacer = r.engine == "spacer" and ": Spacer" in r.message
        return f"{r.message.split(';')[0].split('(')[0].split(': Spacer')[0].strip()} ({t:.1f}s)" + (
            f", {r.message.split(': ', 1)[1].split(';')[0]}" if spacer else "")
    if r.lemmas:
        return f"{r.verdict} (proof k={r.proof}, {r.lemmas} lemmas), {t:.1f}s"
    return f"{r.verdict} (proof {r.proof}), {t:.1f}s" if r.proof else f"{r.verdict}, {t:.1f}s"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("configs", nargs="*", default=["minimal", "default", "wide"])
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--depth", type=int, default=10)
    a = ap.parse_args()
    print(f"| config | explicit | bmc (depth {a.depth}) | kind (≤{a.seconds:g}s) "
          f"| kind-plain (≤{a.seconds:g}s) | spacer (≤{a.seconds:g}s) |")
    print("|---|---|---|---|---|---|")
    for c in a.configs:
        row = []
        for eng, kw in (("explicit", {}), ("bmc", {"depth": a.depth, "max_seconds": a.seconds}),
                        ("kind", {"depth": 40, "max_seconds": a.seconds}),
                        ("kind-plain", {"depth": 40, "max_seconds": a.seconds, "lemmas": False}),
                        ("spacer", {"max_seconds": a.seconds})):
            t0 = time.monotonic()
            r = check(c, "upstream", None, engine=eng.split("-")[0], **kw)
            row.append(cell(r, time.monotonic() - t0))
        print(f"| {c} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
