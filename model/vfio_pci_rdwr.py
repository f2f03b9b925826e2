"""drivers/vfio/pci/vfio_pci_rdwr.c: BAR read/write through the device fd; the mm's mmap_lock.

``vfio_pci_bar_rw`` -> ``vfio_pci_core_do_io_rw``: per chunk, take
memory_lock for read, refuse with -EIO unless __vfio_pci_memory_enabled,
ioread/iowrite the BAR, up_read; the copy to or from the user buffer happens
outside memory_lock [?] (kernel-2026 §3 item 8).  The copy may fault on the
user buffer, which takes the mm's ``mmap_lock`` for read.

``mmap_lock`` (one mm: the process's) is declared here.  A ``bar_fault``
actor with ``mmap_lock = true`` runs the BAR fault the way the fault handler
enters it (``lock_mm_and_find_vma``: mmap_lock(R) held across
vfio_pci_mmap_huge_fault's memory_lock(R)) and its munmap takes mmap_lock(W);
the default (false) keeps the fault of older configs step for step.
"""
from __future__ import annotations

from dataclasses import replace

from .expr import BOOL, TRUE, and_
from .lang import Branch, Call, DONE, Event, RETURN, Step, step
from .locks import takes
from .protocol import procedure
from .schema import ActorKind, Attr, Field, Lock

SRC = "drivers/vfio/pci/vfio_pci_rdwr.c"
CONFIG_ACCESS = ("vfio_pci_rw", lambda cfg: cfg.runtime_pm)


def declare(p):
    p.add_lock(Lock(None, "mmap_lock", "rwsem", klass="mmap_lock", var="mmap_lock", expr="&mm->mmap_lock",
                    doc="current->mm->mmap_lock: page faults (R), mmap/munmap (W)"))
    p.add_actor_kind(ActorKind(
        "bar_rw", "vfio_pci_bar_rw", "device", lambda cfg, a: {"vdev": a.target, "write": a.write},
        holds_fd=True, needs_open=True, wrap=CONFIG_ACCESS,
        params=(Attr("write", "bool", False, "pwrite (copy_from_user, iowrite) instead of pread"),),
        doc="pread/pwrite of a BAR region through the device fd"))
    fault = p.actor_kinds["bar_fault"]
    p.add_actor_kind(replace(
        fault, args=lambda cfg, a: {"vdev": a.target, **({"mmap_lock": True} if a.mmap_lock else {})},
        params=fault.params + (Attr("mmap_lock", "bool", False,
                                    "model the fault handler's mmap_lock(R) around the fault and "
                                    "munmap's mmap_lock(W)"),)), replace=True)
    orig = p.procs["vfio_pci_mmap_huge_fault"][0]
    p.replace_procedure("vfio_pci_mmap_huge_fault", _fault_under_mmap_lock(orig))
    p.add_property(_no_mmio_while_disabled())
    _declare_queues(p)


def queueing(cfg) -> bool:
    """Does ``cfg`` run a writer that queues on an rwsem (so readers wait behind it)?"""
    return any(a.kind in ("config_write_queued", "munmap") for a in cfg.actors)


def _declare_queues(p):
    """rwsem fairness: a down_read waits while a writer is queued (kernel/locking/rwsem.c).

    Two writers announce themselves queued before they block: a PCI_COMMAND
    writer on memory_lock(W) and a munmap by another thread of the mm on
    mmap_lock(W).  Readers (the BAR fault under mmap_lock, BAR read/write)
    test the flags only in configs that run such a writer.
    """
    p.add_field(Field("device", "memory_lock_queued", BOOL, 0,
                      "a writer waits on memory_lock (rwsem wait list); new readers queue behind it"))
    p.add_field(Field(None, "mmap_lock_queued", BOOL, 0, "a writer waits on mmap_lock", var="mmap_lock_queued"))
    p.add_actor_kind(ActorKind(
        "config_write_queued", "pwrite_pci_command_queued", "device",
        lambda cfg, a: {"vdev": a.target, "values": a.mem}, holds_fd=True, needs_open=True,
        params=(Attr("mem", "list:bool", (), "the MEM bit values written, in order"),),
        doc="PCI_COMMAND memory-bit writes whose down_write queues (later readers wait behind it)"))
    p.add_actor_kind(ActorKind("munmap", "munmap_other", None,
                               doc="another thread of the mm calls munmap (mmap_lock(W), queued)"))


@procedure("pwrite_pci_command_queued", "kernel/locking/rwsem.c:rwsem_down_write_slowpath")
def pwrite_pci_command_queued(t, vdev: int, values: tuple):
    v = t.v
    free = and_(v.memory_lock[vdev] == 0, v.memory_lock_readers[vdev] == 0)
    out = []
    for k, mem in enumerate(values):
        out += [
            step(f"queue{k}", "down_write: the writer joins memory_lock's wait list (later readers wait behind it).",
                 do={v.memory_lock_queued[vdev]: 1}, source="kernel/locking/rwsem.c:rwsem_down_write_slowpath"),
            step(f"wake{k}", "The lock is free: the queued writer is woken and leaves the wait list.",
                 when=free, do={v.memory_lock_queued[vdev]: 0},
                 source="kernel/locking/rwsem.c:rwsem_down_write_slowpath"),
            Call(f"write{k}", "vfio_basic_config_write", {"vdev": vdev, "mem": mem}),
        ]
    return out


@procedure("munmap_other", "mm/mmap.c:__vm_munmap")
def munmap_other(t):
    v = t.v
    free = and_(v.mmap_lock == 0, v.mmap_lock_readers == 0)
    return [
        step("mmap_write_lock", "munmap: mmap_write_lock joins mmap_lock's wait list behind the readers.",
             do={v.mmap_lock_queued: 1}, source="mm/mmap.c:__vm_munmap"),
        step("do_vmi_munmap", "Take mmap_lock for write, unmap, release it.", when=free,
             do={v.mmap_lock_queued: 0}, events=(takes("mmap_lock"),), goto=DONE, source="mm/vma.c:do_vmi_munmap"),
    ]


def mmap_read_free(v):
    return v.mmap_lock == 0


def _fault_under_mmap_lock(orig):
    def fault(t, vdev: int, mmap_lock: bool = False):
        stmts = orig(t, vdev)
        if not mmap_lock:
            return stmts
        v = t.v
        rd = v.mmap_lock_readers
        q = queueing(t.cfg)
        out = [step("lock_mm_and_find_vma", "The page fault handler takes mmap_lock for read.",
                    when=and_(mmap_read_free(v), ~v.mmap_lock_queued) if q else mmap_read_free(v),
                    do={rd: rd + 1}, source="mm/memory.c:lock_mm_and_find_vma")]
        for s in stmts:
            if s.label == "down_read":
                if q:
                    s.branches[0].when = and_(s.branches[0].when, ~v.memory_lock_queued[vdev])
                # lock-order keys read-held locks by these chains: memory_lock(R) under mmap_lock(R)
                s.branches[0].events = s.branches[0].events + (takes("mmap_lock", "memory_lock"),)
                out.append(s)
            elif s.label == "vmf_insert_pfn":
                for b in s.branches:
                    b.goto = "mmap_read_unlock"
                out.append(s)
                out.append(step("mmap_read_unlock", "The fault handler drops mmap_lock.",
                                do={rd: rd - 1}, source="mm/memory.c:handle_mm_fault"))
            elif s.label == "munmap":
                out.append(step("munmap", "munmap under mmap_lock(W): the BAR PTEs go.",
                                when=and_(v.mmap_lock == 0, rd == 0), do={v.bar_pte[vdev]: 0},
                                events=(takes("mmap_lock"),), goto=RETURN, source="mm/vma.c:do_vmi_munmap"))
            else:
                out.append(s)
        return out
    return fault


@procedure("vfio_pci_bar_rw", f"{SRC}:vfio_pci_bar_rw")
def vfio_pci_bar_rw(t, vdev: int, write: bool = False):
    v = t.v
    readers = v.memory_lock_readers[vdev]
    E = v.memory_enabled(vdev)
    q = queueing(t.cfg)
    copy = step("copy_from_user" if write else "copy_to_user",
                "Copy the chunk between the user buffer and the bounce buffer outside memory_lock; "
                "a fault on the user buffer takes mmap_lock for read.",
                when=and_(mmap_read_free(v), ~v.mmap_lock_queued) if q else mmap_read_free(v),
                events=(takes("mmap_lock"),), source=f"{SRC}:vfio_pci_core_do_io_rw")
    access = [
        step("down_read", "vfio_pci_core_do_io_rw: take memory_lock for read.",
             when=and_(v.memory_lock[vdev] == 0, ~v.memory_lock_queued[vdev]) if q else v.memory_lock[vdev] == 0,
             do={readers: readers + 1}, source=f"{SRC}:vfio_pci_core_do_io_rw"),
        Step("vfio_pci_iowrite" if write else "vfio_pci_ioread", [
            Branch(E, {readers: readers - 1},
                   events=(Event("mem_enabled_eval", (vdev,)), Event("mmio", (vdev,))),
                   note="memory enabled: access the BAR; up_read"),
            Branch(~E, {readers: readers - 1}, goto=RETURN if write else RETURN,
                   events=(Event("mem_enabled_eval", (vdev,)),), note="memory disabled: -EIO; up_read"),
        ], "Under memory_lock(R), refuse with -EIO unless memory is enabled, else access the BAR; up_read.",
            source=f"{SRC}:vfio_pci_core_do_io_rw"),
    ]
    if write:
        return [copy] + access
    copy.branches[0].goto = RETURN
    return access + [copy]


def _no_mmio_while_disabled():
    from revoke_check.properties import Property, Witness

    def ok(m, d):
        from revoke_check.properties import each
        return each(d, len(m.config.devices), lambda k: and_(m.v.vconfig[k], m.v.memory_enabled(k)))
    return Property(
        "no-bar-access-while-disabled",
        """BAR read/write reaches the hardware only while memory decode is on.

        vfio_pci_core_do_io_rw (and nvgrace-gpu's read/write) access the BAR
        only under memory_lock(R) after testing __vfio_pci_memory_enabled
        (CVE-2020-12888's read/write half).
        """,
        events={"mmio": ok},
        witnesses=(Witness("bar-accessed", event=("mmio", lambda m, d: TRUE),
                           applies=lambda m: bool(m.config.actors_of_kind("bar_rw"))),),
    )
