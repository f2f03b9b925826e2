"""The 2026 importer series: Gunthorpe's mapping-type RFC and Begunkov's io_uring dma-buf v3."""
import pytest

from revoke_check.model.expr import and_
from revoke_check.model.lang import Branch, Event, Step, step
from revoke_check.model.locks import resv_free
from revoke_check.model.variants import get_protocol
from revoke_check.properties import compile_checks, get_properties
from revoke_check.engines.explicit import explore
from revoke_check.replay import replay
from revoke_check.run import build, check
from revoke_check.semantics import Semantics


def _run(p, config, props=None):
    m = p.build(p.config(config))
    return m, explore(m, compile_checks(m, get_properties(props, p)))


def _vars_of(e, out=None):
    """Slots of the variables an expression reads."""
    from revoke_check.model.expr import Var
    out = set() if out is None else out
    if isinstance(e, Var):
        out.add(e.slot)
    for x in getattr(e, "args", ()) or ():
        _vars_of(x, out)
    return out


# --- mapping-type RFC ---------------------------------------------------------------

@pytest.mark.parametrize("config", ["pal", "iommufd"])
def test_pal_map_after_revoke_is_found(config):
    r = check(config, "mapping-type-rfc", ["pal-map-needs-unrevoked"])
    assert r.verdict == "violated" and r.property == "pal-map-needs-unrevoked"
    labels = [s.step_label for s in r.trace.steps]
    assert labels[-1] == "importer:dma_buf_pal_map_phys"
    # the revoke ran between vfio's .attach (which saw revoked == false) and the PAL map
    assert labels.index("importer:vfio_pci_dma_buf_attach") < labels.index(
        "vfio_pci_dma_buf_move:dma_resv_lock(buf0)") < len(labels) - 1
    assert len(r.trace.steps) == 8


def test_the_rfc_trace_does_not_run_to_a_violation_with_the_fix():
    r = check("pal", "mapping-type-rfc", ["pal-map-needs-unrevoked"])
    model, checks = build("pal", "mapping-type-rfc-check-revoked", ["pal-map-needs-unrevoked"])
    rr = replay(r.trace, Semantics(model, checks))
    assert (not rr.ok) or rr.violation is None


def test_reset_with_a_live_iommu_mapping_on_the_rfc():
    r = check("pal-reset", "mapping-type-rfc", ["no-mapping-survives-reset"])
    assert r.verdict == "violated" and len(r.trace.steps) == 10
    assert r.trace.steps[-1].step_label == "vfio_pci_ioctl_reset:pci_try_reset_function"


@pytest.mark.parametrize("config", ["pal", "pal-reset", "iommufd", "minimal"])
def test_the_fix_holds(config):
    r = check(config, "mapping-type-rfc-check-revoked")
    assert r.verdict == "holds", r.property


def test_iommufd_holds_a_kref_per_mapping_and_revoke_drops_it():
    p = get_protocol("mapping-type-rfc-check-revoked")
    m, r = _run(p, "iommufd", ["kref-counts-mappings"])
    assert r.verdict == "holds"
    assert r.witnesses["kref-counts-mappings/iommufd-holds-kref"]
    assert r.witnesses["kref-counts-mappings/revoke-drops-iommufd-kref"]
    # the invalidate inside move(true)'s resv section writes priv->kref (iopt_revoke_notify's put)
    kref = m.var("kref[buf0]").slot
    tr = [t for t in m.transitions if t.label.endswith("dma_resv_lock(buf0)")]
    assert tr and all(kref in t.updates for t in tr)
    # upstream's iommufd takes no kref: the same step leaves it alone
    mu, _ = _run(get_protocol("upstream"), "iommufd", ["refcounts"])
    tu = [t for t in mu.transitions if t.label.endswith("dma_resv_lock(buf0)")]
    assert tu and not any(mu.var("kref[buf0]").slot in t.updates for t in tu)


def test_kref_invariant_fails_when_revoke_notify_forgets_the_put():
    """Without dma_buf_pal_unmap_phys in iopt_revoke_notify, move(true) never completes."""
    p = get_protocol("mapping-type-rfc-check-revoked")
    inner = p.procs["vfio_pci_dma_buf_move"][0]

    def move(t, vdev, revoked):
        stmts = inner(t, vdev, revoked)
        kref = t.v.kref
        for s in stmts:
            for br in s.branches if isinstance(s, Step) else ():
                for k in list(br.do):
                    if any(k is c for c in kref.cells) and s.label.startswith("dma_resv_lock("):
                        del br.do[k]
        return stmts
    p.replace_procedure("vfio_pci_dma_buf_move", move)
    m, r = _run(p, "pal", ["kref-counts-mappings", "deadlock-free"])
    assert r.verdict == "violated" and r.property == "kref-counts-mappings"
    m, r = _run(p, "pal", ["deadlock-free"])
    assert r.verdict == "violated" and r.property == "deadlock-free"
    # the revoker is stuck in wait_for_completion: iommufd's reference is never put
    assert "vfio_pci_dma_buf_move:wait_for_completion(buf0)" in r.message


def test_pages_mutex_is_ordered_after_resv():
    p = get_protocol("mapping-type-rfc-check-revoked")
    m, r = _run(p, "pal-reset", ["lock-order", "iommufd-unmap-under-resv"])
    assert r.verdict == "holds"
    assert any(li.decl.name == "pages_mutex" for li in m.locks)


# --- io_uring dma-buf v3 -------------------------------------------------------------

@pytest.mark.parametrize("config", ["uring", "uring-reset", "uring-hot-reset", "uring-noslot",
                                    "minimal", "iommufd"])
def test_io_uring_holds(config):
    r = check(config, "io-uring-dmabuf-v3")
    assert r.verdict == "holds", r.property
    assert not r.vacuous


def _lock_slots(m):
    out = {li.owner.slot for li in m.locks}
    out |= {li.readers.slot for li in m.locks if li.readers is not None}
    return out


def test_io_uring_fence_signal_step_takes_no_lock():
    p = get_protocol("io-uring-dmabuf-v3")
    m = p.build(p.config("uring-hot-reset"))
    locks = _lock_slots(m)
    sig = [t for t in m.transitions if t.thread == "io_dmabuf_work.tok0" and t.label.endswith("dma_fence_signal")]
    assert sig
    for t in sig:
        assert not (_vars_of(t.guard) & locks), "dma_fence_signal waits for a lock"
        assert not (set(t.updates) & locks)
    unmap = [t for t in m.transitions if t.thread == "io_dmabuf_work.tok0" and t.label.endswith("io_dmabuf_unmap")]
    assert unmap
    resv = {li.owner.slot for li in m.locks if li.decl.name == "resv"}
    for t in unmap:
        assert _vars_of(t.guard) & locks <= resv


def test_io_uring_signal_under_resv_deadlocks_the_revoke():
    """A release work that took resv before signalling would wait for move, which waits for the fence."""
    p = get_protocol("io-uring-dmabuf-v3")

    def signal_under_resv(t, imp):
        v = t.v
        b = t.cfg.importers[imp].buf
        return step("dma_fence_signal", "Mutant: signal only once resv is free.",
                    when=resv_free(v, b), do={v.fence[imp]: 0, v.map_fence[imp]: 0})
    p.replace_step("io_dmabuf_map_release_work", "dma_fence_signal", signal_under_resv)
    _, r = _run(p, "uring", ["deadlock-free"])
    assert r.verdict == "violated" and r.property == "deadlock-free"


def test_io_uring_map_that_ignores_revoked_is_caught():
    p = get_protocol("io-uring-dmabuf-v3")

    def map_anyway(t, imp):
        v = t.v
        b = t.cfg.importers[imp].buf
        return Step("dma_buf_map_attachment", [
            Branch(and_(resv_free(v, b), v.tok_map[imp] == "live"), {v.reqs[imp]: v.reqs[imp] + 1}),
            Branch(and_(resv_free(v, b), v.tok_map[imp] == "none"),
                   {v.tok_map[imp]: "live", v.mapped[imp]: 1, v.kref[b]: v.kref[b] + 1,
                    v.reqs[imp]: v.reqs[imp] + 1},
                   events=(Event("uring_map", (imp,)), Event("kref_get", (b,)))),
        ], "Mutant: no revoked test.")
    p.replace_step("io_uring_dmabuf_rw", "dma_buf_map_attachment", map_anyway)
    _, r = _run(p, "uring", ["io-uring-map-refused-after-invalidate"])
    assert r.verdict == "violated" and r.property == "io-uring-map-refused-after-invalidate"


def test_io_uring_no_fence_slot_waits_under_resv():
    p = get_protocol("io-uring-dmabuf-v3")
    m = p.build(p.config("uring-noslot"))
    assert any("dma_fence_wait(buf0)" in t.label for t in m.transitions)
    states = []
    r = explore(m, compile_checks(m, get_properties(None, p)), states_out=states)
    assert r.verdict == "holds"
    sw = m.var("sync_wait[tok0]").slot
    assert any(s[sw] for s in states), "the no-fence-slot branch is never taken"


# --- encoding hygiene of the two series -------------------------------------------------

import re  # noqa: E402

SOURCE = re.compile(r"^(drivers|fs|mm|lib|io_uring)/[\w/.-]+\.c:[a-z_][a-z0-9_]*$")


@pytest.mark.parametrize("variant, config", [
    ("mapping-type-rfc", "pal-reset"), ("mapping-type-rfc-check-revoked", "iommufd"),
    ("io-uring-dmabuf-v3", "uring"), ("io-uring-dmabuf-v3", "uring-hot-reset"),
    ("io-uring-dmabuf-v3", "uring-noslot")])
def test_every_series_step_has_a_kernel_source_and_a_sentence(variant, config):
    p = get_protocol(variant)
    m = p.build(p.config(config))
    for tr in m.transitions:
        assert SOURCE.match(tr.source), f"{tr.label}: source {tr.source!r} is not file.c:function"
        assert tr.doc and tr.doc.endswith(".") and len(tr.doc) > 15, f"{tr.label}: needs one sentence"


@pytest.mark.parametrize("variant", ["mapping-type-rfc", "io-uring-dmabuf-v3"])
def test_series_properties_have_docstrings_and_witnesses(variant):
    base = set(get_protocol("upstream").properties)
    new = {n: q for n, q in get_protocol(variant).properties.items() if n not in base}
    assert len(new) >= 3
    for name, q in new.items():
        assert len(q.doc.split()) > 15, name
        assert q.witnesses, f"{name} has no witness"
