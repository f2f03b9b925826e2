"""The pytest plugin, as a project using revoke-check would use it (a pytest run in tmp)."""
import os
import subprocess
import sys
from importlib.metadata import entry_points

from revoke_check.ci.pytest_plugin import Expectation, expectations_of, failure_message


def pytest_in(path, *args):
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--rootdir", str(path), str(path), *args],
                       capture_output=True, text=True, cwd=str(path), env=env)
    return p.returncode, p.stdout + p.stderr


def test_registered_as_a_pytest11_entry_point():
    eps = {e.name: e.value for e in entry_points(group="pytest11")}
    assert eps.get("revoke_check") == "revoke_check.ci.pytest_plugin"


def test_our_own_expectations_file_is_collected(pytestconfig):
    # tests/expectations.revoke.toml is collected in this very run
    root = pytestconfig.rootpath
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--collect-only", "tests/expectations.revoke.toml"],
                       capture_output=True, text=True, cwd=str(root))
    code, out = p.returncode, p.stdout + p.stderr
    assert code == 0, out
    assert "upstream@wide:refcounts[explicit]" in out
    assert "flr-revoke-typo@default:undo-restores-every-revoke[explicit]" in out


def test_revoke_toml_items_pass_and_fail_with_the_trace(tmp_path):
    (tmp_path / "protocol.revoke.toml").write_text(
        '[[expect]]\n'
        'variant = "upstream"\nconfigs = ["minimal"]\nproperties = ["refcounts"]\nverdict = "holds"\n'
        '\n[[expect]]\n'
        'variant = "flr-revoke-typo"\nconfigs = ["default"]\n'
        'properties = ["undo-restores-every-revoke"]\nverdict = "holds"\n')
    code, out = pytest_in(tmp_path, "-rA")
    assert code == 1, out
    assert "1 failed, 1 passed" in out
    assert "PASSED protocol.revoke.toml::upstream@minimal:refcounts[explicit]" in out
    # the failure message is the rendered trace, not a Python traceback
    assert ("revoke-check: flr-revoke-typo@default:undo-restores-every-revoke[explicit]: "
            "verdict: expected holds, got violated") in out
    assert "vfio_exp_config_write:up_write" in out
    assert "Traceback" not in out and "pytest_plugin.py" not in out


def test_known_bug_no_longer_caught(tmp_path):
    (tmp_path / "bugs.revoke.toml").write_text(
        '[[expect]]\nvariant = "upstream"\nconfigs = ["default"]\n'
        'properties = ["undo-restores-every-revoke"]\nverdict = "violated"\n')
    code, out = pytest_in(tmp_path)
    assert code == 1
    assert "verdict: expected violated, got holds" in out and "no longer caught" in out


def test_fixture_in_a_python_test(tmp_path):
    (tmp_path / "test_change.py").write_text(
        "def test_upstream_holds(revoke_check):\n"
        "    rs = revoke_check.expect(variant='upstream', configs=['minimal'],\n"
        "                             properties=['lock-discipline', 'refcounts'])\n"
        "    assert [r.verdict for r in rs] == ['holds', 'holds']\n\n"
        "def test_typo_is_caught(revoke_check):\n"
        "    revoke_check.expect(variant='flr-revoke-typo', configs=['default'],\n"
        "                        properties=['undo-restores-every-revoke'], verdict='holds')\n")
    code, out = pytest_in(tmp_path)
    assert code == 1 and "1 failed, 1 passed" in out
    assert "verdict: expected holds, got violated" in out
    assert "vfio_exp_config_write:up_write" in out


def test_malformed_expectations_are_a_collection_error(tmp_path):
    (tmp_path / "bad.revoke.toml").write_text('[[expect]]\nvariant = "upstream"\ncolour = 1\n')
    code, out = pytest_in(tmp_path)
    assert code != 0
    assert "unknown key 'colour'" in out and "Traceback" not in out


def test_unknown_config_fails_the_item_in_one_line(tmp_path):
    (tmp_path / "x.revoke.toml").write_text('[[expect]]\nconfigs = ["nope"]\nproperties = ["refcounts"]\n')
    code, out = pytest_in(tmp_path)
    assert code == 1 and "unknown config 'nope'" in out and "Traceback" not in out


def test_expand_and_message_helpers():
    xs = expectations_of({"variant": "upstream", "configs": ["minimal", "default"],
                          "properties": ["refcounts", "lock-discipline"]})
    assert [x.name for x in xs] == [
        "upstream@minimal:refcounts[explicit]", "upstream@minimal:lock-discipline[explicit]",
        "upstream@default:refcounts[explicit]", "upstream@default:lock-discipline[explicit]"]
    x = Expectation("default", "v5-unrevoke-after-reset", "undo-restores-every-revoke",
                    "violated", trace_length=99)
    msg = failure_message(x, x.run())
    assert msg.startswith("revoke-check: v5-unrevoke-after-reset@default:undo-restores-every-revoke"
                          "[explicit]: trace_length: expected 99, got ")
