"""Random executions (hypothesis) replay exactly: path -> Trace -> JSON -> replay."""
import json

import pytest
from hypothesis import given, settings, strategies as st

from revoke_check.replay import replay, trace_from_path
from revoke_check.run import build
from revoke_check.semantics import Semantics
from revoke_check.traces.trace import Trace

CONFIGS = ["minimal", "default", "wide", "mmap", "lowpower"]
SEMS = {}


def sem_of(config):
    if config not in SEMS:
        model, checks = build(config, "upstream", ["deadlock-free"])
        SEMS[config] = Semantics(model, checks)
    return SEMS[config]


@pytest.mark.parametrize("config", CONFIGS)
@settings(max_examples=40, deadline=None)
@given(picks=st.lists(st.integers(min_value=0, max_value=1_000), min_size=1, max_size=60))
def test_random_walk_replays(config, picks):
    sem = sem_of(config)
    s, path = sem.model.init, []
    for p in picks:
        succ = sem.successors(s)
        if not succ:
            break
        ti, s = succ[p % len(succ)]
        path.append(ti)
    t = trace_from_path(sem, path, prop=None, kind="invariant", message="random walk", engine="explicit")
    back = Trace.from_json(json.loads(t.dumps()))
    rr = replay(back, sem)
    assert rr.ok and rr.steps_replayed == len(path)
    assert rr.path == path
    if path:
        assert back.steps[-1].state == sem.model.show(s)
