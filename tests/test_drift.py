"""revoke-check drift: the model against a kernel tree (tree-sitter C), on fixtures of our own.

The fixture trees are generated from the model itself (one C function per
modelled kernel function, calling the model's operations in order), so no
kernel code is copied; an altered copy swaps two operations of one function.
"""
import pytest
from click.testing import CliRunner

pytest.importorskip("tree_sitter_c")

from revoke_check.model.protocol import upstream  # noqa: E402
from revoke_check.cli import main  # noqa: E402
from revoke_check.ci.drift import _parser, c_ops, drift, model_ops  # noqa: E402

LABELS = {"err_undo"}


def _write_tree(root, swap=None):
    """One C file per modelled kernel file; each function does every instance's operations in turn."""
    p = upstream()
    ops: dict = {}
    for name in p.configs:
        for k, seqs in model_ops(p, p.build(p.config(name))).items():
            for s in seqs:
                if s not in ops.setdefault(k, []):
                    ops[k].append(s)
    files: dict = {}
    for (f, fn), seqs in sorted(ops.items()):
        body = []
        for seq in seqs:
            seq = list(seq)
            if swap == (f, fn):
                seq = seq[:1] + [seq[2], seq[1]] + seq[3:]
            body += [f"\t{op}: ;" if op in LABELS else f"\t{op}(x);" for op in seq]
        files.setdefault(f, []).append(f"static int {fn}(struct thing *x)\n{{\n" + "\n".join(body)
                                       + "\n\treturn 0;\n}\n")
    for f, funcs in files.items():
        path = root / f
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("/* fixture written by tests/test_drift.py */\n\n" + "\n".join(funcs))
    return ops


def test_no_drift_on_a_matching_tree(tmp_path):
    ops = _write_tree(tmp_path)
    d = drift(tmp_path)
    assert d.ok, [str(x) for x in d.findings]
    assert len(d.checked) == len(ops) >= 10
    hr = ("drivers/vfio/pci/vfio_pci_core.c", "vfio_pci_dev_set_hot_reset")
    assert ops[hr] == [["mutex_lock", "down_write_trylock", "vfio_pci_dma_buf_move", "vfio_pci_zap_bars",
                        "pci_reset_bus", "err_undo", "vfio_pci_dma_buf_move", "up_write", "mutex_unlock"]]
    r = CliRunner().invoke(main, ["drift", "--kernel-src", str(tmp_path)])
    assert r.exit_code == 0 and "no drift" in r.output, r.output


def test_an_altered_function_is_reported_with_its_line(tmp_path):
    target = ("drivers/vfio/pci/vfio_pci_core.c", "vfio_pci_dev_set_hot_reset")
    _write_tree(tmp_path, swap=target)
    d = drift(tmp_path)
    assert [(x.file, x.function) for x in d.findings] == [target]
    x = d.findings[0]
    text = (tmp_path / target[0]).read_text().splitlines()
    # greedy in-order matching takes the later move (err_undo's) for the swapped one, so the
    # first operation it cannot place is the BAR zap: reported at the zap's line
    assert "vfio_pci_zap_bars" in text[x.line - 1]
    assert x.message.startswith("vfio_pci_zap_bars does not follow vfio_pci_dma_buf_move in the C")
    r = CliRunner().invoke(main, ["drift", "--kernel-src", str(tmp_path)])
    assert r.exit_code == 1 and f"{target[0]}:{x.line}: vfio_pci_dev_set_hot_reset:" in r.output


def test_missing_files_and_functions_are_drift(tmp_path):
    _write_tree(tmp_path)
    (tmp_path / "drivers/vfio/pci/vfio_pci_config.c").unlink()
    core = tmp_path / "drivers/vfio/pci/vfio_pci_core.c"
    core.write_text(core.read_text().replace("vfio_pci_ioctl_reset(struct", "vfio_pci_ioctl_reset_renamed(struct"))
    msgs = sorted(str(x) for x in drift(tmp_path).findings)
    assert any("vfio_pci_config.c:0: vfio_basic_config_write: file not found" in m for m in msgs)
    assert any("vfio_pci_ioctl_reset: function not defined in this file" in m for m in msgs)


def test_c_ops_reads_calls_and_labels_in_text_order():
    src = b"""
int f(struct d *vdev)
{
	mutex_lock(&set->lock);
	list_for_each_entry(vdev, &set->list, node) {
		if (!down_write_trylock(&vdev->memory_lock)) { ret = -EBUSY; break; }
		vfio_pci_dma_buf_move(vdev, true);
	}
	if (ret) goto err_undo;
	ret = pci_reset_bus(pdev);
err_undo:
	up_write(&vdev->memory_lock);
	mutex_unlock(&set->lock);
	return ret;
}
"""
    tree = _parser().parse(src)
    fn = tree.root_node.children[0]
    assert [op for op, _ in c_ops(fn, src)] == [
        "mutex_lock", "list_for_each_entry", "down_write_trylock", "vfio_pci_dma_buf_move",
        "pci_reset_bus", "err_undo", "up_write", "mutex_unlock"]


def test_drift_refuses_a_missing_tree(tmp_path):
    r = CliRunner().invoke(main, ["drift", "--kernel-src", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "not a directory" in r.output
