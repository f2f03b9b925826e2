"""Differential testing of the engines on random small variants and configs.

A *case* is a random small config (one or two devices, one buf, at most one
importer, two or three actors; built with :func:`model.config.parse_config`)
and a random *mutant* of upstream: one or two edits through the variant edit
API (:class:`model.protocol.Protocol`): delete a step, duplicate it, swap it
with the next one, or replace it with a copy whose branch has its guard
negated, loses its lock acquisition (the writes of a lock field), loses a
branch (a choice the kernel leaves to chance), or jumps to another label.
A mutant that does not build (a label missing in one instantiation, a jump to
an unknown label) is skipped and another is drawn.

For each case the engines must agree:

* explicit finds a violation (or a model error) of length ``L`` -> ``bmc
  --depth L`` finds one of length ``L``; if it names another property (two
  properties can fail at the same length), the explicit engine checking only
  bmc's property must also find it at length ``L``; ``kind --depth L`` (plain
  k-induction, whose base case is BMC) the same;
* explicit holds (or vacuous) -> bmc finds nothing up to a small depth, and
  ``kind`` (with lemmas, where cheap) never reports a violation: it proves
  the properties or stops incomplete.

Every z3 counterexample is replayed on the explicit semantics before it is
reported (``z3cex``), so an "error" verdict of a z3 engine is a disagreement
too.  ``lock-order`` is left out (only the explicit engine checks it).

Liveness properties are compared on their own (``live=True``), because the
engines order the two classes differently when both fail: the explicit engine
reports a safety violation first (a lasso needs the whole graph, as in TLC),
bmc the shorter of the two.  Their lassos differ in shape too: the explicit
engine's has a shortest stem, bmc's a shortest stem+loop.  A lasso's size is
its steps, plus one when its loop is the stutter of a final state (bmc's
unrolling takes that stutter as a step).  So: explicit finds no lasso -> bmc
finds none up to a small depth; explicit finds a lasso of size ``L`` -> bmc
finds one of size at most ``L``, and the explicit engine checking only bmc's
property finds it too.  Both replay.

Used by ``tests/test_difftest.py`` (a fixed-seed batch) and by
``benchmarks/difftest.py`` (long batches).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace

from revoke_check.model.config import parse_config
from revoke_check.model.lang import ModelError, Step
from revoke_check.model.variants import VariantError, upstream
from revoke_check.properties import compile_checks, get_properties

__all__ = ["Case", "Outcome", "random_case", "run_case", "run_batch"]

HOLDS_DEPTH = 6      # bmc depth for a case the explicit engine says holds
MAX_STATES = 20_000  # explicit engine budget per case (tiny configs have a few hundred)
MAX_BMC_DEPTH = 14   # cases with a longer explicit trace are not given to bmc (too slow for CI)


@dataclass
class Case:
    seed: int
    raw: dict                       # the config, as parse_config reads it
    edits: list                     # [(op, proc, label, branch index, goto target)]

    def describe(self) -> str:
        acts = ", ".join(a["kind"] for a in self.raw["actors"])
        eds = "; ".join(f"{op} {proc}:{label}" + (f" branch {bi}" if op in BRANCH_OPS else "")
                        + (f" -> {tg}" if tg else "") for op, proc, label, bi, tg in self.edits)
        return f"seed {self.seed}: actors [{acts}]; {eds or 'upstream'}"


@dataclass
class Outcome:
    case: Case
    explicit: tuple = ()            # (verdict, property, length)
    bmc: tuple = ()
    kind: tuple = ()
    live: tuple = ()                # (explicit key, bmc key) of the liveness comparison
    problems: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


# --- random configs -------------------------------------------------------------

def random_config(rng: random.Random) -> dict:
    two = rng.random() < 0.2
    devs = [{"name": "dev0", "open": True, "mem": rng.random() < 0.8}]
    if two:
        devs.append({"name": "dev1", "open": rng.random() < 0.5, "mem": rng.random() < 0.5})
    exists = rng.random() < 0.7
    bufs = [{"name": "buf0", "dev": "dev0", "exists": exists}]
    imps = []
    if rng.random() < 0.6:
        kind = "iommufd" if rng.random() < 0.2 else "dynamic"
        imps.append({"name": "imp0", "buf": "buf0", "fences": rng.random() < 0.3, "kind": kind})
    pool = ["config_write", "ioctl_reset", "close_fd", "close_device", "config_flr", "bar_fault"]
    if imps:
        pool += ["importer", "importer"]
    if two:
        pool.append("hot_reset")
    n = rng.choice([2, 2, 3])
    kinds = []
    while len(kinds) < n:
        k = rng.choice(pool)
        if k not in kinds:
            kinds.append(k)
    actors = []
    if not exists:
        actors.append({"kind": "feature_dma_buf", "buf": "buf0"})
    for k in kinds:
        if k == "config_write":
            actors.append({"kind": k, "dev": "dev0", "mem": [rng.random() < 0.5]})
        elif k in ("ioctl_reset", "close_device", "config_flr", "bar_fault"):
            actors.append({"kind": k, "dev": "dev0"})
        elif k == "close_fd":
            actors.append({"kind": k, "buf": "buf0"})
        elif k == "importer":
            actors.append({"kind": k, "importer": "imp0"})
        elif k == "hot_reset":
            actors.append({"kind": k, "via": "dev0"})
    inject = {}
    if rng.random() < 0.3:
        inject["reset_fails"] = True
    if not exists and rng.random() < 0.3:
        inject["dma_buf_fd_fails"] = True
    if two and rng.random() < 0.5:
        inject["ownership_fails"] = ["dev1"]
    return {"doc": "difftest", "devices": devs, "bufs": bufs, "importers": imps,
            "actors": actors, "inject": inject}


# --- random mutants ---------------------------------------------------------------

OPS = ("delete", "duplicate", "swap", "negate", "drop-lock", "drop-branch", "retarget")
BRANCH_OPS = ("negate", "drop-lock", "drop-branch", "retarget")


def _is_lock_field(name: str) -> bool:
    return "lock" in name or name.startswith("resv")


def _orig(p, proc):
    return p.procs[proc][0]


def _find(stmts, label):
    for i, s in enumerate(stmts):
        if s.label == label:
            return i, s
    raise ModelError(f"difftest: no {label} here")


def _mutated_step(s: Step, op: str, bi: int, target: str | None) -> Step:
    brs = [replace(b, do=dict(b.do)) for b in s.branches]
    b = brs[bi % len(brs)]
    if op == "negate":
        brs[bi % len(brs)] = replace(b, when=~b.when)
    elif op == "drop-lock":
        do = {}
        for k, e in b.do.items():
            name = getattr(k, "name", "") or getattr(getattr(k, "array", None), "name", "")
            if not _is_lock_field(str(name)):
                do[k] = e
        brs[bi % len(brs)] = replace(b, do=do)
    elif op == "drop-branch":
        del brs[bi % len(brs)]
    elif op == "retarget":
        brs[bi % len(brs)] = replace(b, goto=target)
    return replace(s, branches=brs)


def apply_edit(p, op: str, proc: str, label: str, bi: int = 0, target: str | None = None):
    """One edit of ``p`` through the variant edit API."""
    orig = _orig(p, proc)
    if op == "delete":
        p.delete_step(proc, label)
    elif op == "duplicate":
        def dup(t, **a):
            _, s = _find(orig(t, **a), label)
            return [s, replace(s, label=s.label + "#dup")]
        p.replace_step(proc, label, dup)
    elif op == "swap":     # with the statement that follows it
        p.replace_procedure(proc, _swapped(orig, label))
    else:
        def mut(t, **a):
            _, s = _find(orig(t, **a), label)
            if not isinstance(s, Step):
                raise ModelError("difftest: not a step")
            return _mutated_step(s, op, bi, target)
        p.replace_step(proc, label, mut)


def _swapped(orig, label):
    def fn(t, **a):
        stmts = list(orig(t, **a))
        i, s = _find(stmts, label)
        if i + 1 >= len(stmts):
            raise ModelError("difftest: nothing to swap with")
        stmts[i], stmts[i + 1] = stmts[i + 1], stmts[i]
        return stmts
    return fn


def _step_sites(model) -> list:
    """(proc, local label, #branches, other labels of that proc) of every step of the model."""
    sites, labels = {}, {}
    for tr in model.transitions:
        key = (tr.proc, tr.local_label)
        sites[key] = sites.get(key, 0) + 1
        labels.setdefault(tr.proc, set()).add(tr.local_label)
    return [(proc, lab, n, sorted(labels[proc] - {lab})) for (proc, lab), n in sorted(sites.items())]


def random_mutant(rng: random.Random, model) -> list:
    sites = _step_sites(model)
    edits = []
    for _ in range(rng.choice([1, 1, 2])):
        proc, label, nbr, others = rng.choice(sites)
        op = rng.choice(OPS)
        bi = rng.randrange(max(nbr, 1))
        target = None
        if op == "retarget":
            if not others:
                op = "negate"
            else:
                target = rng.choice(others)
        if op == "drop-branch" and nbr < 2:
            op = "negate"
        edits.append((op, proc, label, bi, target))
    return edits


def build_case(case: Case):
    """(model, checks) of a case; raises ModelError/VariantError if the mutant does not build."""
    p = upstream().copy("mutant", case.describe())
    for op, proc, label, bi, target in case.edits:
        apply_edit(p, op, proc, label, bi, target)
    cfg = parse_config("difftest", case.raw)
    m = p.build(cfg)
    return m, compile_checks(m, safety_properties())


def safety_properties() -> list:
    return [x for x in get_properties() if not x.lock_order and not x.liveness]


def liveness_properties() -> list:
    return [x for x in get_properties() if x.liveness]


def random_case(seed: int, tries: int = 20):
    """A case that builds, or None."""
    rng = random.Random(seed)
    for _ in range(tries):
        raw = random_config(rng)
        try:
            base = upstream().build(parse_config("difftest", raw))
        except Exception:
            continue
        edits = random_mutant(rng, base)
        case = Case(seed, raw, edits)
        try:
            m, c = build_case(case)
        except (ModelError, VariantError, KeyError, ValueError, TypeError, IndexError):
            continue
        if len(m.transitions) == 0:
            continue
        return case
    return None


# --- running -----------------------------------------------------------------------

def _key(r) -> tuple:
    prop = (r.property if r.verdict == "violated"
            else "model-error" if r.verdict == "error" and r.trace is not None else None)
    return (r.verdict, prop, r.depth if r.verdict in ("violated", "error") else None)


def run_case(case: Case, *, kind: bool = True, kind_lemmas: bool = True,
             live: bool = False) -> Outcome:
    from revoke_check.engines.bmc import bmc
    from revoke_check.engines.explicit import explore
    from revoke_check.engines.kind import kinduction
    t0 = time.monotonic()
    out = Outcome(case)
    m, c = build_case(case)
    ex = explore(m, c, max_states=MAX_STATES)
    out.explicit = _key(ex)
    if ex.verdict == "incomplete":
        out.seconds = time.monotonic() - t0
        return out
    bad = ex.verdict in ("violated", "error")
    if bad and ex.trace is None:
        out.problems.append(f"explicit: {ex.verdict} without a trace: {ex.message}")
        return out
    if bad and ex.depth > MAX_BMC_DEPTH:
        out.seconds = time.monotonic() - t0
        return out
    depth = ex.depth if bad else HOLDS_DEPTH
    b = bmc(m, c, depth=depth)
    out.bmc = _key(b)
    _compare(out, "bmc", ex, b, m, case)
    if kind:
        k = kinduction(m, c, depth=depth, lemmas=kind_lemmas and not bad)
        out.kind = _key(k)
        if not bad:
            if k.verdict in ("violated", "error"):
                out.problems.append(f"kind: {k.verdict} {k.property} at {k.depth} but explicit holds "
                                    f"({k.message})")
        else:
            _compare(out, "kind", ex, k, m, case)
    if live:
        _compare_liveness(out, m)
    out.seconds = time.monotonic() - t0
    return out


def _lasso_size(trace) -> int:
    return len(trace) + (1 if trace.loop == len(trace) else 0)


def _compare_liveness(out, m):
    from revoke_check.engines.bmc import bmc
    from revoke_check.engines.explicit import explore
    props = liveness_properties()
    ex = explore(m, compile_checks(m, props), max_states=MAX_STATES)
    if ex.verdict == "incomplete" or ex.verdict == "error":
        return                  # a model error is the safety comparison's
    bad = ex.verdict == "violated"
    size = _lasso_size(ex.trace) if bad else None
    if bad and size > MAX_BMC_DEPTH:
        return
    b = bmc(m, compile_checks(m, props), depth=size if bad else HOLDS_DEPTH)
    out.live = (_key(ex), _key(b))
    if not bad:
        if b.verdict != "incomplete":
            out.problems.append(f"bmc liveness: {b.verdict} {b.property} at {b.depth} "
                                f"but explicit finds no lasso ({b.message})")
        return
    if b.verdict != "violated" or b.trace is None or b.trace.loop is None:
        out.problems.append(f"bmc liveness: {b.verdict} ({b.message}) but explicit finds "
                            f"a lasso of size {size} for {ex.property}")
    elif _lasso_size(b.trace) > size:
        out.problems.append(f"bmc liveness: a lasso of size {_lasso_size(b.trace)} but explicit "
                            f"found one of size {size}")
    elif b.property != ex.property:
        e1 = explore(m, compile_checks(m, [x for x in props if x.name == b.property]),
                     max_states=MAX_STATES)
        if e1.verdict != "violated":
            out.problems.append(f"bmc liveness: {b.property} in {b.depth} steps but explicit "
                                f"on {b.property} says {e1.verdict}")


def _compare(out, name, ex, z, m, case):
    from revoke_check.engines.explicit import explore
    if ex.verdict in ("holds", "vacuous"):
        if z.verdict != "incomplete":
            out.problems.append(f"{name}: {z.verdict} {z.property} at depth {z.depth} "
                                f"but explicit holds ({z.message})")
        return
    if z.verdict not in ("violated", "error") or z.trace is None:
        out.problems.append(f"{name}: {z.verdict} ({z.message}) but explicit finds "
                            f"{ex.verdict} {ex.property} at {ex.depth}")
        return
    if z.depth != ex.depth:
        out.problems.append(f"{name}: length {z.depth} but explicit {ex.depth}")
        return
    if _key(z) == _key(ex):
        return
    # another property (or a model error) at the same length: the explicit engine
    # checking only that one must find it at that length too
    props = [x for x in get_properties() if x.name == z.property]
    c1 = compile_checks(m, props)
    e1 = explore(m, c1, max_states=MAX_STATES)
    if _key(e1) != _key(z):
        out.problems.append(f"{name}: {_key(z)} but explicit {_key(ex)}, and explicit on "
                            f"{z.property or 'model errors only'} says {_key(e1)}")


def run_batch(seeds, *, kind_every: int = 4, progress=None) -> list:
    outs = []
    for n, seed in enumerate(seeds):
        case = random_case(seed)
        if case is None:
            continue
        o = run_case(case, kind=(n % kind_every == 0), live=(n % kind_every == 1))
        outs.append(o)
        if progress:
            progress(o)
    return outs
