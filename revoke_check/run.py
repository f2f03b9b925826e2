"""One entry point for a check: names in, a Result out (used by the CLI, gate and tests)."""
from __future__ import annotations

from model.config import get_config
from model.variants import get_protocol
from properties import compile_checks, get_properties

from .explicit import explore
from .result import Result

__all__ = ["build", "check", "ENGINES"]

ENGINES = ("explicit", "bmc", "kind", "spacer")
Z3_ENGINES = ("bmc", "kind", "spacer")


def build(config: str, variant: str | None, properties=None):
    """(model, checks) for the given names; raises the domain errors on bad names."""
    model = get_protocol(variant).build(get_config(config))
    checks = compile_checks(model, get_properties(properties))
    return model, checks


def check(config: str = "default", variant: str | None = None, properties=None, *,
          engine: str = "explicit", max_states=None, max_seconds=None, depth=None,
          progress=None, lemmas: bool = True, show_invariant: bool = False,
          fairness=None) -> Result:
    """``fairness``: a :class:`~revoke_check.liveness.Fairness` for the liveness
    properties (default weak per thread); bmc and explicit check liveness, kind and
    spacer leave it out (they prove invariants) and say so."""
    model, checks = build(config, variant, properties)
    if fairness is not None:
        from .liveness import units
        units(model, fairness)          # unknown thread or lock names: an error now
    if engine == "explicit":
        return explore(model, checks, max_states=max_states, max_seconds=max_seconds,
                       progress=progress, fairness=fairness)
    if engine in Z3_ENGINES:
        skipped = list(checks.lock_order)
        if engine != "bmc":      # liveness is a property of infinite runs: bmc finds lassos
            skipped += [p.name for p in checks.properties if p.liveness]
        if skipped and len(skipped) == len(checks.properties):
            from properties import PropertyError
            raise PropertyError(f"{', '.join(skipped)}: a property of the lock-dependency graph "
                                f"or of infinite runs: --engine explicit checks it, {engine} does not")
        if skipped:  # a dependency graph over all states / liveness: the explicit engine's job
            checks.properties = [p for p in checks.properties if p.name not in skipped]
            checks.lock_order = []
            checks.liveness = [x for x in checks.liveness if x[0] not in skipped]
        from .bmc import DEFAULT_DEPTH, bmc
        depth = depth if depth is not None else DEFAULT_DEPTH
        if engine == "bmc":
            r = bmc(model, checks, depth=depth, max_seconds=max_seconds, fairness=fairness)
        elif engine == "kind":
            from .kind import kinduction
            r = kinduction(model, checks, depth=depth, max_seconds=max_seconds, lemmas=lemmas,
                           show_invariant=show_invariant)
        else:
            from .spacer import spacer
            r = spacer(model, checks, max_seconds=max_seconds, show_invariant=show_invariant)
        if skipped:
            r.message = (r.message + " " if r.message else "") + \
                f"(not checked by {engine}: {', '.join(skipped)}; use --engine explicit)"
        return r
    raise ValueError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
