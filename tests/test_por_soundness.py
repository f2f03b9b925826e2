"""Issue 10, item 1: the partial-order reduction of bmc/kind must count the
variables read by the checks attached to a step (its assertions, its witnesses)
in the step's footprint.

The variant below makes ``get_file_active`` test only the revoked flag and
``dma_buf_release`` unlink without memory_lock: the use-after-free assertion of
get_file_active reads ``phase``, which the release step writes, while neither
the guard nor the updates of get_file_active read it.  Without the attached
reads in the footprint the two steps look independent, the order constraint
forbids release-then-get_file_active, and ``bmc --depth 5`` says "holds up to
depth 5" although the explicit engine finds a 5-step violation.
"""
from revoke_check.model.config import parse_config
from revoke_check.model.lang import DONE, RETURN, Branch, Event, Step
from revoke_check.model.variants import upstream
from revoke_check.properties import compile_checks, get_properties
from revoke_check.engines.bmc import bmc
from revoke_check.engines.explicit import explore
from revoke_check.engines.kind import kinduction
from revoke_check.engines.symbolic import independent_pairs

RAW = {"devices": [{"name": "dev0", "open": True, "mem": True}],
       "bufs": [{"name": "buf0", "dev": "dev0", "exists": True}],
       "actors": [{"kind": "config_write", "dev": "dev0", "mem": [False]},
                  {"kind": "close_fd", "buf": "buf0"}]}


def stale_get(p):
    def make(t, vdev, revoked):
        v = t.v
        return Step("get_file_active(buf0)", [
            Branch(v.revoked[0] == int(revoked), goto=RETURN, note="already in the target state"),
            Branch(v.revoked[0] != int(revoked), {v.f_count[0]: v.f_count[0] + 1},
                   events=(Event("use", (0,)),), note="no release check"),
        ], "get_file_active without testing the list or f_count")

    def release(t, buf):
        v, d = t.v, t.cfg.bufs[buf].dev
        return Step("vfio_pci_dma_buf_release", [
            Branch(v.priv_vdev[buf], {v.phase[buf]: "freed", v.priv_vdev[buf]: 0,
                                      v.registration[d]: v.registration[d] - 1},
                   goto=DONE, events=(Event("use", (buf,)), Event("put_registration", (d,)))),
            Branch(~v.priv_vdev[buf], {v.phase[buf]: "freed"}, goto=DONE, events=(Event("use", (buf,)),)),
        ], "release without memory_lock")

    p.replace_step("vfio_pci_dma_buf_move", "get_file_active(buf0)", make)
    p.replace_step("vfio_pci_dma_buf_release", "vfio_pci_dma_buf_release", release)


def build():
    p = upstream().copy("stale-get")
    stale_get(p)
    m = p.build(parse_config("uaf", RAW))
    c = compile_checks(m, [x for x in get_properties() if not x.lock_order])
    return m, c


def _index(m, thread, label_end):
    return [tr.index for tr in m.transitions
            if tr.thread == thread and tr.label.endswith(label_end) and tr.events]


def test_assertion_reads_are_in_the_footprint():
    m, c = build()
    gets = [i for i in _index(m, "config_write.dev0", "get_file_active(buf0)") if i in c.step_asserts]
    rels = _index(m, "dma_buf_release.buf0", ":vfio_pci_dma_buf_release")
    assert gets and rels
    pairs = set(independent_pairs(m, c))
    for g in gets:
        for r in rels:
            assert (min(g, r), max(g, r)) not in pairs
    # without the checks (the old footprint) the pair is independent: the test has teeth
    old = set(independent_pairs(m, None))
    assert any((min(g, r), max(g, r)) in old for g in gets for r in rels)


def test_explicit_bmc_kind_agree_on_the_shortest_violation():
    m, c = build()
    ex = explore(m, c)
    assert (ex.verdict, ex.property, ex.depth) == ("violated", "refcounts", 5)
    assert ex.trace.steps[-1].label.endswith("get_file_active(buf0)")
    b = bmc(m, c, depth=ex.depth)
    assert (b.verdict, b.property, b.depth) == ("violated", "refcounts", 5), b.message
    k = kinduction(m, c, depth=ex.depth)
    assert (k.verdict, k.property, k.depth) == ("violated", "refcounts", 5), k.message
