/* libFuzzer target: the GCS object resource parser (the JSON read at
 * open). The input is passed with its length and no terminating NUL, as
 * a response body can arrive, so a read past the end is caught by ASan.
 *
 * Checks: GSR_OK only with a positive generation, and every string field
 * NUL-terminated inside its array; otherwise GSR_EPROTO (or GSR_ENOMEM)
 * with a reason.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int gsr__gcs_parse_metadata(const char *json, size_t len, gsr_stat *st,
                            char *why, size_t n);

#define CHECK(c)       \
  do {                 \
    if (!(c)) abort(); \
  } while (0)

#define TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gsr_stat st;
  char why[128];
  why[0] = '\0';
  /* The parser takes an int length (json-c); bodies are capped at 1 MiB. */
  if (size > 1024 * 1024) return 0;
  int s = gsr__gcs_parse_metadata((const char *)data, size, &st, why,
                                  sizeof(why));
  if (s == GSR_OK) {
    CHECK(st.generation > 0);
    CHECK(st.metageneration >= 0);
    CHECK(TERMINATED(st.etag) && TERMINATED(st.content_type) &&
          TERMINATED(st.updated));
    CHECK(st.has_crc32c == 0 || st.has_crc32c == 1);
    CHECK(st.has_md5 == 0 || st.has_md5 == 1);
  } else {
    CHECK(s == GSR_EPROTO || s == GSR_ENOMEM);
    CHECK(why[0] != '\0' && TERMINATED(why));
  }
  return 0;
}
