/* gsread command-line tool: declarations shared by its source files.
 *
 * Layout: main.c dispatches to one file per command (cmd_*.c); opts.c
 * parses options for every command from one table; session.c opens the
 * client and the file; report.c prints errors; json.c writes JSON strings;
 * output.c writes to file descriptors; trace.c reads --trace files;
 * stats.c prints a file's counters. The two larger commands have a folder
 * each: bench/ (`gsread bench`: cmd.c the parent, proc.c its worker
 * processes, ranges.c its --ranges runs, out.c its output; bench.h) and
 * mount/ (`gsread mount` and `unmount`: cmd.c the commands, fs.c the FUSE
 * operations, map.c their pure decisions, none.c the build without FUSE;
 * mount.h). The build puts cli/ on the include path: "cli.h" from
 * anywhere, a folder's header by its path from outside it
 * ("mount/mount.h").
 * The tool uses only the public header, like any other program would.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSREAD_CLI_H
#define GSREAD_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gsread.h"

/* Exit statuses, documented in the usage text and docs/cli.md. */
enum {
  CLI_EXIT_OK = 0,   /* success */
  CLI_EXIT_FAIL = 1, /* the operation failed: open, read, write */
  CLI_EXIT_USAGE = 2 /* bad command line */
};

/* cli_parse_args() result meaning "options are fine, run the command";
 * every other result is an exit status to return at once. */
#define CLI_CONTINUE (-1)

/* Bytes per gsr_read call in `cat` unless --io-size says otherwise: large
 * enough that the library can split it into parallel range requests. */
#define CLI_DEFAULT_IO_SIZE ((uint64_t)16 * 1024 * 1024)

/* Most slices one gsr_read_slices call may return (--zero-copy). A read
 * that needs more simply returns fewer bytes and the next call goes on;
 * 64 stays far below IOV_MAX, so one writev() takes them all. */
#define CLI_MAX_SLICES 64

/* Every option any command knows. Each command lists the ones it accepts,
 * so the parser, the help text and the docs stay in one place (opts.c). */
enum cli_opt_id {
  CLI_OPT_OFFSET,
  CLI_OPT_LENGTH,
  CLI_OPT_IO_SIZE,
  CLI_OPT_CACHE,
  CLI_OPT_BLOCK_SIZE,
  CLI_OPT_ENDPOINT,
  CLI_OPT_CA_BUNDLE,
  CLI_OPT_MAX_CONNECTIONS,
  CLI_OPT_STALL_TIMEOUT,
  CLI_OPT_REQUEST_TIMEOUT,
  CLI_OPT_CONCURRENCY,
  CLI_OPT_PREFETCH,
  CLI_OPT_MIN_PART_SIZE,
  CLI_OPT_MAX_PREFETCH,
  CLI_OPT_MAX_BLOCKS,
  CLI_OPT_MEMORY_BUDGET,
  CLI_OPT_STATS,
  CLI_OPT_TRACE,
  CLI_OPT_RANGES,
  CLI_OPT_RANGES_MODE,
  CLI_OPT_BATCH,
  CLI_OPT_ZERO_COPY,
  CLI_OPT_DEBUG,
  CLI_OPT_COPY,
  CLI_OPT_PATTERN,
  CLI_OPT_MODE,
  CLI_OPT_SEED,
  CLI_OPT_PROCS,
  CLI_OPT_MAX_BYTES,
  CLI_OPT_MAX_SECONDS,
  CLI_OPT_JSON,
  CLI_OPT_PART_SIZE,
  CLI_OPT_RECURSIVE,
  CLI_OPT_LONG,
  CLI_OPT_QUIET,
  CLI_OPT_ANONYMOUS,
  CLI_OPT_GRPC,
  CLI_OPT_NO_GRPC,
  CLI_OPT_GRPC_ENDPOINT,
  CLI_OPT_USER_PROJECT,
  CLI_OPT_NO_FOLLOW,
  /* gsread mount (mount/cmd.c) */
  CLI_OPT_FOREGROUND,
  CLI_OPT_ALLOW_OTHER,
  CLI_OPT_UID,
  CLI_OPT_GID,
  CLI_OPT_FILE_MODE,
  CLI_OPT_DIR_MODE,
  CLI_OPT_TTL,
  CLI_OPT_MAX_READAHEAD,
  CLI_OPT_DIRECT_IO,
  CLI_OPT_LOG_FILE,
  CLI_OPT_OPTIONS,
  CLI_OPT_HELP,
  CLI_OPT__COUNT
};

/* `bench --pattern`: where the reads go. */
enum cli_pattern {
  CLI_PATTERN_SEQ,  /* from 0 to the end, then again from 0 */
  CLI_PATTERN_RAND, /* io-size-aligned offsets drawn uniformly */
  CLI_PATTERN_TRACE /* set by --trace, not a --pattern value */
};

/* `bench --mode`: the gcsfs benchmark's three columns. */
enum cli_mode {
  CLI_MODE_DEFAULT,    /* concurrency 1, prefetch off */
  CLI_MODE_CONCURRENT, /* concurrency N, prefetch off */
  CLI_MODE_PREFETCH    /* concurrency N, prefetch adaptive */
};

/* `bench --ranges-mode`: how the same ranges are read (bench/ranges.c). */
enum cli_rmode {
  CLI_RMODE_VECTORED,      /* gsr_read_ranges, one call per batch */
  CLI_RMODE_PREAD,         /* one gsr_pread per range, in turn */
  CLI_RMODE_PREAD_THREADS, /* the same from N threads at once */
  CLI_RMODE_GET_PER_RANGE, /* ... each one GET (concurrency 1): gcsfs */
  CLI_RMODE_PREAD_HANDLES  /* pread-threads, each thread its own handle */
};
struct cli_ranges_mode {
  enum cli_rmode kind;
  int threads; /* callers at once (vectored: 1, the library's own) */
};

/* Settings only `bench` has. */
struct cli_bench_args {
  enum cli_pattern pattern;
  enum cli_mode mode;
  uint64_t seed;
  int procs;
  uint64_t max_bytes;                 /* per process */
  double max_seconds;                 /* per process */
  struct cli_ranges_mode ranges_mode; /* --ranges: how they are read */
  size_t batch; /* --ranges: most ranges per batch; 0: no limit */
};

/* Settings only `mount` has. */
struct cli_mount_args {
  int foreground;
  int allow_other;
  long long uid, gid;           /* the owner every file shows */
  unsigned file_mode, dir_mode; /* permission bits */
  long long ttl;                /* seconds listings and attributes live */
  uint64_t max_readahead;       /* the kernel's readahead per file */
  int direct_io;                /* no page cache: reads go to the engine */
  const char *log_file;         /* background: log here, not to syslog */
};

/* The parsed command line. Library settings are kept in the library's own
 * option structs, initialised with its defaults, so the tool never
 * duplicates a default the library owns. */
struct cli_args {
  const char *cmd; /* the command's name, for "Try 'gsread CMD --help'" */
  const char *url;
  const char *dest; /* cp: the second positional argument */
  uint64_t offset;
  uint64_t length;
  int has_offset;
  int has_length; /* 0: read to the end of the object */
  uint64_t io_size;
  int json;
  int stats;           /* --stats: the file's counters on stderr at the end */
  int zero_copy;       /* --zero-copy: gsr_read_slices instead of gsr_read */
  int debug;           /* --debug: the library's decisions on stderr */
  const char *trace;   /* --trace FILE, or NULL */
  const char *ranges;  /* --ranges FILE (gsr_read_ranges), or NULL */
  int has_pattern;     /* --pattern was given (it conflicts with --trace) */
  int has_concurrency; /* --concurrency was given */
  int has_prefetch;    /* --prefetch was given */
  int recursive;       /* cp, ls: --recursive / -r */
  int long_format;     /* ls: --long / -l */
  int quiet;           /* cp: --quiet / -q */
  gsr_download_options download; /* cp: part size (concurrency: file's) */
  struct cli_bench_args bench;
  struct cli_mount_args mount;
  gsr_client_options client;
  gsr_file_options file;
};

/* The options of the commands that read objects (cat, cp, stat, bench):
 * where the server is and how to reach it, in the order their --help
 * lists them. */
#define CLI_OPTS_SERVER                                                  \
  CLI_OPT_ENDPOINT, CLI_OPT_CA_BUNDLE, CLI_OPT_MAX_CONNECTIONS,          \
      CLI_OPT_STALL_TIMEOUT, CLI_OPT_REQUEST_TIMEOUT, CLI_OPT_ANONYMOUS, \
      CLI_OPT_GRPC, CLI_OPT_NO_GRPC, CLI_OPT_GRPC_ENDPOINT,              \
      CLI_OPT_USER_PROJECT, CLI_OPT_NO_FOLLOW

/* A command's option list (an array) in its struct cli_command. */
#define CLI_OPTS(list) .opts = (list), .nopts = sizeof(list) / sizeof(list)[0]

struct cli_command {
  const char *name;
  /* summary, synopsis, description: CLI_HELP_NAME (cli_help.h, made at
   * build time from the text cli/help/NAME.txt). */
  const char *summary;     /* one line in `gsread --help` */
  const char *synopsis;    /* what follows "gsread NAME " in its usage */
  const char *description; /* printed by `gsread NAME --help` */
  const enum cli_opt_id *opts;
  size_t nopts;
  int takes_dest;   /* a second positional argument (cp's DEST) */
  int url_optional; /* the URL may be left out (auth) */
  /* The command's own defaults, set over the library's before parsing
   * (and shown by its --help); NULL: none. */
  void (*defaults)(struct cli_args *args);
  /* Checks that need every option at once (conflicts) and derives the
   * settings they imply; returns CLI_CONTINUE or an exit status. NULL:
   * none. */
  int (*finish)(struct cli_args *args);
  int (*run)(const struct cli_args *args); /* returns an exit status */
};

extern const struct cli_command cli_cmd_cat;
extern const struct cli_command cli_cmd_stat;
extern const struct cli_command cli_cmd_bench;
extern const struct cli_command cli_cmd_cp;
extern const struct cli_command cli_cmd_ls;
extern const struct cli_command cli_cmd_auth;
extern const struct cli_command cli_cmd_mount;
extern const struct cli_command cli_cmd_unmount;

/* opts.c */
int cli_parse_args(const struct cli_command *cmd, int argc, char **argv,
                   struct cli_args *out);
void cli_print_command_help(const struct cli_command *cmd, FILE *out);
const char *cli_pattern_name(enum cli_pattern p);
const char *cli_mode_name(enum cli_mode m);
void cli_format_size(uint64_t v, char *buf, size_t n);

/* report.c: one-line messages on stderr, all starting with "gsread: ". */
void cli_put_escaped(FILE *out, const char *s);
int cli_usage_hint(const char *cmd);
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cli_fail_gsr(int64_t status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cli_fail_errno(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cli_fail_text(const char *detail, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* session.c */
/* session.c: sets the trace callback when --debug was given. */
void cli_apply_debug(const struct cli_args *args, gsr_client_options *o);
/* Creates the client (with the plans file set, keeping the widths the
 * engine chose between runs: $GSREAD_PLANS_FILE, else ~/.cache/gsread/plans)
 * and opens args->url. */
int cli_open(const struct cli_args *args, int plans, gsr_client **client,
             gsr_file *file);
void cli_close(gsr_client *client, gsr_file file);
/* Only the client (for commands that open files themselves). */
int cli_client_new(const struct cli_args *args, gsr_client **client);

/* json.c */
void cli_json_string(FILE *out, const char *s);
/* Length of the well-formed UTF-8 sequence starting at s (1 for ASCII),
 * or 0 if the bytes there are not UTF-8 (stray continuation byte,
 * overlong form, surrogate, beyond U+10FFFF, cut short by the NUL). */
size_t cli_utf8_len(const unsigned char *s);

/* output.c: write everything or fail with an errno value (0 = done). */
struct iovec;
int cli_write_all(int fd, const void *buf, size_t n);
int cli_writev_all(int fd, struct iovec *iov, int iovcnt);
double cli_now(void);

/* trace.c: a --trace file, "OFFSET LENGTH" per line. */
struct cli_range {
  uint64_t offset; /* at most INT64_MAX: gsr_seek takes an int64_t */
  uint64_t length;
};
struct cli_trace {
  struct cli_range *ranges;
  size_t n;
};
int cli_trace_load(const char *cmd, const char *path, struct cli_trace *out);
void cli_trace_free(struct cli_trace *t);
uint64_t cli_range_clamp(const struct cli_range *r, uint64_t size);

/* ranges.c: --ranges, shared by cat and bench. The end of the batch of
 * r[0..n) that starts at i: at most max_n ranges (0: no limit of the
 * caller's) and 256 MiB of them inside an object of `size` bytes, but
 * always at least one range. */
size_t cli_ranges_batch_end(const struct cli_range *r, size_t n, size_t i,
                            uint64_t size, size_t max_n);
/* Adds one call's counters to a run's (the limits: the last call's). */
void cli_ranges_stats_add(gsr_ranges_stats *t, const gsr_ranges_stats *s);

/* bench/ranges.c: --ranges-mode values. Parses text ("vectored", "pread",
 * "pread-threads[=N]", "get-per-range[=N]") into *m: 0, or -1 if it is
 * none of them. cli_ranges_mode_name writes it back the same way. */
int cli_ranges_mode_parse(const char *text, struct cli_ranges_mode *m);
void cli_ranges_mode_name(const struct cli_ranges_mode *m, char *buf, size_t n);

/* stats.c */
int cli_print_file_stats(FILE *out, gsr_file file);
/* Prints the client's buffer pool counters (gsr_client_stats: pooled,
 * pool_hits, pool_misses) and this process's minor page faults so far
 * (getrusage: minor_faults) to out. Returns GSR_OK, or the library's
 * status after reporting it. */
int cli_print_client_stats(FILE *out, gsr_client *client);
void cli_print_ranges_stats(FILE *out, const gsr_ranges_stats *s);

#endif /* GSREAD_CLI_H */
