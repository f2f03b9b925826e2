"""Issue 9: a protocol change is a file -- configs of one's own, variants that add state.

examples/new_state.py adds an object kind (peeker), a field, an rwsem
(peek_lock), an actor kind (peek) and a property (peek-needs-unrevoked);
examples/new_state.toml is a config that only that variant understands.
"""
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from revoke_check.model.config import ConfigError, config_schema, file_schema
from revoke_check.model.protocol import upstream
from revoke_check.model.variants import get_protocol
from revoke_check.cli import main
from revoke_check.run import build, check

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples"
UNLOCKED = f"{EX / 'new_state.py'}:peek-unlocked"
LOCKED = f"{EX / 'new_state.py'}:peek-locked"
CFG = f"{EX / 'new_state.toml'}:peek"

MINE = """
[mine]
doc = "one device, one buf, a writer and an importer"
devices = [{ name = "d0" }]
bufs = [{ name = "b0", dev = "d0" }]
importers = [{ name = "i0", buf = "b0" }]
actors = [{ kind = "config_write", dev = "d0", mem = [false, true] },
          { kind = "importer", importer = "i0" }]
"""


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_a_config_file_of_ones_own_is_checked(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text(MINE)
    for spec in (f"{f}:mine", str(f)):
        r = run("check", "-c", spec)
        assert r.exit_code == 0, r.output
        assert "upstream on mine [explicit]: holds -- 110 distinct states" in r.output
    model, _ = build(f"{f}:mine", "upstream", ["deadlock-free"])
    assert model.config.spec == f"{f}:mine" and model.config.sha256


@pytest.mark.parametrize("text, msg", [
    ('[bad]\ndevices = [{ name = "d0", open = "false" }]\n',
     "bad.devices[0].open: expected true or false, got 'false'"),
    ('[bad]\ndevices = [{ name = "d0" }]\ncolour = 1\n', "bad: unknown key 'colour'"),
    ('[bad]\ndevices = [{ name = "d0" }]\nactors = [{ kind = "ioctl_reset", dev = "d9" }]\n',
     "bad.actors[0].dev: unknown name 'd9' (known: d0)"),
    ('[bad]\ndevices = [{ name = "d0" }]\nactors = [{ kind = "nope" }]\n', "unknown actor kind 'nope'"),
    ('[bad]\ndevices = []\n', "bad.devices: needs at least one device"),
    ('[bad]\ndevices = [{ open = true }]\n', "bad.devices[0]: missing key 'name'"),
    ('[bad]\ndevices = [{ name = "d0" }]\nbufs = [{ name = "b", dev = "d0", exists = 1 }]\n',
     "bad.bufs[0].exists: expected true or false, got 1"),
    ('[a]\ndevices = [{ name = "d0" }]\n[b]\ndevices = [{ name = "d0" }]\n', "holds 2 configs (a, b)"),
    ("x = [", "not TOML"),
])
def test_a_malformed_config_file_is_one_line_and_exit_2(tmp_path, text, msg):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    r = run("check", "-c", str(f))
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("revoke-check: error: ") and msg in lines[0], lines


def test_unknown_config_names_and_files(tmp_path):
    assert "unknown config 'nope'" in run("check", "-c", "nope").output
    assert "not found" in run("check", "-c", str(tmp_path / "x.toml")).output
    (tmp_path / "one.toml").write_text(MINE)
    r = run("check", "-c", f"{tmp_path / 'one.toml'}:other")
    assert r.exit_code == 2 and "has no config 'other' (it has: mine)" in r.output


def test_the_published_schema_is_the_generated_one_and_accepts_the_packaged_configs():
    import jsonschema
    import tomllib
    published = json.loads((ROOT / "docs" / "config.schema.json").read_text())
    assert published == json.loads(json.dumps(file_schema(upstream())))
    jsonschema.Draft202012Validator.check_schema(published)
    jsonschema.validate(tomllib.loads((ROOT / "model" / "configs.toml").read_text()), published)
    r = run("schema")
    assert json.loads(r.output) == json.loads(json.dumps(config_schema(upstream())))


def test_a_variant_adds_an_object_kind_a_field_a_lock_an_actor_kind_and_a_property():
    p = get_protocol(UNLOCKED)
    assert "peeker" in p.kinds and "peek" in p.actor_kinds and "peek-needs-unrevoked" in p.properties
    assert [lk.name for lk in p.locks] == ["memory_lock", "dev_set_lock", "resv", "pci_dev_lock", "mmap_lock",
                                          "peek_lock"]
    # upstream itself knows none of it: its configs refuse the new key
    with pytest.raises(ConfigError, match="unknown key 'peekers'"):
        upstream().config(CFG)
    assert "peek" not in upstream().actor_kinds and "peek-needs-unrevoked" not in upstream().properties
    m, _ = build(CFG, UNLOCKED, ["lock-discipline"])
    assert "peek_mapped[pk0]" in [x.name for x in m.vars]
    assert {li.owner.name for li in m.locks} >= {"peek_lock[dev0]", "memory_lock[dev0]"}
    assert m.lock_table()["peek_lock_readers[dev0]"]["mode"] == "read"
    # the schema of the variant's configs has the new kind and actor kind
    s = p.config_schema()
    assert "peekers" in s["properties"]
    assert "peek" in s["properties"]["actors"]["items"]["properties"]["kind"]["enum"]


def test_explicit_and_bmc_agree_on_the_extended_variant():
    rx = check(CFG, UNLOCKED)
    assert (rx.verdict, rx.property, len(rx.trace)) == ("violated", "peek-needs-unrevoked", 5)
    assert rx.distinct_states == 39
    rb = check(CFG, UNLOCKED, engine="bmc", depth=8)
    assert (rb.verdict, rb.property, len(rb.trace)) == ("violated", "peek-needs-unrevoked", 5)
    rl = check(CFG, LOCKED)
    assert (rl.verdict, rl.distinct_states) == ("holds", 348)
    rk = check(CFG, LOCKED, engine="kind")
    assert rk.verdict == "holds" and rk.proof == 1
    # the variant's own config (p.add_config) is the same instance
    assert check("peek", LOCKED).distinct_states == 348


def test_lock_discipline_sees_the_new_lock():
    """A peek fault that returns still holding peek_lock(R) is caught by lock-discipline."""
    from revoke_check.model.lang import DONE, step
    p = get_protocol(LOCKED)

    def insert(t, pk):
        v = t.v
        return step("insert", "Insert without up_read.", do={v.peek_mapped[pk]: 1}, goto=DONE,
                    source="examples/new_state.py:peek_fault")
    p.replace_step("peek_fault", "insert", insert)
    from revoke_check.properties import compile_checks, get_properties
    from revoke_check.engines.explicit import explore
    m = p.build(p.config("peek"))
    r = explore(m, compile_checks(m, get_properties(["lock-discipline"], p)))
    assert r.verdict == "violated" and "peek_lock_readers[dev0] still counts a reader" in r.message


def test_a_trace_of_a_file_variant_replays_reduces_and_renders_without_v(tmp_path, monkeypatch):
    shutil.copy(EX / "new_state.py", tmp_path / "change.py")
    shutil.copy(EX / "new_state.toml", tmp_path / "change.toml")
    monkeypatch.chdir(tmp_path)
    r = run("check", "-v", "change.py:peek-unlocked", "-c", "change.toml", "--trace-out", "t.json")
    assert r.exit_code == 1, r.output
    t = json.loads((tmp_path / "t.json").read_text())
    pv = t["provenance"]
    assert pv["variant_spec"] == "change.py:peek-unlocked" and pv["config_spec"] == "change.toml:peek"
    assert len(pv["variant_sha256"]) == 64 and len(pv["model_digest"]) == 64 and pv["version"]
    r = run("replay", "t.json")
    assert r.exit_code == 1 and "replays 5 steps; violates peek-needs-unrevoked" in r.output, r.output
    r = run("reduce", "t.json", "-o", "r.json")
    assert r.exit_code == 0 and "5 steps" in r.output, r.output
    r = run("render", "-f", "html", "t.json", "-o", "t.html")
    assert r.exit_code == 0 and "peek-needs-unrevoked" in (tmp_path / "t.html").read_text()
    # from elsewhere, through the recorded absolute path
    sub = tmp_path / "elsewhere"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert run("replay", str(tmp_path / "t.json")).exit_code == 1
    # the file changed since: said on stderr, and the replay goes on
    monkeypatch.chdir(tmp_path)
    (tmp_path / "change.py").write_text((tmp_path / "change.py").read_text() + "\n# edited\n")
    r = CliRunner().invoke(main, ["replay", "t.json"])
    assert "change.py has changed since the trace was made" in r.stderr
    assert r.exit_code == 1


def test_gate_and_the_pytest_plugin_take_file_specs(tmp_path):
    shutil.copy(EX / "new_state.py", tmp_path / "change.py")
    shutil.copy(EX / "new_state.toml", tmp_path / "change.toml")
    (tmp_path / "m.toml").write_text(
        '[[check]]\nconfig = "change.toml:peek"\nvariant = "change.py:peek-unlocked"\n'
        'engine = "explicit"\nproperties = ["peek-needs-unrevoked"]\nverdict = "violated"\n'
        'property = "peek-needs-unrevoked"\ndistinct_states = 39\ntrace_length = 5\n')
    r = run("gate", "-m", str(tmp_path / "m.toml"), "--no-coverage")
    assert r.exit_code == 0 and "passed: 1 of 1" in r.output, r.output
    from revoke_check.ci.pytest_plugin import expectations_of
    xs = expectations_of({"variant": "change.py:peek-locked", "configs": ["change.toml"],
                          "properties": ["peek-needs-unrevoked"]}, base=tmp_path)
    assert [x.run().verdict for x in xs] == ["holds"]
