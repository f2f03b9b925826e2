"""The Spacer engine: Horn clauses over the same encoding, counterexamples replayed.

On this model Spacer decides many small queries (one per kind of bad state)
but not all of them (``benchmarks/engines.md``); what it must never do is say
``holds`` for a query it did not decide.
"""
import z3

from revoke_check.replay import replay
from revoke_check.run import build, check
from revoke_check.semantics import Semantics
from revoke_check.engines.spacer import encode, horn_clauses, invariant_text


def test_spacer_counterexample_is_shortest_and_replays():
    # the budget only bounds a hung solver (about 20 s of CPU here); nothing is timed
    r = check("tiny", "no-wait-for-unmap", None, engine="spacer", max_seconds=600)
    assert r.verdict == "violated" and r.property == "revoked-means-unmapped"
    assert len(r.trace) == 7      # the explicit explorer's shortest
    model, checks = build("tiny", "no-wait-for-unmap", None)
    rr = replay(r.trace, Semantics(model, checks))
    assert rr.ok and rr.violation[0] == "revoked-means-unmapped"


def test_spacer_out_of_time_is_incomplete_and_names_what_it_did_not_decide():
    r = check("tiny", None, None, engine="spacer", max_seconds=3)
    assert r.verdict == "incomplete" and r.proof is None
    assert "not decided:" in r.message and "time limit of 3s" in r.message


def _one_query(config, tag):
    model, checks = build(config, None, None)
    h = encode(model, checks)
    bad = next(b for b in h.bads if b.tag == tag)
    fp, reach, err = horn_clauses(h, bad.formula)
    fp.set("timeout", 60_000)
    return model, fp, reach, err


def test_spacer_proves_an_invariant_and_prints_it_over_the_variable_names():
    model, fp, reach, err = _one_query("tiny", "invariant:revoked-means-unmapped")
    assert fp.query(err()) == z3.unsat
    text = invariant_text(fp, reach, model)
    assert "mapped[imp0]" in text or "perm_revoked[imp0]" in text


def test_spacer_finds_a_reachable_bad_state_of_one_query():
    # a bad state the explicit explorer reaches: buf0 revoked while imp0 is attached
    model, checks = build("tiny", None, None)
    h = encode(model, checks)
    s = h.s
    slot = {v.name: i for i, v in enumerate(model.vars)}
    bad = z3.And(s[slot["revoked[buf0]"]] == 1, s[slot["attached[imp0]"]] == 1)
    fp, reach, err = horn_clauses(h, bad)
    assert fp.query(err()) == z3.sat
