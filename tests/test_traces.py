"""Traces: the stored corpus, replay, ITF, the renderings and the reduction."""
import copy
import json
import re
import xml.etree.ElementTree as ET
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from revoke_check.cli import main
from revoke_check.replay import replay
from revoke_check.run import build
from revoke_check.semantics import Semantics
from revoke_check.traces.itf import dumps_itf, from_itf, load_trace, to_itf
from revoke_check.traces.make_corpus import corpus_entries, corpus_name
from revoke_check.traces.reduce import reduce_trace, thread_switches
from revoke_check.traces.render_html import render_html
from revoke_check.traces.render_lockdep import lock_ops, render_lockdep
from revoke_check.traces.render_mermaid import render_mermaid
from revoke_check.traces.render_svg import render_svg
from revoke_check.traces.render_text import changed_fields, fmt_value, render_text, shown_name
from revoke_check.traces.trace import Trace

CORPUS = Path(__file__).resolve().parent.parent / "traces" / "corpus"
FILES = sorted(CORPUS.glob("*.json"))
IDS = [f.stem for f in FILES]


def sem_for(t: Trace, variant=None) -> Semantics:
    from revoke_check.provenance import protocol_of
    model, checks = build(t.config, variant or t.variant, [t.property], protocol_of(t))
    return Semantics(model, checks)


@pytest.fixture(scope="module")
def traces():
    return {f.stem: Trace.load(f) for f in FILES}


# --- the corpus --------------------------------------------------------------

def test_corpus_has_every_known_bug_of_the_manifest():
    entries = corpus_entries()
    assert entries, "the manifest lists no violated entry"
    want = {corpus_name(e, entries) for e in entries}
    have = {f.name for f in FILES}
    assert want == have, f"missing {sorted(want - have)}, extra {sorted(have - want)}: " \
                         "run python3 traces/make_corpus.py"
    for e in entries:
        t = Trace.load(CORPUS / corpus_name(e, entries))
        assert (t.config, t.variant, t.property) == (e.config, e.variant, e.property)


@pytest.mark.parametrize("f", FILES, ids=IDS)
def test_corpus_trace_replays_and_violates_its_property(f):
    t = Trace.load(f)
    rr = replay(t, sem_for(t))
    assert rr.ok, rr.error
    assert rr.violation is not None, "replays without violating"
    assert rr.violation[0] == t.property
    assert rr.steps_replayed == len(t)


def _fixed_upstream(f) -> bool:
    """Known bugs that upstream fixed (the variant's fixed_by is upstream, or a synthetic change
    on an upstream config): their traces must stop (or hold) on upstream."""
    from revoke_check.model.variants import get_protocol
    from revoke_check.provenance import protocol_of
    t = Trace.load(f)
    if t.variant == "upstream":
        return False
    p = get_protocol(t.variant, protocol=protocol_of(t))
    up = get_protocol("upstream", protocol=protocol_of(t))
    return p.fixed_by == "upstream" or (p.fixed_by is None and t.config in up.configs
                                        and t.property in up.properties)


FIXED = [f for f in FILES if _fixed_upstream(f)]


@pytest.mark.parametrize("f", FIXED, ids=[f.stem for f in FIXED])
def test_corpus_trace_against_upstream_stops_or_holds(f):
    t = Trace.load(f)
    rr = replay(t, sem_for(t, "upstream"))
    if rr.ok:
        assert rr.violation is None, f"upstream violates {rr.violation}"
    else:
        # a step the fix prevents: not enabled, or enabled with another branch
        assert re.match(r"step \d+: ", rr.error), rr.error
        assert rr.fix or " not enabled: " in rr.error, rr.error
        assert 0 <= rr.steps_replayed < len(t)


def test_v5_against_upstream_names_the_fix(traces):
    t = traces["v5-unrevoke-after-reset"]
    rr = replay(t, sem_for(t, "upstream"))
    assert not rr.ok and rr.fix
    assert rr.error.startswith("step 11: vfio_pci_dev_set_hot_reset:err_undo (hot_reset) is "
                               "enabled, but upstream takes a different branch here:")
    assert "un-revoke" in rr.error


def _up_write_then_down_write(traces):
    """A stored trace where config_write.dev0's up_write is directly followed by another taker."""
    for name in sorted(traces):
        steps = traces[name].steps
        for i, s in enumerate(steps[:-1]):
            if s.thread == "config_write.dev0" and s.step_label.endswith(":up_write") \
                    and steps[i + 1].thread != s.thread \
                    and steps[i + 1].changes.get("memory_lock[dev0]", [None, None])[0] == "none":
                return name, i
    raise AssertionError("no stored trace has an up_write followed by another down_write")


def test_not_enabled_names_the_lock_holder(traces):
    name, k = _up_write_then_down_write(traces)
    t = copy.deepcopy(traces[name])
    nxt = t.steps[k + 1]
    del t.steps[k]                      # config_write.dev0 never releases memory_lock
    rr = replay(t, sem_for(t))
    assert not rr.ok and not rr.fix
    assert rr.error == (f"step {k + 1}: {nxt.step_label} ({nxt.thread}) not enabled: "
                        f"memory_lock[dev0] held for write by config_write.dev0")


def test_corrupt_state_does_not_fit_its_own_variant(traces, tmp_path):
    t = copy.deepcopy(traces["v5-unrevoke-after-reset"])
    t.steps[3].state["f_count[buf0]"] = 7
    rr = replay(t, sem_for(t))
    assert not rr.ok and rr.error.startswith("step 4:")
    p = tmp_path / "bad.json"
    t.save(p)
    res = CliRunner().invoke(main, ["replay", str(p)])
    assert res.exit_code == 2


def test_cli_replay_exit_codes():
    f = str(CORPUS / "v5-unrevoke-after-reset.json")
    r = CliRunner().invoke(main, ["replay", f])
    assert r.exit_code == 1 and "violates undo-restores-every-revoke" in r.output
    r = CliRunner().invoke(main, ["replay", f, "-v", "upstream"])
    assert r.exit_code == 0 and "step 11:" in r.output and "different branch" in r.output


# --- ITF ---------------------------------------------------------------------

@pytest.mark.parametrize("f", FILES, ids=IDS)
def test_itf_round_trip_gives_identical_trace(f):
    t = Trace.load(f)
    d = json.loads(dumps_itf(t))
    back = from_itf(d)
    assert back.to_json() == t.to_json()
    assert [s.state for s in back.steps] == [s.state for s in t.steps]
    assert back.initial == t.initial


def _expected_cells(state: dict) -> dict:
    """Our flat names as (ITF variable, key), by the documented naming rule."""
    threads = [k[3:-1] for k in state if k.startswith("pc[")]
    out = {}
    for name, val in state.items():
        m = re.match(r"^(\w+)\[([^\]]+)\]$", name)
        th = [t for t in threads if name.startswith(t + ".")]
        if m:
            out[(m.group(1), m.group(2))] = val
        elif th:
            t = max(th, key=len)
            out[("local_" + name[len(t) + 1:], t)] = val
        else:
            out[(re.sub(r"\W+", "_", name), None)] = val
    return out


@pytest.mark.parametrize("f", FILES, ids=IDS)
def test_itf_accepted_by_itf_py(f):
    itf_py = pytest.importorskip("itf_py", reason="pip install itf-py (a test extra)")
    t = Trace.load(f)
    d = json.loads(dumps_itf(t))
    assert d["#meta"]["format"] == "ITF"
    it = itf_py.trace_from_json(d)
    assert len(it.states) == len(t) + 1
    states = [t.initial] + [s.state for s in t.steps]
    for k, (st, want) in enumerate(zip(it.states, states)):
        assert st.meta["index"] == k
        got = {}
        for var in it.vars:
            v = st.values[var]
            if isinstance(v, dict):          # itf_py's ImmutableDict for #map
                got.update({(var, key): val for key, val in v.items()})
            else:
                got[(var, None)] = v
        assert got == _expected_cells(want)
    # and itf_py writes it back to the same JSON
    assert itf_py.trace_to_json(it)["states"] == d["states"]


def test_itf_encodings(traces):
    d = to_itf(traces["v5-unrevoke-after-reset"])
    s0 = d["states"][0]
    assert s0["registration"] == {"#map": [["dev0", {"#bigint": "1"}], ["dev1", {"#bigint": "1"}]]}
    assert s0["dev_set_lock"] == "none" and s0["open"]["#map"][0] == ["dev0", True]
    assert s0["pc"]["#map"][0][0] == "hot_reset"
    assert d["states"][1]["#meta"]["step"]["label"] == "vfio_pci_dev_set_hot_reset:mutex_lock"
    assert set(d["vars"]) == {k for k in s0 if k != "#meta"}


def test_cli_export_trace_itf(tmp_path):
    out = tmp_path / "v5.itf.json"
    r = CliRunner().invoke(main, ["export-trace", str(CORPUS / "v5-unrevoke-after-reset.json"),
                                  "--format", "itf", "-o", str(out)])
    assert r.exit_code == 0, r.output
    t = load_trace(out)                       # an ITF file loads back as a Trace
    assert t.to_json() == Trace.load(CORPUS / "v5-unrevoke-after-reset.json").to_json()
    r = CliRunner().invoke(main, ["replay", str(out)])
    assert r.exit_code == 1


def test_bad_trace_file_is_one_line_exit_2(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"vars": [], "states": [{}]}')
    for cmd in (["render"], ["export-trace"], ["replay"], ["reduce"]):
        r = CliRunner().invoke(main, cmd + [str(p)])
        assert r.exit_code == 2, (cmd, r.output)
        assert r.exception is None or isinstance(r.exception, SystemExit)
        err = r.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("revoke-check: error: "), err


# --- renderings ----------------------------------------------------------------

@pytest.mark.parametrize("f", FILES, ids=IDS)
def test_text_has_every_step_and_its_changes_within_80_columns(f):
    t = Trace.load(f)
    text = render_text(t)
    lines = text.splitlines()
    assert max(len(x) for x in lines) <= 80, [x for x in lines if len(x) > 80]
    body = re.sub(r"\n +", " ", text.split("\n\n", 1)[1])   # undo the wrapping
    lines = body.splitlines()
    marks = [x for x in lines if x.startswith("-- ")]     # a lasso's loop markers
    steps = [x for x in lines if not x.startswith("-- ")]
    assert bool(marks) == (t.loop is not None)
    assert len(steps) == len(t)
    for k, (line, s) in enumerate(zip(steps, t.steps), 1):
        assert line.startswith(f"{k:02d} {s.thread}")
        assert s.step_label in line
        for n, _, b in changed_fields(s):
            assert f"{shown_name(n, s.thread)}={fmt_value(b)}" in line


def test_lockdep_columns(traces):
    t = traces["disable-before-cleanup"]
    text = render_lockdep(t)
    lines = text.splitlines()
    head = next(i for i, x in enumerate(lines) if "CPU0" in x)
    cpus = [(m.start(), m.group()) for m in re.finditer(r"CPU\d+", lines[head])]
    names = lines[head + 1]
    col_of = {}
    for start, _ in cpus:
        name = names[start:].split()[0]
        col_of[name] = start - 5          # operations start 5 columns left of the CPU label
    ops = lock_ops(t)
    assert set(col_of) == {op.thread for op in ops} and len(col_of) >= 3
    rows = [x for x in lines[head + 3:] if re.match(r"^\s*\d+ ", x)]
    assert len(rows) == len(ops)
    for row, op in zip(rows, ops):
        assert int(row.split()[0]) == op.step
        assert row[col_of[op.thread]:].startswith(op.text), (row, op)
        assert row[:col_of[op.thread]].strip() == str(op.step)
    assert "down_write_trylock(&dev0->memory_lock) fails" in text
    assert "mutex_lock(&dev_set->lock);" in text


def test_lockdep_shows_the_held_lock_of_lock_discipline(traces):
    text = render_lockdep(traces["v6-restore-revoke-flag"])
    assert "down_write_trylock(&dev0->memory_lock);" in text
    assert "held by hot_reset when the violation occurs: &dev0->memory_lock" in text


@pytest.mark.parametrize("f", FILES, ids=IDS)
def test_mermaid_has_every_step(f):
    t = Trace.load(f)
    text = render_mermaid(t)
    lines = text.splitlines()
    assert lines[0] == "sequenceDiagram"
    threads = list(dict.fromkeys(s.thread for s in t.steps))
    parts = [x for x in lines if x.strip().startswith("participant ")]
    assert [x.split(" as ", 1)[1] for x in parts] == threads
    msgs = [x.split(": ", 1)[1] for x in lines if re.match(r"^\s+T(\d+)(->>|-x)T\1: ", x)]
    assert len(msgs) == len(t)
    for k, (m, s) in enumerate(zip(msgs, t.steps), 1):
        assert m.startswith(f"{k} {s.step_label}")
        assert ";" not in m.replace("#59;", "").replace("#35;", "")


@pytest.mark.parametrize("f", FILES, ids=IDS)
def test_svg_has_every_step_and_lifeline(f):
    t = Trace.load(f)
    root = ET.fromstring(render_svg(t).split("?>", 1)[1])
    ns = "{http://www.w3.org/2000/svg}"
    steps = [g for g in root.iter(f"{ns}g") if g.get("class") == "step"]
    assert [g.get("data-step") for g in steps] == [str(k) for k in range(1, len(t) + 1)]
    for g, s in zip(steps, t.steps):
        assert g.get("data-thread") == s.thread
        assert s.step_label in " ".join(x.text or "" for x in g.iter(f"{ns}text"))
    lanes = [g.get("data-thread") for g in root.iter(f"{ns}g") if g.get("class") == "lifeline"]
    assert lanes == list(dict.fromkeys(s.thread for s in t.steps))


class _Rows(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.external = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "step" in (a.get("class") or "").split():
            self.rows.append(a.get("id"))
        for k in ("src", "href"):
            if a.get(k) and not a[k].startswith("#"):
                self.external.append((tag, a[k]))
        if tag == "link":
            self.external.append((tag, a))


@pytest.mark.parametrize("f", FILES, ids=IDS)
def test_html_is_self_contained_and_has_every_step(f):
    t = Trace.load(f)
    html = render_html(t)
    p = _Rows()
    p.feed(html)
    assert p.rows == [f"step-{k}" for k in range(1, len(t) + 1)]
    assert p.external == []
    assert "<svg" in html and t.message.split()[0] in html
    if t.property:
        from revoke_check.model.variants import get_protocol
        from revoke_check.properties import PROPERTIES
        from revoke_check.provenance import protocol_of
        from revoke_check.provenance import specs_of
        first = PROPERTIES(get_protocol(specs_of(t)[0], protocol_of(t)))[t.property].doc.strip().splitlines()[0]
        assert escape(first) in " ".join(html.split())


def test_cli_render_every_format(tmp_path):
    f = str(CORPUS / "v5-unrevoke-after-reset.json")
    for fmt, mark in [("text", "01 hot_reset"), ("lockdep", "CPU0"), ("mermaid", "sequenceDiagram"),
                      ("svg", "<svg"), ("html", "<!DOCTYPE html>")]:
        out = tmp_path / f"r.{fmt}"
        r = CliRunner().invoke(main, ["render", f, "--format", fmt, "-o", str(out)])
        assert r.exit_code == 0, r.output
        assert mark in out.read_text()
    r = CliRunner().invoke(main, ["render", f, "-f", "text", "--reduce"])
    assert r.exit_code == 0
    assert r.output.rstrip("\n") == render_text(reduce_trace(Trace.load(f)))


# --- reduction -----------------------------------------------------------------

def _per_thread(t):
    out = {}
    for s in t.steps:
        out.setdefault(s.thread, []).append((s.label, s.choice))
    return out


@pytest.mark.parametrize("f", FILES, ids=IDS)
def test_reduction_keeps_the_violation_and_does_not_add_switches(f):
    t = Trace.load(f)
    r = reduce_trace(t)
    assert thread_switches(r) <= thread_switches(t)
    assert len(r) <= len(t)
    rr = replay(r, sem_for(t))
    assert rr.ok and rr.violation and rr.violation[0] == t.property
    # the same steps of each thread, in their order (a prefix if it stops sooner)
    mine, orig = _per_thread(r), _per_thread(t)
    for th, seq in mine.items():
        assert orig[th][:len(seq)] == seq


def test_reduction_improves_some_corpus_traces(traces):
    better = {n: (thread_switches(t), thread_switches(reduce_trace(t)))
              for n, t in traces.items()}
    assert better["v5-unrevoke-after-reset"] == (2, 1)
    assert sum(a > b for a, b in better.values()) >= 2, better


def test_thread_switches():
    assert thread_switches(["a", "a", "b", "a"]) == 2
    assert thread_switches([]) == 0
