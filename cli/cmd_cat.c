/* gsread cat: write an object, a byte range of it, or the ranges a trace
 * (or a --ranges file, read in one vectored read) names, to standard
 * output.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cli.h"
#include "cli_help.h"

/* What one run works with. */
struct cat_job {
  const struct cli_args *a;
  gsr_file file;
  uint64_t size;      /* the object's, known at open */
  unsigned char *buf; /* the copy buffer; NULL with --zero-copy */
  size_t piece;       /* most bytes asked for per read call */
};

/* One gsr_read into the buffer, then out. Returns the count read (0 at
 * the end) or a negative status; a write error goes to *werr. */
static int64_t piece_copy(struct cat_job *j, size_t want, int *werr) {
  int64_t got = gsr_read(j->file, j->buf, want);

  if (got > 0) *werr = cli_write_all(STDOUT_FILENO, j->buf, (size_t)got);
  return got;
}

/* One gsr_read_slices: the library's own buffers go straight to writev,
 * never through ours, and are released once written. */
static int64_t piece_slices(struct cat_job *j, size_t want, int *werr) {
  gsr_slice s[CLI_MAX_SLICES];
  struct iovec iov[CLI_MAX_SLICES];
  size_t n = 0;
  int64_t got = gsr_read_slices(j->file, want, s, CLI_MAX_SLICES, &n);

  if (got <= 0) return got;
  for (size_t i = 0; i < n; i++) {
    iov[i].iov_base = (void *)s[i].data; /* writev only reads it */
    iov[i].iov_len = s[i].len;
  }
  *werr = cli_writev_all(STDOUT_FILENO, iov, (int)n);
  for (size_t i = 0; i < n; i++) gsr_slice_release(&s[i]);
  return got;
}

/* Writing to stdout failed with err: a reader that left (| head) is not
 * worth a word; anything else is. */
static int stdout_failed(int err) {
  if (err != EPIPE) cli_fail_errno(err, "cannot write to standard output");
  return CLI_EXIT_FAIL;
}

/* Copies count bytes from the file position (pos) to stdout, at most a
 * piece per call: one gsr_read per piece lets the library fetch a whole
 * piece with parallel range requests, or hand it over from its
 * prefetched blocks, while we were writing the previous one out. */
static int copy_out(struct cat_job *j, uint64_t pos, uint64_t count) {
  uint64_t end = pos + count;

  while (pos < end) {
    size_t want = end - pos < j->piece ? (size_t)(end - pos) : j->piece;
    int err = 0;
    int64_t got = j->a->zero_copy ? piece_slices(j, want, &err)
                                  : piece_copy(j, want, &err);

    if (got < 0) {
      cli_fail_gsr(got, "cannot read %s at offset %" PRIu64, j->a->url, pos);
      return CLI_EXIT_FAIL;
    }
    if (got == 0) {
      /* The size was known at open; stopping silently here would hand the
       * reader a truncated object that looks complete. */
      cli_fail_text("object ended early",
                    "cannot read %s at offset %" PRIu64 " of %" PRIu64,
                    j->a->url, pos, end);
      return CLI_EXIT_FAIL;
    }
    if (err) return stdout_failed(err);
    pos += (uint64_t)got;
  }
  return CLI_EXIT_OK;
}

/* One range, bytes passed on and nothing else done with them: the
 * library writes them to stdout itself, from the network where it can
 * (gsr_sendfile: no copy through a buffer of anyone's). */
static int send_out(struct cat_job *j, uint64_t pos, uint64_t count) {
  uint64_t written = 0;
  int status = gsr_sendfile(j->file, STDOUT_FILENO, (int64_t)pos, count,
                            &written);

  if (status == GSR_OK) return CLI_EXIT_OK;
  if (status == GSR_EIO && errno != 0) return stdout_failed(errno);
  cli_fail_gsr(status,
               "cannot write %s from offset %" PRIu64 " (%" PRIu64
               " bytes written)",
               j->a->url, pos, written);
  return CLI_EXIT_FAIL;
}

/* Writes the part of r that lies inside the object: seek, then copy. */
static int cat_range(struct cat_job *j, const struct cli_range *r) {
  uint64_t count = cli_range_clamp(r, j->size);
  int64_t pos;

  if (count == 0)
    return CLI_EXIT_OK; /* at or past the end: empty, not an error */
  if (j->a->zero_copy && !j->a->trace) return send_out(j, r->offset, count);
  pos = gsr_seek(j->file, (int64_t)r->offset, GSR_SEEK_SET);
  if (pos < 0) {
    cli_fail_gsr(pos, "cannot seek %s to offset %" PRIu64, j->a->url,
                 r->offset);
    return CLI_EXIT_FAIL;
  }
  /* One range: its end is a promise, so that nothing past it is fetched
   * ahead (a trace's ranges jump about: no promise). */
  if (!j->a->trace) {
    int status = gsr_set_read_end(j->file, r->offset + count);

    if (status != GSR_OK) {
      cli_fail_gsr(status, "cannot read %s", j->a->url);
      return CLI_EXIT_FAIL;
    }
  }
  return copy_out(j, r->offset, count);
}

/* Bytes per read call: --io-size, but no more than the longest range
 * needs (no point in a 16 MiB buffer for a 10-byte object). 0: nothing
 * to read at all. */
static size_t piece_size(const struct cat_job *j, const struct cli_range *r,
                         size_t n) {
  uint64_t longest = 0;

  for (size_t i = 0; i < n; i++) {
    uint64_t c = cli_range_clamp(&r[i], j->size);

    if (c > longest) longest = c;
  }
  return j->a->io_size < longest ? (size_t)j->a->io_size : (size_t)longest;
}

/* Writes the ranges in order through one buffer (or none, zero-copy). */
static int cat_ranges(struct cat_job *j, const struct cli_range *r, size_t n) {
  int rc = CLI_EXIT_OK;

  j->piece = piece_size(j, r, n);
  if (j->piece == 0) return CLI_EXIT_OK;
  if (!j->a->zero_copy) {
    j->buf = malloc(j->piece);
    if (!j->buf) {
      cli_fail_errno(ENOMEM, "cannot allocate a %zu-byte buffer", j->piece);
      return CLI_EXIT_FAIL;
    }
  }
  for (size_t i = 0; i < n && rc == CLI_EXIT_OK; i++) rc = cat_range(j, &r[i]);
  free(j->buf);
  j->buf = NULL;
  return rc;
}

/* Writes the slices of g[0..n) to stdout in order, CLI_MAX_SLICES per
 * writev. Returns 0 or an errno value. */
static int write_slices(const gsr_range *g, size_t n) {
  struct iovec iov[CLI_MAX_SLICES];
  int k = 0, err = 0;

  for (size_t i = 0; i < n && !err; i++) {
    if (g[i].slice.len == 0) continue;
    iov[k].iov_base = (void *)g[i].slice.data; /* writev only reads it */
    iov[k++].iov_len = g[i].slice.len;
    if (k == CLI_MAX_SLICES) {
      err = cli_writev_all(STDOUT_FILENO, iov, k);
      k = 0;
    }
  }
  if (k > 0 && !err) err = cli_writev_all(STDOUT_FILENO, iov, k);
  return err;
}

/* --ranges: the ranges read with gsr_read_ranges, by reference (the
 * library plans, coalesces and fetches them in parallel), then written
 * in the file's order. */
static int cat_vectored(struct cat_job *j, const struct cli_range *r, size_t n,
                        gsr_ranges_stats *total) {
  for (size_t i = 0; i < n;) {
    size_t k = cli_ranges_batch_end(r, n, i, j->size, 0);
    int err, status;
    gsr_range *g = calloc(k - i, sizeof *g);
    gsr_ranges_options o;
    gsr_ranges_stats st;

    if (!g) {
      cli_fail_errno(ENOMEM, "cannot allocate %zu ranges", k - i);
      return CLI_EXIT_FAIL;
    }
    for (size_t m = 0; m < k - i; m++) {
      g[m].offset = (int64_t)r[i + m].offset;
      g[m].length = r[i + m].length;
    }
    gsr_ranges_options_init(&o);
    if (j->a->has_concurrency) o.concurrency = j->a->file.concurrency;
    o.stats = &st;
    status = gsr_read_ranges(j->file, g, k - i, &o);
    cli_ranges_stats_add(total, &st);
    err = status == GSR_OK ? write_slices(g, k - i) : 0;
    for (size_t m = 0; m < k - i; m++) gsr_slice_release(&g[m].slice);
    free(g);
    if (status != GSR_OK) {
      cli_fail_gsr(status, "cannot read %s (lines %zu to %zu of %s)", j->a->url,
                   i + 1, k, j->a->ranges);
      return CLI_EXIT_FAIL;
    }
    if (err) return stdout_failed(err);
    i = k;
  }
  return CLI_EXIT_OK;
}

/* The ranges to write: the trace's lines, or the single --offset/--length
 * range. */
static int cat_file(const struct cli_args *a, gsr_file file,
                    const struct cli_trace *trace, gsr_ranges_stats *rs) {
  struct cat_job j = {.a = a, .file = file};
  struct cli_range whole = {a->offset, a->has_length ? a->length : UINT64_MAX};
  int64_t size = gsr_size(file);

  if (size < 0) {
    cli_fail_gsr(size, "cannot get the size of %s", a->url);
    return CLI_EXIT_FAIL;
  }
  j.size = (uint64_t)size;
  if (a->ranges) return cat_vectored(&j, trace->ranges, trace->n, rs);
  if (a->trace) return cat_ranges(&j, trace->ranges, trace->n);
  return cat_ranges(&j, &whole, 1);
}

static int cat_run(const struct cli_args *a) {
  struct cli_trace trace = {0};
  gsr_ranges_stats rs = {0};
  gsr_client *client;
  gsr_file file;
  int rc;

  /* The whole trace is checked before anything is opened or written. */
  if (a->trace || a->ranges) {
    rc = cli_trace_load(a->cmd, a->trace ? a->trace : a->ranges, &trace);
    if (rc != CLI_CONTINUE) return rc;
  }
  rc = cli_open(a, 1, &client, &file);
  if (rc == CLI_EXIT_OK) {
    rc = cat_file(a, file, &trace, &rs);
    /* Also after a failure: the counters tell how far it got. */
    if (a->stats && cli_print_file_stats(stderr, file) != GSR_OK)
      rc = CLI_EXIT_FAIL;
    if (a->stats && a->ranges) cli_print_ranges_stats(stderr, &rs);
    if (a->stats && cli_print_client_stats(stderr, client) != GSR_OK)
      rc = CLI_EXIT_FAIL;
    cli_close(client, file);
  }
  cli_trace_free(&trace);
  return rc;
}

/* cat reads front to back, the very pattern prefetching is for: while one
 * piece is written out, the next is already on its way. So cat promises
 * it up front ("sequential", not the library's "adaptive" default): no
 * exact first reads, no ramp. A --trace
 * replay is any pattern, so it gets the adaptive prefetcher (cat_finish). */
static void cat_defaults(struct cli_args *a) {
  /* The client's mode, not the file's: a --cache then turns it off (the
   * library's rule), --prefetch still wins. */
  a->client.prefetch = "sequential";
  /* The bytes only pass through on their way to stdout: let the library
   * write them (gsr_sendfile), or writev its own buffers (slices, for a
   * trace), rather than copy them into ours. */
  a->zero_copy = 1;
}

static int cat_finish(struct cli_args *a) {
  if (a->trace && (a->has_offset || a->has_length))
    return cli_usage_error(a->cmd, "--trace cannot be combined with "
                                   "--offset or --length");
  if (a->ranges && (a->trace || a->has_offset || a->has_length))
    return cli_usage_error(a->cmd, "--ranges cannot be combined with "
                                   "--trace, --offset or --length");
  if (a->trace) a->client.prefetch = "adaptive";
  if (a->ranges && !a->has_prefetch) /* no reader: nothing to read ahead */
    a->file.prefetch = "off";
  return CLI_CONTINUE;
}

static const enum cli_opt_id cat_opts[] = {
    CLI_OPT_OFFSET,       CLI_OPT_LENGTH,        CLI_OPT_IO_SIZE,
    CLI_OPT_TRACE,        CLI_OPT_ZERO_COPY,     CLI_OPT_COPY,
    CLI_OPT_DEBUG,        CLI_OPT_STATS,         CLI_OPT_RANGES,
    CLI_OPT_CACHE,        CLI_OPT_BLOCK_SIZE,    CLI_OPT_MAX_BLOCKS,
    CLI_OPT_CONCURRENCY,  CLI_OPT_MIN_PART_SIZE, CLI_OPT_PREFETCH,
    CLI_OPT_MAX_PREFETCH, CLI_OPT_MEMORY_BUDGET, CLI_OPTS_SERVER,
    CLI_OPT_HELP,
};

const struct cli_command cli_cmd_cat = {
    .name = "cat",
    CLI_HELP_cat,
    CLI_OPTS(cat_opts),
    .defaults = cat_defaults,
    .finish = cat_finish,
    .run = cat_run,
};
