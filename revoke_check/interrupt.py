"""Ctrl-C and progress: what an engine has done so far, shared with the CLI.

Every engine records its progress in :data:`PROGRESS` (callables are read
lazily, so the explicit explorer's state count costs nothing per state).  The
CLI installs :func:`install`: on SIGINT it interrupts z3 (whose ``check``
runs in C and would otherwise only see the signal when it returns, minutes
later) and raises ``KeyboardInterrupt`` in the main thread; the CLI then
prints ``interrupted: incomplete after N states / depth K`` and exits 130.
:func:`ticker` prints :func:`describe` on stderr every few seconds.
"""
from __future__ import annotations

import signal
import socket
import threading

__all__ = ["PROGRESS", "FIRED", "note", "reset", "describe", "install", "ticker", "check"]

PROGRESS: dict = {}
FIRED = threading.Event()
_KEEP: list = []      # the wakeup socket pair lives as long as the process


def check():
    """Raise KeyboardInterrupt if Ctrl-C was pressed.  The signal handler's own
    KeyboardInterrupt can be lost (raised inside a z3 object's ``__del__``, or
    turned into a ctypes ArgumentError), so each engine also calls this once per
    round (states, depth, k, lemma, query)."""
    if FIRED.is_set():
        raise KeyboardInterrupt

def reset(engine: str):
    PROGRESS.clear()
    PROGRESS["engine"] = engine


def note(**kw):
    PROGRESS.update(kw)


def _val(x):
    try:
        return x() if callable(x) else x
    except Exception:     # read while the engine changes it
        return None


def describe() -> str:
    """``12345 states, depth 7`` / ``depth 7`` / ``k 3, 120 lemmas`` / ``2 of 14 queries decided``."""
    parts = []
    for key, fmt in (("states", "{} states"), ("depth", "depth {}"), ("k", "k {}"),
                     ("lemmas", "{} lemmas"), ("queries", "{} queries decided")):
        v = _val(PROGRESS.get(key))
        if v is not None:
            parts.append(fmt.format(v))
    if parts:
        return ", ".join(parts)
    return "0 states" if PROGRESS.get("engine") == "explicit" else "no depth completed"


def _interrupt_z3():
    try:
        import z3
        z3.main_ctx().interrupt()
    except Exception:
        pass


def install():
    """SIGINT: set :data:`FIRED`, stop z3 at once (from a helper thread woken by the
    signal's wakeup fd), raise KeyboardInterrupt in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    if _KEEP:
        return
    import sys
    try:   # z3 would otherwise catch SIGINT itself during a check and just cancel it
        import z3
        z3.set_param("ctrl_c", False)
    except Exception:
        pass
    prev = sys.unraisablehook

    def quiet(u):   # after Ctrl-C, z3 objects half made or half freed are not news
        if not FIRED.is_set():
            prev(u)
    sys.unraisablehook = quiet
    r, w = socket.socketpair()
    w.setblocking(False)
    _KEEP.extend((r, w))

    def handler(signum, frame):
        FIRED.set()
        _interrupt_z3()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    signal.set_wakeup_fd(w.fileno(), warn_on_full_buffer=False)

    def watch():
        while True:
            data = r.recv(64)
            if not data:
                return
            if signal.SIGINT in data:
                FIRED.set()
                _interrupt_z3()

    threading.Thread(target=watch, name="revoke-check-sigint", daemon=True).start()


def ticker(emit, every: float = 5.0):
    """Call ``emit(describe())`` every ``every`` seconds until the returned event is set."""
    stop = threading.Event()

    def run():
        import time
        t0 = time.monotonic()
        while not stop.wait(every):
            if PROGRESS.get("own_progress"):     # the engine prints its own progress lines
                continue
            emit(f"[{PROGRESS.get('engine', '?')}] {describe()}, {time.monotonic() - t0:.0f}s")

    threading.Thread(target=run, name="revoke-check-progress", daemon=True).start()
    return stop
