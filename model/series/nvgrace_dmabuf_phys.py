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

rwsem fairness (model/vfio_pci_rdwr.py, config ``nvgrace-rw``): a
``down_read`` waits while a writer is queued; ``config_write_queued`` (a
PCI_COMMAND writer, memory_lock(W)) and ``munmap`` (mmap_lock(W)) announce
themselves queued before they block.  With both queued the read, the fault
and the two writers wait in a cycle.
"""
from __future__ import annotations

from revoke_check.model.expr import and_
from revoke_check.model.lang import Branch, Event, RETURN, Step, step
from revoke_check.model.locks import takes
from revoke_check.model.variants import variant

NV = "drivers/vfio/pci/nvgrace-gpu/main.c"


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


@variant("nvgrace-dmabuf-phys")
def nvgrace_dmabuf_phys(p):
    """nvgrace-gpu (kernel-2026 §4.5): read/write hold memory_lock(R) across copy_to_user/copy_from_user.

    With rwsem fairness (a down_read waits behind a queued writer) the BAR
    fault (mmap_lock(R) -> memory_lock(R)) and the read (memory_lock(R) ->
    mmap_lock(R)) deadlock once a memory_lock writer and an mmap_lock writer
    are queued.
    """
    p.replace_procedure("vfio_pci_bar_rw", _nvgrace_rw(True), f"{NV}:nvgrace_gpu_read_mem")


@variant("nvgrace-copy-outside-lock")
def nvgrace_copy_outside_lock(p):
    """Candidate fix: nvgrace-gpu reads into a bounce buffer under memory_lock(R) and copies to user after up_read.

    The shape vfio_pci_core_do_io_rw has: no mmap_lock under memory_lock.
    """
    p.replace_procedure("vfio_pci_bar_rw", _nvgrace_rw(False), f"{NV}:nvgrace_gpu_read_mem")
