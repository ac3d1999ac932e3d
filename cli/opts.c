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

struct opt_def {
  const char *name; /* without the leading "--" */
  const char *arg;  /* placeholder of the value; NULL for a flag */
  const char *help;
};

static const struct opt_def opt_defs[CLI_OPT__COUNT] = {
    [CLI_OPT_OFFSET] = {"offset", "SIZE", "first byte to write"},
    [CLI_OPT_LENGTH] = {"length", "SIZE", "number of bytes to write"},
    [CLI_OPT_IO_SIZE] = {"io-size", "SIZE",
                         "bytes asked for per read call (buffer size)"},
    [CLI_OPT_CACHE] = {"cache", "TYPE", "the library's cache strategy"},
    [CLI_OPT_BLOCK_SIZE] = {"block-size", "SIZE", "block size of the cache"},
    [CLI_OPT_ENDPOINT] = {"endpoint", "URL",
                          "GCS JSON API endpoint for gs:// URLs"},
    [CLI_OPT_CA_BUNDLE] = {"ca-bundle", "FILE",
                           "PEM file of CA certificates for TLS"},
    [CLI_OPT_MAX_CONNECTIONS] = {"max-connections", "N",
                                 "size of the connection pool"},
    [CLI_OPT_STALL_TIMEOUT] = {"stall-timeout", "MS",
                               "abort a transfer idle this many ms"},
    [CLI_OPT_JSON] = {"json", NULL, "print one JSON object on one line"},
    [CLI_OPT_HELP] = {"help", NULL, "show this help and exit"},
};

/* ---- Values --------------------------------------------------------------*/

/* Prints a byte count the way a user would type it ("5MiB"), so a default
 * shown in the help can be pasted back as an option value. */
static void format_size(uint64_t v, char *buf, size_t n)
{
  static const char *const units[] = {"", "KiB", "MiB", "GiB", "TiB"};
  size_t u = 0;

  while (u + 1 < sizeof units / sizeof units[0] && v >= 1024 &&
         v % 1024 == 0) {
    v /= 1024;
    u++;
  }
  snprintf(buf, n, "%" PRIu64 "%s", v, units[u]);
}

/* The default of an option as shown in the help. Library settings come
 * from the library's own *_options_init, so they cannot drift. */
static const char *opt_default(enum cli_opt_id id, char *buf, size_t n)
{
  gsr_client_options c;
  gsr_file_options f;

  gsr_client_options_init(&c);
  gsr_file_options_init(&f);
  switch (id) {
  case CLI_OPT_OFFSET:
    return "0";
  case CLI_OPT_LENGTH:
    return "to the end of the object";
  case CLI_OPT_IO_SIZE:
    format_size(CLI_DEFAULT_IO_SIZE, buf, n);
    return buf;
  case CLI_OPT_CACHE:
    return f.cache_type ? f.cache_type : "none, every read fetches its bytes";
  case CLI_OPT_BLOCK_SIZE:
    format_size(f.block_size, buf, n);
    return buf;
  case CLI_OPT_ENDPOINT:
    if (c.endpoint)
      return c.endpoint;
    return "$STORAGE_EMULATOR_HOST if set,\n"
           "else https://storage.googleapis.com";
  case CLI_OPT_CA_BUNDLE:
    return c.ca_bundle ? c.ca_bundle : "the system's bundle";
  case CLI_OPT_MAX_CONNECTIONS:
    snprintf(buf, n, "%d", c.max_connections);
    return buf;
  case CLI_OPT_STALL_TIMEOUT:
    snprintf(buf, n, "%ld", c.stall_timeout_ms);
    return buf;
  case CLI_OPT_JSON:
    return "aligned key: value lines";
  case CLI_OPT_HELP:
  case CLI_OPT__COUNT:
    break;
  }
  return NULL;
}

/* gsr_parse_size with the tool's limits on top: a size must also fit the
 * type it ends up in (max), and zero may be meaningless (min 1). */
static int parse_size(const char *cmd, const char *opt, const char *text,
                      uint64_t min, uint64_t max, uint64_t *out)
{
  uint64_t v;

  if (gsr_parse_size(text, &v) != GSR_OK)
    return cli_usage_error(cmd,
                           "invalid size '%s' for --%s "
                           "(e.g. 4096, 64K, 64KiB, 1M, 5MB)",
                           text, opt);
  if (v < min)
    return cli_usage_error(cmd, "--%s must be at least %" PRIu64, opt, min);
  if (v > max)
    return cli_usage_error(cmd, "--%s is too large: %s", opt, text);
  *out = v;
  return CLI_CONTINUE;
}

/* A plain decimal integer in [min, max]; strtoll alone would accept
 * leading spaces, a sign and trailing junk. */
static int parse_int(const char *cmd, const char *opt, const char *text,
                     long long min, long long max, long long *out)
{
  char *end;
  long long v;

  if (text[0] < '0' || text[0] > '9')
    return cli_usage_error(cmd, "invalid number '%s' for --%s", text, opt);
  errno = 0;
  v = strtoll(text, &end, 10);
  if (*end != '\0')
    return cli_usage_error(cmd, "invalid number '%s' for --%s", text, opt);
  if (errno == ERANGE || v < min || v > max)
    return cli_usage_error(cmd, "--%s must be between %lld and %lld", opt,
                           min, max);
  *out = v;
  return CLI_CONTINUE;
}

/* Strings are passed to the library as is; an empty one is almost surely
 * a shell mistake (--endpoint "$UNSET_VAR"), so say so now. */
static int parse_string(const char *cmd, const char *opt, const char *text,
                        const char **out)
{
  if (*text == '\0')
    return cli_usage_error(cmd, "--%s needs a non-empty value", opt);
  *out = text;
  return CLI_CONTINUE;
}

/* Stores the value of one option into *a. */
static int apply_option(const char *cmd, enum cli_opt_id id, const char *v,
                        struct cli_args *a)
{
  const char *name = opt_defs[id].name;
  long long n;
  int rc;

  switch (id) {
  case CLI_OPT_OFFSET:
    /* gsr_seek takes an int64_t. */
    return parse_size(cmd, name, v, 0, INT64_MAX, &a->offset);
  case CLI_OPT_LENGTH:
    a->has_length = 1;
    return parse_size(cmd, name, v, 0, UINT64_MAX, &a->length);
  case CLI_OPT_IO_SIZE:
    /* gsr_read takes a size_t that must not exceed INT64_MAX. */
    return parse_size(cmd, name, v, 1,
                      SIZE_MAX < INT64_MAX ? SIZE_MAX : INT64_MAX,
                      &a->io_size);
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
    if (rc == CLI_CONTINUE)
      a->client.max_connections = (int)n;
    return rc;
  case CLI_OPT_STALL_TIMEOUT:
    rc = parse_int(cmd, name, v, 1, LONG_MAX, &n);
    if (rc == CLI_CONTINUE)
      a->client.stall_timeout_ms = (long)n;
    return rc;
  case CLI_OPT_JSON:
    a->json = 1;
    return CLI_CONTINUE;
  case CLI_OPT_HELP:
  case CLI_OPT__COUNT:
    break;
  }
  return CLI_CONTINUE;
}

/* ---- Parsing -------------------------------------------------------------*/

/* The option called name[0..len) in the global table, or -1. */
static int find_opt(const char *name, size_t len)
{
  for (int id = 0; id < CLI_OPT__COUNT; id++) {
    if (strlen(opt_defs[id].name) == len &&
        memcmp(opt_defs[id].name, name, len) == 0)
      return id;
  }
  return -1;
}

static int cmd_accepts(const struct cli_command *cmd, int id)
{
  for (size_t i = 0; i < cmd->nopts; i++) {
    if ((int)cmd->opts[i] == id)
      return 1;
  }
  return 0;
}

/* --help stops parsing: the help is all the user gets, with status 0. */
static int show_help(const struct cli_command *cmd)
{
  cli_print_command_help(cmd, stdout);
  return CLI_EXIT_OK;
}

/* Handles argv[*i], a "--name" or "--name=value" word; may consume the
 * next word as the value. */
static int parse_long_opt(const struct cli_command *cmd, int argc,
                          char **argv, int *i, struct cli_args *a)
{
  const char *word = argv[*i];
  const char *name = word + 2;
  const char *eq = strchr(name, '=');
  size_t len = eq ? (size_t)(eq - name) : strlen(name);
  int id = find_opt(name, len);
  const char *value;

  if (id < 0)
    return cli_usage_error(cmd->name, "unknown option '%.*s'",
                           (int)(len + 2), word);
  if (!cmd_accepts(cmd, id))
    return cli_usage_error(cmd->name, "'%s' does not take --%s", cmd->name,
                           opt_defs[id].name);
  if (id == CLI_OPT_HELP)
    return show_help(cmd);
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
  return apply_option(cmd->name, (enum cli_opt_id)id, value, a);
}

static int take_positional(const struct cli_command *cmd, const char *word,
                           struct cli_args *a)
{
  if (a->url)
    return cli_usage_error(cmd->name, "unexpected argument '%s'", word);
  a->url = word;
  return CLI_CONTINUE;
}

static void init_args(const struct cli_command *cmd, struct cli_args *a)
{
  memset(a, 0, sizeof *a);
  a->cmd = cmd->name;
  a->io_size = CLI_DEFAULT_IO_SIZE;
  gsr_client_options_init(&a->client);
  gsr_file_options_init(&a->file);
}

/* Parses the words after the command name. Returns CLI_CONTINUE with *a
 * filled in, or an exit status: CLI_EXIT_OK after printing the help,
 * CLI_EXIT_USAGE after printing the problem. */
int cli_parse_args(const struct cli_command *cmd, int argc, char **argv,
                   struct cli_args *a)
{
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
    else if (w[1] == '-')
      rc = parse_long_opt(cmd, argc, argv, &i, a);
    else
      rc = cli_usage_error(cmd->name, "unknown option '%s'", w);
  }
  if (rc == CLI_CONTINUE && !a->url)
    rc = cli_usage_error(cmd->name, "missing URL");
  return rc;
}

/* ---- Help ----------------------------------------------------------------*/

#define HELP_COLUMN 26 /* where explanations start */
#define HELP_WIDTH 79

/* "(default: ...)" on lines of its own under the explanation; a newline in
 * a long default continues it under the text after "(default: ". */
static void print_default_below(const char *def, FILE *out)
{
  fprintf(out, "\n%*s(default: ", HELP_COLUMN, "");
  for (; *def; def++) {
    if (*def == '\n')
      fprintf(out, "\n%*s", HELP_COLUMN + 10, "");
    else
      fputc(*def, out);
  }
  fputs(")\n", out);
}

static void print_opt_help(enum cli_opt_id id, FILE *out)
{
  const struct opt_def *d = &opt_defs[id];
  char left[64], buf[64];
  const char *def = opt_default(id, buf, sizeof buf);
  int col;

  if (id == CLI_OPT_HELP)
    snprintf(left, sizeof left, "-h, --%s", d->name);
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

void cli_print_command_help(const struct cli_command *cmd, FILE *out)
{
  fprintf(out, "Usage: gsread %s %s\n\n%s\n", cmd->name, cmd->synopsis,
          cmd->description);
  fputs("\nOptions:\n", out);
  for (size_t i = 0; i < cmd->nopts; i++)
    print_opt_help(cmd->opts[i], out);
  fputs("\nOptions may come before or after the URL; --opt=VALUE also "
        "works.\n",
        out);
  if (cmd_accepts(cmd, CLI_OPT_IO_SIZE) ||
      cmd_accepts(cmd, CLI_OPT_OFFSET)) {
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
