/* gsread bench --ranges FILE: the same list of ranges read one of five
 * ways (--ranges-mode), so that a vectored read can be compared with what
 * a reader without one does, in the same run on the same object:
 *
 *   vectored           gsr_read_ranges, one call per batch
 *   pread              one gsr_pread per range, one after the other
 *   pread-threads=N    the same, from N threads at once (default 16), all
 *                      on one handle
 *   pread-handles=N    the same, each thread on a handle of its own (the
 *                      others opened before the clock starts): what
 *                      pread-threads on one handle is measured against
 *   get-per-range=N    one GET per range (file concurrency 1: never split
 *                      into parts), N at a time (default 4): gcsfs's
 *                      cat_ranges
 *
 * A batch (--batch ranges, and at most 256 MiB, as cat --ranges reads
 * them) is a barrier in every mode: the next starts once all of its
 * ranges are in, as for a reader that needs a batch before it knows the
 * next (Zarr chunks, Parquet row groups). Every mode reads into the same
 * buffer, one place per range, touched before the clock starts.
 *
 * Runs in this process (no workers): one measurement, one file.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_THREADS 256

/* ---- Modes ---------------------------------------------------------------*/

/* Every mode's settings, in one place. */
static const struct rmode_def {
  const char *name;
  int default_threads; /* 0: the mode takes no "=N" */
  int vectored;        /* gsr_read_ranges; else gsr_pread per range */
  int one_request;     /* file concurrency 1: a range is one GET */
  int own_handles;     /* each pread thread opens its own handle */
} rmodes[] = {
    [CLI_RMODE_VECTORED] = {"vectored", 0, 1, 0, 0},
    [CLI_RMODE_PREAD] = {"pread", 0, 0, 0, 0},
    [CLI_RMODE_PREAD_THREADS] = {"pread-threads", 16, 0, 0, 0},
    [CLI_RMODE_GET_PER_RANGE] = {"get-per-range", 4, 0, 1, 0},
    [CLI_RMODE_PREAD_HANDLES] = {"pread-handles", 16, 0, 0, 1},
};

int cli_ranges_mode_parse(const char *text, struct cli_ranges_mode *m) {
  for (size_t k = 0; k < sizeof rmodes / sizeof rmodes[0]; k++) {
    const struct rmode_def *d = &rmodes[k];
    size_t len = strlen(d->name);
    const char *p = text + len;
    long v = 0;

    if (strncmp(text, d->name, len) != 0 || (*p != '\0' && *p != '=')) continue;
    if (*p == '\0') {
      m->kind = (enum cli_rmode)k;
      m->threads = d->default_threads ? d->default_threads : 1;
      return 0;
    }
    if (!d->default_threads || p[1] < '1' || p[1] > '9' || strlen(p) > 4)
      return -1;
    for (p++; *p >= '0' && *p <= '9'; p++) v = v * 10 + (*p - '0');
    if (*p != '\0' || v > MAX_THREADS) return -1;
    m->kind = (enum cli_rmode)k;
    m->threads = (int)v;
    return 0;
  }
  return -1;
}

void cli_ranges_mode_name(const struct cli_ranges_mode *m, char *buf,
                          size_t n) {
  const struct rmode_def *d = &rmodes[m->kind];

  if (d->default_threads)
    snprintf(buf, n, "%s=%d", d->name, m->threads);
  else
    snprintf(buf, n, "%s", d->name);
}

int bench_ranges_finish(struct cli_args *a) {
  const struct rmode_def *d = &rmodes[a->bench.ranges_mode.kind];

  if (a->trace || a->has_pattern)
    return cli_usage_error(a->cmd, "--ranges replaces --trace and "
                                   "--pattern; give one");
  if (a->bench.procs != 1 || a->bench.mode != CLI_MODE_DEFAULT)
    return cli_usage_error(a->cmd,
                           "--ranges runs in one process and "
                           "takes --ranges-mode, not --procs or --mode");
  if (a->zero_copy)
    return cli_usage_error(a->cmd, "--ranges reads into buffers; "
                                   "--zero-copy does not apply");
  if (a->file.concurrency == 0)
    return cli_usage_error(a->cmd, "--concurrency must be at least 1 "
                                   "(the result records the number used)");
  if (d->one_request) {
    /* The mode is one GET per range: a split range would not be. */
    if (a->has_concurrency && a->file.concurrency != 1)
      return cli_usage_error(a->cmd,
                             "--ranges-mode %s reads each range "
                             "with one request (concurrency 1)",
                             d->name);
    a->file.concurrency = 1;
  }
  /* Vectored at its defaults is the library's width, from the plan (the
   * result records the width it chose). */
  if (d->vectored && !a->has_concurrency) a->file.concurrency = 0;
  if (!a->has_prefetch) /* no reader: nothing to read ahead */
    a->file.prefetch = "off";
  return CLI_CONTINUE;
}

/* ---- One run -------------------------------------------------------------*/

struct rjob {
  const struct cli_args *a;
  const struct rmode_def *mode;
  gsr_file file;
  gsr_file *files; /* pread-handles: thread k's handle (files[0]: file) */
  int n_files;
  uint64_t size;
  const struct cli_range *r;
  size_t n;
  unsigned char *arena; /* the largest batch's bytes */
  uint64_t *place;      /* r[i]'s bytes go to arena + place[i] */
  gsr_range *g;         /* vectored: the largest batch's gsr_range */
  /* The batch the pread threads are working on. */
  size_t hi;
  _Atomic size_t next;
  _Atomic uint64_t delivered;
  _Atomic int failed;
  pthread_mutex_t lock; /* guards the first failure's details */
  int64_t status;       /* the first failure: gsr status, or 0 if short */
  size_t failed_at;
};

/* What a run measured, in every mode. */
struct rtally {
  uint64_t delivered;
  uint64_t spans;  /* vectored: the plan's; else ranges with bytes */
  uint64_t rounds; /* per batch: ceil(spans / requests in flight) */
  uint64_t hole_bytes;
  uint64_t hole_limit, span_limit; /* vectored: the last call's */
  int width;                       /* requests in flight: the last call's */
  double wall, cpu;
  gsr_file_stats before, after;
};

static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

static int batch_failed(const struct rjob *j, int64_t status, size_t line) {
  if (status < 0)
    cli_fail_gsr(status, "cannot read %s (range %zu of %s)", j->a->url,
                 line + 1, j->a->ranges);
  else
    cli_fail_text("object ended early", "cannot read %s (range %zu of %s)",
                  j->a->url, line + 1, j->a->ranges);
  return CLI_EXIT_FAIL;
}

/* r[lo..hi) with one gsr_read_ranges call. */
static int batch_vectored(struct rjob *j, size_t lo, size_t hi,
                          struct rtally *t) {
  gsr_ranges_options o;
  gsr_ranges_stats st;
  int status;

  for (size_t i = lo; i < hi; i++) {
    gsr_range *g = &j->g[i - lo];

    memset(g, 0, sizeof *g);
    g->offset = (int64_t)j->r[i].offset;
    g->length = cli_range_clamp(&j->r[i], j->size);
    g->buf = j->arena + j->place[i];
  }
  gsr_ranges_options_init(&o);
  o.stats = &st;
  status = gsr_read_ranges(j->file, j->g, hi - lo, &o);
  if (status != GSR_OK) {
    for (size_t i = lo; i < hi; i++)
      if (j->g[i - lo].status != GSR_OK) return batch_failed(j, status, i);
    return batch_failed(j, status, lo);
  }
  t->delivered += st.bytes_delivered;
  t->spans += st.spans;
  t->width = st.concurrency;
  t->rounds += ceil_div(st.spans, (uint64_t)st.concurrency);
  t->hole_bytes += st.hole_bytes;
  t->hole_limit = st.hole_limit;
  t->span_limit = st.span_limit;
  return CLI_EXIT_OK;
}

static void note_failure(struct rjob *j, int64_t status, size_t i) {
  pthread_mutex_lock(&j->lock);
  if (!atomic_load(&j->failed)) {
    j->status = status;
    j->failed_at = i;
    atomic_store(&j->failed, 1);
  }
  pthread_mutex_unlock(&j->lock);
}

/* A pread thread and the handle it reads. */
struct rworker {
  struct rjob *j;
  gsr_file file;
};

/* A pread thread: takes the batch's next range until none is left. */
static void *pread_worker(void *arg) {
  struct rworker *w = arg;
  struct rjob *j = w->j;

  for (;;) {
    size_t i = atomic_fetch_add(&j->next, 1);
    uint64_t len;
    int64_t got;

    if (i >= j->hi || atomic_load(&j->failed)) return NULL;
    len = cli_range_clamp(&j->r[i], j->size);
    if (len == 0) continue;
    got = gsr_pread(w->file, j->arena + j->place[i], (size_t)len,
                    (int64_t)j->r[i].offset);
    if (got == (int64_t)len)
      atomic_fetch_add(&j->delivered, len);
    else
      note_failure(j, got < 0 ? got : 0, i);
  }
}

/* r[lo..hi) with gsr_pread from the mode's threads (this one included). */
static int batch_pread(struct rjob *j, size_t lo, size_t hi, struct rtally *t) {
  pthread_t tid[MAX_THREADS];
  struct rworker w[MAX_THREADS];
  int started = 0, err = 0;
  uint64_t nonempty = 0;

  for (size_t i = lo; i < hi; i++)
    nonempty += cli_range_clamp(&j->r[i], j->size) > 0;
  j->hi = hi;
  atomic_store(&j->next, lo);
  atomic_store(&j->delivered, 0);
  for (int k = 0; k < j->a->bench.ranges_mode.threads; k++)
    w[k] = (struct rworker){j, j->files ? j->files[k] : j->file};
  for (; started < j->a->bench.ranges_mode.threads - 1; started++) {
    err = pthread_create(&tid[started], NULL, pread_worker, &w[started + 1]);
    if (err != 0) break;
  }
  if (err != 0)
    note_failure(j, GSR_ENOMEM, lo); /* stops the ones started */
  else
    pread_worker(&w[0]);
  for (int k = 0; k < started; k++) pthread_join(tid[k], NULL);
  if (err != 0) {
    /* Fewer threads than the mode says would be a wrong measurement. */
    cli_fail_errno(err, "cannot start pread thread %d", started + 2);
    return CLI_EXIT_FAIL;
  }
  if (atomic_load(&j->failed)) return batch_failed(j, j->status, j->failed_at);
  t->delivered += atomic_load(&j->delivered);
  t->spans += nonempty;
  t->rounds += ceil_div(nonempty, (uint64_t)j->a->bench.ranges_mode.threads);
  return CLI_EXIT_OK;
}

/* Every batch, timed. */
static int read_all(struct rjob *j, struct rtally *t) {
  double t0 = cli_now(), c0 = bench_cpu_seconds();
  int rc = CLI_EXIT_OK;

  for (size_t i = 0; i < j->n && rc == CLI_EXIT_OK;) {
    size_t k = cli_ranges_batch_end(j->r, j->n, i, j->size, j->a->bench.batch);

    rc = j->mode->vectored ? batch_vectored(j, i, k, t)
                           : batch_pread(j, i, k, t);
    i = k;
  }
  t->wall = cli_now() - t0;
  t->cpu = bench_cpu_seconds() - c0;
  return rc;
}

/* Lays each batch's ranges out one after the other in the arena (place),
 * and sizes the arena and j->g for the largest batch. Returns the bytes
 * inside the object of all ranges, or UINT64_MAX if out of memory. */
static uint64_t lay_out(struct rjob *j) {
  uint64_t total = 0, arena = 1;
  size_t most = 1;

  j->place = malloc((j->n ? j->n : 1) * sizeof *j->place);
  if (!j->place) return UINT64_MAX;
  for (size_t i = 0; i < j->n;) {
    size_t k = cli_ranges_batch_end(j->r, j->n, i, j->size, j->a->bench.batch);
    uint64_t at = 0;

    for (size_t m = i; m < k; m++) {
      j->place[m] = at;
      at += cli_range_clamp(&j->r[m], j->size);
    }
    total += at;
    arena = at > arena ? at : arena;
    most = k - i > most ? k - i : most;
    i = k;
  }
  j->arena = malloc((size_t)arena);
  j->g = calloc(most, sizeof *j->g);
  if (!j->arena || !j->g) return UINT64_MAX;
  /* Page faults are no part of any mode's cost. */
  memset(j->arena, 0, (size_t)arena);
  return total;
}

/* ---- Output --------------------------------------------------------------*/

#define GIB (1024.0 * 1024.0 * 1024.0)

static void print_result(const struct rjob *j, const struct rtally *t) {
  const struct cli_args *a = j->a;
  uint64_t requests = t->after.requests - t->before.requests;
  uint64_t fetched = t->after.bytes_fetched - t->before.bytes_fetched;
  double mbps = t->wall > 0 ? (double)t->delivered / t->wall / 1e6 : 0;
  double cpu_gib = t->delivered ? t->cpu / ((double)t->delivered / GIB) : 0;
  char mode[48];

  cli_ranges_mode_name(&a->bench.ranges_mode, mode, sizeof mode);
  if (!a->json) {
    printf("ranges %s (%zu), mode %s, batch %zu, concurrency %d: %" PRIu64
           " bytes in %.3f s = %.1f MB/s; %" PRIu64 " requests, %" PRIu64
           " spans, %" PRIu64 " rounds, %" PRIu64 " bytes fetched, %" PRIu64
           " hole bytes, CPU %.3f s (%.3f s/GiB)\n",
           a->ranges, j->n, mode, a->bench.batch, t->width, t->delivered,
           t->wall, mbps, requests, t->spans, t->rounds, fetched, t->hole_bytes,
           t->cpu, cpu_gib);
    return;
  }
  fputs("{\"tool\":\"gsread\",\"version\":", stdout);
  cli_json_string(stdout, gsr_version());
  fputs(",\"url\":", stdout);
  cli_json_string(stdout, a->url);
  fputs(",\"pattern\":\"ranges\",\"ranges\":", stdout);
  cli_json_string(stdout, a->ranges);
  printf(",\"ranges_mode\":\"%s\",\"threads\":%d,\"batch\":%zu"
         ",\"concurrency\":%d,\"object_size\":%" PRIu64
         ",\"ranges_count\":%zu,\"bytes\":%" PRIu64 ",\"seconds\":%.6f"
         ",\"mbps\":%.3f,\"cpu_seconds\":%.6f,\"cpu_seconds_per_gib\":%.6f"
         ",\"requests\":%" PRIu64 ",\"spans\":%" PRIu64 ",\"rounds\":%" PRIu64
         ",\"bytes_fetched\":%" PRIu64 ",\"hole_bytes\":%" PRIu64
         ",\"hole_limit\":%" PRIu64 ",\"span_limit\":%" PRIu64 "}\n",
         mode, a->bench.ranges_mode.threads, a->bench.batch, t->width, j->size,
         j->n, t->delivered, t->wall, mbps, t->cpu, cpu_gib, requests, t->spans,
         t->rounds, fetched, t->hole_bytes, t->hole_limit, t->span_limit);
}

/* ---- Entry ---------------------------------------------------------------*/

/* The counters of the run's handle, or the requests and bytes fetched of
 * all its handles together (pread-handles). */
static int file_stats(const struct rjob *j, gsr_file_stats *out) {
  int status = gsr_file_stats_get(j->file, out);

  for (int k = 1; k < j->n_files && status == GSR_OK; k++) {
    gsr_file_stats s;

    status = gsr_file_stats_get(j->files[k], &s);
    out->requests += s.requests;
    out->bytes_fetched += s.bytes_fetched;
  }
  if (status == GSR_OK) return CLI_EXIT_OK;
  cli_fail_gsr(status, "cannot get the counters of %s", j->a->url);
  return CLI_EXIT_FAIL;
}

/* pread-handles: a handle per thread, files[0] the one open already; the
 * others opened now, before the clock starts (an open is a metadata
 * request). */
static int open_handles(struct rjob *j, gsr_client *client) {
  int n = j->a->bench.ranges_mode.threads;

  j->files = calloc((size_t)n, sizeof *j->files);
  if (!j->files) {
    cli_fail_errno(ENOMEM, "cannot open %d handles", n);
    return CLI_EXIT_FAIL;
  }
  j->files[0] = j->file;
  for (j->n_files = 1; j->n_files < n; j->n_files++) {
    int status = gsr_open(client, j->a->url, &j->a->file,
                          &j->files[j->n_files]);

    if (status != GSR_OK) {
      cli_fail_gsr(status, "cannot open %s (handle %d)", j->a->url,
                   j->n_files + 1);
      return CLI_EXIT_FAIL;
    }
  }
  return CLI_EXIT_OK;
}

static int run_open(struct rjob *j, const struct cli_trace *trace) {
  struct rtally t;
  int64_t s = gsr_size(j->file);
  uint64_t total;
  int rc;

  memset(&t, 0, sizeof t);
  t.width = j->a->file.concurrency; /* the pread modes' */
  if (s < 0) {
    cli_fail_gsr(s, "cannot get the size of %s", j->a->url);
    return CLI_EXIT_FAIL;
  }
  j->size = (uint64_t)s;
  j->r = trace->ranges;
  j->n = trace->n;
  total = lay_out(j);
  if (total == UINT64_MAX) {
    cli_fail_errno(ENOMEM, "cannot allocate the ranges' buffers");
    return CLI_EXIT_FAIL;
  }
  if (total == 0) {
    cli_fail_text("no range has bytes inside the object", "cannot benchmark %s",
                  j->a->url);
    return CLI_EXIT_FAIL;
  }
  rc = file_stats(j, &t.before);
  if (rc == CLI_EXIT_OK) rc = read_all(j, &t);
  if (rc == CLI_EXIT_OK) rc = file_stats(j, &t.after);
  if (rc == CLI_EXIT_OK && t.delivered != total) {
    cli_fail_text("fewer bytes than asked",
                  "cannot benchmark %s: %" PRIu64 " of %" PRIu64
                  " bytes delivered",
                  j->a->url, t.delivered, total);
    rc = CLI_EXIT_FAIL;
  }
  if (rc == CLI_EXIT_OK) print_result(j, &t);
  return rc;
}

int bench_ranges_run(const struct cli_args *a) {
  struct cli_trace trace = {0};
  struct rjob j;
  gsr_client *client = NULL;
  int rc = cli_trace_load(a->cmd, a->ranges, &trace);

  if (rc != CLI_CONTINUE) return rc;
  if (trace.n == 0) {
    cli_trace_free(&trace);
    return cli_usage_error(a->cmd, "%s has no ranges", a->ranges);
  }
  memset(&j, 0, sizeof j);
  j.a = a;
  j.mode = &rmodes[a->bench.ranges_mode.kind];
  pthread_mutex_init(&j.lock, NULL);
  rc = cli_open(a, 0, &client, &j.file); /* measured cold: no plans */
  if (rc == CLI_EXIT_OK && j.mode->own_handles) rc = open_handles(&j, client);
  if (rc == CLI_EXIT_OK) rc = run_open(&j, &trace);
  for (int k = 1; k < j.n_files; k++) gsr_close(j.files[k]);
  free(j.files);
  if (client) cli_close(client, j.file);
  pthread_mutex_destroy(&j.lock);
  free(j.arena);
  free(j.place);
  free(j.g);
  cli_trace_free(&trace);
  return rc;
}
