"""The second protocol: drm_sched entity kill and dma_fence callbacks in hard-IRQ context."""
import json
import re

import pytest
from click.testing import CliRunner

from revoke_check.model.config import ConfigError
from revoke_check.model.variants import VariantError, get_protocol
from revoke_check.cli import main
from revoke_check.run import build, check

P = "drm-sched"


def cli(*args):
    return CliRunner().invoke(main, list(args))


def test_list_shows_the_protocols_configs_variants_and_properties():
    r = cli("list", "--protocol", P)
    assert r.exit_code == 0, r.output
    for word in ("protocol: drm-sched", "default", "shared-lock", "rearm", "kill-jobs-cb-in-irq",
                 "irq-safe-to-unsafe", "irq-inconsistent-lock-state", "deadlock-free", "fence_irq"):
        assert word in r.output
    assert "v5-unrevoke-after-reset" not in r.output      # the vfio variants are not its own
    assert "kill-jobs-cb-in-irq" not in cli("list").output


def test_unknown_protocol_is_a_usage_error():
    r = cli("check", "--protocol", "nope")
    assert r.exit_code == 2 and "unknown protocol 'nope'" in r.output
    with pytest.raises(VariantError):
        get_protocol("kill-jobs-cb-in-irq")               # a drm-sched variant, not a vfio one


@pytest.mark.parametrize("config", ["default", "shared-lock", "rearm"])
def test_upstream_holds(config):
    r = check(config, "upstream", protocol=P)
    assert r.verdict == "holds", r.message
    # the killed job is freed only where its dependency signals
    assert r.witnesses["killed-job-not-lost/killed-job-freed"] == (config == "rearm")


@pytest.mark.parametrize("config,prop,length", [
    ("default", "irq-safe-to-unsafe", 9),
    ("default", "irq-inconsistent-lock-state", 9),
    ("shared-lock", "deadlock-free", 11),
])
def test_before_the_fix_explicit_and_bmc_agree(config, prop, length):
    a = check(config, "kill-jobs-cb-in-irq", [prop], protocol=P)
    b = check(config, "kill-jobs-cb-in-irq", [prop], engine="bmc", depth=length, protocol=P)
    assert (a.verdict, a.property, len(a.trace)) == ("violated", prop, length)
    assert (b.verdict, b.property, len(b.trace)) == ("violated", prop, length)


def test_default_check_reports_the_interrupt_unsafe_scenario(tmp_path):
    out = tmp_path / "t.json"
    r = cli("check", "--protocol", P, "-v", "kill-jobs-cb-in-irq", "--trace-out", str(out))
    assert r.exit_code == 1, r.output
    assert "VIOLATED: irq-safe-to-unsafe" in r.output
    t = json.loads(out.read_text())
    assert t["provenance"]["protocol"] == P
    assert t["provenance"]["cpus"]["fence_irq.prev"] == 0
    assert [s["label"].rsplit("/", 1)[-1] for s in t["steps"]][-5:] == [
        "drm_sched_job_done:irq_enter", "dma_fence_signal:spin_lock_irqsave(prev)",
        "dma_fence_signal:dma_fence_signal_timestamp_locked",
        "drm_sched_entity_kill_jobs_cb:xa_for_each", "drm_sched_entity_kill_jobs_cb:xa_lock"]
    lockdep = cli("render", "-f", "lockdep", str(out)).output
    assert "WARNING: HARDIRQ-safe -> HARDIRQ-unsafe lock order detected" in lockdep
    assert " (&fence->lock){-...} -> (&xa->xa_lock){?...}" in lockdep
    assert "Possible interrupt unsafe locking scenario" in lockdep
    assert re.search(r"  lock\(&xa->xa_lock\);\n\s+local_irq_disable\(\);\n\s+lock\(&fence->lock\);",
                     lockdep)
    assert "CPU0 (hard IRQ)" in lockdep
    # replay: found from the trace's provenance; upstream shows where the fix changes the run
    r = cli("replay", str(out))
    assert r.exit_code == 1 and "violates irq-safe-to-unsafe" in r.output, r.output
    r = cli("replay", str(out), "-v", "upstream")
    assert "upstream takes a different branch here" in r.output
    assert "drm_sched_entity_kill_jobs_cb:schedule_work" in r.output


def test_shared_lock_self_deadlock_names_the_spinning_handler():
    r = check("shared-lock", "kill-jobs-cb-in-irq", ["deadlock-free"], protocol=P)
    assert r.trace.kind == "deadlock"
    assert "fence_irq.prev at " in r.message and r.message.endswith(
        "dma_fence_add_callback:spin_lock_irqsave(dep)")
    last = r.trace.steps[-1].state
    assert last["fence_lock[ring_lock]"] == "fence_irq.prev"      # held by the spinning handler itself


def test_every_step_has_a_source_and_a_sentence_and_every_property_a_witness():
    for variant in ("upstream", "kill-jobs-cb-in-irq"):
        p = get_protocol(variant, protocol=P)
        for config in p.configs:
            m, checks = build(config, variant, None, P)
            for tr in m.transitions:
                assert re.match(r"^[\w/.-]+\.c:\w+$", tr.source), (tr.label, tr.source)
                assert tr.doc.strip().endswith("."), tr.label
        assert all(prop.witnesses for prop in p.properties.values())


def test_configs_are_checked_against_its_declarations():
    p = get_protocol(None, protocol=P)
    from revoke_check.model.config import parse_config
    raw = {"fence_locks": [{"name": "l"}], "fences": [{"name": "f", "lock": "nope"}], "jobs": [{"name": "j"}]}
    with pytest.raises(ConfigError, match=r"fences\[0\]\.lock: unknown name 'nope'"):
        parse_config("x", raw, p)
    with pytest.raises(ConfigError, match="unknown key 'devices'"):
        parse_config("x", {**raw, "devices": []}, p)
    schema = json.loads(cli("schema", "--protocol", P).output)
    assert "fence_locks" in schema["properties"] and "devices" not in schema["properties"]


def test_gate_runs_entries_of_both_protocols(tmp_path):
    m = tmp_path / "manifest.toml"
    m.write_text('''
[[check]]
config = "tiny"
variant = "upstream"
distinct_states = 97

[[check]]
protocol = "drm-sched"
config = "shared-lock"
variant = "kill-jobs-cb-in-irq"
properties = ["deadlock-free"]
verdict = "violated"
property = "deadlock-free"
trace_length = 11
''')
    r = cli("gate", "-m", str(m), "--no-coverage")
    assert r.exit_code == 0, r.output
    assert "ok   drm-sched:kill-jobs-cb-in-irq@shared-lock[explicit:deadlock-free]" in r.output


def test_coverage_of_upstream_fires_every_step():
    r = cli("coverage", "--protocol", P, "-c", "rearm", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["not_explained"] == [], d["not_explained"]


def test_pytest_plugin_fixture_takes_a_protocol(revoke_check):
    revoke_check.expect(protocol=P, variant="kill-jobs-cb-in-irq", configs=["default"],
                        properties=["irq-inconsistent-lock-state"], verdict="violated", trace_length=9)
