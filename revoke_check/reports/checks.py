"""Per-property checks for the CI reports, and writing the report files.

The explicit explorer stops at the first violation, so a check of N
properties together says nothing about the N-1 it did not reach.  The CI
reports want one verdict per property x config x variant x engine:
:func:`check_each` runs every property on its own and returns one
:class:`~revoke_check.result.Result` per property; JUnit and SARIF are then
written from those values (:func:`write_reports`).
"""
from __future__ import annotations

from pathlib import Path

from revoke_check.properties import get_properties

from revoke_check.result import ERROR, HOLDS, INCOMPLETE, VACUOUS, VIOLATED, EXIT, Result

__all__ = ["check_each", "worst_exit", "write_reports", "ReportError"]


class ReportError(ValueError):
    """A report file cannot be written."""


def check_each(config: str, variant: str | None, properties=None, *, engine: str = "explicit",
               **kw) -> list[Result]:
    """One Result per property (all properties when ``properties`` is empty)."""
    from revoke_check.run import check
    from revoke_check.model.variants import get_protocol
    names = [p.name for p in get_properties(properties or None,
                                            get_protocol(variant, protocol=kw.get("protocol")))]
    return [check(config, variant, [n], engine=engine, **kw) for n in names]


# error first (the check did not run), then violated, incomplete, vacuous
_ORDER = (ERROR, VIOLATED, INCOMPLETE, VACUOUS, HOLDS)


def worst_exit(results) -> int:
    """The exit code of the most serious verdict among ``results``."""
    verdicts = {r.verdict for r in results}
    for v in _ORDER:
        if v in verdicts:
            return EXIT[v]
    return EXIT[HOLDS]


def _write(path, text: str):
    try:
        Path(path).write_text(text)
    except OSError as e:
        raise ReportError(f"cannot write {path}: {e.strerror}") from None


def write_reports(results, *, junit=None, sarif=None, kernel_src=None):
    """Write the JUnit XML and/or SARIF file for ``results``."""
    if junit:
        from revoke_check.reports.junit import junit_xml
        _write(junit, junit_xml(results))
    if sarif:
        import json

        from revoke_check.reports.sarif import sarif_log
        _write(sarif, json.dumps(sarif_log(results, kernel_src=kernel_src), indent=1) + "\n")
