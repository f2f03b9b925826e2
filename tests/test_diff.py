"""revoke-check diff: what a change does, at step level (issue 9)."""
import json

from click.testing import CliRunner

from revoke_check.cli import main
from revoke_check.diff import diff, render_diff
from revoke_check.replay import replay
from revoke_check.run import build
from revoke_check.semantics import Semantics


def test_no_wait_for_unmap_against_upstream_on_tiny():
    d = diff("upstream", "no-wait-for-unmap", "tiny")
    assert (d.reach_a.states, d.reach_b.states) == (97, 79)
    assert (len(d.reach_a.outcomes), len(d.reach_b.outcomes)) == (22, 18)
    # the revoke no longer waits: its fence wait and completion wait are gone
    gone = {o[1].rsplit("/", 1)[-1] for o, _ in d.gone}
    assert {"vfio_pci_dma_buf_move:dma_resv_wait_timeout(buf0)",
            "vfio_pci_dma_buf_move:wait_for_completion(buf0)",
            "vfio_pci_dma_buf_move:clear_revoked(buf0)"} <= gone
    # the un-revoke now flips priv->revoked in one resv section
    assert [o[1] for o, _ in d.new] == [
        "pwrite_pci_command:write1/vfio_basic_config_write:unrevoke/vfio_pci_dma_buf_move:dma_resv_lock(buf0)"]
    changed = {p: (ra.verdict, rb.verdict) for p, ra, rb in d.changed}
    assert changed["revoked-means-unmapped"] == ("holds", "violated")
    rb = next(rb for p, _, rb in d.changed if p == "revoked-means-unmapped")
    assert len(rb.trace) == 7
    text = render_diff(d, traces=1)
    assert "revoked-means-unmapped  holds -> VIOLATED (7 steps)" in text
    assert "(1 new, 5 gone)" in text


def test_each_new_outcome_trace_is_shortest_and_replays_on_its_variant():
    d = diff("upstream", "no-wait-for-unmap", "tiny")
    model, checks = build("tiny", "no-wait-for-unmap", ["deadlock-free"])
    sem = Semantics(model, checks)
    for o, t in d.new:
        rr = replay(t, sem)
        assert rr.ok and rr.steps_replayed == len(t)
        assert t.steps[-1].thread == o[0] and t.steps[-1].label == o[1]
        assert len(t) == len(d.reach_b.first[o])


def test_identical_variants_differ_in_nothing_and_exit_0():
    r = CliRunner().invoke(main, ["diff", "upstream", "upstream", "-c", "tiny"])
    assert r.exit_code == 0, r.output
    assert "(0 new, 0 gone)" in r.output and "no property changes verdict." in r.output


def test_diff_cli_exit_1_and_json():
    r = CliRunner().invoke(main, ["diff", "upstream", "no-wait-for-unmap", "-c", "tiny", "--json",
                                  "-p", "revoked-means-unmapped"])
    assert r.exit_code == 1, r.output
    d = json.loads(r.output)
    assert d["states"] == [97, 79]
    assert d["properties"]["revoked-means-unmapped"]["b"] == {
        "verdict": "violated", "property": "revoked-means-unmapped", "trace_length": 7}
    assert len(d["gone"]) == 5 and len(d["new"]) == 1


def test_bar_mmap_dmabuf_v8_against_upstream_on_mmap():
    """What Matt Evans' v8 does to mainline's paths: dmabuf_lock around every move, the dma-buf
    address_space zapped by the revoke, and the un-revoke without invalidate or fence wait."""
    d = diff("upstream", "bar-mmap-dmabuf-v8", "mmap", properties=["dmabuf-pte-needs-ok", "lock-order"])
    assert (d.reach_a.states, d.reach_b.states) == (1307, 1664)
    assert (len(d.new), len(d.gone)) == (18, 7)
    new = {o[1].rsplit("/", 1)[-1] for o, _ in d.new}
    assert {"vfio_pci_dma_buf_move:down_write(dmabuf_lock)", "vfio_pci_dma_buf_move:up_write(dmabuf_lock)",
            "vfio_pci_dma_buf_move:unmap_mapping_range(buf0)"} <= new
    gone = {o[1].rsplit("/", 1)[-1] for o, _ in d.gone}
    assert "vfio_pci_dma_buf_move:dma_buf_invalidate_mappings(buf0)" in gone
    verdicts = {p: (ra and ra.verdict, rb and rb.verdict) for p, ra, rb in d.verdicts}
    assert verdicts == {"dmabuf-pte-needs-ok": (None, "holds"), "lock-order": ("holds", "holds")}
