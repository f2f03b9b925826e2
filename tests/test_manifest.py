"""Every explicit entry of manifest.toml: verdict, violated property, states, trace length."""
import pytest

from revoke_check.ci.manifest import compare, load_manifest, run_entry
from revoke_check.replay import replay
from revoke_check.run import build
from revoke_check.semantics import Semantics

ENTRIES = [e for e in load_manifest() if e.engine == "explicit"]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_manifest_entry(entry):
    r = run_entry(entry)
    assert compare(entry, r) == []
    if r.verdict == "violated":
        # the shortest counterexample replays on its own variant and reaches the same property
        model, checks = build(entry.config, entry.variant, entry.properties or None, entry.protocol)
        rr = replay(r.trace, Semantics(model, checks))
        assert rr.ok and rr.violation and rr.violation[0] == entry.property


def test_every_variant_has_an_expected_result_in_the_manifest():
    from revoke_check.model.variants import VARIANTS
    pinned = {e.variant for e in ENTRIES}
    assert set(VARIANTS) <= pinned, set(VARIANTS) - pinned


def test_upstream_holds_on_the_three_named_configs():
    holds = {e.config for e in ENTRIES if e.variant == "upstream" and e.verdict == "holds"}
    assert {"minimal", "default", "wide"} <= holds
