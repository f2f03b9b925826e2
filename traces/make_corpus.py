"""Regenerate ``traces/corpus/`` from the violated entries of ``manifest.toml``.

Every known-bug entry (``verdict = "violated"``) is checked as
``revoke-check check -c CONFIG -v VARIANT -p PROPERTY --trace-out`` would,
and its counterexample is stored as ``corpus/<variant>.json``, or
``corpus/<variant>--<property>.json`` when the manifest has several
violated entries for the variant (``...@<config>.json`` if those repeat).  The tests replay every stored trace, so a
model change that breaks a known counterexample is noticed; regenerate only
after reading why it broke.

Usage::

    python3 traces/make_corpus.py            # rewrite the corpus
    python3 traces/make_corpus.py --check    # compare only; exit 1 if a file would change
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from revoke_check.ci.manifest import load_manifest, run_entry

CORPUS = Path(__file__).resolve().parent / "corpus"

__all__ = ["corpus_entries", "corpus_name", "main"]


def corpus_entries(manifest=None) -> list:
    """The manifest entries whose expected verdict is ``violated``."""
    return [e for e in load_manifest(manifest) if e.verdict == "violated"]


def corpus_name(entry, entries) -> str:
    """``<variant>.json``; ``<variant>--<property>.json`` when the variant repeats;
    ``<variant>--<property>@<config>.json`` when that pair repeats too (``...--<engine>`` for
    an entry other than explicit's of the same triple).  Entries of another
    protocol than vfio-dmabuf are prefixed with it: ``drm-sched--<variant>...``."""
    def proto(e):
        return e.protocol or "vfio-dmabuf"
    pre = "" if proto(entry) == "vfio-dmabuf" else f"{proto(entry)}--"
    mine = [e for e in entries if proto(e) == proto(entry)]
    if Counter(e.variant for e in mine)[entry.variant] == 1:
        return f"{pre}{entry.variant}.json"
    if Counter((e.variant, e.property) for e in mine)[(entry.variant, entry.property)] == 1:
        return f"{pre}{entry.variant}--{entry.property}.json"
    eng = "" if Counter((e.variant, e.property, e.config) for e in mine)[
        (entry.variant, entry.property, entry.config)] == 1 or entry.engine == "explicit" \
        else f"--{entry.engine}"
    return f"{pre}{entry.variant}--{entry.property}@{entry.config}{eng}.json"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare only, write nothing")
    ap.add_argument("--manifest", default=None, help="manifest file (default: manifest.toml)")
    ap.add_argument("--out", default=str(CORPUS), help="corpus directory")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    entries = corpus_entries(args.manifest)
    bad = 0
    for e in entries:
        name = corpus_name(e, entries)
        r = run_entry(e)
        if r.verdict != "violated" or r.trace is None or r.property != e.property:
            print(f"{name}: expected {e.property} violated, got {r.verdict} "
                  f"{r.property or ''}".rstrip(), file=sys.stderr)
            bad += 1
            continue
        if e.trace_length is not None and len(r.trace) != e.trace_length:
            print(f"{name}: note: trace length {len(r.trace)}, the manifest says "
                  f"{e.trace_length}", file=sys.stderr)
        text = r.trace.dumps() + "\n"
        path = out / name
        old = path.read_text() if path.exists() else None
        if args.check:
            if old != text:
                print(f"{name}: differs from a fresh check", file=sys.stderr)
                bad += 1
            else:
                print(f"{name}: up to date ({len(r.trace)} steps)")
            continue
        path.write_text(text)
        print(f"{name}: {'unchanged' if old == text else 'written'} "
              f"({r.variant}, {r.property}, {len(r.trace)} steps)")
    if not args.check:
        known = {corpus_name(e, entries) for e in entries}
        for p in sorted(out.glob("*.json")):
            if p.name not in known:
                print(f"{p.name}: not in the manifest any more (left in place)", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
