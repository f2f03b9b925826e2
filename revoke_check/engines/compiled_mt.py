"""The compiled explorer on several cores, with checkpoints (``--workers``, ``--checkpoint``).

The C here is appended to :func:`revoke_check.engines.compiled.generate_c`'s
translation unit and uses its globals (arena, parent, via, table).  The search
is level-synchronous and cut into chunks of at most ``CH`` parents of one BFS
level; each chunk runs in three phases:

A. (parallel) every worker takes blocks of parents, computes their successors,
   packs and hashes them and evaluates everything that is a pure function of a
   state or step (model error, terminal state, step assertion, invariant of the
   successor, witness bits); it looks each successor up in the visited table
   (read only: nobody writes it in this phase) and inserts the ones not found
   into a chunk-local table with compare-and-swap, keeping in each slot the
   smallest position ``q = parent * MAXK + j`` (the sequential order) at which
   that state occurs.
B. (one thread) walks the chunk in the sequential order and replays the
   sequential search's bookkeeping exactly: transitions, coverage, the first
   violation in (parent, transition) order, lockdep's graph (it depends on the
   order of its edges, so it is only ever updated here), and a fresh id for a
   successor iff it was not visited before and is the first occurrence of its
   state in the chunk.  So ids, parents, counts and the first violation are the
   sequential search's, whatever the number of workers.
C. (parallel) the fresh states are copied into the arena and inserted into the
   visited table (compare-and-swap on empty slots: they are known to be new and
   distinct).

Nothing is pruned: every successor is looked up exactly, so the explored set is
the sequential one.  A checkpoint is written between chunks (a parent boundary,
where the sequential search's state is complete).
"""
from __future__ import annotations

__all__ = ["mt_c", "CheckpointError", "STATUS_OTHER_MODEL", "STATUS_CORRUPT", "STATUS_IO"]

STATUS_OTHER_MODEL, STATUS_CORRUPT, STATUS_IO = 7, 8, 9


class CheckpointError(ValueError):
    """A checkpoint of another model, a corrupt one, or one that cannot be written."""


def max_successors(model) -> int:
    """Most successors one state can have: per thread, the most transitions at one pc."""
    per = {}
    for tr in model.transitions:
        k = (tr.thread, tr.pc_value)
        per[k] = per.get(k, 0) + 1
    best = {}
    for (th, _), n in per.items():
        best[th] = max(best.get(th, 0), n)
    return max(1, sum(best.values()))


def mt_c(model, checks, cexpr) -> str:
    """Witness bit masks (pure functions of a state or step) and the parallel runtime."""
    wit_ids = {w: k for k, (w, _) in enumerate(checks.witnesses)}
    if len(wit_ids) > 64:
        out = ["#define MT_WMASK 0",
               "static uint64_t wmask_state(const int *s, uint64_t done) { (void)s; (void)done; return 0; }",
               "static uint64_t wmask_step(int ti, const int *s, uint64_t done) { "
               "(void)ti; (void)s; (void)done; return 0; }"]
    else:
        # ``done``: the witnesses reached before this chunk (skipped, as witness_state does)
        ws = ["static uint64_t wmask_state(const int *s, uint64_t done) {", "  uint64_t m = 0;"]
        for w, e in checks.state_witness:
            ws.append(f"  if (!(done >> {wit_ids[w]} & 1) && ({cexpr(e)})) m |= 1ull << {wit_ids[w]};")
        ws += ["  return m;", "}"]
        wt = ["static uint64_t wmask_step(int ti, const int *s, uint64_t done) {", "  uint64_t m = 0;",
              "  switch (ti) {"]
        for ti, xs in sorted(checks.step_witness.items()):
            wt.append(f"  case {ti}:")
            for w, e in xs:
                wt.append(f"    if (!(done >> {wit_ids[w]} & 1) && ({cexpr(e)})) m |= 1ull << {wit_ids[w]};")
            wt.append("    break;")
        wt += ["  default: break;", "  }", "  return m;", "}"]
        out = ["#define MT_WMASK 1", "\n".join(ws), "\n".join(wt)]
    out.append(f"#define MAXK {max_successors(model)}")
    out.append(_MT_RUNTIME)
    return "\n\n".join(out)


_MT_RUNTIME = r"""
/* ---- multicore search and checkpoints (compiled_mt.py) ---- */
#include <pthread.h>
#include <unistd.h>

static int CH = 4096;      /* parents per chunk (rc_mt_chunk: smaller in tests) */
void rc_mt_chunk(int n) { CH = n < 1 ? 4096 : n; }
#define BLK 32             /* parents per work item of phase A */

static int *mt_k;          /* per parent: successors, -1 model error */
static uint64_t *mt_off;   /* per parent: the q of its first successor */
static int *mt_err;        /* per parent: the transition of the model error */
static uint8_t *mt_term;   /* per parent: no successor and terminal_bad */
static uint64_t *mt_W;     /* per successor q: packed state (NW words) */
static uint64_t *mt_H;     /* hash */
static int32_t *mt_ti;     /* transition | UNDER_BIT */
static uint8_t *mt_fl;     /* 1 step assertion fails, 2 invariant fails in the successor, 4 visited before */
static uint64_t *mt_wst, *mt_wss;   /* witness bits of the step / of the successor state */
static uint32_t *mt_slot;  /* chunk-local slot of a successor not visited before */
static uint64_t *mt_loc; static uint64_t mt_lmask;   /* chunk-local table: chunk number << 32 | q + 1 */
static uint64_t mt_lgen;   /* this chunk's number: slots of older chunks count as empty (no clearing) */
static uint64_t *mt_newq;  /* per fresh id of the chunk: its q */
static uint64_t mt_lo, mt_n, mt_first, mt_nfresh;    /* chunk parents [mt_lo, mt_lo + mt_n); fresh ids */
static volatile uint64_t mt_next;
static uint64_t mt_done;   /* witnesses reached before this chunk */
static double mt_secs[3];  /* the calling thread's CPU seconds in phases A, B, C (for benchmarks) */
void rc_mt_phase_seconds(double *out) { for (int k = 0; k < 3; k++) out[k] = mt_secs[k]; }
static double thread_cpu(void) { struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int mt_phase, mt_workers;

static int64_t probe(const uint64_t *w, uint64_t hh) {
  if (hc) {
    uint64_t fp = hh & FP_MASK; if (!fp) fp = 1;
    uint64_t h = fp & tmask;
    while (fptable[h]) { if (fptable[h] == fp) return 0; h = (h + 1) & tmask; }
    return -1;
  }
  uint64_t h = hh & tmask;
  uint32_t tag = tbits >= 32 ? 0 : TAG(hh);
  while (table[h]) {
    uint32_t x = table[h];
    if (tbits >= 32 || ((x ^ tag) >> tbits) == 0) {
      uint32_t id = SLOT_ID(x) - 1;
      if (memcmp(arena + (uint64_t)id * SB, w, SB) == 0) return id;
    }
    h = (h + 1) & tmask;
  }
  return -1;
}

/* 1 if q took its slot (it may be the first occurrence), 0 if an earlier q holds it */
static int local_insert(uint64_t q) {
  uint64_t h = mt_H[q] & mt_lmask;
  uint64_t me = mt_lgen << 32 | (q + 1);
  for (;;) {
    uint64_t cur = __atomic_load_n(&mt_loc[h], __ATOMIC_ACQUIRE);
    if ((cur >> 32) != mt_lgen) {
      if (__atomic_compare_exchange_n(&mt_loc[h], &cur, me, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        mt_slot[q] = (uint32_t)h; return 1;
      }
      continue;   /* taken meanwhile: look at it again */
    }
    uint64_t o = (uint32_t)cur - 1;   /* a slot's state never changes within a chunk: only its smallest q */
    if (mt_H[o] == mt_H[q] && memcmp(mt_W + o * NW, mt_W + q * NW, NW * 8) == 0) {
      int took = 0;
      while (me < cur && !(took = __atomic_compare_exchange_n(&mt_loc[h], &cur, me, 0, __ATOMIC_ACQ_REL,
                                                              __ATOMIC_ACQUIRE))) ;
      mt_slot[q] = (uint32_t)h; return took;
    }
    h = (h + 1) & mt_lmask;
  }
}

static __thread int *mt_buf;   /* a worker's successor buffer */

static void phase_a(void) {
  if (!mt_buf) mt_buf = malloc(sizeof(int) * NV * MAXK);
  int *buf = mt_buf, tis[MAXK], s[NV];
  uint64_t w[NW];
  for (;;) {
    uint64_t b = __atomic_fetch_add(&mt_next, BLK, __ATOMIC_RELAXED);
    if (b >= mt_n) break;
    uint64_t e = b + BLK < mt_n ? b + BLK : mt_n;
    /* a block's successors are stored densely from b * MAXK on: q grows with
       (parent, j), so it is the sequential order across blocks too */
    uint64_t off = b * MAXK;
    for (uint64_t p = b; p < e; p++) {
      uint64_t i = mt_lo + p;
      mt_off[p] = off;
      memset(w, 0, sizeof w); memcpy(w, arena + (i - base) * SB, SB); unpack(w, s);
      int err_ti = -1;
      int k = successors(s, buf, tis, &err_ti);
      mt_k[p] = k; mt_err[p] = err_ti; mt_term[p] = 0;
      if (k < 0) continue;
      if (k == 0) { mt_term[p] = (uint8_t)terminal_bad(s); continue; }
      /* pack and hash first, prefetching the table slots (as rc_explore does) */
      for (int j = 0; j < k; j++) {
        if (tis[j] & UNDER_BIT) continue;
        uint64_t q = off + j, *W = mt_W + q * NW;
        canon(buf + j * NV);   /* --symmetry: the orbit's representative (else nothing) */
        pack(buf + j * NV, W); mt_H[q] = hash_words(W);
        if (hc) { uint64_t fp = mt_H[q] & FP_MASK; __builtin_prefetch(&fptable[(fp ? fp : 1) & tmask]); }
        else __builtin_prefetch(&table[mt_H[q] & tmask]);
      }
      for (int j = 0; j < k; j++) {
        uint64_t q = off + j;
        int ti = tis[j] & ~UNDER_BIT;
        mt_ti[q] = tis[j];
        mt_fl[q] = step_ok(ti, s) ? 0 : 1;
        if (tis[j] & UNDER_BIT) continue;
        mt_wst[q] = wmask_step(ti, s, mt_done);
        uint64_t *W = mt_W + q * NW;
        const int *ns = buf + j * NV;
        if (!hc && j + 1 < k && !(tis[j + 1] & UNDER_BIT)) {   /* the next lookup's stored state */
          uint32_t x = table[mt_H[q + 1] & tmask];
          if (x) __builtin_prefetch(arena + (uint64_t)(SLOT_ID(x) - 1) * SB);
        }
        if (probe(W, mt_H[q]) >= 0) { mt_fl[q] |= 4; continue; }
        /* the invariant and state witnesses are read for a fresh state only, which is
           the final holder of its slot: every holder took the slot at some point */
        if (local_insert(q)) {
          if (!inv_ok(ns)) mt_fl[q] |= 2;
          mt_wss[q] = wmask_state(ns, mt_done);
        }
      }
      off += k;
    }
  }
}

static void phase_c(void) {
  for (;;) {
    uint64_t b = __atomic_fetch_add(&mt_next, 256, __ATOMIC_RELAXED);
    if (b >= mt_nfresh) break;
    uint64_t e = b + 256 < mt_nfresh ? b + 256 : mt_nfresh;
    for (uint64_t f = b; f < e; f++) {
      uint64_t id = mt_first + f, q = mt_newq[f], hh = mt_H[q];
      memcpy(arena + (id - base) * SB, mt_W + q * NW, SB);
      if (hc) {
        uint64_t fp = hh & FP_MASK; if (!fp) fp = 1;
        uint64_t h = fp & tmask;
        for (;;) { uint64_t z = 0;
          if (__atomic_compare_exchange_n(&fptable[h], &z, fp, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) break;
          h = (h + 1) & tmask; }
      } else {
        uint64_t h = hh & tmask;
        uint32_t v = (uint32_t)(id + 1) | (tbits >= 32 ? 0 : TAG(hh));
        for (;;) { uint32_t z = 0;
          if (__atomic_compare_exchange_n(&table[h], &z, v, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) break;
          h = (h + 1) & tmask; }
      }
    }
  }
}

/* Worker threads live as long as one search: they wait for a new generation of
   mt_gen, run phase mt_phase, and count themselves out of mt_busy. */
static void phase_g(void);
static pthread_mutex_t mt_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mt_go = PTHREAD_COND_INITIALIZER, mt_fin = PTHREAD_COND_INITIALIZER;
static int mt_gen, mt_busy, mt_quit, mt_threads;

static void *mt_worker(void *arg) {
  int seen = 0;
  pthread_mutex_lock(&mt_mu);
  for (;;) {
    while (mt_gen == seen && !mt_quit) pthread_cond_wait(&mt_go, &mt_mu);
    if (mt_quit) break;
    seen = mt_gen;
    pthread_mutex_unlock(&mt_mu);
    if (mt_phase == 1) phase_a(); else if (mt_phase == 2) phase_g(); else phase_c();
    pthread_mutex_lock(&mt_mu);
    if (--mt_busy == 0) pthread_cond_signal(&mt_fin);
  }
  pthread_mutex_unlock(&mt_mu);
  free(mt_buf); mt_buf = NULL;
  return arg;
}

/* run phase ph (1 = A, 2 = table growth, 3 = C) on every worker, the caller included (work is taken
   from a counter, so the split does not depend on how many threads run) */
static void mt_run(int ph) {
  mt_next = 0; mt_phase = ph;
  pthread_mutex_lock(&mt_mu);
  mt_busy = mt_threads; mt_gen++;
  pthread_cond_broadcast(&mt_go);
  pthread_mutex_unlock(&mt_mu);
  if (ph == 1) phase_a(); else if (ph == 2) phase_g(); else phase_c();
  pthread_mutex_lock(&mt_mu);
  while (mt_busy) pthread_cond_wait(&mt_fin, &mt_mu);
  pthread_mutex_unlock(&mt_mu);
}

/* grow the visited table, rehashing the ids [0, upto) that are in the arena
   (every worker a share, compare-and-swap into the new table) */
static uint32_t *mt_nt; static uint64_t mt_ncap, mt_upto;

static void phase_g(void) {
  uint64_t w[NW];
  for (;;) {
    uint64_t b = __atomic_fetch_add(&mt_next, 4096, __ATOMIC_RELAXED);
    if (b >= mt_upto) break;
    uint64_t e = b + 4096 < mt_upto ? b + 4096 : mt_upto;
    for (uint64_t id = b; id < e; id++) {
      memset(w, 0, sizeof w); memcpy(w, arena + id * SB, SB);
      uint64_t hh = hash_words(w), h = hh & (mt_ncap - 1);
      uint32_t v = (uint32_t)(id + 1) | (tbits >= 32 ? 0 : TAG(hh));
      for (;;) { uint32_t z = 0;
        if (__atomic_compare_exchange_n(&mt_nt[h], &z, v, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) break;
        h = (h + 1) & (mt_ncap - 1); }
    }
  }
}

static int mt_grow_table(uint64_t upto) {
  if (hc) return grow_fptable();
  mt_ncap = (tmask + 1) * 2;
  note_growth(mt_ncap);
  mt_nt = calloc(mt_ncap, sizeof(uint32_t));
  if (!mt_nt) return -1;
  tbits++;
  mt_upto = upto;
  mt_run(2);
  free(table); table = mt_nt; tmask = mt_ncap - 1; mt_nt = NULL;
  return 0;
}

static int64_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long a = 0, b = 0;
  if (!f) return -1;
  if (fscanf(f, "%ld %ld", &a, &b) != 2) b = -1;
  fclose(f);
  return b < 0 ? -1 : (int64_t)b * sysconf(_SC_PAGESIZE);
}

/* ---- checkpoint file: magic, header, arrays, a checksum of everything after the magic ---- */
#define CK_MAGIC "RCCKPT02"
typedef struct { FILE *f; uint64_t h; int bad; } ckio;

static void ck_mix(ckio *c, const void *p, size_t n) {
  const uint8_t *b = p; uint64_t h = c->h;
  size_t k = 0;
  for (; k + 8 <= n; k += 8) { uint64_t x; memcpy(&x, b + k, 8); h = (h ^ x) * 0x100000001b3ull; h ^= h >> 29; }
  for (; k < n; k++) { h = (h ^ b[k]) * 0x100000001b3ull; }
  c->h = h;
}
static void ck_put(ckio *c, const void *p, size_t n) {
  if (c->bad) return;
  ck_mix(c, p, n);
  if (n && fwrite(p, 1, n, c->f) != n) c->bad = 1;
}
static void ck_get(ckio *c, void *p, size_t n) {
  if (c->bad) return;
  if (n && fread(p, 1, n, c->f) != n) { c->bad = 1; return; }
  ck_mix(c, p, n);
}

typedef struct {
  char digest[64];
  uint32_t sb, nt, nwit, ncls, hc, via_size;
  uint64_t n_states, base, i, level_end, depth_i, edges, maxdepth, tmask, tbits, lo_log_n, lo_saved;
} ck_head;


/* What follows a checkpoint's header, in order: one list, for writing and for reading. */
#define CK_SECTIONS(IO, nlo) \
  IO(&c, coverage, sizeof(uint64_t) * (NT ? NT : 1)); \
  IO(&c, reached, NWIT); \
  IO(&c, lo_adj, sizeof lo_adj); \
  IO(&c, lo_log, sizeof(int32_t) * 3 * (nlo)); \
  IO(&c, parent, sizeof(uint32_t) * n_states); \
  IO(&c, via, sizeof(via_t) * n_states); \
  IO(&c, arena, (size_t)(n_states - base) * SB); \
  if (hc) IO(&c, fptable, sizeof(uint64_t) * (tmask + 1)); \
  else IO(&c, table, sizeof(uint32_t) * (tmask + 1));

static int ck_write(const char *path, const char *digest, uint64_t i, uint64_t level_end, int64_t depth_i,
                    int64_t edges, int64_t maxdepth, const uint64_t *coverage, const uint8_t *reached) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) return -1;
  ckio c = { f, 0xcbf29ce484222325ull, 0 };
  if (fwrite(CK_MAGIC, 1, 8, f) != 8) c.bad = 1;
  ck_head hd; memset(&hd, 0, sizeof hd);
  memcpy(hd.digest, digest, 64);
  hd.sb = SB; hd.nt = NT; hd.nwit = NWIT; hd.ncls = NCLS; hd.hc = (uint32_t)hc; hd.via_size = sizeof(via_t);
  hd.n_states = n_states; hd.base = base; hd.i = i; hd.level_end = level_end; hd.depth_i = (uint64_t)depth_i;
  hd.edges = (uint64_t)edges; hd.maxdepth = (uint64_t)maxdepth; hd.tmask = tmask; hd.tbits = (uint64_t)tbits;
  hd.lo_log_n = (uint64_t)lo_log_n;
  hd.lo_saved = (uint64_t)(lo_log_n < lo_log_cap ? lo_log_n : lo_log_cap);
  ck_put(&c, &hd, sizeof hd);
  CK_SECTIONS(ck_put, hd.lo_saved)
  uint64_t sum = c.h;
  if (!c.bad && fwrite(&sum, 1, 8, f) != 8) c.bad = 1;
  if (fflush(f) != 0 || fsync(fileno(f)) != 0) c.bad = 1;
  if (fclose(f) != 0) c.bad = 1;
  if (c.bad) { remove(tmp); return -1; }
  return rename(tmp, path) == 0 ? 0 : -1;
}

static uint64_t pow2_at_least(uint64_t n) { uint64_t c = 1024; while (c < n) c *= 2; return c; }

/* 0 resumed, STATUS 7 another model or search, 8 corrupt or unreadable */
static int ck_read(const char *path, const char *digest, int want_hc, uint64_t *i, uint64_t *level_end,
                   int64_t *depth_i, int64_t *edges, int64_t *maxdepth, uint64_t *coverage, uint8_t *reached) {
  FILE *f = fopen(path, "rb");
  if (!f) return 8;
  char mg[8];
  ckio c = { f, 0xcbf29ce484222325ull, 0 };
  if (fread(mg, 1, 8, f) != 8 || memcmp(mg, CK_MAGIC, 8) != 0) { fclose(f); return 8; }
  ck_head hd;
  ck_get(&c, &hd, sizeof hd);
  if (c.bad) { fclose(f); return 8; }
  if (memcmp(hd.digest, digest, 64) != 0 || hd.hc != (uint32_t)want_hc) { fclose(f); return 7; }
  if (hd.sb != SB || hd.nt != NT || hd.nwit != NWIT || hd.ncls != NCLS || hd.via_size != sizeof(via_t)
      || hd.n_states == 0 || hd.n_states >= 0xFFFFFFF0ull
      || hd.base > hd.i || hd.i > hd.n_states || hd.level_end > hd.n_states
      || hd.lo_log_n > 0x7FFFFFFF
      || hd.tmask + 1 == 0 || ((hd.tmask + 1) & hd.tmask) != 0 || hd.tmask + 1 < hd.n_states
      || hd.lo_saved > (uint64_t)lo_log_cap || hd.tbits > 40) { fclose(f); return 8; }
  n_states = hd.n_states; base = hd.base; tmask = hd.tmask; tbits = (int)hd.tbits;
  cap = pow2_at_least(n_states); acap = pow2_at_least(n_states - base);
  parent = malloc(cap * sizeof(uint32_t)); via = malloc(cap * sizeof(via_t)); arena = malloc(acap * SB);
  if (hc) fptable = malloc(sizeof(uint64_t) * (tmask + 1)); else table = malloc(sizeof(uint32_t) * (tmask + 1));
  if (!parent || !via || !arena || !(hc ? (void *)fptable : (void *)table)) { fclose(f); return 5; }
  arena_peak = n_states - base;
  CK_SECTIONS(ck_get, hd.lo_saved)
  uint64_t sum = 0, want = c.h;
  if (c.bad || fread(&sum, 1, 8, f) != 8 || sum != want || fgetc(f) != EOF) { fclose(f); return 8; }
  fclose(f);
  lo_log_n = (int)hd.lo_log_n;
  *i = hd.i; *level_end = hd.level_end; *depth_i = (int64_t)hd.depth_i;
  *edges = (int64_t)hd.edges; *maxdepth = (int64_t)hd.maxdepth;
  return 0;
}

int rc_explore_mt(rc_run *r, uint64_t *coverage, uint8_t *reached, int32_t *lolog, int32_t lolog_cap,
                  int32_t workers, const char *digest, const char *ckpt, double ckpt_every,
                  const char *recover) {
  double t0 = now(), last = t0, last_ck = t0, c0 = cpu_now();
  free_all(); stop_requested = 0; say_growth = r->progress_secs > 0;
  memset(lo_adj, 0, sizeof lo_adj); lo_log = lolog; lo_log_cap = lolog_cap; lo_log_n = 0;
  r->status = 0; r->vkind = 0; r->vtrans = -1; r->vstate = -1;
  int64_t edges = 0, maxdepth = 0, depth_i = 0;
  uint64_t level_end = 1, i = 0, wmask = 0;
  int s[NV];
  uint64_t w[NW];
  mt_workers = workers < 1 ? 1 : workers;
  mt_secs[0] = mt_secs[1] = mt_secs[2] = 0;
  if (mt_workers > 64) mt_workers = 64;
  pthread_t th[64];
  mt_threads = 0; mt_quit = 0; mt_gen = 0;
  for (int k = 1; k < mt_workers; k++) {   /* a thread that cannot start: fewer workers */
    if (pthread_create(&th[mt_threads], NULL, mt_worker, NULL) != 0) break;
    mt_threads++;
  }
  hc = r->hash_compact != 0;
  uint64_t nq = (uint64_t)CH * MAXK, lsz = 1024;
  while (lsz < 2 * nq) lsz *= 2;
  mt_lmask = lsz - 1;
  mt_k = malloc(sizeof(int) * CH); mt_off = malloc(sizeof(uint64_t) * CH);
  mt_err = malloc(sizeof(int) * CH); mt_term = malloc(CH);
  mt_W = malloc(sizeof(uint64_t) * NW * nq); mt_H = malloc(sizeof(uint64_t) * nq);
  mt_ti = malloc(sizeof(int32_t) * nq); mt_fl = malloc(nq); mt_wst = malloc(sizeof(uint64_t) * nq);
  mt_wss = malloc(sizeof(uint64_t) * nq); mt_slot = malloc(sizeof(uint32_t) * nq);
  mt_loc = calloc(lsz, sizeof(uint64_t)); mt_lgen = 0; mt_newq = malloc(sizeof(uint64_t) * nq);
  if (!mt_k || !mt_off || !mt_err || !mt_term || !mt_W || !mt_H || !mt_ti || !mt_fl || !mt_wst || !mt_wss
      || !mt_slot || !mt_loc || !mt_newq) { r->status = 5; goto done; }
  if (recover && recover[0]) {
    int st = ck_read(recover, digest, hc, &i, &level_end, &depth_i, &edges, &maxdepth, coverage, reached);
    if (st) { free_all(); r->status = st; goto done; }
  } else {
    int fresh;
    if (hc) fptable = calloc(1024, sizeof(uint64_t)); else table = calloc(1024, sizeof(uint32_t));
    tmask = 1023;
    if (!(hc ? (void *)fptable : (void *)table)) { r->status = 5; goto done; }
    pack(INIT, w);
    if ((hc ? hc_intern(w, hash_words(w), &fresh) : intern(w, hash_words(w), &fresh)) < 0) { r->status = 5; goto done; }
    parent[0] = 0; via[0] = 0;
    witness_state(INIT, reached);
    if (!inv_ok(INIT)) { r->status = 1; r->vkind = 1; r->vstate = 0; goto done; }
  }
  while (i < n_states) {
    if (i == level_end) {
      depth_i++; level_end = n_states;
      if (hc) { memmove(arena, arena + (i - base) * SB, (n_states - i) * SB); base = i; }
    }
    uint64_t lo = i, n = level_end - i < CH ? level_end - i : CH;
    mt_lo = lo; mt_n = n; mt_lgen++;
    mt_done = 0;
    for (int k = 0; k < NWIT && k < 64; k++) if (reached[k]) mt_done |= 1ull << k;
    double ta = thread_cpu();
    mt_run(1);
    double tb = thread_cpu(); mt_secs[0] += tb - ta;
    /* phase B: the sequential search's bookkeeping, in its order */
    mt_first = n_states; mt_nfresh = 0;
    int stop = 0;
    for (uint64_t p = 0; p < n && !stop; p++) {
      int k = mt_k[p];
      if (k < 0) { r->status = 2; r->vstate = (int64_t)i; r->vtrans = mt_err[p]; stop = 1; break; }
      if (k == 0 && mt_term[p]) { r->status = 1; r->vkind = 2; r->vstate = (int64_t)i; stop = 1; break; }
      int have_s = 0;
      for (int j = 0; j < k; j++) {
        uint64_t q = mt_off[p] + j;
        int ti = mt_ti[q] & ~UNDER_BIT;
        edges++; coverage[ti]++;
        if (mt_fl[q] & 1) { r->status = 1; r->vkind = 3; r->vstate = (int64_t)i; r->vtrans = ti; stop = 1; break; }
        if (mt_ti[q] & UNDER_BIT) continue;
        if (r->check_lock_order || !MT_WMASK) {
          if (!have_s) { memset(w, 0, sizeof w); memcpy(w, arena + (i - base) * SB, SB); unpack(w, s); have_s = 1; }
        }
        if (MT_WMASK) wmask |= mt_wst[q]; else witness_step(ti, s, reached);
        if (r->check_lock_order && lock_step(ti, s)) {
          r->status = 1; r->vkind = 4; r->vstate = (int64_t)i; r->vtrans = ti; stop = 1; break;
        }
        if (mt_fl[q] & 4) continue;                      /* visited before this chunk */
        if (mt_loc[mt_slot[q]] != (mt_lgen << 32 | (q + 1))) continue;   /* earlier in this chunk */
        if (n_states >= 0xFFFFFFF0ull) { r->status = 5; stop = 1; break; }
        if (n_states == cap && grow_arrays() < 0) { r->status = 5; stop = 1; break; }
        if (arena_room() < 0) { r->status = 5; stop = 1; break; }
        uint64_t id = n_states++;
        if (n_states - base > arena_peak) arena_peak = n_states - base;
        mt_newq[mt_nfresh++] = q;
        parent[id] = (uint32_t)i; via[id] = (via_t)ti;
        if (depth_i + 1 > maxdepth) maxdepth = depth_i + 1;
        if (MT_WMASK) wmask |= mt_wss[q];
        else { int ns[NV]; uint64_t x[NW]; memcpy(x, mt_W + q * NW, sizeof x);
          unpack(x, ns); witness_state(ns, reached); }
        if (mt_fl[q] & 2) { r->status = 1; r->vkind = 1; r->vstate = (int64_t)id; stop = 1; break; }
      }
      if (stop) break;
      i++;
      if (r->max_states >= 0 && (int64_t)n_states > r->max_states) { r->status = 3; stop = 1; break; }
    }
    double tc = thread_cpu(); mt_secs[1] += tc - tb;
    /* phase C: the fresh states into the arena and the table (room first) */
    while (n_states * 10 > (tmask + 1) * 7)
      if (mt_grow_table(mt_first) < 0) { r->status = 5; stop = 1; mt_nfresh = 0; break; }
    if (mt_nfresh) mt_run(3);
    mt_secs[2] += thread_cpu() - tc;
    for (int k = 0; k < NWIT; k++) if (wmask >> k & 1) reached[k] = 1;
    if (stop) break;
    double t = now();
    if (r->progress_secs > 0 && t - last >= r->progress_secs) {
      last = t;
      fprintf(stderr, "revoke-check: compiled %s: %lld transitions, %llu distinct, %llu queued, "
              "depth %lld, %.0f states/s, %.1f MB, RSS %.1f MB, %d workers, %.0fs\n", MODEL_NAME,
              (long long)edges, (unsigned long long)n_states, (unsigned long long)(n_states - i),
              (long long)depth_i, n_states / (t - t0), mem_bytes() / 1048576.0,
              rss_bytes() / 1048576.0, mt_threads + 1, t - t0);
      fflush(stderr);
    }
    if (r->max_seconds > 0 && t - t0 > r->max_seconds) { r->status = 4; break; }
    if (stop_requested) { r->status = 6; break; }
    if (ckpt && ckpt[0] && ckpt_every > 0 && t - last_ck >= ckpt_every) {
      if (ck_write(ckpt, digest, i, level_end, depth_i, edges, maxdepth, coverage, reached) < 0) {
        r->status = 9; break;
      }
      last_ck = now();
    }
  }
  /* an incomplete search leaves a checkpoint to continue from */
  if (ckpt && ckpt[0] && (r->status == 3 || r->status == 4 || r->status == 6))
    if (ck_write(ckpt, digest, i, level_end, depth_i, edges, maxdepth, coverage, reached) < 0) r->status = 9;
done:
  pthread_mutex_lock(&mt_mu); mt_quit = 1; pthread_cond_broadcast(&mt_go); pthread_mutex_unlock(&mt_mu);
  for (int k = 0; k < mt_threads; k++) pthread_join(th[k], NULL);
  mt_threads = 0;
  free(mt_buf); mt_buf = NULL;
  free(mt_k); free(mt_off); free(mt_err); free(mt_term); free(mt_W); free(mt_H); free(mt_ti); free(mt_fl);
  free(mt_wst); free(mt_wss); free(mt_slot); free(mt_loc); free(mt_newq);
  mt_k = NULL; mt_off = NULL; mt_err = NULL; mt_term = NULL; mt_W = NULL; mt_H = NULL; mt_ti = NULL; mt_fl = NULL;
  mt_wst = NULL; mt_wss = NULL; mt_slot = NULL; mt_loc = NULL; mt_newq = NULL;
  r->distinct = (int64_t)n_states; r->edges = edges; r->maxdepth = maxdepth;
  r->bytes = mem_bytes(); r->alloc_bytes = alloc_bytes(); r->lo_edges = lo_log_n;
  r->seconds = now() - t0; r->cpu_seconds = cpu_now() - c0;
  return r->status;
}
"""
