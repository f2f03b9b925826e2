"""Traces are values: config + variant + property + steps, saved as JSON.

Every engine produces a :class:`Trace`; renderers, exporters and ``replay``
read it.  A step records the thread, the pc label, the kernel function and
file, the choice taken, the state fields it changed and the full state after.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["Trace", "TraceStep", "TraceError", "SCHEMA"]

SCHEMA = "revoke-check/trace/1"


class TraceError(ValueError):
    """A trace file is unreadable or malformed."""


@dataclass
class TraceStep:
    thread: str
    label: str              # pc label, e.g. "vfio_pci_dev_set_hot_reset:err_undo"
    source: str             # kernel file:function
    choice: str | None
    note: str
    doc: str
    changes: dict           # var -> [old, new]
    state: dict             # full state after the step

    @property
    def function(self) -> str:
        return self.source.rsplit(":", 1)[-1]

    @property
    def step_label(self) -> str:
        """The innermost ``function:label`` of the pc path."""
        return self.label.rsplit("/", 1)[-1]


@dataclass
class Trace:
    config: str
    variant: str
    property: str | None
    kind: str               # invariant | step-assertion | deadlock | at-end | model-error
    message: str
    engine: str
    initial: dict
    steps: list = field(default_factory=list)
    provenance: dict = field(default_factory=dict)   # revoke_check.provenance: specs, sha256s, version
    locks: dict = field(default_factory=dict)        # lock variable -> {type, class, c, acquire, release, mode}
    details: dict = field(default_factory=dict)      # structured facts of the violation (lock cycle, wait-for)
    # A lasso (liveness counterexample): steps[loop:] repeat forever; the state
    # after them equals the state after the first ``loop`` steps.  ``loop ==
    # len(steps)``: the last state repeats (no step is enabled: it stutters).
    # None: a finite trace.  Absent from the JSON when None.
    loop: int | None = None
    # The fairness the lasso's loop satisfies, when not the default (weak per
    # thread): {"default": "weak"|"strong"|"none", "strong": [thread or lock]}.
    # Absent from the JSON when None.
    fairness: dict | None = None

    @property
    def stem(self) -> list:
        return self.steps if self.loop is None else self.steps[:self.loop]

    @property
    def cycle(self) -> list:
        return [] if self.loop is None else self.steps[self.loop:]

    def loop_text(self) -> str:
        """What repeats, in words ("" for a finite trace)."""
        if self.loop is None:
            return ""
        n = len(self.steps)
        if self.loop >= n:
            return (f"loop: the state after step {n} repeats forever "
                    f"(no step is enabled there)")
        return (f"loop: steps {self.loop + 1}..{n} repeat forever "
                f"(after step {n} the state is the one after step {self.loop})")

    def state_at(self, k: int) -> dict:
        """The state after ``k`` steps (0: the initial state)."""
        return self.initial if k == 0 else self.steps[k - 1].state

    def __len__(self):
        return len(self.steps)

    def to_json(self) -> dict:
        d = asdict(self)
        for k in ("loop", "fairness"):
            if d.get(k) is None:
                d.pop(k, None)
        d["schema"] = SCHEMA
        return d

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=False)

    def save(self, path) -> None:
        Path(path).write_text(self.dumps() + "\n")

    @classmethod
    def from_json(cls, d: dict) -> "Trace":
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise TraceError(f"not a revoke-check trace (schema {SCHEMA!r} expected)")
        try:
            steps = [TraceStep(**s) for s in d["steps"]]
            prov, locks, details = d.get("provenance") or {}, d.get("locks") or {}, d.get("details") or {}
            if not all(isinstance(x, dict) for x in (prov, locks, details)):
                raise TraceError("malformed trace: provenance, locks and details must be objects")
            loop = d.get("loop")
            if loop is not None and (not isinstance(loop, int) or isinstance(loop, bool)
                                     or not 0 <= loop <= len(steps)):
                raise TraceError(f"malformed trace: loop {loop!r} is not a step index 0..{len(steps)}")
            fair = d.get("fairness")
            if fair is not None and not (isinstance(fair, dict) and fair.get("default") in
                                         ("weak", "strong", "none")
                                         and isinstance(fair.get("strong", []), list)):
                raise TraceError(f"malformed trace: fairness {fair!r}")
            return cls(d["config"], d["variant"], d["property"], d["kind"], d["message"],
                       d["engine"], d["initial"], steps, prov, locks, details, loop, fair)
        except (KeyError, TypeError) as e:
            raise TraceError(f"malformed trace: {e}") from None

    @classmethod
    def load(cls, path) -> "Trace":
        try:
            d = json.loads(Path(path).read_text())
        except OSError as e:
            raise TraceError(f"{path}: {e.strerror}") from None
        except json.JSONDecodeError as e:
            raise TraceError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from None
        return cls.from_json(d)
