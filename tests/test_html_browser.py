"""The HTML report in a real headless browser (Debian's ``chromium``).

The report of the ``v5-unrevoke-after-reset`` counterexample is opened with
``chromium --headless``: the DOM after load must hold every step row, the
page's own check must have counted them, and no script error may be
recorded.  A screenshot must be a real picture (not one flat colour).  If
chromium is missing the tests FAIL: run ``tests/run.sh``, which installs it.
"""
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from revoke_check.traces.render_html import render_html
from revoke_check.traces.trace import Trace

ROOT = Path(__file__).resolve().parent.parent
TRACE = ROOT / "traces" / "corpus" / "v5-unrevoke-after-reset.json"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-extensions", "--hide-scrollbars"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    pytest.fail("chromium is not installed: run tests/run.sh (it installs the Debian package "
                "chromium), or apt-get install -y chromium", pytrace=False)


def run_chromium(tmp_path, *args) -> subprocess.CompletedProcess:
    cmd = [chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    # the limit only keeps a hung browser from hanging the suite; nothing is timed
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    t = Trace.load(TRACE)
    page = d / "v5-report.html"
    page.write_text(render_html(t))
    return t, page, d


class _Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.body = None
        self.rows = []
        self.text = []
        self.marks = []
        self.lock_cells = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if tag == "tr" and "step" in (a.get("class") or "").split():
            self.rows.append(a)
        if a.get("id") in ("fixpoint", "fixbanner"):
            self.marks.append(a["id"])
        if tag == "td" and "locks" in (a.get("class") or "").split():
            self.lock_cells += 1

    def handle_data(self, data):
        self.text.append(data)


def test_report_loads_in_chromium_and_shows_every_step(report):
    t, page, d = report
    p = run_chromium(d, "--dump-dom", page.as_uri())
    assert p.returncode == 0, p.stderr[-2000:]
    dom = _Dom()
    dom.feed(p.stdout)
    assert dom.body is not None, "chromium returned no DOM"
    assert dom.body.get("data-errors") == "", f"script errors: {dom.body.get('data-errors')}"
    assert dom.body.get("data-rendered-steps") == str(len(t)), \
        "the page's own check did not run or did not count every step"
    assert dom.body.get("data-visible-steps") == str(len(t)), "some step rows are not shown"
    assert [r.get("id") for r in dom.rows] == [f"step-{k}" for k in range(1, len(t) + 1)]
    assert [r.get("data-thread") for r in dom.rows] == [s.thread for s in t.steps]
    text = " ".join(" ".join(dom.text).split())
    for s in t.steps:
        assert s.step_label in text
    assert t.message in text
    assert "Uncaught" not in p.stderr


def _png_pixels(path: Path):
    """(width, height, raw scanline bytes) of a PNG, with the standard library only."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    return w, h, zlib.decompress(idat)


def test_report_screenshot_is_a_picture(report):
    t, page, d = report
    shot = d / "shot.png"
    p = run_chromium(d, f"--screenshot={shot}", "--window-size=1400,2000", page.as_uri())
    assert p.returncode == 0 and shot.exists(), p.stderr[-2000:]
    w, h, raw = _png_pixels(shot)
    assert (w, h) == (1400, 2000)
    assert len(set(raw[::7])) > 20, "the screenshot is (nearly) one flat colour"


def test_report_explains_why_fix_point_locks_held_and_slice(report):
    """The v5 trace replayed on upstream differs at step 11 (err_undo un-revokes): the report marks
    that step, shows the locks held after every step, and dims the steps outside the slice."""
    t, page, d = report
    p = run_chromium(d, "--dump-dom", page.as_uri())
    dom = _Dom()
    dom.feed(p.stdout)
    assert dom.marks == ["fixbanner", "fixpoint"]
    fix = [r for r in dom.rows if "fixpoint" in r.get("class", "").split()]
    assert [r.get("id") for r in fix] == ["step-11"]
    assert dom.lock_cells == len(t)
    text = " ".join(" ".join(dom.text).split())
    assert "locks held after" in text and "&dev0->memory_lock (hot_reset)" in text
    assert "upstream differs at step 11" in text
    aside = [r.get("id") for r in dom.rows if "aside" in r.get("class", "").split()]
    assert aside and len(aside) < len(t)
