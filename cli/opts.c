/* Option parsing and per-command help for the gsread tool.
 *
 * One table describes every option: its name, its value's placeholder and
 * a one-line explanation. Each command lists the options it accepts; the
 * parser and `gsread CMD --help` both read the same table, so the help can
 * never list an option the parser rejects or miss one it accepts.
 *
 * Accepted forms: --opt VALUE, --opt=VALUE, options before or after the
 * URL, and "--" to end options (for a local path that starts with '-').
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mount/mount.h"

struct opt_def {
  const char *name; /* without the leading "--" */
  const char *arg;  /* placeholder of the value; NULL for a flag */
  const char *help;
  char short_name; /* the one-letter form ("-l"), or 0 */
};

static const struct opt_def opt_defs[CLI_OPT__COUNT] = {
    [CLI_OPT_OFFSET] = {"offset", "SIZE", "first byte to write", 0},
    [CLI_OPT_LENGTH] = {"length", "SIZE", "number of bytes to write", 0},
    [CLI_OPT_IO_SIZE] = {"io-size", "SIZE",
                         "bytes asked for per read call (buffer size)", 0},
    [CLI_OPT_CACHE] = {"cache", "TYPE", "the library's cache strategy", 0},
    [CLI_OPT_BLOCK_SIZE] = {"block-size", "SIZE", "block size of the cache", 0},
    [CLI_OPT_ENDPOINT] = {"endpoint", "URL",
                          "GCS JSON API endpoint for gs:// URLs", 0},
    [CLI_OPT_CA_BUNDLE] = {"ca-bundle", "FILE",
                           "PEM file of CA certificates for TLS", 0},
    [CLI_OPT_MAX_CONNECTIONS] = {"max-connections", "N",
                                 "size of the connection pool", 0},
    [CLI_OPT_STALL_TIMEOUT] = {"stall-timeout", "MS",
                               "abort a transfer idle this many ms (or "
                               "getting under 1 KiB in as long)",
                               0},
    [CLI_OPT_REQUEST_TIMEOUT] = {"request-timeout", "MS",
                                 "abort an HTTP attempt after this many ms "
                                 "(retried; 0: no limit)",
                                 0},
    [CLI_OPT_CONCURRENCY] = {"concurrency", "N",
                             "connections carrying bytes at once", 0},
    [CLI_OPT_PREFETCH] = {"prefetch", "MODE",
                          "read ahead: off, adaptive or sequential", 0},
    [CLI_OPT_MIN_PART_SIZE] = {"min-part-size", "SIZE",
                               "smallest part of a split fetch", 0},
    [CLI_OPT_MAX_PREFETCH] = {"max-prefetch", "SIZE",
                              "most bytes prefetched ahead of the reader", 0},
    [CLI_OPT_MAX_BLOCKS] = {"max-blocks", "N",
                            "blocks kept by blockcache and background", 0},
    [CLI_OPT_MEMORY_BUDGET] = {"memory-budget", "SIZE",
                               "most bytes the client holds prefetched", 0},
    [CLI_OPT_STATS] = {"stats", NULL,
                       "print the file's counters and prefetch plan, the "
                       "buffer pool's and the minor page faults on stderr "
                       "at the end",
                       0},
    [CLI_OPT_TRACE] = {"trace", "FILE",
                       "replay the 'OFFSET LENGTH' lines of FILE", 0},
    [CLI_OPT_RANGES] = {"ranges", "FILE",
                        "read FILE's 'OFFSET LENGTH' lines in one "
                        "vectored read",
                        0},
    [CLI_OPT_RANGES_MODE] = {"ranges-mode", "M",
                             "vectored, pread, pread-threads[=N], "
                             "pread-handles[=N] or get-per-range[=N]",
                             0},
    [CLI_OPT_BATCH] = {"batch", "N",
                       "most ranges per batch (0: all, 256 MiB at a "
                       "time)",
                       0},
    [CLI_OPT_ZERO_COPY] = {"zero-copy", NULL,
                           "no copy: gsr_read_slices (cat: gsr_sendfile "
                           "for one range)",
                           0},
    [CLI_OPT_COPY] = {"copy", NULL,
                      "read with gsr_read into one io-size buffer instead "
                      "of slices",
                      0},
    [CLI_OPT_DEBUG] = {"debug", NULL,
                       "print the library's decisions on stderr (prefetch "
                       "window, blocks, seeks, retries)",
                       0},
    [CLI_OPT_PATTERN] = {"pattern", "P", "seq or rand", 0},
    [CLI_OPT_MODE] = {"mode", "M", "default, concurrent or prefetch", 0},
    [CLI_OPT_SEED] = {"seed", "S", "seed of the random offsets", 0},
    [CLI_OPT_PROCS] = {"procs", "N",
                       "processes, each with its own client and file", 0},
    [CLI_OPT_MAX_BYTES] = {"max-bytes", "SIZE",
                           "each process stops after this many bytes", 0},
    [CLI_OPT_MAX_SECONDS] = {"max-seconds", "S",
                             "... or after this long (decimal seconds)", 0},
    [CLI_OPT_JSON] = {"json", NULL, "print one JSON object on one line", 0},
    [CLI_OPT_PART_SIZE] = {"part-size", "SIZE",
                           "bytes per request (a block); at least "
                           "256KiB, or 0",
                           0},
    [CLI_OPT_RECURSIVE] = {"recursive", NULL, "everything under the prefix",
                           'r'},
    [CLI_OPT_LONG] = {"long", NULL, "also size, updated time and generation",
                      'l'},
    [CLI_OPT_QUIET] = {"quiet", NULL, "no progress, no summary line", 'q'},
    [CLI_OPT_ANONYMOUS] = {"anonymous", NULL,
                           "send no credentials (public buckets)", 0},
    [CLI_OPT_GRPC] = {"grpc", NULL,
                      "every gs:// object over gRPC (default: zonal ones)", 0},
    [CLI_OPT_NO_GRPC] = {"no-grpc", NULL, "never gRPC, zonal buckets included",
                         0},
    [CLI_OPT_GRPC_ENDPOINT] = {"grpc-endpoint", "URL",
                               "gRPC endpoint, http://HOST:PORT (h2c) or "
                               "https://HOST[:PORT]; default "
                               "$STORAGE_GRPC_ENDPOINT",
                               0},
    [CLI_OPT_USER_PROJECT] = {"user-project", "PROJECT",
                              "requester pays: the project billed", 0},
    [CLI_OPT_NO_FOLLOW] = {"no-follow", NULL,
                           "fail on an http(s) redirect, naming its "
                           "Location",
                           0},
    [CLI_OPT_FOREGROUND] = {"foreground", NULL,
                            "stay in the foreground, log on stderr", 'f'},
    [CLI_OPT_ALLOW_OTHER] = {"allow-other", NULL,
                             "let other users read the mount", 0},
    [CLI_OPT_UID] = {"uid", "N", "owner of every file and directory", 0},
    [CLI_OPT_GID] = {"gid", "N", "group of every file and directory", 0},
    [CLI_OPT_FILE_MODE] = {"file-mode", "OCTAL", "permissions of files", 0},
    [CLI_OPT_DIR_MODE] = {"dir-mode", "OCTAL", "permissions of directories", 0},
    [CLI_OPT_TTL] = {"ttl", "S", "seconds listings and attributes are cached",
                     0},
    [CLI_OPT_MAX_READAHEAD] = {"max-readahead", "SIZE",
                               "the kernel's own readahead per file", 0},
    [CLI_OPT_DIRECT_IO] = {"direct-io", NULL, "bypass the page cache (no mmap)",
                           0},
    [CLI_OPT_LOG_FILE] = {"log-file", "FILE",
                          "background: log to FILE, not syslog", 0},
    [CLI_OPT_OPTIONS] = {"options", "OPTS",
                         "a,b=V,...: --a --b V (mount -o; fstab)", 'o'},
    [CLI_OPT_HELP] = {"help", NULL, "show this help and exit", 0},
};

/* Values of --pattern and --mode, indexed by their enums. */
static const char *const pattern_names[] = {
    [CLI_PATTERN_SEQ] = "seq",
    [CLI_PATTERN_RAND] = "rand",
    [CLI_PATTERN_TRACE] = "trace",
};
static const char *const mode_names[] = {
    [CLI_MODE_DEFAULT] = "default",
    [CLI_MODE_CONCURRENT] = "concurrent",
    [CLI_MODE_PREFETCH] = "prefetch",
};

const char *cli_pattern_name(enum cli_pattern p) { return pattern_names[p]; }

const char *cli_mode_name(enum cli_mode m) { return mode_names[m]; }

/* ---- Values --------------------------------------------------------------*/

static void init_args(const struct cli_command *cmd, struct cli_args *a);

/* Prints a byte count the way a user would type it ("5MiB"), so a default
 * shown in the help can be pasted back as an option value. */
void cli_format_size(uint64_t v, char *buf, size_t n) {
  static const char *const units[] = {"", "KiB", "MiB", "GiB", "TiB"};
  size_t u = 0;

  while (u + 1 < sizeof units / sizeof units[0] && v >= 1024 && v % 1024 == 0) {
    v /= 1024;
    u++;
  }
  snprintf(buf, n, "%" PRIu64 "%s", v, units[u]);
}

/* A size whose 0 means "the library decides": the header documents those
 * defaults, but the API has no way to ask for them. */
static const char *size_or_library(uint64_t v, char *buf, size_t n) {
  if (v == 0) return "0, the library's default";
  cli_format_size(v, buf, n);
  return buf;
}

/* Defaults of the settings only the library knows, as shown in the help. */
static const char *library_default(enum cli_opt_id id, const struct cli_args *d,
                                   char *buf, size_t n) {
  switch (id) {
  case CLI_OPT_CACHE:
    return d->file.cache_type ? d->file.cache_type
                              : "none, every read fetches its bytes";
  case CLI_OPT_BLOCK_SIZE:
    cli_format_size(d->file.block_size, buf, n);
    return buf;
  case CLI_OPT_CONCURRENCY:
    if (d->file.concurrency == 0)
      return "0, the library's: $GSREAD_CONCURRENCY,\n"
             "else $DEFAULT_GCSFS_CONCURRENCY, else 4;\n"
             "with neither, cat and cp measure it";
    snprintf(buf, n, "%d", d->file.concurrency);
    return buf;
  case CLI_OPT_PREFETCH:
    /* bench's mode decides (bench/cmd.c): --prefetch only tunes
     * --mode prefetch, which reads ahead adaptively unless told. */
    if (strcmp(d->cmd, "bench") == 0)
      return "adaptive (with --mode prefetch, the only\nmode it is for)";
    if (d->file.prefetch) return d->file.prefetch;
    if (d->client.prefetch) {
      snprintf(buf, n, "%s; off with any --cache", d->client.prefetch);
      return buf;
    }
    return "adaptive (off with any --cache, or if\n"
           "$USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING is set\n"
           "and not true or 1)";
  case CLI_OPT_MIN_PART_SIZE:
    cli_format_size(d->file.min_part_size, buf, n);
    return buf;
  case CLI_OPT_MAX_PREFETCH:
    return size_or_library(d->file.max_prefetch, buf, n);
  case CLI_OPT_MEMORY_BUDGET:
    return size_or_library(d->client.memory_budget, buf, n);
  case CLI_OPT_MAX_BLOCKS:
    snprintf(buf, n, "%d", d->file.max_blocks);
    return buf;
  case CLI_OPT_ENDPOINT:
    if (d->client.endpoint) return d->client.endpoint;
    return "$STORAGE_EMULATOR_HOST if set,\n"
           "else https://storage.googleapis.com";
  case CLI_OPT_CA_BUNDLE:
    return d->client.ca_bundle ? d->client.ca_bundle : "the system's bundle";
  case CLI_OPT_MAX_CONNECTIONS:
    snprintf(buf, n, "%d", d->client.max_connections);
    return buf;
  case CLI_OPT_STALL_TIMEOUT:
    snprintf(buf, n, "%ld", d->client.stall_timeout_ms);
    return buf;
  case CLI_OPT_REQUEST_TIMEOUT:
    snprintf(buf, n, "%ld", d->client.request_timeout_ms);
    return buf;
  case CLI_OPT_NO_FOLLOW:
    snprintf(buf, n, "follow up to %d", d->client.max_redirects);
    return buf;
  default:
    return NULL;
  }
}

/* Defaults of the tool's own settings, as shown in the help. */
static const char *tool_default(enum cli_opt_id id, const struct cli_args *d,
                                char *buf, size_t n) {
  switch (id) {
  case CLI_OPT_OFFSET:
    return "0";
  case CLI_OPT_LENGTH:
    return "to the end of the object";
  case CLI_OPT_IO_SIZE:
    cli_format_size(d->io_size, buf, n);
    return buf;
  case CLI_OPT_ZERO_COPY:
    return d->zero_copy ? "on" : "gsr_read into one io-size buffer";
  case CLI_OPT_PATTERN:
    return cli_pattern_name(d->bench.pattern);
  case CLI_OPT_MODE:
    return cli_mode_name(d->bench.mode);
  case CLI_OPT_SEED:
    snprintf(buf, n, "%" PRIu64, d->bench.seed);
    return buf;
  case CLI_OPT_PROCS:
    snprintf(buf, n, "%d", d->bench.procs);
    return buf;
  case CLI_OPT_MAX_BYTES:
    cli_format_size(d->bench.max_bytes, buf, n);
    return buf;
  case CLI_OPT_MAX_SECONDS:
    snprintf(buf, n, "%g", d->bench.max_seconds);
    return buf;
  case CLI_OPT_RANGES_MODE:
    cli_ranges_mode_name(&d->bench.ranges_mode, buf, n);
    return buf;
  case CLI_OPT_BATCH:
    snprintf(buf, n, "%zu", d->bench.batch);
    return buf;
  case CLI_OPT_JSON:
    return "readable text";
  case CLI_OPT_UID:
  case CLI_OPT_GID:
    return "the user who mounts";
  case CLI_OPT_FILE_MODE:
    snprintf(buf, n, "%04o", d->mount.file_mode);
    return buf;
  case CLI_OPT_DIR_MODE:
    snprintf(buf, n, "%04o", d->mount.dir_mode);
    return buf;
  case CLI_OPT_TTL:
    snprintf(buf, n, "%lld", d->mount.ttl);
    return buf;
  case CLI_OPT_MAX_READAHEAD:
    cli_format_size(d->mount.max_readahead, buf, n);
    return buf;
  case CLI_OPT_PART_SIZE:
    if (d->download.part_size == 0)
      return "0, the library's: at least what one\n"
             "connection gets in a first-byte wait";
    cli_format_size(d->download.part_size, buf, n);
    return buf;
  default:
    return NULL;
  }
}

/* The default of an option in cmd's help, read from the same defaults
 * the parser starts from: the library's own *_options_init, then the
 * command's, so the help cannot drift from what a run uses. NULL: the
 * option has no default worth showing (flags, --trace). */
static const char *opt_default(const struct cli_command *cmd,
                               enum cli_opt_id id, char *buf, size_t n) {
  struct cli_args d;

  init_args(cmd, &d);
  switch (id) {
  case CLI_OPT_CACHE:
  case CLI_OPT_BLOCK_SIZE:
  case CLI_OPT_CONCURRENCY:
  case CLI_OPT_PREFETCH:
  case CLI_OPT_MIN_PART_SIZE:
  case CLI_OPT_MAX_PREFETCH:
  case CLI_OPT_MEMORY_BUDGET:
  case CLI_OPT_MAX_BLOCKS:
  case CLI_OPT_ENDPOINT:
  case CLI_OPT_CA_BUNDLE:
  case CLI_OPT_MAX_CONNECTIONS:
  case CLI_OPT_STALL_TIMEOUT:
  case CLI_OPT_REQUEST_TIMEOUT:
  case CLI_OPT_NO_FOLLOW:
    return library_default(id, &d, buf, n);
  default:
    return tool_default(id, &d, buf, n);
  }
}

/* gsr_parse_size with the tool's limits on top: a size must also fit the
 * type it ends up in (max), and zero may be meaningless (min 1). */
static int parse_size(const char *cmd, const char *opt, const char *text,
                      uint64_t min, uint64_t max, uint64_t *out) {
  uint64_t v;

  if (gsr_parse_size(text, &v) != GSR_OK)
    return cli_usage_error(cmd,
                           "invalid size '%s' for --%s "
                           "(e.g. 4096, 64K, 64KiB, 1M, 5MB)",
                           text, opt);
  if (v < min)
    return cli_usage_error(cmd, "--%s must be at least %" PRIu64, opt, min);
  if (v > max) return cli_usage_error(cmd, "--%s is too large: %s", opt, text);
  *out = v;
  return CLI_CONTINUE;
}

/* A plain decimal integer in [min, max]; strtoll alone would accept
 * leading spaces, a sign and trailing junk. */
static int parse_int(const char *cmd, const char *opt, const char *text,
                     long long min, long long max, long long *out) {
  char *end;
  long long v;

  if (text[0] < '0' || text[0] > '9')
    return cli_usage_error(cmd, "invalid number '%s' for --%s", text, opt);
  errno = 0;
  v = strtoll(text, &end, 10);
  if (*end != '\0')
    return cli_usage_error(cmd, "invalid number '%s' for --%s", text, opt);
  if (errno == ERANGE || v < min || v > max)
    return cli_usage_error(cmd, "--%s must be between %lld and %lld", opt, min,
                           max);
  *out = v;
  return CLI_CONTINUE;
}

/* Strings are passed to the library as is; an empty one is almost surely
 * a shell mistake (--endpoint "$UNSET_VAR"), so say so now. */
static int parse_string(const char *cmd, const char *opt, const char *text,
                        const char **out) {
  if (*text == '\0')
    return cli_usage_error(cmd, "--%s needs a non-empty value", opt);
  *out = text;
  return CLI_CONTINUE;
}

/* One of names[0..n); its index goes to *out. The tool's own choices
 * (--pattern, --mode) are checked here; the library's (--cache,
 * --prefetch) by the library, which owns their list. */
static int parse_choice(const char *cmd, const char *opt, const char *text,
                        const char *const *names, size_t n, int *out) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(text, names[i]) == 0) {
      *out = (int)i;
      return CLI_CONTINUE;
    }
  }
  if (n == 2)
    return cli_usage_error(cmd, "invalid value '%s' for --%s (%s or %s)", text,
                           opt, names[0], names[1]);
  return cli_usage_error(cmd, "invalid value '%s' for --%s (%s, %s or %s)",
                         text, opt, names[0], names[1], names[2]);
}

/* Seconds as DIGITS[.DIGITS], more than 0 and at most a day: strtod alone
 * would take "inf", "1e3", hex and leading spaces. */
static int parse_seconds(const char *cmd, const char *opt, const char *text,
                         double *out) {
  const char *p = text;
  double v;

  while (*p >= '0' && *p <= '9') p++;
  if (p > text && *p == '.' && p[1] >= '0' && p[1] <= '9')
    for (p++; *p >= '0' && *p <= '9'; p++)
      ;
  if (p == text || *p != '\0')
    return cli_usage_error(cmd,
                           "invalid number of seconds '%s' for --%s "
                           "(e.g. 10, 0.5)",
                           text, opt);
  v = strtod(text, NULL);
  if (v <= 0 || v > 86400)
    return cli_usage_error(cmd,
                           "--%s must be more than 0 and at most "
                           "86400",
                           opt);
  *out = v;
  return CLI_CONTINUE;
}

/* parse_int into an int. */
static int parse_int_to(const char *cmd, const char *opt, const char *text,
                        long long min, long long max, int *out) {
  long long n;
  int rc = parse_int(cmd, opt, text, min, max, &n);

  if (rc == CLI_CONTINUE) *out = (int)n;
  return rc;
}

/* Stores the value of one of the options that only `bench` has. */
static int apply_bench_option(const char *cmd, enum cli_opt_id id,
                              const char *v, struct cli_args *a) {
  const char *name = opt_defs[id].name;
  struct cli_bench_args *b = &a->bench;
  long long n;
  int rc = CLI_CONTINUE, choice = 0;

  switch (id) {
  case CLI_OPT_PATTERN:
    /* "trace" is not a value: --trace FILE says which trace. */
    rc = parse_choice(cmd, name, v, pattern_names, 2, &choice);
    if (rc == CLI_CONTINUE) {
      b->pattern = (enum cli_pattern)choice;
      a->has_pattern = 1;
    }
    return rc;
  case CLI_OPT_MODE:
    rc = parse_choice(cmd, name, v, mode_names, 3, &choice);
    if (rc == CLI_CONTINUE) b->mode = (enum cli_mode)choice;
    return rc;
  case CLI_OPT_SEED:
    rc = parse_int(cmd, name, v, 0, LLONG_MAX, &n);
    if (rc == CLI_CONTINUE) b->seed = (uint64_t)n;
    return rc;
  case CLI_OPT_PROCS:
    /* Each process is a client with its own I/O thread and buffers: a
     * typo like 10000 should not fork-bomb the machine. */
    return parse_int_to(cmd, name, v, 1, 1024, &b->procs);
  case CLI_OPT_MAX_BYTES:
    return parse_size(cmd, name, v, 1, UINT64_MAX, &b->max_bytes);
  case CLI_OPT_MAX_SECONDS:
    return parse_seconds(cmd, name, v, &b->max_seconds);
  case CLI_OPT_RANGES_MODE:
    if (cli_ranges_mode_parse(v, &b->ranges_mode) != 0)
      return cli_usage_error(cmd,
                             "invalid value '%s' for --%s (vectored, "
                             "pread, pread-threads[=N], pread-handles[=N] "
                             "or get-per-range[=N], N from 1 to 256)",
                             v, name);
    return CLI_CONTINUE;
  case CLI_OPT_BATCH:
    rc = parse_int(cmd, name, v, 0, INT_MAX, &n);
    if (rc == CLI_CONTINUE) b->batch = (size_t)n;
    return rc;
  default:
    return rc;
  }
}

/* Permission bits in octal ("644", "0444"). */
static int parse_mode(const char *cmd, const char *opt, const char *text,
                      unsigned *out) {
  unsigned v = 0;
  size_t len = strlen(text);

  if (len == 0 || len > 4 || strspn(text, "01234567") != len)
    return cli_usage_error(cmd,
                           "invalid mode '%s' for --%s (octal, e.g. "
                           "444)",
                           text, opt);
  for (const char *p = text; *p; p++) v = v * 8 + (unsigned)(*p - '0');
  if (v > 0777)
    return cli_usage_error(cmd,
                           "--%s takes permission bits only (at most "
                           "777)",
                           opt);
  *out = v;
  return CLI_CONTINUE;
}

/* Stores the value of one of the options that only `mount` has. */
static int apply_mount_option(const char *cmd, enum cli_opt_id id,
                              const char *v, struct cli_args *a) {
  const char *name = opt_defs[id].name;
  struct cli_mount_args *m = &a->mount;

  switch (id) {
  case CLI_OPT_FOREGROUND:
    m->foreground = 1;
    return CLI_CONTINUE;
  case CLI_OPT_ALLOW_OTHER:
    m->allow_other = 1;
    return CLI_CONTINUE;
  case CLI_OPT_UID:
    return parse_int(cmd, name, v, 0, 4294967294LL, &m->uid);
  case CLI_OPT_GID:
    return parse_int(cmd, name, v, 0, 4294967294LL, &m->gid);
  case CLI_OPT_FILE_MODE:
    return parse_mode(cmd, name, v, &m->file_mode);
  case CLI_OPT_DIR_MODE:
    return parse_mode(cmd, name, v, &m->dir_mode);
  case CLI_OPT_TTL:
    return parse_int(cmd, name, v, 0, 365LL * 86400, &m->ttl);
  case CLI_OPT_MAX_READAHEAD:
    return parse_size(cmd, name, v, 0, (uint64_t)1 << 30, &m->max_readahead);
  case CLI_OPT_DIRECT_IO:
    m->direct_io = 1;
    return CLI_CONTINUE;
  case CLI_OPT_LOG_FILE:
    return parse_string(cmd, name, v, &m->log_file);
  default:
    return CLI_CONTINUE;
  }
}

/* Stores the value of one of the library's file and client settings. */
static int apply_library_option(const char *cmd, enum cli_opt_id id,
                                const char *v, struct cli_args *a) {
  const char *name = opt_defs[id].name;

  switch (id) {
  case CLI_OPT_CONCURRENCY:
    /* 0 is the library's default; the upper bound is the library's. */
    a->has_concurrency = 1;
    return parse_int_to(cmd, name, v, 0, INT_MAX, &a->file.concurrency);
  case CLI_OPT_PREFETCH:
    a->has_prefetch = 1;
    return parse_string(cmd, name, v, &a->file.prefetch);
  case CLI_OPT_MIN_PART_SIZE:
    return parse_size(cmd, name, v, 1, INT64_MAX, &a->file.min_part_size);
  case CLI_OPT_MAX_PREFETCH:
    return parse_size(cmd, name, v, 0, UINT64_MAX, &a->file.max_prefetch);
  case CLI_OPT_MAX_BLOCKS:
    return parse_int_to(cmd, name, v, 1, INT_MAX, &a->file.max_blocks);
  case CLI_OPT_MEMORY_BUDGET:
    return parse_size(cmd, name, v, 0, UINT64_MAX, &a->client.memory_budget);
  default:
    return CLI_CONTINUE;
  }
}

/* Stores the value of one option into *a. */
static int apply_option(const char *cmd, enum cli_opt_id id, const char *v,
                        struct cli_args *a) {
  const char *name = opt_defs[id].name;
  long long n;
  int rc;

  switch (id) {
  case CLI_OPT_OFFSET:
    /* gsr_seek takes an int64_t. */
    a->has_offset = 1;
    return parse_size(cmd, name, v, 0, INT64_MAX, &a->offset);
  case CLI_OPT_LENGTH:
    a->has_length = 1;
    return parse_size(cmd, name, v, 0, UINT64_MAX, &a->length);
  case CLI_OPT_IO_SIZE:
    /* gsr_read takes a size_t that must not exceed INT64_MAX. */
    return parse_size(cmd, name, v, 1,
                      SIZE_MAX < INT64_MAX ? SIZE_MAX : INT64_MAX, &a->io_size);
  case CLI_OPT_CACHE:
    return parse_string(cmd, name, v, &a->file.cache_type);
  case CLI_OPT_BLOCK_SIZE:
    return parse_size(cmd, name, v, 1, UINT64_MAX, &a->file.block_size);
  case CLI_OPT_ENDPOINT:
    return parse_string(cmd, name, v, &a->client.endpoint);
  case CLI_OPT_CA_BUNDLE:
    return parse_string(cmd, name, v, &a->client.ca_bundle);
  case CLI_OPT_MAX_CONNECTIONS:
    /* The upper bound is the library's to enforce; it may change. */
    rc = parse_int(cmd, name, v, 1, INT_MAX, &n);
    if (rc == CLI_CONTINUE) a->client.max_connections = (int)n;
    return rc;
  case CLI_OPT_STALL_TIMEOUT:
    rc = parse_int(cmd, name, v, 1, LONG_MAX, &n);
    if (rc == CLI_CONTINUE) a->client.stall_timeout_ms = (long)n;
    return rc;
  case CLI_OPT_REQUEST_TIMEOUT:
    rc = parse_int(cmd, name, v, 0, LONG_MAX, &n);
    if (rc == CLI_CONTINUE) a->client.request_timeout_ms = (long)n;
    return rc;
  case CLI_OPT_JSON:
    a->json = 1;
    return CLI_CONTINUE;
  case CLI_OPT_PART_SIZE: {
    /* The library's limits: a part is one buffer in memory, and one
     * request (a tiny part is a request per few bytes). 0: automatic. */
    char min[32];
    int st = parse_size(cmd, name, v, 0, (uint64_t)1 << 40,
                        &a->download.part_size);

    if (st != CLI_CONTINUE || a->download.part_size == 0 ||
        a->download.part_size >= GSR_DOWNLOAD_MIN_PART_SIZE)
      return st;
    cli_format_size(GSR_DOWNLOAD_MIN_PART_SIZE, min, sizeof min);
    return cli_usage_error(cmd,
                           "--part-size must be at least %s (one "
                           "request per part), or 0 for automatic: '%s'",
                           min, v);
  }
  case CLI_OPT_RECURSIVE:
    a->recursive = 1;
    return CLI_CONTINUE;
  case CLI_OPT_LONG:
    a->long_format = 1;
    return CLI_CONTINUE;
  case CLI_OPT_QUIET:
    a->quiet = 1;
    return CLI_CONTINUE;
  case CLI_OPT_ANONYMOUS:
    a->client.anonymous = 1;
    return CLI_CONTINUE;
  case CLI_OPT_GRPC:
    a->client.grpc = 1;
    return CLI_CONTINUE;
  case CLI_OPT_NO_GRPC:
    a->client.grpc = -1;
    return CLI_CONTINUE;
  case CLI_OPT_GRPC_ENDPOINT:
    return parse_string(cmd, name, v, &a->client.grpc_endpoint);
  case CLI_OPT_USER_PROJECT:
    return parse_string(cmd, name, v, &a->client.user_project);
  case CLI_OPT_NO_FOLLOW:
    a->client.max_redirects = 0;
    return CLI_CONTINUE;
  case CLI_OPT_STATS:
    a->stats = 1;
    return CLI_CONTINUE;
  case CLI_OPT_ZERO_COPY:
    a->zero_copy = 1;
    return CLI_CONTINUE;
  case CLI_OPT_DEBUG:
    a->debug = 1;
    return CLI_CONTINUE;
  case CLI_OPT_COPY:
    a->zero_copy = 0;
    return CLI_CONTINUE;
  case CLI_OPT_TRACE:
    return parse_string(cmd, name, v, &a->trace);
  case CLI_OPT_RANGES:
    return parse_string(cmd, name, v, &a->ranges);
  case CLI_OPT_CONCURRENCY:
  case CLI_OPT_PREFETCH:
  case CLI_OPT_MIN_PART_SIZE:
  case CLI_OPT_MAX_PREFETCH:
  case CLI_OPT_MAX_BLOCKS:
  case CLI_OPT_MEMORY_BUDGET:
    return apply_library_option(cmd, id, v, a);
  case CLI_OPT_PATTERN:
  case CLI_OPT_MODE:
  case CLI_OPT_SEED:
  case CLI_OPT_PROCS:
  case CLI_OPT_MAX_BYTES:
  case CLI_OPT_MAX_SECONDS:
  case CLI_OPT_RANGES_MODE:
  case CLI_OPT_BATCH:
    return apply_bench_option(cmd, id, v, a);
  case CLI_OPT_FOREGROUND:
  case CLI_OPT_ALLOW_OTHER:
  case CLI_OPT_UID:
  case CLI_OPT_GID:
  case CLI_OPT_FILE_MODE:
  case CLI_OPT_DIR_MODE:
  case CLI_OPT_TTL:
  case CLI_OPT_MAX_READAHEAD:
  case CLI_OPT_DIRECT_IO:
  case CLI_OPT_LOG_FILE:
    return apply_mount_option(cmd, id, v, a);
  case CLI_OPT_OPTIONS: /* parse_value: it needs the command's list */
  case CLI_OPT_HELP:
  case CLI_OPT__COUNT:
    break;
  }
  return CLI_CONTINUE;
}

/* ---- Parsing -------------------------------------------------------------*/

/* The option called name[0..len) in the global table, or -1. */
static int find_opt(const char *name, size_t len) {
  for (int id = 0; id < CLI_OPT__COUNT; id++) {
    if (strlen(opt_defs[id].name) == len &&
        memcmp(opt_defs[id].name, name, len) == 0)
      return id;
  }
  return -1;
}

static int cmd_accepts(const struct cli_command *cmd, int id) {
  for (size_t i = 0; i < cmd->nopts; i++) {
    if ((int)cmd->opts[i] == id) return 1;
  }
  return 0;
}

/* The option cmd accepts whose one-letter form is c, or -1: flags, and
 * mount's "-o OPTS" (the next word is its value). */
static int find_short(const struct cli_command *cmd, char c) {
  for (int id = 0; id < CLI_OPT__COUNT; id++) {
    if (opt_defs[id].short_name == c && cmd_accepts(cmd, id)) return id;
  }
  return -1;
}

/* -o name[=value],...: each as --name [value] (mount_o_next splits them),
 * so that fstab lines and mount(8)'s helper can set every option. */
static int apply_o_options(const struct cli_command *c, const char *v,
                           struct cli_args *a) {
  const char *cmd = c->name;
  char name[64], value[4096];
  int has_value, got, rc = CLI_CONTINUE;

  while (rc == CLI_CONTINUE &&
         (got = mount_o_next(&v, name, sizeof name, value, sizeof value,
                             &has_value)) != 0) {
    int id = got > 0 ? find_opt(name, strlen(name)) : -1;

    if (got < 0 || id < 0 || !cmd_accepts(c, id) || id == CLI_OPT_OPTIONS ||
        id == CLI_OPT_HELP)
      return cli_usage_error(cmd, "unknown -o option '%s'",
                             got < 0 ? "(too long)" : name);
    if (!opt_defs[id].arg != !has_value)
      return cli_usage_error(cmd, "-o %s %s", name,
                             has_value ? "takes no value" : "needs a value");
    rc = apply_option(cmd, (enum cli_opt_id)id, has_value ? value : NULL, a);
  }
  return rc;
}

/* Applies option id of cmd with value v (NULL for a flag). */
static int parse_value(const struct cli_command *cmd, int id, const char *v,
                       struct cli_args *a) {
  if (id == CLI_OPT_OPTIONS) return apply_o_options(cmd, v, a);
  return apply_option(cmd->name, (enum cli_opt_id)id, v, a);
}

/* --help stops parsing: the help is all the user gets, with status 0. */
static int show_help(const struct cli_command *cmd) {
  cli_print_command_help(cmd, stdout);
  return CLI_EXIT_OK;
}

/* Handles argv[*i], a "--name" or "--name=value" word; may consume the
 * next word as the value. */
static int parse_long_opt(const struct cli_command *cmd, int argc, char **argv,
                          int *i, struct cli_args *a) {
  const char *word = argv[*i];
  const char *name = word + 2;
  const char *eq = strchr(name, '=');
  size_t len = eq ? (size_t)(eq - name) : strlen(name);
  int id = find_opt(name, len);
  const char *value;

  if (id < 0)
    return cli_usage_error(cmd->name, "unknown option '%.*s'", (int)(len + 2),
                           word);
  if (!cmd_accepts(cmd, id))
    return cli_usage_error(cmd->name, "'%s' does not take --%s", cmd->name,
                           opt_defs[id].name);
  if (id == CLI_OPT_HELP) return show_help(cmd);
  if (!opt_defs[id].arg) {
    if (eq)
      return cli_usage_error(cmd->name, "option '--%s' takes no value",
                             opt_defs[id].name);
    return apply_option(cmd->name, (enum cli_opt_id)id, NULL, a);
  }
  if (eq) {
    value = eq + 1;
  } else {
    /* Like getopt, the next word is the value even if it starts with '-':
     * "--offset -1" then says "invalid size '-1'", which is the truth. */
    if (*i + 1 >= argc)
      return cli_usage_error(cmd->name, "option '--%s' needs a value (%s)",
                             opt_defs[id].name, opt_defs[id].arg);
    value = argv[++*i];
  }
  return parse_value(cmd, id, value, a);
}

static int take_positional(const struct cli_command *cmd, const char *word,
                           struct cli_args *a) {
  if (a->url && cmd->takes_dest && !a->dest) {
    a->dest = word;
    return CLI_CONTINUE;
  }
  if (a->url)
    return cli_usage_error(cmd->name, "unexpected argument '%s'", word);
  a->url = word;
  return CLI_CONTINUE;
}

static void init_args(const struct cli_command *cmd, struct cli_args *a) {
  memset(a, 0, sizeof *a);
  a->cmd = cmd->name;
  a->io_size = CLI_DEFAULT_IO_SIZE;
  gsr_client_options_init(&a->client);
  gsr_file_options_init(&a->file);
  gsr_download_options_init(&a->download);
  if (cmd->defaults) cmd->defaults(a);
}

/* Parses the words after the command name. Returns CLI_CONTINUE with *a
 * filled in, or an exit status: CLI_EXIT_OK after printing the help,
 * CLI_EXIT_USAGE after printing the problem. */
int cli_parse_args(const struct cli_command *cmd, int argc, char **argv,
                   struct cli_args *a) {
  int only_positionals = 0;
  int rc = CLI_CONTINUE;

  init_args(cmd, a);
  for (int i = 0; i < argc && rc == CLI_CONTINUE; i++) {
    const char *w = argv[i];

    if (only_positionals || w[0] != '-' || w[1] == '\0')
      rc = take_positional(cmd, w, a); /* "-" alone is a name, as usual */
    else if (strcmp(w, "--") == 0)
      only_positionals = 1;
    else if (strcmp(w, "-h") == 0 && cmd_accepts(cmd, CLI_OPT_HELP))
      rc = show_help(cmd);
    else if (w[1] != '-' && w[2] == '\0' && find_short(cmd, w[1]) >= 0) {
      int id = find_short(cmd, w[1]);
      const char *v = NULL;

      if (opt_defs[id].arg && i + 1 >= argc)
        rc = cli_usage_error(cmd->name, "option '%s' needs a value (%s)", w,
                             opt_defs[id].arg);
      else if (opt_defs[id].arg)
        v = argv[++i];
      if (rc == CLI_CONTINUE) rc = parse_value(cmd, id, v, a);
    } else if (w[1] == '-')
      rc = parse_long_opt(cmd, argc, argv, &i, a);
    else
      rc = cli_usage_error(cmd->name, "unknown option '%s'", w);
  }
  if (rc == CLI_CONTINUE && !a->url && !cmd->url_optional)
    rc = cli_usage_error(cmd->name, "missing URL");
  if (rc == CLI_CONTINUE && cmd->finish) rc = cmd->finish(a);
  return rc;
}

/* ---- Help ----------------------------------------------------------------*/

#define HELP_COLUMN 26 /* where explanations start */
#define HELP_WIDTH 79

/* "(default: ...)" on lines of its own under the explanation; a newline in
 * a long default continues it under the text after "(default: ". */
static void print_default_below(const char *def, FILE *out) {
  fprintf(out, "\n%*s(default: ", HELP_COLUMN, "");
  for (; *def; def++) {
    if (*def == '\n')
      fprintf(out, "\n%*s", HELP_COLUMN + 10, "");
    else
      fputc(*def, out);
  }
  fputs(")\n", out);
}

static void print_opt_help(const struct cli_command *cmd, enum cli_opt_id id,
                           FILE *out) {
  const struct opt_def *d = &opt_defs[id];
  char left[64], buf[64];
  const char *def = opt_default(cmd, id, buf, sizeof buf);
  int col;

  if (id == CLI_OPT_HELP)
    snprintf(left, sizeof left, "-h, --%s", d->name);
  else if (d->short_name)
    snprintf(left, sizeof left, "-%c, --%s%s%s", d->short_name, d->name,
             d->arg ? " " : "", d->arg ? d->arg : "");
  else
    snprintf(left, sizeof left, "--%s%s%s", d->name, d->arg ? " " : "",
             d->arg ? d->arg : "");
  col = fprintf(out, "  %-*s %s", HELP_COLUMN - 3, left, d->help);
  if (!def) {
    fputc('\n', out);
    return;
  }
  /* The default goes on the same line when it fits, else on its own line
   * under the explanation, so the help stays readable at 80 columns. */
  if (!strchr(def, '\n') && col + (int)strlen(def) + 12 <= HELP_WIDTH)
    fprintf(out, " (default: %s)\n", def);
  else
    print_default_below(def, out);
}

void cli_print_command_help(const struct cli_command *cmd, FILE *out) {
  fprintf(out, "Usage: gsread %s %s\n\n%s\n", cmd->name, cmd->synopsis,
          cmd->description);
  fputs("\nOptions:\n", out);
  for (size_t i = 0; i < cmd->nopts; i++)
    print_opt_help(cmd, cmd->opts[i], out);
  fputs("\nOptions may come before or after the URL; --opt=VALUE also "
        "works.\n",
        out);
  if (cmd_accepts(cmd, CLI_OPT_IO_SIZE)) {
    fputs("SIZE is a byte count with an optional suffix: K, M, G, T or "
          "KiB, MiB, GiB,\n"
          "TiB are powers of 1024; KB, MB, GB, TB are powers of 1000 "
          "(5MB = 5000000).\n",
          out);
  }
  fputs("Run 'gsread --help' for URL forms, environment variables and exit "
        "statuses.\n",
        out);
}
