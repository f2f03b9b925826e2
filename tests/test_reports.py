"""CI reports: SARIF 2.1.0 validates against the schema, JUnit parses with one failure per violation."""
import json
from pathlib import Path

import jsonschema
import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from revoke_check.properties import PROPERTIES
from revoke_check.reports.junit import junit_xml
from revoke_check.reports.sarif import function_line, sarif_log
from revoke_check.reports.checks import check_each
from revoke_check.run import check
from revoke_check.traces.render_text import render_text
from conftest import run_cli as run   # python -m revoke_check.cli in a child process

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json").read_text())


def validator():
    cls = jsonschema.validators.validator_for(SCHEMA)
    cls.check_schema(SCHEMA)
    return cls(SCHEMA, format_checker=jsonschema.FormatChecker())




@pytest.fixture(scope="module")
def v5():
    """v5-unrevoke-after-reset on default, each property on its own."""
    return check_each("default", "v5-unrevoke-after-reset", None)


def test_one_result_per_property(v5):
    assert [r.properties for r in v5] == [[p] for p in PROPERTIES()]
    violated = {r.property for r in v5 if r.verdict == "violated"}
    assert "undo-restores-every-revoke" in violated


def test_sarif_validates_against_the_2_1_0_schema(v5):
    log = sarif_log(v5)
    errors = sorted(validator().iter_errors(log), key=str)
    assert errors == []
    assert log["version"] == "2.1.0"


def test_the_validator_rejects_a_broken_log(v5):
    # the schema check can fail: a result without its message is not SARIF
    log = sarif_log(v5)
    del log["runs"][0]["results"][0]["message"]
    assert list(validator().iter_errors(log))


def test_sarif_one_result_per_violated_property_at_the_kernel_function(v5):
    log = sarif_log(v5)
    run_ = log["runs"][0]
    violated = [r for r in v5 if r.verdict == "violated"]
    assert len(run_["results"]) == len(violated) >= 1
    rules = run_["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(PROPERTIES())
    for res, r in zip(run_["results"], violated):
        assert res["ruleId"] == r.property and rules[res["ruleIndex"]]["id"] == r.property
        last = r.trace.steps[-1]
        file, fn = last.source.rsplit(":", 1)
        loc = res["locations"][0]
        assert loc["physicalLocation"]["artifactLocation"]["uri"] == file
        assert loc["logicalLocations"][0]["name"] == fn
        assert loc["logicalLocations"][0]["kind"] == "function"
        # the code flow replays the trace: one location per step, in order
        flow = [x for tf in res["codeFlows"][0]["threadFlows"] for x in tf["locations"]]
        assert sorted(x["executionOrder"] for x in flow) == list(range(1, len(r.trace) + 1))
    # the hot reset's undo is where v5 fails to restore: vfio_pci_core.c
    undo = next(x for x in run_["results"] if x["ruleId"] == "undo-restores-every-revoke")
    loc = undo["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == "drivers/vfio/pci/vfio_pci_core.c"
    assert loc["logicalLocations"][0]["name"] == "vfio_pci_dev_set_hot_reset"


def test_sarif_rule_carries_the_property_docstring(v5):
    rules = {r["id"]: r for r in sarif_log(v5)["runs"][0]["tool"]["driver"]["rules"]}
    p = PROPERTIES()["undo-restores-every-revoke"]
    assert rules[p.name]["shortDescription"]["text"] == p.summary
    assert "err_undo" not in p.summary  # the full text is longer than the summary
    assert "-EINVAL, -EBUSY" in rules[p.name]["fullDescription"]["text"]


def test_sarif_region_from_a_kernel_tree(tmp_path, v5):
    f = tmp_path / "drivers/vfio/pci/vfio_pci_core.c"
    f.parent.mkdir(parents=True)
    f.write_text("// SPDX\n"
                 "static int vfio_pci_dev_set_hot_reset(struct vfio_device_set *dev_set,\n"
                 "                                      struct vfio_pci_group_info *groups);\n"
                 "\n"
                 "static int vfio_pci_dev_set_hot_reset(struct vfio_device_set *dev_set,\n"
                 "                                      struct vfio_pci_group_info *groups)\n"
                 "{\n"
                 "        return 0;\n"
                 "}\n")
    assert function_line(tmp_path, "drivers/vfio/pci/vfio_pci_core.c", "vfio_pci_dev_set_hot_reset") == 5
    log = sarif_log(v5, kernel_src=tmp_path)
    undo = next(x for x in log["runs"][0]["results"] if x["ruleId"] == "undo-restores-every-revoke")
    assert undo["locations"][0]["physicalLocation"]["region"] == {"startLine": 5}
    assert list(validator().iter_errors(log)) == []


def test_vacuous_and_incomplete_are_notifications_not_results():
    rs = check_each("default", "no-wait-for-unmap", None) + [check("default", None, max_states=50)]
    log = sarif_log(rs)
    assert list(validator().iter_errors(log)) == []
    run_ = log["runs"][0]
    assert {r["ruleId"] for r in run_["results"]} == {
        r.property for r in rs if r.verdict == "violated"}
    notes = run_["invocations"][0]["toolExecutionNotifications"]
    kinds = sorted(n["descriptor"]["id"] for n in notes)
    assert kinds == sorted(r.verdict for r in rs if r.verdict in ("vacuous", "incomplete"))


def test_junit_parses_with_one_failure_per_violated_property(tmp_path, v5):
    path = tmp_path / "junit.xml"
    path.write_text(junit_xml(v5))
    xml = JUnitXml.fromfile(str(path))
    cases = [c for suite in xml for c in suite]
    assert len(cases) == len(PROPERTIES())
    failures = [c for c in cases if c.result and isinstance(c.result[0], Failure)]
    violated = [r for r in v5 if r.verdict == "violated"]
    assert sorted(c.name for c in failures) == sorted(r.property for r in violated)
    # the failure text is the rendered trace
    for c in failures:
        r = next(r for r in violated if r.property == c.name)
        assert c.result[0].text == render_text(r.trace)
        assert c.result[0].type == "violated"
        assert c.classname == "v5-unrevoke-after-reset on default [explicit]"
    suite = next(iter(xml))
    assert suite.tests == len(cases) and suite.failures == len(failures)


def test_junit_combined_check_skips_the_undecided_properties():
    r = check("default", "v5-unrevoke-after-reset")       # all properties at once
    xml = JUnitXml.fromstring(junit_xml([r]).split("\n", 1)[1])
    cases = [c for s in xml for c in s]
    assert len(cases) == len(PROPERTIES())
    failed = [c for c in cases if c.result and isinstance(c.result[0], Failure)]
    skipped = [c for c in cases if c.result and isinstance(c.result[0], Skipped)]
    assert [c.name for c in failed] == [r.property]
    assert len(skipped) == len(cases) - 1


def test_junit_incomplete_is_an_error():
    r = check("default", None, max_states=50)
    xml = JUnitXml.fromstring(junit_xml([r]).split("\n", 1)[1])
    cases = [c for s in xml for c in s]
    assert cases and all(isinstance(c.result[0], Error) for c in cases)


def test_check_cli_writes_both_reports(tmp_path):
    j, s = tmp_path / "out.xml", tmp_path / "out.sarif"
    code, out, err = run("check", "-v", "v5-unrevoke-after-reset", "--junit", str(j),
                         "--sarif", str(s), "--trace-out", str(tmp_path / "t.json"))
    assert code == 1, err
    xml = JUnitXml.fromfile(str(j))
    cases = [c for suite in xml for c in suite]
    assert len(cases) == len(PROPERTIES())
    log = json.loads(s.read_text())
    assert list(validator().iter_errors(log)) == []
    nviol = sum(1 for c in cases if c.result and isinstance(c.result[0], Failure))
    assert len(log["runs"][0]["results"]) == nviol >= 1
    # one summary line per property, then the traces
    for p in PROPERTIES():
        assert any(line.startswith(p) for line in out.splitlines())
    assert (tmp_path / "t.json").exists()


def test_check_cli_reports_with_n_properties_give_n_cases(tmp_path):
    j = tmp_path / "out.xml"
    code, out, _ = run("check", "-p", "refcounts", "-p", "lock-discipline", "--junit", str(j))
    assert code == 0
    cases = [c for suite in JUnitXml.fromfile(str(j)) for c in suite]
    assert sorted(c.name for c in cases) == ["lock-discipline", "refcounts"]
    assert all(c.is_passed for c in cases)


def test_check_cli_json_with_reports_is_a_list(tmp_path):
    code, out, _ = run("check", "-v", "flr-revoke-typo", "-p", "undo-restores-every-revoke",
                       "-p", "refcounts", "--sarif", str(tmp_path / "x.sarif"), "--json")
    d = json.loads(out)
    assert code == 1 and [x["verdict"] for x in d] == ["violated", "holds"]


def test_unwritable_report_is_exit_2(tmp_path):
    code, _, err = run("check", "-p", "refcounts", "--junit", str(tmp_path / "no" / "such" / "x.xml"))
    assert code == 2 and "cannot write" in err and "Traceback" not in err
