/* `gsread auth [URL]`: which credentials gsread would use, and how long the
 * current token has left. Never the token itself: the library's
 * gsr_auth_info has no field that could hold it.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "cli_help.h"

static void print_human(const gsr_auth_info *ai) {
  printf("source:     %s\n", ai->source);
  printf("kind:       %s\n", ai->kind);
  if (ai->detail[0]) { /* a path or a host name: escaped, as names are */
    printf("%-11s ", ai->kind[0] == 'm' ? "host:" : "file:");
    cli_put_escaped(stdout, ai->detail);
    putchar('\n');
  }
  if (ai->account[0]) {
    fputs("account:    ", stdout);
    cli_put_escaped(stdout, ai->account);
    putchar('\n');
  }
  if (ai->has_expiry) {
    char when[32];
    time_t t = (time_t)ai->expires_at;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("expires in: %lld s (%s)\n", (long long)ai->remaining, when);
  } else {
    printf("expires in: %s\n", ai->kind[0] == 'a' && ai->kind[1] == 'c'
                                   ? "unknown (fixed token)"
                                   : "-");
  }
}

static void print_json(const gsr_auth_info *ai, const char *url, int ok) {
  fputs("{\"source\":", stdout);
  cli_json_string(stdout, ai->source);
  fputs(",\"kind\":", stdout);
  cli_json_string(stdout, ai->kind);
  fputs(",\"detail\":", stdout);
  cli_json_string(stdout, ai->detail);
  fputs(",\"account\":", stdout);
  cli_json_string(stdout, ai->account);
  if (ai->has_expiry)
    printf(",\"expires_at\":%lld,\"remaining_s\":%lld",
           (long long)ai->expires_at, (long long)ai->remaining);
  else
    fputs(",\"expires_at\":null,\"remaining_s\":null", stdout);
  if (url) {
    fputs(",\"url\":", stdout);
    cli_json_string(stdout, url);
    printf(",\"access\":%s", ok ? "true" : "false");
  }
  fputs("}\n", stdout);
}

static int auth_run(const struct cli_args *a) {
  gsr_client *client;
  gsr_client_options copts = a->client;
  gsr_auth_info ai;
  int rc, ok = 0;

  cli_apply_debug(a, &copts);
  rc = gsr_client_new(&copts, &client);
  if (rc != GSR_OK) {
    cli_fail_gsr(rc, "cannot start the client");
    return rc == GSR_EINVAL ? cli_usage_hint(a->cmd) : CLI_EXIT_FAIL;
  }
  rc = gsr_client_auth_info(client, &ai);
  if (rc != GSR_OK) {
    cli_fail_gsr(rc, "cannot get credentials");
    gsr_client_free(client);
    return CLI_EXIT_FAIL;
  }
  if (a->url) { /* prove the credentials on a real object */
    gsr_file f;
    rc = gsr_open(client, a->url, &a->file, &f);
    ok = rc == GSR_OK;
    if (ok)
      gsr_close(f);
    else
      cli_fail_gsr(rc, "cannot open %s", a->url);
  }
  if (a->json)
    print_json(&ai, a->url, ok);
  else {
    print_human(&ai);
    if (a->url && ok) {
      fputs("access:     ok (", stdout);
      cli_put_escaped(stdout, a->url);
      fputs(")\n", stdout);
    }
  }
  gsr_client_free(client);
  return a->url && !ok ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

static const enum cli_opt_id auth_opts[] = {
    CLI_OPT_JSON,      CLI_OPT_ENDPOINT,     CLI_OPT_CA_BUNDLE,
    CLI_OPT_ANONYMOUS, CLI_OPT_USER_PROJECT, CLI_OPT_DEBUG,
    CLI_OPT_HELP,
};

const struct cli_command cli_cmd_auth = {
    .name = "auth",
    CLI_HELP_auth,
    CLI_OPTS(auth_opts),
    .url_optional = 1,
    .run = auth_run,
};
