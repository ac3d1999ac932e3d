/* gsread bench: measure one benchmark cell.
 *
 * The parent checks the options and the object once (a probe open, so a
 * bad URL or cache type is reported once, as a usage error, rather than
 * by every worker), then forks --procs workers (proc.c). Each opens
 * its own client and reads on its own, like gcsfs's multi-process
 * harness; none shares a connection or a buffer with another. The parent
 * only waits, draws the progress line, and adds up the workers' reports.
 *
 * Processes, not threads: a process is what gcsfs's figures count, and
 * each worker's peak RSS and CPU time can then be measured by the worker
 * itself with getrusage(RUSAGE_SELF).
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "cli_help.h"

#define PROGRESS_MS 250 /* the progress line is redrawn 4 times a second */

/* ---- Before the fork -----------------------------------------------------*/

/* 1 if some line of the trace has bytes inside the object: otherwise a
 * worker would reopen the file forever without reading anything. */
static int trace_reads_something(const struct cli_trace *t, uint64_t size) {
  for (size_t i = 0; i < t->n; i++) {
    if (cli_range_clamp(&t->ranges[i], size) > 0) return 1;
  }
  return 0;
}

/* Opens the object once with the run's options: the library judges the
 * URL and the options before any fork, and tells the size. */
static int probe(const struct cli_args *a, const struct cli_trace *trace,
                 uint64_t *size) {
  gsr_client *client;
  gsr_file file;
  int64_t s;
  int rc = cli_open(a, 0, &client, &file); /* measured cold: no plans */

  if (rc != CLI_EXIT_OK) return rc;
  s = gsr_size(file);
  if (s < 0) cli_fail_gsr(s, "cannot get the size of %s", a->url);
  cli_close(client, file);
  if (s < 0) return CLI_EXIT_FAIL;
  if (s == 0) {
    cli_fail_text("the object is empty", "cannot benchmark %s", a->url);
    return CLI_EXIT_FAIL;
  }
  if (trace && !trace_reads_something(trace, (uint64_t)s)) {
    cli_fail_text("no line of the trace has bytes inside the object",
                  "cannot benchmark %s", a->url);
    return CLI_EXIT_FAIL;
  }
  *size = (uint64_t)s;
  return CLI_EXIT_OK;
}

/* The counter the workers add their bytes to, in memory they share with
 * the parent after the fork. */
static _Atomic uint64_t *shared_counter(void) {
  void *p = mmap(NULL, sizeof(_Atomic uint64_t), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);

  if (p == MAP_FAILED) {
    cli_fail_errno(errno, "cannot map shared memory");
    return NULL;
  }
  atomic_init((_Atomic uint64_t *)p, 0);
  return p;
}

/* ---- The workers ---------------------------------------------------------*/

/* Starts the workers; pids[i] gets each one's id. A fork that fails
 * stops the ones already started: a cell with fewer processes than asked
 * would be a wrong measurement. Returns 0 or -1 (reported). */
static int spawn(const struct bench_plan *p, int fds[2], pid_t *pids) {
  int procs = p->a->bench.procs;

  /* A buffered line would otherwise be written once per process. */
  fflush(stdout);
  fflush(stderr);
  for (int i = 0; i < procs; i++) {
    pids[i] = fork();
    if (pids[i] == 0) {
      close(fds[0]);
      bench_worker(p, i, fds[1]);
    }
    if (pids[i] < 0) {
      cli_fail_errno(errno, "cannot start benchmark process %d", i + 1);
      for (int j = 0; j < i; j++) kill(pids[j], SIGTERM);
      for (int j = 0; j < i; j++) waitpid(pids[j], NULL, 0);
      return -1;
    }
  }
  return 0;
}

/* Waits for one chunk of reports, at most until the next progress tick.
 * Returns the bytes read, -2 at the tick, 0 once every worker has closed
 * its end (they all exited), -1 on a read error. */
static ssize_t read_reports(int fd, char *dst, size_t room) {
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  char scratch[sizeof(struct bench_result)];
  ssize_t n;

  /* No news (or a signal): time to redraw the progress line. */
  if (poll(&pfd, 1, PROGRESS_MS) <= 0) return -2;
  /* A misbehaving worker could send more than its one report; reading
   * into scratch then keeps it from overrunning the results. */
  if (room == 0) {
    dst = scratch;
    room = sizeof scratch;
  }
  do n = read(fd, dst, room);
  while (n < 0 && errno == EINTR);
  return n;
}

/* Reads the workers' reports until they have all exited, drawing the
 * progress line on a terminal meanwhile. Returns the number of whole
 * reports in res[]. */
static int collect(const struct bench_plan *p, int fd, double t0,
                   struct bench_result *res) {
  size_t want = (size_t)p->a->bench.procs * sizeof *res, have = 0;
  int tty = isatty(STDERR_FILENO);

  for (;;) {
    ssize_t n = read_reports(fd, (char *)res + have, want - have);

    if (n == 0 || n == -1) break;
    if (n > 0) have += (size_t)n < want - have ? (size_t)n : want - have;
    if (tty) bench_progress(cli_now() - t0, atomic_load(p->progress));
  }
  if (tty) bench_progress_clear();
  return (int)(have / sizeof *res);
}

/* Reaps every worker. Returns how many failed (exit status or signal). */
static int reap(const pid_t *pids, int procs) {
  int failed = 0;

  for (int i = 0; i < procs; i++) {
    int status;

    while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
      ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
    if (WIFSIGNALED(status))
      cli_fail_text(strsignal(WTERMSIG(status)),
                    "benchmark process %d was killed", (int)pids[i]);
  }
  return failed;
}

/* ---- Results -------------------------------------------------------------*/

static void add_result(struct bench_total *t, const struct bench_result *r) {
  struct bench_result *s = &t->sum;

  s->bytes += r->bytes;
  s->reads += r->reads;
  s->opens += r->opens;
  s->requests += r->requests;
  s->bytes_fetched += r->bytes_fetched;
  s->prefetched_unused += r->prefetched_unused;
  s->bytes_copied += r->bytes_copied;
  s->bytes_referenced += r->bytes_referenced;
  s->bytes_direct += r->bytes_direct;
  s->stall_seconds += r->stall_seconds;
  s->cpu_seconds += r->cpu_seconds;
  s->peak_rss += r->peak_rss;
  s->minor_faults += r->minor_faults;
  s->pool_hits += r->pool_hits;
  s->pool_misses += r->pool_misses;
  if (r->seconds > s->seconds) s->seconds = r->seconds;
  /* Fetched but never handed over. A cache that serves the same bytes
   * twice delivers more than it fetched: that is no waste, not negative
   * waste. */
  if (r->bytes_fetched > r->bytes) t->wasted += r->bytes_fetched - r->bytes;
}

/* Forks the workers, waits for them and adds up their reports. */
static int measure(const struct bench_plan *p, struct bench_total *t) {
  int procs = p->a->bench.procs, fds[2], got, failed;
  pid_t *pids = calloc((size_t)procs, sizeof *pids);
  struct bench_result *res = calloc((size_t)procs, sizeof *res);
  double t0 = cli_now();

  if (!pids || !res || pipe(fds) != 0) {
    cli_fail_errno(pids && res ? errno : ENOMEM, "cannot set up the workers");
    free(pids);
    free(res);
    return CLI_EXIT_FAIL;
  }
  failed = spawn(p, fds, pids) != 0;
  close(fds[1]); /* ours: else the pipe never reports EOF */
  if (!failed) {
    got = collect(p, fds[0], t0, res);
    failed = reap(pids, procs);
    t->wall = cli_now() - t0;
    for (int i = 0; i < got; i++) add_result(t, &res[i]);
    if (failed == 0 && got != procs) failed = procs - got;
    if (failed)
      cli_fail_text("see the messages above",
                    "%d of %d benchmark processes failed", failed, procs);
  }
  close(fds[0]);
  free(pids);
  free(res);
  return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

static int bench_run(const struct cli_args *a) {
  struct cli_trace trace = {0};
  struct bench_plan plan = {.a = a};
  struct bench_total total;
  int rc = CLI_EXIT_OK;

  if (a->ranges) return bench_ranges_run(a);
  if (a->trace) {
    rc = cli_trace_load(a->cmd, a->trace, &trace);
    if (rc != CLI_CONTINUE) return rc;
    if (trace.n == 0) {
      cli_trace_free(&trace);
      return cli_usage_error(a->cmd, "trace %s has no lines to replay",
                             a->trace);
    }
    plan.trace = &trace;
  }
  memset(&total, 0, sizeof total);
  rc = probe(a, plan.trace, &plan.size);
  if (rc == CLI_EXIT_OK && !(plan.progress = shared_counter()))
    rc = CLI_EXIT_FAIL;
  if (rc == CLI_EXIT_OK) rc = measure(&plan, &total);
  if (rc == CLI_EXIT_OK && a->json)
    bench_print_json(&plan, &total);
  else if (rc == CLI_EXIT_OK)
    bench_print_line(&plan, &total);
  if (plan.progress) munmap((void *)plan.progress, sizeof *plan.progress);
  cli_trace_free(&trace);
  return rc;
}

/* ---- Options -------------------------------------------------------------*/

static void bench_defaults(struct cli_args *a) {
  a->io_size = (uint64_t)1024 * 1024;
  a->file.concurrency = 4;
  a->bench.pattern = CLI_PATTERN_SEQ;
  a->bench.mode = CLI_MODE_DEFAULT;
  a->bench.seed = 1;
  a->bench.procs = 1;
  a->bench.max_bytes = (uint64_t)1024 * 1024 * 1024;
  a->bench.max_seconds = 10;
  a->bench.ranges_mode.threads = 1; /* vectored: one call at a time */
}

/* The mode decides the library's concurrency and prefetch settings. */
static int bench_finish(struct cli_args *a) {
  if (a->ranges) return bench_ranges_finish(a);
  if (a->bench.ranges_mode.kind != CLI_RMODE_VECTORED || a->bench.batch)
    return cli_usage_error(a->cmd, "--ranges-mode and --batch need "
                                   "--ranges");
  if (a->trace && a->has_pattern)
    return cli_usage_error(a->cmd, "--trace replaces --pattern; give one");
  if (a->trace) a->bench.pattern = CLI_PATTERN_TRACE;
  if (a->bench.mode == CLI_MODE_DEFAULT) {
    /* Silently reading with 1 connection after being asked for 8 would
     * mislabel the measurement. */
    if (a->has_concurrency)
      return cli_usage_error(a->cmd, "--mode default reads with one "
                                     "connection; --concurrency needs --mode "
                                     "concurrent or prefetch");
    a->file.concurrency = 1;
  } else if (a->file.concurrency == 0) {
    return cli_usage_error(a->cmd, "--concurrency must be at least 1 "
                                   "(the cell records the number used)");
  }
  if (a->has_prefetch && a->bench.mode != CLI_MODE_PREFETCH)
    return cli_usage_error(a->cmd, "--prefetch needs --mode prefetch");
  if (a->has_prefetch && strcmp(a->file.prefetch, "off") == 0)
    return cli_usage_error(a->cmd, "--mode prefetch reads ahead: --prefetch "
                                   "adaptive or sequential");
  if (!a->has_prefetch)
    a->file.prefetch = a->bench.mode == CLI_MODE_PREFETCH ? "adaptive" : "off";
  return CLI_CONTINUE;
}

static const enum cli_opt_id bench_opts[] = {
    CLI_OPT_PATTERN,       CLI_OPT_IO_SIZE,       CLI_OPT_MODE,
    CLI_OPT_PREFETCH,      CLI_OPT_CONCURRENCY,   CLI_OPT_CACHE,
    CLI_OPT_BLOCK_SIZE,    CLI_OPT_PROCS,         CLI_OPT_MAX_BYTES,
    CLI_OPT_MAX_SECONDS,   CLI_OPT_SEED,          CLI_OPT_TRACE,
    CLI_OPT_ZERO_COPY,     CLI_OPT_DEBUG,         CLI_OPT_RANGES,
    CLI_OPT_RANGES_MODE,   CLI_OPT_BATCH,         CLI_OPT_JSON,
    CLI_OPT_MAX_BLOCKS,    CLI_OPT_MIN_PART_SIZE, CLI_OPT_MAX_PREFETCH,
    CLI_OPT_MEMORY_BUDGET, CLI_OPTS_SERVER,       CLI_OPT_HELP,
};

const struct cli_command cli_cmd_bench = {
    .name = "bench",
    CLI_HELP_bench,
    CLI_OPTS(bench_opts),
    .defaults = bench_defaults,
    .finish = bench_finish,
    .run = bench_run,
};
