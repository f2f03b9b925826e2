"""A protocol is a set of named procedures; building it for a config gives a Model.

Procedures are registered with :func:`procedure` in the modules named after the
kernel files they model.  A *variant* (``model/variants.py`` or a user's file)
is a function that edits a copy of the upstream :class:`Protocol` by procedure
name and step label; :meth:`Protocol.build` instantiates the procedures for each
thread of a :class:`~model.config.Config` and compiles them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

from .config import Config
from .expr import BOOL, ENUM, INT, Const, Domain, Var
from .lang import (Call, DONE, ModelError, StateBuilder, Step, Transition,
                   _Proc, compile_thread)
from .state import Vars, declare

__all__ = ["Protocol", "Ctx", "Model", "Thread", "procedure", "UPSTREAM"]


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


@dataclass
class Model:
    """A protocol built for one config: the input of both explorers."""

    config: Config
    variant: str
    vars: list              # Var, by slot
    init: tuple
    threads: list
    transitions: list       # Transition, by index
    v: Vars

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


Maker = Callable[..., object]


@dataclass
class Protocol:
    """Named procedures plus the edits a variant made to them."""

    name: str
    procs: dict = field(default_factory=dict)        # name -> (fn, source)
    edits: dict = field(default_factory=dict)        # name -> [(op, label, maker)]
    doc: str = ""

    # --- the variant API ----------------------------------------------------
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
        p = Protocol(name, dict(self.procs), copy.deepcopy(self.edits), doc)
        return p

    # --- building -----------------------------------------------------------
    def _need(self, proc: str):
        if proc not in self.procs:
            raise ModelError(f"variant {self.name}: no procedure {proc!r} "
                             f"(known: {', '.join(sorted(self.procs))})")

    def _edit(self, proc, op, label, make):
        self._need(proc)
        self.edits.setdefault(proc, []).append((op, label, make))

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

    def build(self, cfg: Config) -> Model:
        from . import actors  # the actor kinds -> entry procedures

        sb = StateBuilder()
        v = declare(sb, cfg)
        threads, transitions = [], []
        plan = actors.threads_of(cfg)
        pcs = {name: sb.var(f"pc[{name}]", ENUM(DONE), 0) for name, *_ in plan}
        v.pcs = pcs  # type: ignore[attr-defined]
        for name, kind, entry, args, idle in plan:
            t = Ctx(name, v, sb)
            bound = {p: _Proc(p, (lambda p=p, t=t: lambda **a: self._instantiate(p, t, a))(),
                              src) for p, (fn, src) in self.procs.items()}
            if entry not in bound:
                raise ModelError(f"{name}: entry procedure {entry!r} is not defined")
            body = [Call("entry", entry, args, goto=DONE)]
            trs, pc = compile_thread(name, body, bound, pcs[name], sb, "thread",
                                     self.procs[entry][1], len(transitions))
            pcs[name] = pc
            labels = pc.domain.names
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
        return Model(cfg, self.name, list(sb.vars), tuple(sb.init), threads, transitions, v)


_REGISTRY: dict = {}


def procedure(name: str, source: str):
    """Register ``fn(t, **args) -> [statements]`` as procedure ``name`` of upstream."""
    def deco(fn):
        _REGISTRY[name] = (fn, source)
        return fn
    return deco


def upstream() -> Protocol:
    from . import (actors, dma_buf, vfio_main, vfio_pci_config, vfio_pci_core,  # noqa: F401 (register)
                   vfio_pci_dmabuf)
    return Protocol("upstream", dict(_REGISTRY), {},
                    "The current kernel (v7.1-rc): protocol-facts §2.")


UPSTREAM = "upstream"
