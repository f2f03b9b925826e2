"""Mutants of the lifetimes model (issue 11 item 1), each breaking one reference, and of SR-IOV (item 6).

They show that ``refcounts`` sees a use after free and a double put on
``-c file-lifetimes`` (and, for the last one, on any config with an importer).
"""
from __future__ import annotations

from .dma_buf_file import lifetimes
from .variants import variant


@variant("release-puts-registration-before-unlock", fixed_by="upstream")
def release_puts_registration_before_unlock(p):
    """vfio_pci_dma_buf_release drops the registration before its up_write(&priv->vdev->memory_lock).

    Once the count reaches zero, vfio_unregister_group_dev returns and
    vfio_pci_remove frees the device: the up_write that follows writes to
    freed memory.
    """
    inner = p.procs["vfio_pci_dma_buf_release"][0]

    def release(t, buf):
        stmts = inner(t, buf)
        if not lifetimes(t.cfg):
            return stmts
        by = {s.label: s for s in stmts}
        put, unlink = by["vfio_device_put_registration"], by["list_del_init"]
        put.branches[0].goto, unlink.branches[0].goto = "list_del_init", "kfree(priv)"
        return [by["idle"], by["dma_buf_release"], put, unlink, by["kfree(priv)"]]
    p.replace_procedure("vfio_pci_dma_buf_release", release)


@variant("unregister-does-not-wait", fixed_by="upstream")
def unregister_does_not_wait(p):
    """vfio_unregister_group_dev frees the device without waiting for the registration count.

    A dma-buf whose priv->vdev is still set (its release pending behind an
    O_PATH holder of its dentry, or its fd still open) later takes
    priv->vdev->memory_lock in vfio_pci_dma_buf_release: a use after free.
    """
    p.delete_step("vfio_unregister_group_dev", "wait_for_completion")


@variant("importer-double-put", fixed_by="upstream")
def importer_double_put(p):
    """An importer's detach path calls dma_buf_put twice (an error path that also puts)."""
    inner = p.procs["importer"][0]

    def importer(t, imp):
        stmts = inner(t, imp)
        v, b = t.v, t.cfg.importers[imp].buf
        for s in stmts:
            if s.label == "dma_buf_detach":
                for br in s.branches:
                    br.do[v.f_count[b]] = v.f_count[b] - 2
        return stmts
    p.replace_procedure("importer", importer)



@variant("sriov-enable-outside-the-lock", fixed_by="upstream")
def sriov_enable_outside_the_lock(p):
    """sriov_configure as posted for review in Abhishek Sahu's runtime PM series: D0 under memory_lock, then
    pci_enable_sriov after up_write, with vfio_pci_set_power_state refusing D3hot only once
    pci_num_vf() is non-zero.  A PCI_PM_CTRL D3hot write between the two puts the PF in D3hot
    and the VFs are then enabled below it (Alex Williamson's review asked for memory_lock
    across pci_enable_sriov; 40ef3edf151e later set sriov_active under the lock instead)."""
    inner = p.procs["vfio_pci_core_sriov_configure"][0]

    def configure(t, vdev, disable):
        stmts = inner(t, vdev, disable)
        v = t.v
        for s in stmts:
            if s.label == "vfio_pci_set_power_state":
                del s.branches[0].do[v.sriov_active[vdev]]
            if s.label == "pci_enable_sriov":
                s.branches[0].do[v.sriov_active[vdev]] = 1   # pci_num_vf() > 0 from here
        return stmts
    p.replace_procedure("vfio_pci_core_sriov_configure", configure)
