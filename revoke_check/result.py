"""The result of a check, as one value every output format reads."""
from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from revoke_check.traces.trace import Trace

__all__ = ["Result", "EXIT", "HOLDS", "VIOLATED", "INCOMPLETE", "ERROR", "VACUOUS"]

HOLDS, VIOLATED, INCOMPLETE, ERROR, VACUOUS = "holds", "violated", "incomplete", "error", "vacuous"

# stable exit codes: 0 holds, 1 violated, 2 usage or model error, 3 incomplete, 4 vacuous
EXIT = {HOLDS: 0, VIOLATED: 1, ERROR: 2, INCOMPLETE: 3, VACUOUS: 4}


@dataclass
class Result:
    verdict: str
    config: str
    variant: str
    engine: str
    properties: list                 # names checked
    property: str | None = None      # the violated one
    message: str = ""
    trace: Trace | None = None
    distinct_states: int = 0
    transitions: int = 0
    depth: int = 0
    seconds: float = 0.0
    bound: int | None = None         # for bounded engines; None = unbounded/complete
    proof: object = None             # k for k-induction, "spacer", "explicit" (exhaustive)
    witnesses: dict = field(default_factory=dict)   # witness id -> reached
    vacuous: list = field(default_factory=list)     # properties with no reached witness
    coverage: list = field(default_factory=list)    # per transition fire count (explicit)
    incomplete_reason: str = ""
    invariant: list = field(default_factory=list)   # an unbounded proof's invariant, as text
    lemmas: int | None = None        # kind: lemmas that strengthened the induction
    provenance: dict = field(default_factory=dict)  # variant/config specs, sha256s, version, model digest
    reductions: dict = field(default_factory=dict)  # --symmetry/--por: which were on, notes, shortest search

    @builtins.property
    def exit_code(self) -> int:
        return EXIT[self.verdict]

    def to_json(self) -> dict:
        return {
            "verdict": self.verdict, "config": self.config, "variant": self.variant,
            "engine": self.engine, "properties": self.properties, "property": self.property,
            "message": self.message, "distinct_states": self.distinct_states,
            "transitions": self.transitions, "depth": self.depth,
            "seconds": round(self.seconds, 3), "bound": self.bound, "proof": self.proof,
            "witnesses": self.witnesses, "vacuous": self.vacuous,
            "incomplete_reason": self.incomplete_reason or None,
            "lemmas": self.lemmas, "invariant": self.invariant or None,
            "trace": self.trace.to_json()["steps"] if self.trace is not None else [],
            "trace_length": len(self.trace) if self.trace is not None else 0,
            "provenance": self.provenance or None,
            **({"reductions": self.reductions} if self.reductions else {}),
        }
