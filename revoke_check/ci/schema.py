"""Strict validation of the project's TOML inputs against the JSON Schemas in
``revoke_check/schemas/`` (manifest.toml, coverage.toml, *.revoke.toml).

An unknown table or key, a value of the wrong type or an unknown enum value is
one line naming the file, where in it, and the problem: the CLI turns it into
exit code 2.  (A misspelt ``[[chek]]`` is an unknown table, not an empty
manifest; ``verdict = ""`` is not a verdict; ``distinct_states = "97"`` is not
an integer.)
"""
from __future__ import annotations

import json
import tomllib
from functools import lru_cache
from pathlib import Path

__all__ = ["problem", "load_checked", "SCHEMAS"]

SCHEMAS = Path(__file__).with_name("schemas")


@lru_cache(maxsize=None)
def _validator(name: str):
    import jsonschema
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _where(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "top level"


def _say(err) -> str:
    v = err.validator
    if v == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        what = "table" if not err.absolute_path else "key"
        known = ", ".join(sorted(err.schema.get("properties", {})))
        return f"unknown {what} {extra[0]!r} (known: {known})"
    if v == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        return "needs a written reason" if missing[0] == "reason" else f"needs {missing[0]}"
    if v == "enum":
        return f"{err.instance!r} is not one of {', '.join(map(str, err.validator_value))}"
    if v == "type":
        return f"{err.instance!r} is not of type {err.validator_value}"
    if v == "minLength":
        return "must not be empty"
    if v == "pattern":
        return "must not be empty (a written reason is needed)"
    if v == "minItems":
        return "needs at least one entry"
    if v == "anyOf" and _all_required(err.schema):
        return "needs " + " or ".join(x["required"][0] for x in err.schema["anyOf"])
    return err.message


def _all_required(schema) -> bool:
    return bool(schema.get("anyOf")) and all("required" in x for x in schema["anyOf"])


def problem(doc, name: str) -> str | None:
    """None if ``doc`` (a parsed TOML document) fits schema ``name``, else one line."""
    v = _validator(name)
    errs = sorted(v.iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    if not errs:
        return None
    import jsonschema
    err = jsonschema.exceptions.best_match(errs)
    # prefer the most specific error of a oneOf/anyOf
    while err.context and not (err.validator == "anyOf" and _all_required(err.schema)):
        err = jsonschema.exceptions.best_match(err.context)
    return f"{_where(err.absolute_path)}: {_say(err)}"


def load_checked(path, name: str, error: type[Exception]) -> dict:
    """The TOML file ``path``, parsed and checked against schema ``name``.

    An unreadable file, bad TOML or a schema problem raises ``error`` with one
    line that starts with the path."""
    try:
        raw = tomllib.loads(Path(path).read_text())
    except OSError as e:
        raise error(f"{path}: {e.strerror}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise error(f"{path}: {e}") from None
    why = problem(raw, name)
    if why:
        raise error(f"{path}: {why}")
    return raw
