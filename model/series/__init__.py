"""The protocol changes posted in 2026, one file per series version, as built-in variants.

Each module reads like the patch: it declares the fields, locks, procedures,
actor kinds, properties and configs the series adds, through the same
``Protocol.add_*`` calls upstream's modules use, and edits upstream's steps.
"""
import importlib
import pkgutil

for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_m}")
