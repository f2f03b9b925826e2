"""The encoding itself: sources, prose, witnesses, determinism."""
import re

import pytest

from revoke_check.model.config import ConfigError, get_config, load_configs, parse_config
from revoke_check.model.protocol import upstream
from revoke_check.model.variants import VARIANTS, get_protocol
from revoke_check.properties import PROPERTIES, compile_checks, get_properties
from revoke_check.engines.explicit import explore
from revoke_check.result import HOLDS

SOURCE = re.compile(r"^(drivers|fs|mm)/[\w/.-]+\.c:[a-z_][a-z0-9_]*$")


@pytest.mark.parametrize("variant", ["upstream", *VARIANTS])
@pytest.mark.parametrize("config", ["minimal", "default", "wide"])
def test_every_step_has_a_kernel_source_and_a_sentence(config, variant):
    m = get_protocol(variant).build(get_config(config))
    assert m.transitions
    for tr in m.transitions:
        assert SOURCE.match(tr.source), f"{tr.label}: source {tr.source!r} is not file.c:function"
        assert tr.doc and tr.doc.endswith(".") and len(tr.doc) > 15, f"{tr.label}: needs one sentence"


def test_every_property_has_a_docstring_and_a_witness():
    for name, p in PROPERTIES().items():
        assert len(p.doc.split()) > 15, name
        assert p.witnesses, f"{name} has no witness"


@pytest.mark.parametrize("config", ["minimal", "default", "wide", "mmap"])
def test_upstream_reaches_every_witness(config):
    m = upstream().build(get_config(config))
    r = explore(m, compile_checks(m, get_properties()))
    assert r.verdict == HOLDS
    missed = [w for w, ok in r.witnesses.items() if not ok]
    assert r.witnesses, "no witness applies"
    assert missed == [], missed


def test_minimal_is_reported_vacuous_for_nothing():
    m = upstream().build(get_config("minimal"))
    r = explore(m, compile_checks(m, get_properties()))
    assert r.verdict == HOLDS and r.vacuous == []


def test_a_property_whose_witnesses_are_unreachable_is_vacuous():
    # hot-reset-only witnesses cannot be reached on minimal (no hot reset thread)
    from revoke_check.properties import Property, Witness
    from revoke_check.model.expr import FALSE
    p = Property("never", "A property whose only witness cannot happen, so checking it proves nothing at all.",
                 invariant=lambda m: m.v.open[0] | ~m.v.open[0],
                 witnesses=(Witness("impossible", state=lambda m: FALSE),))
    m = upstream().build(get_config("minimal"))
    r = explore(m, compile_checks(m, [p]))
    assert r.verdict == "vacuous" and r.vacuous == ["never"]


def test_exploration_is_deterministic():
    m1 = upstream().build(get_config("default"))
    m2 = upstream().build(get_config("default"))
    assert m1.init == m2.init and [t.label for t in m1.transitions] == [t.label for t in m2.transitions]
    r1 = explore(m1, compile_checks(m1, get_properties()))
    r2 = explore(m2, compile_checks(m2, get_properties()))
    assert (r1.distinct_states, r1.transitions) == (r2.distinct_states, r2.transitions)


@pytest.mark.parametrize("raw, msg", [
    ({"devices": []}, "at least one device"),
    ({"devices": [{"name": "d", "open": True}], "actors": [{"kind": "bogus"}]}, "unknown actor kind"),
    ({"devices": [{"name": "d"}], "bufs": [{"name": "b", "dev": "e"}]}, "unknown name 'e'"),
    ({"devices": [{"name": "d"}], "colour": 1}, "unknown key 'colour'"),
    ({"devices": [{"name": "d", "open": False}], "actors": [{"kind": "ioctl_reset", "dev": "d"}]}, "needs d open"),
])
def test_malformed_configs_are_rejected_with_their_reason(raw, msg):
    with pytest.raises(ConfigError, match=msg):
        parse_config("x", raw)


def test_named_configs_exist():
    assert {"minimal", "default", "wide"} <= set(load_configs())
    with pytest.raises(ConfigError, match="unknown config"):
        get_config("nope")
