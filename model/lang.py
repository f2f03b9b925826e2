"""The guarded-command language the protocol is written in.

A *procedure* is a Python function that returns a list of statements; it reads
like the C it models.  Statements are

* :class:`Step` -- one labelled atomic step of a kernel thread: one or more
  :class:`Branch` es, each ``when`` (guard) + ``do`` (simultaneous updates) +
  ``goto`` (next label).  No enabled branch means the thread blocks there
  (``down_write`` on a held rwsem, ``wait_for_completion``).  Several enabled
  branches with a ``choice`` name are a nondeterministic choice the kernel
  leaves to chance (a contended trylock, a failing reset).
* :class:`Call` -- a call, inlined at build time (no stack at run time).

``goto`` is a label of the same procedure, or :data:`NEXT` (the statement that
follows), :data:`RETURN` (back to the caller) or :data:`DONE` (the thread ends).
:func:`compile_thread` flattens a thread's procedure tree into transitions
``pc == label /\\ when  ->  updates /\\ pc' = target`` which both explorers read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from .expr import (ENUM, Const, Domain, Expr, ExprError, Op, TRUE, Var,
                   _e, and_, ite)

__all__ = [
    "NEXT", "RETURN", "DONE", "ModelError", "Event", "Branch", "Step", "Call",
    "Array", "Sel", "StateBuilder", "Transition", "compile_thread", "step",
]

NEXT, RETURN, DONE = "<next>", "<return>", "done"


class ModelError(Exception):
    """The encoding is wrong (unknown label, value out of its domain, ...).

    A model error is never a protocol violation: the CLI exits with 2.
    """


@dataclass(frozen=True)
class Event:
    """Something a property may want to check when a branch fires.

    ``kind`` names it (``hw_reset``, ``mem_enabled_eval`` ...); ``args`` are
    expressions over the pre-state (usually constant indices).
    """

    kind: str
    args: tuple = ()


@dataclass
class Branch:
    """One outcome of a step: guard, simultaneous updates, next label."""

    when: Expr = TRUE
    do: dict = field(default_factory=dict)
    goto: str = NEXT
    choice: str | None = None
    events: tuple = ()
    note: str = ""


@dataclass
class Step:
    """A labelled atomic step; ``source`` is kernel file:function."""

    label: str
    branches: list
    doc: str = ""
    source: str | None = None


@dataclass
class Call:
    """Inline procedure ``proc`` with keyword ``args``, then go to ``goto``."""

    label: str
    proc: str
    args: dict = field(default_factory=dict)
    goto: str = NEXT


def step(label: str, doc: str, *, when=TRUE, do=None, goto=NEXT, events=(),
         source=None, choice=None, note="") -> Step:
    """A step with a single branch (the common case)."""
    return Step(label, [Branch(_e(when), dict(do or {}), goto, choice,
                               tuple(events), note)], doc, source)


# --- arrays of variables -----------------------------------------------------

@dataclass(frozen=True, eq=False)
class Sel(Op):
    """``array[index]`` with a non-constant index; also usable as an update key."""

    array: "Array" = None  # type: ignore[assignment]
    index: Expr = None  # type: ignore[assignment]


class Array:
    """A family of variables over a finite index set (devices, bufs, ...)."""

    def __init__(self, name: str, cells: Sequence[Var]):
        self.name, self.cells = name, list(cells)

    def __len__(self):
        return len(self.cells)

    def __iter__(self):
        return iter(self.cells)

    def __getitem__(self, i):
        if isinstance(i, Const):
            i = i.value
        if isinstance(i, int):
            return self.cells[i]
        body = self.cells[-1]
        for k in range(len(self.cells) - 2, -1, -1):
            body = ite(i == k, self.cells[k], body)
        if not isinstance(body, Op):
            return body
        return Sel(body.op, body.args, array=self, index=i)


# --- state -------------------------------------------------------------------

class StateBuilder:
    """Allocates state slots; the order of declaration is the state layout."""

    def __init__(self):
        self.vars: list[Var] = []
        self.init: list[int] = []

    def var(self, name: str, domain: Domain, init=0) -> Var:
        if any(v.name == name for v in self.vars):
            raise ModelError(f"state variable {name} declared twice")
        if domain.hi > 255 or domain.lo < 0:
            raise ModelError(f"{name}: domain {domain.lo}..{domain.hi} does not fit a byte")
        v = Var(name, len(self.vars), domain)
        iv = domain.value(init)
        if iv not in domain:
            raise ModelError(f"{name}: initial value {init!r} outside {domain.lo}..{domain.hi}")
        self.vars.append(v)
        self.init.append(iv)
        return v

    def array(self, name: str, index_names: Sequence[str], domain: Domain,
              init=0) -> Array:
        inits = init if isinstance(init, (list, tuple)) else [init] * len(index_names)
        return Array(name, [self.var(f"{name}[{n}]", domain, iv)
                            for n, iv in zip(index_names, inits)])

    def set_domain(self, v: Var, domain: Domain) -> Var:
        nv = Var(v.name, v.slot, domain)
        self.vars[v.slot] = nv
        return nv


# --- compiled form -------------------------------------------------------------

@dataclass
class Transition:
    """One branch of one step of one thread, flattened.

    The transition fires when ``pc == pc_value /\\ guard``; it then performs
    ``updates`` (slot -> expression over the pre-state) simultaneously.
    """

    index: int
    thread: str
    label: str          # e.g. "vfio_pci_dev_set_hot_reset:err_undo"
    pc_slot: int
    pc_value: int
    target: str
    guard: Expr
    updates: dict       # slot -> Expr, including the pc
    choice: str | None
    note: str
    source: str
    doc: str
    events: tuple
    proc: str
    local_label: str

    @property
    def function(self) -> str:
        return self.source.rsplit(":", 1)[-1]


class _Proc:
    def __init__(self, name: str, fn: Callable, source: str):
        self.name, self.fn, self.source = name, fn, source


def _resolve_writes(do: dict, where: str) -> dict:
    """Turn ``{var|Sel: value}`` into ``{slot: expr}`` with simultaneous semantics."""
    out: dict = {}
    for key, val in do.items():
        if isinstance(val, str):
            dom = key.domain if isinstance(key, Var) else getattr(key, "array", None) and key.array.cells[0].domain
            if dom is None:
                raise ModelError(f"{where}: cannot assign {val!r} to {key!r}")
            val = Const(dom.value(val))
        val = _e(val)
        if isinstance(key, Var):
            if key.slot in out:
                raise ModelError(f"{where}: {key.name} assigned twice in one branch")
            out[key.slot] = (key, val)
        elif isinstance(key, Sel):
            for k, cell in enumerate(key.array.cells):
                prev = out.get(cell.slot, (cell, cell))[1]
                out[cell.slot] = (cell, ite(key.index == k, val, prev))
        else:
            raise ModelError(f"{where}: cannot assign to {key!r}")
    return out


def compile_thread(thread: str, entry: list, procs: dict, pc: Var,
                   sb: StateBuilder, entry_proc: str, source: str,
                   first_index: int) -> tuple[list[Transition], Var]:
    """Inline the thread's procedure tree and flatten it into transitions.

    Labels become ``proc:label`` paths; the pc enum is ``done`` followed by the
    labels in program order, so the initial pc is the first statement.
    """
    flat: list[tuple[str, str, str, Step | None, dict]] = []  # (glabel, proc, source, step | None: a call, gotos)

    def inline(stmts: list, proc: str, src: str, prefix: str, cont: str, depth=0):
        if depth > 8:
            raise ModelError(f"{thread}: calls nested deeper than 8 (recursion?)")
        names = [s.label for s in stmts]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ModelError(f"{proc}: label {sorted(dup)[0]} used twice")
        glabel = {s.label: f"{prefix}{proc}:{s.label}" for s in stmts}

        def target(goto: str, i: int) -> str:
            if goto == NEXT:
                return glabel[stmts[i + 1].label] if i + 1 < len(stmts) else cont
            if goto == RETURN:
                return cont
            if goto == DONE:
                return DONE
            if goto not in glabel:
                raise ModelError(f"{proc}: goto unknown label {goto!r}")
            return glabel[goto]

        for i, s in enumerate(stmts):
            if isinstance(s, Call):
                if s.proc not in procs:
                    raise ModelError(f"{proc}:{s.label}: call of unknown procedure {s.proc!r}")
                callee = procs[s.proc]
                body = callee.fn(**s.args)
                inline(body, callee.name, callee.source,
                       f"{prefix}{proc}:{s.label}/", target(s.goto, i), depth + 1)
                # the call's own label names the callee's first statement
                flat.append((glabel[s.label], proc, src, None,
                             {"alias": f"{prefix}{proc}:{s.label}/{callee.name}:{body[0].label}"}))
            elif isinstance(s, Step):
                if not s.branches:
                    raise ModelError(f"{proc}:{s.label}: a step needs a branch")
                flat.append((glabel[s.label], proc, s.source or src, s,
                             {j: target(b.goto, i) for j, b in enumerate(s.branches)}))
            else:
                hint = (" (it comes from another copy of the model package: import from "
                        "revoke_check.model, not model)" if type(s).__name__ in ("Step", "Call") else "")
                raise ModelError(f"{proc}: {s!r} is not a statement{hint}")

    inline(entry, entry_proc, source, "", DONE)
    alias = {g: m["alias"] for g, _, _, s, m in flat if s is None}

    def real(lbl: str) -> str:
        seen = set()
        while lbl in alias:
            if lbl in seen:
                raise ModelError(f"{thread}: call cycle at {lbl}")
            seen.add(lbl)
            lbl = alias[lbl]
        return lbl

    labels = [DONE] + [g for g, _, _, s, _ in flat if s is not None]
    pc = sb.set_domain(pc, ENUM(*labels))
    # the first statement is the initial pc
    sb.init[pc.slot] = labels.index(real(flat[0][0])) if flat else 0
    out: list[Transition] = []
    for g, proc, src, s, tmap in flat:
        if s is None:
            continue
        for j, b in enumerate(s.branches):
            tgt = real(tmap[j])
            if tgt not in labels:
                raise ModelError(f"{g}: goto unknown label {tgt!r}")
            where = f"{thread} {g}"
            try:
                ups = _resolve_writes(b.do, where)
            except ExprError as e:
                raise ModelError(f"{where}: {e}") from None
            if pc.slot in ups:
                raise ModelError(f"{where}: a step may not assign its own pc")
            updates = {slot: val for slot, (_, val) in ups.items()}
            updates[pc.slot] = Const(labels.index(tgt))
            out.append(Transition(
                index=first_index + len(out), thread=thread, label=g,
                pc_slot=pc.slot, pc_value=labels.index(g), target=tgt,
                guard=and_(b.when), updates=updates, choice=b.choice,
                note=b.note, source=src, doc=s.doc, events=b.events,
                proc=proc, local_label=s.label))
    return out, pc
