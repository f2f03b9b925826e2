"""Issue 11, item 10: a reference count going below zero is a refcounts violation, not a model error.

A made-up change: userspace's close of the dma-buf fd puts the file twice in
one step (and raises no ``fput`` event of its own, so only the generic
``refcount_dec`` assertion of fields declared ``refcount=True`` can see it).
"""
from revoke_check.model.lang import Branch, DONE, Step
from revoke_check.model.variants import get_protocol
from revoke_check.properties import compile_checks, get_properties
from revoke_check.engines.explicit import explore
from revoke_check.engines.bmc import bmc


def _double_put(p):
    def close(t, buf):
        v = t.v
        return [Step("close_fd", [
            Branch(v.has_fd[buf], {v.has_fd[buf]: 0, v.f_count[buf]: v.f_count[buf] - 2}, goto=DONE,
                   note="fput twice"),
            Branch(~v.has_fd[buf], goto=DONE, note="no fd was installed"),
        ], "Userspace closes the dma-buf fd: the file is put twice.", source="fs/file.c:close_fd")]
    p.replace_procedure("close_fd", close)
    return p


def _model():
    p = _double_put(get_protocol("upstream"))
    cfg = p.config("wide")
    return p, p.build(cfg)


def test_the_underflow_is_a_refcounts_violation_at_the_step_with_a_trace():
    p, m = _model()
    r = explore(m, compile_checks(m, get_properties(["refcounts"], p)))
    assert r.verdict == "violated" and r.property == "refcounts", r.message
    last = r.trace.steps[-1]
    assert last.thread == "close_fd.buf0" and last.label == "close_fd:close_fd"
    assert last.state["f_count[buf0]"] == 0          # saturated, as refcount_t does
    assert len(r.trace) == 1


def test_without_refcounts_it_is_a_model_error_that_names_the_property():
    p, m = _model()
    r = explore(m, compile_checks(m, get_properties(["deadlock-free"], p)))
    assert r.verdict == "error"
    assert "takes f_count[buf0] below zero" in r.message and "refcounts" in r.message


def test_bmc_agrees():
    p, m = _model()
    r = bmc(m, compile_checks(m, get_properties(["refcounts"], p)), depth=3)
    assert (r.verdict, r.property, len(r.trace)) == ("violated", "refcounts", 1)
    r = bmc(m, compile_checks(m, get_properties(["deadlock-free"], p)), depth=3)
    assert r.verdict == "error" or (r.trace is not None and r.trace.kind == "model-error"), r.message


def test_the_compiled_engine_agrees():
    from revoke_check.engines.compiled import compiler_available, explore_or_fallback
    import pytest
    if not compiler_available():
        pytest.skip("no C compiler")
    p, m = _model()
    for props in (["refcounts"], ["deadlock-free"], None):
        a = explore(m, compile_checks(m, get_properties(props, p)))
        b = explore_or_fallback(m, compile_checks(m, get_properties(props, p)))
        assert b.engine == "compiled"
        assert (a.verdict, a.property, a.distinct_states, a.transitions, a.message) == \
            (b.verdict, b.property, b.distinct_states, b.transitions, b.message)
        assert ([s.label for s in a.trace.steps] if a.trace else None) == \
            ([s.label for s in b.trace.steps] if b.trace else None)
