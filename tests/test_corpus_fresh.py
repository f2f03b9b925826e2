"""Issue 10, item 8: the stored corpus matches fresh checks (make_corpus.py --check),
and the --check can fail."""
import re
import shutil
import subprocess
import sys

from conftest import ROOT


def make_corpus(*args):
    p = subprocess.run([sys.executable, "traces/make_corpus.py", "--check", *args],
                       capture_output=True, text=True, cwd=str(ROOT))
    return p.returncode, p.stdout, p.stderr


def test_stored_corpus_is_fresh():
    code, out, err = make_corpus()
    assert code == 0, err
    assert "differs" not in err and out.count("up to date") >= 14


def test_check_fails_on_a_stale_trace(tmp_path):
    text = (ROOT / "manifest.toml").read_text()
    block = next(b for b in re.split(r"(?m)^(?=\[\[check\]\])", text)
                 if 'variant = "fd-fail-double-unwind"' in b)
    (tmp_path / "m.toml").write_text(block)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    good = ROOT / "traces/corpus/fd-fail-double-unwind.json"
    shutil.copy(good, corpus / good.name)
    assert make_corpus("--manifest", str(tmp_path / "m.toml"), "--out", str(corpus))[0] == 0
    # a trace without a state variable added since (the staleness of issue 10)
    stale = "\n".join(line for line in good.read_text().splitlines() if "perm_revoked" not in line)
    (corpus / good.name).write_text(stale + "\n")
    code, _, err = make_corpus("--manifest", str(tmp_path / "m.toml"), "--out", str(corpus))
    assert code == 1 and "fd-fail-double-unwind.json: differs from a fresh check" in err
