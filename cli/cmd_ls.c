/* gsread ls: the objects and "directories" under gs://BUCKET[/PREFIX]
 * (gsr_list: the JSON API's objects.list, page after page).
 *
 * SPDX-License-Identifier: MIT
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_help.h"

struct ls_run {
  const struct cli_args *a;
  const char *bucket_url; /* "gs://BUCKET" part of the URL */
  size_t bucket_len;
  uint64_t objects, bytes;
};

/* Escaped (cli_put_escaped): one object is one line, whatever its name. */
static void print_url(struct ls_run *r, const char *name) {
  char bucket[256]; /* GCS bucket names are at most 222 bytes */

  snprintf(bucket, sizeof bucket, "%.*s", (int)r->bucket_len, r->bucket_url);
  cli_put_escaped(stdout, bucket);
  fputc('/', stdout);
  cli_put_escaped(stdout, name);
}

static void print_json(struct ls_run *r, const gsr_list_entry *e) {
  char url[2200];

  snprintf(url, sizeof url, "%.*s/%s", (int)r->bucket_len, r->bucket_url,
           e->name);
  fputs("{\"url\":", stdout);
  cli_json_string(stdout, url);
  fputs(",\"name\":", stdout);
  cli_json_string(stdout, e->name);
  if (e->is_prefix) {
    fputs(",\"type\":\"prefix\"}\n", stdout);
    return;
  }
  printf(",\"type\":\"object\",\"size\":%" PRIu64 ",\"generation\":%" PRId64
         ",\"updated\":",
         e->size, e->generation);
  cli_json_string(stdout, e->updated);
  if (e->has_crc32c) printf(",\"crc32c\":\"%08x\"", (unsigned)e->crc32c);
  fputs("}\n", stdout);
}

static int on_entry(void *arg, const gsr_list_entry *e) {
  struct ls_run *r = arg;

  if (!e->is_prefix) {
    r->objects++;
    r->bytes += e->size;
  }
  if (r->a->json) {
    print_json(r, e);
  } else if (r->a->long_format) {
    /* gsutil ls -l's columns: size, time, URL (and the generation). */
    if (e->is_prefix) {
      printf("%12s  %-24s  %-19s  ", "", "", "");
    } else {
      size_t ulen = strlen(e->updated);

      printf("%12" PRIu64 "  ", e->size);
      cli_put_escaped(stdout, e->updated); /* the server's text too */
      printf("%*s  %19" PRId64 "  ", ulen < 24 ? (int)(24 - ulen) : 0, "",
             e->generation);
    }
    print_url(r, e->name);
    fputc('\n', stdout);
  } else {
    print_url(r, e->name);
    fputc('\n', stdout);
  }
  /* A closed pipe (ls | head) ends the listing instead of fetching on. */
  return ferror(stdout) ? 1 : 0;
}

static int ls_run(const struct cli_args *a) {
  struct ls_run r = {.a = a, .bucket_url = a->url};
  gsr_client *client;
  const char *slash;
  int rc, status;

  if (strncmp(a->url, "gs://", 5) != 0)
    return cli_usage_error(a->cmd, "ls needs a gs://BUCKET[/PREFIX] URL");
  slash = strchr(a->url + 5, '/');
  r.bucket_len = slash ? (size_t)(slash - a->url) : strlen(a->url);
  if ((status = cli_client_new(a, &client)) != CLI_EXIT_OK) return status;
  rc = gsr_list(client, a->url, a->recursive, on_entry, &r);
  if (rc == GSR_ECANCELED && ferror(stdout)) {
    status = CLI_EXIT_FAIL; /* main() reports the write error */
  } else if (rc != GSR_OK) {
    cli_fail_gsr(rc, "cannot list %s", a->url);
    status = rc == GSR_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
  } else if (a->long_format && !a->json) {
    printf("TOTAL: %" PRIu64 " objects, %" PRIu64 " bytes\n", r.objects,
           r.bytes);
  }
  gsr_client_free(client);
  return status;
}

static const enum cli_opt_id ls_opts[] = {
    CLI_OPT_LONG,
    CLI_OPT_RECURSIVE,
    CLI_OPT_JSON,
    CLI_OPT_ENDPOINT,
    CLI_OPT_CA_BUNDLE,
    CLI_OPT_STALL_TIMEOUT,
    CLI_OPT_REQUEST_TIMEOUT,
    CLI_OPT_ANONYMOUS,
    CLI_OPT_USER_PROJECT,
    CLI_OPT_HELP,
};

const struct cli_command cli_cmd_ls = {
    .name = "ls",
    CLI_HELP_ls,
    CLI_OPTS(ls_opts),
    .run = ls_run,
};
