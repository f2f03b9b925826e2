"""What a protocol declares: object kinds, struct fields, locks, actor kinds, config keys.

The kernel's files each own some struct fields and locks; the model's files
do the same.  Each module of ``model/`` has a ``declare(p)`` that adds its
declarations to a :class:`~model.protocol.Protocol` with ``p.add_*``, and a
variant file (a "patch") adds its own through the same calls.  Nothing here
knows the vfio protocol: these are plain records.

* :class:`ObjectKind` -- a kind of kernel object a config instantiates
  (``device`` = ``struct vfio_pci_core_device``, ``buf``, ``importer``, ...),
  with the config attributes each instance has (:class:`Attr`).
* :class:`Field` -- one struct field of every object of a kind (or one global
  variable): a finite domain and an initial value, both possibly computed
  from the config.
* :class:`Lock` -- a lock field with its type (mutex, rwsem, spinlock,
  ww_mutex) and lockdep class; it declares the owner field (and, for an
  rwsem, the reader count) that steps take and release.
* :class:`ActorKind` -- a kind of kernel thread: the procedure it enters, the
  config key that names what it works on, its extra config keys.
* :class:`Attr` -- a typed config key (of an object, an actor, ``inject`` or
  the config itself), from which the config's JSON Schema is generated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Attr", "ObjectKind", "Field", "Lock", "ActorKind", "REQUIRED", "LOCK_TYPES"]


class _Required:
    def __repr__(self):
        return "REQUIRED"


REQUIRED = _Required()
"""Default of an :class:`Attr` that a config must give."""


@dataclass(frozen=True)
class Attr:
    """A typed config key.

    ``type`` is ``bool``, ``int``, ``str``, ``ref:KIND`` (the name of an
    object of that kind; stored as its index), ``list:bool`` or
    ``list:ref:KIND``.  ``choices`` restricts a ``str``.
    """

    name: str
    type: str
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple = ()
    minimum: int | None = None


@dataclass(frozen=True)
class ObjectKind:
    """A kind of kernel object; a config lists its instances under ``key``."""

    name: str                 # "device"
    key: str                  # config key, "devices"
    struct: str               # the kernel struct, for documentation
    attrs: tuple = ()         # Attr, besides "name"
    doc: str = ""
    ref: str = ""             # the key actors and other objects use to name one ("dev")
    required: bool = False    # a config needs at least one


@dataclass(frozen=True)
class Field:
    """A struct field: one state variable per object of ``kind`` (``None``: one global).

    ``domain`` and ``init`` are values or ``fn(cfg, index)`` (``fn(cfg)`` for a
    global); ``domain`` may be the string ``"owner"``: ``none`` or a thread.
    The variable is named ``name[object]``, or ``var`` for a global.
    ``refcount`` marks a reference count (``refcount_t``, a file's count, a
    usage count): a step that would take it below its domain's low end is a
    ``refcounts`` violation at that step (the kernel saturates and warns),
    not a model error.
    """

    kind: str | None
    name: str
    domain: Any
    init: Any = 0
    doc: str = ""
    var: str = ""
    refcount: bool = False    # a reference count: going below its domain is a refcounts violation


LOCK_TYPES = {
    # type: (acquire, release, read acquire, read release)
    "mutex": ("mutex_lock", "mutex_unlock", None, None),
    "rwsem": ("down_write", "up_write", "down_read", "up_read"),
    "spinlock": ("spin_lock", "spin_unlock", None, None),
    "ww_mutex": ("dma_resv_lock", "dma_resv_unlock", None, None),
}


@dataclass(frozen=True)
class Lock:
    """A lock field: its owner variable (``"none"`` or a thread) and, for an rwsem, readers.

    ``klass`` is the lockdep class the lock-order property keys dependencies
    by; ``expr`` renders one instance the way C code names it (``{}`` is the
    object's name), e.g. ``&{}->memory_lock``.
    """

    kind: str | None
    name: str
    type: str
    klass: str = ""
    expr: str = ""
    doc: str = ""
    var: str = ""
    readers: Any = None       # rwsem: max readers (value or fn(cfg, index)); default: every thread

    @property
    def verbs(self) -> tuple:
        return LOCK_TYPES[self.type]

    @property
    def lock_class(self) -> str:
        return self.klass or self.name

    @property
    def readers_name(self) -> str | None:
        return f"{self.name}_readers" if self.type == "rwsem" else None


@dataclass(frozen=True)
class ActorKind:
    """A kind of kernel thread a config may run.

    ``target`` is the object kind it works on, named in the config by that
    kind's ``ref`` key (or by ``key`` when given, e.g. ``via`` for hot reset);
    ``args(cfg, actor)`` gives the entry procedure's keyword arguments.
    ``params`` are further config keys (an actor's ``mem`` list).  ``per``
    makes it implicit: one idle thread per object of that kind, not listed in
    configs (the deferred ``dma_buf_release`` of every buf).  ``wrap`` is
    ``(procedure, fn(cfg) -> bool)``: when the test holds, the entry runs
    inside that procedure (``vfio_device_fops_unl_ioctl``).
    """

    name: str
    entry: str
    target: str | None = None
    args: Callable = field(default=lambda cfg, a: {})
    key: str = ""
    params: tuple = ()
    doc: str = ""
    holds_fd: bool = False     # holds its device's fd while it runs (close waits for it)
    needs_open: bool = False   # its device must be open in the config
    per: str = ""              # implicit: one thread per object of this kind
    when: Callable | None = None   # implicit threads: fn(cfg, obj) -> bool
    thread_name: Callable | None = None  # fn(target name) -> thread name
    idle: bool = False         # may stop at its first label (a work item never queued)
    wrap: tuple | None = None
    irq: bool = False          # a hard-IRQ handler: one interrupt arrival (model/irq.py)
