"""Worked example: a change that adds state, a lock, an object kind, an actor kind and a property.

    revoke-check check -v examples/new_state.py:peek-unlocked -c examples/new_state.toml
    revoke-check check -v examples/new_state.py:peek-locked -c examples/new_state.toml

A made-up feature in the shape of the 2026 BAR-mmap series: a *peeker* (a new
kind of object, one per config entry) maps a buf's BAR range for the CPU if
the buf is not revoked.  ``peek-unlocked`` tests ``priv->revoked`` without a
lock and inserts later (the time-of-check/time-of-use bug the series' fault
path avoids by re-checking under the revoker's lock); ``peek-locked`` takes a
new per-device rwsem ``peek_lock`` for read around the test and the insert,
and the revoke takes it for write.  The new property says a peeker never maps
a revoked buf.
"""
from revoke_check.model.expr import BOOL, and_
from revoke_check.model.lang import Branch, DONE, Step, step
from revoke_check.model.schema import ActorKind, Attr, Field, Lock, ObjectKind
from revoke_check.model.variants import variant
from revoke_check.properties import Property, Witness


def _declare(p):
    """What both versions add: the peeker, its field, the lock, the actor kind, the property."""
    p.add_object_kind(ObjectKind("peeker", "peekers", "struct peeker", ref="peeker",
                                 doc="CPU mappings of a buf's BAR range",
                                 attrs=(Attr("buf", "ref:buf", doc="the buf it maps"),)))
    p.add_field(Field("peeker", "peek_mapped", BOOL, 0, "the peeker's PTE is present"))
    p.add_lock(Lock("device", "peek_lock", "rwsem", klass="peek_lock", expr="&{}->peek_lock",
                    doc="serialises peeks against revokes"))
    p.add_actor_kind(ActorKind("peek", "peek_fault", "peeker", lambda cfg, a: {"pk": a.target},
                               doc="a CPU fault on a peeker's mapping"))
    p.add_property(Property(
        "peek-needs-unrevoked",
        """A peeker maps a buf only while the buf is not revoked.

        Every PTE a peek fault inserts is gone (or was never inserted) once
        priv->revoked is set.
        """,
        invariant=lambda m: and_(*[~and_(m.v.peek_mapped[k], m.v.revoked[pk.buf])
                                   for k, pk in enumerate(m.config.of("peeker"))]),
        witnesses=(Witness("peek-mapped", state=lambda m: and_(*[m.v.peek_mapped[k] for k in
                                                               range(len(m.config.of("peeker")))])),),
    ))
    # revoke: zap the peekers' PTEs while move(true) holds resv
    from revoke_check.model.vfio_pci_dmabuf import vfio_pci_dma_buf_move

    def move(t, vdev, revoked):
        stmts = vfio_pci_dma_buf_move(t, vdev, revoked)
        if not revoked:
            return stmts
        for s in stmts:
            if s.label.startswith("dma_resv_lock("):
                b = [x.name for x in t.cfg.bufs].index(s.label[len("dma_resv_lock("):-1])
                for br in s.branches:
                    for k, pk in enumerate(t.cfg.of("peeker")):
                        if pk.buf == b:
                            br.do[t.v.peek_mapped[k]] = 0
        return stmts
    p.replace_procedure("vfio_pci_dma_buf_move", move)


def _fault(locked: bool):
    def peek_fault(t, pk: int):
        v = t.v
        b = t.cfg.of("peeker")[pk].buf
        d = t.cfg.bufs[b].dev
        rd = v.peek_lock_readers[d]
        free = v.peek_lock[d] == 0
        if locked:
            return [
                step("down_read", "Take peek_lock for read.", when=free, do={rd: rd + 1},
                     source="examples/new_state.py:peek_fault"),
                Step("insert", [
                    Branch(~v.revoked[b], {v.peek_mapped[pk]: 1, rd: rd - 1}, goto=DONE,
                           note="not revoked: insert the PTE, up_read"),
                    Branch(v.revoked[b], {rd: rd - 1}, goto=DONE, note="revoked: SIGBUS, up_read"),
                ], "Under peek_lock test priv->revoked and insert the PTE.",
                    source="examples/new_state.py:peek_fault"),
            ]
        return [
            Step("test_revoked", [
                Branch(~v.revoked[b], note="not revoked (unlocked test)"),
                Branch(v.revoked[b], goto=DONE, note="revoked: SIGBUS"),
            ], "Test priv->revoked without a lock.", source="examples/new_state.py:peek_fault"),
            step("insert", "Insert the PTE without testing again.", do={v.peek_mapped[pk]: 1},
                 goto=DONE, source="examples/new_state.py:peek_fault"),
        ]
    return peek_fault


def _revoke_takes_peek_lock(p):
    """The revoke takes peek_lock for write around the resv section that zaps the peekers."""
    from revoke_check.model.vfio_pci_dmabuf import vfio_pci_dma_buf_move
    inner = p.procs["vfio_pci_dma_buf_move"][0]

    def move(t, vdev, revoked):
        stmts = inner(t, vdev, revoked)
        if not revoked:
            return stmts
        v = t.v
        for s in stmts:
            if s.label.startswith("dma_resv_lock("):
                b = [x.name for x in t.cfg.bufs].index(s.label[len("dma_resv_lock("):-1])
                d = t.cfg.bufs[b].dev
                for br in s.branches:
                    br.when = and_(br.when, v.peek_lock[d] == 0, v.peek_lock_readers[d] == 0)
        return stmts
    p.replace_procedure("vfio_pci_dma_buf_move", move)
    del vfio_pci_dma_buf_move


@variant("peek-unlocked")
def peek_unlocked(p):
    """The peek fault tests priv->revoked without a lock (time of check, time of use)."""
    _declare(p)
    p.add_procedure("peek_fault", _fault(False), "examples/new_state.py:peek_fault")


@variant("peek-locked")
def peek_locked(p):
    """The peek fault tests and inserts under peek_lock(R); the revoke zaps under peek_lock(W)."""
    _declare(p)
    _revoke_takes_peek_lock(p)
    p.add_procedure("peek_fault", _fault(True), "examples/new_state.py:peek_fault")
    p.add_config("peek", {
        "doc": "One device, one buf with a peeker and an importer, a PCI_COMMAND writer revoking and un-revoking.",
        "devices": [{"name": "dev0"}],
        "bufs": [{"name": "buf0", "dev": "dev0"}],
        "importers": [{"name": "imp0", "buf": "buf0"}],
        "peekers": [{"name": "pk0", "buf": "buf0"}],
        "actors": [{"kind": "config_write", "dev": "dev0", "mem": [False, True]},
                   {"kind": "peek", "peeker": "pk0"}, {"kind": "importer", "importer": "imp0"}],
    })
