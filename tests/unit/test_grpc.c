/* Unit tests of gRPC's wire details (src/transport/grpc_frame.c) and the
 * zonal decisions (src/backend/zonal_msg.c): message framing, grpc-status
 * and grpc-message, -bin values, the HTTP and RST_STREAM maps, endpoints,
 * status details (redirect, range error), which stream ends resume, and a
 * first response's Object as a gsr_stat.
 *
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/zonal.h"
#include "transport/grpc.h"

/* backend/gcs.c: the JSON API's zonal detection. */
int gsr__gcs_metadata_zonal(const char *json, size_t len);

static void test_deframe(void **state) {
  (void)state;
  uint8_t buf[16] = {0};
  size_t len = 99;
  gsr__grpc_frame_prefix(buf, 3);
  memcpy(buf + 5, "abc", 3);
  for (size_t n = 0; n < 8; n++) /* incomplete until all 8 bytes are in */
    assert_int_equal(gsr__grpc_deframe(buf, n, 100, &len), 0);
  assert_int_equal(gsr__grpc_deframe(buf, 8, 100, &len), 8);
  assert_int_equal(len, 3);
  assert_int_equal(gsr__grpc_deframe(buf, 16, 100, &len), 8);
  /* too long for max, compressed */
  assert_int_equal(gsr__grpc_deframe(buf, 8, 2, &len), -1);
  buf[0] = 1;
  assert_int_equal(gsr__grpc_deframe(buf, 8, 100, &len), -1);
  /* an empty message */
  gsr__grpc_frame_prefix(buf, 0);
  assert_int_equal(gsr__grpc_deframe(buf, 5, 100, &len), 5);
  assert_int_equal(len, 0);
  /* big-endian length */
  gsr__grpc_frame_prefix(buf, 0x01020304);
  assert_memory_equal(buf, "\x00\x01\x02\x03\x04", 5);
}

static void test_codes(void **state) {
  (void)state;
  assert_int_equal(gsr__grpc_parse_code("0", 1), 0);
  assert_int_equal(gsr__grpc_parse_code("14", 2), 14);
  assert_int_equal(gsr__grpc_parse_code("", 0), -1);
  assert_int_equal(gsr__grpc_parse_code("-1", 2), -1);
  assert_int_equal(gsr__grpc_parse_code("1x", 2), -1);
  assert_int_equal(gsr__grpc_parse_code("1234", 4), -1);
  assert_int_equal(gsr__grpc_code_from_http(403), GSR__GRPC_PERMISSION_DENIED);
  assert_int_equal(gsr__grpc_code_from_http(404), GSR__GRPC_UNIMPLEMENTED);
  assert_int_equal(gsr__grpc_code_from_http(503), GSR__GRPC_UNAVAILABLE);
  assert_int_equal(gsr__grpc_code_from_http(418), GSR__GRPC_UNKNOWN);
  assert_int_equal(gsr__grpc_code_from_rst(0x7), GSR__GRPC_UNAVAILABLE);
  assert_int_equal(gsr__grpc_code_from_rst(0x8), GSR__GRPC_CANCELLED);
  assert_int_equal(gsr__grpc_code_from_rst(0x2), GSR__GRPC_INTERNAL);
  assert_string_equal(gsr__grpc_code_name(10), "ABORTED");
  assert_string_equal(gsr__grpc_code_name(99), "UNKNOWN");
}

static void test_message_and_bin(void **state) {
  (void)state;
  char out[16];
  gsr__grpc_decode_message("a%20b%0Ac%zz%4", 14, out, sizeof(out));
  assert_string_equal(out, "a b?c%zz%4");
  gsr__grpc_decode_message("0123456789abcdefXYZ", 19, out, sizeof(out));
  assert_string_equal(out, "0123456789abcde"); /* cut to fit */
  uint8_t *b;
  size_t n;
  assert_int_equal(gsr__grpc_decode_bin("aGVsbG8=", 8, &b, &n), 0);
  assert_int_equal(n, 5);
  assert_memory_equal(b, "hello", 5);
  free(b);
  assert_int_equal(gsr__grpc_decode_bin("aGVsbG8,eA", 10, &b, &n), 0);
  assert_int_equal(n, 5); /* unpadded; the first of comma-joined values */
  free(b);
  assert_int_equal(gsr__grpc_decode_bin("a*==", 4, &b, &n), -1);
  assert_int_equal(gsr__grpc_decode_bin("abcde", 5, &b, &n), -1);
}

static void test_endpoint(void **state) {
  (void)state;
  char *h;
  int port, tls;
  assert_int_equal(
      gsr__grpc_parse_endpoint("http://127.0.0.1:8080", &h, &port, &tls),
      GSR_OK);
  assert_string_equal(h, "127.0.0.1");
  assert_int_equal(port, 8080);
  assert_false(tls);
  free(h);
  assert_int_equal(gsr__grpc_parse_endpoint("localhost:9/", &h, &port, &tls),
                   GSR_OK);
  assert_string_equal(h, "localhost");
  free(h);
  assert_int_equal(gsr__grpc_parse_endpoint("http://[::1]:7", &h, &port, &tls),
                   GSR_OK);
  assert_string_equal(h, "::1");
  assert_int_equal(port, 7);
  free(h);
  /* TLS: port 443 unless given */
  assert_int_equal(gsr__grpc_parse_endpoint("https://storage.googleapis.com",
                                            &h, &port, &tls),
                   GSR_OK);
  assert_string_equal(h, "storage.googleapis.com");
  assert_int_equal(port, 443);
  assert_true(tls);
  free(h);
  assert_int_equal(gsr__grpc_parse_endpoint("https://x:8443/", &h, &port, &tls),
                   GSR_OK);
  assert_int_equal(port, 8443);
  assert_true(tls);
  free(h);
  assert_int_equal(gsr__grpc_parse_endpoint("https://[::1]", &h, &port, &tls),
                   GSR_OK);
  assert_string_equal(h, "::1");
  assert_int_equal(port, 443);
  free(h);
  const char *bad[] = {"http://x", "http://:1",    "x:0",      "x:70000",
                       "x:1/p",    "http://a/b:1", "https://", "x:1x"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(gsr__grpc_parse_endpoint(bad[i], &h, &port, &tls),
                     GSR_EINVAL);
}

/* host and port's :authority is want. */
static void authority_is(const char *host, int port, const char *want) {
  char a[64];
  gsr__grpc_authority(host, port, a, sizeof(a));
  assert_string_equal(a, want);
}

static void test_authority(void **state) {
  (void)state;
  authority_is("127.0.0.1", 8080, "127.0.0.1:8080");
  authority_is("::1", 9, "[::1]:9");
  authority_is("localhost", 1, "localhost:1");
}

/* A google.rpc.Status with one Any of type name and value v. */
static size_t pack_status(uint8_t *out, const char *name,
                          const ProtobufCMessage *v) {
  uint8_t inner[256];
  char url[128];
  snprintf(url, sizeof(url), "type.googleapis.com/%s", name);
  Google__Storage__V2__Any any = GOOGLE__STORAGE__V2__ANY__INIT;
  any.type_url = url;
  any.has_value = 1;
  any.value.data = inner;
  any.value.len = protobuf_c_message_pack(v, inner);
  Google__Storage__V2__Any *anys[] = {&any};
  Google__Storage__V2__Status s = GOOGLE__STORAGE__V2__STATUS__INIT;
  s.has_code = 1;
  s.code = 10;
  s.n_details = 1;
  s.details = anys;
  return google__storage__v2__status__pack(&s, out);
}

static void test_details(void **state) {
  (void)state;
  uint8_t buf[512];
  struct gsr__zonal_details d;
  Google__Storage__V2__BidiReadHandle h =
      GOOGLE__STORAGE__V2__BIDI_READ_HANDLE__INIT;
  h.has_handle = 1;
  h.handle.data = (uint8_t *)"hh";
  h.handle.len = 2;
  Google__Storage__V2__BidiReadObjectRedirectedError r =
      GOOGLE__STORAGE__V2__BIDI_READ_OBJECT_REDIRECTED_ERROR__INIT;
  r.routing_token = "tok";
  r.read_handle = &h;
  size_t n = pack_status(buf, "google.storage.v2.BidiReadObjectRedirectedError",
                         &r.base);
  assert_int_equal(gsr__zonal_parse_details(buf, n, &d), 0);
  assert_true(d.redirect);
  assert_string_equal(d.routing_token, "tok");
  assert_int_equal(d.handle_len, 2);
  assert_memory_equal(d.handle, "hh", 2);
  gsr__zonal_details_cleanup(&d);
  /* another type's value is not a redirect */
  n = pack_status(buf, "google.storage.v2.Other", &r.base);
  assert_int_equal(gsr__zonal_parse_details(buf, n, &d), 0);
  assert_false(d.redirect);
  assert_null(d.routing_token);
  gsr__zonal_details_cleanup(&d);
  /* a range error's code */
  Google__Storage__V2__Status rs = GOOGLE__STORAGE__V2__STATUS__INIT;
  rs.has_code = 1;
  rs.code = 11;
  Google__Storage__V2__ReadRangeError re =
      GOOGLE__STORAGE__V2__READ_RANGE_ERROR__INIT;
  re.status = &rs;
  re.has_read_id = 1;
  re.read_id = 42;
  Google__Storage__V2__ReadRangeError re2 =
      GOOGLE__STORAGE__V2__READ_RANGE_ERROR__INIT; /* no id: skipped */
  Google__Storage__V2__ReadRangeError re3 =
      GOOGLE__STORAGE__V2__READ_RANGE_ERROR__INIT; /* no status: UNKNOWN */
  re3.has_read_id = 1;
  re3.read_id = 7;
  Google__Storage__V2__ReadRangeError *res[] = {&re, &re2, &re3};
  Google__Storage__V2__BidiReadObjectError be =
      GOOGLE__STORAGE__V2__BIDI_READ_OBJECT_ERROR__INIT;
  be.n_read_range_errors = 3;
  be.read_range_errors = res;
  n = pack_status(buf, "google.storage.v2.BidiReadObjectError", &be.base);
  assert_int_equal(gsr__zonal_parse_details(buf, n, &d), 0);
  assert_int_equal(d.range_code, 11);
  assert_int_equal(d.n_err, 2);
  assert_int_equal(d.err_ids[0], 42);
  assert_int_equal(d.err_codes[0], 11);
  assert_int_equal(d.err_ids[1], 7);
  assert_int_equal(d.err_codes[1], GSR__GRPC_UNKNOWN);
  gsr__zonal_details_cleanup(&d);
  /* none, and garbage */
  assert_int_equal(gsr__zonal_parse_details(NULL, 0, &d), 0);
  assert_int_equal(d.range_code, -1);
  assert_int_equal(gsr__zonal_parse_details((const uint8_t *)"\xff\xff", 2, &d),
                   -1);
}

static void test_judge(void **state) {
  (void)state;
  const int resume[] = {0, 1, 2, 4, 8, 13, 14};
  for (size_t i = 0; i < sizeof(resume) / sizeof(resume[0]); i++)
    assert_int_equal(gsr__zonal_judge(resume[i], 0, 1), GSR_OK);
  assert_int_equal(gsr__zonal_judge(GSR__GRPC_ABORTED, 1, 0), GSR_OK);
  assert_int_equal(gsr__zonal_judge(GSR__GRPC_ABORTED, 0, 0), GSR_ECHANGED);
  assert_int_equal(gsr__zonal_judge(GSR__GRPC_NOT_FOUND, 0, 0), GSR_ENOENT);
  assert_int_equal(gsr__zonal_judge(GSR__GRPC_NOT_FOUND, 0, 1), GSR_ECHANGED);
  assert_int_equal(gsr__zonal_judge(GSR__GRPC_PERMISSION_DENIED, 0, 1),
                   GSR_EACCES);
  assert_int_equal(gsr__zonal_judge(GSR__GRPC_UNAUTHENTICATED, 0, 1),
                   GSR_EAUTH);
  assert_int_equal(gsr__zonal_judge(GSR__GRPC_FAILED_PRECONDITION, 0, 1),
                   GSR_ECHANGED);
  assert_int_equal(gsr__zonal_judge(GSR__GRPC_INVALID_ARGUMENT, 0, 1),
                   GSR_EPROTO);
}

static void test_streams(void **state) {
  (void)state;
  const uint64_t mib = 1 << 20;
  assert_int_equal(gsr__zonal_streams(0, 4), 1);
  assert_int_equal(gsr__zonal_streams(100 * mib - 1, 4), 1);
  assert_int_equal(gsr__zonal_streams(100 * mib, 4), 2);
  assert_int_equal(gsr__zonal_streams(500 * mib, 4), 4);
  assert_int_equal(gsr__zonal_streams(500 * mib, 3), 3);
  assert_int_equal(gsr__zonal_streams(500 * mib, 64), GSR__ZONAL_MAX_STREAMS);
  assert_int_equal(gsr__zonal_streams(500 * mib, 0), 1);
}

static void test_json_zonal(void **state) {
  (void)state;
  const char *rapid = "{\"storageClass\":\"RAPID\",\"size\":\"1\"}";
  const char *std = "{\"storageClass\":\"STANDARD\"}";
  assert_true(gsr__gcs_metadata_zonal(rapid, strlen(rapid)));
  assert_false(gsr__gcs_metadata_zonal(std, strlen(std)));
  assert_false(gsr__gcs_metadata_zonal("{}", 2));
  assert_false(gsr__gcs_metadata_zonal("[\"RAPID\"]", 9));
  assert_false(gsr__gcs_metadata_zonal("", 0));
}

static void test_object_stat(void **state) {
  (void)state;
  gsr_stat st;
  Google__Storage__V2__Object o = GOOGLE__STORAGE__V2__OBJECT__INIT;
  assert_int_equal(gsr__zonal_object_stat(&o, &st), GSR_EPROTO);
  o.has_size = o.has_generation = 1;
  o.size = 42;
  o.generation = 0;
  assert_int_equal(gsr__zonal_object_stat(&o, &st), GSR_EPROTO);
  o.generation = 7;
  Google__Storage__V2__ObjectChecksums ck =
      GOOGLE__STORAGE__V2__OBJECT_CHECKSUMS__INIT;
  ck.has_crc32c = 1;
  ck.crc32c = 0xE3069283;
  o.checksums = &ck;
  Google__Storage__V2__Timestamp ts = GOOGLE__STORAGE__V2__TIMESTAMP__INIT;
  ts.has_seconds = 1;
  ts.seconds = 86400;
  o.update_time = &ts;
  o.content_type = "text/plain";
  assert_int_equal(gsr__zonal_object_stat(&o, &st), GSR_OK);
  assert_int_equal(st.size, 42);
  assert_int_equal(st.generation, 7);
  assert_true(st.has_crc32c);
  assert_int_equal(st.crc32c, 0xE3069283);
  assert_false(st.has_md5);
  assert_string_equal(st.updated, "1970-01-02T00:00:00Z");
  assert_string_equal(st.content_type, "text/plain");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deframe),
      cmocka_unit_test(test_codes),
      cmocka_unit_test(test_message_and_bin),
      cmocka_unit_test(test_endpoint),
      cmocka_unit_test(test_details),
      cmocka_unit_test(test_judge),
      cmocka_unit_test(test_streams),
      cmocka_unit_test(test_object_stat),
      cmocka_unit_test(test_json_zonal),
      cmocka_unit_test(test_authority),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
