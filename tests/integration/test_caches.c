/* Integration tests of the caches against the local GCS server: for every
 * cache type, thousands of random seeks and reads whose bytes are checked
 * against the object and whose requests (from the server's log, in order)
 * are checked against a reference model of the cache's rules, written
 * here separately from the library. Also: readahead and readahead_chunked
 * send the same requests, zero-copy slices outlive the window and the
 * file, exact stats for short sequences, and closing a file while its
 * background fetch runs.
 *
 * SPDX-License-Identifier: MIT
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "gsread.h"

#define BUCKET "test-bucket"
#define MiB (1024u * 1024u)
#define MAX_SLICES 4096

static struct ts_object objects[] = {
    {"o1000", 1000, NULL},
    {"o100k", 100000, NULL},
    {"o3m", 3 * MiB + 4321, NULL},
    {"o40m", 40 * MiB + 99, NULL},
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- The server's request log, read incrementally ------------------------ */

static FILE *log_fp;
static char log_part[16384]; /* a line not yet complete */
static size_t log_part_len;

/* Next complete log line, or 0 if none yet (never blocks). */
static int log_next_line(char *out, size_t n) {
  char buf[8192];
  if (log_fp == NULL) {
    char path[512];
    snprintf(path, sizeof(path), "%s/requests.log", fx.srv.state);
    if ((log_fp = fopen(path, "r")) == NULL) return 0;
  }
  while (fgets(buf, sizeof(buf), log_fp) != NULL) {
    size_t k = strlen(buf);
    if (log_part_len + k < sizeof(log_part)) {
      memcpy(log_part + log_part_len, buf, k + 1);
      log_part_len += k;
    }
    if (k > 0 && buf[k - 1] == '\n') {
      snprintf(out, n, "%s", log_part);
      log_part_len = 0;
      return 1;
    }
  }
  clearerr(log_fp);
  return 0;
}

/* The next media request's range [*a, *b), waiting up to timeout_ms. */
static int log_next_media(uint64_t *a, uint64_t *b, int timeout_ms) {
  char line[16384];
  double deadline = now_s() + timeout_ms / 1000.0;
  for (;;) {
    while (log_next_line(line, sizeof(line))) {
      if (strstr(line, "\"kind\":\"media\"") == NULL) continue;
      const char *r = strstr(line, "\"range\":\"bytes=");
      unsigned long long x = 0, y = 0; /* fail_msg does not return */
      if (r == NULL || sscanf(r + 15, "%llu-%llu", &x, &y) != 2)
        fail_msg("media request without a range: %s", line);
      *a = x;
      *b = y + 1;
      return 1;
    }
    if (now_s() > deadline) return 0;
    usleep(50);
  }
}

/* Skips everything logged so far, once the log has been quiet for a bit. */
static void log_drain(void) {
  uint64_t a, b;
  while (log_next_media(&a, &b, 30)) {
  }
}

/* ---- Reference model: which ranges each cache fetches -------------------- */

enum ctype { RA, RAC, BLOCK, BG, FIRST, ALL, BYTES };
static const char *const cnames[] = {"readahead",  "readahead_chunked",
                                     "blockcache", "background",
                                     "first",      "all",
                                     "bytes"};

#define MAXB 64
struct model {
  enum ctype type;
  uint64_t size, bs, count;
  int maxb;
  int has;             /* readahead, bytes: the window exists */
  uint64_t start, end; /* readahead, bytes: the window */
  int loaded;          /* first, all */
  uint64_t idx[MAXB], stamp[MAXB], clock;
  int n;    /* blocks held */
  int pend; /* background: a fetch maybe not collected yet */
  uint64_t pend_idx;
  uint64_t hits, misses, requests, bytes;
};

struct rlist {
  int n;
  uint64_t a[512], b[512];
};

static void add(struct model *m, struct rlist *rl, uint64_t a, uint64_t b) {
  assert_true(rl->n < 512 && a < b && b <= m->size);
  rl->a[rl->n] = a;
  rl->b[rl->n++] = b;
  m->requests++;
  m->bytes += b - a;
}

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static void m_readahead(struct model *m, uint64_t off, uint64_t end,
                        struct rlist *rl) {
  if (m->has && off >= m->start && end <= m->end) {
    m->hits++;
    return;
  }
  m->misses++;
  uint64_t from = (m->has && off >= m->start && off < m->end) ? m->end : off;
  uint64_t to = min64(m->size, end + m->bs);
  add(m, rl, from, to);
  m->has = 1;
  m->start = from;
  m->end = to;
}

static int mb_find(const struct model *m, uint64_t idx) {
  for (int i = 0; i < m->n; i++)
    if (m->idx[i] == idx) return i;
  return -1;
}

static void mb_remove(struct model *m, int i) {
  if (m->pend && m->pend_idx == m->idx[i]) m->pend = 0; /* canceled */
  m->idx[i] = m->idx[m->n - 1];
  m->stamp[i] = m->stamp[m->n - 1];
  m->n--;
}

/* LRU eviction that spares blocks in (lo, hi]: those the read needs. */
static void mb_insert(struct model *m, uint64_t idx, uint64_t lo, uint64_t hi) {
  if (m->n == m->maxb) {
    int v = -1;
    for (int i = 0; i < m->n; i++) {
      if (m->idx[i] > lo && m->idx[i] <= hi) continue;
      if (v < 0 || m->stamp[i] < m->stamp[v]) v = i;
    }
    if (v < 0) return; /* served once, not kept */
    mb_remove(m, v);
  }
  m->idx[m->n] = idx;
  m->stamp[m->n++] = ++m->clock;
}

static void m_blocks(struct model *m, uint64_t off, uint64_t end,
                     struct rlist *rl) {
  uint64_t last = (end - 1) / m->bs, fetched = 0;
  for (uint64_t b = off / m->bs; b <= last; b++) {
    int i = mb_find(m, b);
    if (i >= 0) {
      if (m->pend && m->pend_idx == b) m->pend = 0; /* waited for */
      m->stamp[i] = ++m->clock;
      continue;
    }
    add(m, rl, b * m->bs, min64(m->size, (b + 1) * m->bs));
    m->misses++;
    fetched++;
    mb_insert(m, b, b, last);
  }
  if (fetched == 0) m->hits++;
}

static void m_first(struct model *m, uint64_t off, uint64_t end,
                    struct rlist *rl) {
  uint64_t bs = min64(m->bs, m->size);
  if (off >= bs) {
    m->misses++;
    add(m, rl, off, end);
  } else if (!m->loaded) {
    m->misses++;
    m->loaded = 1;
    add(m, rl, 0, end > bs ? end : bs);
  } else if (end > bs) {
    m->misses++;
    add(m, rl, bs, end);
  } else {
    m->hits++;
  }
}

static void m_all(struct model *m, struct rlist *rl) {
  if (m->loaded) {
    m->hits++;
    return;
  }
  m->misses++;
  m->loaded = 1;
  add(m, rl, 0, m->size);
}

/* fsspec's BytesCache(trim=True), again: a second port for the model. */
static void m_bytes(struct model *m, uint64_t start, uint64_t end,
                    struct rlist *rl) {
  if (m->has && start >= m->start && end < m->end) {
    m->hits++;
    return;
  }
  uint64_t bend = min64(m->size, end + m->bs);
  m->misses++;
  if ((!m->has || start < m->start) && (!m->has || end > m->end)) {
    add(m, rl, start, bend);
    m->start = start;
    m->end = bend;
  } else if (start < m->start) {
    if (m->end - end > m->bs) {
      add(m, rl, start, bend);
      m->start = start;
      m->end = bend;
    } else {
      add(m, rl, start, m->start);
      m->start = start;
    }
  } else if (bend > m->end) {
    if (end - m->end > m->bs) {
      add(m, rl, start, bend);
      m->start = start;
      m->end = bend;
    } else {
      add(m, rl, m->end, bend);
      m->end = bend;
    }
  }
  m->has = 1;
  uint64_t num = (m->end - m->start) / (m->bs + 1);
  if (num > 1) m->start += m->bs * num;
}

/* The ranges a read fetches, in order. For background, *cand is the block
 * it then starts in the background (or -1); *certain is 0 when that
 * depends on whether an earlier background fetch had finished. */
static void model_read(struct model *m, uint64_t off, size_t n,
                       struct rlist *rl, int64_t *cand, int *certain) {
  rl->n = 0;
  *cand = -1;
  *certain = 1;
  if (n == 0 || off >= m->size) return;
  uint64_t end = off + min64(n, m->size - off);
  switch (m->type) {
  case RA:
  case RAC:
    m_readahead(m, off, end, rl);
    break;
  case BLOCK:
  case BG:
    m_blocks(m, off, end, rl);
    break;
  case FIRST:
    m_first(m, off, end, rl);
    break;
  case ALL:
    m_all(m, rl);
    break;
  case BYTES:
    m_bytes(m, off, end, rl);
    break;
  }
  uint64_t next = (end - 1) / m->bs + 1;
  if (m->type == BG && next < m->count && mb_find(m, next) < 0) {
    *cand = (int64_t)next;
    *certain = !m->pend;
  }
}

static void model_bg_started(struct model *m, uint64_t idx) {
  uint64_t a = idx * m->bs, b = min64(m->size, a + m->bs);
  mb_insert(m, idx, 0, 0);
  m->pend = 1;
  m->pend_idx = idx;
  m->misses++;
  m->requests++;
  m->bytes += b - a;
}

/* ---- Running steps against the library and the model --------------------- */

struct cfg {
  const char *obj;
  uint64_t bs;
  int maxb;
  int steps;
  size_t maxlen;
};

static const struct cfg cfgs[] = {
    {"o1000", 7, 5, 700, 60},
    {"o1000", 100, 3, 700, 700},
    {"o100k", 100, 32, 500, 2500},
    {"o100k", 4096, 4, 700, 30000},
    {"o3m", MiB, 2, 100, 5 * MiB / 2},
    {"o1000", 4096, 2, 300, 1200}, /* one block bigger than the object */
};
#define N_CFGS (sizeof(cfgs) / sizeof(cfgs[0]))

static uint64_t rnd(uint64_t *x) {
  *x = *x * 6364136223846793005ull + 1442695040888963407ull;
  return *x >> 17;
}

static uint64_t pick_len(uint64_t *x, const struct cfg *c) {
  uint64_t r = rnd(x) % 100;
  if (r < 8) return 0;
  if (r < 45) return 1 + rnd(x) % (c->bs / 2 + 1);
  if (r < 85) return 1 + rnd(x) % (2 * c->bs);
  return 1 + rnd(x) % c->maxlen;
}

/* Where the next read starts: sequential runs, back seeks, skips, random
 * jumps, reads straddling and past EOF, and re-reads of the header. */
static uint64_t pick_off(uint64_t *x, uint64_t pos, uint64_t len,
                         const struct cfg *c, uint64_t size) {
  uint64_t r = rnd(x) % 100, d;
  if (r < 40) return pos;
  if (r < 55) {
    d = rnd(x) % (3 * c->bs + 1);
    return d > pos ? 0 : pos - d;
  }
  if (r < 67) return pos + rnd(x) % (2 * c->bs + 1);
  if (r < 85) return rnd(x) % size;
  if (r < 92) return size - min64(size, 1 + rnd(x) % (len + 1));
  if (r < 95) return size + rnd(x) % 50;
  return rnd(x) % 8;
}

static gsr_file open_cache(const char *obj, const char *cache, uint64_t bs,
                           int maxb, const char *prefetch) {
  char url[512];
  gsr_file f;
  gsr_file_options o;
  gsr_file_options_init(&o);
  o.cache_type = cache;
  o.block_size = bs;
  o.max_blocks = maxb;
  o.concurrency = 1;
  o.prefetch = prefetch;
  snprintf(url, sizeof(url), "gs://%s/%s", BUCKET, obj);
  int s = gsr_open(fx.client, url, &o, &f);
  if (s != GSR_OK) fail_msg("open %s (%s): %s", url, cache, gsr_errmsg());
  return f;
}

/* One read through one of the four calls; checks its bytes. */
static void do_read(gsr_file f, int kind, int64_t *fpos, uint64_t off,
                    size_t len, const struct ts_object *o, unsigned char *buf,
                    gsr_slice *sl) {
  int64_t n;
  size_t ns = 0;
  if ((kind == 1 || kind == 3) && *fpos != (int64_t)off)
    assert_int_equal(gsr_seek(f, (int64_t)off, GSR_SEEK_SET), (int64_t)off);
  if (kind == 0)
    n = gsr_pread(f, buf, len, (int64_t)off);
  else if (kind == 1)
    n = gsr_read(f, buf, len);
  else if (kind == 2)
    n = gsr_pread_slices(f, len, (int64_t)off, sl, MAX_SLICES, &ns);
  else
    n = gsr_read_slices(f, len, sl, MAX_SLICES, &ns);
  if (n < 0)
    fail_msg("read %llu+%zu: %s", (unsigned long long)off, len, gsr_errmsg());
  size_t want = off >= o->size ? 0 : (size_t)min64(len, o->size - off);
  assert_int_equal(n, (int64_t)want);
  if (kind == 1 || kind == 3) *fpos = (int64_t)off + n;
  if (kind >= 2) { /* the slices, in order, are the bytes */
    size_t at = 0;
    for (size_t i = 0; i < ns; i++) {
      assert_true(at + sl[i].len <= want);
      assert_memory_equal(sl[i].data, o->data + off + at, sl[i].len);
      at += sl[i].len;
      gsr_slice_release(&sl[i]);
    }
    assert_int_equal(at, want);
  } else if (want > 0) {
    assert_memory_equal(buf, o->data + off, want);
  }
}

static void expect_range(uint64_t a, uint64_t b, int step, int timeout_ms) {
  uint64_t x, y;
  if (!log_next_media(&x, &y, timeout_ms))
    fail_msg("step %d: expected a request for [%llu, %llu), none came", step,
             (unsigned long long)a, (unsigned long long)b);
  if (x != a || y != b)
    fail_msg("step %d: expected [%llu, %llu), the server got [%llu, %llu)",
             step, (unsigned long long)a, (unsigned long long)b,
             (unsigned long long)x, (unsigned long long)y);
}

/* background: the fetch the model predicts after a read. If an earlier
 * background fetch may still have been running when the read began, the
 * library may rightly skip it: then the log decides (rare: the server logs
 * a request a moment before the client has it). */
static int bg_races, bg_started;
static void check_background(struct model *m, int64_t cand, int certain,
                             int step) {
  uint64_t a, b;
  if (cand < 0) return;
  uint64_t ca = (uint64_t)cand * m->bs, cb = min64(m->size, ca + m->bs);
  if (certain) {
    expect_range(ca, cb, step, 5000);
  } else if (!log_next_media(&a, &b, 1000)) {
    bg_races++;
    return;
  } else if (a != ca || b != cb) {
    fail_msg("step %d: expected background [%llu, %llu), got [%llu, %llu)",
             step, (unsigned long long)ca, (unsigned long long)cb,
             (unsigned long long)a, (unsigned long long)b);
  }
  model_bg_started(m, (uint64_t)cand);
  bg_started++;
  usleep(1000); /* the server logs a request a moment before we have it */
}

static void check_stats(gsr_file f, const struct model *m) {
  gsr_file_stats st;
  assert_int_equal(gsr_file_stats_get(f, &st), GSR_OK);
  assert_int_equal(st.hits, m->hits);
  assert_int_equal(st.misses, m->misses);
  if (m->type != BG) { /* a background fetch is counted once collected */
    assert_int_equal(st.requests, m->requests);
    assert_int_equal(st.bytes_fetched, m->bytes);
  }
}

static void expect_all_freed(void) {
  gsr_client_stats cs;
  assert_int_equal(gsr_client_stats_get(fx.client, &cs), GSR_OK);
  assert_int_equal(cs.buffered, 0);
}

/* Runs c->steps random reads on one file; if rec is given, appends every
 * request seen to it. */
static void run_model(enum ctype type, const struct cfg *c, uint64_t seed,
                      struct rlist *rec) {
  const struct ts_object *o = fx_object(c->obj);
  struct model m = {
      .type = type, .size = o->size, .bs = c->bs, .maxb = c->maxb};
  m.count = (o->size + c->bs - 1) / c->bs;
  unsigned char *buf = malloc(c->maxlen + 1);
  gsr_slice *sl = calloc(MAX_SLICES, sizeof(*sl));
  gsr_file f = open_cache(c->obj, cnames[type], c->bs, c->maxb, "off");
  log_drain();
  uint64_t x = seed, pos = 0;
  int64_t fpos = 0;
  for (int step = 0; step < c->steps; step++) {
    size_t len = (size_t)pick_len(&x, c);
    uint64_t off = pick_off(&x, pos, len, c, o->size);
    int kind = (int)(rnd(&x) % 6) % 4, certain;
    int64_t cand;
    struct rlist rl;
    model_read(&m, off, len, &rl, &cand, &certain);
    do_read(f, kind, &fpos, off, len, o, buf, sl);
    for (int i = 0; i < rl.n; i++) {
      expect_range(rl.a[i], rl.b[i], step, 5000);
      if (rec != NULL && rec->n < 512) {
        rec->a[rec->n] = rl.a[i];
        rec->b[rec->n++] = rl.b[i];
      }
    }
    if (type == BG) check_background(&m, cand, certain, step);
    pos = off < o->size ? off + min64(len, o->size - off) : off;
  }
  check_stats(f, &m);
  assert_int_equal(gsr_close(f), GSR_OK);
  uint64_t a, b;
  if (log_next_media(&a, &b, 50))
    fail_msg("%s: unexpected request [%llu, %llu) at the end", cnames[type],
             (unsigned long long)a, (unsigned long long)b);
  expect_all_freed();
  free(buf);
  free(sl);
}

static void run_all_cfgs(enum ctype type) {
  double t0 = now_s();
  for (size_t i = 0; i < N_CFGS; i++)
    run_model(type, &cfgs[i], 1000 * (uint64_t)type + i + 1, NULL);
  print_message("%-18s %.2f s\n", cnames[type], now_s() - t0);
}

/* A test per cache type: the model's configurations, each checked. */
#define MODEL_TEST(name, type)                  \
  static void test_model_##name(void **state) { \
    (void)state;                                \
    run_all_cfgs(type);                         \
  }
MODEL_TEST(readahead, RA)
MODEL_TEST(readahead_chunked, RAC)
MODEL_TEST(blockcache, BLOCK)
MODEL_TEST(first, FIRST)
MODEL_TEST(all, ALL)
MODEL_TEST(bytes, BYTES)

static void test_model_background(void **state) {
  (void)state;
  bg_races = bg_started = 0;
  run_all_cfgs(BG);
  print_message("background: %d fetches, %d timing-dependent skips\n",
                bg_started, bg_races);
}

/* ---- readahead and readahead_chunked: the same requests ------------------ */

static void test_readahead_twins(void **state) {
  (void)state;
  static struct rlist r1, r2;
  for (size_t i = 0; i < N_CFGS; i++) {
    r1.n = r2.n = 0;
    run_model(RA, &cfgs[i], 77 + i, &r1);
    run_model(RAC, &cfgs[i], 77 + i, &r2);
    assert_true(r1.n > 0);
    assert_int_equal(r1.n, r2.n);
    assert_memory_equal(r1.a, r2.a, sizeof(r1.a[0]) * (size_t)r1.n);
    assert_memory_equal(r1.b, r2.b, sizeof(r1.b[0]) * (size_t)r1.n);
  }
}

/* ---- Default options: the cache alone, fsspec's requests ------------------
 */

/* A client whose files prefetch by default (as $GSREAD_PREFETCH or gcsfs's
 * variable would make them) opens files with default options but a cache:
 * the prefetcher stays off, so a trace of reads (sequential runs, which
 * would start it, and seeks) sends exactly the model's requests, in
 * order, every run: readahead and readahead_chunked alike. */
static void test_cache_default_options_exact(void **state) {
  (void)state;
  const struct ts_object *o = fx_object("o40m");
  gsr_client *pc;
  gsr_client_options co;
  fx_client_options(&co);
  co.prefetch = "adaptive";
  assert_int_equal(gsr_client_new(&co, &pc), GSR_OK);
  static const struct {
    uint64_t off, len, count;
  } trace[] = {
      {0, 64 * 1024, 200},        /* 12.5 MiB front to back */
      {3 * MiB + 5, 100000, 30},  /* a seek back, then on */
      {20 * MiB, 256 * 1024, 60}, /* a jump, 15 MiB on */
      {40 * MiB - 1000, 4096, 1}, /* the end */
  };
  size_t bufsz = 256 * 1024;
  unsigned char *buf = malloc(bufsz);
  assert_non_null(buf);
  int requests_per_run = -1;
  for (int run = 0; run < 10; run++) {
    for (enum ctype type = RA; type <= RAC; type++) {
      char url[256];
      gsr_file_options fo;
      gsr_file f;
      gsr_file_options_init(&fo);
      fo.cache_type = cnames[type];
      snprintf(url, sizeof(url), "gs://%s/%s", BUCKET, o->name);
      assert_int_equal(gsr_open(pc, url, &fo, &f), GSR_OK);
      struct model m = {.type = type, .size = o->size, .bs = 5 * MiB};
      int seen = 0, step = 0;
      log_drain();
      for (size_t t = 0; t < sizeof(trace) / sizeof(trace[0]); t++) {
        uint64_t off = trace[t].off;
        assert_int_equal(gsr_seek(f, (int64_t)off, GSR_SEEK_SET), (int64_t)off);
        for (uint64_t k = 0; k < trace[t].count; k++, step++) {
          struct rlist rl;
          int64_t cand;
          int certain;
          size_t len = (size_t)trace[t].len;
          size_t want = (size_t)min64(len, o->size - off);
          model_read(&m, off, len, &rl, &cand, &certain);
          assert_int_equal(gsr_read(f, buf, len), (int64_t)want);
          assert_memory_equal(buf, o->data + off, want);
          for (int i = 0; i < rl.n; i++, seen++)
            expect_range(rl.a[i], rl.b[i], step, 5000);
          off += want;
        }
      }
      gsr_file_stats st;
      assert_int_equal(gsr_file_stats_get(f, &st), GSR_OK);
      assert_string_equal(st.plan, "none");
      assert_int_equal(st.requests, m.requests);
      assert_int_equal(gsr_close(f), GSR_OK);
      uint64_t a, b;
      if (log_next_media(&a, &b, 100))
        fail_msg("run %d %s: unexpected request [%llu, %llu)", run,
                 cnames[type], (unsigned long long)a, (unsigned long long)b);
      if (requests_per_run < 0) requests_per_run = seen;
      assert_int_equal(seen, requests_per_run);
    }
  }
  print_message("default options + cache: %d requests per run, as fsspec\n",
                requests_per_run);
  free(buf);
  gsr_client_free(pc);
}

/* ---- Zero-copy ------------------------------------------------------------
 */

static void get_stats(gsr_file f, gsr_file_stats *st) {
  assert_int_equal(gsr_file_stats_get(f, st), GSR_OK);
}

/* The slices s[0..n), in order, hold o's bytes from off on; releases them
 * and returns how many bytes they held. */
static size_t check_slices(const struct ts_object *o, uint64_t off,
                           gsr_slice *s, size_t n) {
  size_t at = 0;
  for (size_t k = 0; k < n; k++) {
    assert_memory_equal(s[k].data, o->data + off + at, s[k].len);
    at += s[k].len;
    gsr_slice_release(&s[k]);
  }
  return at;
}

/* Keeps a slice with the offset its bytes came from. */
struct held {
  gsr_slice s[64];
  uint64_t off[64];
  size_t n;
};

static void hold(struct held *h, const gsr_slice *s, size_t n, uint64_t off) {
  for (size_t i = 0; i < n; i++) {
    assert_true(h->n < 64);
    h->off[h->n] = off;
    h->s[h->n++] = s[i];
    off += s[i].len;
  }
}

static void test_zero_copy_chunked(void **state) {
  (void)state;
  const struct ts_object *o = fx_object("o100k");
  gsr_file f = open_cache(o->name, "readahead_chunked", 4096, 32, "off");
  struct held h = {.n = 0};
  gsr_slice s[4];
  size_t n;
  gsr_file_stats st;
  uint64_t x = 5, refd = 1000;
  /* A miss: [100, 1100) is the requested chunk, [1100, 5196) read-ahead. */
  assert_int_equal(gsr_pread_slices(f, 1000, 100, s, 4, &n), 1000);
  assert_int_equal(n, 1);
  hold(&h, s, n, 100);
  void *ahead = NULL;
  for (int i = 0; i < 40; i++) { /* any alignment inside one chunk */
    uint64_t off = 1100 + rnd(&x) % 4000, len = 1 + rnd(&x) % (5196 - off);
    assert_int_equal(gsr_pread_slices(f, len, (int64_t)off, s, 4, &n),
                     (int64_t)len);
    assert_int_equal(n, 1);
    if (ahead == NULL) ahead = s[0].owner;
    assert_ptr_equal(s[0].owner, ahead); /* the same chunk, referenced */
    hold(&h, s, n, off);
    refd += len;
  }
  /* Spanning both chunks: two slices, still no copy. */
  assert_int_equal(gsr_pread_slices(f, 2000, 200, s, 4, &n), 2000);
  assert_int_equal(n, 2);
  hold(&h, s, n, 200);
  refd += 2000;
  get_stats(f, &st);
  assert_int_equal(st.bytes_copied, 0);
  assert_int_equal(st.bytes_referenced, refd);
  assert_int_equal(st.requests, 1);
  assert_int_equal(st.hits, 41);
  /* A partial hit: the cached tail by reference, the rest fetched. */
  assert_int_equal(gsr_pread_slices(f, 3000, 4196, s, 4, &n), 3000);
  assert_int_equal(n, 2);
  hold(&h, s, n, 4196);
  /* Move the window far away, then close: the slices stay as they were. */
  assert_int_equal(gsr_pread_slices(f, 10, 90000, s, 4, &n), 10);
  hold(&h, s, n, 90000);
  get_stats(f, &st);
  assert_int_equal(st.bytes_copied, 0);
  assert_int_equal(st.requests, 3);
  assert_int_equal(gsr_close(f), GSR_OK);
  gsr_client_stats cs;
  assert_int_equal(gsr_client_stats_get(fx.client, &cs), GSR_OK);
  assert_true(cs.buffered > 0); /* the slices hold their chunks */
  for (size_t i = 0; i < h.n; i++) {
    assert_memory_equal(h.s[i].data, o->data + h.off[i], h.s[i].len);
    gsr_slice_release(&h.s[i]);
    assert_null(h.s[i].data);
  }
  expect_all_freed();
  log_drain();
}

/* Every cache that keeps bytes hands them out by reference, and those
 * slices outlive the window and the file. */
static void test_slices_outlive_everything(void **state) {
  (void)state;
  const struct ts_object *o = fx_object("o100k");
  const enum ctype types[] = {RA, RAC, BLOCK, BG, FIRST, ALL, BYTES};
  for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
    gsr_file f = open_cache(o->name, cnames[types[t]], 1000, 4, "off");
    gsr_slice s[8][16];
    size_t n[8];
    uint64_t offs[8] = {0, 10, 500, 1500, 50000, 99990, 20, 70000};
    size_t lens[8] = {100, 300, 2000, 10, 900, 100, 50, 3000};
    for (int i = 0; i < 8; i++) {
      int64_t want = (int64_t)min64(lens[i], o->size - offs[i]);
      assert_int_equal(
          gsr_pread_slices(f, lens[i], (int64_t)offs[i], s[i], 16, &n[i]),
          want);
    }
    assert_int_equal(gsr_close(f), GSR_OK);
    for (int i = 0; i < 8; i++)
      assert_int_equal(check_slices(o, offs[i], s[i], n[i]),
                       min64(lens[i], o->size - offs[i]));
    expect_all_freed();
  }
  log_drain();
}

/* readahead keeps ONE window chunk: a partial hit joins the cached tail
 * and the new bytes into one new chunk (counted as copied), where
 * readahead_chunked hands out two references. */
static void test_readahead_partial_hit_copies(void **state) {
  (void)state;
  const struct ts_object *o = fx_object("o100k");
  gsr_file_stats st;
  gsr_slice s[4];
  size_t n;
  for (int chunked = 0; chunked < 2; chunked++) {
    gsr_file f = open_cache(
        o->name, chunked ? "readahead_chunked" : "readahead", 1000, 32, "off");
    assert_int_equal(gsr_pread_slices(f, 100, 0, s, 4, &n), 100); /* [0,1100) */
    gsr_slice_release(&s[0]);
    assert_int_equal(gsr_pread_slices(f, 500, 1000, s, 4, &n),
                     500); /* partial */
    check_slices(o, 1000, s, n);
    get_stats(f, &st);
    assert_int_equal(n, chunked ? 2 : 1);
    assert_int_equal(st.bytes_copied, chunked ? 0 : 500);
    assert_int_equal(st.bytes_referenced, chunked ? 600 : 100);
    assert_int_equal(st.requests, 2);
    gsr_close(f);
  }
  expect_all_freed();
  log_drain();
}

/* A full slice array: the read stops short and fetches nothing more. */
static void test_short_slices(void **state) {
  (void)state;
  const struct ts_object *o = fx_object("o1000");
  gsr_file_stats st;
  gsr_slice s[2];
  size_t n;
  gsr_file f = open_cache(o->name, "blockcache", 100, 32, "off");
  assert_int_equal(gsr_pread_slices(f, 450, 50, s, 2, &n), 150);
  assert_int_equal(n, 2);
  assert_memory_equal(s[0].data, o->data + 50, 50);
  assert_memory_equal(s[1].data, o->data + 100, 100);
  get_stats(f, &st);
  assert_int_equal(st.requests, 2);
  gsr_slice_release(&s[0]);
  gsr_slice_release(&s[1]);
  gsr_close(f);
  f = open_cache(o->name, "readahead_chunked", 100, 32, "off");
  assert_int_equal(gsr_pread_slices(f, 10, 0, s, 2, &n),
                   10); /* [0,10)+[10,110) */
  gsr_slice_release(&s[0]);
  assert_int_equal(gsr_pread_slices(f, 200, 5, s, 1, &n), 5); /* tail only */
  assert_memory_equal(s[0].data, o->data + 5, 5);
  gsr_slice_release(&s[0]);
  get_stats(f, &st);
  assert_int_equal(st.requests, 1);
  gsr_close(f);
  expect_all_freed();
  log_drain();
}

/* Random preads (mostly sequential runs), checked byte for byte. */
static void random_reads(gsr_file f, const struct ts_object *o, uint64_t seed,
                         size_t maxlen, int count) {
  unsigned char *buf = malloc(maxlen);
  uint64_t x = seed, pos = 0;
  for (int i = 0; i < count; i++) {
    uint64_t off = rnd(&x) % 3 ? pos : rnd(&x) % o->size;
    size_t len = (size_t)(rnd(&x) % maxlen);
    int64_t n = gsr_pread(f, buf, len, (int64_t)off);
    size_t want = off >= o->size ? 0 : (size_t)min64(len, o->size - off);
    if (n != (int64_t)want)
      fail_msg("pread: %lld, %s", (long long)n, gsr_errmsg());
    assert_true(want == 0 || memcmp(buf, o->data + off, want) == 0);
    pos = off + want;
  }
  free(buf);
}

/* ---- Stats for known sequences ------------------------------------------- */

struct rd {
  uint64_t off;
  size_t len;
};

static void stats_case(const char *cache, int maxb, const struct rd *reads,
                       int nreads, uint64_t hits, uint64_t misses,
                       uint64_t requests, uint64_t bytes) {
  const struct ts_object *o = fx_object("o1000");
  unsigned char buf[1000];
  gsr_file_stats st;
  gsr_file f = open_cache(o->name, cache, 100, maxb, "off");
  for (int i = 0; i < nreads; i++) {
    int64_t want = (int64_t)min64(reads[i].len, o->size - reads[i].off);
    assert_int_equal(gsr_pread(f, buf, reads[i].len, (int64_t)reads[i].off),
                     want);
    assert_memory_equal(buf, o->data + reads[i].off, (size_t)want);
  }
  get_stats(f, &st);
  if (st.hits != hits || st.misses != misses || st.requests != requests ||
      st.bytes_fetched != bytes)
    fail_msg("%s: hits %llu misses %llu requests %llu bytes %llu", cache,
             (unsigned long long)st.hits, (unsigned long long)st.misses,
             (unsigned long long)st.requests,
             (unsigned long long)st.bytes_fetched);
  assert_int_equal(st.reads, nreads);
  gsr_close(f);
}

static void test_stats(void **state) {
  (void)state;
  /* block 100 on a 1000-byte object. */
  const struct rd ra[] = {{0, 10}, {10, 50}, {100, 20}, {500, 10}, {990, 50}};
  stats_case("readahead", 32, ra, 5, 1, 4, 4, 110 + 110 + 110 + 10);
  stats_case("readahead_chunked", 32, ra, 5, 1, 4, 4, 340);
  const struct rd bl[] = {{0, 10}, {10, 50}, {90, 120}, {0, 10}, {150, 10}};
  stats_case("blockcache", 2, bl, 5, 1, 5, 5, 500);
  const struct rd bg[] = {{0, 10}, {100, 10}, {200, 10}, {300, 700}};
  stats_case("background", 32, bg, 4, 2, 10, 10, 1000);
  const struct rd fc[] = {{50, 10}, {0, 100}, {90, 60}, {500, 10}};
  stats_case("first", 32, fc, 4, 1, 3, 3, 100 + 50 + 10);
  const struct rd wide[] = {{10, 240}, {0, 100}};
  stats_case("first", 32, wide, 2, 1, 1, 1, 250);
  const struct rd al[] = {{5, 5}, {900, 50}, {0, 1000}};
  stats_case("all", 32, al, 3, 2, 1, 1, 1000);
  const struct rd by[] = {{0, 10},   {20, 10},  {100, 10},
                          {150, 10}, {980, 20}, {990, 10}};
  stats_case("bytes", 32, by, 6, 1, 5, 4, 110 + 100 + 50 + 20);
  log_drain();
}

/* ---- background: close while its fetch runs ------------------------------ */

static void test_background_close_while_fetching(void **state) {
  (void)state;
  const struct ts_object *o = fx_object("o3m");
  unsigned char buf[10];
  gsr_file f = open_cache(o->name, "background", MiB, 32, "off");
  assert_int_equal(ts_control(&fx.srv, "config?ttfb_ms=800"), 200);
  assert_int_equal(gsr_pread(f, buf, 10, 0), 10); /* starts block 1 */
  double t0 = now_s();
  assert_int_equal(gsr_close(f), GSR_OK);
  double took = now_s() - t0;
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  assert_memory_equal(buf, o->data, 10);
  if (took > 0.4)
    fail_msg("close waited %.3f s for the background fetch", took);
  expect_all_freed();
  /* The read's block; then the canceled one, if it had reached the server
   * (which logs it when its delay ends). */
  uint64_t a, b;
  assert_true(log_next_media(&a, &b, 1500));
  assert_true(a == 0 && b == MiB);
  if (log_next_media(&a, &b, 1500)) assert_true(a == MiB && b == 2 * MiB);
  log_drain();
}

/* A read that needs the block being fetched in the background waits for
 * that fetch instead of sending its own request. */
static void test_background_read_joins_fetch(void **state) {
  (void)state;
  const struct ts_object *o = fx_object("o3m");
  unsigned char buf[100];
  gsr_file_stats st;
  uint64_t a, b;
  gsr_client_stats cs;
  log_drain();
  assert_int_equal(gsr_client_stats_get(fx.client, &cs), GSR_OK);
  uint64_t sent0 = cs.requests;
  gsr_file f = open_cache(o->name, "background", MiB, 32, "off");
  assert_int_equal(ts_control(&fx.srv, "config?ttfb_ms=300"), 200);
  assert_int_equal(gsr_pread(f, buf, 10, 0), 10); /* block 0; starts 1 */
  assert_int_equal(gsr_pread(f, buf, 100, MiB + 5), 100); /* needs block 1 */
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  assert_memory_equal(buf, o->data + MiB + 5, 100);
  get_stats(f, &st);
  /* Blocks 0 and 1, and block 2's once it went on the wire. */
  assert_true(st.requests == 2 || st.requests == 3);
  assert_int_equal(st.hits, 1);
  assert_int_equal(st.misses, 3); /* blocks 0, 1 and now 2 in the background */
  gsr_close(f);
  expect_all_freed();
  /* The server saw block 0, block 1 once, and maybe block 2 (canceled at
   * close, possibly before it was sent): as many as were counted. */
  uint64_t seen = 2;
  for (uint64_t k = 0; k < 2; k++) {
    assert_true(log_next_media(&a, &b, 3000));
    assert_true(a == k * MiB && b == (k + 1) * MiB);
  }
  if (log_next_media(&a, &b, 1000)) {
    assert_true(a == 2 * MiB && b == 3 * MiB);
    seen++;
  }
  log_drain();
  assert_int_equal(gsr_client_stats_get(fx.client, &cs), GSR_OK);
  assert_int_equal(cs.requests - sent0, seen);
}

/* ---- Other sources: local files and the prefetcher ----------------------- */

static void test_other_sources(void **state) {
  (void)state;
  const struct ts_object *o = fx_object("o100k");
  for (int t = 0; t < 7; t++) {
    char url[1024];
    gsr_file f;
    gsr_file_options opt;
    gsr_file_options_init(&opt);
    opt.cache_type = cnames[t];
    opt.block_size = 3000;
    opt.max_blocks = 3;
    opt.prefetch = "off";
    snprintf(url, sizeof(url), "file://%s/%s/%s", fx.srv.data, BUCKET, o->name);
    assert_int_equal(gsr_open(fx.client, url, &opt, &f), GSR_OK);
    random_reads(f, o, 10 + (uint64_t)t, 40000, 300);
    gsr_close(f);
    f = open_cache(o->name, cnames[t], 3000, 3, "adaptive");
    random_reads(f, o, 20 + (uint64_t)t, 40000, 300);
    gsr_close(f);
    ts_http_url(&fx.srv, BUCKET, o->name, url, sizeof(url));
    assert_int_equal(gsr_open(fx.client, url, &opt, &f), GSR_OK);
    random_reads(f, o, 30 + (uint64_t)t, 40000, 300);
    gsr_close(f);
  }
  expect_all_freed();
  log_drain();
}

/* Fetches split over 4 connections land in place, across chunk bounds. */
static void test_split_fetches(void **state) {
  (void)state;
  const struct ts_object *o = fx_object("o3m");
  for (int t = 0; t < 7; t++) {
    char url[512];
    gsr_file f;
    gsr_file_options opt;
    gsr_file_options_init(&opt);
    opt.cache_type = cnames[t];
    opt.block_size = 700000;
    opt.max_blocks = 3;
    opt.concurrency = 4;
    opt.min_part_size = 100000;
    opt.prefetch = "off";
    snprintf(url, sizeof(url), "gs://%s/%s", BUCKET, o->name);
    assert_int_equal(gsr_open(fx.client, url, &opt, &f), GSR_OK);
    random_reads(f, o, 40 + (uint64_t)t, 1500000, 60);
    gsr_close(f);
  }
  expect_all_freed();
  log_drain();
}

struct thread_arg {
  gsr_file f;
  const struct ts_object *o;
  uint64_t seed;
  int errors;
};

static void *reader_thread(void *p) {
  struct thread_arg *a = p;
  gsr_slice s[64];
  uint64_t x = a->seed;
  for (int i = 0; i < 100; i++) {
    uint64_t off = rnd(&x) % a->o->size;
    size_t len = (size_t)(rnd(&x) % 5000), n, at = 0;
    int64_t got = gsr_pread_slices(a->f, len, (int64_t)off, s, 64, &n);
    if (got != (int64_t)min64(len, a->o->size - off)) a->errors++;
    for (size_t k = 0; k < n; k++) {
      if (memcmp(s[k].data, a->o->data + off + at, s[k].len) != 0) a->errors++;
      at += s[k].len;
      gsr_slice_release(&s[k]);
    }
  }
  return NULL;
}

/* Threads share one file: reads are serialized, slices stay consistent. */
static void test_threads(void **state) {
  (void)state;
  const struct ts_object *o = fx_object("o100k");
  for (int t = 0; t < 7; t++) {
    gsr_file f = open_cache(o->name, cnames[t], 2000, 4, "off");
    struct thread_arg a[4];
    for (int i = 0; i < 4; i++)
      a[i] = (struct thread_arg){f, o, 100 * (uint64_t)t + (uint64_t)i, 0};
    FX_RUN_THREADS(4, reader_thread, a);
    for (int i = 0; i < 4; i++) assert_int_equal(a[i].errors, 0);
    gsr_close(f);
  }
  expect_all_freed();
  log_drain();
}

static void test_alias_and_errors(void **state) {
  (void)state;
  gsr_file f = open_cache("o1000", "readahead_v2", 100, 32, "off");
  unsigned char buf[100];
  gsr_file_stats st;
  assert_int_equal(gsr_pread(f, buf, 10, 0), 10);
  assert_int_equal(gsr_pread(f, buf, 10, 50), 10);
  get_stats(f, &st);
  assert_int_equal(st.requests, 1);
  /* A failed fetch is an error (403: not retried), and the cache still
   * works afterwards. */
  assert_int_equal(
      ts_control(&fx.srv,
                 "config?fault_kind=status&fault_status=403&fault_next=1"),
      200);
  assert_int_equal(gsr_pread(f, buf, 10, 500), GSR_EACCES);
  assert_int_equal(gsr_pread(f, buf, 10, 60), 10); /* the old window stays */
  assert_memory_equal(buf, fx_object("o1000")->data + 60, 10);
  assert_int_equal(gsr_pread(f, buf, 10, 500), 10);
  assert_memory_equal(buf, fx_object("o1000")->data + 500, 10);
  assert_int_equal(ts_control(&fx.srv, "reset"), 200);
  gsr_close(f);
  expect_all_freed();
  log_drain();
}

/* ---- Allocation failures --------------------------------------------------
 */

uint64_t gsr__alloc_fail_at(uint64_t k); /* the library's test hook */

/* A few reads over every path of a cache; each one returns the right
 * bytes, or (when must_work is 0) fails cleanly. */
static void failing_reads(gsr_file f, int must_work) {
  static const struct frd {
    uint64_t off;
    size_t len;
    int slices;
  } rds[] = {{0, 10, 0},   {5, 300, 1},  {150, 500, 0},
             {990, 50, 0}, {100, 50, 1}, {20, 10, 0}};
  const struct ts_object *o = fx_object("o1000");
  unsigned char buf[600];
  gsr_slice s[16];
  for (size_t i = 0; i < sizeof(rds) / sizeof(rds[0]); i++) {
    size_t n = 0, want = (size_t)min64(rds[i].len, o->size - rds[i].off);
    int64_t got = rds[i].slices
                      ? gsr_pread_slices(f, rds[i].len, (int64_t)rds[i].off, s,
                                         16, &n)
                      : gsr_pread(f, buf, rds[i].len, (int64_t)rds[i].off);
    if (got < 0 && !must_work) continue;
    assert_int_equal(got, (int64_t)want);
    size_t at = 0;
    for (size_t k = 0; k < n; k++) {
      memcpy(buf + at, s[k].data, s[k].len);
      at += s[k].len;
      gsr_slice_release(&s[k]);
    }
    assert_memory_equal(buf, o->data + rds[i].off, want);
  }
}

/* The k-th allocation fails, for every k the reads make: no crash, no
 * leak, and the cache still works afterwards. */
static void test_alloc_failures(void **state) {
  (void)state;
  for (int t = 0; t < 7; t++) {
    gsr_file f = open_cache("o1000", cnames[t], 100, 2, "off");
    gsr__alloc_fail_at(0);
    failing_reads(f, 1);
    uint64_t count = gsr__alloc_fail_at(0);
    gsr_close(f);
    for (uint64_t k = 1; k <= count + 2; k++) {
      f = open_cache("o1000", cnames[t], 100, 2, "off");
      gsr__alloc_fail_at(k);
      failing_reads(f, 0);
      gsr__alloc_fail_at(0);
      failing_reads(f, 1);
      gsr_close(f);
      expect_all_freed();
    }
  }
  log_drain();
}

/* ---- Setup ----------------------------------------------------------------
 */

const struct fx_spec fx_spec = {FX_OBJECTS(objects), .bucket = BUCKET,
                                .seed = 101, .client = 1};

static int teardown(void **state) {
  if (log_fp) fclose(log_fp);
  return fx_teardown(state);
}

/* A read into the caller's buffer that runs to the end of the object (and
 * is at least a block and 16 MiB long) lands straight in that buffer,
 * whatever the cache: the client never holds a second copy of it
 * (gsr__read_skips_cache). */
static void test_whole_rest_skips_the_cache(void **state) {
  (void)state;
  /* Not "all": its first read fetches the whole object, by design. */
  static const char *const caches[] = {
      "none",  "readahead", "readahead_chunked", "blockcache", "background",
      "first", "bytes"};
  const struct ts_object *o = fx_object("o40m");
  unsigned char *buf = malloc(o->size);
  assert_non_null(buf);
  for (size_t i = 0; i < sizeof(caches) / sizeof(caches[0]); i++) {
    gsr_client *c;
    gsr_client_options co;
    fx_client_options(&co);
    assert_int_equal(gsr_client_new(&co, &c), GSR_OK);
    gsr_file f;
    gsr_file_options fo;
    gsr_file_options_init(&fo);
    fo.cache_type = caches[i];
    assert_int_equal(gsr_open(c, "gs://" BUCKET "/o40m", &fo, &f), GSR_OK);
    assert_int_equal(gsr_read(f, buf, 1000), 1000); /* the cache primed */
    int64_t n = gsr_read(f, buf + 1000, o->size);
    assert_int_equal(n, (int64_t)o->size - 1000);
    assert_memory_equal(buf, o->data, o->size);
    gsr_client_stats cs;
    assert_int_equal(gsr_client_stats_get(c, &cs), GSR_OK);
    if (cs.peak_buffered >= 16 * MiB)
      fail_msg("%s: a whole-rest read held %llu bytes", caches[i],
               (unsigned long long)cs.peak_buffered);
    gsr_close(f);
    gsr_client_free(c);
  }
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stats),
      cmocka_unit_test(test_alias_and_errors),
      cmocka_unit_test(test_zero_copy_chunked),
      cmocka_unit_test(test_slices_outlive_everything),
      cmocka_unit_test(test_readahead_partial_hit_copies),
      cmocka_unit_test(test_short_slices),
      cmocka_unit_test(test_background_close_while_fetching),
      cmocka_unit_test(test_background_read_joins_fetch),
      cmocka_unit_test(test_split_fetches),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_alloc_failures),
      cmocka_unit_test(test_other_sources),
      cmocka_unit_test(test_model_readahead),
      cmocka_unit_test(test_model_readahead_chunked),
      cmocka_unit_test(test_model_blockcache),
      cmocka_unit_test(test_model_background),
      cmocka_unit_test(test_model_first),
      cmocka_unit_test(test_model_all),
      cmocka_unit_test(test_model_bytes),
      cmocka_unit_test(test_readahead_twins),
      cmocka_unit_test(test_cache_default_options_exact),
      cmocka_unit_test(test_whole_rest_skips_the_cache),
  };
  return cmocka_run_group_tests(tests, fx_group_setup, teardown);
}
