"""SR-IOV (kernel-2026 §3 item 4): the PF's sriov_configure and a VF's no_command_memory.

* ``sriov_configure`` -- writing ``sriov_numvfs`` of a PF bound to vfio-pci
  (drivers/vfio/pci/vfio_pci_core.c:vfio_pci_core_sriov_configure, with
  40ef3edf151e): ``pm_runtime_resume_and_get`` (kept while VFs exist);
  memory_lock(W); ``vfio_pci_set_power_state(D0)``; ``sriov_active = true``;
  up_write; ``pci_enable_sriov`` outside the lock (on failure
  ``pm_runtime_put`` and ``sriov_active = false`` without the lock).  No
  move: bufs a PCI_PM_CTRL D3hot revoked stay revoked although memory is
  enabled again.  With ``disable = true`` the actor then writes 0:
  ``pci_disable_sriov``, ``pm_runtime_put``, ``sriov_active = false``.
* ``vfio_pci_set_power_state`` to D3hot returns -EBUSY while ``sriov_active``
  (drivers/vfio/pci/vfio_pci_core.c): a PM_CTRL D3hot write then revokes,
  fails, finds memory enabled and un-revokes.  Only configs with a
  ``sriov_configure`` actor on the device get this branch.
* A VF (``vf = true`` on a device): ``pdev->no_command_memory``, so
  ``__vfio_pci_memory_enabled`` ignores the virtual MEM bit (the VF's decode
  is the PF's VF MSE bit).  A PCI_COMMAND write with MEM = 0
  (drivers/vfio/pci/vfio_pci_config.c:vfio_basic_config_write) still zaps
  and revokes, then finds memory enabled and un-revokes in the same
  critical section; BAR faults keep mapping.
* A VF with its PF (``pf = "<device>"`` on the VF): the VF's memory decode
  is the PF's (drivers/pci/iov.c): ``sriov_enable`` sets PCI_SRIOV_CTRL_VFE
  and MSE before ``sriov_add_vfs`` adds the VFs, ``sriov_disable`` removes
  them (``pci_iov_remove_virtfn``: the VF driver's remove, vfio's
  ``vfio_unregister_group_dev``, waits for the VF's user to close it) and
  then clears VFE and MSE; the VFs stop decoding while the PF is in D3hot
  and while the PF is reset (an FLR of a PF clears VF Enable, the VFs are
  gone until ``pci_dev_restore``'s ``sriov_restore_state``).  ``vfs_enabled``
  of the PF stands for VFE, MSE and ``pci_num_vf() > 0`` together.  The VF
  appears at ``pci_enable_sriov``: its user exports a buf only once it
  exists (``vfio_pci_core_feature_dma_buf`` on a VF that is not there
  yet is not issued).  ``sriov_numvfs_store`` holds the PF's device lock
  across ``sriov_configure``, so the PF's own ``pci_try_reset_function``
  fails (-EAGAIN) meanwhile.  ``__vfio_pci_memory_enabled`` of the VF still
  reads only the VF (kernel behaviour); the properties read the PF too.
* PCI_PM_CTRL writes to a VF (drivers/vfio/pci/vfio_pci_config.c:
  vfio_lock_and_set_power_state, a VF with a PM capability): D3hot revokes
  as on any device; the D0 write un-revokes when the VF is not runtime
  suspended, whatever its MEM bit (no_command_memory).  Not under
  runtime_pm (rejected).
* Under runtime_pm a PF whose VFs are enabled at the start (``enabled =
  true``) holds sriov_configure's PM reference from the start, besides the
  open's; the VF's own runtime PM is the generic one.
"""
from __future__ import annotations

from dataclasses import replace

from .config import ConfigError
from .expr import BOOL, INT, TRUE, and_
from .lang import Branch, Call, DONE, Event, NEXT, RETURN, Step, step
from .locks import down_write, mutex_free, mutex_lock, mutex_unlock, rwsem_write_free, up_write
from .protocol import procedure
from .schema import ActorKind, Attr, Field

CORE = "drivers/vfio/pci/vfio_pci_core.c"
CONFIG = "drivers/vfio/pci/vfio_pci_config.c"


def _sriov_actors(cfg, d=None):
    return [a for a in cfg.actors_of_kind("sriov_configure") if d is None or a.target == d]


def is_vf(cfg, d) -> bool:
    return bool(cfg.devices[d].vf)


def pf_of(cfg, d):
    """The PF of VF ``d`` when the config has it (``pf`` attribute), else None."""
    return cfg.devices[d].pf if is_vf(cfg, d) else None


def vfs_of(cfg, d) -> list[int]:
    """The VFs of PF ``d`` in the config."""
    return [k for k in range(len(cfg.devices)) if pf_of(cfg, k) == d]


def holds_device_lock(cfg, d) -> bool:
    """Does ``sriov_configure`` on PF ``d`` take its device lock in the model (the PF has a VF here)?"""
    return bool(vfs_of(cfg, d) and _sriov_actors(cfg, d))


def pf_decodes(v, d):
    """The hardware side of a VF's decode: its PF is in D0 and has VF Enable/MSE set (TRUE for others)."""
    p = pf_of(v.cfg, d)
    if p is None:
        return TRUE
    return and_(v.vfs_enabled[p], ~v.d3[p], ~v.pm_ctrl_d3[p])


def declare(p):
    """The vf attribute, sriov_active, the sriov_configure actor; VF-aware memory_enabled and E."""
    p.add_attr("device", Attr("vf", "bool", False,
                              "an SR-IOV VF (pdev->no_command_memory: the MEM bit does not gate its decode)"))
    p.add_attr("device", Attr("pf", "ref:device", None,
                              "a VF: its PF (pci_physfn), bound to vfio-pci in the same config"))
    p.add_field(Field("device", "sriov_active", BOOL, _enabled_at_start,
                      "vdev->sriov_active: sriov_configure is enabling VFs or has enabled them"))
    p.add_field(Field("device", "vfs_enabled", BOOL, _enabled_at_start, "pci_num_vf(pdev) > 0: the PF's VFs exist"))
    k = next(i for i, f in enumerate(p.fields) if f.name == "pm_usage")
    old = p.fields[k]
    p.fields[k] = replace(old, domain=lambda cfg, d, od=old.domain: INT(
        0, od(cfg, d).hi + len(_sriov_actors(cfg, d))),
        init=lambda cfg, d, oi=old.init: oi(cfg, d) + (_enabled_at_start(cfg, d) if cfg.runtime_pm else 0))
    me, E = p.helpers["memory_enabled"], p.helpers["E"]

    def memory_enabled(v, d):
        """``__vfio_pci_memory_enabled``: for a VF (no_command_memory) the MEM bit is not read."""
        if not is_vf(v.cfg, d):
            return me(v, d)
        return and_(~v.d3[d], ~v.pm_ctrl_d3[d])

    def E2(v, d):
        if not is_vf(v.cfg, d):
            return E(v, d)
        return and_(v.open[d], v.vconfig[d], ~v.d3[d], ~v.pm_ctrl_d3[d])
    p.add_helper("memory_enabled", memory_enabled, replace=True)
    p.add_helper("E", E2, replace=True)
    p.add_actor_kind(ActorKind(
        "sriov_configure", "vfio_pci_core_sriov_configure", "device",
        lambda cfg, a: {"vdev": a.target, "disable": a.disable, **({"enabled": True} if a.enabled else {})},
        params=(Attr("disable", "bool", False, "then write 0 to sriov_numvfs (pci_disable_sriov)"),
                Attr("enabled", "bool", False, "the VFs exist at the start (enabled earlier): only the disable runs")),
        doc="echo N > sriov_numvfs on a PF bound to vfio-pci: vfio_pci_core_sriov_configure"))
    p.replace_step("vfio_basic_config_write", "vfio_default_config_write", _vf_write)
    p.insert_before("vfio_basic_config_write", "up_write", _vf_unrevoke)
    p.replace_step("vfio_lock_and_set_power_state", "vfio_pci_set_power_state", _d3_busy)
    p.insert_before("vfio_lock_and_set_power_state", "up_write", _busy_unrevoke)
    p.insert_before("vfio_pci_core_feature_dma_buf", "dma_buf_export", _vf_exists)
    p.insert_before("vfio_pci_mmap_huge_fault", "down_read", _vf_present("a BAR mmap of the VF to fault on"))
    p.insert_before("vfio_pci_ioctl_reset", "zap_and_down_write", _vf_present("a VF to reset"))
    p.insert_before("pwrite_pm_ctrl", "write0", _vf_present("VF config space to write PCI_PM_CTRL to"))
    p.add_config_check(_check)


def _enabled_at_start(cfg, d) -> int:
    """sriov_active and pci_num_vf() > 0 at the start: an earlier echo N > sriov_numvfs enabled the VFs."""
    return int(any(a.enabled for a in _sriov_actors(cfg, d)))


def _lifetimes(cfg) -> bool:
    return bool(cfg.setting("lifetimes", False))


def _check(cfg):
    for a in cfg.actors:
        if a.kind == "sriov_configure" and is_vf(cfg, a.target):
            raise ConfigError(f"{cfg.name}: actor {a.name}: a VF has no SR-IOV capability")
        if a.kind == "pm_ctrl_write" and is_vf(cfg, a.target) and cfg.runtime_pm:
            raise ConfigError(f"{cfg.name}: actor {a.name}: PCI_PM_CTRL writes to a VF under runtime_pm "
                              "are not modelled")
        if a.kind in ("hot_reset",) and any(d.vf for d in cfg.devices):
            raise ConfigError(f"{cfg.name}: actor {a.name}: hot reset with VFs is not modelled")
        if a.kind == "sriov_configure" and a.enabled and not a.disable:
            raise ConfigError(f"{cfg.name}: actor {a.name}: enabled = true needs disable = true (nothing else runs)")
        if a.kind == "sriov_configure" and a.disable and holds_device_lock(cfg, a.target) and not all(
                any(b.kind == "close_device" and b.target == k for b in cfg.actors)
                for k in vfs_of(cfg, a.target)):
            raise ConfigError(f"{cfg.name}: actor {a.name}: pci_disable_sriov waits for the VF's close: "
                              "give each VF a close_device actor")
    for k, d in enumerate(cfg.devices):
        p = d.pf
        if p is None:
            continue
        if not d.vf:
            raise ConfigError(f"{cfg.name}: device {d.name}: pf is set on a device that is not a VF (vf = true)")
        if p == k or cfg.devices[p].vf:
            raise ConfigError(f"{cfg.name}: device {d.name}: its pf must be another device that is not a VF")
        if not cfg.devices[p].open:
            raise ConfigError(f"{cfg.name}: device {d.name}: its PF must be open (bound and used through vfio-pci)")
        if any(cfg.bufs[b].exists for b in cfg.bufs_of(k)) and not _enabled_at_start(cfg, p):
            raise ConfigError(f"{cfg.name}: device {d.name}: a VF's buf exported at the start needs its PF's "
                              "VFs enabled at the start (a sriov_configure actor with enabled = true)")


def _vf_exists(t, buf):
    """A VF's user can ask for a dma-buf only once pci_enable_sriov has added the VF."""
    cfg = t.cfg
    d = cfg.bufs[buf].dev
    p = pf_of(cfg, d)
    if p is None:
        return []
    there = t.v.vfs_enabled[p]
    return Step("pci_iov_add_virtfn", [
        Branch(there, goto=NEXT, choice="VF exists", note="pci_enable_sriov added the VF; its user opened it"),
        Branch(~there, goto=RETURN, choice="no VF", note="the VF does not exist: nothing to ask"),
    ], "The VF exists only between pci_enable_sriov (sriov_add_vfs) and pci_disable_sriov.",
        source="drivers/pci/iov.c:pci_iov_add_virtfn")


def _vf_present(what):
    """The VF's other requests too need the VF to exist (the user opened it once it appeared)."""
    def make(t, vdev, **_):   # the BAR fault's mmap_lock argument is not needed here
        p = pf_of(t.cfg, vdev)
        if p is None:
            return []
        there = t.v.vfs_enabled[p]
        return Step("pci_iov_add_virtfn", [
            Branch(there, goto=NEXT, choice="VF exists"),
            Branch(~there, goto=RETURN, choice="no VF", note=f"the VF does not exist: no {what}"),
        ], "The VF exists only between pci_enable_sriov (sriov_add_vfs) and pci_disable_sriov.",
            source="drivers/pci/iov.c:pci_iov_add_virtfn")
    return make


def _vf_write(t, vdev, mem):
    """On a VF a MEM = 0 write is followed by the memory_enabled test, which reads true."""
    from .vfio_pci_config import vfio_basic_config_write
    s = next(x for x in vfio_basic_config_write(t, vdev, mem) if x.label == "vfio_default_config_write")
    if mem or not is_vf(t.cfg, vdev):
        return s
    E = t.v.memory_enabled(vdev)
    out = []
    for b in s.branches:
        if b.do:   # the successful write
            out += [Branch(and_(b.when, E), b.do, NEXT, b.choice, b.events,
                           "VF: memory still enabled (no_command_memory): un-revoke"),
                    Branch(and_(b.when, ~E), b.do, "up_write", b.choice, b.events,
                           "VF: memory disabled (D3hot)")]
        else:
            out.append(b)
    return Step(s.label, out, s.doc + " A VF's MEM bit does not gate its decode (no_command_memory).",
                s.source)


def _vf_unrevoke(t, vdev, mem):
    if mem or not is_vf(t.cfg, vdev):
        return []
    return Call("unrevoke", "vfio_pci_dma_buf_move", {"vdev": vdev, "revoked": False})


def _d3_busy(t, vdev, d3):
    """To D3hot while sriov_active: -EBUSY, the device stays in D0; then the memory_enabled test."""
    from .pm_runtime import vfio_lock_and_set_power_state
    s = next(x for x in vfio_lock_and_set_power_state(t, vdev, d3) if x.label == "vfio_pci_set_power_state")
    if not d3 and is_vf(t.cfg, vdev):
        return _vf_d0(t, vdev, s)
    if not d3 or not _sriov_actors(t.cfg, vdev):
        return s
    v = t.v
    act = v.sriov_active[vdev]
    for b in s.branches:
        b.when = and_(b.when, ~act)
    E = v.memory_enabled(vdev)
    ev = (Event("mem_enabled_eval", (vdev,)),)
    s.branches += [
        Branch(and_(act, E), goto=NEXT, events=ev, note="sriov_active: -EBUSY, still D0; memory enabled: un-revoke"),
        Branch(and_(act, ~E), goto="up_write", events=ev, note="sriov_active: -EBUSY; memory disabled"),
    ]
    return s


def _vf_d0(t, vdev, s):
    """A VF's PCI_PM_CTRL D0 write: __vfio_pci_memory_enabled reads its power state only
    (no_command_memory), so the MEM bit does not decide the un-revoke."""
    v = t.v
    on = ~v.d3[vdev]
    ev = (Event("mem_enabled_eval", (vdev,)),)
    return Step(s.label, [
        Branch(on, {v.pm_ctrl_d3[vdev]: 0}, goto=NEXT, events=ev,
               note="VF: D0; memory enabled (no_command_memory): un-revoke"),
        Branch(~on, {v.pm_ctrl_d3[vdev]: 0}, goto="up_write", events=ev, note="VF: D0; memory disabled"),
    ], s.doc + " A VF's MEM bit does not gate its decode (no_command_memory).", s.source)


def _busy_unrevoke(t, vdev, d3):
    if not d3 or not _sriov_actors(t.cfg, vdev):
        return []
    return Call("unrevoke", "vfio_pci_dma_buf_move", {"vdev": vdev, "revoked": False})


@procedure("vfio_pci_core_sriov_configure", f"{CORE}:vfio_pci_core_sriov_configure")
def vfio_pci_core_sriov_configure(t, vdev: int, disable: bool, enabled: bool = False):
    from .vfio_main import pm_get
    v, cfg = t.v, t.cfg
    src = f"{CORE}:vfio_pci_core_sriov_configure"
    use = v.pm_usage[vdev]
    unlock, uev = up_write(t, vdev)
    pm = cfg.runtime_pm
    vfs = vfs_of(cfg, vdev)
    dl = holds_device_lock(cfg, vdev)
    lk = v.pci_dev_lock[vdev]
    dunlock, duev = mutex_unlock(t, lk) if dl else ({}, None)
    dev_ev = (duev,) if dl else ()
    out = []
    if dl:
        out.append(step("device_lock", "sriov_numvfs_store takes the PF's device lock around sriov_configure.",
                        when=mutex_free(lk), do=mutex_lock(t, lk), source="drivers/pci/iov.c:sriov_numvfs_store"))
    out += [pm_get(t, vdev, src)] if pm else []
    out += [
        step("down_write", "The PF must be in D0 before its VFs exist: take memory_lock for write.",
             when=rwsem_write_free(v, vdev), do=down_write(t, vdev), source=src),
        step("vfio_pci_set_power_state",
             "Set the PF to D0 (no move: bufs a PM_CTRL D3hot revoked stay revoked), sriov_active = true, up_write.",
             do={v.pm_ctrl_d3[vdev]: 0, v.sriov_active[vdev]: 1, **unlock},
             events=(uev,), source=f"{CORE}:vfio_pci_set_power_state"),
        Step("pci_enable_sriov", [
            Branch(do={v.vfs_enabled[vdev]: 1, **dunlock}, goto=NEXT if disable else DONE,
                   choice="VFs enabled", events=dev_ev,
                   note="return nr_virtfn"),
            Branch(do={**({use: use - 1} if pm else {}), v.sriov_active[vdev]: 0, **dunlock}, goto=DONE,
                   choice="enable fails", events=dev_ev,
                   note="pm_runtime_put; sriov_active = false without memory_lock"),
        ], "Enable the VFs outside memory_lock (may fail).", source="drivers/pci/iov.c:pci_enable_sriov"),
    ]
    if enabled:
        out = []   # the VFs were enabled before the start: only echo 0 > sriov_numvfs runs
    if disable:
        doc = ("sriov_numvfs = 0: remove the VFs, drop the PM reference, sriov_active = false "
               "(without memory_lock: a racing D3hot write at most gets -EBUSY).")
        if vfs:
            doc = ("sriov_numvfs = 0: sriov_del_vfs removes the VFs (vfio_pci_remove of each VF waits in "
                   "vfio_unregister_group_dev until its user has closed it), then VFE and MSE are cleared; "
                   "drop the PM reference, sriov_active = false (without memory_lock).")
        if dl:
            out.append(step("device_lock_numvfs_0", "echo 0 > sriov_numvfs: sriov_numvfs_store takes the PF's "
                            "device lock again.", when=mutex_free(lk), do=mutex_lock(t, lk),
                            source="drivers/pci/iov.c:sriov_numvfs_store"))
        if vfs and _lifetimes(cfg):
            out += _remove_vfs(t, vfs)
        out.append(step("pci_disable_sriov", doc,
                        when=and_(*[~v.open[k] for k in vfs]) if vfs and not _lifetimes(cfg) else TRUE,
                        do={**({use: use - 1} if pm else {}), v.sriov_active[vdev]: 0, v.vfs_enabled[vdev]: 0,
                            **dunlock},
                        events=dev_ev, goto=DONE, source="drivers/pci/iov.c:sriov_disable" if vfs else src))
    return out


def _remove_vfs(t, vfs):
    """sriov_del_vfs → pci_iov_remove_virtfn → the VF's driver remove: vfio_pci_remove →
    vfio_pci_core_unregister_device → vfio_unregister_group_dev (lifetimes configs), per VF."""
    v, src = t.v, "drivers/vfio/vfio_main.c:vfio_unregister_group_dev"
    out = []
    for k in vfs:
        reg, name = v.registration[k], t.cfg.devices[k].name
        out += [
            step(f"vfio_device_put_registration({name})",
                 f"sriov_del_vfs removes {name}: vfio_pci_remove drops its base registration reference.",
                 do={v.unregistered[k]: 1, reg: reg - 1}, source=src),
            step(f"vfio_unregister_group_dev({name})",
                 f"Wait until {name}'s registration count is zero (its user closes it on the request).",
                 when=reg == 0, source=src),
            step(f"vfio_put_device({name})", f"Put {name}: its release frees the vfio_pci_core_device.",
                 do={v.vdev_freed[k]: 1}, source="drivers/vfio/pci/vfio_pci.c:vfio_pci_remove"),
        ]
    return out
