"""Runtime PM in full (kernel-2026 §2.8, §2.11): the wake eventfd and PM_CTRL writes.

Kernel files: drivers/vfio/pci/vfio_pci_core.c (LOW_POWER_ENTRY_WITH_WAKEUP,
``vfio_pci_core_runtime_resume``), drivers/base/power/runtime.c (``rpm_resume``
calls it), drivers/vfio/pci/vfio_pci_config.c (``vfio_pm_config_write`` ->
``vfio_lock_and_set_power_state``).

* ``low_power_entry_wakeup`` -- VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP:
  as LOW_POWER_ENTRY (zap+L(W), move(true), engaged = true, put_noidle, U),
  and it stores the wake eventfd (``vdev->pm_wake_eventfd_ctx``).
* The wake path: when an access runtime-resumes a suspended device whose
  wake eventfd is armed, ``vfio_pci_core_runtime_resume`` takes
  memory_lock(W), signals the eventfd and runs ``__vfio_pci_runtime_pm_exit``
  (engaged = false, pm_runtime_get_noresume, drop the eventfd); U.  No move:
  the bufs keep the revoked value LOW_POWER_ENTRY gave them.  The up_write
  that ends it carries ``revoke_window_end`` (the low-power episode that
  revoked is over).  Configs without a wakeup actor keep the one-step resume
  of model/vfio_main.py.
* ``pm_ctrl_write`` -- PCI_PM_CTRL writes through the config space:
  ``vfio_lock_and_set_power_state``: to D3hot zap+L(W) and move(true), to D0
  L(W); ``vfio_pci_set_power_state``; if memory_enabled move(false); U.
  ``engaged`` is not read.  The PM_CTRL power state is the field
  ``pm_ctrl_d3``, and ``memory_enabled`` (and ``E``) test it in configs that
  have a PM_CTRL writer.
"""
from __future__ import annotations

from .config import ConfigError
from .expr import BOOL, and_
from .lang import Branch, Call, Event, NEXT, RETURN, Step, step
from .locks import down_write, rwsem_write_free, up_write, zap_and_down_write
from .protocol import procedure
from .schema import ActorKind, Attr, Field

CORE = "drivers/vfio/pci/vfio_pci_core.c"
CONFIG = "drivers/vfio/pci/vfio_pci_config.c"
IOCTL = ("vfio_device_fops_unl_ioctl", lambda cfg: cfg.runtime_pm)
CONFIG_ACCESS = ("vfio_pci_rw", lambda cfg: cfg.runtime_pm)


def _has_pm_ctrl(cfg, d=None):
    return any(a.kind == "pm_ctrl_write" and (d is None or a.target == d) for a in cfg.actors)


def wake_armed(cfg, d) -> bool:
    """Does some actor of ``cfg`` arm ``d``'s wake eventfd?"""
    return any(a.kind == "low_power_entry_wakeup" and a.target == d for a in cfg.actors)


def declare(p):
    p.add_field(Field("device", "wake_eventfd", BOOL, 0,
                      "vdev->pm_wake_eventfd_ctx is set (LOW_POWER_ENTRY_WITH_WAKEUP, until exit)"))
    p.add_field(Field("device", "pm_ctrl_d3", BOOL, 0,
                      "pdev->current_state >= PCI_D3hot through a PCI_PM_CTRL write"))
    me, E = p.helpers["memory_enabled"], p.helpers["E"]

    def memory_enabled(v, d):
        """``__vfio_pci_memory_enabled``: also below D3hot as PM_CTRL set it."""
        return and_(me(v, d), ~v.pm_ctrl_d3[d]) if _has_pm_ctrl(v.cfg) else me(v, d)

    def E2(v, d):
        return and_(E(v, d), ~v.pm_ctrl_d3[d]) if _has_pm_ctrl(v.cfg) else E(v, d)
    p.add_helper("memory_enabled", memory_enabled, replace=True)
    p.add_helper("E", E2, replace=True)
    p.add_actor_kind(ActorKind(
        "low_power_entry_wakeup", "vfio_pci_core_pm_entry_with_wakeup", "device",
        lambda cfg, a: {"vdev": a.target}, holds_fd=True, needs_open=True, wrap=IOCTL,
        doc="VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP (stores a wake eventfd)"))
    p.add_actor_kind(ActorKind(
        "pm_ctrl_write", "pwrite_pm_ctrl", "device",
        lambda cfg, a: {"vdev": a.target, "values": a.d3}, holds_fd=True, needs_open=True,
        params=(Attr("d3", "list:bool", (), "the power states written to PCI_PM_CTRL, in order: "
                                            "true = D3hot, false = D0"),),
        doc="PCI_PM_CTRL power-state writes through the config space"))
    p.replace_step("vfio_pci_runtime_pm_exit", "__vfio_pci_runtime_pm_exit", _exit_drops_eventfd)
    p.add_config_check(_check)


def _check(cfg):
    for a in cfg.actors:
        if a.kind == "low_power_entry_wakeup" and not cfg.runtime_pm:
            raise ConfigError(f"{cfg.name}: actor {a.name} needs runtime_pm = true")


def _exit_drops_eventfd(t, vdev):
    """LOW_POWER_EXIT's __vfio_pci_runtime_pm_exit also drops the wake eventfd (if one can be armed)."""
    from .vfio_pci_core import vfio_pci_runtime_pm_exit
    s = next(x for x in vfio_pci_runtime_pm_exit(t, vdev) if x.label == "__vfio_pci_runtime_pm_exit")
    if wake_armed(t.cfg, vdev):
        for b in s.branches:
            if t.v.engaged[vdev] in b.do:
                b.do[t.v.wake_eventfd[vdev]] = 0
    return s


def wake_resume_steps(t, vdev: int, get: Step, then: str) -> list:
    """``pm_runtime_resume_and_get`` with ``vfio_pci_core_runtime_resume``'s wake-eventfd path."""
    if not wake_armed(t.cfg, vdev):
        return [get]
    v = t.v
    use = v.pm_usage[vdev]
    for b in get.branches:
        if v.d3[vdev] in b.do:          # the one-step resume: only without an armed eventfd
            b.when = and_(b.when, ~v.wake_eventfd[vdev])
        b.goto = then
    get.branches.append(Branch(
        and_(v.d3[vdev], v.wake_eventfd[vdev], rwsem_write_free(v, vdev)),
        {use: use + 1, v.d3[vdev]: 0, **down_write(t, vdev)}, goto=NEXT,
        note="suspended, wake eventfd armed: vfio_pci_core_runtime_resume takes memory_lock"))
    unlock, uev = up_write(t, vdev)
    return [
        get,
        step("vfio_pci_core_runtime_resume",
             "eventfd_signal the wake eventfd; __vfio_pci_runtime_pm_exit: engaged = false, "
             "pm_runtime_get_noresume, drop the eventfd.  No move.",
             do={v.engaged[vdev]: 0, use: use + 1, v.wake_eventfd[vdev]: 0},
             events=(Event("eventfd_signal", (vdev,)),), source=f"{CORE}:vfio_pci_core_runtime_resume"),
        step("vfio_pci_core_runtime_resume_up_write", "Release memory_lock: the low-power episode has ended.",
             do=unlock, events=(uev, Event("revoke_window_end", (vdev,))), goto=then,
             source=f"{CORE}:vfio_pci_core_runtime_resume"),
    ]


@procedure("vfio_pci_core_pm_entry_with_wakeup", f"{CORE}:vfio_pci_core_pm_entry_with_wakeup")
def vfio_pci_core_pm_entry_with_wakeup(t, vdev: int):
    """LOW_POWER_ENTRY_WITH_WAKEUP: vfio_pci_runtime_pm_entry with the wake eventfd stored."""
    from .vfio_pci_core import vfio_pci_runtime_pm_entry
    stmts = vfio_pci_runtime_pm_entry(t, vdev)
    for s in stmts:
        if isinstance(s, Step) and s.label == "pm_runtime_engaged":
            for b in s.branches:
                if t.v.engaged[vdev] in b.do:
                    b.do[t.v.wake_eventfd[vdev]] = 1
                    b.note = b.note.replace("engaged = true;", "engaged = true; store the wake eventfd;")
    return stmts


@procedure("pwrite_pm_ctrl", "userspace:pwrite(PCI_PM_CTRL)")
def pwrite_pm_ctrl(t, vdev: int, values: tuple):
    """Userspace writes the power state of PCI_PM_CTRL once per value, in order."""
    if t.cfg.runtime_pm:
        return [Call(f"write{k}", "vfio_pci_rw",
                     {"vdev": vdev, "inner": "vfio_lock_and_set_power_state", "args": {"vdev": vdev, "d3": x}})
                for k, x in enumerate(values)]
    return [Call(f"write{k}", "vfio_lock_and_set_power_state", {"vdev": vdev, "d3": x})
            for k, x in enumerate(values)]


@procedure("vfio_lock_and_set_power_state", f"{CONFIG}:vfio_lock_and_set_power_state")
def vfio_lock_and_set_power_state(t, vdev: int, d3: bool):
    v = t.v
    unlock, ev = up_write(t, vdev)
    lock = ([step("zap_and_down_write", "To D3hot: take memory_lock for write and zap the BAR mmaps.",
                  when=rwsem_write_free(v, vdev), do=zap_and_down_write(t, vdev)),
             Call("revoke", "vfio_pci_dma_buf_move", {"vdev": vdev, "revoked": True})]
            if d3 else
            [step("down_write", "To D0: take memory_lock for write.",
                  when=rwsem_write_free(v, vdev), do=down_write(t, vdev))])
    evE = (Event("mem_enabled_eval", (vdev,)),)
    # the test reads the post-state of vfio_pci_set_power_state: decide on the new value
    after = and_(v.vmem[vdev], ~v.d3[vdev]) if not d3 else None
    tail = [Step("vfio_pci_set_power_state", [
        Branch(after, {v.pm_ctrl_d3[vdev]: 0}, goto=NEXT, events=evE,
               note="D0; memory enabled: un-revoke (engaged is not read)"),
        Branch(~after, {v.pm_ctrl_d3[vdev]: 0}, goto="up_write", events=evE, note="D0; memory disabled"),
    ] if not d3 else [
        Branch(do={v.pm_ctrl_d3[vdev]: 1}, goto="up_write", events=evE, note="D3hot: memory disabled"),
    ], "Set the power state, then test __vfio_pci_memory_enabled.", source=f"{CORE}:vfio_pci_set_power_state")]
    if not d3:
        tail.append(Call("unrevoke", "vfio_pci_dma_buf_move", {"vdev": vdev, "revoked": False}))
    tail.append(step("up_write", "Release memory_lock.", do=unlock,
                     events=(ev, Event("revoke_window_end", (vdev,))), goto=RETURN))
    return lock + tail
