"""Issue 10, item 6: manifest.toml, coverage.toml and *.revoke.toml are validated
strictly against the JSON Schemas in revoke_check/schemas/."""
import tomllib
from pathlib import Path

import pytest

from revoke_check.ci.schema import problem

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("path, schema", [
    ("manifest.toml", "manifest"), ("coverage.toml", "coverage"),
    ("tests/expectations.revoke.toml", "expectations"),
])
def test_the_projects_files_fit(path, schema):
    assert problem(tomllib.loads((ROOT / path).read_text()), schema) is None


@pytest.mark.parametrize("doc, schema, msg", [
    ({"expect": [{"variant": "x"}]}, "expectations", "expect[0]: needs configs or config"),
    ({"expect": [{"configs": ["tiny"], "engines": ["bmx"]}]}, "expectations",
     "expect[0].engines[0]: 'bmx' is not one of explicit"),
    ({"expect": [{"configs": "tiny", "verdict": "hold"}]}, "expectations", "expect[0].verdict: 'hold'"),
    ({"expect": [{"configs": "tiny", "max_states": "10"}]}, "expectations", "'10' is not of type integer"),
    ({"expects": []}, "expectations", "unknown table 'expects'"),
    ({"unfired": [{"config": "x", "step": "s", "reason": "  "}]}, "coverage",
     "unfired[0].reason: must not be empty"),
    ({"target": [{"config": "x", "variants": "y"}]}, "coverage", "target[0]: unknown key 'variants'"),
])
def test_problems_are_named(doc, schema, msg):
    got = problem(doc, schema)
    assert got is not None and msg in got and "\n" not in got


def test_plugin_rejects_a_misspelt_key(tmp_path):
    from test_pytest_plugin import pytest_in
    (tmp_path / "bad.revoke.toml").write_text('[[expect]]\nconfigs = ["tiny"]\nverdcit = "holds"\n')
    code, out = pytest_in(tmp_path)
    assert code != 0 and "expect[0]: unknown key 'verdcit'" in out, out
