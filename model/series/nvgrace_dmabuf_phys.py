"""nvgrace-gpu: get_dmabuf_phys through BAR0's provider, and read/write under memory_lock(R).

kernel-2026 §4.5 [P]: nvgrace-gpu's ``get_dmabuf_phys`` exports RESMEM/USEMEM
(device memory behind the C2C link, not a PCI BAR) with BAR0's p2pdma
provider; those bufs sit on ``vdev->dmabufs`` and follow the same move,
cleanup and release as BAR bufs (a config's buf on the device stands for
them).  Its read/write (``nvgrace_gpu_read_mem`` / ``nvgrace_gpu_write_mem``
via ``nvgrace_gpu_map_and_read`` / ``..._write``) holds memory_lock(R) across
``copy_to_user`` / ``copy_from_user``: a fault on the user buffer takes
mmap_lock(R) under memory_lock(R), while the BAR mmap fault takes
memory_lock(R) under mmap_lock(R).

rwsem fairness, modelled here: a ``down_read`` waits while a writer is
queued (``rwsem_down_read_slowpath`` does not jump a waiting writer).  The
variant adds two writers that announce themselves queued before they block:
``config_write_queued`` (a PCI_COMMAND writer, memory_lock(W)) and
``munmap`` (a thread of the same mm unmapping something, mmap_lock(W)).
With both queued the four threads wait in a cycle.
"""
from __future__ import annotations

from model.expr import BOOL, TRUE, and_
from model.lang import Branch, Call, Event, NEXT, RETURN, DONE, Step, step
from model.locks import takes
from model.schema import ActorKind, Attr, Field
from model.variants import variant

NV = "drivers/vfio/pci/nvgrace-gpu/main.c"


def _declare_queues(p):
    p.add_field(Field("device", "memory_lock_queued", BOOL, 0,
                      "a writer waits on memory_lock (rwsem wait list); new readers queue behind it"))
    p.add_field(Field(None, "mmap_lock_queued", BOOL, 0, "a writer waits on mmap_lock", var="mmap_lock_queued"))
    p.add_actor_kind(ActorKind(
        "config_write_queued", "pwrite_pci_command_queued", "device",
        lambda cfg, a: {"vdev": a.target, "values": a.mem}, holds_fd=True, needs_open=True,
        params=(Attr("mem", "list:bool", (), "the MEM bit values written, in order"),),
        doc="PCI_COMMAND memory-bit writes whose down_write queues (blocks later readers)"))
    p.add_actor_kind(ActorKind("munmap", "munmap_other", None,
                               doc="another thread of the mm calls munmap (mmap_lock(W), queued)"))

    def pwrite(t, vdev, values):
        v = t.v
        out = []
        for k, mem in enumerate(values):
            lbl = f"write{k}"
            out.append(Step(f"queue{k}", [
                Branch(and_(v.memory_lock[vdev] == 0, v.memory_lock_readers[vdev] == 0), note="lock free"),
                Branch(~and_(v.memory_lock[vdev] == 0, v.memory_lock_readers[vdev] == 0),
                       {v.memory_lock_queued[vdev]: 1}, note="contended: join the wait list"),
            ], "down_write: if memory_lock is held, queue on its wait list.",
                source="kernel/locking/rwsem.c:rwsem_down_write_slowpath"))
            out.append(Call(lbl, "vfio_basic_config_write", {"vdev": vdev, "mem": mem}))
        return out
    p.add_procedure("pwrite_pci_command_queued", pwrite, "userspace:pwrite(PCI_COMMAND)")

    # the writer takes the lock: it leaves the wait list
    orig_write = p.procs["vfio_basic_config_write"][0]

    def write(t, vdev, mem):
        stmts = orig_write(t, vdev=vdev, mem=mem)
        for b in stmts[0].branches:
            b.do[t.v.memory_lock_queued[vdev]] = 0
        return stmts
    p.replace_procedure("vfio_basic_config_write", write)

    def munmap(t):
        v = t.v
        free = and_(v.mmap_lock == 0, v.mmap_lock_readers == 0)
        return [
            Step("mmap_write_lock", [
                Branch(free, goto="do_vmi_munmap", note="mmap_lock free"),
                Branch(~free, {v.mmap_lock_queued: 1}, note="contended: join the wait list"),
            ], "munmap: mmap_write_lock queues behind the readers.", source="mm/mmap.c:__vm_munmap"),
            step("do_vmi_munmap", "Take mmap_lock for write, unmap, release.", when=free,
                 do={v.mmap_lock_queued: 0}, events=(takes("mmap_lock"),), goto=DONE,
                 source="mm/vma.c:do_vmi_munmap"),
        ]
    p.add_procedure("munmap_other", munmap, "mm/mmap.c:__vm_munmap")


def _readers_respect_queue(p):
    """down_read of memory_lock and mmap_lock waits while a writer is queued (fault and BAR rw)."""
    orig_fault = p.procs["vfio_pci_mmap_huge_fault"][0]

    def fault(t, vdev, mmap_lock=False):
        stmts = orig_fault(t, vdev, mmap_lock) if mmap_lock else orig_fault(t, vdev)
        v = t.v
        for s in stmts:
            if s.label == "lock_mm_and_find_vma":
                s.branches[0].when = and_(s.branches[0].when, ~v.mmap_lock_queued)
            if s.label == "down_read":
                s.branches[0].when = and_(s.branches[0].when, ~v.memory_lock_queued[vdev])
                s.branches[0].events = s.branches[0].events
        return stmts
    p.replace_procedure("vfio_pci_mmap_huge_fault", fault)


def _nvgrace_rw(copy_under_lock: bool):
    def rw(t, vdev, write=False):
        v = t.v
        readers = v.memory_lock_readers[vdev]
        E = v.memory_enabled(vdev)
        ev = (Event("mem_enabled_eval", (vdev,)), Event("mmio", (vdev,)))
        down = step("down_read", "nvgrace_gpu_read_mem/write_mem: take memory_lock for read "
                    "(waits while a writer holds it or is queued).",
                    when=and_(v.memory_lock[vdev] == 0, ~v.memory_lock_queued[vdev]),
                    do={readers: readers + 1}, source=f"{NV}:nvgrace_gpu_read_mem")
        uc = "copy_from_user" if write else "copy_to_user"
        if copy_under_lock:
            return [
                down,
                Step("nvgrace_gpu_map_and_read", [
                    Branch(E, events=ev, note="memory enabled: map the device memory, memcpy/ioread"),
                    Branch(~E, {readers: readers - 1}, goto=RETURN,
                           events=(Event("mem_enabled_eval", (vdev,)),), note="disabled: -EIO; up_read"),
                ], "Under memory_lock(R) test memory_enabled and access the device memory.",
                    source=f"{NV}:nvgrace_gpu_map_and_read"),
                step(uc, f"{uc} with memory_lock(R) still held: a fault on the user buffer takes mmap_lock(R) "
                     "(waits while an mmap_lock writer holds it or is queued).",
                     when=and_(v.mmap_lock == 0, ~v.mmap_lock_queued),
                     events=(takes("memory_lock", "mmap_lock"),),   # mmap_lock(R) under memory_lock(R)
                     source=f"{NV}:nvgrace_gpu_map_and_read"),
                step("up_read", "Release memory_lock.", do={readers: readers - 1}, goto=RETURN,
                     source=f"{NV}:nvgrace_gpu_read_mem"),
            ]
        return [
            down,
            Step("nvgrace_gpu_map_and_read", [
                Branch(E, {readers: readers - 1}, events=ev,
                       note="memory enabled: access into a bounce buffer; up_read"),
                Branch(~E, {readers: readers - 1}, goto=RETURN,
                       events=(Event("mem_enabled_eval", (vdev,)),), note="disabled: -EIO; up_read"),
            ], "Under memory_lock(R) test memory_enabled, access the device memory into a bounce buffer, up_read.",
                source=f"{NV}:nvgrace_gpu_map_and_read"),
            step(uc, f"{uc} after up_read: a fault takes mmap_lock(R) with no vfio lock held.",
                 when=and_(v.mmap_lock == 0, ~v.mmap_lock_queued), events=(takes("mmap_lock"),), goto=RETURN,
                 source=f"{NV}:nvgrace_gpu_read_mem"),
        ]
    return rw


CONFIG = {
    "doc": "nvgrace-gpu: a device whose RESMEM is exported through BAR0's provider to an importer; a read of "
           "device memory (memory_lock(R) across copy_to_user), a BAR mmap fault under mmap_lock, a PCI_COMMAND "
           "writer queued on memory_lock and a munmap queued on mmap_lock.",
    "devices": [{"name": "gpu0"}],
    "bufs": [{"name": "resmem0", "dev": "gpu0"}],
    "importers": [{"name": "imp0", "buf": "resmem0", "fences": False}],
    "actors": [
        {"kind": "bar_rw", "dev": "gpu0"},
        {"kind": "bar_fault", "dev": "gpu0", "mmap_lock": True},
        {"kind": "config_write_queued", "dev": "gpu0", "mem": [False, True]},
        {"kind": "munmap"},
        {"kind": "importer", "importer": "imp0"},
    ],
}


@variant("nvgrace-dmabuf-phys")
def nvgrace_dmabuf_phys(p):
    """nvgrace-gpu (kernel-2026 §4.5): read/write hold memory_lock(R) across copy_to_user/copy_from_user.

    With rwsem fairness (a down_read waits behind a queued writer) the BAR
    fault (mmap_lock(R) -> memory_lock(R)) and the read (memory_lock(R) ->
    mmap_lock(R)) deadlock once a memory_lock writer and an mmap_lock writer
    are queued.
    """
    _declare_queues(p)
    _readers_respect_queue(p)
    p.replace_procedure("vfio_pci_bar_rw", _nvgrace_rw(True), f"{NV}:nvgrace_gpu_read_mem")
    p.add_config("nvgrace-rw", CONFIG)


@variant("nvgrace-copy-outside-lock")
def nvgrace_copy_outside_lock(p):
    """Candidate fix: nvgrace-gpu reads into a bounce buffer under memory_lock(R) and copies to user after up_read.

    The shape vfio_pci_core_do_io_rw has: no mmap_lock under memory_lock.
    """
    _declare_queues(p)
    _readers_respect_queue(p)
    p.replace_procedure("vfio_pci_bar_rw", _nvgrace_rw(False), f"{NV}:nvgrace_gpu_read_mem")
    p.add_config("nvgrace-rw", CONFIG)
