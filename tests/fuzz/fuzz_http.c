/* libFuzzer target: response header parsing. The input is split into
 * lines at '\n' and each line is handed to gsr__parse_header_line the way
 * curl's header callback does: pointer and length, no NUL, in a buffer of
 * exactly that size (ASan catches a read past it). The whole input is
 * also parsed as a Content-Range value.
 *
 * Checks: a parsed Content-Range is a real range (first <= last, last <
 * total unless total is '*') and prints back to the same numbers; the
 * response's strings stay NUL-terminated in their arrays; the status is
 * 0 (none) or 100..599.
 *
 * SPDX-License-Identifier: MIT
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)       \
  do {                 \
    if (!(c)) abort(); \
  } while (0)

#define TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)

static void check_range(uint64_t first, uint64_t last, uint64_t total) {
  CHECK(first <= last);
  CHECK(total == UINT64_MAX || last < total);
}

static void check_response(const struct gsr__response *r) {
  CHECK(r->status == 0 || (r->status >= 100 && r->status <= 599));
  if (r->has_content_range) check_range(r->cr_first, r->cr_last, r->cr_total);
  CHECK(r->content_length >= -1 && r->goog_generation >= -1);
  CHECK(TERMINATED(r->etag) && TERMINATED(r->goog_hash) &&
        TERMINATED(r->content_type) && TERMINATED(r->last_modified));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct gsr__response r;
  gsr__response_reset(&r);
  size_t at = 0;
  while (at < size) {
    const uint8_t *nl = memchr(data + at, '\n', size - at);
    size_t len = nl ? (size_t)(nl - (data + at)) + 1 : size - at;
    char *line = malloc(len ? len : 1);
    if (line == NULL) return 0;
    memcpy(line, data + at, len);
    int end = gsr__parse_header_line(&r, line, len);
    CHECK(end == 0 || end == 1);
    check_response(&r);
    free(line);
    at += len;
  }

  char *text = malloc(size + 1);
  if (text == NULL) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  uint64_t first, last, total;
  if (gsr__parse_content_range(text, &first, &last, &total) == 0) {
    check_range(first, last, total);
    char again[100];
    uint64_t f2, l2, t2;
    if (total == UINT64_MAX)
      snprintf(again, sizeof(again), "bytes %" PRIu64 "-%" PRIu64 "/*", first,
               last);
    else
      snprintf(again, sizeof(again), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
               first, last, total);
    CHECK(gsr__parse_content_range(again, &f2, &l2, &t2) == 0);
    CHECK(f2 == first && l2 == last && t2 == total);
  }
  free(text);
  return 0;
}
