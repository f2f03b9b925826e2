"""k-induction strengthened with lemmas proves what the explicit explorer says holds.

Every manifest entry that holds is proven for all depths by ``kind``
(1-induction plus lemmas, all checked by z3), and the lemmas are only
suggestions: an oracle that misses reachable states cannot yield a proof.
"""
import pytest

from revoke_check.engines.lemmas import Oracle, strengthen
from revoke_check.ci.manifest import load_manifest
from revoke_check.run import build, check
from revoke_check.engines.symbolic import make_encoding

# every holding entry up to 12,000 states (kind's lemma search grows with the reachable set;
# the larger ones are proven by hand: `revoke-check check -c CONFIG -v VARIANT -e kind`)
HOLDS = [e for e in load_manifest() if e.engine == "explicit" and e.verdict == "holds"
         and (e.distinct_states or 0) <= 12000]


KIND_SECONDS = 90.0


@pytest.mark.parametrize("entry", HOLDS, ids=[e.name for e in HOLDS])
def test_kind_proves_every_holding_entry(entry):
    r = check(entry.config, entry.variant, entry.properties or None, engine="kind",
              protocol=entry.protocol, max_seconds=KIND_SECONDS)
    if r.verdict == "incomplete" and "time limit" in (r.message or ""):
        # never a wrong answer, only a slow one: the lemma search of a few entries (the
        # lifetimes and SR-IOV configs) takes minutes; CI keeps its time
        pytest.skip(f"kind: no proof within {KIND_SECONDS:g} s ({r.message})")
    assert r.verdict == "holds", r.message
    assert r.proof == 1 and r.bound is None and r.lemmas > 0
    js = r.to_json()
    assert js["engine"] == "kind" and js["proof"] == 1 and js["bound"] is None


def test_kind_finds_a_shortest_violation_through_its_base_case():
    r = check("default", "flr-revoke-typo", ["undo-restores-every-revoke"], engine="kind")
    assert r.verdict == "violated" and r.property == "undo-restores-every-revoke"
    assert len(r.trace) == 10 and r.lemmas is None


def test_plain_kind_without_lemmas_does_not_close_and_says_so():
    r = check("minimal", None, None, engine="kind", depth=3, lemmas=False)
    assert r.verdict == "incomplete" and r.proof is None
    assert "does not close up to k=3" in r.message


def test_show_invariant_prints_the_lemmas_as_clauses():
    r = check("minimal", None, None, engine="kind", show_invariant=True)
    assert len(r.invariant) == r.lemmas
    assert all(line.startswith("not (") for line in r.invariant)


def test_an_oracle_missing_reachable_states_cannot_prove():
    model, checks = build("minimal", None, ["refcounts"])
    enc = make_encoding(model, checks, "bv")
    oracle = Oracle([model.init], [v.domain for v in model.vars])   # only the initial state
    out = strengthen(enc, checks, oracle)
    assert out.status == "disagreement" and "disagree" in out.message


def test_lock_order_alone_is_refused_by_the_z3_engines():
    from revoke_check.properties import PropertyError
    with pytest.raises(PropertyError, match="explicit checks it"):
        check("default", "unmap-takes-memory-lock", ["lock-order"], engine="kind")
