"""The compiled explorer: the model as C, breadth-first in native code.

:func:`generate_c` turns one model and its compiled checks into a C file:
guards and simultaneous updates (with the same domain checks that raise a
model error in :mod:`revoke_check.semantics`), invariants, step assertions,
state and step witnesses, deadlock and at-end checks, per-transition coverage
and lockdep's dependency graph (``properties.lock_order``, computed with the
same pair order and cycle test).  :func:`load` compiles it once per sha256 of
the source into a cache directory (``$REVOKE_CHECK_CACHE``, else
``$XDG_CACHE_HOME/revoke-check``, else ``~/.cache/revoke-check``) and loads it
with ctypes; :func:`explore` runs it.

The search is the Python explorer's, step for step: the same BFS order (threads
in model order, a thread's transitions at its pc in index order), the same
checks at the same points, the same limits.  So both report the same distinct
states, transitions, verdict and violated property, and the same first
counterexample (a shortest one: BFS, ids in discovery order, a parent index per
state).  C only finds *where* a search stops; the trace, the message and the
lock-order description are rebuilt in Python by replaying the transition
indices through :func:`revoke_check.replay.trace_from_path` and
:func:`revoke_check.replay.violation_at`, so every rendering works and the
Python semantics confirms the violation (a disagreement is an internal error,
never a verdict).

Storage: a state is stored bit-packed (each variable takes
``bit_length(hi - lo)`` bits, offset by ``lo``), in one arena indexed by state
id; plus a 4-byte parent id, a 1- or 2-byte transition index, and a 4-byte slot
of an open-addressing (linear probing, load <= 0.7) table of ids.  No pruning
of any kind: every reachable state is stored exactly (no hash compaction).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from revoke_check.model.expr import Const, Var
from revoke_check.model.lang import ModelError

from revoke_check.replay import trace_from_path, violation_at
from revoke_check.result import ERROR, HOLDS, INCOMPLETE, VIOLATED, Result
from revoke_check.semantics import Semantics

__all__ = ["generate_c", "load", "explore", "find_compiler", "CompileError", "cache_dir",
           "Layout"]

RUNTIME_VERSION = 8


class CompileError(RuntimeError):
    """No C compiler, or it failed on the generated source."""


# --- code generation -----------------------------------------------------------

class _Names:
    def __init__(self):
        self.k = 0

    def fresh(self) -> str:
        self.k += 1
        return f"_q{self.k}"


def _is_bool(e) -> bool:
    """0/1-valued for sure: then C's && || agree with Python's and/or on it."""
    if isinstance(e, Const):
        return e.value in (0, 1)
    if isinstance(e, Var):
        return e.domain.lo >= 0 and e.domain.hi <= 1
    if e.op in ("==", "!=", "<", "<=", "not"):
        return True
    if e.op in ("and", "or"):
        return all(_is_bool(a) for a in e.args)
    if e.op == "ite":
        return _is_bool(e.args[1]) and _is_bool(e.args[2])
    return False


def cexpr(e, names: _Names | None = None) -> str:
    """C source of ``e`` over ``const int *s``, with Python's value semantics.

    ``and``/``or`` of 0/1 operands are ``&&``/``||``; otherwise (an int operand)
    they return the deciding operand's value as Python's do, via GCC statement
    expressions with one temporary per operand (no operand is evaluated twice).
    """
    names = names or _Names()
    if isinstance(e, Const):
        return str(int(e.value)) if e.value >= 0 else f"({int(e.value)})"
    if isinstance(e, Var):
        return f"s[{e.slot}]"
    a = [cexpr(x, names) for x in e.args]
    o = e.op
    if o == "not":
        return f"(!{a[0]})"
    if o in ("and", "or"):
        if all(_is_bool(x) for x in e.args):
            return "(" + (" && " if o == "and" else " || ").join(a) + ")"
        out = a[-1]
        for x in reversed(a[:-1]):
            q = names.fresh()
            out = (f"({{ int {q} = {x}; {q} ? ({out}) : {q}; }})" if o == "and"
                   else f"({{ int {q} = {x}; {q} ? {q} : ({out}); }})")
        return out
    if o == "ite":
        return f"({a[0]} ? {a[1]} : {a[2]})"
    if o in ("+", "-", "==", "!=", "<", "<="):
        return f"({a[0]} {o} {a[1]})"
    raise CompileError(f"operator {o!r} has no C translation")


class Layout:
    """Bit packing of a state: per variable (word, shift, bits, lo); ``nbytes`` stored."""

    def __init__(self, vars_):
        self.fields = []
        word, used = 0, 0
        for v in vars_:
            span = v.domain.hi - v.domain.lo
            if span < 0:
                raise CompileError(f"{v.name}: empty domain {v.domain.lo}..{v.domain.hi}")
            b = span.bit_length()
            if not (-2**20 <= v.domain.lo and v.domain.hi <= 2**20):
                # C evaluates in int: with values this small no sum or difference of the
                # model's expressions can overflow; wider domains run on the Python engine
                raise CompileError(f"{v.name}: domain {v.domain.lo}..{v.domain.hi} outside -2^20..2^20")
            if used + b > 64:
                word, used = word + 1, 0
            self.fields.append((word, used, b, v.domain.lo))
            used += b
        self.nwords = word + 1
        self.nbits = word * 64 + used
        self.nbytes = max(1, (self.nbits + 7) // 8)


def _lock_order_c(model, checks):
    """C for lockdep's graph, or (None, None) when not asked; same pairs as LockOrder.observe."""
    if not checks.lock_order:
        return None, None
    from revoke_check.properties.lock_order import LockOrder
    lo = LockOrder.of(model)
    classes = {c for _, c in lo.owner_slots}
    for acq in lo.acquires.values():
        for c, mode in acq:
            if c == "chain":
                classes.update(mode)
            else:
                classes.add(c)
    classes = sorted(classes)     # Python iterates sorted(held): ids in name order
    if len(classes) > 64:
        raise CompileError("more than 64 lock classes")
    cid = {c: i for i, c in enumerate(classes)}
    fns, cases = [], []
    for ti, acq in sorted(lo.acquires.items()):
        tr = model.transitions[ti]
        if tr.thread not in lo.me:
            raise CompileError(f"lock-order: {tr.thread} takes a lock but owns none")
        me = lo.me[tr.thread]
        body = [f"static int lo_t{ti}(const int *s) {{", "  uint64_t held = 0;"]
        for slot, c in lo.owner_slots:
            body.append(f"  if (s[{slot}] == {me}) held |= 1ull << {cid[c]};")
        for c, mode in acq:
            if c == "chain":
                chain = list(mode)
                for k, x in enumerate(chain):
                    body.append(f"  if (lo_held(held, {cid[x]}, {ti})) return 1;")
                    for p in chain[:k]:
                        body.append(f"  if (lo_pair({cid[p]}, {cid[x]}, {ti})) return 1;")
            elif mode != "try":   # lockdep adds no dependency towards a trylocked lock
                body.append(f"  if (lo_held(held, {cid[c]}, {ti})) return 1;")
        body += ["  return 0;", "}"]
        fns.append("\n".join(body))
        cases.append(f"  case {ti}: return lo_t{ti}(s);")
    src = "\n\n".join(fns) + "\n\nstatic int lock_step(int ti, const int *s) {\n  switch (ti) {\n" + \
        "\n".join(cases) + "\n  default: return 0;\n  }\n}\n"
    return src, classes


def generate_c(model, checks, *, fp_bits: int = 64, sym=None, por=None) -> str:
    """The C source of the compiled explorer for ``model`` and ``checks``.

    ``fp_bits``: fingerprint width of hash compaction (64; fewer only to test collisions).
    ``sym``: a proved :class:`~revoke_check.engines.symmetry.Symmetry` (``--symmetry``);
    ``por``: a :class:`~revoke_check.engines.por.Por` (``--por``, :mod:`.compiled_por`).
    """
    if not 1 <= fp_bits <= 64:
        raise ValueError("fp_bits must be 1..64")
    vars_ = model.vars
    rc = getattr(model, "refcount_slots", frozenset())
    nv, nt = len(vars_), len(model.transitions)
    lay = Layout(vars_)
    wit_ids = {w: k for k, (w, _) in enumerate(checks.witnesses)}
    out = [f"/* revoke-check compiled explorer (runtime {RUNTIME_VERSION}): {model.variant} on "
           f"{model.config.name}; generated, do not edit */",
           "#include <stdint.h>", "#include <stdlib.h>", "#include <string.h>",
           "#include <stdio.h>", "#include <time.h>",
           f"#define NV {nv}", f"#define NT {nt}", f"#define NW {lay.nwords}",
           "#define UNDER_BIT (1 << 30)",
           f"#define SB {lay.nbytes}", f"#define FP_MASK {(1 << fp_bits) - 1}ull",
           f"#define NWIT {max(1, len(checks.witnesses))}",
           f"typedef {'uint8_t' if nt <= 256 else 'uint16_t' if nt <= 65536 else 'uint32_t'} via_t;",
           "static const int INIT[NV] = {" + ", ".join(str(int(x)) for x in model.init) + "};",
           "static const char *MODEL_NAME = \"" + f"{model.variant} on {model.config.name}"
           .replace("\\", "\\\\").replace('"', '\\"') + "\";"]
    # packing
    pk = ["static inline void pack(const int *s, uint64_t *w) {",
          "  " + " ".join(f"w[{k}] = 0;" for k in range(lay.nwords))]
    up = ["static inline void unpack(const uint64_t *w, int *s) {"]
    for v, (word, sh, b, lo) in zip(vars_, lay.fields):
        if b:
            pk.append(f"  w[{word}] |= (uint64_t)(uint32_t)(s[{v.slot}] - ({lo})) << {sh};")
            up.append(f"  s[{v.slot}] = (int)((w[{word}] >> {sh}) & {(1 << b) - 1}ull) + ({lo});")
        else:
            up.append(f"  s[{v.slot}] = {lo};")
    out += pk + ["}"] + up + ["}"]
    # transitions
    for tr in model.transitions:
        nm = _Names()
        body = [f"/* {tr.thread}: {tr.label}{' [' + tr.choice + ']' if tr.choice else ''} */",
                f"static int t{tr.index}(const int *s, int *n) {{", "  int under = 0; (void)under;"]
        g = cexpr(tr.guard, nm)
        if g != "1":
            body.append(f"  if (!({g})) return 0;")
        ups = sorted(tr.updates.items())
        for slot, e in ups:
            d = vars_[slot].domain
            if e.sort == "bool" and d.kind != "bool":
                raise ModelError(f"{tr.label}: boolean assigned to {vars_[slot].name}")
            body.append(f"  int v{slot} = {cexpr(e, nm)};")
            if slot in rc:   # a reference count below zero: no successor (see semantics.py)
                body.append(f"  if (v{slot} < {d.lo}) under = 1;")
            body.append(f"  if (v{slot} > {d.hi} || (v{slot} < {d.lo} && !under)) return -1;")
        body.append("  if (under) return -3;")
        body.append("  memcpy(n, s, sizeof(int) * NV);")
        body += [f"  n[{slot}] = v{slot};" for slot, _ in ups]
        body += ["  return 1;", "}"]
        out.append("\n".join(body))
    # successors, in the Python explorer's order
    # a step that underflows a reference count (-3) has no successor: with a selected
    # property asserting that count it is listed (flagged) so its step assertion fails in
    # order; otherwise it is this state's model error, after every transition was tried
    # (Python raises overflows while computing successors, then reports underflows)
    sc = ["static int successors(const int *s, int *buf, int *tis, int *err_ti) {",
          "  int k = 0, r, uncovered = -1;"]
    for th in model.threads:
        table: dict = {}
        for tr in model.transitions:
            if tr.thread == th.name:
                table.setdefault(tr.pc_value, []).append(tr.index)
        sc.append(f"  switch (s[{th.pc.slot}]) {{ /* {th.name} */")
        for pcv, tis in table.items():
            sc.append(f"  case {pcv}:")
            for ti in tis:
                tr = model.transitions[ti]
                covered = all((ti, x) in checks.refcount_checked for x in tr.updates if x in rc)
                on_under = (f"tis[k++] = {ti} | UNDER_BIT;" if covered
                            else f"if (uncovered < 0) uncovered = {ti};")
                sc.append(f"    r = t{ti}(s, buf + k * NV); if (r == -3) {{ {on_under} }}"
                          f" else if (r < 0) {{ *err_ti = {ti}; return -1; }} else if (r) tis[k++] = {ti};")
            sc.append("    break;")
        sc.append("  default: break;\n  }")
    sc += ["  if (uncovered >= 0) { *err_ti = uncovered; return -1; }", "  return k;", "}"]
    out.append("\n".join(sc))

    def conj(exprs):
        nm = _Names()
        return " && ".join(f"({cexpr(e, nm)})" for e in exprs) or "1"
    out.append(f"static inline int inv_ok(const int *s) {{ return {conj([e for _, e in checks.invariants])}; }}")
    fin = " && ".join("(" + " || ".join(f"s[{th.pc.slot}] == {f}" for f in sorted(th.finals)) + ")"
                      if th.finals else "0" for th in model.threads) or "1"
    out.append(f"static inline int all_final(const int *s) {{ return {fin}; }}")
    dead = "1" if checks.deadlock else "0"
    out.append("/* no step enabled: a deadlock (if checked) or an at-end violation */\n"
               f"static inline int terminal_bad(const int *s) {{\n  if (!all_final(s)) return {dead};\n"
               f"  return !({conj([e for _, e in checks.at_end])});\n}}")
    sa = ["static int step_ok(int ti, const int *s) {", "  switch (ti) {"]
    for ti, xs in sorted(checks.step_asserts.items()):
        sa.append(f"  case {ti}: return {conj([e for _, e in xs])};")
    sa += ["  default: return 1;", "  }", "}"]
    out.append("\n".join(sa))
    ws = ["static void witness_state(const int *s, uint8_t *r) {"]
    for w, e in checks.state_witness:
        ws.append(f"  if (!r[{wit_ids[w]}] && ({cexpr(e)})) r[{wit_ids[w]}] = 1;")
    ws.append("}")
    out.append("\n".join(ws))
    wt = ["static void witness_step(int ti, const int *s, uint8_t *r) {", "  switch (ti) {"]
    for ti, xs in sorted(checks.step_witness.items()):
        wt.append(f"  case {ti}:")
        for w, e in xs:
            wt.append(f"    if (!r[{wit_ids[w]}] && ({cexpr(e)})) r[{wit_ids[w]}] = 1;")
        wt.append("    break;")
    wt += ["  default: break;", "  }", "}"]
    out.append("\n".join(wt))
    lo_src, classes = _lock_order_c(model, checks)
    out.append(f"#define NCLS {len(classes) if classes else 1}")
    out.append(_LOCK_RUNTIME)
    out.append(lo_src if lo_src else "static int lock_step(int ti, const int *s) { (void)ti; (void)s; return 0; }")
    out.append(_canon_c(sym))
    por_head = por_body = ""
    if por is not None:
        from revoke_check.engines.compiled_por import por_c
        por_head, por_body = por_c(model, por)
        out.append(por_head)
    out.append(_RUNTIME)
    if por_body:
        out.append(por_body)
    from revoke_check.engines.compiled_mt import mt_c   # --workers, --checkpoint (own C section)
    out.append(mt_c(model, checks, cexpr))
    return "\n\n".join(out) + "\n"


# --- symmetry (--symmetry): canonical representative of a successor ------------------

def _canon_c(sym) -> str:
    """C of ``canon(s)``: ``s`` becomes its least image under the proved group
    (:class:`revoke_check.engines.symmetry.Symmetry`, the same order as its
    Python ``canon``, so both engines store the same representatives); a no-op
    without symmetry."""
    if sym is None or not sym.active:
        return "static inline void canon(int *s) { (void)s; }"
    out = ["static inline int lexless(const int *a, const int *b) {",
           "  for (int k = 0; k < NV; k++) if (a[k] != b[k]) return a[k] < b[k];",
           "  return 0;", "}"]
    body = ["static void canon(int *s) {", "  int best[NV], tmp[NV];", "  memcpy(best, s, sizeof best);"]
    for gi, g in enumerate(sym.perms):
        for i, (d, vm) in enumerate(zip(g.dst, g.vmap)):
            if vm is None:
                body.append(f"  tmp[{d}] = s[{i}];")
            else:
                out.append(f"static const int VM{gi}_{i}[{len(vm)}] = {{{', '.join(map(str, vm))}}};")
                body.append(f"  tmp[{d}] = (s[{i}] >= 0 && s[{i}] < {len(vm)}) ? VM{gi}_{i}[s[{i}]] : s[{i}];")
        body.append("  if (lexless(tmp, best)) memcpy(best, tmp, sizeof best);")
    body += ["  memcpy(s, best, sizeof best);", "}"]
    return "\n".join(out + body)


_LOCK_RUNTIME = r"""
static uint64_t lo_adj[NCLS];
static int32_t *lo_log; static int lo_log_cap, lo_log_n;

/* is dst reachable from src in the dependency graph? */
static int lo_reach(int src, int dst) {
  uint64_t seen = 1ull << src, frontier = seen;
  while (frontier) {
    uint64_t next = 0;
    for (int c = 0; c < NCLS; c++) if (frontier >> c & 1) next |= lo_adj[c];
    next &= ~seen;
    if (next >> dst & 1) return 1;
    seen |= next; frontier = next;
  }
  return 0;
}

/* add held -> acq unless present; 1 if it closes a cycle (as cycle_through) */
static int lo_pair(int h, int c, int ti) {
  if (lo_adj[h] >> c & 1) return 0;
  int cyc = (h == c) || lo_reach(c, h);
  lo_adj[h] |= 1ull << c;
  if (lo_log_n < lo_log_cap) {
    lo_log[3 * lo_log_n] = h; lo_log[3 * lo_log_n + 1] = c; lo_log[3 * lo_log_n + 2] = ti;
  }
  lo_log_n++;
  return cyc;
}

static int lo_held(uint64_t held, int c, int ti) {
  for (int h = 0; h < NCLS; h++)
    if (held >> h & 1 && lo_pair(h, c, ti)) return 1;
  return 0;
}
"""

_RUNTIME = r"""
typedef struct {
  int64_t max_states;      /* < 0: none */
  double max_seconds;      /* <= 0: none */
  double progress_secs;    /* <= 0: no progress lines */
  int32_t check_lock_order;
  int32_t hash_compact;    /* 1: store 64-bit fingerprints, not states (may miss states) */
  int32_t status;          /* 0 complete, 1 violation, 2 model error, 3 state limit, 4 time limit,
                              5 out of memory, 6 interrupted */
  int32_t vkind;           /* 1 invariant at vstate, 2 terminal at vstate, 3 step assertion, 4 lock order */
  int32_t vtrans;
  int64_t vstate;
  int64_t distinct, edges;
  int64_t maxdepth;
  int64_t bytes;           /* arena + parent + via + table, in use (the table whole) */
  int64_t lo_edges;
  double seconds;
  int64_t alloc_bytes;     /* the same, allocated (realloc'd capacity not yet touched included) */
  double cpu_seconds;      /* CPU time of the search (this process) */
  int64_t partial;         /* --por: states expanded by a smaller ample set */
} rc_run;

static uint8_t *arena; static uint32_t *parent; static via_t *via;
static uint32_t *table; static uint64_t tmask, n_states, cap;
/* hash compaction: fptable holds 64-bit fingerprints; arena only the states
   [base, n_states) still to expand (at most two BFS levels) */
static int hc; static uint64_t *fptable; static uint64_t base, acap;
static uint64_t arena_peak;   /* most states held in the arena at once */
static int64_t rss_bytes(void);   /* resident set size, for the progress line (compiled_mt.py) */
static int tbits = 10;   /* log2 of the table size */

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static double cpu_now(void) {
  struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9;
}

static inline uint64_t hash_words(const uint64_t *w) {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  for (int k = 0; k < NW; k++) { h ^= w[k]; h *= 0xbf58476d1ce4e5b9ull; h ^= h >> 31; }
  h *= 0x94d049bb133111ebull; h ^= h >> 29;
  return h;
}

static void free_all(void) {
  free(arena); free(parent); free(via); free(table); free(fptable);
  arena = NULL; parent = NULL; via = NULL; table = NULL; fptable = NULL;
  n_states = cap = base = acap = arena_peak = 0; tmask = 0; tbits = 10;
}

static int64_t alloc_bytes(void) {
  return (int64_t)(cap * (sizeof(uint32_t) + sizeof(via_t)) + acap * SB
                   + (tmask + 1) * (hc ? sizeof(uint64_t) : sizeof(uint32_t)));
}

static int64_t mem_bytes(void) {
  return (int64_t)(n_states * (sizeof(uint32_t) + sizeof(via_t)) + arena_peak * SB
                   + (tmask + 1) * (hc ? sizeof(uint64_t) : sizeof(uint32_t)));
}

/* A table slot holds id + 1 in its low tbits bits (tbits = log2 of the table
   size; ids stay below 0.7 * size) and, above them, the top bits of the state's
   hash as a tag: a probe compares the stored state only when the tags agree.
   The tag only skips comparisons that would fail; equality is always decided by
   comparing the packed states. */
#define TAG(h) ((uint32_t)((h) >> 32) >> tbits << tbits)
#define SLOT_ID(x) ((x) & (tbits >= 32 ? 0xFFFFFFFFu : ((1u << tbits) - 1)))

/* A table growth rehashes every state with no progress line in between (tens of
   seconds past 10^8 states): say so when progress lines are on. */
static int say_growth;
static void note_growth(uint64_t ncap) {
  if (!say_growth || ncap < (1ull << 24)) return;   /* small tables grow in well under a second */
  fprintf(stderr, "revoke-check: compiled %s: %llu distinct, growing the visited table to %llu slots\n",
          MODEL_NAME, (unsigned long long)n_states, (unsigned long long)ncap);
  fflush(stderr);
}

static int grow_table(void) {
  uint64_t ncap = (tmask + 1) * 2;
  note_growth(ncap);
  uint32_t *nt = calloc(ncap, sizeof(uint32_t));
  if (!nt) return -1;
  tbits++;
  uint64_t w[NW];
  for (uint64_t id = 0; id < n_states; id++) {
    memset(w, 0, sizeof w); memcpy(w, arena + id * SB, SB);
    uint64_t hh = hash_words(w), h = hh & (ncap - 1);
    while (nt[h]) h = (h + 1) & (ncap - 1);
    nt[h] = (uint32_t)(id + 1) | (tbits >= 32 ? 0 : TAG(hh));
  }
  free(table); table = nt; tmask = ncap - 1;
  return 0;
}

static int grow_arrays(void) {
  uint64_t ncap = cap ? cap * 2 : 1024;
  uint32_t *p = realloc(parent, ncap * sizeof(uint32_t)); if (!p) return -1; parent = p;
  via_t *v = realloc(via, ncap * sizeof(via_t)); if (!v) return -1; via = v;
  cap = ncap;
  return 0;
}

/* room for one more state in the arena (states base .. n_states - 1 are there) */
static int arena_room(void) {
  if (n_states - base < acap) return 0;
  uint64_t ncap = acap ? acap * 2 : 1024;
  uint8_t *a = realloc(arena, ncap * SB); if (!a) return -1; arena = a;
  acap = ncap;
  return 0;
}

static int64_t append(const uint64_t *w) {
  if (n_states >= 0xFFFFFFF0ull) return -1;
  if (n_states == cap && grow_arrays() < 0) return -1;
  if (arena_room() < 0) return -1;
  uint64_t id = n_states++;
  memcpy(arena + (id - base) * SB, w, SB);
  if (n_states - base > arena_peak) arena_peak = n_states - base;
  return (int64_t)id;
}

/* find or insert the packed state w: returns its id, *fresh = 1 if new; -1 out of memory */
static int64_t intern(const uint64_t *w, uint64_t hh, int *fresh) {
  uint64_t h = hh & tmask;
  uint32_t tag = tbits >= 32 ? 0 : TAG(hh);
  while (table[h]) {
    uint32_t x = table[h];
    if (tbits >= 32 || ((x ^ tag) >> tbits) == 0) {
      uint32_t id = SLOT_ID(x) - 1;
      if (memcmp(arena + (uint64_t)id * SB, w, SB) == 0) { *fresh = 0; return id; }
    }
    h = (h + 1) & tmask;
  }
  int64_t id = append(w);
  if (id < 0) return -1;
  table[h] = (uint32_t)(id + 1) | tag;
  *fresh = 1;
  if ((n_states * 10 > (tmask + 1) * 7) && grow_table() < 0) return -1;
  return id;
}

/* Hash compaction (Wolper and Leroy): only a 64-bit fingerprint of each state
   is kept, so two different states with the same fingerprint look like one and
   the second is never explored.  This can only hide states, never invent a
   transition: a violation found is real (and replayed in Python), but a search
   that finds none is not a proof (the driver reports it as incomplete). */
static int grow_fptable(void) {
  uint64_t ncap = (tmask + 1) * 2;
  note_growth(ncap);
  uint64_t *nt = calloc(ncap, sizeof(uint64_t));
  if (!nt) return -1;
  for (uint64_t k = 0; k <= tmask; k++) {
    uint64_t fp = fptable[k];
    if (!fp) continue;
    uint64_t h = fp & (ncap - 1);
    while (nt[h]) h = (h + 1) & (ncap - 1);
    nt[h] = fp;
  }
  free(fptable); fptable = nt; tmask = ncap - 1;
  return 0;
}

static int64_t hc_intern(const uint64_t *w, uint64_t hh, int *fresh) {
  uint64_t fp = hh & FP_MASK;
  if (!fp) fp = 1;
  uint64_t h = fp & tmask;
  while (fptable[h]) {
    if (fptable[h] == fp) { *fresh = 0; return 0; }
    h = (h + 1) & tmask;
  }
  int64_t id = append(w);
  if (id < 0) return -1;
  fptable[h] = fp;
  *fresh = 1;
  if ((n_states * 10 > (tmask + 1) * 7) && grow_fptable() < 0) return -1;
  return id;
}

/* is the packed state w visited (--por's cycle proviso: a lookup, no insertion)? */
static int por_seen(const uint64_t *w, uint64_t hh) {
  uint64_t h = hh & tmask;
  uint32_t tag = tbits >= 32 ? 0 : TAG(hh);
  while (table[h]) {
    uint32_t x = table[h];
    if ((tbits >= 32 || ((x ^ tag) >> tbits) == 0)
        && memcmp(arena + (uint64_t)(SLOT_ID(x) - 1) * SB, w, SB) == 0) return 1;
    h = (h + 1) & tmask;
  }
  return 0;
}
#ifdef POR
static int por_ample(const int *s, const int *tis, int k, uint64_t (*W)[NW], const uint64_t *H,
                     uint64_t *amask, int8_t *seen);
#endif

int64_t rc_path(int64_t i, int32_t *out, int64_t cap_out) {
  int64_t k = 0;
  while (i > 0 && k < cap_out) { out[k++] = via[i]; i = parent[i]; }
  return k;  /* reversed: last transition first */
}

void rc_free(void) { free_all(); }

static volatile int stop_requested;
void rc_stop(void) { stop_requested = 1; }   /* from another thread: Ctrl-C */

int rc_layout(void) { return SB; }

int rc_explore(rc_run *r, uint64_t *coverage, uint8_t *reached, int32_t *lolog, int32_t lolog_cap) {
  double t0 = now(), last = t0, c0 = cpu_now();
  free_all(); stop_requested = 0; say_growth = r->progress_secs > 0;
  memset(lo_adj, 0, sizeof lo_adj); lo_log = lolog; lo_log_cap = lolog_cap; lo_log_n = 0;
  r->status = 0; r->vkind = 0; r->vtrans = -1; r->vstate = -1; r->partial = 0;
  int64_t edges = 0, maxdepth = 0, depth_i = 0;
  uint64_t level_end = 1;
  int *buf = malloc(sizeof(int) * NV * (NT ? NT : 1)), tis[NT ? NT : 1], s[NV];
  uint64_t w[NW], W[NT ? NT : 1][NW], H[NT ? NT : 1];
  hc = r->hash_compact != 0;
  if (hc) fptable = calloc(1024, sizeof(uint64_t)); else table = calloc(1024, sizeof(uint32_t));
  tmask = 1023;
  if (!buf || !(hc ? (void *)fptable : (void *)table)) { r->status = 5; goto done; }
  int fresh;
  pack(INIT, w);
  if ((hc ? hc_intern(w, hash_words(w), &fresh) : intern(w, hash_words(w), &fresh)) < 0) { r->status = 5; goto done; }
  parent[0] = 0; via[0] = 0;
  witness_state(INIT, reached);
  if (!inv_ok(INIT)) { r->status = 1; r->vkind = 1; r->vstate = 0; goto done; }
  uint64_t i = 0;
  while (i < n_states) {
    if (i == level_end) {
      depth_i++; level_end = n_states;
      if (hc) {   /* the finished level is no longer needed: keep only the next one */
        memmove(arena, arena + (i - base) * SB, (n_states - i) * SB);
        base = i;
      }
    }
    memset(w, 0, sizeof w); memcpy(w, arena + (i - base) * SB, SB); unpack(w, s);
    int err_ti = -1;
    int k = successors(s, buf, tis, &err_ti);
    if (k < 0) { r->status = 2; r->vstate = (int64_t)i; r->vtrans = err_ti; goto done; }
    if (k == 0 && terminal_bad(s)) { r->status = 1; r->vkind = 2; r->vstate = (int64_t)i; goto done; }
    /* pack and hash every successor first and prefetch their table slots, so that the
       cache misses of the lookups below overlap (a hint only: no effect on the search) */
    for (int j = 0; j < k; j++) {
      if (tis[j] & UNDER_BIT) continue;
      canon(buf + j * NV);   /* --symmetry: the orbit's representative (else nothing) */
      pack(buf + j * NV, W[j]); H[j] = hash_words(W[j]);
      if (hc) __builtin_prefetch(&fptable[(H[j] & FP_MASK ? H[j] & FP_MASK : 1) & tmask]);
      else __builtin_prefetch(&table[H[j] & tmask]);
    }
#ifdef POR
    /* --por (reduced.py's order): the ample set is chosen before any successor of s is
       stored; every enabled step is still checked, only the ample ones are expanded */
    uint64_t amask[NTW];
    int8_t seen[NT ? NT : 1];
    if (por_ample(s, tis, k, W, H, amask, seen)) r->partial++;
#endif
    for (int j = 0; j < k; j++) {
      int ti = tis[j] & ~UNDER_BIT;
#ifndef POR
      edges++; coverage[ti]++;
#endif
      if (!step_ok(ti, s)) { r->status = 1; r->vkind = 3; r->vstate = (int64_t)i; r->vtrans = ti; goto done; }
      if (tis[j] & UNDER_BIT) continue;   /* (the refcount assertion fails: not reached) */
      witness_step(ti, s, reached);
      if (r->check_lock_order && lock_step(ti, s)) {
        r->status = 1; r->vkind = 4; r->vstate = (int64_t)i; r->vtrans = ti; goto done;
      }
#ifdef POR
      if (!((amask[ti >> 6] >> (ti & 63)) & 1)) continue;
      edges++; coverage[ti]++;
      if (seen[j]) continue;   /* visited (C3 looked it up): not fresh */
#endif
      const int *ns = buf + j * NV;
      if (!hc && j + 1 < k) {   /* the next lookup's stored state, likely compared */
        uint32_t x = table[H[j + 1] & tmask];
        if (x) __builtin_prefetch(arena + (uint64_t)(SLOT_ID(x) - 1) * SB);
      }
      int64_t id = hc ? hc_intern(W[j], H[j], &fresh) : intern(W[j], H[j], &fresh);
      if (id < 0) { r->status = 5; goto done; }
      if (!fresh) continue;
      parent[id] = (uint32_t)i; via[id] = (via_t)ti;
      if (depth_i + 1 > maxdepth) maxdepth = depth_i + 1;
      witness_state(ns, reached);
      if (!inv_ok(ns)) { r->status = 1; r->vkind = 1; r->vstate = id; goto done; }
    }
    i++;
    if (i % 2048 == 0) {
      double t = now();
      if (r->progress_secs > 0 && t - last >= r->progress_secs) {
        last = t;
        fprintf(stderr, "revoke-check: compiled %s: %lld transitions, %llu distinct, %llu queued, "
                "depth %lld, %.0f states/s, %.1f MB, RSS %.1f MB, %.0fs\n", MODEL_NAME, (long long)edges,
                (unsigned long long)n_states, (unsigned long long)(n_states - i), (long long)depth_i,
                n_states / (t - t0), mem_bytes() / 1048576.0, rss_bytes() / 1048576.0, t - t0);
        fflush(stderr);
      }
      if (r->max_seconds > 0 && t - t0 > r->max_seconds) { r->status = 4; goto done; }
      if (stop_requested) { r->status = 6; goto done; }
    }
    if (r->max_states >= 0 && (int64_t)n_states > r->max_states) { r->status = 3; goto done; }
  }
done:
  free(buf);
  r->distinct = (int64_t)n_states; r->edges = edges; r->maxdepth = maxdepth;
  r->bytes = mem_bytes(); r->alloc_bytes = alloc_bytes(); r->lo_edges = lo_log_n;
  r->seconds = now() - t0; r->cpu_seconds = cpu_now() - c0;
  return r->status;
}
"""


# --- build cache and loading -----------------------------------------------------

class _Run(ctypes.Structure):
    _fields_ = [("max_states", ctypes.c_int64), ("max_seconds", ctypes.c_double),
                ("progress_secs", ctypes.c_double), ("check_lock_order", ctypes.c_int32),
                ("hash_compact", ctypes.c_int32),
                ("status", ctypes.c_int32), ("vkind", ctypes.c_int32), ("vtrans", ctypes.c_int32),
                ("vstate", ctypes.c_int64), ("distinct", ctypes.c_int64), ("edges", ctypes.c_int64),
                ("maxdepth", ctypes.c_int64), ("bytes", ctypes.c_int64), ("lo_edges", ctypes.c_int64),
                ("seconds", ctypes.c_double), ("alloc_bytes", ctypes.c_int64),
                ("cpu_seconds", ctypes.c_double), ("partial", ctypes.c_int64)]


def cache_dir() -> Path:
    if os.environ.get("REVOKE_CHECK_CACHE"):
        return Path(os.environ["REVOKE_CHECK_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "revoke-check"


def find_compiler() -> str | None:
    """$CC if set (and found), else cc, gcc or clang on PATH."""
    cands = [os.environ["CC"]] if os.environ.get("CC") else ["cc", "gcc", "clang"]
    for c in cands:
        p = shutil.which(c)
        if p:
            return p
    return None


_LOADED: dict = {}
_LOCK = threading.Lock()     # the library keeps one search's arrays in globals


def cflags() -> list:
    """Optimisation flags: ``$REVOKE_CHECK_CFLAGS`` (e.g. ``-O0`` to build small models fast), else -O2."""
    return (os.environ.get("REVOKE_CHECK_CFLAGS") or "-O2").split()


def load(src: str, *, cc: str | None = None):
    """Compile ``src`` once per sha256 (cached on disk, per compiler and flags) and load it."""
    digest = hashlib.sha256(src.encode()).hexdigest()
    cc = cc or find_compiler()
    flags = cflags()
    key = (digest, cc, tuple(flags))
    if key in _LOADED:
        return _LOADED[key]
    if cc is None:
        raise CompileError("no C compiler found (set CC, or install cc/gcc/clang)")
    d = cache_dir()
    tag = hashlib.sha256(f"{cc}\0{' '.join(flags)}".encode()).hexdigest()[:8]
    so = d / f"{digest}-{tag}.so"
    if not so.exists():
        try:
            _build(src, digest, cc, flags, d, so)
        except OSError as e:      # an unwritable cache, a compiler that cannot run
            raise CompileError(f"cannot build in {d}: {e.strerror or e}") from None
    try:
        lib = ctypes.CDLL(str(so))
    except OSError as e:
        raise CompileError(f"cannot load {so}: {e}") from None
    return _bind(lib, digest, so, key)


def _build(src, digest, cc, flags, d: Path, so: Path):
    d.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=d) as tmp:
        c = Path(tmp) / f"{digest}.c"
        c.write_text(src)
        out = Path(tmp) / "lib.so"
        p = subprocess.run([cc, *flags, "-std=gnu11", "-shared", "-fPIC", "-pthread", "-w", "-o", str(out), str(c)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise CompileError(f"{cc} failed on the generated C: {(p.stderr or p.stdout).strip()[-500:]}")
        os.replace(out, so)   # atomic: a concurrent build of the same digest is harmless


def _bind(lib, digest, so, key):
    lib.rc_explore.argtypes = [ctypes.POINTER(_Run), ctypes.POINTER(ctypes.c_uint64),
                               ctypes.POINTER(ctypes.c_uint8), ctypes.POINTER(ctypes.c_int32),
                               ctypes.c_int32]
    lib.rc_explore.restype = ctypes.c_int32
    lib.rc_explore_mt.argtypes = [ctypes.POINTER(_Run), ctypes.POINTER(ctypes.c_uint64),
                                  ctypes.POINTER(ctypes.c_uint8), ctypes.POINTER(ctypes.c_int32),
                                  ctypes.c_int32, ctypes.c_int32, ctypes.c_char_p, ctypes.c_char_p,
                                  ctypes.c_double, ctypes.c_char_p]
    lib.rc_explore_mt.restype = ctypes.c_int32
    lib.rc_mt_chunk.argtypes = [ctypes.c_int]
    lib.rc_mt_chunk.restype = None
    lib.rc_mt_phase_seconds.restype = None
    lib.rc_path.argtypes = [ctypes.c_int64, ctypes.POINTER(ctypes.c_int32), ctypes.c_int64]
    lib.rc_path.restype = ctypes.c_int64
    lib.rc_free.restype = None
    lib.rc_stop.restype = None
    lib.rc_layout.restype = ctypes.c_int
    lib.digest, lib.path = digest, so
    _LOADED[key] = lib
    return lib


# --- the engine ------------------------------------------------------------------

def explore(model, checks, *, max_states: int | None = None, max_seconds: float | None = None,
            progress_secs: float = 0.0, stats: dict | None = None,
            hash_compaction: bool = False, fp_bits: int = 64, symmetry: bool = False,
            por: bool = False,
            workers: int = 1, checkpoint: str | None = None, checkpoint_every: float = 30.0,
            recover: str | None = None, _chunk: int | None = None, _sym=None, _por=None) -> Result:
    """Exhaustive BFS in C; the same Result as :func:`revoke_check.engines.explicit.explore`.

    With ``symmetry`` the search stores one representative per orbit of the
    proved symmetry group (:mod:`revoke_check.engines.symmetry`); a
    counterexample is made concrete in Python (see :func:`_symmetric_path`).

    With ``hash_compaction`` only a 64-bit fingerprint of each state is stored:
    a violation is still certain (replayed in Python), but a search without one
    is reported ``incomplete`` with "holds (hash compaction, P(miss) <= ...)",
    never ``holds``.

    With ``por`` the search expands ample sets (:mod:`revoke_check.engines.compiled_por`:
    the same states as the Python ``--por`` search); a violation it finds is
    re-searched without POR (symmetry kept) by :func:`_por_violation` for a shortest
    trace.  Sequential only: ``por`` with ``workers`` > 1, ``checkpoint``, ``recover``
    or ``hash_compaction`` is a ValueError.

    Raises :class:`CompileError` when there is no compiler (the caller falls
    back to the Python engine and says so).  ``stats`` receives the memory
    figures (``bytes``: the packed states, parent ids, transition indices and the
    whole table, in use; ``alloc_bytes``: the same allocated, including grown but
    untouched capacity; ``state_bytes``: packed bytes per state).

    ``workers`` > 1, ``checkpoint`` or ``recover`` run the level-synchronous
    search of :mod:`revoke_check.engines.compiled_mt` (the same ids, counts and
    first counterexample as one worker); ``checkpoint`` is written every
    ``checkpoint_every`` seconds and when the search stops incomplete (a limit,
    Ctrl-C); ``recover`` continues from one (:class:`CheckpointError` if it is
    of another model or search, or corrupt).
    """
    t0 = time.monotonic()
    sem = Semantics(model, checks)      # the reference semantics rebuilds traces and messages
    mt = workers > 1 or checkpoint or recover
    if por and (mt or hash_compaction):
        raise ValueError("--por: the compiled engine reduces sequentially (no --workers, "
                         "--checkpoint, --recover or --hash-compaction)")
    sym = _sym if symmetry else None
    if symmetry and sym is None:
        from revoke_check.engines.symmetry import find_symmetry
        sym = find_symmetry(model, checks)
    po = _por if por else None      # _por: a given Por (the tests' unsound naive ones)
    if por and po is None:
        from revoke_check.engines.por import Por
        po = Por(model, checks)
    src = generate_c(model, checks, fp_bits=fp_bits, sym=sym, por=po)
    lib = load(src)
    if progress_secs:
        from revoke_check import interrupt
        interrupt.note(own_progress=True)     # the C prints its own lines: the CLI's ticker stays quiet
    names = [p.name for p in checks.properties]
    res = Result(HOLDS, model.config.name, model.variant, "compiled", names, proof="explicit")
    if symmetry or por:
        notes = [sym.describe()] if symmetry and sym is not None else []
        if po is not None:
            notes.append(f"por: {len(po.visible)} of {len(model.transitions)} transitions visible")
        res.reductions = {"symmetry": bool(symmetry), "por": bool(por), "notes": notes}
    nt = len(model.transitions)
    cov = (ctypes.c_uint64 * max(1, nt))()
    wits = [w for w, _ in checks.witnesses]
    reached_c = (ctypes.c_uint8 * max(1, len(wits)))()
    lo_cap = 4096
    lolog = (ctypes.c_int32 * (3 * lo_cap))()
    run = _Run(max_states=-1 if max_states is None else int(max_states),
               max_seconds=float(max_seconds or 0.0), progress_secs=float(progress_secs or 0.0),
               check_lock_order=1 if checks.lock_order else 0,
               hash_compact=1 if hash_compaction else 0)
    if mt:
        _check_checkpoint_paths(checkpoint, recover)
    with _LOCK:
        if mt:
            lib.rc_mt_chunk(int(_chunk or 0))   # a test hook: small chunks split the levels
            _run_interruptibly(lib, run, cov, reached_c, lolog, lo_cap, int(workers),
                               lib.digest.encode(), os.fsencode(checkpoint) if checkpoint else None,
                               float(checkpoint_every or 0.0),
                               os.fsencode(recover) if recover else None, entry=lib.rc_explore_mt)
        else:
            _run_interruptibly(lib, run, cov, reached_c, lolog, lo_cap)
        try:
            path = None
            if run.status in (1, 2):
                path = _path(lib, run.vstate)
            if stats is not None:
                stats.update(bytes=run.bytes, alloc_bytes=run.alloc_bytes,
                             state_bytes=lib.rc_layout(), c_seconds=run.seconds,
                             c_cpu_seconds=run.cpu_seconds,
                             digest=lib.digest)
                if mt:   # the calling thread's CPU seconds per phase (compiled_mt.py)
                    ph = (ctypes.c_double * 3)()
                    lib.rc_mt_phase_seconds(ph)
                    stats.update(phase_cpu=list(ph))
        finally:
            lib.rc_free()
    res.distinct_states, res.transitions, res.depth = run.distinct, run.edges, run.maxdepth
    res.coverage = list(cov)[:nt]
    res.witnesses = {w: bool(reached_c[k]) for k, w in enumerate(wits)}

    def done():
        res.seconds = time.monotonic() - t0
        return res

    if run.status in (7, 8, 9):
        from revoke_check.engines.compiled_mt import CheckpointError
        raise CheckpointError({7: f"{recover}: a checkpoint of another model, properties or search "
                                  "(its digest or hash compaction differs)",
                               8: f"{recover}: not a readable checkpoint (corrupt or truncated)",
                               9: f"{checkpoint}: cannot write the checkpoint"}[run.status])

    if run.status == 6:
        res.verdict = INCOMPLETE
        res.message = res.incomplete_reason = "interrupted"
        return done()
    if run.status == 5:
        res.verdict, res.message = INCOMPLETE, "out of memory (compiled engine)"
        res.incomplete_reason = res.message
        return done()
    if run.status == 3:
        res.verdict = INCOMPLETE
        res.message = res.incomplete_reason = f"state limit of {max_states} reached"
        return done()
    if run.status == 4:
        res.verdict = INCOMPLETE
        res.message = res.incomplete_reason = f"time limit of {max_seconds:g}s reached"
        return done()
    if po is not None and run.status in (1, 2):
        return _por_violation(model, checks, sem, res, path, run, symmetry, sym, max_seconds, done)
    if sym is not None and sym.active and run.status in (1, 2):
        if run.status == 1 and run.vkind == 4:
            # a lockdep cycle: its description names the threads of the edges seen first; the
            # unreduced explorer bounded to this depth reports the same kind of shortest one
            from revoke_check.engines.reduced import _shortest_again
            res.verdict = VIOLATED
            _shortest_again(model, checks, sem, res, len(path) + 1, False, None, max_seconds, "compiled")
            return done()
        path = _symmetric_path(sem, sym, path)
    if run.status == 2:   # the Python semantics names the step and the value
        s = _replay(sem, path)
        try:
            sem.expand(s)      # a domain overflow, or an underflow no property asserts
        except ModelError as e:
            res.verdict, res.message = ERROR, str(e)
            res.trace = trace_from_path(sem, path, prop=None, kind="model-error", message=str(e),
                                        engine="compiled")
            return done()
        raise RuntimeError("internal: the compiled engine reports a model error the Python "
                           "semantics does not raise")
    if run.status == 1:
        s = _replay(sem, path)
        fire = run.vtrans if run.vkind in (3, 4) else None
        if fire is not None and sym is not None and sym.active:   # the concrete image of the step
            fire = next((ti for ti in sorted([t for t, _ in sem.successors(s)] +
                                             [t for t, _ in sem.underflows(s)])
                         if violation_at(sem, s, fire=ti)), fire)
        if run.vkind == 4:
            v = _lock_cycle(model, checks, lolog, run)
        elif run.vkind == 3:
            v = violation_at(sem, s, fire=fire)
        else:
            v = violation_at(sem, s)
        confirm_violation(res, sem, path, fire, v, "compiled", f"kind {run.vkind}")
        return done()
    vac = []
    for p in checks.properties:
        ws = [w for w, q in checks.witnesses if q == p.name]
        if ws and not any(res.witnesses[w] for w in ws):
            vac.append(p.name)
    res.vacuous = vac
    if hash_compaction:
        # Omitted states are the only error of hash compaction; the chance that two of the
        # n stored (reachable) states share a fingerprint is at most n(n-1)/2 / 2^64 for a
        # uniform hash: an estimate, since states hidden by a collision are not counted.
        n = res.distinct_states
        pm = min(1.0, n * (n - 1) / 2 / 2.0**fp_bits)
        res.verdict, res.proof = INCOMPLETE, None
        res.message = (f"holds (hash compaction, P(miss) <= ~{pm:.1e}): no violation among "
                       f"{n} states with distinct {fp_bits}-bit fingerprints; not a proof"
                       + (f"; no witness reached for {', '.join(vac)}" if vac else ""))
        res.incomplete_reason = res.message
        return done()
    if po is not None:
        res.reductions["notes"].append(f"por: {run.partial} of {run.distinct} states expanded partially")
    from revoke_check.engines.explicit import judge_vacuity   # required witnesses too, as explicit
    judge_vacuity(res, checks, res.witnesses)
    return done()


def _por_violation(model, checks, sem, res, path, run, symmetry, sym, max_seconds, done):
    """A violation of the reduced search: the reduced path need not be a shortest one, so
    (as :func:`revoke_check.engines.reduced._shortest_again`, reused) a search without POR
    reports one: the compiled one, symmetry kept (it stops at its first violation, no
    deeper than this one); for a lockdep cycle the unreduced Python explorer bounded to
    this depth, as with --symmetry (its description names the edges it saw first)."""
    from revoke_check.engines.reduced import _shortest_again
    L = len(path)       # the reduced path to the state where the search stopped
    if run.status == 1 and run.vkind in (3, 4):
        L += 1          # the step fired from the stored state
    res.verdict = VIOLATED
    if run.status == 1 and run.vkind == 4:
        _shortest_again(model, checks, sem, res, L, False, None, max_seconds, "compiled")
    else:
        _shortest_again(model, checks, sem, res, L, symmetry, sym, max_seconds, "compiled",
                        research=lambda: explore(model, checks, max_seconds=max_seconds,
                                                 symmetry=symmetry, _sym=sym))
    return done()


def _check_checkpoint_paths(checkpoint, recover):
    from revoke_check.engines.compiled_mt import CheckpointError
    if recover and not os.path.isfile(recover):
        raise CheckpointError(f"{recover}: no such checkpoint file")
    if checkpoint:
        d = os.path.dirname(os.path.abspath(checkpoint))
        if not os.path.isdir(d) or not os.access(d, os.W_OK):
            raise CheckpointError(f"{checkpoint}: cannot write the checkpoint (directory not writable)")


def _run_interruptibly(lib, run, *args, entry=None):
    """The C search in a worker thread, so that Ctrl-C stops it (as an incomplete search).

    Completion is signalled by an Event, not by Thread.join: an interrupted join can
    mark a still running thread as finished (CPython gh-90882), and the search's
    arrays must not be freed under it.
    """
    finished = threading.Event()

    def work():
        try:
            (entry or lib.rc_explore)(ctypes.byref(run), *args)
        finally:
            finished.set()
    threading.Thread(target=work, daemon=True).start()
    stopping = False
    while not finished.is_set():
        try:
            finished.wait(0.2)
        except KeyboardInterrupt:
            if not stopping:
                lib.rc_stop()
                stopping = True


def _path(lib, i: int) -> list:
    buf = (ctypes.c_int32 * 65536)()
    k = lib.rc_path(i, buf, 65536)
    if k >= 65536:
        raise RuntimeError("internal: counterexample longer than 65536 steps")
    return list(buf[:k])[::-1]


def _symmetric_path(sem, sym, path):
    """The C search's path runs through representatives: replay it with ``canon``
    after every step, then rebuild a concrete path through the same orbits."""
    from revoke_check.engines.symmetry import concrete_path
    reps = [sym.canon(tuple(sem.model.init))]
    for ti in path:
        n = sem.enabled(reps[-1], ti)
        if n is None:
            raise RuntimeError(f"internal: compiled path step {ti} is not enabled at its representative")
        reps.append(sym.canon(n))
    return concrete_path(sem, sym, reps)


def _replay(sem, path):
    s = sem.model.init
    for ti in path:
        s = sem.enabled(s, ti)
        if s is None:
            raise RuntimeError(f"internal: compiled path step {ti} is not enabled in the Python semantics")
    return s


def confirm_violation(res, sem, path, fire, v, engine: str, what: str):
    """Fill ``res`` with the violation ``v`` the Python semantics found at the end of ``path``
    (plus the firing step ``fire``, if any) that a C search reported; ``v`` None is an
    internal error (the two semantics disagree)."""
    if v is None:
        raise RuntimeError(f"internal: the {engine} engine reports a violation ({what}) "
                           "the Python semantics does not confirm")
    full = path + ([fire] if fire is not None else [])
    p, kind, message = v
    res.verdict, res.property, res.message = VIOLATED, p, message
    res.trace = trace_from_path(sem, full, prop=p, kind=kind, message=message, engine=engine)
    res.depth = len(full)
    return res


def _lock_cycle(model, checks, lolog, run):
    """Rebuild lockdep's graph from C's edge log (same edges, same order) and describe the cycle."""
    from revoke_check.properties.lock_order import LockOrder, cycle_through
    n = int(run.lo_edges)
    if n > len(lolog) // 3:
        raise RuntimeError("internal: lock-order edge log overflow")
    lo = LockOrder.of(model)
    _, classes = _lock_order_c(model, checks)
    edges = [(classes[lolog[3 * k]], classes[lolog[3 * k + 1]], lolog[3 * k + 2]) for k in range(n)]
    for h, c, ti in edges[:-1]:
        tr = model.transitions[ti]
        lo.graph.add_edge(h, c, thread=tr.thread, label=tr.label)
    h, c, ti = edges[-1]
    if ti != run.vtrans:
        raise RuntimeError("internal: lock-order edge log does not end at the violating step")
    cyc = cycle_through(lo.graph, h, c)
    if cyc is None:
        raise RuntimeError("internal: the compiled lock-order cycle is not a cycle in Python")
    tr = model.transitions[ti]
    lo.graph.add_edge(h, c, thread=tr.thread, label=tr.label)
    return checks.lock_order[0], "lock-order", lo.describe(h, c, cyc)


def compiler_available() -> bool:
    return find_compiler() is not None


def explore_or_fallback(model, checks, *, max_states=None, max_seconds=None, progress_secs=0.0,
                        stats=None, hash_compaction=False, symmetry=False, por=False, **mt) -> Result:
    """The compiled engine, or the Python explorer (saying so on stderr) when no compiler is found."""
    try:
        return explore(model, checks, max_states=max_states, max_seconds=max_seconds,
                       progress_secs=progress_secs, stats=stats, hash_compaction=hash_compaction,
                       symmetry=symmetry, por=por, **mt)
    except CompileError as e:
        print(f"revoke-check: compiled engine unavailable ({e}); using the Python explicit engine",
              file=sys.stderr)
        if symmetry or por:
            from revoke_check.engines.reduced import explore_reduced
            return explore_reduced(model, checks, symmetry=symmetry, por=por, max_states=max_states,
                                   max_seconds=max_seconds)
        from revoke_check.engines.explicit import explore as py_explore
        return py_explore(model, checks, max_states=max_states, max_seconds=max_seconds)
