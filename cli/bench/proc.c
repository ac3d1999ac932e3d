/* gsread bench: one worker process.
 *
 * A worker opens its own client and file (nothing is shared with the
 * parent or the other workers but the progress counter), reads with the
 * pattern until it has read --max-bytes or --max-seconds have passed,
 * whichever comes first, and reports its totals over a pipe. A sequential
 * reader (or a trace) that reaches its end closes the file and opens it
 * again, starting cold at 0, as gcsfs's harness does; the counters are
 * summed over those cycles.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

struct worker {
  const struct bench_plan *p;
  const struct cli_args *a;
  gsr_client *client;
  gsr_file file;
  unsigned char *buf; /* one io-size buffer; NULL with --zero-copy */
  uint64_t pos;       /* seq: the next offset */
  uint64_t rng;       /* rand: splitmix64 state */
  size_t line;        /* trace: the line being read */
  uint64_t line_left; /* trace: its bytes still to read */
  int must_seek;      /* trace: the line has not been sought to yet */
  struct bench_result r;
};

/* ---- Random offsets ------------------------------------------------------*/

/* splitmix64: tiny, fast, and every seed (even 0) gives a good stream. */
static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* Uniform in [0, n): draws that fall in the last, partial run of n
 * values are thrown away, so small offsets are not favoured (modulo
 * bias). */
static uint64_t random_below(uint64_t *state, uint64_t n) {
  uint64_t skip = (UINT64_MAX % n + 1) % n; /* 2^64 mod n */
  uint64_t x;

  do x = next_random(state);
  while (skip != 0 && x >= (uint64_t)0 - skip);
  return x % n;
}

/* ---- Files ---------------------------------------------------------------*/

static int open_file(struct worker *w) {
  int rc = gsr_open(w->client, w->a->url, &w->a->file, &w->file);

  if (rc != GSR_OK) {
    cli_fail_gsr(rc, "cannot open %s", w->a->url);
    return -1;
  }
  w->r.opens++;
  return 0;
}

/* Adds the open file's counters to the totals and closes it. */
static void close_file(struct worker *w) {
  gsr_file_stats s;

  if (w->file == GSR_FILE_INVALID) return;
  if (gsr_file_stats_get(w->file, &s) == GSR_OK) {
    w->r.requests += s.requests;
    w->r.bytes_fetched += s.bytes_fetched;
    w->r.prefetched_unused += s.prefetched_unused;
    w->r.bytes_copied += s.bytes_copied;
    w->r.bytes_referenced += s.bytes_referenced;
    w->r.bytes_direct += s.bytes_direct;
    w->r.stall_seconds += s.stall_seconds;
  }
  gsr_close(w->file);
  w->file = GSR_FILE_INVALID;
}

/* The end of the object or of the trace: start again with a cold file. */
static int reopen(struct worker *w) {
  close_file(w);
  return open_file(w);
}

static int seek_to(struct worker *w, uint64_t offset) {
  int64_t rc = gsr_seek(w->file, (int64_t)offset, GSR_SEEK_SET);

  if (rc < 0) {
    cli_fail_gsr(rc, "cannot seek %s to offset %" PRIu64, w->a->url, offset);
    return -1;
  }
  return 0;
}

/* ---- Reads ---------------------------------------------------------------*/

/* want bytes at the file position through slices, released unread: what
 * a zero-copy consumer pays. A call may return fewer bytes than asked
 * when CLI_MAX_SLICES run out, so go on until want or the end. */
static int64_t read_slices(struct worker *w, size_t want) {
  size_t done = 0;

  while (done < want) {
    gsr_slice s[CLI_MAX_SLICES];
    size_t n = 0;
    int64_t got = gsr_read_slices(w->file, want - done, s, CLI_MAX_SLICES, &n);

    if (got <= 0) return done > 0 ? (int64_t)done : got;
    for (size_t i = 0; i < n; i++) gsr_slice_release(&s[i]);
    done += (size_t)got;
  }
  return (int64_t)done;
}

/* One read of want bytes at the file position; counts it. Returns the
 * count (0 at the end) or -1 after reporting a failure. */
static int64_t read_piece(struct worker *w, size_t want) {
  int64_t got = w->a->zero_copy ? read_slices(w, want)
                                : gsr_read(w->file, w->buf, want);

  if (got < 0) {
    cli_fail_gsr(got, "cannot read %s", w->a->url);
    return -1;
  }
  w->r.reads++;
  w->r.bytes += (uint64_t)got;
  atomic_fetch_add_explicit(w->p->progress, (uint64_t)got,
                            memory_order_relaxed);
  return got;
}

/* A read that returns nothing before the size known at open means the
 * object shrank: going on would spin. */
static int ended_early(const struct worker *w, uint64_t offset) {
  cli_fail_text("object ended early", "cannot read %s at offset %" PRIu64,
                w->a->url, offset);
  return -1;
}

/* seq: io-size reads from 0 to the end, then again from 0. */
static int step_seq(struct worker *w) {
  int64_t got;

  if (w->pos >= w->p->size) {
    if (reopen(w) != 0) return -1;
    w->pos = 0;
  }
  got = read_piece(w, (size_t)w->a->io_size);
  if (got < 0) return -1;
  if (got == 0) return ended_early(w, w->pos);
  w->pos += (uint64_t)got;
  return 0;
}

/* rand: one io-size read at an io-size-aligned offset drawn uniformly
 * over the object (the last one may be short). */
static int step_rand(struct worker *w) {
  uint64_t slots = (w->p->size + w->a->io_size - 1) / w->a->io_size;
  uint64_t offset = random_below(&w->rng, slots) * w->a->io_size;
  int64_t got;

  if (seek_to(w, offset) != 0) return -1;
  got = read_piece(w, (size_t)w->a->io_size);
  if (got < 0) return -1;
  return got == 0 ? ended_early(w, offset) : 0;
}

/* trace: the next io-size piece of the current line; a line that is
 * done (or lies past the end of the object) makes way for the next, and
 * the last for a reopen and line 0. The parent made sure some line has
 * bytes inside the object, so the search ends. */
static int step_trace(struct worker *w) {
  const struct cli_trace *t = w->p->trace;
  uint64_t want;
  int64_t got;

  while (w->line_left == 0) {
    if (++w->line >= t->n) {
      if (reopen(w) != 0) return -1;
      w->line = 0;
    }
    w->line_left = cli_range_clamp(&t->ranges[w->line], w->p->size);
    w->must_seek = 1;
  }
  if (w->must_seek && seek_to(w, t->ranges[w->line].offset) != 0) return -1;
  w->must_seek = 0;
  want = w->line_left < w->a->io_size ? w->line_left : w->a->io_size;
  got = read_piece(w, (size_t)want);
  if (got < 0) return -1;
  if (got == 0) return ended_early(w, t->ranges[w->line].offset);
  w->line_left -= (uint64_t)got;
  return 0;
}

static int step(struct worker *w) {
  switch (w->a->bench.pattern) {
  case CLI_PATTERN_SEQ:
    return step_seq(w);
  case CLI_PATTERN_RAND:
    return step_rand(w);
  case CLI_PATTERN_TRACE:
    return step_trace(w);
  }
  return -1;
}

/* ---- The run -------------------------------------------------------------*/

/* Reads until a bound is hit. The bounds are checked between reads, so a
 * run ends at most one read after them. */
static int read_loop(struct worker *w) {
  double start = cli_now();
  double deadline = start + w->a->bench.max_seconds;

  if (open_file(w) != 0) return -1;
  if (w->p->trace) {
    w->line = 0;
    w->line_left = cli_range_clamp(&w->p->trace->ranges[0], w->p->size);
    w->must_seek = 1;
  }
  while (w->r.bytes < w->a->bench.max_bytes && cli_now() < deadline) {
    if (step(w) != 0) return -1;
  }
  w->r.seconds = cli_now() - start;
  return 0;
}

static double timeval_seconds(struct timeval tv) {
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

double bench_cpu_seconds(void) {
  struct rusage ru;

  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return timeval_seconds(ru.ru_utime) + timeval_seconds(ru.ru_stime);
}

/* CPU time and peak RSS of this process alone: RUSAGE_SELF in the worker
 * counts its own threads (the client's I/O thread included), and a forked
 * child's ru_maxrss starts afresh, so nothing of the parent is in it. */
static void measure_self(struct bench_result *r) {
  struct rusage ru;

  if (getrusage(RUSAGE_SELF, &ru) != 0) return;
  r->cpu_seconds = timeval_seconds(ru.ru_utime) + timeval_seconds(ru.ru_stime);
  r->peak_rss = (uint64_t)ru.ru_maxrss * 1024; /* Linux: KiB */
  r->minor_faults = (uint64_t)ru.ru_minflt;    /* a child's count from 0 */
}

/* Client, buffer and reads; everything is freed before measuring, so the
 * CPU time includes the teardown too. Returns 0 or -1 (reported). */
static int run(struct worker *w) {
  gsr_client_options copts = w->a->client;
  int rc;

  cli_apply_debug(w->a, &copts);
  rc = gsr_client_new(&copts, &w->client);
  if (rc != GSR_OK) {
    cli_fail_gsr(rc, "cannot start the client");
    return -1;
  }
  if (!w->a->zero_copy && !(w->buf = malloc((size_t)w->a->io_size))) {
    cli_fail_errno(ENOMEM, "cannot allocate a %" PRIu64 "-byte buffer",
                   w->a->io_size);
    rc = -1;
  } else {
    rc = read_loop(w);
  }
  close_file(w);
  gsr_client_stats cs;
  if (gsr_client_stats_get(w->client, &cs) == GSR_OK) {
    w->r.pool_hits = cs.pool_hits;
    w->r.pool_misses = cs.pool_misses;
  }
  gsr_client_free(w->client);
  free(w->buf);
  return rc;
}

_Noreturn void bench_worker(const struct bench_plan *p, int index, int fd) {
  struct worker w;

  memset(&w, 0, sizeof w);
  w.p = p;
  w.a = p->a;
  w.file = GSR_FILE_INVALID;
  /* Each worker its own stream of offsets, the same for a given seed. */
  w.rng = p->a->bench.seed + (uint64_t)index * 0xd1b54a32d192ed03u;
  if (run(&w) != 0) _exit(CLI_EXIT_FAIL);
  measure_self(&w.r);
  if (cli_write_all(fd, &w.r, sizeof w.r) != 0) _exit(CLI_EXIT_FAIL);
  _exit(CLI_EXIT_OK);
}
