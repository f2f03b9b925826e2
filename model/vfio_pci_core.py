"""drivers/vfio/pci/vfio_pci_core.c: reset ioctl, dev_set hot reset, close_device.

vfio_pci_dev_set_hot_reset(), as modelled (cursor ``vdev`` may be the list head):

  mutex_lock(&dev_set->lock); pm_runtime_resume_and_get every device
  list_for_each_entry(vdev, &dev_set->device_list):
      not owned by the caller          -> ret = -EINVAL; break
      !down_write_trylock(memory_lock) -> ret = -EBUSY;  break
      vfio_pci_dma_buf_move(vdev, true); vfio_pci_zap_bars(vdev)
  if (ret) { vdev = list_prev_entry(vdev); goto err_undo; }
  set D0 everywhere; ret = pci_reset_bus(pdev)
  vdev = list_last_entry(&dev_set->device_list)
err_undo:
  list_for_each_entry_from_reverse(vdev, ...):
      if (vdev->vdev.open_count && __vfio_pci_memory_enabled(vdev))
          vfio_pci_dma_buf_move(vdev, false)
      up_write(&vdev->memory_lock)
  pm_runtime_put every device; mutex_unlock(&dev_set->lock)
"""
from __future__ import annotations

from .expr import BOOL, ENUM, TRUE, and_, ite, or_
from .lang import Branch, Call, Event, NEXT, RETURN, Step, step
from .locks import (down_write, mutex_free, mutex_lock, mutex_unlock,
                    rwsem_write_free, takes, up_write, zap_and_down_write)
from .protocol import procedure
from .schema import Attr, Field, Lock, ObjectKind

SRC = "drivers/vfio/pci/vfio_pci_core.c"


def memory_enabled(v, d):
    """``__vfio_pci_memory_enabled``: below D3hot and the virtual MEM bit (VFs not modelled)."""
    return and_(v.vmem[d], ~v.d3[d])


def E(v, d):
    """The safety predicate of protocol-facts §6: open, vconfig, decode on, powered."""
    return and_(v.open[d], v.vconfig[d], v.vmem[d], ~v.d3[d])


def set_d0(t, devs) -> dict:
    """``vfio_pci_set_power_state(vdev, PCI_D0)``: clear a PCI_PM_CTRL D3hot (configs with a PM_CTRL writer)."""
    from .pm_runtime import _has_pm_ctrl
    return {t.v.pm_ctrl_d3[d]: 0 for d in devs if _has_pm_ctrl(t.cfg, d)}


def declare(p):
    """struct vfio_pci_core_device: memory_lock, the BAR mmaps, runtime PM state."""
    p.add_object_kind(ObjectKind(
        "device", "devices", "struct vfio_pci_core_device",
        doc="the devices of the dev_set, in device_list order", ref="dev", required=True,
        attrs=(Attr("open", "bool", True, "vdev->vdev.open_count > 0 at the start"),
               Attr("mem", "bool", True, "the virtual PCI_COMMAND MEM bit at the start"))))
    p.add_lock(Lock("device", "memory_lock", "rwsem", klass="memory_lock", expr="&{}->memory_lock",
                    doc="vdev->memory_lock: write side for decode, power and reset changes; "
                        "read side for BAR faults and BAR read/write"))
    p.add_field(Field("device", "bar_pte", BOOL, 0, "a CPU page-table entry maps a BAR of the device"))
    p.add_field(Field("device", "engaged", BOOL, 0,
                      "vdev->pm_runtime_engaged (LOW_POWER_ENTRY done, not exited)"))
    p.add_field(Field("device", "d3", BOOL, 0, "runtime suspended: pdev->current_state >= PCI_D3hot"))
    p.add_field(Field("device", "rpm_suspending", BOOL, 0,
                      "dev->power.runtime_status == RPM_SUSPENDING: the suspend callback ran, D3hot not yet set"))
    p.add_helper("memory_enabled", memory_enabled)
    p.add_helper("E", E)


def reset_function(t, vdev: int, who: str, d0: bool = False):
    """zap_and_down_write (and D0); move(true); pci_try_reset_function; if enabled move(false); up_write.

    Shared shape of VFIO_DEVICE_RESET (``d0``: it sets D0 before the revoke) and
    the config-space FLR, which has no D0 step (``who`` says which).
    """
    v, cfg = t.v, t.cfg
    E = v.memory_enabled(vdev)
    unlock, ev = up_write(t, vdev)
    outcomes = [("reset ok", True)] + ([("reset fails", False)] if cfg.may("reset_fails") else [])
    branches = []
    for choice, ok in outcomes:
        evs = ((Event("hw_reset", (vdev,)),) if ok else ()) + (Event("mem_enabled_eval", (vdev,)),)
        c = choice if len(outcomes) > 1 else None
        branches += [
            Branch(E, goto=NEXT, choice=c, events=evs, note="memory enabled: un-revoke"),
            Branch(~E, goto="up_write", choice=c, events=evs, note="memory disabled"),
        ]
    # VFIO_DEVICE_RESET sets D0 right after the zap, in the same critical section and
    # before anything blocks (the revoke's waits): one step by reduction (LIMITATIONS 1)
    lock = {**zap_and_down_write(t, vdev), **(set_d0(t, [vdev]) if d0 else {})}
    return [
        step("zap_and_down_write",
             f"{who}: take memory_lock for write and zap the BAR mmaps"
             + ("; vfio_pci_set_power_state(D0)." if d0 else "."),
             when=rwsem_write_free(v, vdev), do=lock),
        Call("revoke", "vfio_pci_dma_buf_move", {"vdev": vdev, "revoked": True}),
        Step("pci_try_reset_function", branches,
             "Reset the function (may fail, e.g. -EAGAIN), then test __vfio_pci_memory_enabled."),
        Call("unrevoke", "vfio_pci_dma_buf_move", {"vdev": vdev, "revoked": False}),
        step("up_write", "Release memory_lock.", do=unlock,
             events=(ev, Event("revoke_window_end", (vdev,))), goto=RETURN),
    ]


@procedure("vfio_pci_ioctl_reset", f"{SRC}:vfio_pci_ioctl_reset")
def vfio_pci_ioctl_reset(t, vdev: int):
    return reset_function(t, vdev, "VFIO_DEVICE_RESET", d0=True)


@procedure("vfio_pci_dev_set_hot_reset", f"{SRC}:vfio_pci_dev_set_hot_reset")
def vfio_pci_dev_set_hot_reset(t):
    v, cfg = t.v, t.cfg
    n = len(cfg.devices)
    cur = t.local("vdev", ENUM("head", *[d.name for d in cfg.devices]), "head")
    take = mutex_lock(t, v.dev_set_lock)
    unlock, uev = mutex_unlock(t, v.dev_set_lock)

    lock_loop = [Branch(cur == 0, goto="pci_reset_bus", note="end of device_list")]
    for k, dev in enumerate(cfg.devices):
        at = cur == k + 1
        may_fail = cfg.may("ownership_fails", k)
        if may_fail:
            lock_loop.append(Branch(at, {cur: k}, goto="err_undo", choice="not owned",
                                    events=(Event("hot_reset_break", (k,)),),
                                    note=f"{dev.name} not owned by the caller: -EINVAL, break"))
        owned = "owned" if may_fail else None
        lock_loop += [
            Branch(and_(at, ~rwsem_write_free(v, k)), {cur: k}, goto="err_undo", choice=owned,
                   events=(Event("trylock_fail", (k,)), Event("hot_reset_break", (k,))),
                   note=f"down_write_trylock({dev.name}) failed: -EBUSY, break"),
            Branch(and_(at, rwsem_write_free(v, k)), down_write(t, k), choice=owned,
                   note=f"down_write_trylock({dev.name}) succeeded"),
        ]

    resets = [("reset ok", True)] + ([("reset fails", False)] if cfg.may("reset_fails") else [])
    # the D0 loop over device_list runs with every memory_lock and dev_set->lock held and
    # does not block: it is part of the pci_reset_bus step (LIMITATIONS 1)
    d0 = set_d0(t, range(n))
    reset_bus = [Branch(TRUE, {cur: n, **d0}, goto="err_undo", choice=c if len(resets) > 1 else None,
                        events=tuple(Event("hw_reset", (k,)) for k in range(n)) if ok else (),
                        note="" if ok else "pci_reset_bus failed; undo anyway")
                 for c, ok in resets]

    undo = [Branch(cur == 0, goto="mutex_unlock", note="reached the list head")]
    for k, dev in enumerate(cfg.devices):
        at = cur == k + 1
        visit = Event("err_undo_visit", (k,))
        ev = (visit, Event("mem_enabled_eval", (k,)))
        undo += [
            Branch(and_(at, ~v.open[k]), goto="up_write", events=(visit,),
                   note=f"{dev.name} not open"),
            Branch(and_(at, v.open[k], v.memory_enabled(k)), goto=NEXT, events=ev,
                   note=f"{dev.name} open, memory enabled: un-revoke"),
            Branch(and_(at, v.open[k], ~v.memory_enabled(k)), goto="up_write", events=ev,
                   note=f"{dev.name} memory disabled"),
        ]

    release = []
    for k, dev in enumerate(cfg.devices):
        up, ev = up_write(t, k)
        release.append(Branch(cur == k + 1, {**up, cur: k}, goto="err_undo",
                              events=(ev, Event("revoke_window_end", (k,))),
                              note=f"up_write({dev.name})"))

    # vfio_pci_dev_set_pm_runtime_get: one resume_and_get per device, each a blocking
    # point (it waits for a suspend in flight; the resume callback takes memory_lock)
    pm = cfg.runtime_pm
    gets = [Call(f"pm_runtime_resume_and_get({dev.name})", "pm_runtime_resume_and_get",
                 {"vdev": k, "source": f"{SRC}:vfio_pci_dev_set_pm_runtime_get"})
            for k, dev in enumerate(cfg.devices)] if pm else []
    # step 7's pm_runtime_put loop joins the mutex_unlock step: a put only decrements the
    # usage count (the idle check runs later, as the pm_runtime.* thread's rpm_suspend),
    # never blocks, and like the unlock only enables other threads' steps: a left mover
    # (LIMITATIONS 1); a suspend it enables runs after the step, as it could after the last put
    puts = {v.pm_usage[k]: v.pm_usage[k] - 1 for k in range(n)} if pm else {}
    return [
        step("mutex_lock",
             "Take dev_set->lock and point vdev at the first entry; the devices are runtime-resumed "
             "next, one by one." if pm else
             "Take dev_set->lock, runtime-resume every device and point vdev at the first entry.",
             when=mutex_free(v.dev_set_lock), do={**take, cur: 1}),
        *gets,
        Step("down_write_trylock", lock_loop,
             "Check the device is owned by the caller, then down_write_trylock its memory_lock; break on failure."),
        Call("revoke", "vfio_pci_dma_buf_move", {"vdev": cur - 1, "revoked": True}),
        step("vfio_pci_zap_bars", "Zap the device's BAR mmaps and advance vdev to the next entry (or the head).",
             do={cur: ite(cur == n, 0, cur + 1), v.bar_pte[cur - 1]: 0}, goto="down_write_trylock"),
        Step("pci_reset_bus", reset_bus,
             "Set every device to D0 and reset the bus; then vdev = list_last_entry()."),
        Step("err_undo", undo,
             "Walk back from vdev: if the device is open and memory is enabled, un-revoke its bufs."),
        Call("unrevoke", "vfio_pci_dma_buf_move", {"vdev": cur - 1, "revoked": False}),
        Step("up_write", release, "up_write(&vdev->memory_lock) and step to the previous entry."),
        step("mutex_unlock", "pm_runtime_put on every device and release dev_set->lock (nothing in between "
             "blocks)." if pm else "Drop the runtime PM references and release dev_set->lock.",
             do={**unlock, **puts}, events=(uev,), goto=RETURN),
    ]


@procedure("vfio_pci_mmap_huge_fault", f"{SRC}:vfio_pci_mmap_huge_fault")
def vfio_pci_mmap_huge_fault(t, vdev: int):
    """A CPU touches an mmap of a BAR: map the PFN if memory is enabled, else SIGBUS."""
    v = t.v
    readers = v.memory_lock_readers[vdev]
    ev = (Event("mem_enabled_eval", (vdev,)), Event("unlock_read", (vdev,)))
    return [
        step("down_read", "Take memory_lock for read (waits while a writer holds it).",
             when=v.memory_lock[vdev] == 0, do={readers: readers + 1}),
        Step("vmf_insert_pfn", [
            Branch(and_(v.memory_enabled(vdev), ~v.engaged[vdev]), {v.bar_pte[vdev]: 1, readers: readers - 1},
                   events=ev, note="memory enabled: insert the PFN"),
            Branch(or_(~v.memory_enabled(vdev), v.engaged[vdev]), {readers: readers - 1}, events=ev,
                   note="pm_runtime_engaged or memory disabled: VM_FAULT_SIGBUS"),
        ], "Under the read lock insert the BAR PFN if memory is enabled (else SIGBUS), then up_read."),
        step("munmap", "Userspace unmaps the BAR: its PTEs go and the VMA drops its device-file reference.",
             do={v.bar_pte[vdev]: 0}, goto=RETURN, source="mm/vma.c:do_vmi_munmap"),
    ]


@procedure("vfio_pci_runtime_pm_entry", f"{SRC}:vfio_pci_runtime_pm_entry")
def vfio_pci_runtime_pm_entry(t, vdev: int):
    """VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY: revoke, set pm_runtime_engaged, drop the open's PM reference."""
    v = t.v
    unlock, ev = up_write(t, vdev)
    use = v.pm_usage[vdev]
    return [
        step("zap_and_down_write", "Take memory_lock for write and zap the BAR mmaps.",
             when=rwsem_write_free(v, vdev), do=zap_and_down_write(t, vdev)),
        Call("revoke", "vfio_pci_dma_buf_move", {"vdev": vdev, "revoked": True}),
        Step("pm_runtime_engaged", [
            Branch(v.engaged[vdev], unlock, goto=RETURN, events=(ev,),
                   note="already engaged: up_write, -EINVAL (bufs stay revoked)"),
            Branch(~v.engaged[vdev], {**unlock, v.engaged[vdev]: 1, use: use - 1}, goto=RETURN,
                   events=(ev,), note="engaged = true; pm_runtime_put_noidle; up_write"),
        ], "Mark runtime PM engaged and drop the open's PM reference (put_noidle), then up_write."),
    ]


@procedure("vfio_pci_runtime_pm_exit", f"{SRC}:vfio_pci_runtime_pm_exit")
def vfio_pci_runtime_pm_exit(t, vdev: int):
    """VFIO_DEVICE_FEATURE_LOW_POWER_EXIT: clear engaged, take the PM reference back, un-revoke."""
    v = t.v
    unlock, ev = up_write(t, vdev)
    use = v.pm_usage[vdev]
    E = v.memory_enabled(vdev)
    evE = Event("mem_enabled_eval", (vdev,))
    return [
        step("down_write", "Take memory_lock for write.",
             when=rwsem_write_free(v, vdev), do=down_write(t, vdev)),
        Step("__vfio_pci_runtime_pm_exit", [
            Branch(and_(v.engaged[vdev], E), {v.engaged[vdev]: 0, use: use + 1}, events=(evE,),
                   note="engaged = false; pm_runtime_get_noresume; memory enabled: un-revoke"),
            Branch(and_(v.engaged[vdev], ~E), {v.engaged[vdev]: 0, use: use + 1}, goto="up_write",
                   events=(evE,), note="engaged = false; pm_runtime_get_noresume; memory disabled"),
            Branch(and_(~v.engaged[vdev], E), events=(evE,), note="not engaged; memory enabled: un-revoke"),
            Branch(and_(~v.engaged[vdev], ~E), goto="up_write", events=(evE,), note="not engaged"),
        ], "Leave low power (if engaged: clear it and take a PM reference), then test memory_enabled."),
        Call("unrevoke", "vfio_pci_dma_buf_move", {"vdev": vdev, "revoked": False}),
        step("up_write", "Release memory_lock.", do=unlock,
             events=(ev, Event("revoke_window_end", (vdev,))), goto=RETURN),
    ]


@procedure("vfio_pci_core_runtime_suspend", f"{SRC}:vfio_pci_core_runtime_suspend")
def vfio_pci_core_runtime_suspend(t, vdev: int):
    """The PM core suspends an idle device (usage 0): the callback runs under memory_lock, then D3hot.

    Two steps: ``rpm_suspend`` (runtime_status := RPM_SUSPENDING; the
    callback's down_write, D0, up_write -- one non-blocking critical section)
    and ``pci_finish_runtime_suspend``, which puts the device in D3hot after
    memory_lock was released (drivers/pci/pci-driver.c:pci_pm_runtime_suspend).
    In between, memory_lock is free and the device is still in D0; a
    ``pm_runtime_resume_and_get`` waits for the suspend to finish
    (drivers/base/power/runtime.c:rpm_resume on RPM_SUSPENDING).
    """
    v = t.v
    return [
        step("rpm_suspend",
             "With no PM reference left, runtime_status = RPM_SUSPENDING; the callback takes memory_lock, "
             "sets D0 and releases it.",
             when=and_(v.pm_usage[vdev] == 0, ~v.d3[vdev], rwsem_write_free(v, vdev)),
             do={v.rpm_suspending[vdev]: 1, **set_d0(t, [vdev])}, events=(takes("memory_lock"),)),
        step("pci_finish_runtime_suspend",
             "After the callback, outside memory_lock, the PCI core moves the device to D3hot "
             "(runtime_status = RPM_SUSPENDED).",
             do={v.d3[vdev]: 1, v.rpm_suspending[vdev]: 0}, goto="rpm_suspend",
             source="drivers/pci/pci-driver.c:pci_pm_runtime_suspend"),
    ]


def _disable_pm(t, vdev: int) -> list:
    """The head of ``vfio_pci_core_disable`` under runtime PM: LOW_POWER_EXIT, then pm_runtime_resume.

    ``vfio_pci_runtime_pm_exit`` is the LOW_POWER_EXIT procedure (its move(false)
    walks the bufs cleanup left listed).  ``pm_runtime_resume`` takes no
    reference: the open's, or the one the exit took back, keeps the device up.
    It waits for a suspend in flight; resuming a suspended device runs
    ``vfio_pci_core_runtime_resume`` (memory_lock(W), no wake eventfd any more:
    the exit dropped it) in the same step, as ``pm_get`` does.
    """
    v = t.v
    return [
        Call("vfio_pci_runtime_pm_exit", "vfio_pci_runtime_pm_exit", {"vdev": vdev}),
        Step("pm_runtime_resume", [
            Branch(and_(~v.d3[vdev], ~v.rpm_suspending[vdev]), note="device active"),
            Branch(and_(v.d3[vdev], rwsem_write_free(v, vdev)), {v.d3[vdev]: 0},
                   events=(takes("memory_lock"),),
                   note="suspended: vfio_pci_core_runtime_resume under memory_lock"),
        ], "Resume the device if the PM core suspended it (waits while a suspend is in flight).",
            source=f"{SRC}:vfio_pci_core_disable"),
    ]


@procedure("vfio_pci_core_close_device", f"{SRC}:vfio_pci_core_close_device")
def vfio_pci_core_close_device(t, vdev: int):
    v, cfg = t.v, t.cfg
    fd_users_done = and_(*[v.pcs[a.name] == "done" for a in cfg.fd_users(vdev)])
    unlock, uev = mutex_unlock(t, v.dev_set_lock)
    return [
        step("mutex_lock",
             "The last device-fd reference is gone: take dev_set->lock for the last close.",
             when=and_(fd_users_done, mutex_free(v.dev_set_lock)), do=mutex_lock(t, v.dev_set_lock),
             source="drivers/vfio/group.c:vfio_df_group_close"),
        Call("cleanup", "vfio_pci_dma_buf_cleanup", {"vdev": vdev}),
        *(_disable_pm(t, vdev) if cfg.runtime_pm else []),
        # the rest of disable blocks nowhere once the device is resumed (LIMITATIONS 6): D0 and
        # the final pm_runtime_put (a left mover, as in the hot reset) are part of this step
        step("vfio_pci_core_disable",
             "Disable the device: free vconfig, COMMAND = INTX_DISABLE (decode off), function reset"
             + ("; D0 first and pm_runtime_put (the open's reference) last." if cfg.runtime_pm else "."),
             do={v.vconfig[vdev]: 0, v.vmem[vdev]: 0,
                 **({**set_d0(t, [vdev]), v.pm_usage[vdev]: v.pm_usage[vdev] - 1} if cfg.runtime_pm else {})},
             events=(Event("hw_reset", (vdev,)),), source=f"{SRC}:vfio_pci_core_disable"),
        step("mutex_unlock", "vfio_df_close drops open_count; then dev_set->lock is released.",
             do={**unlock, v.open[vdev]: 0}, events=(uev,), goto=RETURN,
             source="drivers/vfio/group.c:vfio_df_group_close"),
    ]
