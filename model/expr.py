"""A tiny expression algebra that both explorers interpret.

An expression is an immutable tree over state variables and constants.  The
explicit explorer turns it into Python source (:func:`to_python`) and compiles
it; the z3 explorer turns it into a z3 term (``revoke_check.engines.symbolic``).  Every
value is an int in the state vector; booleans are 0/1 and enums are indices.

>>> from model.expr import Var, INT, BOOL, const
>>> x = Var("x", 0, INT(0, 3)); b = Var("b", 1, BOOL)
>>> to_python((x + 1 == 2) & ~b)
'((((s[0] + 1) == 2)) and (not (s[1])))'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, cast

__all__ = [
    "Domain", "BOOL", "INT", "ENUM", "Expr", "Var", "Const", "Op", "const",
    "ite", "and_", "or_", "implies", "TRUE", "FALSE", "to_python", "variables",
    "ExprError",
]


class ExprError(ValueError):
    """An expression is ill-formed (wrong sort, unknown enum name)."""


@dataclass(frozen=True)
class Domain:
    """The finite set of values of a variable: ``lo..hi`` inclusive."""

    kind: str  # "bool" | "int" | "enum"
    lo: int
    hi: int
    names: tuple[str, ...] = ()

    def value(self, v) -> int:
        """Encode a Python value (bool, int, enum name) as the stored int."""
        if self.kind == "enum" and isinstance(v, str):
            try:
                return self.names.index(v)
            except ValueError:
                raise ExprError(f"{v!r} is not one of {', '.join(self.names)}") from None
        if isinstance(v, str):
            raise ExprError(f"{v!r} given for a {self.kind} variable")
        v = int(v)
        return v

    def show(self, v: int):
        """Decode a stored int for humans (enum name, bool, int)."""
        if self.kind == "enum":
            return self.names[v] if 0 <= v < len(self.names) else f"<{v}>"
        if self.kind == "bool":
            return bool(v)
        return v

    def __contains__(self, v: int) -> bool:
        return self.lo <= v <= self.hi


BOOL = Domain("bool", 0, 1)


def INT(lo: int, hi: int) -> Domain:
    return Domain("int", lo, hi)


def ENUM(*names: str) -> Domain:
    return Domain("enum", 0, len(names) - 1, tuple(names))


class Expr:
    """Base class; operators build new expressions."""

    sort = "int"  # "int" or "bool"

    # arithmetic / comparison ------------------------------------------------
    def __add__(self, o): return Op("+", (self, _e(o)))
    def __radd__(self, o): return Op("+", (_e(o), self))
    def __sub__(self, o): return Op("-", (self, _e(o)))
    def __rsub__(self, o): return Op("-", (_e(o), self))
    def __eq__(self, o): return Op("==", (self, self._coerce(o)))  # type: ignore[override]
    def __ne__(self, o): return Op("!=", (self, self._coerce(o)))  # type: ignore[override]
    def __lt__(self, o): return Op("<", (self, _e(o)))
    def __le__(self, o): return Op("<=", (self, _e(o)))
    def __gt__(self, o): return Op("<", (_e(o), self))
    def __ge__(self, o): return Op("<=", (_e(o), self))

    # boolean -----------------------------------------------------------------
    def __and__(self, o): return and_(self, _e(o))
    def __rand__(self, o): return and_(_e(o), self)
    def __or__(self, o): return or_(self, _e(o))
    def __ror__(self, o): return or_(_e(o), self)
    def __invert__(self): return Op("not", (self,))

    __hash__ = object.__hash__

    def __bool__(self):
        raise ExprError("an expression has no truth value in Python; use & | ~ and ite()")

    def _coerce(self, o):
        return _e(o)


@dataclass(frozen=True, eq=False)
class Const(Expr):
    value: int
    sort: str = "int"

    def __repr__(self):
        return f"Const({self.value})"


TRUE = Const(1, "bool")
FALSE = Const(0, "bool")


@dataclass(frozen=True, eq=False)
class Var(Expr):
    """A state variable: ``name`` for people, ``slot`` in the state vector."""

    name: str
    slot: int
    domain: Domain

    @property
    def sort(self):  # type: ignore[override]
        return "bool" if self.domain.kind == "bool" else "int"

    def _coerce(self, o):
        if isinstance(o, Expr):
            return o
        return Const(self.domain.value(o), self.sort)

    def __repr__(self):
        return self.name


_BOOL_OPS = {"==", "!=", "<", "<=", "not", "and", "or"}


@dataclass(frozen=True, eq=False)
class Op(Expr):
    op: str
    args: tuple

    @property
    def sort(self):  # type: ignore[override]
        if self.op in _BOOL_OPS:
            return "bool"
        if self.op == "ite":
            return self.args[1].sort
        return "int"

    def __repr__(self):
        return to_python(self)


def _e(v) -> Expr:
    if isinstance(v, Expr):
        return v
    if isinstance(v, bool):
        return TRUE if v else FALSE
    if isinstance(v, int):
        return Const(v)
    raise ExprError(f"cannot use {v!r} in an expression")


def const(v) -> Expr:
    return _e(v)


def ite(c, a, b) -> Expr:
    """If-then-else: ``a`` when ``c`` holds, else ``b``."""
    c, a, b = _e(c), _e(a), _e(b)
    if isinstance(c, Const):
        return a if c.value else b
    return Op("ite", (c, a, b))


def and_(*xs) -> Expr:
    """Conjunction, with constant folding (``and_()`` is TRUE)."""
    out: list[Expr] = []
    for x in map(_e, xs):
        if isinstance(x, Const):
            if not x.value:
                return FALSE
            continue
        out.extend(x.args if isinstance(x, Op) and x.op == "and" else (x,))
    if not out:
        return TRUE
    return out[0] if len(out) == 1 else Op("and", tuple(out))


def or_(*xs) -> Expr:
    """Disjunction, with constant folding (``or_()`` is FALSE)."""
    out: list[Expr] = []
    for x in map(_e, xs):
        if isinstance(x, Const):
            if x.value:
                return TRUE
            continue
        out.extend(x.args if isinstance(x, Op) and x.op == "or" else (x,))
    if not out:
        return FALSE
    return out[0] if len(out) == 1 else Op("or", tuple(out))


def implies(a, b) -> Expr:
    return or_(~_e(a), b)


def not_(a) -> Expr:
    a = _e(a)
    if isinstance(a, Const):
        return FALSE if a.value else TRUE
    return Op("not", (a,))


def to_python(e: Expr, state: str = "s") -> str:
    """Python source evaluating ``e`` over the state tuple named ``state``."""
    if isinstance(e, Const):
        return str(e.value)
    if isinstance(e, Var):
        return f"{state}[{e.slot}]"
    e = cast(Op, e)   # the third kind of node
    a = [to_python(x, state) for x in e.args]
    o = e.op
    if o == "not":
        return f"(not ({a[0]}))"
    if o in ("and", "or"):
        return "(" + f" {o} ".join(f"({x})" for x in a) + ")"
    if o == "ite":
        return f"(({a[1]}) if ({a[0]}) else ({a[2]}))"
    return f"({a[0]} {o} {a[1]})"


def variables(e: Expr) -> set[Var]:
    """The state variables ``e`` reads."""
    out: set[Var] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, Var):
            out.add(x)
        elif isinstance(x, Op):
            stack.extend(x.args)
    return out


def all_of(xs: Iterable) -> Expr:
    return and_(*xs)


def any_of(xs: Iterable) -> Expr:
    return or_(*xs)
