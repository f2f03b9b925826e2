"""drivers/dma-buf/dma-buf.c and fs/file_table.c: who holds the dma-buf's file and dentry, and the release.

Only configs with ``lifetimes = true`` see any of this (older configs keep
their steps and figures).  There, the dma-buf's ``struct file`` has its
holders as actors besides the fd table and importers: a duplicate of the fd
(``dup_fd``: dup, SCM_RIGHTS, pidfd_getfd: ``get_file`` .. ``fput``) and an
``O_PATH`` open of ``/proc/<pid>/fd/<n>`` (``o_path_open``), which holds the
file's dentry and not the file.  The last ``fput`` runs ``__fput``
(fs/file_table.c:__fput: ``dma_buf_file_release``, then ``dput`` of the
file's dentry reference; the ``struct file`` is freed and ``dmabuf->file``
keeps its address); the dentry's last reference runs its ``d_release``,
``dma_buf_release`` (drivers/dma-buf/dma-buf.c:dma_buf_release), which calls
the exporter's release, ``vfio_pci_dma_buf_release``
(drivers/vfio/pci/vfio_pci_dmabuf.c): if ``priv->vdev`` is set, memory_lock(W),
``list_del_init``, ``up_write``, ``vfio_device_put_registration``; then
``kfree(priv)`` and the ``struct dma_buf`` is freed.  Each of those steps
dereferences ``priv->vdev`` and carries a ``deref_vdev`` event, which the
``refcounts`` property checks against the device's lifetime
(model/vfio_unregister.py): a use of a freed ``vfio_pci_core_device`` is a
``refcounts`` violation at that step, as a use of a freed ``priv`` already is
(the ``use`` event).
"""
from __future__ import annotations

from .config import ConfigError
from .expr import BOOL, INT, and_
from .lang import Branch, DONE, Event, Step, step
from .locks import down_write, rwsem_write_free, up_write
from .protocol import procedure
from .schema import ActorKind, Attr, Field
from .vfio_pci_dmabuf import fput, use

SRC = "drivers/dma-buf/dma-buf.c"
VFIO = "drivers/vfio/pci/vfio_pci_dmabuf.c"
FS = "fs/file_table.c"


def lifetimes(cfg) -> bool:
    return bool(cfg.setting("lifetimes", False))


def deref_vdev(d) -> Event:
    """The step dereferences ``priv->vdev`` (device ``d``): it must not be freed."""
    return Event("deref_vdev", (d,))


def declare(p):
    """The dma-buf file's dentry count and freed file; dup_fd and o_path_open actors; the split release."""
    p.add_setting(Attr("lifetimes", "bool", False,
                       "model object lifetimes at the kernel's references: __fput and the dentry's "
                       "d_release as separate steps, the device fd's registration reference, unregistration"))
    p.add_field(Field("buf", "dentry_refs",
                      lambda cfg, b: INT(0, 1 + len([a for a in cfg.actors_of_kind("o_path_open")
                                                     if a.target == b])),
                      lambda cfg, b: int(cfg.bufs[b].exists and lifetimes(cfg)),
                      "references on the dma-buf file's dentry: the file's f_path plus O_PATH opens",
                      refcount=True))
    p.add_field(Field("buf", "file_freed", BOOL, 0,
                      "__fput has run: dmabuf->file points to a freed struct file"))
    p.add_actor_kind(ActorKind(
        "dup_fd", "dup_fd", "buf", lambda cfg, a: {"buf": a.target},
        doc="another opener of the dma-buf file (dup, SCM_RIGHTS, pidfd_getfd): its own file reference"))
    p.add_actor_kind(ActorKind(
        "o_path_open", "o_path_open", "buf", lambda cfg, a: {"buf": a.target},
        doc="an O_PATH open of /proc/<pid>/fd/<n>: holds the dma-buf file's dentry, not the file"))
    inner = p.procs["vfio_pci_dma_buf_release"][0]

    def release(t, buf):
        return _release(t, buf) if lifetimes(t.cfg) else inner(t, buf)
    p.replace_procedure("vfio_pci_dma_buf_release", release)
    inner_close = p.procs["vfio_pci_core_close_device"][0]
    p.replace_step("vfio_pci_core_close_device", "mutex_unlock", _close_puts_registration(inner_close))
    p.add_config_check(_check)


def _check(cfg):
    if lifetimes(cfg):
        return
    for kind in ("dup_fd", "o_path_open", "unregister"):
        for a in cfg.actors_of_kind(kind):
            raise ConfigError(f"{cfg.name}: actor {a.name}: {kind} needs lifetimes = true")


def _close_puts_registration(inner):
    """vfio_device_fops_release: after the last close, the device file's registration reference goes."""
    def make(t, vdev):
        s = next(x for x in inner(t, vdev) if x.label == "mutex_unlock")
        if not lifetimes(t.cfg):
            return s
        v = t.v
        for b in s.branches:
            b.goto = "vfio_device_put_registration"
        return [s, step("vfio_device_put_registration",
                        "vfio_device_fops_release: the device file drops its registration reference.",
                        do={v.dev_file[vdev]: 0, v.registration[vdev]: v.registration[vdev] - 1},
                        events=(deref_vdev(vdev),), goto="<return>",
                        source="drivers/vfio/vfio_main.c:vfio_device_fops_release")]
    return make


def _release(t, buf):
    """The last fput, the dentry's last dput, and vfio_pci_dma_buf_release one reference at a time."""
    v, cfg = t.v, t.cfg
    d = cfg.bufs[buf].dev
    unlock, uev = up_write(t, d)
    return [
        step("idle",
             "The last fput: __fput (task work) calls dma_buf_file_release, dputs the file's dentry "
             "and frees the struct file; dmabuf->file keeps the freed address.",
             when=and_(v.f_count[buf] == 0, v.phase[buf] != "none"),
             do={v.file_freed[buf]: 1, v.dentry_refs[buf]: v.dentry_refs[buf] - 1},
             events=(use(buf),), source=f"{FS}:__fput"),
        # priv->vdev is read without a lock: only cleanup writes it, under memory_lock and holding
        # a file reference, which no longer exists here; so the read and the down_write are one step.
        Step("dma_buf_release", [
            Branch(and_(v.dentry_refs[buf] == 0, v.priv_vdev[buf], rwsem_write_free(v, d)),
                   down_write(t, d), events=(use(buf), deref_vdev(d)),
                   note="priv->vdev set: down_write(&priv->vdev->memory_lock)"),
            Branch(and_(v.dentry_refs[buf] == 0, ~v.priv_vdev[buf]), goto="kfree(priv)",
                   events=(use(buf),), note="cleanup already unlinked it (priv->vdev == NULL)"),
        ], "The dentry's last reference is gone: its d_release, dma_buf_release, calls "
           "vfio_pci_dma_buf_release.", source=f"{SRC}:dma_buf_release"),
        step("list_del_init", "Unlink priv from vdev->dmabufs and up_write(&priv->vdev->memory_lock).",
             do={v.phase[buf]: "unlisted", **unlock}, events=(uev, use(buf), deref_vdev(d)),
             source=f"{VFIO}:vfio_pci_dma_buf_release"),
        step("vfio_device_put_registration",
             "Drop the registration reference priv->vdev stood for; the device may be freed after this.",
             do={v.registration[d]: v.registration[d] - 1, v.priv_vdev[buf]: 0},
             events=(use(buf), deref_vdev(d)), source=f"{VFIO}:vfio_pci_dma_buf_release"),
        step("kfree(priv)", "Free priv; dma_buf_release then frees the struct dma_buf.",
             do={v.phase[buf]: "freed"}, events=(use(buf),), goto=DONE,
             source=f"{VFIO}:vfio_pci_dma_buf_release"),
    ]


@procedure("dup_fd", "fs/file.c:f_dupfd")
def dup_fd(t, buf: int):
    """A second holder of the dma-buf file: takes a reference while the fd is installed, later fputs it."""
    v = t.v
    put, ev = fput(v, buf)
    return [
        Step("get_file", [
            Branch(v.has_fd[buf], {v.f_count[buf]: v.f_count[buf] + 1}, events=(use(buf),)),
            Branch(~v.has_fd[buf], goto=DONE, note="no fd to duplicate: -EBADF"),
        ], "dup/SCM_RIGHTS/pidfd_getfd: the new fd takes its own reference on the file.",
            source="include/linux/fs.h:get_file"),
        step("fput", "The duplicate is closed: fput.", do=put, events=(ev, use(buf)), goto=DONE,
             source=f"{FS}:fput"),
    ]


@procedure("o_path_open", "fs/namei.c:path_openat")
def o_path_open(t, buf: int):
    """An O_PATH open through /proc/<pid>/fd/<n>: a reference on the file's dentry (path_get), not on the file."""
    v = t.v
    refs = v.dentry_refs[buf]
    return [
        Step("path_get", [
            Branch(and_(v.has_fd[buf], ~v.file_freed[buf]), {refs: refs + 1}, events=(use(buf),),
                   note="the magic link resolves to the dma-buf file's path"),
            Branch(~v.has_fd[buf], goto=DONE, note="the fd is gone: -ENOENT"),
        ], "open(\"/proc/<pid>/fd/<n>\", O_PATH) takes a path reference on the dma-buf file's dentry.",
            source="fs/proc/fd.c:proc_fd_link"),
        step("path_put", "The O_PATH file is closed: path_put drops the dentry reference.",
             do={refs: refs - 1}, goto=DONE, source="fs/namei.c:path_put"),
    ]
