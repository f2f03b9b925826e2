"""Issue 14: mypy passes on the public API (the ``files`` of ``[tool.mypy]`` in pyproject.toml).

The package maps ``model/``, ``properties/`` and ``traces/`` into ``revoke_check`` (a wheel has no
top-level ``model``), which mypy cannot follow in a checkout; so the test links the checkout into
the wheel's layout in a temporary directory and runs mypy there with the project's configuration.
``python tests/test_mypy.py`` does the same by hand and prints mypy's report.
"""
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPED = {"model": "model", "properties": "properties", "traces": "traces"}   # [tool.setuptools.package-dir]


def wheel_layout(dest: Path) -> Path:
    """``dest/revoke_check``: symlinks to the checkout's files, laid out as the wheel installs them."""
    pkg = dest / "revoke_check"
    pkg.mkdir()
    for e in (ROOT / "revoke_check").iterdir():
        if e.name != "__pycache__":
            (pkg / e.name).symlink_to(e)
    for sub, src in MAPPED.items():
        (pkg / sub).symlink_to(ROOT / src)
    return dest


def mypy_files() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]


def run_mypy(dest: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                           "--cache-dir", str(ROOT / ".mypy_cache"), "--no-error-summary", *mypy_files()],
                          cwd=wheel_layout(dest), capture_output=True, text=True, timeout=600)


def test_the_public_api_type_checks(tmp_path):
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert "ignore_errors" not in cfg and len(cfg["files"]) >= 10
    p = run_mypy(tmp_path)
    for f in cfg["files"]:   # each listed module exists (a renamed one is not silently dropped)
        assert (tmp_path / f).is_file(), f
    assert "No module named mypy" not in p.stderr, "mypy is in the test extras: pip install -e '.[test]'"
    errors = [line for line in p.stdout.splitlines() if ": error:" in line]
    assert p.returncode == 0 and not errors, p.stdout[-4000:] + p.stderr[-2000:]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        p = run_mypy(Path(d))
        print(p.stdout + p.stderr, end="")
        sys.exit(p.returncode)
