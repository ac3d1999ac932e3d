/* libFuzzer target: URL parsing and percent-encoding.
 *
 * Checks, beyond "no crash, no leak, no UB":
 *  - a URL that parses owns exactly the fields of its scheme, and they say
 *    what the text said (gs: a valid bucket and a 1..1024-byte object
 *    name that rebuild the text; http(s): the text itself); one that does
 *    not parse owns nothing;
 *  - percent_encode of ANY bytes (NULs too) emits only unreserved bytes
 *    and %XX escapes, and percent_decode gives the bytes back;
 *  - percent_decode of any text stays in its string and never grows it.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)       \
  do {                 \
    if (!(c)) abort(); \
  } while (0)

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

static int upper_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static void check_parse(const char *text) {
  struct gsr__url u;
  int s = gsr__url_parse(text, &u);
  if (s != GSR_OK) {
    CHECK(s == GSR_EINVAL);
    CHECK(!u.bucket && !u.object && !u.href && !u.path);
    return;
  }
  switch (u.scheme) {
  case GSR__SCHEME_GS: {
    CHECK(u.bucket && u.object && !u.href && !u.path);
    CHECK(gsr__bucket_name_valid(u.bucket));
    size_t blen = strlen(u.bucket), olen = strlen(u.object);
    CHECK(olen >= 1 && olen <= 1024);
    /* "gs://" + bucket + "/" + object is the text again. */
    CHECK(strncasecmp(text, "gs://", 5) == 0);
    CHECK(strncmp(text + 5, u.bucket, blen) == 0);
    CHECK(text[5 + blen] == '/');
    CHECK(strcmp(text + 6 + blen, u.object) == 0);
    /* What the GCS backend will send decodes back to the name. */
    char *enc = gsr__percent_encode(u.object, olen);
    CHECK(enc != NULL);
    CHECK(gsr__percent_decode(enc) == 0 && strcmp(enc, u.object) == 0);
    gsr__free(enc);
    break;
  }
  case GSR__SCHEME_HTTP:
    CHECK(u.href && !u.bucket && !u.object && !u.path);
    CHECK(strcmp(u.href, text) == 0);
    CHECK(strpbrk(u.href, " \r\n\t") == NULL);
    break;
  case GSR__SCHEME_FILE:
    CHECK(u.path && !u.bucket && !u.object && !u.href);
    CHECK(u.path[0] != '\0');
    break;
  default:
    abort();
  }
  gsr__url_cleanup(&u);
  CHECK(!u.bucket && !u.object && !u.href && !u.path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (text == NULL) return 0;
  memcpy(text, data, size);
  text[size] = '\0'; /* a C string: up to the first NUL, if any */

  check_parse(text);

  /* Round trip of the raw bytes, NULs included. */
  char *enc = gsr__percent_encode((const char *)data, size);
  CHECK(enc != NULL);
  size_t elen = strlen(enc);
  for (size_t i = 0; i < elen; i++) {
    if (enc[i] == '%') {
      CHECK(i + 2 < elen); /* a whole escape */
      CHECK(upper_hex(enc[i + 1]) && upper_hex(enc[i + 2]));
      i += 2;
    } else {
      CHECK(unreserved((unsigned char)enc[i]));
    }
  }
  CHECK(gsr__percent_decode(enc) == 0);
  CHECK(memcmp(enc, data, size) == 0 && enc[size] == '\0');
  gsr__free(enc);

  /* Decoding arbitrary text: in bounds (ASan), never longer. */
  size_t tlen = strlen(text);
  if (gsr__percent_decode(text) == 0) CHECK(strlen(text) <= tlen);
  free(text);
  return 0;
}
