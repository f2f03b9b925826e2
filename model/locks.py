"""Lock primitives as guard/update fragments: rw_semaphore, mutex, ww_mutex (resv).

A lock is an owner variable (``"none"`` or a thread name).  Taking it is a
guard (free) plus an update (owner := me); releasing it is an update plus an
``unlock`` event whose assertion (owner == me) is the lock-discipline property.

A critical section that does not block is written as one atomic step (take,
work, release): acquisition is a right mover and release a left mover
(Lipton's reduction), so no interleaving that matters is lost.
"""
from __future__ import annotations

from .expr import and_, Const
from .lang import Event

NONE = Const(0)


def rwsem_write_free(v, d):
    """``down_write(&vdev->memory_lock)`` can proceed: no writer, no reader."""
    return and_(v.memory_lock[d] == NONE, v.memory_lock_readers[d] == 0)


def down_write(t, d) -> dict:
    return {t.v.memory_lock[d]: t.me}


def zap_and_down_write(t, d) -> dict:
    """``vfio_pci_zap_and_down_write_memory_lock``: take the lock, then zap the BAR PTEs."""
    return {t.v.memory_lock[d]: t.me, t.v.bar_pte[d]: 0}


def up_write(t, d) -> tuple[dict, Event]:
    return {t.v.memory_lock[d]: NONE}, Event("unlock", (t.v.memory_lock[d], t.me))


def mutex_free(owner):
    return owner == NONE


def mutex_lock(t, owner) -> dict:
    return {owner: t.me}


def mutex_unlock(t, owner) -> tuple[dict, Event]:
    return {owner: NONE}, Event("unlock", (owner, t.me))


def takes(*classes) -> Event:
    """A one-step critical section that takes these lock classes, in order, and drops them.

    Lipton's reduction hides the nesting from the owner variables; this event
    keeps it visible to the lock-order property.
    """
    return Event("locks", tuple(classes))


def resv_free(v, b):
    """``dma_resv_lock(dmabuf->resv)`` can proceed."""
    return v.resv[b] == NONE
