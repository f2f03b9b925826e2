"""Synthetic mutants of the lifetimes model (issue 11 item 1): each breaks one reference.

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

