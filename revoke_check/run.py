"""One entry point for a check: names in, a Result out (used by the CLI, gate and tests)."""
from __future__ import annotations

from revoke_check.model.variants import get_protocol
from revoke_check.properties import compile_checks, get_properties

from revoke_check.engines.explicit import explore
from .result import Result

__all__ = ["build", "check", "ENGINES"]

ENGINES = ("explicit", "compiled", "bmc", "kind", "spacer")
OTHER_ENGINES = ("distributed",)   # needs a Ray cluster: not part of --engine all
Z3_ENGINES = ("bmc", "kind", "spacer")


def build(config: str, variant: str | None, properties=None, protocol: str | None = None):
    """(model, checks) for the given names; raises the domain errors on bad names.

    ``protocol`` names the protocol (model/protocols.py; default vfio-dmabuf)."""
    from revoke_check.model.variants import VariantError
    p = get_protocol(variant, protocol=protocol)
    cfg = p.config(config)
    try:
        model = p.build(cfg)
    except (SystemExit, KeyboardInterrupt) as e:   # from a variant's step makers
        raise VariantError(f"variant {variant}: {type(e).__name__} raised while building it on {config}") from None
    checks = compile_checks(model, get_properties(properties, p))
    return model, checks


def check(config: str = "default", variant: str | None = None, properties=None, *,
          engine: str = "explicit", max_states=None, max_seconds=None, depth=None,
          progress=None, lemmas: bool = True, show_invariant: bool = False,
          progress_secs: float = 0.0, stats: dict | None = None,
          hash_compaction: bool = False, protocol: str | None = None, fairness=None,
          symmetry: bool = False, por: bool = False,
          ray_address: str = "local", ray_workers: int = 2, **mt) -> Result:
    """``fairness``: a :class:`~revoke_check.engines.liveness.Fairness` for the liveness
    properties (default weak per thread); explicit and bmc check liveness; kind,
    spacer and the compiled engine leave it out (they check safety) and say so."""
    from .provenance import provenance
    if hash_compaction and engine != "compiled":
        raise ValueError("--hash-compaction needs --engine compiled")
    model, checks = build(config, variant, properties, protocol)
    if fairness is not None:
        from revoke_check.engines.liveness import units
        units(model, fairness)          # unknown thread or lock names: an error now
    r = _check(model, checks, engine=engine, max_states=max_states, max_seconds=max_seconds,
               depth=depth, progress=progress, lemmas=lemmas, show_invariant=show_invariant,
               progress_secs=progress_secs, stats=stats, hash_compaction=hash_compaction,
               fairness=fairness, symmetry=symmetry, por=por,
               ray_address=ray_address, ray_workers=ray_workers, **mt)
    r.provenance = provenance(model)
    return r


def _check(model, checks, *, engine, max_states, max_seconds, depth, progress, lemmas,
           show_invariant, progress_secs=0.0, stats=None, hash_compaction=False, fairness=None,
           symmetry=False, por=False, ray_address="local", ray_workers=2, **mt) -> Result:
    if (symmetry or por) and engine == "distributed":
        raise ValueError("--symmetry/--por: --engine explicit or compiled, not distributed")
    if engine != "compiled" and ((mt.get("workers") or 1) > 1 or mt.get("checkpoint") or mt.get("recover")):
        raise ValueError("--workers/--checkpoint/--recover need --engine compiled")
    if symmetry or por:
        return _reduced(model, checks, engine=engine, symmetry=symmetry, por=por, max_states=max_states,
                        max_seconds=max_seconds, progress=progress, progress_secs=progress_secs,
                        stats=stats, hash_compaction=hash_compaction, **mt)
    if engine == "explicit":
        return explore(model, checks, max_states=max_states, max_seconds=max_seconds,
                       progress=progress, fairness=fairness)
    if engine in ("compiled", "distributed"):   # the same search in C (on one machine or many)
        live = [p.name for p in checks.properties if p.liveness]
        if live and len(live) == len(checks.properties):
            from revoke_check.properties import PropertyError
            raise PropertyError(f"{', '.join(live)}: a property of infinite runs: --engine explicit "
                                f"or bmc checks it, {engine} does not")
        if live:   # the C search checks safety; liveness needs the whole graph (explicit, bmc)
            checks.properties = [p for p in checks.properties if p.name not in live]
            checks.liveness = []
        if engine == "compiled":   # the Python engine if there is no compiler
            from revoke_check.engines.compiled import explore_or_fallback
            r = explore_or_fallback(model, checks, max_states=max_states, max_seconds=max_seconds,
                                    progress_secs=progress_secs, stats=stats,
                                    hash_compaction=hash_compaction, **mt)
        else:
            from revoke_check.engines.distributed import explore as dist_explore
            r = dist_explore(model, checks, address=ray_address, workers=ray_workers,
                             max_states=max_states, max_seconds=max_seconds, progress_secs=progress_secs)
        if live:
            r.message = (r.message + " " if r.message else "") + \
                f"(not checked by {engine}: {', '.join(live)}; use --engine explicit)"
        return r
    if engine in Z3_ENGINES:
        skipped = list(checks.lock_order)
        if engine != "bmc":      # liveness is a property of infinite runs: bmc finds lassos
            skipped += [p.name for p in checks.properties if p.liveness]
        if skipped and len(skipped) == len(checks.properties):
            from revoke_check.properties import PropertyError
            raise PropertyError(f"{', '.join(skipped)}: a property of the lock-dependency graph "
                                f"or of infinite runs: --engine explicit checks it, {engine} does not")
        if skipped:  # a dependency graph over all states / liveness: the explicit engine's job
            checks.properties = [p for p in checks.properties if p.name not in skipped]
            checks.lock_order = []
            checks.liveness = [x for x in checks.liveness if x[0] not in skipped]
        from revoke_check.engines.bmc import DEFAULT_DEPTH, bmc
        depth = depth if depth is not None else DEFAULT_DEPTH
        if engine == "bmc":
            r = bmc(model, checks, depth=depth, max_seconds=max_seconds, fairness=fairness)
        elif engine == "kind":
            from revoke_check.engines.kind import kinduction
            r = kinduction(model, checks, depth=depth, max_seconds=max_seconds, lemmas=lemmas,
                           show_invariant=show_invariant)
        else:
            from revoke_check.engines.spacer import spacer
            r = spacer(model, checks, max_seconds=max_seconds, show_invariant=show_invariant)
        if skipped:
            r.message = (r.message + " " if r.message else "") + \
                f"(not checked by {engine}: {', '.join(skipped)}; use --engine explicit)"
        return r
    raise ValueError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")


def _reduced(model, checks, *, engine, symmetry, por, max_states, max_seconds, progress,
             progress_secs, stats, hash_compaction, **mt) -> Result:
    """``--symmetry`` / ``--por``: the explicit explorer with reductions (``--engine
    explicit``), or the compiled one (``--engine compiled``; sequential with POR).
    Liveness properties are left out (neither reduction here keeps fair cycles) and the
    result says so."""
    from revoke_check.properties import PropertyError
    from revoke_check.engines.reduced import explore_reduced, reductions_tag
    tag = reductions_tag(symmetry, por)
    if engine not in ("explicit", "compiled"):
        raise PropertyError(f"--{tag.replace('+', '/--')}: a reduction of the explicit-state search "
                            f"(--engine explicit or compiled), not of {engine}")
    if engine == "compiled" and por and ((mt.get("workers") or 1) > 1 or mt.get("checkpoint")
                                         or mt.get("recover")):
        raise PropertyError("--por: the compiled engine reduces sequentially "
                            "(no --workers, --checkpoint or --recover)")
    if hash_compaction:
        raise PropertyError(f"--{tag.replace('+', '/--')} and --hash-compaction do not combine")
    live = [p.name for p in checks.properties if p.liveness]
    if live and len(live) == len(checks.properties):
        raise PropertyError(f"{', '.join(live)}: a property of infinite runs: --{tag.replace('+', '/--')} "
                            "does not keep fair cycles; check it without reductions")
    if live:
        checks.properties = [p for p in checks.properties if p.name not in live]
        checks.liveness = []
    if engine == "compiled":
        from revoke_check.engines.compiled import explore_or_fallback
        r = explore_or_fallback(model, checks, max_states=max_states, max_seconds=max_seconds,
                                progress_secs=progress_secs, stats=stats, symmetry=symmetry,
                                por=por, **mt)
    else:
        r = explore_reduced(model, checks, symmetry=symmetry, por=por, max_states=max_states,
                            max_seconds=max_seconds, progress=progress)
    if live:
        r.message = (r.message + " " if r.message else "") + \
            f"(not checked with --{tag.replace('+', '/--')}: {', '.join(live)})"
    return r
