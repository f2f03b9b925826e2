"""Long differential-testing batches: python benchmarks/difftest.py --cases 2000 --seed N [--jobs 2]

Prints one line per disagreement (and a summary); exit 1 if any.  See
revoke_check/difftest.py for what is compared.
"""
import argparse
import multiprocessing as mp
import sys
import time


from revoke_check.ci.difftest import random_case, run_case


def one(seed):
    case = random_case(seed)
    if case is None:
        return seed, None, [], 0.0
    o = run_case(case, kind=(seed % 4 == 0), live=(seed % 4 == 1))
    return seed, (o.explicit, o.bmc, o.kind), [f"{case.describe()}: {p}" for p in o.problems], o.seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0, help="first seed; cases use seed .. seed+cases-1")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    t0 = time.monotonic()
    ran = bad = 0
    verdicts: dict = {}
    with mp.get_context("spawn").Pool(a.jobs) as pool:
        for seed, keys, problems, secs in pool.imap_unordered(one, range(a.seed, a.seed + a.cases)):
            if keys is None:
                continue
            ran += 1
            verdicts[keys[0][0]] = verdicts.get(keys[0][0], 0) + 1
            for p in problems:
                bad += 1
                print(f"DISAGREEMENT {p}", flush=True)
            if ran % 100 == 0:
                print(f"  {ran} cases, {bad} disagreements, {time.monotonic() - t0:.0f}s", file=sys.stderr, flush=True)
    print(f"{ran} cases (explicit: {', '.join(f'{k} {v}' for k, v in sorted(verdicts.items()))}), "
          f"{bad} disagreements, {time.monotonic() - t0:.0f}s")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
