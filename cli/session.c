/* Opening and closing what every command needs: one client, one file.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

/* GSR_EINVAL from gsr_client_new or gsr_open means a bad URL or option
 * value, which only the command line supplies: the library checks what the
 * tool cannot know (cache types, URL syntax, connection limits), but it is
 * still a usage error (exit 2), not a failed operation. */
static int open_failure(const struct cli_args *args, int rc) {
  return rc == GSR_EINVAL ? cli_usage_hint(args->cmd) : CLI_EXIT_FAIL;
}

/* Creates the client alone; prints the reason on failure. */
int cli_client_new(const struct cli_args *args, gsr_client **client) {
  gsr_client_options copts = args->client;
  int rc;

  rc = gsr_client_new(&copts, client);
  if (rc != GSR_OK) {
    *client = NULL;
    cli_fail_gsr(rc, "cannot start the client");
    return open_failure(args, rc);
  }
  return CLI_EXIT_OK;
}

/* --debug: the library's trace lines, one per decision, on stderr. */
static void print_trace(void *arg, const char *line) {
  (void)arg;
  fputs("gsread: debug: ", stderr);
  cli_put_escaped(stderr, line); /* URLs and names in it */
  fputc('\n', stderr);
}

void cli_apply_debug(const struct cli_args *args, gsr_client_options *o) {
  if (args->debug) o->trace = print_trace;
}

/* The file gsread cat keeps the connections it measured per server in, between
 * runs: $GSREAD_PLANS_FILE ("" for none), else
 * $XDG_CACHE_HOME/gsread/plans or ~/.cache/gsread/plans (the library
 * makes the directory when it first writes). NULL for none. */
static const char *plans_file(char *buf, size_t n) {
  const char *env = getenv("GSREAD_PLANS_FILE");
  const char *xdg = getenv("XDG_CACHE_HOME");
  const char *home = getenv("HOME");
  int len;

  if (env != NULL) return env[0] != '\0' ? env : NULL;
  if (xdg != NULL && xdg[0] == '/')
    len = snprintf(buf, n, "%s/gsread/plans", xdg);
  else if (home != NULL && home[0] == '/')
    len = snprintf(buf, n, "%s/.cache/gsread/plans", home);
  else
    return NULL; /* nowhere to keep them: measured every run */
  return len > 0 && (size_t)len < n ? buf : NULL;
}

/* Creates the client and opens args->url. On failure prints the reason,
 * frees what was made and returns an exit status; *client is then NULL. */
int cli_open(const struct cli_args *args, int plans, gsr_client **client,
             gsr_file *file) {
  gsr_client_options copts = args->client;
  char path[4096];
  int rc;

  /* Credentials ($GSREAD_ACCESS_TOKEN included) are the library's: it
   * walks the chain, so --anonymous and `gsread auth` agree with it. */
  cli_apply_debug(args, &copts);
  if (plans && copts.plans_file == NULL)
    copts.plans_file = plans_file(path, sizeof(path));

  *client = NULL;
  *file = GSR_FILE_INVALID;
  rc = gsr_client_new(&copts, client);
  if (rc != GSR_OK) {
    cli_fail_gsr(rc, "cannot start the client");
    return open_failure(args, rc);
  }
  rc = gsr_open(*client, args->url, &args->file, file);
  if (rc != GSR_OK) {
    /* Report before gsr_client_free: it may replace gsr_errmsg(). */
    cli_fail_gsr(rc, "cannot open %s", args->url);
    gsr_client_free(*client);
    *client = NULL;
    *file = GSR_FILE_INVALID;
    return open_failure(args, rc);
  }
  return CLI_EXIT_OK;
}

void cli_close(gsr_client *client, gsr_file file) {
  if (file != GSR_FILE_INVALID) gsr_close(file);
  gsr_client_free(client);
}
