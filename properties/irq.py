"""Lockdep's interrupt-state rules, for any protocol with interrupt context (model/irq.py).

Both read the ghost usage bits the build adds (``lockdep_in_hardirq[L]``,
``lockdep_hardirq_on[L]``, ``lockdep_dep[A -> B]``), so they are invariants
that every engine checks (explicit, bmc, kind, spacer):

* ``irq-inconsistent-lock-state``: no lock class is both taken in hard-IRQ
  context and taken with interrupts enabled -- lockdep's "inconsistent lock
  state", ``{IN-HARDIRQ-W} -> {HARDIRQ-ON-W}`` (or the reverse order);
* ``irq-safe-to-unsafe``: no dependency chain leads from a HARDIRQ-safe class
  (taken in hard-IRQ context) to a HARDIRQ-unsafe one (taken with interrupts
  enabled) -- lockdep's "HARDIRQ-safe -> HARDIRQ-unsafe lock order detected",
  printed with its "Possible interrupt unsafe locking scenario".

Like lockdep they speak of classes, not instances: a violation is a
possible deadlock even when the explored run never closes it.
"""
from __future__ import annotations

from revoke_check.model.expr import FALSE, TRUE, and_, or_

from . import Property, Witness

__all__ = ["IRQ_INCONSISTENT", "IRQ_SAFE_TO_UNSAFE", "ALL", "info"]


def info(m):
    return getattr(m.v, "irq", None)


def _has_irq(m):
    i = info(m)
    return i is not None and bool(i.irq_threads)


def _inconsistent(m):
    i = info(m)
    if i is None:
        return TRUE
    return and_(*[~and_(i.in_hardirq_use[c], i.hardirq_on_use[c]) for c in i.classes])


def _safe_to_unsafe(m):
    i = info(m)
    if i is None:
        return TRUE
    return and_(*[~and_(i.in_hardirq_use[a], i.hardirq_on_use[b], i.reach(a, b))
                  for a in i.classes for b in i.classes if a != b])


def _explain_inconsistent(m, st):
    i = info(m)
    return "; ".join(f"{c} is taken in hard-IRQ context (IN-HARDIRQ-W) and with interrupts "
                     f"enabled (HARDIRQ-ON-W)" for c in i.classes
                     if st[i.in_hardirq_use[c].name] and st[i.hardirq_on_use[c].name])


def _explain_unsafe(m, st):
    i = info(m)
    out = []
    for a in i.classes:
        for b in i.classes:
            if a != b and st[i.in_hardirq_use[a].name] and st[i.hardirq_on_use[b].name] \
                    and (a, b) in i.dep and st[i.dep[a, b].name]:
                out.append(f"{b} is taken while holding {a}; {a} is HARDIRQ-safe (taken in "
                           f"hard-IRQ context), {b} is HARDIRQ-unsafe (taken with interrupts enabled)")
    return "; ".join(out) or "a dependency chain leads from a HARDIRQ-safe lock to a HARDIRQ-unsafe one"


IRQ_INCONSISTENT = Property(
    "irq-inconsistent-lock-state",
    """No lock is taken both in hard-IRQ context and with interrupts enabled.

    lockdep's "inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage": if a
    thread holds the lock with interrupts on and an interrupt on its CPU
    takes the same lock, the CPU spins forever on a lock its own interrupted
    thread holds.  Every lock a hard-IRQ handler takes must be taken with
    spin_lock_irqsave (or with interrupts disabled) everywhere else.
    """,
    invariant=_inconsistent,
    witnesses=(Witness("lock-taken-in-hardirq", applies=_has_irq, state=lambda m: or_(
        *[info(m).in_hardirq_use[c] for c in info(m).classes]) if info(m).classes else FALSE),),
    explain=_explain_inconsistent,
)

IRQ_SAFE_TO_UNSAFE = Property(
    "irq-safe-to-unsafe",
    """No lock taken in hard-IRQ context is held while taking one that is taken with interrupts on.

    lockdep's "HARDIRQ-safe -> HARDIRQ-unsafe lock order detected": CPU0
    holds the unsafe lock B with interrupts on; CPU1 disables interrupts,
    takes the safe lock A and waits for B; an interrupt on CPU0 waits for A.
    Checked over dependency chains (A -> ... -> B) between lock classes.
    """,
    invariant=_safe_to_unsafe,
    witnesses=(Witness("irq-safe-and-irq-unsafe-locks", applies=_has_irq, state=lambda m: or_(
        *[and_(info(m).in_hardirq_use[a], info(m).hardirq_on_use[b])
          for a in info(m).classes for b in info(m).classes if a != b]) if len(info(m).classes) > 1
        else FALSE),),
    explain=_explain_unsafe,
)

ALL = [IRQ_SAFE_TO_UNSAFE, IRQ_INCONSISTENT]
