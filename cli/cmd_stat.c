/* gsread stat: print an object's metadata, as aligned lines or as JSON.
 *
 * SPDX-License-Identifier: MIT
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_help.h"

/* GCS shows crc32c as the base64 of its 4 big-endian bytes (the
 * "crc32c" field of the JSON API, `gsutil hash`); printing that form lets
 * users compare with what the console shows. Writes 8 chars + NUL. */
static void crc32c_base64(uint32_t crc, char out[9]) {
  static const char b64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  /* 32 bits + 4 zero bits of padding = six 6-bit groups, then "==". */
  uint64_t bits = (uint64_t)crc << 4;

  for (int i = 0; i < 6; i++) out[i] = b64[(bits >> (6 * (5 - i))) & 0x3f];
  out[6] = '=';
  out[7] = '=';
  out[8] = '\0';
}

static void md5_hex(const unsigned char md5[16], char out[33]) {
  for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", md5[i]);
}

/* One "key:   value" line; keys padded so the values line up. */
static void human_line(const char *key, const char *value) {
  printf("%s:%*s", key, (int)(17 - strlen(key)), "");
  cli_put_escaped(stdout, *value ? value : "-");
  putchar('\n');
}

static void print_human(const char *url, const gsr_stat *st) {
  char num[32], text[64], hex[33], b64[9];

  human_line("url", url);
  snprintf(num, sizeof num, "%" PRIu64, st->size);
  human_line("size", num);
  /* 0: the backend has none (http(s), local files); --json keeps the 0. */
  num[0] = '\0';
  if (st->generation != 0)
    snprintf(num, sizeof num, "%" PRId64, st->generation);
  human_line("generation", num);
  num[0] = '\0';
  if (st->metageneration != 0)
    snprintf(num, sizeof num, "%" PRId64, st->metageneration);
  human_line("metageneration", num);
  human_line("etag", st->etag);
  text[0] = '\0';
  if (st->has_crc32c) {
    crc32c_base64(st->crc32c, b64);
    snprintf(text, sizeof text, "%s (hex %08" PRIx32 ")", b64, st->crc32c);
  }
  human_line("crc32c", text);
  hex[0] = '\0';
  if (st->has_md5) md5_hex(st->md5, hex);
  human_line("md5", hex);
  human_line("content_type", st->content_type);
  human_line("content_encoding", st->content_encoding);
  human_line("updated", st->updated);
}

static void print_json(const char *url, const gsr_stat *st) {
  char hex[33];

  fputs("{\"url\":", stdout);
  cli_json_string(stdout, url);
  printf(",\"size\":%" PRIu64 ",\"generation\":%" PRId64
         ",\"metageneration\":%" PRId64 ",\"etag\":",
         st->size, st->generation, st->metageneration);
  cli_json_string(stdout, st->etag);
  fputs(",\"crc32c\":", stdout);
  if (st->has_crc32c)
    printf("\"%08" PRIx32 "\"", st->crc32c);
  else
    fputs("null", stdout);
  fputs(",\"md5\":", stdout);
  if (st->has_md5) {
    md5_hex(st->md5, hex);
    printf("\"%s\"", hex);
  } else {
    fputs("null", stdout);
  }
  fputs(",\"content_type\":", stdout);
  cli_json_string(stdout, st->content_type);
  fputs(",\"content_encoding\":", stdout);
  cli_json_string(stdout, st->content_encoding);
  fputs(",\"updated\":", stdout);
  cli_json_string(stdout, st->updated);
  fputs("}\n", stdout);
}

static int stat_run(const struct cli_args *a) {
  gsr_client *client;
  gsr_file file;
  gsr_stat st;
  int rc = cli_open(a, 0, &client, &file);

  if (rc != CLI_EXIT_OK) return rc;
  rc = gsr_fstat(file, &st);
  if (rc != GSR_OK) {
    cli_fail_gsr(rc, "cannot stat %s", a->url);
    rc = CLI_EXIT_FAIL;
  } else {
    if (a->json)
      print_json(a->url, &st);
    else
      print_human(a->url, &st);
    rc = CLI_EXIT_OK;
  }
  cli_close(client, file);
  return rc;
}

static const enum cli_opt_id stat_opts[] = {
    CLI_OPT_JSON,
    CLI_OPTS_SERVER,
    CLI_OPT_HELP,
};

const struct cli_command cli_cmd_stat = {
    .name = "stat",
    CLI_HELP_stat,
    CLI_OPTS(stat_opts),
    .run = stat_run,
};
