"""A protocol: what its modules declare; building it for a config gives a Model.

Each module of ``model/`` named after a kernel file has ``declare(p)``, which
adds the object kinds, struct fields, locks, helpers, procedures and actor
kinds that file owns, with the ``add_*`` calls of :class:`Protocol`.  A
*variant* (``model/variants.py``, ``model/series/``, or a user's file) is a
function that receives a copy of upstream and changes it with the same calls
plus the step edits (replace, insert before/after, delete): a patch adds its
state, locks, actors, properties and configs the way upstream declares its
own.  :meth:`Protocol.build` instantiates everything for one
:class:`~model.config.Config` and compiles the procedures to transitions.
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Callable

from .config import Config, ConfigError, config_schema, parse_config, read_config_file, split_spec
from .expr import ENUM, INT, Const, Domain, Var, to_python
from .lang import (Array, Call, DONE, Event, ModelError, StateBuilder, Transition, _Proc,
                   compile_thread)
from .schema import ActorKind, Attr, Field, Lock, ObjectKind

__all__ = ["Protocol", "Ctx", "Model", "Thread", "Vars", "LockInstance", "procedure", "upstream",
           "UPSTREAM", "MODULES"]

UPSTREAM = "upstream"


class Vars:
    """Handles on the shared state: one attribute per declared field.

    A per-object field is an :class:`~model.lang.Array` (``v.revoked[b]``), a
    global one a :class:`~model.expr.Var` (``v.dev_set_lock``).  Declared
    helpers are methods (``v.memory_enabled(d)``); ``v.pcs`` maps thread
    names to their pc.
    """

    def __init__(self, cfg: Config, owners: tuple, helpers: dict):
        self.cfg, self.owners, self._helpers = cfg, owners, helpers
        self.pcs: dict = {}

    def __getattr__(self, name):
        helpers = self.__dict__.get("_helpers", {})
        if name in helpers:
            return partial(helpers[name], self)
        raise AttributeError(f"no field or helper {name!r} is declared")

    def owner(self, thread: str) -> int:
        return self.owners.index(thread)


class Ctx:
    """What a procedure sees of the thread it is instantiated for."""

    def __init__(self, thread: str, v: Vars, sb: StateBuilder):
        self.thread, self.v, self.sb, self.cfg = thread, v, sb, v.cfg
        self.me = Const(v.owner(thread)) if thread in v.owners else None
        self._locals: dict[str, Var] = {}

    def local(self, name: str, domain: Domain, init=0) -> Var:
        """A thread-local variable (``thread.name``), declared on first use."""
        if name not in self._locals:
            self._locals[name] = self.sb.var(f"{self.thread}.{name}", domain, init)
        return self._locals[name]


@dataclass
class Thread:
    name: str
    kind: str
    pc: Var
    finals: frozenset       # pc values where the thread may stop (done, idle)


@dataclass(frozen=True)
class LockInstance:
    """One lock of one object: its declaration and its state variables."""

    decl: Lock
    obj: str | None          # the object's name (None for a global lock)
    owner: Var
    readers: Var | None      # rwsem: the reader count

    def c_name(self) -> str:
        """How C code names it: ``&dev0->memory_lock``."""
        if self.decl.expr:
            return self.decl.expr.format(self.obj or "")
        return f"&{self.obj}->{self.decl.name}" if self.obj else f"&{self.decl.name}"


@dataclass
class Model:
    """A protocol built for one config: the input of every engine."""

    config: Config
    variant: str
    vars: list              # Var, by slot
    init: tuple
    threads: list
    transitions: list       # Transition, by index
    v: Vars
    locks: list = field(default_factory=list)   # LockInstance
    spec: str = ""          # the variant as given (name or FILE.py:NAME)
    refcount_slots: frozenset = frozenset()      # slots of fields declared refcount=True
    protocol: str = "vfio-dmabuf"   # the protocol family (model/protocols.py)

    def var(self, name: str) -> Var:
        for x in self.vars:
            if x.name == name:
                return x
        raise KeyError(name)

    def thread(self, name: str) -> Thread:
        for t in self.threads:
            if t.name == name:
                return t
        raise KeyError(name)

    def show(self, state) -> dict:
        """The state as {variable name: readable value}."""
        return {x.name: x.domain.show(state[x.slot]) for x in self.vars}

    def digest(self) -> str:
        """sha256 of the built transition system (variables, initial state, transitions)."""
        h = hashlib.sha256()
        for x in self.vars:
            h.update(f"{x.name}:{x.domain.lo}..{x.domain.hi}:{x.domain.names}\n".encode())
        h.update(repr(self.init).encode())
        for t in self.transitions:
            ups = ",".join(f"{s}={to_python(e)}" for s, e in sorted(t.updates.items()))
            evs = [(e.kind, [a if isinstance(a, (int, str)) else to_python(a) for a in e.args]) for e in t.events]
            h.update(f"\n{t.thread}|{t.label}|{t.pc_value}|{to_python(t.guard)}|{ups}|{evs}".encode())
        return h.hexdigest()

    def lock_table(self) -> dict:
        """{variable name: {type, class, c, mode}} of every lock variable, for traces."""
        out = {}
        for li in self.locks:
            acq, rel, racq, rrel = li.decl.verbs
            out[li.owner.name] = {"type": li.decl.type, "class": li.decl.lock_class, "c": li.c_name(),
                                  "acquire": acq, "release": rel, "mode": "write"}
            if li.readers is not None:
                out[li.readers.name] = {"type": li.decl.type, "class": li.decl.lock_class,
                                        "c": li.c_name(), "acquire": racq, "release": rrel,
                                        "mode": "read"}
        return out


Maker = Callable[..., object]


def _resolve(x, *args):
    return x(*args) if callable(x) else x


@dataclass
class Protocol:
    """Declarations plus named procedures plus the edits a variant made to them."""

    name: str
    procs: dict = field(default_factory=dict)        # name -> (fn, source)
    edits: dict = field(default_factory=dict)        # name -> [(op, label, maker)]
    doc: str = ""
    kinds: dict = field(default_factory=dict)        # name -> ObjectKind
    fields: list = field(default_factory=list)       # Field, in declaration order
    locks: list = field(default_factory=list)        # Lock
    helpers: dict = field(default_factory=dict)      # name -> fn(v, *args)
    actor_kinds: dict = field(default_factory=dict)  # name -> ActorKind
    properties: dict = field(default_factory=dict)   # name -> Property
    configs: dict = field(default_factory=dict)      # name -> (raw table, origin, sha256)
    config_checks: list = field(default_factory=list)
    injects: dict = field(default_factory=dict)      # key -> Attr
    settings: dict = field(default_factory=dict)     # key -> Attr
    spec: str = ""                                    # the variant as given
    fixed_by: str | None = None                       # the variant that fixes this one, if known
    family: str = "vfio-dmabuf"                       # the protocol it belongs to (model/protocols.py)

    # --- declarations (upstream's modules and variants alike) ----------------
    def add_object_kind(self, kind: ObjectKind):
        """Declare a kind of kernel object; configs list its instances under ``kind.key``."""
        if kind.name in self.kinds:
            raise ModelError(f"{self.name}: object kind {kind.name!r} declared twice")
        self.kinds[kind.name] = kind

    def add_attr(self, kind: str, attr: Attr):
        """Add a config attribute to an existing object kind."""
        k = self._kind(kind)
        if any(a.name == attr.name for a in k.attrs):
            raise ModelError(f"{self.name}: {kind} already has attribute {attr.name!r}")
        self.kinds[kind] = replace(k, attrs=k.attrs + (attr,))

    def add_field(self, f: Field | str, name: str | None = None, domain=None, init=0, doc="", var="",
                  refcount: bool = False):
        """Declare a struct field: ``add_field(Field(...))`` or ``add_field(kind, name, domain, init, doc)``."""
        if not isinstance(f, Field):
            if name is None:
                raise ModelError(f"{self.name}: add_field({f!r}, ...) needs a field name")
            f = Field(f, name, domain, init, doc, var, refcount)
        if f.kind is not None:
            self._kind(f.kind)
        if any(x.name == f.name for x in self.fields):
            raise ModelError(f"{self.name}: field {f.name!r} declared twice")
        self.fields.append(f)
        return f

    def add_lock(self, lock: Lock):
        """Declare a lock: its owner field and, for an rwsem, its reader count."""
        from .schema import LOCK_TYPES
        if lock.type not in LOCK_TYPES:
            raise ModelError(f"{self.name}: lock {lock.name}: unknown type {lock.type!r} "
                             f"(known: {', '.join(LOCK_TYPES)})")
        self.locks.append(lock)
        self.add_field(Field(lock.kind, lock.name, "owner", "none", lock.doc, lock.var))
        if lock.readers_name is not None:   # an rwsem
            rd = lock.readers
            self.add_field(Field(lock.kind, lock.readers_name,
                                 lambda cfg, *k: INT(0, max(1, _resolve(rd, cfg, *k)
                                                            if rd is not None else len(cfg.threads))),
                                 0, f"readers of {lock.name}",
                                 f"{lock.var}_readers" if lock.var else ""))
        return lock

    def add_helper(self, name: str, fn: Callable, replace: bool = False):
        """A helper over the state, called as ``v.name(*args)`` (e.g. ``memory_enabled``)."""
        if name in self.helpers and not replace:
            raise ModelError(f"{self.name}: helper {name!r} declared twice (replace=True to change it)")
        self.helpers[name] = fn

    def add_procedure(self, name, fn: Callable | None = None, source: str | None = None):
        """Add a new procedure ``fn(t, **args)`` (or a function decorated with :func:`procedure`)."""
        if fn is None and callable(name):
            fn = name
            name, source = getattr(fn, "procedure_name"), getattr(fn, "procedure_source")
        if name in self.procs:
            raise ModelError(f"{self.name}: procedure {name!r} exists (replace_procedure changes it)")
        if not source:
            raise ModelError(f"{self.name}: procedure {name!r} needs a kernel source file:function")
        self.procs[name] = (fn, source)

    def add_actor_kind(self, ak: ActorKind, replace: bool = False):
        """Declare a kind of kernel thread (or, with ``replace``, change an existing one)."""
        if ak.name in self.actor_kinds and not replace:
            raise ModelError(f"{self.name}: actor kind {ak.name!r} declared twice")
        if ak.target:
            self._kind(ak.target)
        self.actor_kinds[ak.name] = ak

    def add_property(self, prop, replace: bool = False):
        """Add a property (or, with ``replace``, restate an existing one)."""
        if prop.name in self.properties and not replace:
            raise ModelError(f"{self.name}: property {prop.name!r} exists (replace=True to restate it)")
        self.properties[prop.name] = prop

    def add_config(self, name: str, raw: dict, origin: str = ""):
        """Add a named config (a dict shaped like one TOML table)."""
        self.configs[name] = (raw, origin or f"variant {self.name}", None)

    def add_configs_file(self, path):
        raw, sha = read_config_file(path)
        for n, r in raw.items():
            self.configs[n] = (r, str(path), sha)

    def add_config_check(self, fn: Callable):
        """``fn(cfg)`` raises :class:`~model.config.ConfigError` for a config this protocol cannot run."""
        self.config_checks.append(fn)

    def add_inject(self, attr: Attr):
        """A failure configs may inject (``inject = { reset_fails = true }``)."""
        self.injects[attr.name] = attr

    def add_setting(self, attr: Attr):
        """A top-level config key (``runtime_pm = true``)."""
        self.settings[attr.name] = attr

    # --- step edits -------------------------------------------------------------
    def replace_procedure(self, proc: str, fn: Callable, source: str | None = None):
        """Replace procedure ``proc`` whole; ``fn(t, **args)`` returns its statements."""
        self._need(proc)
        self.procs[proc] = (fn, source or self.procs[proc][1])
        self.edits[proc] = []

    def replace_step(self, proc: str, label: str, make: Maker):
        """Replace the statement labelled ``label``; ``make(t, **args)`` returns one or a list."""
        self._edit(proc, "replace", label, make)

    def insert_before(self, proc: str, label: str, make: Maker):
        self._edit(proc, "before", label, make)

    def insert_after(self, proc: str, label: str, make: Maker):
        self._edit(proc, "after", label, make)

    def delete_step(self, proc: str, label: str):
        self._edit(proc, "delete", label, None)

    def copy(self, name: str, doc: str = "") -> "Protocol":
        p = copy.copy(self)
        p.name, p.doc = name, doc
        p.procs, p.edits = dict(self.procs), copy.deepcopy(self.edits)
        p.kinds, p.fields, p.locks = dict(self.kinds), list(self.fields), list(self.locks)
        p.helpers, p.actor_kinds = dict(self.helpers), dict(self.actor_kinds)
        p.properties, p.configs = dict(self.properties), dict(self.configs)
        p.config_checks, p.injects = list(self.config_checks), dict(self.injects)
        p.settings = dict(self.settings)
        return p

    # --- configs --------------------------------------------------------------------
    def config_schema(self) -> dict:
        return config_schema(self)

    def config(self, spec: str) -> Config:
        """A config by name (packaged or from a variant), or ``FILE.toml[:NAME]``."""
        if not spec:
            raise ConfigError("no config given")
        path, name = split_spec(spec)
        if path is None:
            assert name is not None   # split_spec: a spec without a file is a name
            if name not in self.configs:
                raise ConfigError(f"unknown config {name!r} (known: {', '.join(self.configs)}; "
                                  f"or FILE.toml:NAME)")
            raw, origin, sha = self.configs[name]
            return replace(parse_config(name, raw, self, origin=origin, sha256=sha), spec=name)
        raw, sha = _read_user_file(path)
        if name is None:
            if len(raw) != 1:
                raise ConfigError(f"{path} holds {len(raw)} configs ({', '.join(raw) or 'none'}): "
                                  f"name one as {path}:NAME")
            name = next(iter(raw))
        if name not in raw:
            raise ConfigError(f"{path} has no config {name!r} (it has: {', '.join(raw) or 'none'})")
        try:
            cfg = parse_config(name, raw[name], self, origin=str(path), sha256=sha)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
        return replace(cfg, spec=f"{path}:{name}")

    def plan(self, cfg: Config) -> list[tuple]:
        """(thread name, actor kind, entry procedure, args, idles) of every thread of ``cfg``."""
        out = []
        for a in cfg.actors:
            ak = self.actor_kinds.get(a.kind)
            if ak is None:
                raise ConfigError(f"{cfg.name}: actor {a.name}: {self.name} has no actor kind {a.kind!r}")
            entry, args = ak.entry, ak.args(cfg, a)
            if ak.wrap and ak.wrap[1](cfg):
                d = cfg.actor_device(a)
                entry, args = ak.wrap[0], {"vdev": d, "inner": entry, "args": args}
            out.append((a.name, ak.name, entry, args, ak.idle))
        for ak in self.actor_kinds.values():
            if not ak.per:
                continue
            for o in cfg.of(ak.per):
                if ak.when is None or ak.when(cfg, o):
                    name = ak.thread_name(o.name) if ak.thread_name else f"{ak.name}.{o.name}"
                    from .config import Actor
                    out.append((name, ak.name, ak.entry, ak.args(cfg, Actor(ak.name, name, o.index)),
                                ak.idle))
        return out

    # --- building -------------------------------------------------------------------
    def _kind(self, kind: str) -> ObjectKind:
        if kind not in self.kinds:
            raise ModelError(f"{self.name}: unknown object kind {kind!r} "
                             f"(known: {', '.join(self.kinds)})")
        return self.kinds[kind]

    def _need(self, proc: str):
        if proc not in self.procs:
            raise ModelError(f"variant {self.name}: no procedure {proc!r} "
                             f"(known: {', '.join(sorted(self.procs))})")

    def _edit(self, proc, op, label, make):
        self._need(proc)
        self.edits.setdefault(proc, []).append((op, label, make))

    def _bind(self, proc: str, t: Ctx) -> Callable[..., list]:
        """``proc`` as thread ``t`` calls it: ``fn(**args)`` -> its statements."""
        return lambda **a: self._instantiate(proc, t, a)

    def _instantiate(self, proc: str, t: Ctx, args: dict) -> list:
        fn, _ = self.procs[proc]
        stmts = list(fn(t, **args))
        for op, label, make in self.edits.get(proc, []):
            at = [i for i, s in enumerate(stmts) if s.label == label]
            if not at:
                raise ModelError(f"variant {self.name}: no step {label!r} in {proc} "
                                 f"(labels: {', '.join(s.label for s in stmts)})")
            i = at[0]
            new = [] if make is None else make(t, **args)
            new = list(new) if isinstance(new, (list, tuple)) else [new]
            if op == "replace" or op == "delete":
                stmts[i:i + 1] = new
            elif op == "before":
                stmts[i:i] = new
            else:
                stmts[i + 1:i + 1] = new
        return stmts

    def _declare_state(self, sb: StateBuilder, cfg: Config) -> tuple[Vars, list]:
        owners = ("none",) + tuple(cfg.threads)
        v = Vars(cfg, owners, self.helpers)
        for f in self.fields:
            def dom(*k, f=f):
                d = _resolve(f.domain, cfg, *k)
                return ENUM(*owners) if d == "owner" else d
            x: Var | Array
            if f.kind is None:
                x = sb.var(f.var or f.name, dom(), _resolve(f.init, cfg))
            else:
                x = Array(f.name, [sb.var(f"{f.name}[{o.name}]", dom(o.index), _resolve(f.init, cfg, o.index))
                                   for o in cfg.of(f.kind)])
            setattr(v, f.name, x)
        locks = []
        for lk in self.locks:
            own, rd = getattr(v, lk.name), getattr(v, lk.readers_name) if lk.readers_name else None
            if lk.kind is None:
                locks.append(LockInstance(lk, None, own, rd))
            else:
                for k, o in enumerate(cfg.of(lk.kind)):
                    locks.append(LockInstance(lk, o.name, own.cells[k], rd.cells[k] if rd else None))
        return v, locks

    def build(self, cfg: Config) -> Model:
        plan = self.plan(cfg)
        cfg = replace(cfg, threads=tuple(t[0] for t in plan), kinds=dict(self.kinds),
                      actor_kinds=dict(self.actor_kinds))
        sb = StateBuilder()
        v, locks = self._declare_state(sb, cfg)
        from . import irq as _irq   # interrupt context (a no-op for protocols without IRQ threads)
        irq_info = _irq.prepare(self, cfg, plan, sb, v, locks)
        threads: list[Thread] = []
        transitions: list[Transition] = []
        pcs = {name: sb.var(f"pc[{name}]", ENUM(DONE), 0) for name, *_ in plan}
        v.pcs = pcs
        for name, kind, entry, args, idle in plan:
            t = Ctx(name, v, sb)
            bound = {p: _Proc(p, self._bind(p, t), src) for p, (fn, src) in self.procs.items()}
            if entry not in bound:
                raise ModelError(f"{name}: entry procedure {entry!r} is not defined")
            body = [Call("entry", entry, args, goto=DONE)]
            trs, pc = compile_thread(name, body, bound, pcs[name], sb, "thread",
                                     self.procs[entry][1], len(transitions))
            pcs[name] = pc
            finals = {0} | ({sb.init[pc.slot]} if idle else set())
            threads.append(Thread(name, kind, pc, frozenset(finals)))
            transitions.extend(trs)
        # strip the synthetic "thread:entry/" prefix from labels for readability
        for tr in transitions:
            tr.label = tr.label.removeprefix("thread:entry/")
            tr.target = tr.target.removeprefix("thread:entry/")
        for th in threads:
            names = tuple(n.removeprefix("thread:entry/") for n in th.pc.domain.names)
            th.pc = sb.set_domain(th.pc, ENUM(*names))
        _irq.finish(irq_info, v, threads, transitions, locks, sb)
        rc = frozenset(c.slot for f in self.fields if f.refcount
                       for c in (getattr(v, f.name).cells if f.kind else [getattr(v, f.name)]))
        for tr in transitions:
            decs = tuple(Event("refcount_dec", (sb.vars[slot], e)) for slot, e in sorted(tr.updates.items())
                         if slot in rc and _may_decrease(e))
            if decs:
                tr.events = tuple(tr.events) + decs
        return Model(cfg, self.name, list(sb.vars), tuple(sb.init), threads, transitions, v,
                     locks, self.spec or self.name, refcount_slots=rc, protocol=self.family)


def _may_decrease(e) -> bool:
    """Could this update take a counter down (it subtracts)?"""
    from .expr import Op
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, Op):
            if x.op == "-":
                return True
            stack.extend(x.args)
    return False


def _read_user_file(path):
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {path} not found")
    return read_config_file(p)


def procedure(name: str, source: str):
    """Mark ``fn(t, **args) -> [statements]`` as procedure ``name``; ``p.add_procedure(fn)`` adds it."""
    def deco(fn):
        fn.procedure_name, fn.procedure_source = name, source
        return fn
    return deco


def add_module(p: Protocol, module):
    """Run a module's ``declare(p)`` and add every procedure it defines (upstream's loader)."""
    if hasattr(module, "declare"):
        module.declare(p)
    for fn in vars(module).values():
        if callable(fn) and getattr(fn, "procedure_name", None) and fn.__module__ == module.__name__:
            p.add_procedure(fn)


def _modules():
    from . import (actors, dma_buf, vfio_main, vfio_pci_config, vfio_pci_core,
                   vfio_pci_dmabuf)
    from . import mlx5_dmabuf, pci, pm_runtime, vfio_pci_rdwr
    from . import dma_buf_file, vfio_pci_sriov, vfio_unregister
    # declaration order is the state layout: the kernel files from the device up;
    # the issue-11 fidelity modules come last so that older configs keep their layout
    return [vfio_pci_core, vfio_main, vfio_pci_config, vfio_pci_dmabuf, dma_buf, actors,
            mlx5_dmabuf, pci, pm_runtime, vfio_pci_rdwr, vfio_unregister, dma_buf_file,
            vfio_pci_sriov]


MODULES = ("vfio_pci_core vfio_main vfio_pci_config vfio_pci_dmabuf dma_buf actors mlx5_dmabuf pci pm_runtime "
           "vfio_pci_rdwr vfio_unregister dma_buf_file vfio_pci_sriov").split()


_UPSTREAM: Protocol | None = None


def upstream() -> Protocol:
    """The current kernel (v7.1-rc / v7.3 for the paths modelled): every module's declarations."""
    global _UPSTREAM
    if _UPSTREAM is None:
        from . import config as _config
        from revoke_check.properties import catalog
        p = Protocol(UPSTREAM, doc="The current kernel (v7.1-rc .. v7.3): protocol-facts §2, kernel-2026 §2.")
        for m in _modules():
            add_module(p, m)
        for prop in catalog.ALL:
            p.add_property(prop)
        p.add_configs_file(_config.CONFIG_FILE)
        p.add_configs_file(_config.LARGE_CONFIG_FILE)
        _UPSTREAM = p
    return _UPSTREAM.copy(UPSTREAM, _UPSTREAM.doc)
