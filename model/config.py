"""Named finite configurations (``configs.toml``), loaded and validated.

A configuration is data: the dev_set, the bufs and importers, the kernel
threads (actors) and the failures that may be injected.  Unknown keys and
dangling names are rejected with a :class:`ConfigError` that names them.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Config", "Device", "Buf", "Importer", "Actor", "ConfigError",
           "load_configs", "get_config", "ACTOR_KINDS"]

CONFIG_FILE = Path(__file__).with_name("configs.toml")

# actor kind -> the config key naming what it works on
ACTOR_KINDS = {
    "hot_reset": "via",            # VFIO_DEVICE_PCI_HOT_RESET through device `via`
    "ioctl_reset": "dev",          # VFIO_DEVICE_RESET
    "config_write": "dev",         # PCI_COMMAND memory-bit writes
    "config_flr": "dev",           # PCIe FLR through the config space
    "feature_dma_buf": "buf",      # VFIO_DEVICE_FEATURE_DMA_BUF
    "importer": "importer",        # a dynamic dma-buf importer
    "close_fd": "buf",             # userspace closes the dma-buf fd
    "close_device": "dev",         # last close of the device fd
    "bar_fault": "dev",            # a CPU page fault on an mmap of a BAR
    "low_power_entry": "dev",      # VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY (no wake eventfd)
    "low_power_exit": "dev",       # VFIO_DEVICE_FEATURE_LOW_POWER_EXIT
}
INJECT_KEYS = {"ownership_fails", "reset_fails", "dma_buf_fd_fails",
               "config_write_fails"}


class ConfigError(ValueError):
    """A configuration is unknown or malformed."""


@dataclass(frozen=True)
class Device:
    name: str
    open: bool
    mem: bool


@dataclass(frozen=True)
class Buf:
    name: str
    dev: int
    exists: bool


@dataclass(frozen=True)
class Importer:
    name: str
    buf: int
    revocable: bool = True
    fences: bool = True
    maps: int = 1
    kind: str = "dynamic"   # "dynamic" (sg_table map, async invalidate) or "iommufd"
    retry: bool = False     # dynamic: a map refused because revoked is retried (not given up)
    remap: bool = False     # dynamic: after unmapping for invalidate_mappings, map again


@dataclass(frozen=True)
class Actor:
    kind: str
    name: str           # the thread name
    target: int         # index of the device / buf / importer
    mem: tuple = ()     # config_write: the MEM bit values written, in order


@dataclass
class Config:
    name: str
    doc: str
    devices: list
    bufs: list
    importers: list
    actors: list
    inject: dict = field(default_factory=dict)
    runtime_pm: bool = False    # model runtime PM: ioctls resume the device, the PM core may suspend it

    def pm_threads(self) -> list[str]:
        return [f"pm_runtime.{d.name}" for d in self.devices if d.open] if self.runtime_pm else []

    def thread_names(self) -> list[str]:
        """Every thread: the actors, each buf's deferred release, each device's PM core work."""
        return ([a.name for a in self.actors] + [f"dma_buf_release.{b.name}" for b in self.bufs]
                + self.pm_threads())

    def bufs_of(self, d: int) -> list[int]:
        return [b for b, x in enumerate(self.bufs) if x.dev == d]

    def importers_of(self, b: int) -> list[int]:
        return [i for i, x in enumerate(self.importers) if x.buf == b]

    def actors_of_kind(self, kind: str) -> list[Actor]:
        return [a for a in self.actors if a.kind == kind]

    def fd_users(self, d: int) -> list[Actor]:
        """Actors that hold device ``d``'s fd while they run (ioctls, config writes)."""
        out = []
        for a in self.actors:
            if a.kind in ("ioctl_reset", "config_write", "config_flr", "hot_reset",
                          "bar_fault", "low_power_entry", "low_power_exit") and a.target == d:
                out.append(a)
            if a.kind == "feature_dma_buf" and self.bufs[a.target].dev == d:
                out.append(a)
        return out

    def may(self, what: str, dev: int | None = None) -> bool:
        v = self.inject.get(what, False)
        if isinstance(v, list):
            return dev is not None and self.devices[dev].name in v
        return bool(v)


def _check_keys(where: str, d: dict, allowed: set):
    extra = set(d) - allowed
    if extra:
        raise ConfigError(f"{where}: unknown key {sorted(extra)[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _index(where: str, names: list[str], name) -> int:
    if name not in names:
        raise ConfigError(f"{where}: unknown name {name!r} (known: {', '.join(names) or 'none'})")
    return names.index(name)


def parse_config(name: str, raw: dict) -> Config:
    _check_keys(name, raw, {"doc", "devices", "bufs", "importers", "actors", "inject", "runtime_pm"})
    devs = []
    for i, d in enumerate(raw.get("devices", [])):
        _check_keys(f"{name}.devices[{i}]", d, {"name", "open", "mem"})
        devs.append(Device(d["name"], bool(d.get("open", True)), bool(d.get("mem", True))))
    if not devs:
        raise ConfigError(f"{name}: needs at least one device")
    dnames = [d.name for d in devs]
    bufs = []
    for i, b in enumerate(raw.get("bufs", [])):
        _check_keys(f"{name}.bufs[{i}]", b, {"name", "dev", "exists"})
        bufs.append(Buf(b["name"], _index(f"{name}.bufs[{i}].dev", dnames, b["dev"]),
                        bool(b.get("exists", True))))
    bnames = [b.name for b in bufs]
    imps = []
    for i, m in enumerate(raw.get("importers", [])):
        _check_keys(f"{name}.importers[{i}]", m, {"name", "buf", "revocable", "fences", "maps", "kind",
                                                  "retry", "remap"})
        kind = m.get("kind", "dynamic")
        if kind not in ("dynamic", "iommufd"):
            raise ConfigError(f"{name}.importers[{i}]: unknown importer kind {kind!r} (known: dynamic, iommufd)")
        for k in ("retry", "remap"):
            if k in m and not isinstance(m[k], bool):
                raise ConfigError(f"{name}.importers[{i}].{k}: expected true or false, got {m[k]!r}")
            if m.get(k) and kind != "dynamic":
                raise ConfigError(f"{name}.importers[{i}].{k}: only a dynamic importer retries or re-maps")
        imps.append(Importer(m["name"], _index(f"{name}.importers[{i}].buf", bnames, m["buf"]),
                             bool(m.get("revocable", True)), bool(m.get("fences", True)) and kind == "dynamic",
                             int(m.get("maps", 1)), kind, bool(m.get("retry", False)),
                             bool(m.get("remap", False))))
    inames = [m.name for m in imps]
    actors, seen = [], set()
    for i, a in enumerate(raw.get("actors", [])):
        where = f"{name}.actors[{i}]"
        kind = a.get("kind")
        if kind not in ACTOR_KINDS:
            raise ConfigError(f"{where}: unknown actor kind {kind!r} (known: {', '.join(ACTOR_KINDS)})")
        key = ACTOR_KINDS[kind]
        _check_keys(where, a, {"kind", key, "name", "mem"})
        names = {"via": dnames, "dev": dnames, "buf": bnames, "importer": inames}[key]
        tgt = _index(f"{where}.{key}", names, a.get(key))
        tname = a.get("name") or (kind if kind == "hot_reset" else f"{kind}.{names[tgt]}")
        if tname in seen:
            raise ConfigError(f"{where}: thread name {tname!r} used twice; give one a name")
        seen.add(tname)
        actors.append(Actor(kind, tname, tgt, tuple(bool(x) for x in a.get("mem", ()))))
    inject = dict(raw.get("inject", {}))
    _check_keys(f"{name}.inject", inject, INJECT_KEYS)
    for dn in inject.get("ownership_fails", []):
        _index(f"{name}.inject.ownership_fails", dnames, dn)
    for b in bufs:
        creators = [a for a in actors if a.kind == "feature_dma_buf" and a.target == bufs.index(b)]
        if not b.exists and not creators:
            raise ConfigError(f"{name}: buf {b.name} does not exist and no feature_dma_buf actor creates it")
        if b.exists and creators:
            raise ConfigError(f"{name}: buf {b.name} exists at the start and is also created by an actor")
        if not devs[b.dev].open:
            raise ConfigError(f"{name}: buf {b.name} belongs to {devs[b.dev].name}, which is not open")
    for a in actors:
        if a.kind in ("ioctl_reset", "config_write", "config_flr", "hot_reset", "close_device",
                      "bar_fault", "low_power_entry", "low_power_exit") \
                and not devs[a.target].open:
            raise ConfigError(f"{name}: actor {a.name} needs {devs[a.target].name} open")
    pm = bool(raw.get("runtime_pm", False))
    for a in actors:
        if pm and a.kind in ("hot_reset", "close_device"):
            raise ConfigError(f"{name}: actor {a.name}: {a.kind} with runtime_pm is not modelled "
                              "(see LIMITATIONS)")
        if not pm and a.kind in ("low_power_entry", "low_power_exit"):
            raise ConfigError(f"{name}: actor {a.name} needs runtime_pm = true")
    return Config(name, raw.get("doc", ""), devs, bufs, imps, actors, inject, pm)


def load_configs(path: Path = CONFIG_FILE) -> dict[str, Config]:
    try:
        raw = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: {e}") from None
    return {n: parse_config(n, r) for n, r in raw.items()}


def get_config(name: str) -> Config:
    cfgs = load_configs()
    if name not in cfgs:
        raise ConfigError(f"unknown config {name!r} (known: {', '.join(cfgs)})")
    return cfgs[name]
