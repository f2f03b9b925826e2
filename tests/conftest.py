import contextlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The tests import the installed revoke_check (an editable install in a checkout, a built one
# from an unpacked sdist), never the bare revoke_check/ beside them, which lacks model/ (that is
# mapped in by the install).  Child processes (python -m revoke_check.cli from ROOT) likewise:
# PYTHONSAFEPATH keeps python -m from putting the working directory first on sys.path.
os.environ.setdefault("PYTHONSAFEPATH", "1")


def run_cli(*args, cwd=ROOT):
    """``python -m revoke_check.cli *args`` in a child process: (exit code, stdout, stderr)."""
    p = subprocess.run([sys.executable, "-m", "revoke_check.cli", *args],
                       capture_output=True, text=True, cwd=str(cwd))
    return p.returncode, p.stdout, p.stderr


@contextlib.contextmanager
def own_compiled_cache(tmp_path_factory):
    """A fresh build cache for the compiled engine (tests compile what they run and leave
    ~/.cache alone), built with -O0 (these state spaces are small: build fast)."""
    import pytest
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REVOKE_CHECK_CACHE", str(tmp_path_factory.mktemp("rc-cache")))
        mp.setenv("REVOKE_CHECK_CFLAGS", "-O0")
        yield
