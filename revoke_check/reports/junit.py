"""JUnit XML for CI systems: one test case per property x config x variant x engine.

Each (variant, config, engine) is a ``<testsuite>``; each property checked in
it is a ``<testcase>`` whose ``classname`` is ``"<variant> on <config>
[<engine>]"`` and whose ``name`` is the property.  A violated property is a
``<failure type="violated">`` whose text is the rendered trace (the same text
``revoke-check check`` prints), a vacuous one a ``<failure type="vacuous">``;
an incomplete or failed check is an ``<error>``.  When several properties were
checked together and the explorer stopped at the first violation, the others
are ``<skipped>`` ("not decided"): use :func:`~revoke_check.reports.checks.check_each`
for one verdict per property.

The gate (:mod:`revoke_check.ci.gate`) writes one test case per manifest entry
through :func:`junit_xml_cases`.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from revoke_check.traces.render_text import render_text

from revoke_check.result import ERROR, INCOMPLETE, VACUOUS, VIOLATED

__all__ = ["Case", "cases_of", "junit_xml", "junit_xml_cases"]


@dataclass
class Case:
    suite: str
    classname: str
    name: str
    seconds: float = 0.0
    outcome: str = "pass"        # pass | failure | error | skipped
    type: str = ""
    message: str = ""
    text: str = ""
    stdout: str = ""
    properties: dict = field(default_factory=dict)


def _summary(r) -> str:
    bound = f", bound {r.bound}" if r.bound is not None else ""
    return (f"{r.variant} on {r.config} [{r.engine}{bound}]: {r.verdict} -- "
            f"{r.distinct_states} distinct states, {r.transitions} transitions, depth {r.depth}")


def cases_of(r) -> list[Case]:
    """The test cases of one Result: one per property it checked."""
    suite = f"revoke-check: {r.variant} on {r.config} [{r.engine}]"
    cls = f"{r.variant} on {r.config} [{r.engine}]"
    props = list(r.properties) or ([r.property] if r.property else ["all"])
    share = r.seconds / max(len(props), 1)
    info = {"config": r.config, "variant": r.variant, "engine": r.engine,
            "distinct_states": r.distinct_states, "transitions": r.transitions}
    out = []
    for p in props:
        c = Case(suite, cls, p, share, stdout=_summary(r), properties=info)
        if r.verdict == VIOLATED:
            if p == r.property:
                c.outcome, c.type = "failure", "violated"
                c.message = r.message or f"{p} violated"
                c.text = render_text(r.trace) if r.trace is not None else c.message
            else:
                c.outcome, c.type = "skipped", "not-decided"
                c.message = (f"not decided: the check of {len(props)} properties together "
                             f"stopped at the first violation ({r.property})")
        elif r.verdict == VACUOUS and p in r.vacuous:
            ws = [w for w, ok in r.witnesses.items() if w.startswith(p + "/") and not ok]
            c.outcome, c.type = "failure", "vacuous"
            c.message = f"{p} holds vacuously: no witness reached"
            c.text = c.message + ("\nunreached witnesses: " + ", ".join(ws) if ws else "")
        elif r.verdict == INCOMPLETE:
            c.outcome, c.type = "error", "incomplete"
            c.message = r.incomplete_reason or r.message or "incomplete"
            c.text = f"{c.message} after {r.distinct_states} distinct states: not proved"
        elif r.verdict == ERROR:
            c.outcome, c.type = "error", "error"
            c.message = r.message or "error"
            c.text = render_text(r.trace) if r.trace is not None else c.message
        # holds, or vacuous for another property: a pass
        out.append(c)
    return out


def junit_xml_cases(cases, *, name: str = "revoke-check") -> str:
    """A ``<testsuites>`` document of ``cases``, grouped into suites by ``Case.suite``."""
    root = ET.Element("testsuites", name=name)
    suites: dict = {}
    for c in cases:
        suites.setdefault(c.suite, []).append(c)
    tot = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    tot_time = 0.0
    for sname, cs in suites.items():
        n = {"tests": len(cs), "failures": sum(c.outcome == "failure" for c in cs),
             "errors": sum(c.outcome == "error" for c in cs),
             "skipped": sum(c.outcome == "skipped" for c in cs)}
        secs = sum(c.seconds for c in cs)
        s = ET.SubElement(root, "testsuite", name=sname, time=f"{secs:.3f}",
                          **{k: str(v) for k, v in n.items()})
        if cs[0].properties:
            ps = ET.SubElement(s, "properties")
            for k, v in cs[0].properties.items():
                if k != "distinct_states" and k != "transitions":
                    ET.SubElement(ps, "property", name=k, value=str(v))
        for c in cs:
            tc = ET.SubElement(s, "testcase", classname=c.classname, name=c.name,
                               time=f"{c.seconds:.3f}")
            if c.outcome in ("failure", "error"):
                el = ET.SubElement(tc, c.outcome, message=c.message, type=c.type)
                el.text = c.text
            elif c.outcome == "skipped":
                ET.SubElement(tc, "skipped", message=c.message)
            if c.stdout:
                ET.SubElement(tc, "system-out").text = c.stdout
        for k in tot:
            tot[k] += n[k]
        tot_time += secs
    for k, v in tot.items():
        root.set(k, str(v))
    root.set("time", f"{tot_time:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def junit_xml(results, *, name: str = "revoke-check") -> str:
    """JUnit XML for a list of Results (one test case per property of each)."""
    return junit_xml_cases([c for r in results for c in cases_of(r)], name=name)
