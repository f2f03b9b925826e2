"""The z3 engines read the same encoding: bmc agrees with the explicit explorer.

For every violated manifest entry whose shortest counterexample is at most
MAX_LEN steps, bmc finds a violation of the same property with a trace of the
same length, and that trace (decoded from z3, replayed on the explicit
semantics before it is reported) replays again here.  Longer ones (18, 21
steps) take z3 minutes each and are measured by benchmarks/, not gated here.
On entries that hold, bmc to a small bound says *incomplete* with that bound.
"""
import pytest

from revoke_check.manifest import load_manifest
from revoke_check.replay import replay
from revoke_check.run import build, check
from revoke_check.semantics import Semantics

MAX_LEN = 12
ENTRIES = [e for e in load_manifest() if e.engine == "explicit"]
SHORT = [e for e in ENTRIES if e.verdict == "violated" and e.trace_length <= MAX_LEN
         and e.property != "lock-order"]
HOLDS = [e for e in ENTRIES if e.verdict == "holds" and e.variant == "upstream"]


@pytest.mark.parametrize("entry", SHORT, ids=[e.name for e in SHORT])
def test_bmc_finds_the_same_shortest_violation(entry):
    r = check(entry.config, entry.variant, entry.properties or None, engine="bmc",
              depth=entry.trace_length)
    assert r.verdict == "violated", r.message
    assert r.property == entry.property
    assert len(r.trace) == entry.trace_length
    model, checks = build(entry.config, entry.variant, entry.properties or None)
    rr = replay(r.trace, Semantics(model, checks))
    assert rr.ok and rr.violation and rr.violation[0] == entry.property


@pytest.mark.parametrize("entry", HOLDS, ids=[e.name for e in HOLDS])
def test_bmc_on_a_holding_entry_is_bounded_not_holds(entry):
    r = check(entry.config, entry.variant, None, engine="bmc", depth=4)
    assert r.verdict == "incomplete" and r.bound == 4
    assert "holds up to depth 4" in r.message


def test_a_z3_path_that_does_not_replay_is_an_internal_error():
    from revoke_check.result import Result
    from revoke_check.z3cex import report_counterexample
    from revoke_check.symbolic import Bad
    model, checks = build("default", "flr-revoke-typo", ["undo-restores-every-revoke"])
    sem = Semantics(model, checks)
    good = check("default", "flr-revoke-typo", ["undo-restores-every-revoke"], engine="bmc", depth=10)
    path = [model.transitions.index(next(t for t in model.transitions if t.label == s.label
                                         and t.thread == s.thread)) for s in good.trace.steps]
    res = Result("incomplete", "default", "flr-revoke-typo", "bmc", ["undo-restores-every-revoke"])
    broken = path[1:]    # drop the first step: the rest no longer fits the model
    bad = Bad("step:x", "undo-restores-every-revoke", "step-assertion", None, broken[-1])
    out = report_counterexample(res, sem, broken[:-1], bad, "bmc")
    assert out.verdict == "error" and out.message.startswith("internal error")
