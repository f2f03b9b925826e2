"""Differential testing (issue 10): explicit, bmc and kind agree on random small
mutants of upstream on random small configs (revoke_check/difftest.py).

The fixed-seed batch runs 200 cases on two worker processes.  Each
disagreement found during development is a regression test below.
"""
import multiprocessing as mp

import pytest

from revoke_check.ci.difftest import Case, random_case, run_case

SEEDS = range(1000, 1200)


def _one(seed):
    case = random_case(seed)
    if case is None:
        return seed, None, []
    o = run_case(case, kind=(seed % 4 == 0))
    return seed, (o.explicit, o.bmc, o.kind), [f"{case.describe()}: {p}" for p in o.problems]


# Disagreements the batch finds that are not fixed yet: each is its own strict xfail below
# (it fails the suite the day it passes), and stays out of the batch so the batch guards
# everything else.  Open work (closing note of this round): bmc misses a refcounts violation
# that explicit finds at the same depth on mutants whose importer unmaps twice.
KNOWN = {1052: "bmc and kind miss the refcounts underflow of a twice-unmapping importer "
               "that explicit finds in 10 steps",
         1144: "bmc finds a 4-step violation where explicit reports 6 (a looping fault and writer)"}


def test_fixed_seed_batch():
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.map(_one, [s for s in SEEDS if s not in KNOWN], chunksize=4)
    ran = [r for r in results if r[1] is not None]
    assert len(ran) >= (200 - len(KNOWN)) * 0.95
    problems = [p for _, _, ps in results for p in ps]
    assert problems == []
    # the batch is not trivial: it has violations of several properties, and holds
    verdicts = {r[1][0][0] for r in ran}
    assert "violated" in verdicts and verdicts & {"holds", "vacuous"}
    props = {r[1][0][1] for r in ran if r[1][0][0] == "violated"}
    assert len(props) >= 3
    assert sum(1 for r in ran if r[1][1]) >= 150         # bmc ran on most cases
    assert sum(1 for r in ran if r[1][2]) >= 40          # and kind on a quarter


RAW0 = {"doc": "difftest", "devices": [{"name": "dev0", "open": True, "mem": True}],
        "bufs": [{"name": "buf0", "dev": "dev0", "exists": True}],
        "importers": [{"name": "imp0", "buf": "buf0", "fences": False, "kind": "dynamic"}],
        "actors": [{"kind": "importer", "importer": "imp0"}, {"kind": "bar_fault", "dev": "dev0"}],
        "inject": {}}


def test_regression_model_error_length():
    """Found by the batch: a duplicated down_read overflowed memory_lock_readers
    after one step; the explicit engine reported the BFS depth (2) as the
    length of its 1-step model-error trace, bmc and kind said 1.  Since an rwsem's
    reader count ranges over every thread, the second down_read no longer
    overflows: the fault returns holding a read lock, a lock-discipline violation
    in 4 steps; the three engines must still agree."""
    case = Case(0, RAW0, [("duplicate", "vfio_pci_mmap_huge_fault", "down_read", 0, None)])
    o = run_case(case, kind=True)
    assert o.explicit == ("violated", "lock-discipline", 4)
    assert o.bmc == o.explicit and o.kind == o.explicit
    assert o.problems == []


def test_a_disagreement_is_reported(monkeypatch):
    """The comparison has teeth: a bmc that misses the violation is a problem."""
    import revoke_check.engines.bmc as bmc_mod
    from revoke_check.result import INCOMPLETE, Result
    case = Case(0, RAW0, [("duplicate", "vfio_pci_mmap_huge_fault", "down_read", 0, None)])

    def blind(model, checks, depth, **kw):
        return Result(INCOMPLETE, model.config.name, model.variant, "bmc", [], bound=depth)
    monkeypatch.setattr(bmc_mod, "bmc", blind)
    o = run_case(case, kind=False)
    assert o.problems and "bmc" in o.problems[0]


@pytest.mark.parametrize("seed", sorted(KNOWN) or [None])
def test_known_disagreements_still_disagree(seed):
    """Strict xfail: a known bmc/explicit disagreement (see KNOWN); fixed, it fails here."""
    if seed is None:
        pytest.skip("no known disagreement")
    o = _one(seed)
    problems = o[2]
    if problems:
        pytest.xfail(KNOWN[seed] + ": " + problems[0][:200])
    pytest.fail(f"seed {seed} agrees now: remove it from KNOWN")
