"""drivers/pci/pci.c (and pci-sysfs.c): a function reset the PCI core starts, outside vfio.

Writing 1 to ``/sys/bus/pci/devices/.../reset`` runs ``reset_store``:
pm_runtime_get_sync (under runtime PM: the steps of every other PM get,
model/vfio_main.py, so a suspended device is resumed and an armed wake
eventfd fires); ``pci_reset_function``: pci_dev_lock (the upstream
bridge's, then the device's ``device_lock``); ``pci_dev_save_and_disable``
(the driver's ``err_handler->reset_prepare`` if it has one; save the config
space; D0; COMMAND := INTX_DISABLE in hardware); ``__pci_reset_function_locked``
(FLR or another method); ``pci_dev_restore`` (restore the config space; the
driver's ``reset_done``); pci_dev_unlock; pm_runtime_put (kernel-2026 §3 item 2, §4.4).

vfio-pci's ``vfio_pci_core_err_handlers`` has only ``.error_detected``: no
``reset_prepare``/``reset_done``, so on v7.3 this path takes no memory_lock,
zaps no BAR mmap and revokes no buf.  vconfig is not changed (the virtual
MEM bit keeps its value); only the hardware is reset.

vfio's own function resets reach the same hooks through
``pci_try_reset_function``, which only *tries* the device lock: with a
concurrent sysfs reset holding it, VFIO_DEVICE_RESET and the config-space FLR
return -EAGAIN without resetting, and ``vfio_pci_core_disable`` skips its
function reset (``pci_dev_trylock`` fails).  The steps are edited here only
for configs that have a ``sysfs_reset`` actor on that device, so older
configs are unchanged.  In both, the trylock, the reset and the unlock are
one step: nothing in between waits for another thread, and the PCI device
lock is a both-mover there (LIMITATIONS 1).
"""
from __future__ import annotations

from .expr import and_
from .lang import Branch, Call, Event, NEXT, RETURN, Step, step
from .locks import mutex_free, mutex_lock, mutex_unlock
from .protocol import procedure
from .vfio_main import pm_put
from .schema import ActorKind, Lock

SRC = "drivers/pci/pci.c"


def declare(p):
    """struct pci_dev's device lock, the sysfs reset actor, and vfio's trylock of that lock."""
    p.add_lock(Lock("device", "pci_dev_lock", "mutex", klass="pci_dev_lock", expr="&{}->pdev->dev.mutex",
                    doc="device_lock(&pdev->dev): pci_dev_lock / pci_dev_trylock around PCI core resets"))
    p.add_actor_kind(ActorKind(
        "sysfs_reset", "pci_reset_function", "device", lambda cfg, a: {"vdev": a.target},
        doc="echo 1 > /sys/bus/pci/devices/.../reset: pci_reset_function from the PCI core, outside vfio"))
    for proc in ("vfio_pci_ioctl_reset", "vfio_exp_config_write"):
        p.replace_step(proc, "pci_try_reset_function", _try_lock(proc))
    p.replace_step("vfio_pci_core_close_device", "vfio_pci_core_disable", _disable_trylock)
    p.replace_step("vfio_pci_dev_set_hot_reset", "pci_reset_bus", _reset_bus_trylock)


def contended(cfg, vdev: int) -> bool:
    """Does some thread of ``cfg`` other than vfio's resets take ``vdev``'s PCI device lock?"""
    from .vfio_pci_sriov import holds_device_lock   # sriov_numvfs_store's device_lock of a PF
    return any(a.target == vdev for a in cfg.actors_of_kind("sysfs_reset")) or holds_device_lock(cfg, vdev)


def _try_lock(proc):
    def make(t, vdev):
        from .vfio_pci_core import reset_function
        stmts = reset_function(t, vdev, "")
        s = next(x for x in stmts if x.label == "pci_try_reset_function")
        if not contended(t.cfg, vdev):
            return s
        v = t.v
        free = mutex_free(v.pci_dev_lock[vdev])
        held = ~free
        out = []
        for b in s.branches:
            if any(e.kind == "hw_reset" for e in b.events):
                b.when = and_(b.when, free)
            out.append(b)
        E = v.memory_enabled(vdev)
        ev = (Event("mem_enabled_eval", (vdev,)),)
        c = "pci_dev_trylock fails" if any(b.choice for b in s.branches) else None
        out += [Branch(and_(held, E), goto=NEXT, choice=c, events=ev,
                       note="pci_dev_trylock failed: -EAGAIN, no reset; memory enabled: un-revoke"),
                Branch(and_(held, ~E), goto="up_write", choice=c, events=ev,
                       note="pci_dev_trylock failed: -EAGAIN, no reset; memory disabled")]
        return Step(s.label, out, s.doc + " pci_dev_trylock fails (-EAGAIN) while the PCI core holds the device lock.",
                    source=f"{SRC}:pci_try_reset_function")
    return make


def _disable_trylock(t, vdev):
    """``vfio_pci_core_disable``: the function reset only if ``pci_dev_trylock`` succeeds."""
    from .vfio_pci_core import vfio_pci_core_close_device
    s = next(x for x in vfio_pci_core_close_device(t, vdev) if x.label == "vfio_pci_core_disable")
    if not contended(t.cfg, vdev):
        return s
    free = mutex_free(t.v.pci_dev_lock[vdev])
    b = s.branches[0]
    return Step(s.label, [
        Branch(free, b.do, b.goto, events=b.events, note="pci_dev_trylock: reset the function"),
        Branch(~free, b.do, b.goto, events=tuple(e for e in b.events if e.kind != "hw_reset"),
               note="pci_dev_trylock failed: the function reset is skipped"),
    ], s.doc + " The reset needs pci_dev_trylock, which fails while the PCI core holds the device lock.",
        source="drivers/vfio/pci/vfio_pci_core.c:vfio_pci_core_disable")


@procedure("pci_reset_function", f"{SRC}:pci_reset_function")
def pci_reset_function(t, vdev: int):
    v = t.v
    lk = v.pci_dev_lock[vdev]
    unlock, uev = mutex_unlock(t, lk)
    pm = t.cfg.runtime_pm
    store = "drivers/pci/pci-sysfs.c:reset_store"
    return [
        *([Call("pm_runtime_get_sync", "pm_runtime_resume_and_get", {"vdev": vdev, "source": store})]
          if pm else []),
        step("pci_dev_lock", "reset_store: take the device lock (device_lock) for the reset.",
             when=mutex_free(lk), do=mutex_lock(t, lk), source=f"{SRC}:pci_dev_lock"),
        step("pci_dev_save_and_disable",
             "Call the driver's reset_prepare (vfio-pci has none), save config space, D0, COMMAND := INTX_DISABLE.",
             source=f"{SRC}:pci_dev_save_and_disable"),
        step("__pci_reset_function_locked", "Reset the function (FLR, PM or bus method).",
             events=(Event("hw_reset", (vdev,)),), source=f"{SRC}:__pci_reset_function_locked"),
        step("pci_dev_restore", "Restore the saved config space and call the driver's reset_done (vfio-pci has none).",
             source=f"{SRC}:pci_dev_restore"),
        step("pci_dev_unlock", "Release the device lock.", do=unlock, events=(uev,), goto=NEXT if pm else RETURN,
             source=f"{SRC}:pci_dev_unlock"),
        *([pm_put(t, vdev, store)] if pm else []),
    ]


def _reset_bus_trylock(t):
    """``pci_reset_bus`` → ``__pci_reset_bus``/``__pci_reset_slot``: ``pci_bus_trylock``/``pci_slot_trylock``
    try every device's lock on the bus (the dev_set here; the bridge's is not modelled) and return
    -EAGAIN without resetting if one is held.  The trylocks, the reset and the unlocks are one step
    (nothing in between waits for another thread; LIMITATIONS 1), edited only where a device of the
    dev_set is contended."""
    from .vfio_pci_core import vfio_pci_dev_set_hot_reset
    s = next(x for x in vfio_pci_dev_set_hot_reset(t) if x.label == "pci_reset_bus")
    n = len(t.cfg.devices)
    if not any(contended(t.cfg, k) for k in range(n)):
        return s
    v = t.v
    free = and_(*[mutex_free(v.pci_dev_lock[k]) for k in range(n)])
    out = []
    for b in s.branches:
        if any(e.kind == "hw_reset" for e in b.events):
            b.when = and_(b.when, free)
            ok = b
        out.append(b)
    c = "pci_bus_trylock fails" if any(b.choice for b in s.branches) else None
    out.append(Branch(~free, dict(ok.do), ok.goto, c,
                      note="pci_bus_trylock failed (a device lock is held): -EAGAIN, no reset; undo"))
    # the step stays vfio_pci_dev_set_hot_reset's (its source); the trylock is drivers/pci/pci.c:__pci_reset_bus
    return Step(s.label, out, s.doc + " pci_bus_trylock fails (-EAGAIN) while another thread holds a device lock "
                "(__pci_reset_bus).", s.source)
