"""Golden tests: lockdep-style renderings of a lock-order finding and of a deadlock.

The traces come from checking ``unmap-takes-memory-lock`` on ``default`` now
(not from a stored file), so a change to the model or to the renderer shows
here.  To accept a deliberate change: REVOKE_CHECK_GOLDEN=update pytest tests/test_lockdep_golden.py
"""
import os
from pathlib import Path

import pytest

from revoke_check.run import check
from revoke_check.traces.render_lockdep import render_lockdep

GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.mark.parametrize("prop, name", [("lock-order", "lockdep-lock-order.txt"),
                                        ("deadlock-free", "lockdep-deadlock.txt")])
def test_lockdep_rendering_matches_the_golden_file(prop, name):
    r = check("default", "unmap-takes-memory-lock", [prop])
    assert r.verdict == "violated"
    text = render_lockdep(r.trace) + "\n"
    path = GOLDEN / name
    if os.environ.get("REVOKE_CHECK_GOLDEN") == "update":
        path.write_text(text)
    assert text == path.read_text()


def test_the_lock_order_rendering_is_lockdeps_shape():
    text = (GOLDEN / "lockdep-lock-order.txt").read_text()
    for line in ("WARNING: possible circular locking dependency detected",
                 "importer.imp0 is trying to acquire lock:", "but task is already holding lock:",
                 "the existing dependency chain (in reverse order) is:",
                 " Possible unsafe locking scenario:", " *** DEADLOCK ***"):
        assert line in text


def test_the_deadlock_rendering_names_the_wait_for_cycle():
    text = (GOLDEN / "lockdep-deadlock.txt").read_text()
    assert "hot_reset [comp[buf0]] -> importer.imp0 [&dev0->memory_lock] -> hot_reset" in text
    assert ("importer.imp0 waits at importer:dma_buf_unmap_attachment for\n"
            "       &dev0->memory_lock, held by hot_reset") in text
