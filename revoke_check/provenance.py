"""Where a result or trace came from, and how to get the same model back.

Every trace and result records the variant spec as given (a name or
``FILE.py:NAME``), the sha256 of that file, the config spec (a name or
``FILE.toml:NAME``) and its file's sha256, the tool version and the digest of
the built model.  :func:`specs_of` turns a stored trace back into the specs to
build it with, and says (on stderr, through ``warn``) when a file has changed
since the trace was made.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from revoke_check.model.config import split_spec

from . import __version__

__all__ = ["provenance", "specs_of", "protocol_of", "ProvenanceError"]


class ProvenanceError(ValueError):
    """A trace names a variant or config file that cannot be found."""


def _sha(path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _file_of(spec: str, suffix: str) -> tuple[str | None, str | None]:
    """(file part, name part) of ``FILE.py:NAME`` / ``FILE.toml:NAME``."""
    if f"{suffix}:" in spec:
        path, _, name = spec.rpartition(":")
        return path, name
    if spec.endswith(suffix):
        return spec, None
    return None, spec


def provenance(model) -> dict:
    """The provenance record of a built model."""
    vspec = model.spec or model.variant
    vfile, _ = _file_of(vspec, ".py")
    cfg = model.config
    cspec = cfg.spec or cfg.name
    cfile, _ = split_spec(cspec)
    out = {
        "tool": "revoke-check", "version": __version__,
        "protocol": getattr(model, "protocol", "vfio-dmabuf"),
        "variant_spec": vspec,
        "variant_file": str(Path(vfile).resolve()) if vfile else None,
        "variant_sha256": _sha(vfile) if vfile else None,
        "config_spec": cspec,
        "config_file": str(Path(cfile).resolve()) if cfile else None,
        "config_sha256": cfg.sha256 if cfile else None,
        "model_digest": model.digest(),
    }
    irq = getattr(model.v, "irq", None)
    if irq is not None:   # interrupt context: the CPU of each thread, for the renderings
        out["cpus"] = {t: irq.cpus[c] for t, c in irq.cpu_of.items()}
        out["irq_threads"] = sorted(irq.irq_threads)
    return out


def _locate(spec: str, recorded: str | None, suffix: str, what: str) -> str:
    path, name = _file_of(spec, suffix)
    if path is None:
        return spec
    if Path(path).is_file():
        return spec
    if recorded and Path(recorded).is_file():
        return f"{recorded}:{name}" if name else recorded
    raise ProvenanceError(f"the trace's {what} file {path} is not found here"
                          + (f" (nor {recorded})" if recorded and recorded != path else "")
                          + f"; give it with --{what}")


def protocol_of(trace) -> str:
    """The protocol a stored trace was made on (traces before protocols: vfio-dmabuf)."""
    return (getattr(trace, "provenance", None) or {}).get("protocol") or "vfio-dmabuf"


def specs_of(trace, warn=None) -> tuple[str, str]:
    """(variant spec, config spec) to rebuild the model a trace was made on.

    ``warn(line)`` is told when a variant or config file differs from the one
    the trace was made with (its sha256 changed).
    """
    pv = getattr(trace, "provenance", None) or {}
    vspec = _locate(pv.get("variant_spec") or trace.variant, pv.get("variant_file"), ".py", "variant")
    cspec = _locate(pv.get("config_spec") or trace.config, pv.get("config_file"), ".toml", "config")
    if warn:
        for spec, key, suffix in ((vspec, "variant_sha256", ".py"), (cspec, "config_sha256", ".toml")):
            path, _ = _file_of(spec, suffix)
            old = pv.get(key)
            if path and old:
                now = _sha(path)
                if now != old:
                    warn(f"note: {path} has changed since the trace was made "
                         f"(sha256 {old[:12]} then, {(now or 'unreadable')[:12]} now); "
                         f"replaying against the file as it is now")
    return vspec, cspec
