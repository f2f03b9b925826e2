"""Partial-order reduction in the compiled explorer (``--engine compiled --por``).

Everything static stays in Python, exactly as :class:`revoke_check.engines.por.Por`
computes it (footprints, the dependency and enabling relations, the z3
visibility proofs, control-flow reachability); :func:`por_c` emits it as
constant bitsets over transition indices.  The C here does only what
``Por.ample`` does per state, in the same order: the enabled set (underflowing
steps included), the threads with an enabled step in ascending order, per
thread the stubborn closure (D1, D2) of its transitions at its pc, C2 on the
seed and on the whole set, the candidates sorted by size (a stable sort), and
the first whose successors are all new states (C3, looked up in the visited
table before any successor of this state is inserted).  So the reduced C search
expands the same ample sets and stores the same states as the Python
``--por`` search; the soundness argument is por.py's (its module docstring),
and the checks of every enabled step of an expanded state are done by the
caller, as in :mod:`revoke_check.engines.reduced`.
"""
from __future__ import annotations

__all__ = ["por_c"]


def _words(mask: int, ntw: int) -> str:
    return "{" + ", ".join(f"0x{(mask >> (64 * w)) & (2**64 - 1):x}ull" for w in range(ntw)) + "}"


def _table(name: str, masks, ntw: int) -> str:
    rows = ",\n  ".join(_words(m, ntw) for m in masks) or _words(0, ntw)
    return f"static const uint64_t {name}[][NTW] = {{\n  {rows}\n}};"


def _ints(name: str, xs) -> str:
    xs = list(xs) or [0]
    return f"static const int {name}[{len(xs)}] = {{{', '.join(str(int(x)) for x in xs)}}};"


def por_c(model, po) -> tuple:
    """(head, body): the defines that switch the runtime's reduced loop on (before the
    runtime), and ``por_ample`` with its tables for the precomputed :class:`Por` ``po``
    (after it: it looks states up in the visited table)."""
    nt = len(model.transitions)
    ntw = max(1, (nt + 63) // 64)
    trs = model.transitions
    # toward[t]: the transitions w of t's thread from whose target t's pc is reachable
    # (por.py's D2 for a disabled t whose thread is elsewhere: it must move first)
    toward = []
    for t, tr in enumerate(trs):
        k = po.thread_of[t]
        m = 0
        for w in range(nt):
            if po.thread_of[w] == k and any(tr.pc_value in po.pc_reach[k].get(y, ()) for y in po.target[w]):
                m |= 1 << w
        toward.append(m)
    lo, off, at, live = [], [], [], []
    for k, th in enumerate(model.threads):
        d = th.pc.domain
        lo.append(d.lo)
        off.append(len(at))
        for v in range(d.lo, d.hi + 1):
            at.append(po.at_mask.get((k, v), 0))
            live.append(po.live[k].get(v, 0))
    pcn = [th.pc.domain.hi - th.pc.domain.lo + 1 for th in model.threads]
    head = f"#define POR 1\n#define NTW {ntw}\n#define POR_NTH {max(1, po.nthreads)}"
    out = [_ints("POR_THREAD_OF", po.thread_of), _ints("POR_PCV", [tr.pc_value for tr in trs]),
           _ints("POR_PC_SLOT", po.pc_slots), _ints("POR_PC_LO", lo), _ints("POR_PC_N", pcn),
           _ints("POR_PC_OFF", off),
           _table("POR_AT", at, ntw), _table("POR_LIVE", live, ntw),
           _table("POR_DEP", po.dep, ntw), _table("POR_ENAB", po.enablers, ntw),
           _table("POR_TOWARD", toward, ntw),
           f"static const uint64_t POR_VIS[NTW] = {_words(po.vis_mask, ntw)};",
           _POR_RUNTIME]
    return head, "\n".join(out)


_POR_RUNTIME = r"""
#define BIT(m, t) (((m)[(t) >> 6] >> ((t) & 63)) & 1)

/* Por.stubborn: the closure of here[seed] under D1 (an enabled t: the live transitions of
   other threads dependent on it, and its thread's others at this pc) and D2 (a disabled t
   at its thread's pc: the live writers of what its guard reads, and its thread's steps
   there; elsewhere: its thread's steps at its pc that lead towards t's pc).  A least
   fixed point: the order of the work list does not change it.  Returns 0 as soon as the
   set is rejected whatever it grows to (S only grows): its enabled part contains a
   visible step (C2) or is every enabled step (no smaller); 1 with the closure in S. */
static int por_stubborn(const int *pcs, int seed, const uint64_t *en, uint64_t here[][NTW],
                        const uint64_t *live, uint64_t *S) {
  uint64_t todo[NTW], add[NTW];
  memcpy(S, here[seed], sizeof todo); memcpy(todo, S, sizeof todo);
  for (;;) {
    int t = -1;
    for (int w = 0; w < NTW; w++)
      if (todo[w]) { t = w * 64 + __builtin_ctzll(todo[w]); todo[w] &= todo[w] - 1; break; }
    if (t < 0) return 1;
    int k = POR_THREAD_OF[t];
    if (BIT(en, t))
      for (int w = 0; w < NTW; w++) add[w] = (POR_DEP[t][w] & live[w]) | here[k][w];
    else if (pcs[k] == POR_PCV[t])
      for (int w = 0; w < NTW; w++) add[w] = (POR_ENAB[t][w] & live[w]) | here[k][w];
    else
      for (int w = 0; w < NTW; w++) add[w] = here[k][w] & POR_TOWARD[t][w];
    int vis = 0, all = 1;
    for (int w = 0; w < NTW; w++) {
      uint64_t nw = add[w] & ~S[w]; S[w] |= nw; todo[w] |= nw;
      vis |= (S[w] & en[w] & POR_VIS[w]) != 0; all &= (S[w] & en[w]) == en[w];
    }
    if (vis || all) return 0;
  }
}

/* The candidates of a state depend only on its pcs and enabled set (as Por.ample's memo):
   a direct-mapped cache of them, keyed exactly (a hit compares the whole key). */
#define POR_MEMO 4096
typedef struct {
  int valid, nc, pcs[POR_NTH];
  uint64_t en[NTW], cand[POR_NTH][NTW];   /* sorted by size, stable: the order tried */
} por_memo_t;
static por_memo_t por_memo[POR_MEMO];

/* the candidates (C0: a seed thread with an enabled step; C2; smaller than en) in order */
static void por_candidates(const int *pcs, const uint64_t *en, const uint8_t *has, por_memo_t *e) {
  uint64_t here[POR_NTH][NTW], live[NTW] = {0}, cand[POR_NTH][NTW];
  for (int th = 0; th < POR_NTH; th++) {
    int v = pcs[th] - POR_PC_LO[th];
    if (v >= 0 && v < POR_PC_N[th]) {
      memcpy(here[th], POR_AT[POR_PC_OFF[th] + v], sizeof live);
      for (int w = 0; w < NTW; w++) live[w] |= POR_LIVE[POR_PC_OFF[th] + v][w];
    } else memset(here[th], 0, sizeof live);
  }
  int cn[POR_NTH], order[POR_NTH], nc = 0;
  for (int th = 0; th < POR_NTH; th++) {
    if (!has[th]) continue;
    int vis = 0, diff = 0, n = 0;
    for (int w = 0; w < NTW; w++) vis |= (en[w] & here[th][w] & POR_VIS[w]) != 0;
    if (vis) continue;                                   /* C2 on the seed */
    uint64_t *S = cand[nc];
    if (!por_stubborn(pcs, th, en, here, live, S)) continue;   /* C2, or not smaller */
    for (int w = 0; w < NTW; w++) {
      S[w] &= en[w];
      diff |= S[w] != en[w]; vis |= (S[w] & POR_VIS[w]) != 0; n += __builtin_popcountll(S[w]);
    }
    if (!diff || vis) continue;                          /* not smaller, or C2 */
    cn[nc] = n;
    int p = nc;                                          /* stable insertion by size */
    while (p > 0 && cn[order[p - 1]] > n) { order[p] = order[p - 1]; p--; }
    order[p] = nc++;
  }
  for (int c = 0; c < nc; c++) memcpy(e->cand[c], cand[order[c]], sizeof live);
  e->nc = nc;
}

/* Por.ample: amask = the transitions to expand in s (all enabled ones unless a smaller
   ample set passes C0-C3); returns 1 if it is smaller.  seen[j] = 1 if successor j was
   found visited by C3's lookups (it stays visited: the caller need not look again). */
static int por_ample(const int *s, const int *tis, int k, uint64_t (*W)[NW], const uint64_t *H,
                     uint64_t *amask, int8_t *seen) {
  uint64_t en[NTW] = {0};
  uint8_t has[POR_NTH] = {0};
  int nth = 0;
  for (int j = 0; j < k; j++) {
    int t = tis[j] & ~UNDER_BIT, th = POR_THREAD_OF[t];
    en[t >> 6] |= 1ull << (t & 63);
    if (!has[th]) { has[th] = 1; nth++; }
  }
  memcpy(amask, en, sizeof en);
  memset(seen, 0, k);
  if (nth <= 1) return 0;
  int pcs[POR_NTH];
  uint64_t h = 0x9E3779B97F4A7C15ull;
  for (int th = 0; th < POR_NTH; th++) {
    pcs[th] = s[POR_PC_SLOT[th]];
    h = (h ^ (uint64_t)(uint32_t)pcs[th]) * 0xbf58476d1ce4e5b9ull;
  }
  for (int w = 0; w < NTW; w++) { h = (h ^ en[w]) * 0x94d049bb133111ebull; h ^= h >> 29; }
  por_memo_t *e = &por_memo[(h >> 20) & (POR_MEMO - 1)];
  if (!e->valid || memcmp(e->pcs, pcs, sizeof pcs) || memcmp(e->en, en, sizeof en)) {
    por_candidates(pcs, en, has, e);
    memcpy(e->pcs, pcs, sizeof pcs); memcpy(e->en, en, sizeof en); e->valid = 1;
  }
  int8_t looked[NT ? NT : 1];   /* successor j: 0 not looked up yet, 1 visited, 2 new */
  memset(looked, 0, k);
  for (int c = 0; c < e->nc; c++) {
    const uint64_t *S = e->cand[c];
    int ok = 1;
    for (int j = 0; j < k && ok; j++) {
      int t = tis[j] & ~UNDER_BIT;
      if (!BIT(S, t)) continue;
      if (tis[j] & UNDER_BIT) { ok = 0; break; }                  /* no successor state */
      if (!looked[j]) looked[j] = por_seen(W[j], H[j]) ? 1 : 2;
      if (looked[j] == 1) ok = 0;                                 /* C3 */
    }
    if (ok) { memcpy(amask, S, sizeof en); break; }
  }
  for (int j = 0; j < k; j++) seen[j] = looked[j] == 1;
  return memcmp(amask, en, sizeof en) != 0;
}
"""
