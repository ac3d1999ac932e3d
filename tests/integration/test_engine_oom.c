/* Speculative work never fails a read, out of memory either: a promised
 * reader's first read schedules the block it needs and, at width 4, three
 * blocks ahead of it. With the k-th allocation of that read failing, for
 * every k: a failure among the allocations of the block the read needs is
 * the read's (GSR_ENOMEM, or a read that got by without it); one among
 * those of the blocks ahead (or later) is not: the read returns its bytes.
 * LSan (ASan build) checks that the dropped blocks leak nothing.
 *
 * The server waits 100 ms before each answer, so no request ends (and no
 * I/O thread allocates) while the read schedules its blocks.
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

#include "base/internal.h" /* gsr__alloc_fail_at (gsread_static) */
#include "fixture.h"
#include "gsread.h"

#define MiB (1024u * 1024u)
#define SIZE (8 * MiB)
#define READ (256 * 1024)

static unsigned char *data;

static struct ts_object objects[] = {{"obj", SIZE, NULL}};
const struct fx_spec fx_spec = {FX_OBJECTS(objects), .bucket = "oom-bucket",
                                .seed = 2222, .data = &data};

static int setup(void **state) {
  (void)state;
  if (fx_setup(&fx_spec) != 0) return -1;
  return ts_control(&fx.srv, "config?ttfb_ms=100") == 200 ? 0 : -1;
}

/* A fresh client and promised reader (the same allocations each time);
 * the first read with the k-th allocation failing (0: none); promise_end
 * (gsr_set_read_end) keeps every block but the read's out. Returns the
 * read's status (its bytes checked) and the allocations counted. */
static int64_t first_read(uint64_t k, int promise_end, uint64_t *counted) {
  gsr_client_options o;
  gsr_client *c;
  gsr_file_options fo;
  gsr_file f;
  unsigned char *buf = malloc(READ);
  fx_client_options(&o);
  assert_int_equal(gsr_client_new(&o, &c), GSR_OK);
  gsr_file_options_init(&fo);
  fo.prefetch = "sequential";
  fo.concurrency = 4;
  fo.max_prefetch = 8 * MiB;
  if (gsr_open(c, "gs://oom-bucket/obj", &fo, &f) != GSR_OK)
    fail_msg("open: %s", gsr_errmsg());
  if (promise_end) assert_int_equal(gsr_set_read_end(f, READ), GSR_OK);
  gsr__alloc_fail_at(k);
  int64_t n = gsr_read(f, buf, READ);
  *counted = gsr__alloc_fail_at(0);
  if (n == READ) assert_memory_equal(buf, data, READ);
  gsr_close(f);
  gsr_client_free(c);
  free(buf);
  return n;
}

static void test_allocation_ahead_fails_no_read(void **state) {
  (void)state;
  uint64_t demand, all, counted;
  assert_int_equal(first_read(0, 1, &demand), READ); /* its block only */
  assert_int_equal(first_read(0, 0, &all), READ);
  assert_true(demand > 0 && all > demand); /* blocks ahead were made */
  printf("  %llu allocations for the read's block, %llu in all\n",
         (unsigned long long)demand, (unsigned long long)all);
  for (uint64_t k = 1; k <= all; k++) {
    int64_t n = first_read(k, 0, &counted);
    if (k <= demand) {
      if (n != READ && n != GSR_ENOMEM)
        fail_msg("allocation %llu (the read's block): %lld: %s",
                 (unsigned long long)k, (long long)n, gsr_errmsg());
    } else if (n != READ) {
      fail_msg("allocation %llu (a block ahead) failed the read: %lld: %s",
               (unsigned long long)k, (long long)n, gsr_errmsg());
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_allocation_ahead_fails_no_read),
  };
  return cmocka_run_group_tests(tests, setup, fx_teardown);
}
