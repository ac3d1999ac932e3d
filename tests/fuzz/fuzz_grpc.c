/* libFuzzer target: the gRPC receive path of zonal reads. The input is a
 * response body as the stream's reassembly buffer sees it: cut into
 * messages by gsr__grpc_deframe, each unpacked as a BidiReadObjectResponse
 * (its Object through gsr__zonal_object_stat) and as a google.rpc.Status
 * (gsr__zonal_parse_details); the whole input is also decoded as a -bin
 * trailer value and as grpc-message and grpc-status values.
 *
 * Checks: a deframed message lies inside the input and within the limit;
 * decoded -bin output is no longer than 3/4 of its input; messages stay
 * NUL-terminated in their buffer; a parsed code is in 0..999.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/zonal.h"
#include "transport/grpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)       \
  do {                 \
    if (!(c)) abort(); \
  } while (0)

#define MAX_MSG (1u << 20)

static void one_message(const uint8_t *m, size_t n) {
  Google__Storage__V2__BidiReadObjectResponse *r =
      google__storage__v2__bidi_read_object_response__unpack(NULL, n, m);
  if (r != NULL) {
    gsr_stat st;
    if (r->metadata != NULL && gsr__zonal_object_stat(r->metadata, &st) == 0)
      CHECK(st.generation > 0 && memchr(st.updated, 0, sizeof(st.updated)));
    for (size_t i = 0; i < r->n_object_data_ranges; i++)
      CHECK(r->object_data_ranges[i] != NULL);
    google__storage__v2__bidi_read_object_response__free_unpacked(r, NULL);
  }
  struct gsr__zonal_details d;
  if (gsr__zonal_parse_details(m, n, &d) == 0) {
    CHECK(d.handle == NULL || d.handle_len > 0);
    gsr__zonal_details_cleanup(&d);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t off = 0, len;
  long took;
  while ((took = gsr__grpc_deframe(data + off, size - off, MAX_MSG, &len)) >
         0) {
    CHECK((size_t)took == len + 5 && off + (size_t)took <= size);
    CHECK(len <= MAX_MSG);
    /* the message alone, in a buffer of its size (ASan sees overreads) */
    uint8_t *m = malloc(len ? len : 1);
    if (m == NULL) return 0;
    memcpy(m, data + off + 5, len);
    one_message(m, len);
    free(m);
    off += (size_t)took;
  }
  char *text = malloc(size ? size : 1);
  if (text == NULL) return 0;
  memcpy(text, data, size);
  uint8_t *bin;
  size_t bin_len;
  if (gsr__grpc_decode_bin(text, size, &bin, &bin_len) == 0) {
    CHECK(bin_len <= size / 4 * 3 + 2);
    free(bin);
  }
  char msg[64];
  gsr__grpc_decode_message(text, size, msg, sizeof(msg));
  CHECK(memchr(msg, 0, sizeof(msg)) != NULL);
  int code = gsr__grpc_parse_code(text, size);
  CHECK(code >= -1 && code <= 999);
  free(text);
  return 0;
}
