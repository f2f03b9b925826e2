"""Lockdep's interrupt-state reports, from a trace of a protocol with interrupt context.

A trace that violates ``irq-safe-to-unsafe`` or ``irq-inconsistent-lock-state``
(:mod:`properties.irq`) is rendered the way lockdep prints the report --
"WARNING: HARDIRQ-safe -> HARDIRQ-unsafe lock order detected" with its
"Possible interrupt unsafe locking scenario", or "WARNING: inconsistent lock
state" with ``inconsistent {HARDIRQ-ON-W} -> {IN-HARDIRQ-W} usage`` -- where
lockdep's stack traces are replaced by the trace's step (number, thread,
``function:label``) that registered each usage or dependency.  Usage strings
are lockdep's: ``-`` used in hard-IRQ context, ``+`` used with interrupts
enabled, ``?`` both, ``.`` neither (the softirq columns are not modelled).
"""
from __future__ import annotations

import re

from .trace import Trace

__all__ = ["IRQ_PROPERTIES", "render_irq_report", "usage_events"]

IRQ_PROPERTIES = ("irq-safe-to-unsafe", "irq-inconsistent-lock-state")

_USE = re.compile(r"^lockdep_(in_hardirq|hardirq_on)\[(.*)\]$")
_DEP = re.compile(r"^lockdep_dep\[(.*) -> (.*)\]$")


def usage_events(trace: Trace) -> dict:
    """{("in_hardirq"|"hardirq_on", class) or ("dep", A, B): step number} of the first time each is set."""
    out: dict = {}
    for k, s in enumerate(trace.steps, 1):
        for var, (a, b) in s.changes.items():
            if b is not True or a is True:
                continue
            m = _USE.match(var)
            if m:
                out.setdefault((m.group(1), m.group(2)), k)
            m = _DEP.match(var)
            if m:
                out.setdefault(("dep", m.group(1), m.group(2)), k)
    return out


def _state(trace: Trace) -> dict:
    return trace.steps[-1].state if trace.steps else (trace.initial or {})


def _usage(st: dict, c: str) -> str:
    hard, on = st.get(f"lockdep_in_hardirq[{c}]"), st.get(f"lockdep_hardirq_on[{c}]")
    return "{" + ("?" if hard and on else "-" if hard else "+" if on else ".") + "...}"


def _where(trace: Trace, k: int) -> str:
    s = trace.steps[k - 1]
    return f"step {k}, {s.thread}: {s.step_label} ({s.source})"


def _ctx(trace: Trace, k: int) -> str:
    """lockdep's [HC.:SC0[0]:HE.:SE1] of the thread of step k, after the step."""
    s = trace.steps[k - 1]
    irq = s.thread in (trace.provenance or {}).get("irq_threads", [])
    cpu = (trace.provenance or {}).get("cpus", {}).get(s.thread)
    off = s.state.get(f"irqs_off[cpu{cpu}]", "none") != "none" if cpu is not None else False
    return (f"[HC{int(irq)}[{int(irq)}]:SC0[0]:HE{int(not (irq or off))}:SE1]"
            + (f" on CPU{cpu}" if cpu is not None else ""))


def _header(title: str) -> list[str]:
    bar = "=" * max(len(title) + 9, 32)
    return [bar, f"WARNING: {title}", "revoke-check: {variant} on config {config}", "-" * len(bar)]


def render_irq_report(trace: Trace) -> str:
    """The lockdep report of an interrupt-state violation (empty string for other traces)."""
    if trace.property not in IRQ_PROPERTIES or not trace.steps:
        return ""
    ev, st = usage_events(trace), _state(trace)
    fill = {"variant": trace.variant, "config": trace.config}
    if trace.property == "irq-inconsistent-lock-state":
        bad = [c for (kind, *rest), _ in ev.items() if kind == "in_hardirq" for c in rest
               if st.get(f"lockdep_hardirq_on[{c}]")]
        if not bad:
            return ""
        c = bad[0]
        kh, ko = ev.get(("in_hardirq", c)), ev.get(("hardirq_on", c))
        old, new = (("HARDIRQ-ON-W", "IN-HARDIRQ-W") if ko <= kh else ("IN-HARDIRQ-W", "HARDIRQ-ON-W"))
        k_new, k_old = (kh, ko) if ko <= kh else (ko, kh)
        out = [x.format(**fill) for x in _header("inconsistent lock state")]
        out += [f"inconsistent {{{old}}} -> {{{new}}} usage.",
                f"{trace.steps[k_new - 1].thread} {_ctx(trace, k_new)} takes:",
                f" ({c}){_usage(st, c)}, at: {_where(trace, k_new)}",
                f"{{{old}}} state was registered at:", f"  {_where(trace, k_old)}",
                "", "other info that might help us debug this:",
                " Possible unsafe locking scenario:", "",
                "       CPU0", "       ----", f"  lock({c});", "  <Interrupt>", f"    lock({c});",
                "", " *** DEADLOCK ***"]
        return "\n".join(out)
    # irq-safe-to-unsafe: the dependency A -> B with A HARDIRQ-safe and B HARDIRQ-unsafe
    pairs = [(a, b) for (kind, *rest), _ in ev.items() if kind == "dep" for a, b in [rest]
             if st.get(f"lockdep_in_hardirq[{a}]") and st.get(f"lockdep_hardirq_on[{b}]")]
    if not pairs:
        return ""
    a, b = pairs[0]
    kd, ks, ku = ev[("dep", a, b)], ev.get(("in_hardirq", a)), ev.get(("hardirq_on", b))
    held_at = next((k for k in range(kd, 0, -1) if any(
        v_ == trace.steps[kd - 1].thread and old != v_ and trace.locks.get(var, {}).get("class") == a
        for var, (old, v_) in trace.steps[k - 1].changes.items())), None)
    out = [x.format(**fill) for x in _header("HARDIRQ-safe -> HARDIRQ-unsafe lock order detected")]
    out += [f"{trace.steps[kd - 1].thread} {_ctx(trace, kd)} is trying to acquire:",
            f" ({b}){_usage(st, b)}, at: {_where(trace, kd)}", "",
            "and this task is already holding:",
            f" ({a}){_usage(st, a)}, at: {_where(trace, held_at) if held_at else '(earlier)'}",
            "which would create a new lock dependency:",
            f" ({a}){_usage(st, a)} -> ({b}){_usage(st, b)}", "",
            "but this new dependency connects a HARDIRQ-irq-safe lock:",
            f" ({a}){_usage(st, a)}", "... which became HARDIRQ-irq-safe at:",
            f"  {_where(trace, ks) if ks else '(initially)'}", "",
            "to a HARDIRQ-irq-unsafe lock:",
            f" ({b}){_usage(st, b)}", "... which became HARDIRQ-irq-unsafe at:",
            f"  {_where(trace, ku) if ku else '(initially)'}", "",
            "other info that might help us debug this:", "",
            " Possible interrupt unsafe locking scenario:", "",
            "       CPU0                    CPU1",
            "       ----                    ----",
            f"  lock({b});",
            "                               local_irq_disable();",
            f"                               lock({a});",
            f"                               lock({b});",
            "  <Interrupt>",
            f"    lock({a});", "", " *** DEADLOCK ***"]
    return "\n".join(out)
