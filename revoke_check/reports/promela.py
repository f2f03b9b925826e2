"""Export a model as Promela: the identical transition system, for SPIN.

One global variable per state variable (``bit``/``byte``/``short``/``int`` by
its domain), one ``d_step`` per transition inside one ``do`` loop of one
process.  A d_step's first statement is its guard (``pc == value && guard``),
so SPIN takes it exactly when our semantics enables the transition; the
updates are simultaneous (every right-hand side is evaluated over the
pre-state into a ``hidden`` temporary, then assigned), and a right-hand side
leaving its variable's domain fails an ``assert`` (our explorer's model
error).  ``hidden`` temporaries are not part of SPIN's state vector, and the
process only ever rests at the loop head, so SPIN's reachable states are ours
one for one: ``spin -o2 -a`` (``-o2`` keeps write-only variables, which SPIN
would otherwise drop from the state vector) then ``pan`` with ``-DNOREDUCE``
stores exactly our distinct-state count (``tests/test_promela.py``).

Properties are not exported: the file is the transition system (use
``revoke-check check`` for the properties).
"""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from revoke_check.model.expr import Const, Op, Var

__all__ = ["to_promela", "promela_name", "expr_promela"]

_BIN = {"+": "+", "-": "-", "==": "==", "!=": "!=", "<": "<", "<=": "<="}


def promela_name(v) -> str:
    """A Promela identifier for a state variable: its slot plus a readable tail."""
    tail = re.sub(r"[^A-Za-z0-9]+", "_", v.name).strip("_")
    return f"v{v.slot}_{tail}"[:60]


def _type(d) -> str:
    if d.lo >= 0 and d.hi <= 1:
        return "bit"
    if d.lo >= 0 and d.hi <= 255:
        return "byte"
    if -32768 <= d.lo and d.hi <= 32767:
        return "short"
    return "int"


def expr_promela(e, names) -> str:
    """Promela source of an expression (booleans are 0/1, as in our semantics)."""
    if isinstance(e, Const):
        return str(int(e.value)) if e.value >= 0 else f"({int(e.value)})"
    if isinstance(e, Var):
        return names[e.slot]
    if not isinstance(e, Op):
        raise TypeError(f"not an expression: {e!r}")
    a = [expr_promela(x, names) for x in e.args]
    o = e.op
    if o == "not":
        return f"(!{a[0]})"
    if o == "and":
        return "(" + " && ".join(a) + ")"
    if o == "or":
        return "(" + " || ".join(a) + ")"
    if o == "ite":
        return f"({a[0]} -> {a[1]} : {a[2]})"
    if o in _BIN:
        return f"({a[0]} {_BIN[o]} {a[1]})"
    raise ValueError(f"operator {o!r} has no Promela translation")


def to_promela(model) -> str:
    vars_ = model.vars
    names = [promela_name(v) for v in vars_]
    out = [f"/* revoke-check: {model.variant} on {model.config.name}, exported as Promela.",
           f"   {len(vars_)} state variables, {len(model.transitions)} transitions, "
           "one d_step each; properties are not exported.",
           "   Check the state space with: spin -o2 -a FILE && gcc -O2 -DNOREDUCE -DSAFETY "
           "-o pan pan.c && ./pan -m1000000 */", ""]
    for v in vars_:
        d = v.domain
        what = f"{d.kind} {d.lo}..{d.hi}" + (f" ({', '.join(d.names)})" if d.names else "")
        out.append(f"{_type(d)} {names[v.slot]} = {model.init[v.slot]};\t/* {v.name}: {what} */")
    ntmp = max((len(t.updates) for t in model.transitions), default=0)
    out.append("")
    for k in range(ntmp):
        out.append(f"hidden int _t{k};")
    out += ["", "active proctype system()", "{", "end:", "  do"]
    for tr in model.transitions:
        pc = names[tr.pc_slot]
        g = expr_promela(tr.guard, names)
        guard = f"{pc} == {tr.pc_value}" + ("" if g == "1" else f" && {g}")
        # a step that would take a reference count below zero has no successor (our
        # semantics: it is a refcounts violation at that step, never a next state)
        rc = getattr(model, "refcount_slots", frozenset())
        for slot, e in sorted(tr.updates.items()):
            if slot in rc:
                guard += f" && ({expr_promela(e, names)}) >= {vars_[slot].domain.lo}"
        out.append(f"  /* t{tr.index} {tr.thread}: {tr.label}"
                   + (f" [{tr.choice}]" if tr.choice else "") + " */")
        body = [f"({guard}) ->"]
        ups = sorted(tr.updates.items())
        for k, (slot, e) in enumerate(ups):
            body.append(f"_t{k} = {expr_promela(e, names)};")
        for k, (slot, e) in enumerate(ups):
            d = vars_[slot].domain
            body.append(f"assert({d.lo} <= _t{k} && _t{k} <= {d.hi});")
        for k, (slot, e) in enumerate(ups):
            body.append(f"{names[slot]} = _t{k};")
        out.append("  :: d_step { " + "\n              ".join(body) + " }")
    out += ["  od", "}", ""]
    return "\n".join(out)


class SpinError(RuntimeError):
    """spin, the C compiler or pan failed, or pan's search was not exhaustive."""


def run_spin(text: str, workdir, *, max_depth: int = 1_000_000, hash_bits: int = 22,
             cc: str = "gcc", opt: str = "-O2", extra_cflags=(), memlim_mb: int = 8192) -> dict:
    """Run SPIN's exhaustive search (no partial-order reduction) on Promela ``text``.

    Returns ``{"stored", "matched", "transitions", "depth", "seconds", "memory_mb",
    "state_vector", "memory_mb", "states_mb", "rss_mb"}`` from pan's report
    (``rss_mb``: pan's peak resident set, ``cpu_seconds``: its user + system time); raises
    :class:`SpinError` if pan reports an error or a truncated search (depth limit), so a count it returns is a full one.
    ``memlim_mb`` is pan's memory limit (``-DMEMLIM``), past which it stops with an error.
    """
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    (wd / "model.pml").write_text(text)

    def run(cmd, what):
        p = subprocess.run(cmd, cwd=wd, capture_output=True, text=True)
        if p.returncode != 0:
            raise SpinError(f"{what} failed ({p.returncode}): {(p.stderr or p.stdout).strip()[-400:]}")
        return p.stdout
    run(["spin", "-o2", "-a", "model.pml"], "spin -a")
    run([cc, opt, "-DNOREDUCE", "-DSAFETY", f"-DMEMLIM={int(memlim_mb)}", *extra_cflags,
         "-o", "pan", "pan.c"], cc)
    t0 = time.monotonic()
    with open(wd / "pan.out", "w") as f:    # wait4: pan's own peak RSS, not the compiler's
        p = subprocess.Popen(["./pan", f"-m{max_depth}", f"-w{hash_bits}"], cwd=wd, stdout=f,
                             stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    secs = time.monotonic() - t0
    out = (wd / "pan.out").read_text()
    if p.returncode != 0:
        raise SpinError(f"pan failed ({p.returncode}): {out.strip()[-400:]}")

    def num(pat, cast=int):
        m = re.search(pat, out)
        if not m:
            raise SpinError(f"pan output has no {pat!r}:\n{out[-800:]}")
        return cast(m.group(1))
    if "-DMEMLIM bound" in out or "out of memory" in out:   # pan stops, exit 0, with partial counts
        raise SpinError(f"pan: out of memory (-DMEMLIM={int(memlim_mb)} MB): search incomplete")
    if "max search depth too small" in out:
        raise SpinError(f"pan: search truncated at depth {max_depth}")
    errors = num(r"errors:\s*(\d+)")
    if errors:
        raise SpinError(f"pan reported {errors} error(s):\n{out[-800:]}")
    return {"stored": num(r"(\d+) states, stored"), "matched": num(r"(\d+) states, matched"),
            "transitions": num(r"(\d+) transitions \("), "depth": num(r"depth reached (\d+)"),
            "state_vector": num(r"State-vector (\d+) byte"),
            "memory_mb": num(r"([\d.]+)\s+total actual memory usage", float),
            "states_mb": num(r"([\d.]+)\s+actual memory usage for states", float),
            "rss_mb": ru.ru_maxrss / 1024, "cpu_seconds": ru.ru_utime + ru.ru_stime,
            "pan_seconds": num(r"elapsed time ([\d.e+-]+) seconds", float), "seconds": secs}
