"""io_uring: dma-buf registration for read/write requests (NVMe peer-to-peer into a vfio BAR).

Series: Pavel Begunkov, "io_uring dma-buf registration" v3, 10 patches,
posted 2026-04-29, message id ``cover.1777475843.git.asml.silence@gmail.com``
(not merged; RFC v2 2025-11-23, Christoph Hellwig's review 2026-05-13).
kernel-2026 §4.3, §2.13 (importers), §3 item 10 (importer timing).

What the series adds, as modelled here (an importer of kind ``io_uring``):

* A **token** per registered dma-buf (``lib/io_dmabuf_token.c``): the
  registration attaches with NVMe's importer ops (``invalidate_mappings``
  set, ``allow_peer2peer``), so vfio's ``.attach`` accepts it as revocable.
  The token holds a lazily created **map** with a ``percpu_ref`` that counts
  the requests using it (fields ``tok_map`` and ``reqs``).
* **Requests** (actor kind ``io_uring_req``): ``percpu_ref_tryget`` on
  ``token->map`` (no lock); if there is none, ``io_dmabuf_create_map`` waits
  for the KERNEL fences in resv without the lock, then L(resv),
  ``dma_buf_map_attachment`` (vfio: revoked -> -ENODEV, else kref_get), U.
  A -ENODEV fails that request only; nothing is cached in the token, so the
  next request tries again.  The request's I/O completes on its own (NVMe
  completion) and drops its percpu_ref.
* **Invalidate** (``io_dmabuf_drop_map``, resv held, from vfio's move):
  ``token->map = NULL``; ``dma_resv_add_fence(map fence, KERNEL)``;
  ``percpu_ref_kill``.  If no fence slot can be reserved (inject
  ``io_uring_fence_slot_fails``) it waits for the fence synchronously under
  resv instead (``dma_fence_wait``).
* **Release work** (actor kind ``io_dmabuf_map_release_work``, one per token, on
  system_wq) after the last request drops the percpu_ref: (a)
  ``dma_fence_signal`` with no lock; (b) L(resv), ``dev_ops->unmap``
  (vfio ``kref_put``), ``kref_put`` of the map, U(resv).
* vfio's move(true) then waits in ``dma_resv_wait_timeout(BOOKKEEP)`` for the
  fence and in ``wait_for_completion`` for the worker's unmap.

Properties added: ``io-uring-fence-signal-lock-free``,
``io-uring-unmap-needs-only-resv``, ``io-uring-map-refused-after-invalidate``
and ``io-uring-requests-drain``; upstream's revoked-means-unmapped,
no-mapping-survives-reset, deadlock-free and lock-order must hold as well.
Configs: ``uring``, ``uring-reset``, ``uring-noslot``.

Edits of upstream: the importer kind gets the ``io_uring`` choice; procedure
``importer`` dispatches that kind to the token's registration; the resv
sections of ``vfio_pci_dma_buf_move`` call ``io_dmabuf_drop_map``.
"""
from __future__ import annotations

from dataclasses import replace

from revoke_check.model.dma_buf import creator_done
from revoke_check.model.expr import BOOL, ENUM, INT, TRUE, and_, const, ite, or_
from revoke_check.model.lang import Branch, DONE, Event, Step, step
from revoke_check.model.locks import NONE, resv_free, takes
from revoke_check.model.schema import ActorKind, Attr, Field
from revoke_check.model.variants import variant
from revoke_check.model.vfio_pci_dmabuf import fput, use
from revoke_check.properties import Property, Witness, each

DMABUF = "drivers/dma-buf/dma-buf.c"
VFIO = "drivers/vfio/pci/vfio_pci_dmabuf.c"
TOKEN = "lib/io_dmabuf_token.c"
RW = "io_uring/rw.c"
MOVE = "vfio_pci_dma_buf_move"
MAP_STATES = ("none", "live", "killed")
INJECT = "io_uring_fence_slot_fails"


def _uring(cfg, b=None):
    return [i for i, x in enumerate(cfg.importers)
            if x.kind == "io_uring" and (b is None or x.buf == b)]


def _n_reqs(cfg, i):
    return sum(1 for a in cfg.actors if a.kind == "io_uring_req" and a.target == i)


def _registrar(t, i):
    """The thread registering token ``i`` (the importer actor naming it), if any."""
    return next((a.name for a in t.cfg.actors if a.kind == "importer" and a.target == i), None)


# --- the token: registration and unregistration ------------------------------------

def io_dmabuf_token(t, imp: int):
    """IORING_REGISTER of a dma-buf fd: attach with NVMe's revocable ops; later unregister."""
    v, cfg = t.v, t.cfg
    b = cfg.importers[imp].buf
    put, put_ev = fput(v, b)
    reqs_done = and_(*[v.pcs[a.name] == "done" for a in cfg.actors
                       if a.kind == "io_uring_req" and a.target == imp])
    return [
        Step("dma_buf_get", [
            Branch(v.has_fd[b], {v.f_count[b]: v.f_count[b] + 1}, events=(use(b),)),
            Branch(and_(~v.has_fd[b], creator_done(t, b)), goto=DONE, note="no fd to register: -EBADF"),
        ], "Registration takes a reference on the dma-buf file for the token.",
            source=f"{DMABUF}:dma_buf_get"),
        Step("vfio_pci_dma_buf_attach", [
            Branch(v.revoked[b], put, goto=DONE, events=(put_ev, use(b)),
                   note="-ENODEV: priv->revoked (read without resv); dma_buf_put"),
            Branch(~v.revoked[b], events=(use(b),)),
        ], "The token attaches with NVMe's importer ops, which have invalidate_mappings, so vfio "
           "accepts it as revocable.", source=f"{VFIO}:vfio_pci_dma_buf_attach"),
        step("list_add_attachment", "Under resv, add the token's attachment to dmabuf->attachments.",
             when=resv_free(v, b), do={v.attached[imp]: 1}, events=(use(b), takes("resv")),
             source=f"{DMABUF}:dma_buf_dynamic_attach"),
        Step("io_dmabuf_token_release", [
            Branch(and_(reqs_done, resv_free(v, b), v.tok_map[imp] == "live"),
                   {v.tok_map[imp]: "killed", v.fence[imp]: 1, v.map_fence[imp]: 1},
                   events=(use(b), takes("resv")),
                   note="drop the live map: token->map = NULL, add its fence, percpu_ref_kill"),
            Branch(and_(reqs_done, resv_free(v, b), v.tok_map[imp] != "live"), events=(use(b), takes("resv")),
                   note="no live map"),
        ], "Unregistration, once the requests using the token are gone: the token's release work "
           "drops the map under resv the way invalidate does.",
            source=f"{TOKEN}:io_dmabuf_token_release_work"),
        step("dma_buf_detach",
             "Once the release work has unmapped and the KERNEL fence signalled, detach under resv "
             "and dma_buf_put.",
             when=and_(resv_free(v, b), v.tok_map[imp] == "none", ~v.map_fence[imp]),
             do={v.attached[imp]: 0, **put}, events=(put_ev, use(b), takes("resv")), goto=DONE,
             source=f"{TOKEN}:io_dmabuf_token_destroy_work"),
    ]


def _importer(inner):
    def importer(t, imp: int):
        if t.cfg.importers[imp].kind == "io_uring":
            return io_dmabuf_token(t, imp)
        return inner(t, imp)
    return importer


# --- a request --------------------------------------------------------------------

def kernel_fences_signalled(v, b):
    """No io_uring map fence (DMA_RESV_USAGE_KERNEL) of ``b`` is unsignalled in resv."""
    return and_(*[~v.fence[i] for i in _uring(v.cfg, b)])


def io_uring_dmabuf_rw(t, imp: int):
    """One read/write request on the registered dma-buf: get or create the map, DMA, complete."""
    v, cfg = t.v, t.cfg
    b = cfg.importers[imp].buf
    reg = _registrar(t, imp)
    unregistered = and_(~v.attached[imp], v.pcs[reg] == "done") if reg else ~v.attached[imp]
    failed = t.local("enodev", BOOL)
    live = v.tok_map[imp] == "live"
    return [
        Step("io_dmabuf_get_map", [
            Branch(and_(v.attached[imp], live), {v.reqs[imp]: v.reqs[imp] + 1}, goto="nvme_complete",
                   events=(use(b),), note="percpu_ref_tryget on token->map succeeded"),
            Branch(and_(v.attached[imp], ~live), events=(use(b),),
                   note="token->map is NULL (never mapped or dropped by invalidate)"),
            Branch(unregistered, goto=DONE, note="no registered token: -EINVAL"),
        ], "Under RCU, take a percpu_ref on the token's current map if there is one.",
            source=f"{TOKEN}:io_dmabuf_get_map"),
        step("dma_resv_wait_timeout(KERNEL)",
             "Before taking resv, wait for the KERNEL fences in resv (a dropped map's fence among them).",
             when=kernel_fences_signalled(v, b), source=f"{TOKEN}:io_dmabuf_create_map"),
        Step("dma_buf_map_attachment", [
            Branch(and_(resv_free(v, b), live), {v.reqs[imp]: v.reqs[imp] + 1},
                   events=(use(b), takes("resv")), note="another request created the map meanwhile"),
            Branch(and_(resv_free(v, b), ~live, v.revoked[b]), {failed: 1}, goto=DONE,
                   events=(Event("uring_enodev", (imp,)), use(b), takes("resv")),
                   note="-ENODEV: revoked; the request fails, the token caches nothing"),
            Branch(and_(resv_free(v, b), v.tok_map[imp] == "none", ~v.revoked[b]),
                   {v.tok_map[imp]: "live", v.mapped[imp]: 1, v.kref[b]: v.kref[b] + 1,
                    v.reqs[imp]: v.reqs[imp] + 1},
                   events=(Event("map", (b,)), Event("uring_map", (imp,)), Event("kref_get", (b,)),
                           use(b), takes("resv"))),
        ], "Under resv map lazily: vfio_pci_dma_buf_map refuses a revoked buf, else kref_get; the new "
           "map (percpu_ref held by this request) is published as token->map.",
            source=f"{TOKEN}:io_dmabuf_create_map"),
        step("nvme_complete",
             "The NVMe command completes on its own and the request drops its percpu_ref on the map.",
             do={v.reqs[imp]: v.reqs[imp] - 1}, events=(Event("uring_req_done", (imp,)),), goto=DONE,
             source=f"{RW}:io_req_rw_complete"),
    ]


# --- the release work item ----------------------------------------------------------

def io_dmabuf_map_release_work(t, imp: int):
    """The map's release work on system_wq: signal the fence, then unmap under resv."""
    v = t.v
    b = t.cfg.importers[imp].buf
    return [
        step("idle", "The last request dropped the killed map's percpu_ref; the release work is queued.",
             when=and_(v.tok_map[imp] == "killed", v.reqs[imp] == 0),
             source=f"{TOKEN}:io_dmabuf_map_refs_release"),
        step("dma_fence_signal", "Signal the map's fence before taking any lock.",
             do={v.fence[imp]: 0, v.map_fence[imp]: 0},
             events=(Event("uring_fence_signal", (imp, t.me)),),
             source=f"{TOKEN}:io_dmabuf_map_release_work"),
        step("io_dmabuf_unmap",
             "Under resv unmap through dev_ops->unmap (vfio kref_put) and put the map.",
             when=resv_free(v, b),
             do={v.tok_map[imp]: "none", v.mapped[imp]: 0, v.notified[imp]: 0,
                 v.kref[b]: v.kref[b] - 1, v.comp[b]: ite(v.kref[b] == 1, 1, v.comp[b])},
             events=(Event("uring_unmap", (imp, t.me)), Event("kref_put", (b,)), use(b), takes("resv")),
             goto="idle", source=f"{TOKEN}:io_dmabuf_map_release_work"),
    ]


# --- invalidate: io_dmabuf_drop_map ------------------------------------------------

def _drop_map(t, b, sync: bool) -> dict:
    """io_dmabuf_drop_map of every token of ``b`` (resv held)."""
    v = t.v
    out = {}
    for i in _uring(t.cfg, b):
        live = v.tok_map[i] == "live"
        out[v.tok_map[i]] = ite(live, const(MAP_STATES.index("killed")), v.tok_map[i])
        out[v.map_fence[i]] = or_(v.map_fence[i], live)
        if sync:
            out[v.sync_wait[i]] = or_(v.sync_wait[i], live)
        else:
            out[v.fence[i]] = or_(v.fence[i], live)
    return out


def _move(inner):
    def vfio_pci_dma_buf_move(t, vdev, revoked):
        stmts = inner(t, vdev, revoked)
        cfg, v = t.cfg, t.v
        names = [x.name for x in cfg.bufs]
        out = []
        for s in stmts:
            out.append(s)
            for pre in ("dma_resv_lock(", "dma_buf_invalidate_mappings("):
                if not s.label.startswith(pre):
                    continue
                b = names.index(s.label[len(pre):-1])
                toks = _uring(cfg, b)
                if not toks:
                    continue
                brs = []
                for br in s.branches:
                    slot = replace(br, do={**br.do, **_drop_map(t, b, False)})
                    if cfg.may(INJECT):
                        slot.choice = "fence slot reserved"
                        brs += [slot, replace(br, do={**br.do, **_drop_map(t, b, True)},
                                              choice="no fence slot")]
                    else:
                        brs.append(slot)
                s.branches = brs
                if cfg.may(INJECT):
                    out.append(step(
                        f"dma_fence_wait({names[b]})",
                        "No fence slot: io_dmabuf_drop_map waits for the map's fence under resv.",
                        when=and_(*[or_(~v.sync_wait[i], ~v.map_fence[i]) for i in toks]),
                        do={v.sync_wait[i]: 0 for i in toks}, events=(use(b),),
                        source=f"{TOKEN}:io_dmabuf_drop_map"))
        return out
    return vfio_pci_dma_buf_move


# --- properties ----------------------------------------------------------------------

def _has_uring(m):
    return bool(_uring(m.config))


def _holds_none(m, me):
    return and_(*[li.owner != me for li in m.locks])


FENCE_SIGNAL_LOCK_FREE = Property(
    "io-uring-fence-signal-lock-free",
    """The map's fence is signalled without resv, memory_lock, dev_set->lock or mmap_lock.

    vfio's move(true) waits for it in dma_resv_wait_timeout with resv and
    memory_lock(W) held (in hot reset also dev_set->lock and other
    memory_locks), so the release work signals it before taking any lock: at
    dma_fence_signal the worker holds no lock (and the step waits for none).
    """,
    events={"uring_fence_signal": lambda m, i, me: _holds_none(m, me)},
    witnesses=(Witness("signal-while-revoker-holds-resv", applies=_has_uring,
                       event=("uring_fence_signal", lambda m, i, me: and_(
                           m.v.resv[m.config.importers[i].buf] != NONE,
                           m.v.memory_lock[m.config.bufs[m.config.importers[i].buf].dev] != NONE))),),
)


def _waiter(m, b):
    name = f"wait_for_completion({m.config.bufs[b].name})"
    return or_(*[t.pc == k for t in m.threads for k, n in enumerate(t.pc.domain.names) if name in n])


UNMAP_NEEDS_ONLY_RESV = Property(
    "io-uring-unmap-needs-only-resv",
    """The release work's unmap needs only dmabuf->resv.

    move(true) waits in wait_for_completion, with memory_lock(W) held, for
    the worker's dev_ops->unmap; the worker holds no lock when it takes resv
    for the unmap (and takes nothing else), and resv is free then because
    move dropped it after the fence wait.
    """,
    events={"uring_unmap": lambda m, i, me: and_(_holds_none(m, me),
                                                 m.v.resv[m.config.importers[i].buf] == NONE)},
    witnesses=(Witness("unmap-while-revoker-waits", applies=_has_uring,
                       event=("uring_unmap", lambda m, i, me: _waiter(m, m.config.importers[i].buf))),),
)


def _retried(m):
    """A request failed with -ENODEV and the token has a live map again."""
    out = []
    for a in m.config.actors:
        if a.kind != "io_uring_req":
            continue
        out.append(and_(m.var(f"{a.name}.enodev") == 1, m.v.tok_map[a.target] == "live"))
    return or_(*out)


MAP_REFUSED_AFTER_INVALIDATE = Property(
    "io-uring-map-refused-after-invalidate",
    """After io_dmabuf_drop_map a request's map fails with -ENODEV until un-revoke; it is not cached.

    A new map is created only under resv with priv->revoked false and
    token->map NULL (protocol-facts I3); a -ENODEV fails that request alone
    and leaves no state in the token, so a request after un-revoke maps again.
    """,
    events={"uring_map": lambda m, i: and_(~m.v.revoked[m.config.importers[i].buf],
                                           m.v.tok_map[i] == "none")},
    witnesses=(Witness("enodev", applies=_has_uring, event=("uring_enodev", lambda m, i: TRUE)),
               Witness("remap-after-enodev", applies=lambda m: bool(m.config.actors_of_kind("io_uring_req"))
                       and len(m.config.actors_of_kind("io_uring_req")) > 1, state=_retried)),
)


def _drained(m, b):
    v = m.v
    return and_(*[and_(v.tok_map[i] == "none", v.reqs[i] == 0, ~v.map_fence[i])
                  for i in _uring(m.config, b)])


REQUESTS_DRAIN = Property(
    "io-uring-requests-drain",
    """When move(true) returns, the token's map is gone and no request uses it.

    In-flight requests complete on their own; the last percpu_ref put queues
    the release work, whose fence signal ends move's dma_resv_wait_timeout
    and whose unmap ends its wait_for_completion.  So at the end of every
    revoke no request holds the map, the map is unmapped and its fence
    signalled.
    """,
    events={"revoke_returned": lambda m, b: each(b, len(m.config.bufs), lambda k: _drained(m, k))},
    witnesses=(Witness("request-in-flight-on-killed-map", applies=_has_uring, state=lambda m: or_(*[
        and_(m.v.tok_map[i] == "killed", m.v.reqs[i] > 0) for i in _uring(m.config)])),),
)

PROPS = (FENCE_SIGNAL_LOCK_FREE, UNMAP_NEEDS_ONLY_RESV, MAP_REFUSED_AFTER_INVALIDATE, REQUESTS_DRAIN)


def _dev0(**kw):
    return {"devices": [{"name": "dev0", "open": True, "mem": True}],
            "bufs": [{"name": "buf0", "dev": "dev0", "exists": True}],
            "importers": [{"name": "tok0", "buf": "buf0", "kind": "io_uring"}], **kw}


CONFIGS = {
    "uring": _dev0(
        doc="One open device exporting one buf to an io_uring token; two requests race with a "
            "PCI_COMMAND writer that revokes and un-revokes.",
        actors=[{"kind": "config_write", "dev": "dev0", "mem": [False, True]},
                {"kind": "importer", "importer": "tok0"},
                {"kind": "io_uring_req", "importer": "tok0", "name": "req0"},
                {"kind": "io_uring_req", "importer": "tok0", "name": "req1"}]),
    "uring-reset": _dev0(
        doc="An io_uring token with one request; a reset ioctl (which may fail) revokes and "
            "un-revokes, then the device is closed.",
        actors=[{"kind": "ioctl_reset", "dev": "dev0"},
                {"kind": "importer", "importer": "tok0"},
                {"kind": "io_uring_req", "importer": "tok0", "name": "req0"},
                {"kind": "close_device", "dev": "dev0"}],
        inject={"reset_fails": True}),
    "uring-hot-reset": {
        "doc": "A dev_set of two devices, the first open and exporting one buf to an io_uring token "
               "with one request; hot reset (dev_set->lock, memory_locks, possibly failing) races "
               "with a PCI_COMMAND write, and the device is closed.",
        "devices": [{"name": "dev0", "open": True, "mem": True},
                    {"name": "dev1", "open": False, "mem": False}],
        "bufs": [{"name": "buf0", "dev": "dev0", "exists": True}],
        "importers": [{"name": "tok0", "buf": "buf0", "kind": "io_uring"}],
        "actors": [{"kind": "hot_reset", "via": "dev0"},
                   {"kind": "config_write", "dev": "dev0", "mem": [False]},
                   {"kind": "importer", "importer": "tok0"},
                   {"kind": "io_uring_req", "importer": "tok0", "name": "req0"},
                   {"kind": "close_device", "dev": "dev0"}],
        "inject": {"ownership_fails": ["dev1"], "reset_fails": True},
    },
    "uring-noslot": _dev0(
        doc="As uring with one request, but io_dmabuf_drop_map may find no fence slot and wait "
            "for the map's fence synchronously under resv.",
        actors=[{"kind": "config_write", "dev": "dev0", "mem": [False, True]},
                {"kind": "importer", "importer": "tok0"},
                {"kind": "io_uring_req", "importer": "tok0"}],
        inject={INJECT: True}),
}


def _check(cfg):
    from revoke_check.model.config import ConfigError
    for a in cfg.actors:
        if a.kind == "io_uring_req" and cfg.importers[a.target].kind != "io_uring":
            raise ConfigError(f"{cfg.name}: actor {a.name}: importer {cfg.importers[a.target].name} "
                              "is not an io_uring token")


@variant("io-uring-dmabuf-v3")
def io_uring_dmabuf_v3(p):
    """Begunkov io_uring dma-buf registration v3 (2026-04-29): a token importer with a fence and a release worker."""
    k = p.kinds["importer"]
    p.kinds["importer"] = replace(k, attrs=tuple(
        replace(a, choices=a.choices + ("io_uring",),
                doc=a.doc + "; io_uring: a registered token (fence + release work)")
        if a.name == "kind" else a for a in k.attrs))
    p.add_field(Field("importer", "tok_map", ENUM(*MAP_STATES), "none",
                      "io_uring: the token's map (live: token->map; killed: dropped, percpu_ref killed)"))
    p.add_field(Field("importer", "reqs", lambda cfg, i: INT(0, max(1, _n_reqs(cfg, i))), 0,
                      "io_uring: requests holding the map's percpu_ref"))
    p.add_field(Field("importer", "map_fence", BOOL, 0, "io_uring: the map's fence is not signalled"))
    p.add_field(Field("importer", "sync_wait", BOOL, 0,
                      "io_uring: io_dmabuf_drop_map found no fence slot and waits under resv"))
    p.add_inject(Attr(INJECT, "bool", False, "io_dmabuf_drop_map may fail to reserve a fence slot"))
    p.add_actor_kind(ActorKind("io_uring_req", "io_uring_dmabuf_rw", "importer",
                               lambda cfg, a: {"imp": a.target},
                               doc="an io_uring read/write request on a registered dma-buf"))
    p.add_actor_kind(ActorKind("io_dmabuf_map_release_work", "io_dmabuf_map_release_work", "importer",
                               lambda cfg, a: {"imp": a.target}, per="importer", idle=True,
                               when=lambda cfg, x: x.kind == "io_uring",
                               thread_name=lambda n: f"io_dmabuf_work.{n}",
                               doc="the token map's release work on system_wq"))
    p.add_procedure("io_uring_dmabuf_rw", io_uring_dmabuf_rw, f"{TOKEN}:io_dmabuf_get_map")
    p.add_procedure("io_dmabuf_map_release_work", io_dmabuf_map_release_work,
                    f"{TOKEN}:io_dmabuf_map_release_work")
    p.replace_procedure("importer", _importer(p.procs["importer"][0]), f"{DMABUF}:dma_buf_dynamic_attach")
    p.replace_procedure(MOVE, _move(p.procs[MOVE][0]))
    p.add_config_check(_check)
    for prop in PROPS:
        p.add_property(prop)
    for name, raw in CONFIGS.items():
        p.add_config(name, raw)
