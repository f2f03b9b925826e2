"""The distributed explorer: the compiled breadth-first search, partitioned by state hash across Ray actors.

Each of N actors (one process, anywhere in a Ray cluster) owns the states whose
hash falls in its partition: it loads the compiled explorer's C (the source of
:mod:`revoke_check.engines.compiled` plus the entry points in ``DIST_C``, built
once per node into the compile cache) and keeps its partition's visited set in
that runtime's packed arena and table, with a parent pointer (owner, id,
transition) per state.  The search is level-synchronous: every actor expands
its part of the frontier in C, routes each successor to its owner, and each
owner interns the successors sent to it, in the search's global order.

Determinism: a successor event is keyed by (the BFS rank of its source state
in its level, its position among that state's successors), which is exactly
the order in which the single-process search meets it.  An owner interns the
successors it receives in key order, so a state is new at its first
discovery (a sender routes a state once per level, at its least key there,
and keeps back the states it owns and has already: neither can change which
key is least or whether a state is new), and the driver ranks the new states of a level by their keys (one
8-byte key per new state passes through the driver).  Every check is an event
with a place in that order (the step assertion, step witness, lock-order
dependency, interning with the state witnesses and the invariants of a
successor, in that order; a model error or a deadlock or at-end violation of
a state before its successors); the driver takes the first violation of the
level in that order, and the counts, coverage and witnesses are those of the
events up to it.  So the distinct states, transitions, coverage, verdict,
violated property and the counterexample are those of the compiled and
explicit engines (a state or time limit is checked between levels, so an
incomplete search stops at a level boundary).  Lock order: each actor starts a
level with the global dependency graph, logs the pairs new to it with their
keys, and the driver replays the merged log in key order with lockdep's cycle
test.  The counterexample is rebuilt by following parent pointers across
actors and replayed on the Python semantics, as the compiled engine does.
"""
from __future__ import annotations

import ctypes
import os
import sys
import time
from types import SimpleNamespace

from revoke_check.engines import compiled
from revoke_check.model.lang import ModelError
from revoke_check.replay import trace_from_path, violation_at
from revoke_check.result import ERROR, HOLDS, INCOMPLETE, VACUOUS, Result
from revoke_check.semantics import Semantics

__all__ = ["explore", "DistributedError", "DIST_C", "source"]

UNDER_BIT = 1 << 30


class DistributedError(RuntimeError):
    """Ray is missing, the cluster cannot be reached or is too small: one line, exit 2."""


DIST_C = r"""
/* --- distributed entry points (revoke_check/engines/distributed.py) ---
   One process holds one partition, in the arena and table of the runtime above
   (ids in the order the states were interned). */
static int64_t *d_lokey;

int rc_d_nw(void) { return NW; }
int rc_d_nwit(void) { return NWIT; }
int rc_d_ncls(void) { return NCLS; }
int64_t rc_d_count(void) { return (int64_t)n_states; }

int rc_d_init(void) {
  free_all(); hc = 0;
  table = calloc(1024, sizeof(uint32_t)); tmask = 1023;
  return table ? 0 : -1;
}

void rc_d_init_state(uint64_t *w, uint64_t *h) { pack(INIT, w); *h = hash_words(w); }

/* Intern n packed states in the given order (the order of their first discovery);
   fresh[k] = 1 when new (its id is the next one).  A fresh state runs the state
   witnesses (wfirst[x]: position of the first one reaching x) and the invariants.
   Returns the position of the first fresh state violating them, -1 when none,
   -2 out of memory. */
int64_t rc_d_insert(const uint64_t *in, const uint64_t *hs, int64_t n, uint8_t *fresh,
                    uint8_t *reached, int64_t *wfirst) {
  uint8_t before[NWIT]; int s[NV]; uint64_t w[NW];
  for (int64_t k = 0; k < n; k++) {
    int f;
    memcpy(w, in + k * NW, sizeof w);
    if (intern(w, hs[k], &f) < 0) return -2;
    fresh[k] = (uint8_t)f;
    if (!f) continue;
    unpack(w, s);
    memcpy(before, reached, NWIT);
    witness_state(s, reached);
    for (int x = 0; x < NWIT; x++) if (reached[x] && !before[x]) wfirst[x] = k;
    if (!inv_ok(s)) return k;
  }
  return -1;
}

/* The level's successors already routed by this process (exact: packed states compared),
   so that a state goes to its owner once per sender and level, at its first (least) key. */
static uint64_t *d_w, *d_h; static uint32_t *d_tab; static uint64_t d_mask, d_n, d_cap;
static int d_me, d_parts;

static int d_grow(void) {
  uint64_t size = d_tab ? (d_mask + 1) * 2 : 1 << 16;
  uint32_t *t = calloc(size, sizeof(uint32_t));
  if (!t) return -1;
  for (uint64_t k = 0; k < d_n; k++) {
    uint64_t h = d_h[k] & (size - 1);
    while (t[h]) h = (h + 1) & (size - 1);
    t[h] = (uint32_t)(k + 1);
  }
  free(d_tab); d_tab = t; d_mask = size - 1;
  return 0;
}

/* 1 if w was routed before in this level, else remember it: 0; -1 out of memory */
static int d_routed(const uint64_t *w, uint64_t hh) {
  if (!d_tab && d_grow() < 0) return -1;
  uint64_t h = hh & d_mask;
  while (d_tab[h]) {
    uint64_t k = d_tab[h] - 1;
    if (d_h[k] == hh && memcmp(d_w + k * NW, w, sizeof(uint64_t) * NW) == 0) return 1;
    h = (h + 1) & d_mask;
  }
  if (d_n == d_cap) {
    uint64_t nc = d_cap ? d_cap * 2 : 1 << 12;
    uint64_t *a = realloc(d_w, nc * NW * sizeof(uint64_t)); if (!a) return -1; d_w = a;
    uint64_t *b = realloc(d_h, nc * sizeof(uint64_t)); if (!b) return -1; d_h = b;
    d_cap = nc;
  }
  if (d_n >= 0xFFFFFFF0ull) return -1;
  memcpy(d_w + d_n * NW, w, sizeof(uint64_t) * NW); d_h[d_n] = hh;
  d_tab[h] = (uint32_t)(++d_n);
  if (d_n * 10 > (d_mask + 1) * 7 && d_grow() < 0) return -1;
  return 0;
}

/* is w in this partition's visited set (the levels interned so far)? */
static int d_known(const uint64_t *w, uint64_t hh) {
  uint64_t h = hh & tmask;
  uint32_t tag = tbits >= 32 ? 0 : TAG(hh);
  while (table[h]) {
    uint32_t x = table[h];
    if ((tbits >= 32 || ((x ^ tag) >> tbits) == 0) && memcmp(arena + (uint64_t)(SLOT_ID(x) - 1) * SB, w, SB) == 0)
      return 1;
    h = (h + 1) & tmask;
  }
  return 0;
}

/* a level starts from the global lock dependency graph; new pairs are logged with their (id, j) */
void rc_d_level(const uint64_t *adj, int32_t *lolog, int64_t *lokey, int32_t cap, int32_t me, int32_t parts) {
  memcpy(lo_adj, adj, sizeof lo_adj); lo_log = lolog; lo_log_cap = cap; lo_log_n = 0; d_lokey = lokey;
  d_me = me; d_parts = parts; d_n = 0;
  if (d_tab) memset(d_tab, 0, (d_mask + 1) * sizeof(uint32_t));
}
int64_t rc_d_lo_n(void) { return lo_log_n; }

/* Expand ids [i0, i1) in order while the event outputs have room for NT more.  Every
   successor event (a refcount underflow flagged by UNDER_BIT in its ti) gets its parent
   id, position j and ti in e*; a successor state goes out (packed, hash, parent, j, ti in
   o*) at its first event in this level, unless this process owns it and has it already
   (neither can be new: the owner keeps a state's least key, and this sender's first
   event has its least key from here).  Stops at this partition's first violation,
   v = {kind, id, j, ti} (1 model error, 2 deadlock/at-end, 3 step assertion, 4 a cycle in
   the local lock graph, 5 out of memory).  Returns the next id to expand. */
int64_t rc_d_expand(int64_t i0, int64_t i1, int64_t cap, uint64_t *ow, uint64_t *oh, int64_t *opar,
                    int32_t *oj, int32_t *oti, int64_t *nout, int64_t *epar, int32_t *ej, int32_t *eti,
                    int64_t *nev, int32_t check_lo, int64_t *v, uint8_t *reached, int64_t *wid, int32_t *wj) {
  int *buf = malloc(sizeof(int) * NV * (NT ? NT : 1)), tis[NT ? NT : 1], s[NV];
  uint64_t w[NW], pw[NW]; uint8_t before[NWIT];
  int64_t m = 0, e = 0, i = i0;
  v[0] = 0;
  if (!buf) { v[0] = 5; *nout = 0; *nev = 0; return i; }
  for (; i < i1; i++) {
    if (e + NT > cap) break;
    memset(w, 0, sizeof w); memcpy(w, arena + (uint64_t)i * SB, SB); unpack(w, s);
    int err_ti = -1;
    int k = successors(s, buf, tis, &err_ti);
    if (k < 0) { v[0] = 1; v[1] = i; v[2] = -1; v[3] = err_ti; goto out; }
    if (k == 0 && terminal_bad(s)) { v[0] = 2; v[1] = i; v[2] = -1; v[3] = -1; goto out; }
    for (int j = 0; j < k; j++) {
      int ti = tis[j] & ~UNDER_BIT;
      epar[e] = i; ej[e] = j; eti[e] = tis[j]; e++;
      if (!step_ok(ti, s)) { v[0] = 3; v[1] = i; v[2] = j; v[3] = ti; goto out; }
      if (tis[j] & UNDER_BIT) continue;
      memcpy(before, reached, NWIT);
      witness_step(ti, s, reached);
      for (int x = 0; x < NWIT; x++) if (reached[x] && !before[x]) { wid[x] = i; wj[x] = j; }
      if (check_lo) {
        int e0 = lo_log_n, c = lock_step(ti, s);
        for (int q = e0; q < lo_log_n && q < lo_log_cap; q++) { d_lokey[2 * q] = i; d_lokey[2 * q + 1] = j; }
        if (c) { v[0] = 4; v[1] = i; v[2] = j; v[3] = ti; goto out; }
      }
      pack(buf + j * NV, pw);
      uint64_t hh = hash_words(pw);
      int r = d_routed(pw, hh);
      if (r < 0) { v[0] = 5; goto out; }
      if (r) continue;
      if ((int)(((hh >> 32) * (uint64_t)d_parts) >> 32) == d_me && d_known(pw, hh)) continue;
      memcpy(ow + m * NW, pw, sizeof pw); oh[m] = hh;
      opar[m] = i; oj[m] = j; oti[m] = tis[j]; m++;
    }
  }
out:
  free(buf); *nout = m; *nev = e;
  return i;
}
"""


def source(model, checks) -> str:
    """The compiled explorer's C with the distributed entry points after it."""
    return compiled.generate_c(model, checks) + DIST_C


def _bind(lib):
    c = ctypes
    P = c.c_void_p
    lib.rc_d_init.restype = c.c_int
    lib.rc_d_nw.restype = lib.rc_d_nwit.restype = lib.rc_d_ncls.restype = c.c_int
    lib.rc_d_count.restype = c.c_int64
    lib.rc_d_lo_n.restype = c.c_int64
    lib.rc_d_init_state.argtypes = [P, P]
    lib.rc_d_init_state.restype = None
    lib.rc_d_insert.argtypes = [P, P, c.c_int64, P, P, P]
    lib.rc_d_insert.restype = c.c_int64
    lib.rc_d_level.argtypes = [P, P, P, c.c_int32, c.c_int32, c.c_int32]
    lib.rc_d_level.restype = None
    lib.rc_d_expand.argtypes = [c.c_int64, c.c_int64, c.c_int64, P, P, P, P, P, P, P, P, P, P, c.c_int32,
                                P, P, P, P]
    lib.rc_d_expand.restype = c.c_int64
    return lib


def _ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


def owner_of(h, n: int):
    """The partition of a state with hash ``h`` (numpy uint64): from bits 32..63, which the
    table index (the low bits) does not use."""
    import numpy as np
    return (((h >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32)).astype(np.int64)


class Partition:
    """One actor: a partition of the visited set and its part of each BFS level."""

    def __init__(self, src: str, me: int, n: int, nt: int, env: dict):
        import numpy as np
        os.environ.update(env)            # the compile cache and flags of the driver
        self.np = np
        self.lib = _bind(compiled.load(src))   # built once per node (cached by sha256)
        if self.lib.rc_d_init() < 0:
            raise MemoryError("cannot allocate the state table")
        self.me, self.n, self.nt, self.km = me, n, nt, nt + 1
        self.nw, self.nwit, self.ncls = self.lib.rc_d_nw(), self.lib.rc_d_nwit(), self.lib.rc_d_ncls()
        self.lo = self.hi = 0             # the frontier: ids [lo, hi)
        self.parents = []                 # per level: (src, par, ti) arrays of the new states
        self.parent_all = None
        self.edges = 0
        self.cov = np.zeros(max(1, nt), np.int64)
        self.ev_key = np.zeros(0, np.int64)   # the current level's successor events
        self.ev_ti = np.zeros(0, np.int64)
        self.lolog = np.zeros(3 * (self.ncls * self.ncls + 1), np.int32)
        self.lokey = np.zeros(2 * (self.ncls * self.ncls + 1), np.int64)

    def ping(self):
        return os.getpid()

    def expand(self, ranks, adj, reached, check_lo):
        """Expand the frontier (global BFS ranks ``ranks``); returns a summary and one part per owner."""
        np, lib = self.np, self.lib
        self.edges += len(self.ev_key)                      # the previous level is complete
        self.cov += np.bincount(self.ev_ti, minlength=len(self.cov))[:len(self.cov)]
        lo, hi = self.lo, self.hi
        lib.rc_d_level(_ptr(np.asarray(adj, np.uint64)), _ptr(self.lolog), _ptr(self.lokey),
                       len(self.lolog) // 3, self.me, self.n)
        reached_c = np.asarray(reached, np.uint8).copy()
        wid = np.full(self.nwit, -1, np.int64)
        wj = np.full(self.nwit, -1, np.int32)
        cap = max(self.nt + 1, 1 << 16)
        chunks, viol = [], None
        i = lo
        while i < hi:
            ow = np.empty(cap * self.nw, np.uint64)
            oh, opar = np.empty(cap, np.uint64), np.empty(cap, np.int64)
            oj, oti = np.empty(cap, np.int32), np.empty(cap, np.int32)
            epar, ej, eti = np.empty(cap, np.int64), np.empty(cap, np.int32), np.empty(cap, np.int32)
            nout, nev, v = ctypes.c_int64(0), ctypes.c_int64(0), np.zeros(4, np.int64)
            i = lib.rc_d_expand(i, hi, cap, _ptr(ow), _ptr(oh), _ptr(opar), _ptr(oj), _ptr(oti),
                                ctypes.byref(nout), _ptr(epar), _ptr(ej), _ptr(eti), ctypes.byref(nev),
                                int(check_lo), _ptr(v), _ptr(reached_c), _ptr(wid), _ptr(wj))
            m, e = nout.value, nev.value
            chunks.append((ow[:m * self.nw].reshape(m, self.nw), oh[:m], opar[:m], oj[:m], oti[:m],
                           epar[:e], ej[:e], eti[:e]))
            if v[0] == 5:
                raise MemoryError("out of memory expanding a level")
            if v[0]:
                viol = v
                break
        if chunks:
            ow, oh, opar, oj, oti, epar, ej, eti = (np.concatenate([c[k] for c in chunks]) for k in range(8))
        else:
            ow = np.zeros((0, self.nw), np.uint64)
            oh, opar, epar = np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64)
            oj, oti, ej, eti = (np.zeros(0, np.int32) for _ in range(4))
        ranks = np.asarray(ranks, np.int64)

        def key(ids, js):
            return ranks[np.asarray(ids, np.int64) - lo] * self.km + np.asarray(js, np.int64) + 1
        self.ev_key, self.ev_ti = key(epar, ej), (eti & ~UNDER_BIT).astype(np.int64)
        keys = key(opar, oj)
        owner = owner_of(oh, self.n)
        parts = []
        for o in range(self.n):
            sel = owner == o
            parts.append(dict(w=ow[sel], h=oh[sel], key=keys[sel], par=opar[sel],
                              ti=oti[sel].astype(np.int64), src=self.me))
        summary = dict(viol=None, lock=[], wstep={})
        if viol is not None:
            vk = int(key([viol[1]], [viol[2]])[0])
            summary["viol"] = (int(viol[0]), vk, self.me, int(viol[1]), int(viol[3]))
        nlo = lib.rc_d_lo_n()
        if nlo > len(self.lolog) // 3:
            raise RuntimeError("internal: lock-order log overflow")
        if nlo:
            lk = key(self.lokey[0:2 * nlo:2], self.lokey[1:2 * nlo:2])
            summary["lock"] = [(int(lk[e]), e, int(self.lolog[3 * e]), int(self.lolog[3 * e + 1]),
                                int(self.lolog[3 * e + 2]), self.me, int(self.lokey[2 * e]))
                               for e in range(nlo)]
        for x in range(self.nwit):
            if wid[x] >= 0:
                summary["wstep"][x] = int(key([wid[x]], [wj[x]])[0])
        return (summary, *parts)

    def insert(self, reached, *parts):
        """Intern the successors routed here, in key order; the next frontier is the new ones."""
        np = self.np
        parts = [p for p in parts if len(p["key"])]
        self.lo = self.hi
        if not parts:
            self.parents.append((np.zeros(0, np.int64),) * 3)
            return dict(fresh=np.zeros(0, np.int64), inv=None, wstate={})
        w = np.ascontiguousarray(np.concatenate([p["w"] for p in parts]))
        h = np.concatenate([p["h"] for p in parts])
        keys = np.concatenate([p["key"] for p in parts])
        par = np.concatenate([p["par"] for p in parts])
        ti = np.concatenate([p["ti"] for p in parts])
        src = np.concatenate([np.full(len(p["key"]), p["src"], np.int64) for p in parts])
        order = np.argsort(keys, kind="stable")
        w, h, keys, par, ti, src = (np.ascontiguousarray(a[order]) for a in (w, h, keys, par, ti, src))
        fresh = np.zeros(len(keys), np.uint8)
        reached_c = np.asarray(reached, np.uint8).copy()
        wfirst = np.full(self.nwit, -1, np.int64)
        stop = self.lib.rc_d_insert(_ptr(w), _ptr(h), len(keys), _ptr(fresh), _ptr(reached_c), _ptr(wfirst))
        if stop == -2:
            raise MemoryError("out of memory interning states")
        f = fresh.astype(bool)
        self.parents.append((src[f], par[f], ti[f] & ~UNDER_BIT))
        self.parent_all = None
        self.hi = self.lib.rc_d_count()
        inv = None
        if stop >= 0:
            inv = (int(keys[stop]), self.me, self.lo + int(f[:stop + 1].sum()) - 1)
        return dict(fresh=keys[f], inv=inv,
                    wstate={x: int(keys[wfirst[x]]) for x in range(self.nwit) if wfirst[x] >= 0})

    def totals(self, vkey, vsub):
        """Transitions and coverage of the events up to the violation (vkey, vsub), or of all."""
        np = self.np
        sel = np.ones(len(self.ev_key), bool) if vkey is None else (self.ev_key <= vkey)
        return (self.edges + int(sel.sum()),
                self.cov + np.bincount(self.ev_ti[sel], minlength=len(self.cov))[:len(self.cov)])

    def parent(self, i):
        """(owner, id, transition) of the parent of state ``i``; owner -1 for the initial state."""
        np = self.np
        if self.parent_all is None:
            self.parent_all = tuple(np.concatenate([p[k] for p in self.parents]) for k in range(3))
        s, p, t = self.parent_all
        return int(s[i]), int(p[i]), int(t[i])


def _reach(adj, src, dst):
    """lockdep's test, as lo_reach in the C: is dst reachable from src?"""
    seen = frontier = 1 << src
    while frontier:
        nxt = 0
        c = 0
        f = frontier
        while f:
            if f & 1:
                nxt |= adj[c]
            f >>= 1
            c += 1
        nxt &= ~seen
        if nxt >> dst & 1:
            return True
        seen |= nxt
        frontier = nxt
    return False


def _probe(address: str, timeout: float = 5.0):
    """A head that does not answer: one line now (ray.init would retry for minutes)."""
    import socket
    a = address.split("://")[-1]
    if a == "auto" or ":" not in a:
        return
    host, _, port = a.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except ValueError:
        raise DistributedError(f"--ray-address {address}: expected HOST:PORT, auto or local") from None
    except OSError as e:
        raise DistributedError(f"cannot reach the Ray head at {address}: {e.strerror or e}") from None


def _connect(ray, address: str, workers: int):
    """Join the cluster at ``address`` or start a local one; True when this call started it."""
    if ray.is_initialized():
        started = False
    elif address == "local":
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        started = True
    else:
        _probe(address)
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise DistributedError(f"cannot join the Ray cluster at {address}: {e}") from None
        started = False
    cpus = ray.cluster_resources().get("CPU", 0)
    if cpus < workers:
        if started:
            ray.shutdown()
        raise DistributedError(f"--ray-workers {workers}: the Ray cluster has {cpus:g} CPUs")
    return started


def explore(model, checks, *, address: str = "local", workers: int = 2, max_states: int | None = None,
            max_seconds: float | None = None, progress_secs: float = 0.0, stats: dict | None = None) -> Result:
    """Level-synchronous BFS over ``workers`` Ray actors; the same Result as the compiled engine.

    ``stats`` receives ``start_seconds`` (joining the cluster and starting the actors, each
    loading the library) and ``levels`` (BFS levels expanded)."""
    try:
        import numpy as np
        import ray
    except ImportError:
        raise DistributedError("--engine distributed needs ray and numpy: "
                               "pip install 'revoke-check[distributed]'") from None
    if workers < 1:
        raise DistributedError("--ray-workers must be at least 1")
    t0 = time.monotonic()
    if address != "local" and not ray.is_initialized():
        _probe(address)                    # before the C is built
    sem = Semantics(model, checks)
    src = source(model, checks)
    lib = _bind(compiled.load(src))        # a compile error shows here, once, before any actor
    nt = len(model.transitions)
    km = nt + 1
    names = [p.name for p in checks.properties]
    res = Result(HOLDS, model.config.name, model.variant, "distributed", names, proof="explicit")
    wits = [w for w, _ in checks.witnesses]
    nwit, ncls, nw = lib.rc_d_nwit(), lib.rc_d_ncls(), lib.rc_d_nw()
    check_lo = 1 if checks.lock_order else 0
    env = {k: os.environ[k] for k in ("REVOKE_CHECK_CACHE", "REVOKE_CHECK_CFLAGS", "CC", "XDG_CACHE_HOME")
           if os.environ.get(k)}
    started = _connect(ray, address, workers)
    Actor = ray.remote(num_cpus=1)(Partition)
    actors = [Actor.options(scheduling_strategy="SPREAD").remote(src, k, workers, nt, env)
              for k in range(workers)]
    try:
        ray.get([a.ping.remote() for a in actors])
        if stats is not None:
            stats["start_seconds"] = time.monotonic() - t0
        return _search(ray, np, actors, model, checks, sem, res, wits, nw, nwit, ncls, km, nt,
                       check_lo, max_states, max_seconds, progress_secs, t0, lib, stats)
    finally:
        for a in actors:
            ray.kill(a)
        if started:
            ray.shutdown()


def _search(ray, np, actors, model, checks, sem, res, wits, nw, nwit, ncls, km, nt, check_lo,
            max_states, max_seconds, progress_secs, t0, lib, stats):
    n = len(actors)
    w0, h0 = np.zeros(nw, np.uint64), np.zeros(1, np.uint64)
    lib.rc_d_init_state(_ptr(w0), _ptr(h0))
    o0 = int(owner_of(h0, n)[0])
    reached = [0] * nwit
    root = dict(w=w0.reshape(1, nw), h=h0, key=np.zeros(1, np.int64), par=np.full(1, -1, np.int64),
                ti=np.full(1, -1, np.int64), src=-1)
    empty = dict(w=np.zeros((0, nw), np.uint64), h=np.zeros(0, np.uint64), key=np.zeros(0, np.int64),
                 par=np.zeros(0, np.int64), ti=np.zeros(0, np.int64), src=-1)
    ins = ray.get([a.insert.remote(reached, root if k == o0 else empty) for k, a in enumerate(actors)])
    for x in ins[o0]["wstate"]:
        reached[x] = 1
    distinct, depth, level = 1, 0, 0
    adj = [0] * ncls
    lo_log = []                     # the global dependency graph's edges, in order: (h, c, ti)
    ranks = [np.zeros(1 if k == o0 else 0, np.int64) for k in range(n)]
    last = time.monotonic()

    def finish(violation=None):
        if stats is not None:
            stats["levels"] = level + (violation is not None)
        vkey, vsub = (violation[0], violation[1]) if violation else (None, None)
        tot = ray.get([a.totals.remote(vkey, vsub) for a in actors])
        res.transitions = sum(t[0] for t in tot)
        res.coverage = [int(x) for x in sum(t[1] for t in tot)][:nt]
        res.distinct_states, res.depth = distinct, depth
        res.witnesses = {w: bool(reached[k]) for k, w in enumerate(wits)}

    def path_to(owner, i):
        out = []
        while True:
            s, p, ti = ray.get(actors[owner].parent.remote(i))
            if s < 0:
                return out[::-1]
            out.append(ti)
            owner, i = s, p

    if ins[o0]["inv"] is not None:
        finish((0, 5))
        return _violation(model, checks, sem, res, "inv", [], None, lo_log, t0)
    from revoke_check import interrupt
    while sum(len(r) for r in ranks):
        interrupt.note(states=distinct, depth=level)     # read by Ctrl-C and the CLI's ticker
        interrupt.check()
        now = time.monotonic()
        if max_states is not None and distinct > max_states:
            finish()
            res.verdict = INCOMPLETE
            res.message = res.incomplete_reason = f"state limit of {max_states} reached"
            res.seconds = time.monotonic() - t0
            return res
        if max_seconds and now - t0 > max_seconds:
            finish()
            res.verdict = INCOMPLETE
            res.message = res.incomplete_reason = f"time limit of {max_seconds:g}s reached"
            res.seconds = time.monotonic() - t0
            return res
        if progress_secs and now - last >= progress_secs:
            last = now
            print(f"revoke-check: distributed {model.variant} on {model.config.name}: level {level}, "
                  f"{distinct} distinct, {sum(len(r) for r in ranks)} in the frontier, {n} workers, "
                  f"{distinct / (now - t0):.0f} states/s, {now - t0:.0f}s", file=sys.stderr, flush=True)
        outs = [a.expand.options(num_returns=n + 1).remote(ranks[k], adj, reached, check_lo)
                for k, a in enumerate(actors)]
        # the inserts wait on the parts of every expansion in Ray, not here: one round trip a level
        ins = [a.insert.remote(reached, *[outs[s][1 + k] for s in range(n)]) for k, a in enumerate(actors)]
        summaries = ray.get([o[0] for o in outs])
        ins = ray.get(ins)
        # the first violation of this level, in the single-process search's order
        cands = []
        for s in summaries:
            if s["viol"] is not None:
                kind, vk, a, i, ti = s["viol"]
                if kind in (1, 2):
                    cands.append((vk, 0, "error" if kind == 1 else "terminal", a, i, ti))
                elif kind == 3:
                    cands.append((vk, 1, "step", a, i, ti))
        entries = sorted(e for s in summaries for e in s["lock"])
        new_adj, new_log = list(adj), []
        for key, _, h, c, ti, a, i in entries:
            if new_adj[h] >> c & 1:
                continue
            cyc = h == c or _reach(new_adj, c, h)
            new_adj[h] |= 1 << c
            new_log.append((h, c, ti))
            if cyc:
                cands.append((key, 3, "lock", a, i, ti))
                break
        for r in ins:
            if r["inv"] is not None:
                key, o, i = r["inv"]
                cands.append((key, 5, "inv", o, i, -1))
        v = min(cands) if cands else None

        def happened(k, sub):
            return v is None or (k, sub) <= (v[0], v[1])
        for r, sub in [(s["wstep"], 2) for s in summaries] + [(r["wstate"], 4) for r in ins]:
            for x, k in r.items():
                if happened(k, sub):
                    reached[x] = 1
        keys = [r["fresh"] for r in ins]

        def counted(k):     # new states interned before the violation (an invariant's own: yes)
            if v is None:
                return len(k)
            return int((k < v[0]).sum()) + (int((k == v[0]).sum()) if v[1] >= 4 else 0)
        new = sum(counted(k) for k in keys)
        distinct += new
        if new:
            depth = level + 1
        if v is not None:
            vk, vsub, kind, a, i, ti = v
            finish((vk, vsub))
            if kind == "lock":
                lo_log.extend(new_log)
            path = path_to(a, i)
            return _violation(model, checks, sem, res, kind, path, ti, lo_log, t0)
        adj = new_adj
        lo_log.extend(new_log)
        allk = np.concatenate(keys)
        rank = np.empty(len(allk), np.int64)
        rank[np.argsort(allk, kind="stable")] = np.arange(len(allk), dtype=np.int64)
        ranks, off = [], 0
        for k in keys:
            ranks.append(rank[off:off + len(k)])
            off += len(k)
        level += 1
    finish()
    vac = []
    for p in checks.properties:
        ws = [w for w, q in checks.witnesses if q == p.name]
        if ws and not any(res.witnesses[w] for w in ws):
            vac.append(p.name)
    res.vacuous = vac
    if vac:
        res.verdict = VACUOUS
        res.message = "no witness reached for " + ", ".join(vac)
    res.seconds = time.monotonic() - t0
    return res


def _violation(model, checks, sem, res, kind, path, ti, lo_log, t0):
    """The Result of the first violation: replayed on the Python semantics, as compiled.explore does."""
    s = compiled._replay(sem, path)
    if kind == "error":
        try:
            sem.successors(s)
            for u, _ in sem.underflows(s):
                tr = model.transitions[u]
                if any((u, x) not in checks.refcount_checked for x in tr.updates
                       if x in model.refcount_slots):
                    raise sem.underflow_error(s, u)
        except ModelError as e:
            res.verdict, res.message = ERROR, str(e)
            res.trace = trace_from_path(sem, path, prop=None, kind="model-error", message=str(e),
                                        engine="distributed")
            res.seconds = time.monotonic() - t0
            return res
        raise RuntimeError("internal: the distributed engine reports a model error the Python "
                           "semantics does not raise")
    fire = ti if kind in ("step", "lock") else None
    if kind == "lock":
        flat = [x for e in lo_log for x in e]
        v = compiled._lock_cycle(model, checks, flat, SimpleNamespace(lo_edges=len(lo_log), vtrans=ti))
    else:
        v = violation_at(sem, s, fire=fire) if fire is not None else violation_at(sem, s)
    compiled.confirm_violation(res, sem, path, fire, v, "distributed", kind)
    res.seconds = time.monotonic() - t0
    return res
