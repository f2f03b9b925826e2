"""Issue 14: the sdist carries what the test suite needs, and the tests run from it.

``python -m build`` makes the sdist and, from it, the wheel; both pass ``twine check``.  The sdist
holds every file of the tests, the corpus, the examples, the docs, the benchmarks, the model,
the properties, the manifest and the allow-list.  Unpacked in a temporary directory and
installed (not editable) into a fresh venv, a subset of its own tests passes there, run as
``python -P -m pytest`` so that they import the installed package, not the unpacked
``revoke_check/`` (which has no ``model/``: the install maps it in).

Nothing is downloaded: the build runs without isolation, the install without dependencies and
without an index; the fresh venv reaches the test venv's packages through a ``.pth`` line.
"""
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# what the sdist must carry whole (every file below these, caches aside), and single files
TREES = ["tests", "examples", "docs", "benchmarks", "model", "properties", "traces", "revoke_check", ".ci"]
FILES = ["pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "manifest.toml", "coverage.toml",
         "tests/conftest.py", "tests/run.sh", "model/configs.toml", "traces/corpus/v5-unrevoke-after-reset.json",
         "revoke_check/ci/manifest.toml", "revoke_check/ci/coverage.toml", "revoke_check/py.typed",
         "benchmarks/configs.toml", "docs/config.schema.json", "examples/my_change.py", ".ci/run"]
SUBSET = ["tests/test_cli.py", "tests/test_manifest.py", "tests/test_lockdep_golden.py",
          "tests/test_corpus_fresh.py::test_check_fails_on_a_stale_trace"]   # the corpus script
SUBSET_K = "not test_manifest_entry"   # the whole manifest is the gate's job (tests/test_gate.py)


def _junk(rel: Path) -> bool:
    return any(p == "__pycache__" or p.endswith((".egg-info", "_cache")) for p in rel.parts) or rel.suffix == ".pyc"


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    d = tmp_path_factory.mktemp("sdist")
    # from a clean copy: a stale *.egg-info's SOURCES.txt would keep files MANIFEST.in no longer names
    src = d / "tree"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "*.egg-info", "build", "dist", "__pycache__", "*_cache"))
    p = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "-o", str(d / "dist"), str(src)],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return d, next((d / "dist").glob("revoke_check-*.tar.gz")), next((d / "dist").glob("revoke_check-*.whl"))


def test_the_sdist_carries_the_test_suite_and_its_data(dist):
    _, sdist, _ = dist
    with tarfile.open(sdist) as tf:
        names = {Path(*Path(n).parts[1:]).as_posix() for n in tf.getnames() if len(Path(n).parts) > 1}
    for f in FILES:
        assert f in names, f
    missing = sorted(rel.as_posix() for t in TREES if (ROOT / t).is_dir()
                     for f in (ROOT / t).rglob("*") if f.is_file()
                     for rel in [f.relative_to(ROOT)] if not _junk(rel) and rel.as_posix() not in names)
    assert not missing, missing
    corpus = list((ROOT / "traces" / "corpus").glob("*.json"))
    assert len(corpus) > 10 and all(f"traces/corpus/{c.name}" in names for c in corpus)


def test_twine_check_passes_on_both_artefacts(dist):
    _, sdist, wheel = dist
    p = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert "No module named twine" not in p.stderr, "twine is in the test extras: pip install -e '.[test]'"
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("PASSED") == 2, p.stdout


def test_a_subset_of_the_tests_passes_from_the_unpacked_sdist(dist):
    d, sdist, _ = dist
    with tarfile.open(sdist) as tf:
        tf.extractall(d / "unpacked", filter="data")
    src = next((d / "unpacked").iterdir())
    venv = d / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    deps = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    Path(purelib, "zz-test-deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    p = subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", "."],
                       cwd=src, capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    where = subprocess.run([py, "-P", "-c", "import revoke_check.model.protocol as m; print(m.__file__)"],
                           cwd=src, capture_output=True, text=True, env=env, timeout=300)
    assert where.returncode == 0 and where.stdout.startswith(purelib), where.stdout + where.stderr
    p = subprocess.run([py, "-P", "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", *SUBSET, "-k", SUBSET_K],
                       cwd=src, capture_output=True, text=True, env=env, timeout=1800)
    tail = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert " passed" in tail and "failed" not in tail and "error" not in tail, tail
    assert int(tail.split(" passed")[0].split()[-1]) >= 18, tail
