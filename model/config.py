"""Finite configurations: data, validated against what the protocol declares.

A configuration lists the objects of each declared kind (devices of the
dev_set, bufs, importers, and whatever kinds a variant adds), the kernel
threads (actors) and the failures that may be injected.  Which keys exist is
not written here: it comes from the protocol's :class:`~model.schema.ObjectKind`,
:class:`~model.schema.ActorKind` and ``inject`` / setting declarations, from
which :func:`config_schema` generates a JSON Schema.  A config is validated
with that schema (jsonschema) and then for names: one :class:`ConfigError`
naming the first problem.

Configs come from the packaged ``configs.toml``, from a variant file
(``p.add_config``), or from a file of the user's: ``FILE.toml:NAME``, or
``FILE.toml`` alone when it holds one config.
"""
from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from .schema import REQUIRED, ActorKind, Attr

__all__ = ["Config", "Obj", "Actor", "ConfigError", "load_configs", "get_config",
           "parse_config", "config_schema", "read_config_file", "CONFIG_FILE", "LARGE_CONFIG_FILE"]

CONFIG_FILE = Path(__file__).with_name("configs.toml")
LARGE_CONFIG_FILE = Path(__file__).with_name("configs-large.toml")   # compiled-engine sizes


class ConfigError(ValueError):
    """A configuration is unknown or malformed."""


class Obj:
    """One object of a config: its name, its index among its kind, its attributes.

    References to other objects are stored as their index (``buf.dev == 0``).
    """

    __slots__ = ("_kind", "name", "index", "_attrs")

    def __init__(self, kind: str, name: str, index: int, attrs: dict):
        self._kind, self.name, self.index, self._attrs = kind, name, index, dict(attrs)

    def __getattr__(self, k):
        try:
            return self._attrs[k]
        except KeyError:
            raise AttributeError(f"{self._kind} {self.name} has no attribute {k!r}") from None

    def __repr__(self):
        return f"{self._kind}({self.name}, {self._attrs})"

    def __eq__(self, o):
        return isinstance(o, Obj) and (self._kind, self.name, self._attrs) == (o._kind, o.name, o._attrs)

    __hash__ = object.__hash__


@dataclass(frozen=True)
class Actor:
    kind: str
    name: str           # the thread name
    target: int         # index of the object it works on (-1: none)
    params: tuple = ()  # ((key, value), ...): the actor kind's further keys

    def __getattr__(self, k):
        for key, val in object.__getattribute__(self, "params"):
            if key == k:
                return val
        if k == "mem":
            return ()
        raise AttributeError(f"actor {self.name} has no parameter {k!r}")


@dataclass
class Config:
    name: str
    doc: str
    objects: dict                       # kind -> [Obj]
    actors: list                        # Actor, in config order
    inject: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    kinds: dict = field(default_factory=dict)        # kind name -> ObjectKind
    actor_kinds: dict = field(default_factory=dict)  # name -> ActorKind
    threads: tuple = ()                 # every thread name, set when a protocol builds it
    origin: str = ""                    # where it came from: "packaged", FILE, or a variant
    sha256: str | None = None           # of the file it came from, if a user's file
    spec: str = ""                      # as given: NAME or FILE.toml:NAME

    # --- the upstream kinds by their old names ------------------------------
    @property
    def devices(self) -> list:
        return self.objects.get("device", [])

    @property
    def bufs(self) -> list:
        return self.objects.get("buf", [])

    @property
    def importers(self) -> list:
        return self.objects.get("importer", [])

    @property
    def runtime_pm(self) -> bool:
        return bool(self.settings.get("runtime_pm", False))

    def of(self, kind: str) -> list:
        return self.objects.get(kind, [])

    def setting(self, key: str, default=None):
        return self.settings.get(key, default)

    def thread_names(self) -> list[str]:
        return list(self.threads)

    def pm_threads(self) -> list[str]:
        return [t for t in self.threads if t.startswith("pm_runtime.")]

    def children(self, kind: str, ref: str, parent: int) -> list[int]:
        """Indices of the objects of ``kind`` whose ``ref`` attribute names ``parent``."""
        return [o.index for o in self.of(kind) if o._attrs.get(ref) == parent]

    def bufs_of(self, d: int) -> list[int]:
        return self.children("buf", "dev", d)

    def importers_of(self, b: int) -> list[int]:
        return self.children("importer", "buf", b)

    def actors_of_kind(self, kind: str) -> list[Actor]:
        return [a for a in self.actors if a.kind == kind]

    def device_of(self, kind: str, index: int) -> int | None:
        """Follow ``ref:`` attributes from an object to the device it belongs to."""
        seen = 0
        while kind != "device" and seen < 8:
            k = self.kinds.get(kind)
            if k is None or index < 0:
                return None
            refs = [a for a in k.attrs if a.type.startswith("ref:")]
            if not refs:
                return None
            index = self.of(kind)[index]._attrs[refs[0].name]
            kind = refs[0].type[4:]
            seen += 1
        return index if kind == "device" else None

    def actor_device(self, a: Actor) -> int | None:
        ak = self.actor_kinds.get(a.kind)
        return self.device_of(ak.target, a.target) if ak and ak.target else None

    def fd_users(self, d: int) -> list[Actor]:
        """Actors that hold device ``d``'s fd while they run (ioctls, config writes)."""
        return [a for a in self.actors
                if self.actor_kinds.get(a.kind) and self.actor_kinds[a.kind].holds_fd
                and self.actor_device(a) == d]

    def may(self, what: str, dev: int | None = None) -> bool:
        v = self.inject.get(what, False)
        if isinstance(v, list):
            return dev is not None and dev in v
        return bool(v)


# --- JSON Schema ---------------------------------------------------------------

def _attr_schema(a: Attr) -> dict:
    t = a.type
    if t == "bool":
        s: dict = {"type": "boolean"}
    elif t == "int":
        s = {"type": "integer"}
        if a.minimum is not None:
            s["minimum"] = a.minimum
    elif t == "str":
        s = {"type": "string"}
        if a.choices:
            s["enum"] = list(a.choices)
    elif t.startswith("ref:"):
        s = {"type": "string", "description": f"the name of a {t[4:]}"}
    elif t == "list:bool":
        s = {"type": "array", "items": {"type": "boolean"}}
    elif t.startswith("list:ref:"):
        s = {"type": "array", "items": {"type": "string"}, "description": f"names of {t[9:]}s"}
    else:
        raise ConfigError(f"attribute {a.name}: unknown type {t!r}")
    if a.doc:
        s["description"] = a.doc
    if a.default is not REQUIRED and a.default is not None:
        s["default"] = list(a.default) if isinstance(a.default, tuple) else a.default
    return s


def _object_schema(props: dict, required: list) -> dict:
    return {"type": "object", "properties": props, "required": required,
            "additionalProperties": False}


def config_schema(protocol) -> dict:
    """The JSON Schema of one config of ``protocol`` (a TOML table)."""
    props: dict = {"doc": {"type": "string", "description": "One sentence: what this instance is for."}}
    required = []
    for k in protocol.kinds.values():
        ps = {"name": {"type": "string"}} | {a.name: _attr_schema(a) for a in k.attrs}
        req = ["name"] + [a.name for a in k.attrs if a.default is REQUIRED]
        props[k.key] = {"type": "array", "description": f"{k.struct}: {k.doc}".strip(": "),
                        "items": _object_schema(ps, req)}
        if k.required:
            props[k.key]["minItems"] = 1
            required.append(k.key)
    branches = []
    for ak in protocol.actor_kinds.values():
        if ak.per:
            continue
        ps = {"kind": {"const": ak.name}, "name": {"type": "string", "description": "the thread name"}}
        req = ["kind"]
        key = _actor_key(protocol, ak)
        if key:
            ps[key] = {"type": "string", "description": f"the {ak.target} it works on"}
            req.append(key)
        for a in ak.params:
            ps[a.name] = _attr_schema(a)
            if a.default is REQUIRED:
                req.append(a.name)
        branches.append({"if": {"properties": {"kind": {"const": ak.name}}, "required": ["kind"]},
                         "then": _object_schema(ps, req)})
    kinds = [ak.name for ak in protocol.actor_kinds.values() if not ak.per]
    props["actors"] = {"type": "array", "description": "The kernel threads that run.",
                       "items": {"type": "object", "required": ["kind"],
                                 "properties": {"kind": {"enum": kinds}}, "allOf": branches}}
    props["inject"] = _object_schema({a.name: _attr_schema(a) for a in protocol.injects.values()}, [])
    props["inject"]["description"] = "Failures the kernel leaves to chance."
    for a in protocol.settings.values():
        props[a.name] = _attr_schema(a)
    return _object_schema(props, required) | {
        "title": f"revoke-check config ({protocol.name})",
        "$schema": "https://json-schema.org/draft/2020-12/schema"}


def file_schema(protocol) -> dict:
    """The JSON Schema of a configs file: a table of named configs."""
    one = config_schema(protocol)
    one.pop("$schema", None)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": f"revoke-check configs file ({protocol.name})",
            "type": "object", "additionalProperties": {"$ref": "#/$defs/config"},
            "$defs": {"config": one}}


def _actor_key(protocol, ak: ActorKind) -> str:
    if not ak.target:
        return ""
    return ak.key or protocol.kinds[ak.target].ref


def _validate(protocol, name: str, raw) -> None:
    import jsonschema
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: a config is a table, got {type(raw).__name__}")
    schema = protocol.config_schema()
    v = jsonschema.Draft202012Validator(schema)
    errs = sorted(v.iter_errors(raw), key=lambda e: (len(list(e.absolute_path)), list(map(str, e.absolute_path))))
    if not errs:
        return
    e = jsonschema.exceptions.best_match(errs)
    where = name
    for p in e.absolute_path:
        where += f"[{p}]" if isinstance(p, int) else f".{p}"
    raise ConfigError(f"{where}: {_message(e)}")


_JSON_TYPES = {"boolean": "true or false", "integer": "a whole number", "string": "a string",
               "array": "a list", "object": "a table"}


def _message(e) -> str:
    """jsonschema's error in the words of a TOML file."""
    path = list(e.absolute_path)
    if e.validator == "enum" and path and path[-1] == "kind" and "actors" in path:
        return f"unknown actor kind {e.instance!r} (known: {', '.join(e.validator_value)})"
    if e.validator == "enum":
        return f"{e.instance!r} is not one of {', '.join(map(repr, e.validator_value))}"
    if e.validator == "additionalProperties":
        extra = sorted(set(e.instance) - set(e.schema.get("properties", {})))
        return (f"unknown key {extra[0]!r} (allowed: {', '.join(sorted(e.schema.get('properties', {})))})"
                if extra else e.message)
    if e.validator == "type":
        return f"expected {_JSON_TYPES.get(e.validator_value, e.validator_value)}, got {e.instance!r}"
    if e.validator == "minItems" and e.validator_value == 1:
        return f"needs at least one {str(path[-1]).rstrip('s')}" if path else e.message
    if e.validator == "required":
        missing = [k for k in e.validator_value if k not in e.instance]
        return f"missing key {missing[0]!r}" if missing else e.message
    return e.message


def _index(where: str, names: list[str], name) -> int:
    if name not in names:
        raise ConfigError(f"{where}: unknown name {name!r} (known: {', '.join(names) or 'none'})")
    return names.index(name)


def _value(where: str, a: Attr, raw_val, names: dict):
    if a.type.startswith("ref:"):
        return _index(where, names.get(a.type[4:], []), raw_val)
    if a.type.startswith("list:ref:"):
        return [_index(where, names.get(a.type[9:], []), x) for x in raw_val]
    if a.type == "list:bool":
        return tuple(bool(x) for x in raw_val)
    return raw_val


def _default(a: Attr):
    return a.default() if callable(a.default) else a.default


def parse_config(name: str, raw: dict, protocol=None, origin: str = "", sha256=None) -> Config:
    """Validate ``raw`` (one TOML table) against ``protocol`` (default upstream) and build the Config."""
    if protocol is None:
        from .protocol import upstream
        protocol = upstream()
    _validate(protocol, name, raw)
    names = {}
    for k in protocol.kinds.values():
        items = raw.get(k.key, [])
        ns = [o["name"] for o in items]
        dup = sorted({n for n in ns if ns.count(n) > 1})
        if dup:
            raise ConfigError(f"{name}.{k.key}: name {dup[0]!r} used twice")
        names[k.name] = ns
    objects = {}
    for k in protocol.kinds.values():
        objs = []
        for i, o in enumerate(raw.get(k.key, [])):
            attrs = {}
            for a in k.attrs:
                where = f"{name}.{k.key}[{i}].{a.name}"
                attrs[a.name] = _value(where, a, o[a.name], names) if a.name in o else _default(a)
            objs.append(Obj(k.name, o["name"], i, attrs))
        objects[k.name] = objs
    actors, seen = [], set()
    for i, a in enumerate(raw.get("actors", [])):
        where = f"{name}.actors[{i}]"
        ak = protocol.actor_kinds[a["kind"]]
        key = _actor_key(protocol, ak)
        tgt = _index(f"{where}.{key}", names[ak.target], a[key]) if key else -1
        params = tuple((p.name, _value(f"{where}.{p.name}", p, a[p.name], names) if p.name in a
                        else _default(p)) for p in ak.params)
        tname = a.get("name") or (ak.thread_name(names[ak.target][tgt] if key else "")
                                  if ak.thread_name else
                                  (f"{ak.name}.{names[ak.target][tgt]}" if key else ak.name))
        if tname in seen:
            raise ConfigError(f"{where}: thread name {tname!r} used twice; give one a name")
        seen.add(tname)
        actors.append(Actor(ak.name, tname, tgt, params))
    inject = {}
    for key, val in raw.get("inject", {}).items():
        a = protocol.injects[key]
        inject[key] = _value(f"{name}.inject.{key}", a, val, names)
    settings = {a.name: raw.get(a.name, _default(a)) for a in protocol.settings.values()}
    cfg = Config(name, raw.get("doc", ""), objects, actors, inject, settings,
                 dict(protocol.kinds), dict(protocol.actor_kinds), origin=origin, sha256=sha256)
    cfg = replace(cfg, threads=tuple(t[0] for t in protocol.plan(cfg)))
    for check in protocol.config_checks:
        check(cfg)
    return cfg


# --- files and specs -----------------------------------------------------------

def read_config_file(path) -> tuple[dict, str]:
    """The tables of a configs file and the file's sha256."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: not TOML ({e})") from None
    return raw, hashlib.sha256(data).hexdigest()


def split_spec(spec: str) -> tuple[str | None, str | None]:
    """``FILE.toml:NAME`` -> (FILE.toml, NAME); ``FILE.toml`` -> (FILE.toml, None); NAME -> (None, NAME)."""
    if ".toml:" in spec:
        path, _, name = spec.rpartition(":")
        return path, name
    if spec.endswith(".toml"):
        return spec, None
    return None, spec


def load_configs(path: Path = CONFIG_FILE, protocol=None) -> dict[str, Config]:
    """Every config of a file, parsed against ``protocol`` (default upstream)."""
    raw, sha = read_config_file(path)
    return {n: parse_config(n, r, protocol, origin=str(path), sha256=sha) for n, r in raw.items()}


def get_config(spec: str, protocol=None) -> Config:
    """A config by name (packaged or brought by the variant) or by ``FILE.toml[:NAME]``."""
    if protocol is None:
        from .protocol import upstream
        protocol = upstream()
    return protocol.config(spec)
