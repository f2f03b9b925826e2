"""Export a :class:`~traces.trace.Trace` to ITF and read it back.

ITF is the Informal Trace Format of Apalache and Quint: a JSON object with
``vars`` (the variable names), ``states`` (one object per state, variable ->
value) and ``#meta``.  Integers are ``{"#bigint": "N"}``, maps are
``{"#map": [[key, value], ...]}`` and tuples ``{"#tup": [...]}``.

Our flat state names become ITF variables that a TLA+ or Quint reader can
type:

* ``open[dev0]`` .. ``open[dev1]``   -> ``open``: map device -> value;
* ``pc[hot_reset]``, ...             -> ``pc``: map thread -> step label;
* ``hot_reset.vdev`` (thread local)  -> ``local_vdev``: map thread -> value;
* ``dev_set->lock`` (a scalar)       -> ``dev_set_lock``.

State 0 is the initial state and state *k* the state after step *k*; the
step itself (thread, label, source, choice, note, doc) is in that state's
``#meta``, and the trace's config, variant, property and verdict in the
top-level ``#meta``, so :func:`from_itf` rebuilds the identical Trace.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .trace import SCHEMA, Trace, TraceError, TraceStep

__all__ = ["to_itf", "from_itf", "dumps_itf", "load_trace", "encode_value", "decode_value",
           "itf_layout"]

FORMAT_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"
_ARRAY = re.compile(r"^([A-Za-z_]\w*)\[([^\]]+)\]$")


def encode_value(x):
    """A state value as ITF JSON: bool and str as is, int as ``#bigint``."""
    if isinstance(x, bool) or isinstance(x, str):
        return x
    if isinstance(x, int):
        return {"#bigint": str(x)}
    raise TraceError(f"ITF: cannot encode value {x!r}")


def decode_value(v):
    """The inverse of :func:`encode_value`."""
    if isinstance(v, (bool, str)):
        return v
    if isinstance(v, dict) and set(v) == {"#bigint"}:
        try:
            return int(v["#bigint"])
        except (TypeError, ValueError):
            raise TraceError(f"ITF: bad #bigint {v['#bigint']!r}") from None
    if isinstance(v, int):          # plain JSON numbers are allowed by ITF readers
        return v
    raise TraceError(f"ITF: unexpected value {v!r}")


def _ident(name: str) -> str:
    s = re.sub(r"\W+", "_", name).strip("_")
    return s if s and not s[0].isdigit() else f"v_{s}"


def itf_layout(names, threads) -> dict:
    """ITF variable -> {"kind", "base"} plus, per flat name, (ITF variable, key).

    ``kind`` is ``map`` (an array, the pcs or a thread-local per thread) or
    ``scalar``.  Returns ``{"vars": {itf: kind}, "cells": {flat: [itf, key]}}``
    where ``key`` is None for a scalar.
    """
    threads = sorted(threads, key=len, reverse=True)
    vars_: dict = {}
    cells: dict = {}
    for n in names:
        m = _ARRAY.match(n)
        if m:
            itf, key = m.group(1), m.group(2)
        else:
            th = next((t for t in threads if n.startswith(t + ".")), None)
            if th is not None:
                itf, key = "local_" + _ident(n[len(th) + 1:]), th
            else:
                itf, key = _ident(n), None
        kind = "scalar" if key is None else "map"
        if vars_.setdefault(itf, kind) != kind or (key is None and any(
                c[0] == itf for c in cells.values())):
            raise TraceError(f"ITF: variable {n!r} clashes with {itf!r}")
        cells[n] = [itf, key]
    return {"vars": vars_, "cells": cells}


def _threads(state: dict) -> list:
    return [k[3:-1] for k in state if k.startswith("pc[") and k.endswith("]")]


def _encode_state(state: dict, layout: dict, meta: dict) -> dict:
    out: dict = {"#meta": meta}
    for itf, kind in layout["vars"].items():
        out[itf] = {"#map": []} if kind == "map" else None
    for name, val in state.items():
        itf, key = layout["cells"][name]
        if key is None:
            out[itf] = encode_value(val)
        else:
            out[itf]["#map"].append([key, encode_value(val)])
    return out


def to_itf(trace: Trace) -> dict:
    """The trace as an ITF object (a dict ready for ``json.dump``)."""
    init = trace.initial or (trace.steps[0].state if trace.steps else {})
    layout = itf_layout(list(init), _threads(init))
    states = [_encode_state(init, layout, {"index": 0})]
    for k, st in enumerate(trace.steps, 1):
        if set(st.state) != set(init):
            raise TraceError(f"ITF: step {k} has other state variables than the initial state")
        step = {"thread": st.thread, "label": st.label, "source": st.source,
                "choice": st.choice, "note": st.note, "doc": st.doc}
        states.append(_encode_state(st.state, layout, {"index": k, "step": step}))
    what = trace.property or trace.kind
    meta = {
        "format": "ITF",
        "format-description": FORMAT_DESCRIPTION,
        "source": f"revoke-check: variant {trace.variant}, config {trace.config}",
        "description": f"{trace.variant} on {trace.config}: {what} violated: {trace.message}",
        "revoke-check": {
            "schema": SCHEMA, "config": trace.config, "variant": trace.variant,
            "property": trace.property, "kind": trace.kind, "message": trace.message,
            "engine": trace.engine, "order": list(init),
            "provenance": trace.provenance, "locks": trace.locks, "details": trace.details,
            **({"fairness": trace.fairness} if trace.fairness else {}),
        },
    }
    out = {"#meta": meta, "vars": list(layout["vars"]), "states": states}
    if trace.loop is not None:
        # ITF's loop: the index of the state the last one returns to (a lasso)
        out["loop"] = trace.loop
    return out


def dumps_itf(trace: Trace) -> str:
    return json.dumps(to_itf(trace), indent=1)


def _decode_state(raw: dict, vars_: list, order: list | None) -> dict:
    flat: dict = {}
    for itf in vars_:
        if itf not in raw:
            raise TraceError(f"ITF: a state lacks variable {itf!r}")
        v = raw[itf]
        if isinstance(v, dict) and "#map" in v:
            for pair in v["#map"]:
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                    raise TraceError(f"ITF: bad #map entry in {itf!r}")
                key, val = pair
                if itf == "pc" or not itf.startswith("local_"):
                    flat[f"{itf}[{key}]"] = decode_value(val)
                else:
                    flat[f"{key}.{itf[len('local_'):]}"] = decode_value(val)
        else:
            flat[itf] = decode_value(v)
    if order:
        # scalars were renamed to identifiers: map back through the stored order
        cells = itf_layout(order, _threads(dict.fromkeys(order)))["cells"]
        back = {c[0]: n for n, c in cells.items() if c[1] is None}
        flat = {back.get(k, k): v for k, v in flat.items()}
        missing = [n for n in order if n not in flat]
        if missing:
            raise TraceError(f"ITF: state lacks {missing[0]!r}")
        flat = {n: flat[n] for n in order}
    return flat


def from_itf(d: dict) -> Trace:
    """Rebuild the :class:`Trace` that :func:`to_itf` exported."""
    if not isinstance(d, dict) or not isinstance(d.get("states"), list) or \
            not isinstance(d.get("vars"), list):
        raise TraceError("not an ITF trace (vars and states expected)")
    meta = (d.get("#meta") or {}).get("revoke-check")
    if not isinstance(meta, dict) or meta.get("schema") != SCHEMA:
        raise TraceError("ITF trace was not written by revoke-check (no #meta.revoke-check)")
    if not d["states"]:
        raise TraceError("ITF trace has no state")
    order = meta.get("order")
    states = [_decode_state(s, d["vars"], order) for s in d["states"]]
    steps = []
    for k, (raw, prev, cur) in enumerate(zip(d["states"][1:], states, states[1:]), 1):
        st = (raw.get("#meta") or {}).get("step")
        if not isinstance(st, dict):
            raise TraceError(f"ITF: state {k} has no #meta.step")
        changes = {n: [prev[n], cur[n]] for n in cur if prev.get(n) != cur[n]}
        try:
            steps.append(TraceStep(st["thread"], st["label"], st["source"], st.get("choice"),
                                   st.get("note", ""), st.get("doc", ""), changes, cur))
        except KeyError as e:
            raise TraceError(f"ITF: state {k}: #meta.step lacks {e}") from None
    loop = d.get("loop")
    if loop is not None and (not isinstance(loop, int) or isinstance(loop, bool)
                             or not 0 <= loop <= len(steps)):
        raise TraceError(f"ITF: loop {loop!r} is not a state index 0..{len(steps)}")
    try:
        return Trace(meta["config"], meta["variant"], meta.get("property"), meta["kind"],
                     meta.get("message", ""), meta.get("engine", ""), states[0], steps,
                     meta.get("provenance") or {}, meta.get("locks") or {}, meta.get("details") or {},
                     loop, meta.get("fairness"))
    except KeyError as e:
        raise TraceError(f"ITF: #meta.revoke-check lacks {e}") from None


def load_trace(path) -> Trace:
    """Read a trace file in our JSON schema or in ITF (told apart by content)."""
    try:
        d = json.loads(Path(path).read_text())
    except OSError as e:
        raise TraceError(f"{path}: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TraceError(f"{path}: not JSON ({getattr(e, 'msg', e)})") from None
    if isinstance(d, dict) and "states" in d and "vars" in d:
        return from_itf(d)
    return Trace.from_json(d)
