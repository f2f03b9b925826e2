"""The guarded-command language: model errors are reported as such, never as violations."""
import pytest

from revoke_check.model.config import get_config
from revoke_check.model.expr import BOOL, INT, Var, to_python
from revoke_check.model.lang import Branch, Call, ModelError, Step, step
from revoke_check.model.protocol import upstream
from revoke_check.model.variants import get_protocol
from revoke_check.properties import compile_checks, get_properties
from revoke_check.engines.explicit import explore
from revoke_check.result import ERROR, VIOLATED


def build(edit, config="minimal"):
    p = upstream().copy("test-variant")
    edit(p)
    return p.build(get_config(config))


def test_expression_compiles_to_python():
    x, b = Var("x", 0, INT(0, 3)), Var("b", 1, BOOL)
    f = eval("lambda s: " + to_python((x + 1 == 2) & ~b))
    assert f((1, 0)) and not f((1, 1)) and not f((2, 0))


def test_expression_has_no_python_truth_value():
    x = Var("x", 0, INT(0, 3))
    with pytest.raises(ValueError, match="no truth value"):
        bool(x == 1)


def test_goto_unknown_label_is_a_model_error():
    def edit(p):
        p.insert_after("vfio_pci_ioctl_reset", "zap_and_down_write",
                       lambda t, vdev: step("oops", "jumps nowhere", goto="no_such_label"))
    with pytest.raises(ModelError, match="goto unknown label 'no_such_label'"):
        build(edit)


def test_edit_of_unknown_step_names_the_labels():
    def edit(p):
        p.delete_step("vfio_pci_ioctl_reset", "not_a_step")
    with pytest.raises(ModelError, match="no step 'not_a_step' in vfio_pci_ioctl_reset"):
        build(edit)


def test_call_of_unknown_procedure_is_a_model_error():
    def edit(p):
        p.replace_step("vfio_pci_ioctl_reset", "revoke",
                       lambda t, vdev: Call("revoke", "vfio_pci_dma_buf_mvoe", {}))
    with pytest.raises(ModelError, match="unknown procedure 'vfio_pci_dma_buf_mvoe'"):
        build(edit)


def test_duplicate_label_is_a_model_error():
    def edit(p):
        p.insert_after("vfio_pci_ioctl_reset", "up_write",
                       lambda t, vdev: step("up_write", "again"))
    with pytest.raises(ModelError, match="label up_write used twice"):
        build(edit)


def test_out_of_domain_update_is_an_error_verdict_not_a_violation():
    # a broken encoding: the reset ioctl takes five registration references at once (past its
    # domain's top; going below zero would be a refcounts violation, tests/test_refcount_underflow.py)
    def edit(p):
        def bad(t, vdev):
            v = t.v
            return step("zap_and_down_write", "broken on purpose",
                        when=v.memory_lock[vdev] == 0,
                        do={v.memory_lock[vdev]: t.me, v.registration[vdev]: v.registration[vdev] + 5})
        p.replace_step("vfio_pci_ioctl_reset", "zap_and_down_write", bad)
    m = build(edit)
    r = explore(m, compile_checks(m, get_properties(["deadlock-free"])))
    assert r.verdict == ERROR
    assert "registration[dev0]" in r.message and "outside" in r.message
    assert r.trace is not None and r.trace.kind == "model-error"


def test_assigning_the_own_pc_is_a_model_error():
    def edit(p):
        def bad(t, vdev):
            pc = t.v.pcs[t.thread]
            return Step("zap_and_down_write", [Branch(do={pc: 0})], "Jumps by writing its own pc.")
        p.replace_step("vfio_pci_ioctl_reset", "zap_and_down_write", bad)
    with pytest.raises(ModelError, match="may not assign its own pc"):
        build(edit)


def test_a_real_violation_is_violated_not_error():
    m = get_protocol("flr-revoke-typo").build(get_config("default"))
    r = explore(m, compile_checks(m, get_properties(["undo-restores-every-revoke"])))
    assert r.verdict == VIOLATED
