"""Liveness under fairness: fair cycles, lassos, replay of loops, bmc's lassos."""
import copy
import json

import pytest
from click.testing import CliRunner

from revoke_check.cli import main
from revoke_check.engines.liveness import Fairness, FairnessError, Graph, Unit, _enabled_units, _fair_cores
from revoke_check.ci.manifest import load_manifest
from revoke_check.replay import replay
from revoke_check.run import build, check
from revoke_check.semantics import Semantics
from revoke_check.traces.itf import dumps_itf, from_itf
from revoke_check.traces.render_html import render_html
from revoke_check.traces.render_lockdep import render_lockdep
from revoke_check.traces.render_svg import render_svg
from revoke_check.traces.render_text import render_text
from revoke_check.traces.trace import Trace, TraceError

LIVE = ["revoke-is-temporary", "importer-can-remap", "progress"]
SPIN = "config-write-spins-holding-memory-lock"


def sem(config, variant, props):
    m, c = build(config, variant, props)
    return Semantics(m, c)


# --- the fair-SCC algorithm on a hand-made graph ----------------------------------

def _toy():
    """States 0 <-> 1 by thread A; thread B, enabled in 0 only, leads to 2 (where Q holds)."""
    g = Graph([b"\x00", b"\x01", b"\x02"], [[(0, 1), (1, 2)], [(0, 0)], [(2, 2)]])
    return g, {0, 1}


@pytest.mark.parametrize("kind_b,fair_cycle", [("weak", True), ("strong", False), (None, True)])
def test_weak_fairness_allows_what_strong_fairness_rules_out(kind_b, fair_cycle):
    g, bad = _toy()
    us = [Unit("A", "weak", frozenset({0, 2}))]
    if kind_b:
        us.append(Unit("B", kind_b, frozenset({1})))
    cores = _fair_cores(g, bad, us, _enabled_units(g, us))
    assert bool(cores) == fair_cycle
    if fair_cycle:
        assert cores[0][0] == {0, 1}


def test_a_weak_unit_enabled_everywhere_and_never_taken_makes_the_cycle_unfair():
    g = Graph([b"\x00", b"\x01", b"\x02"], [[(0, 1), (1, 2)], [(0, 0), (1, 2)], [(2, 2)]])
    us = [Unit("A", "weak", frozenset({0})), Unit("B", "weak", frozenset({1}))]
    assert _fair_cores(g, {0, 1}, us, _enabled_units(g, us)) == []
    assert _fair_cores(g, {0, 1}, us[:1], _enabled_units(g, us[:1]))  # without B's fairness


# --- the demonstrations --------------------------------------------------------------

def test_a_writer_spinning_with_memory_lock_violates_progress_with_a_lasso_that_replays(tmp_path):
    r = check("tiny", SPIN, ["progress"])
    assert r.verdict == "violated" and r.property == "progress"
    t = r.trace
    assert (len(t), t.loop) == (16, 15)
    assert t.steps[-1].step_label.endswith("poll_device_ready") and t.steps[-1].choice == "not ready"
    assert t.steps[-1].state == t.steps[t.loop - 1].state          # the loop closes
    assert "held throughout: memory_lock[dev0] held by config_write.dev0" in t.message
    rr = replay(t, sem("tiny", SPIN, ["progress"]))
    assert rr.ok and rr.violation[0] == "progress"
    f = tmp_path / "spin.json"
    t.save(f)
    res = CliRunner().invoke(main, ["replay", str(f)])
    assert res.exit_code == 1 and "the loop closes" in res.output
    # the bounded poll is not a loop any more: the trace does not close there
    res = CliRunner().invoke(main, ["replay", str(f), "-v", "config-write-poll-times-out"])
    assert res.exit_code == 0 and "the loop does not close" in res.output
    assert check("tiny", "config-write-poll-times-out", None).verdict == "holds"


def test_other_threads_wait_behind_the_spinner():
    r = check("retry", SPIN, ["progress"])
    assert r.verdict == "violated"
    assert "never progressing: ioctl_reset.dev0 at vfio_pci_ioctl_reset:zap_and_down_write" in r.message
    assert "memory_lock[dev0] held by config_write.dev0" in r.message


def test_a_revoke_never_undone_violates_revoke_is_temporary():
    r = check("retry", "reset-never-unrevokes", ["revoke-is-temporary"])
    assert r.verdict == "violated" and r.trace.loop == len(r.trace)   # everyone finished
    last = r.trace.steps[-1].state
    assert last["revoked[buf0]"] and last["open[dev0]"] and last["vmem[dev0]"]
    assert replay(r.trace, sem("retry", "reset-never-unrevokes", ["revoke-is-temporary"])).violation
    # upstream un-revokes where the variant does not
    rr = replay(r.trace, sem("retry", "upstream", ["revoke-is-temporary"]))
    assert not rr.ok and rr.fix
    assert check("retry", None, ["revoke-is-temporary"]).verdict == "holds"


def test_write_fails_finding_and_its_fix():
    r = check("write-fails", None, ["revoke-is-temporary"])
    assert r.verdict == "violated"
    assert any(s.choice == "write fails" for s in r.trace.steps)
    assert check("write-fails", "config-write-error-unrevokes", None).verdict == "holds"


@pytest.mark.parametrize("config", ["minimal", "default", "retry", "retry-close", "iommufd"])
def test_upstream_liveness_holds_and_is_not_vacuous(config):
    r = check(config, None, LIVE)
    assert r.verdict == "holds", r.message
    assert all(r.witnesses.values()), r.witnesses


# --- fairness --------------------------------------------------------------------------

def test_without_fairness_the_retrying_importer_starves_the_reset():
    assert check("retry", None, LIVE, fairness=Fairness("strong")).verdict == "holds"
    assert check("retry", None, LIVE, fairness=Fairness("weak", ("resv", "memory_lock"))).verdict == "holds"
    r = check("retry", None, LIVE, fairness=Fairness("none"))
    assert r.verdict == "violated" and r.property == "revoke-is-temporary"
    t = r.trace
    assert t.fairness == {"default": "none", "strong": []}
    assert {s.thread for s in t.cycle} == {"importer.imp0"}
    s = sem("retry", None, LIVE)
    assert replay(t, s).violation                       # under the trace's own fairness
    assert replay(t, s, Fairness("weak")).violation is None   # an unfair loop under weak fairness
    back = Trace.from_json(json.loads(t.dumps()))
    assert back.fairness == t.fairness and back.loop == t.loop


def test_bad_fairness_is_one_line_exit_2():
    for args in (["--strong-fair", "nosuch"], ["--fairness", "sometimes"]):
        r = CliRunner().invoke(main, ["check", "-c", "tiny", "-p", "progress", *args])
        assert r.exit_code == 2, r.output
    r = CliRunner().invoke(main, ["check", "-c", "tiny", "-p", "progress", "--strong-fair", "nosuch"])
    err = [x for x in r.stderr.strip().splitlines() if not x.startswith("revoke-check 0.")]  # the start line
    assert len(err) == 1 and "no such thread or lock class" in err[0]
    with pytest.raises(FairnessError):
        Fairness("sometimes")


def test_cli_fairness_none_finds_the_lasso():
    r = CliRunner().invoke(main, ["check", "-c", "retry", "-p", "revoke-is-temporary", "--fairness", "none"])
    assert r.exit_code == 1
    assert "-- loop starts: steps 8..9 repeat forever --" in r.output
    r = CliRunner().invoke(main, ["check", "-c", "retry", "-p", "revoke-is-temporary"])
    assert r.exit_code == 0, r.output


# --- traces with a loop ---------------------------------------------------------------

def _lasso():
    return check("tiny", SPIN, ["progress"]).trace


def test_json_without_loop_is_a_finite_trace_and_stays_so():
    t = check("default", "v5-dma-buf-fd-leak", ["refcounts"]).trace
    d = t.to_json()
    assert "loop" not in d and "fairness" not in d
    assert Trace.from_json(d).loop is None
    lasso = _lasso()
    assert lasso.to_json()["loop"] == 15
    assert Trace.from_json(json.loads(lasso.dumps())).loop == 15


@pytest.mark.parametrize("bad", [-1, 17, "3", True])
def test_a_malformed_loop_is_rejected(bad):
    d = _lasso().to_json()
    d["loop"] = bad
    with pytest.raises(TraceError):
        Trace.from_json(d)


def test_replay_checks_that_the_loop_closes():
    t = copy.deepcopy(_lasso())
    s = sem("tiny", SPIN, ["progress"])
    t.loop = 10
    rr = replay(t, s)
    assert not rr.ok and "the loop does not close" in rr.error
    t.loop = 16          # "the last state repeats", but the spinner is enabled there
    rr = replay(t, s)
    assert not rr.ok and "a step is enabled" in rr.error


def test_itf_carries_the_loop():
    t = _lasso()
    d = json.loads(dumps_itf(t))
    assert d["loop"] == 15
    assert from_itf(d).to_json() == t.to_json()


def test_renderings_show_where_the_loop_starts():
    t = _lasso()
    text = render_text(t)
    assert "-- loop starts: steps 16..16 repeat forever --" in text
    assert "-- back to the state after step 15; steps 16..16 again --" in text
    assert "<loop: from step 16 on, repeated forever>" in render_lockdep(t)
    assert "held by config_write.dev0 throughout the loop" in render_lockdep(t)
    svg = render_svg(t)
    assert 'class="loop" data-loop="15"' in svg and "loop: steps 16..16 repeat" in svg
    html = render_html(t)
    assert 'class="loop-start"' in html and "in-loop" in html and 'id="loop-summary"' in html
    stutter = check("write-fails", None, ["revoke-is-temporary"]).trace
    assert "repeats forever (no step is enabled)" in render_text(stutter)


# --- bmc finds the same lassos ----------------------------------------------------------

LASSOS = [e for e in load_manifest() if e.loop_start is not None and e.engine == "explicit"
          and (e.config, e.variant) in {("tiny", SPIN), ("write-fails", "upstream"),
                                        ("retry-write-fails", "upstream"), ("retry", "upstream")}]


def test_enough_lasso_entries_for_the_comparison():
    assert len(LASSOS) >= 3
    assert any(e.loop_start < e.trace_length for e in LASSOS)      # a real cycle, not a stutter


@pytest.mark.parametrize("entry", LASSOS, ids=[e.name for e in LASSOS])
def test_bmc_finds_a_lasso_of_the_same_stem_and_loop(entry):
    fair = Fairness(entry.fairness or "weak", tuple(entry.strong_fair))
    r = check(entry.config, entry.variant, entry.properties, engine="bmc",
              depth=entry.trace_length + 1, fairness=fair)
    assert r.verdict == "violated", r.message
    assert r.property == entry.property
    assert (len(r.trace), r.trace.loop) == (entry.trace_length, entry.loop_start)
    s = sem(entry.config, entry.variant, entry.properties)
    rr = replay(r.trace, s)
    assert rr.ok and rr.violation and rr.violation[0] == entry.property


def test_kind_leaves_liveness_out_and_says_so():
    r = check("tiny", None, ["refcounts", "progress"], engine="kind")
    assert r.verdict == "holds" and "not checked by kind: progress" in r.message
