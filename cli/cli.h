/* gsread command-line tool: declarations shared by its source files.
 *
 * Layout: main.c dispatches to one file per command (cmd_*.c); opts.c
 * parses options for every command from one table; session.c opens the
 * client and the file; report.c prints errors; json.c writes JSON strings.
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
  CLI_OPT_JSON,
  CLI_OPT_HELP,
  CLI_OPT__COUNT
};

/* The parsed command line. Library settings are kept in the library's own
 * option structs, initialised with its defaults, so the tool never
 * duplicates a default the library owns. */
struct cli_args {
  const char *cmd; /* the command's name, for "Try 'gsread CMD --help'" */
  const char *url;
  uint64_t offset;
  uint64_t length;
  int has_length; /* 0: read to the end of the object */
  uint64_t io_size;
  int json;
  gsr_client_options client;
  gsr_file_options file;
};

struct cli_command {
  const char *name;
  const char *summary;     /* one line in `gsread --help` */
  const char *synopsis;    /* what follows "gsread NAME " in its usage */
  const char *description; /* printed by `gsread NAME --help` */
  const enum cli_opt_id *opts;
  size_t nopts;
  int (*run)(const struct cli_args *args); /* returns an exit status */
};

extern const struct cli_command cli_cmd_cat;
extern const struct cli_command cli_cmd_stat;

/* opts.c */
int cli_parse_args(const struct cli_command *cmd, int argc, char **argv,
                   struct cli_args *out);
void cli_print_command_help(const struct cli_command *cmd, FILE *out);

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
int cli_open(const struct cli_args *args, gsr_client **client,
             gsr_file *file);
void cli_close(gsr_client *client, gsr_file file);

/* json.c */
void cli_json_string(FILE *out, const char *s);

#endif /* GSREAD_CLI_H */
