"""Issue 14: the wheel, installed into a fresh venv and run from a temporary directory, behaves
as the checkout does; it carries the manifest, the allow-list, the schemas and the corpus, and
has no top-level ``model``, ``properties`` or ``traces`` package.

The wheel is built without build isolation and installed without dependencies; the fresh venv
reaches the test venv's installed dependencies through a ``.pth`` line (no download here).
"""
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    d = tmp_path_factory.mktemp("wheel")
    # from a clean copy: an in-tree build writes build/ and *.egg-info into the checkout, which
    # raced with other tests reading the tree (a failed `pip wheel` in a full run)
    src = d / "tree"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "*.egg-info", "build", "dist", "__pycache__", "*_cache"))
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(d / "dist"), str(src)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    whl = next((d / "dist").glob("revoke_check-*.whl"))
    venv = d / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(whl)],
                   check=True, capture_output=True, text=True)
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    deps = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    Path(purelib, "zz-test-deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    work = d / "elsewhere"
    work.mkdir()
    return whl, venv / "bin" / "revoke-check", work


def run(exe, work, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    p = subprocess.run([str(exe), *args], cwd=work, capture_output=True, text=True, env=env, timeout=1800)
    return p.returncode, p.stdout, p.stderr


def test_the_wheel_has_one_namespace_and_its_data(wheel_env):
    whl, _, _ = wheel_env
    names = zipfile.ZipFile(whl).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"revoke_check"}, tops
    for need in ("revoke_check/ci/manifest.toml", "revoke_check/ci/coverage.toml",
                 "revoke_check/model/configs.toml", "revoke_check/ci/schemas/manifest.schema.json",
                 "revoke_check/py.typed", "revoke_check/model/series/bar_mmap_dmabuf_v8.py",
                 "revoke_check/traces/corpus/v5-unrevoke-after-reset.json"):
        assert need in names, need
    assert any(n.endswith("LICENSE") for n in names)


def test_version_check_gate_and_coverage_from_the_wheel_as_from_the_checkout(wheel_env):
    _, exe, work = wheel_env
    from revoke_check import __version__
    code, out, _ = run(exe, work, "--version")
    assert code == 0 and __version__ in out
    code, out, _ = run(exe, work, "check", "-c", "default", "-q")
    assert code == 0 and "upstream on default [explicit]: holds" in out
    code, out, _ = run(exe, work, "check", "-c", "default", "-v", "v5-unrevoke-after-reset", "-q")
    assert code == 1 and "VIOLATED: undo-restores-every-revoke" in out
    code, out, err = run(exe, work, "gate")
    assert code == 0, (out[-2000:], err)
    from revoke_check.ci.manifest import load_manifest
    from revoke_check.ci.coverage import COVERAGE_FILE, load_allow
    allow = load_allow(COVERAGE_FILE)
    n = sum(not e.slow for e in load_manifest()) + len(allow.targets) + len(allow.precondition_configs())
    assert f"gate: passed: {n} of {n} as expected" in out
    code, out, err = run(exe, work, "coverage", "-c", "wide", "--fail-unfired")
    assert code == 0, (out[-2000:], err)
    code, out, _ = run(exe, work, "check", "-c", "tiny", "--json", "-q")
    assert code == 0 and '"version": "%s"' % __version__ in out
