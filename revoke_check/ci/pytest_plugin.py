"""pytest plugin: expectations about the protocol as pytest tests.

Registered through the ``pytest11`` entry point, so a project that installs
revoke-check gets it without any configuration.  Two ways to write a test:

1. A ``*.revoke.toml`` file next to the tests; every ``[[expect]]`` entry
   becomes one pytest item per config x property x engine::

       [[expect]]
       variant = "upstream"                   # or "path/to/change.py:NAME"
       configs = ["minimal", "default", "wide"]
       properties = ["lock-discipline", "refcounts"]   # omitted: every property
       verdict = "holds"                      # or "violated"
       # engines = ["explicit"]  max_states = 100000  trace_length = 12
       # protocol = "drm-sched"               # default vfio-dmabuf (model/protocols.py)

   The items are named ``<variant>@<config>:<property>[<engine>]``.  A relative
   variant file is taken relative to the ``.revoke.toml`` file.

2. The ``revoke_check`` fixture in a Python test::

       def test_my_change(revoke_check):
           revoke_check.expect(variant="my.py:fix", configs=["wide"], verdict="holds")

Each property is checked on its own (the explorer stops at the first
violation).  When a result differs from the expectation the test fails with
the expected vs actual line and, for a violation, the rendered trace -- the
text ``revoke-check check`` prints -- as the failure message.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from revoke_check.ci.schema import load_checked

__all__ = ["Expectation", "RevokeCheckFailure", "expectations_of", "failure_message",
           "RevokeChecker"]

VERDICTS = ("holds", "violated", "vacuous", "incomplete")


class RevokeCheckFailure(AssertionError):
    """A result differs from what the test expects; the message is the report."""


@dataclass
class Expectation:
    config: str
    variant: str
    property: str
    verdict: str = "holds"
    engine: str = "explicit"
    max_states: int | None = None
    trace_length: int | None = None
    protocol: str | None = None

    @property
    def name(self) -> str:
        pre = f"{self.protocol}:" if self.protocol and self.protocol != "vfio-dmabuf" else ""
        return f"{pre}{self.variant}@{self.config}:{self.property}[{self.engine}]"

    def run(self):
        from revoke_check.run import check
        kw = {"max_states": self.max_states} if self.max_states else {}
        return check(self.config, self.variant, [self.property], engine=self.engine,
                     protocol=self.protocol, **kw)


def failure_message(x: Expectation, r) -> str | None:
    """None if ``r`` is what ``x`` expects, else the text to fail with."""
    from revoke_check.traces.render_text import render_text
    got_len = len(r.trace) if r.trace is not None else 0
    problems = []
    if r.verdict != x.verdict:
        problems.append(f"verdict: expected {x.verdict}, got {r.verdict}")
    elif x.trace_length is not None and got_len != x.trace_length:
        problems.append(f"trace_length: expected {x.trace_length}, got {got_len}")
    if not problems:
        return None
    head = f"revoke-check: {x.name}: " + "; ".join(problems)
    stats = f"{r.distinct_states} distinct states, {r.transitions} transitions, depth {r.depth}"
    if r.verdict == "violated" and r.trace is not None:
        return f"{head}\n\n{render_text(r.trace)}"
    if x.verdict == "violated" and r.verdict == "holds":
        return (f"{head}\n{x.property} now holds on {x.config} ({stats}): "
                f"the known bug of {x.variant} is no longer caught")
    if r.verdict == "vacuous":
        ws = [w for w, ok in r.witnesses.items() if not ok]
        return f"{head}\nno witness of {x.property} was reached ({stats}); unreached: {', '.join(ws)}"
    extra = r.incomplete_reason or r.message
    return f"{head}\n{stats}" + (f"\n{extra}" if extra else "")


def _as_list(v, what: str, where: str) -> list:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return v
    raise ValueError(f"{where}: {what} must be a string or a list of strings")


_KEYS = {"variant", "config", "configs", "property", "properties", "verdict", "engine",
         "engines", "max_states", "trace_length", "note", "protocol"}


def expectations_of(entry: dict, where: str = "expect", base: Path | None = None) -> list[Expectation]:
    """Expand one ``[[expect]]`` table into its Expectations."""
    from revoke_check.properties import get_properties
    extra = set(entry) - _KEYS
    if extra:
        raise ValueError(f"{where}: unknown key {sorted(extra)[0]!r}")
    variant = entry.get("variant", "upstream")
    if base is not None and (variant.endswith(".py") or ".py:" in variant):
        from revoke_check.ci.gate import resolve_variant
        variant = resolve_variant(variant, base)
    configs = _as_list(entry.get("configs"), "configs", where) + _as_list(entry.get("config"), "config", where)
    if not configs:
        raise ValueError(f"{where}: needs configs")
    from revoke_check.ci.gate import resolve_config
    configs = [resolve_config(c, base) for c in configs]
    props = (_as_list(entry.get("properties"), "properties", where)
             + _as_list(entry.get("property"), "property", where))
    from revoke_check.model.variants import get_protocol
    protocol = entry.get("protocol")
    props = [p.name for p in get_properties(props or None, get_protocol(variant, protocol=protocol))]
    engines = (_as_list(entry.get("engines"), "engines", where)
               + _as_list(entry.get("engine"), "engine", where)) or ["explicit"]
    verdict = entry.get("verdict", "holds")
    if verdict not in VERDICTS:
        raise ValueError(f"{where}: verdict must be one of {', '.join(VERDICTS)}")
    return [Expectation(c, variant, p, verdict, e, entry.get("max_states"), entry.get("trace_length"),
                        protocol)
            for c in configs for p in props for e in engines]


# --- the fixture ---------------------------------------------------------------------

@dataclass
class RevokeChecker:
    """What the ``revoke_check`` fixture gives a test."""

    results: list = field(default_factory=list)

    def expect(self, *, variant: str = "upstream", configs=("default",), properties=None,
               verdict: str = "holds", engine: str = "explicit", max_states: int | None = None,
               trace_length: int | None = None, protocol: str | None = None):
        """Check every property on every config; fail with the trace on any difference."""
        entry = {"variant": variant, "configs": list(configs) if not isinstance(configs, str) else configs,
                 "verdict": verdict, "engine": engine}
        if protocol:
            entry["protocol"] = protocol
        if properties:
            entry["properties"] = list(properties) if not isinstance(properties, str) else properties
        if max_states:
            entry["max_states"] = max_states
        if trace_length is not None:
            entry["trace_length"] = trace_length
        xs = expectations_of(entry, "revoke_check.expect()")
        fails = []
        for x in xs:
            r = x.run()
            self.results.append(r)
            msg = failure_message(x, r)
            if msg:
                fails.append(msg)
        if fails:
            pytest.fail("\n\n".join(fails), pytrace=False)
        return self.results[-len(xs):]


@pytest.fixture
def revoke_check():
    """Check protocol expectations: ``revoke_check.expect(variant=..., configs=[...], ...)``."""
    return RevokeChecker()


# --- *.revoke.toml files ------------------------------------------------------------------

def pytest_collect_file(parent, file_path):
    if file_path.name.endswith(".revoke.toml"):
        return RevokeFile.from_parent(parent, path=file_path)
    return None


class RevokeFile(pytest.File):
    def collect(self):
        raw = load_checked(self.path, "expectations", self.CollectError)
        entries = raw.get("expect")
        if not isinstance(entries, list) or not entries:
            raise self.CollectError(f"{self.path}: no [[expect]] entries")
        for i, entry in enumerate(entries):
            try:
                xs = expectations_of(entry, f"{self.path.name}: expect[{i}]", self.path.parent)
            except ValueError as e:
                raise self.CollectError(str(e)) from None
            for x in xs:
                yield RevokeItem.from_parent(self, name=x.name, expectation=x)


class RevokeItem(pytest.Item):
    def __init__(self, *, expectation: Expectation, **kw):
        super().__init__(**kw)
        self.expectation = expectation
        self.result = None

    def runtest(self):
        self.result = self.expectation.run()
        msg = failure_message(self.expectation, self.result)
        if msg:
            raise RevokeCheckFailure(msg)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, RevokeCheckFailure):
            return str(excinfo.value)
        if isinstance(excinfo.value, Exception) and type(excinfo.value).__name__.endswith("Error") \
                and type(excinfo.value).__module__.split(".")[0] in ("model", "properties", "traces"):
            return f"revoke-check: {self.expectation.name}: error: {excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"revoke-check {self.expectation.name}"
