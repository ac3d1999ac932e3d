/* libFuzzer target: the plans file reader (gsr__widths_load, widths.c), fed
 * any bytes as the file. It must never crash or overflow, load at most
 * the 8 slots, load nothing from a file without the header, and answer
 * lookups afterwards; a width put then saved and loaded again by a fresh
 * set comes back.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "read/prefetch/prefetch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)       \
  do {                 \
    if (!(c)) abort(); \
  } while (0)

static char dir[64];

static void remove_dir(void) {
  char path[128];
  snprintf(path, sizeof(path), "%s/in", dir);
  (void)unlink(path);
  snprintf(path, sizeof(path), "%s/out", dir);
  (void)unlink(path);
  (void)rmdir(dir);
}

static const char *path_of(const char *name) {
  static char path[128];
  if (dir[0] == '\0') {
    snprintf(dir, sizeof(dir), "/tmp/gsread-fuzz-plans-%ld", (long)getpid());
    (void)mkdir(dir, 0700);
    atexit(remove_dir);
  }
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char in[128], out[128];
  snprintf(in, sizeof(in), "%s", path_of("in"));
  snprintf(out, sizeof(out), "%s", path_of("out"));
  FILE *fp = fopen(in, "wb");
  CHECK(fp != NULL);
  CHECK(fwrite(data, 1, size, fp) == size);
  CHECK(fclose(fp) == 0);

  struct gsr__widths *ps = gsr__widths_new();
  CHECK(ps != NULL);
  int n = gsr__widths_load(ps, in);
  CHECK(n >= -1 && n <= 8);
  if (size < strlen("gsread-plans 2") ||
      memcmp(data, "gsread-plans 2", strlen("gsread-plans 2")) != 0)
    CHECK(n == -1);
  (void)gsr__widths_get(ps, "http://127.0.0.1:1/x");

  /* A width survives a save and a load. */
  gsr__widths_put(ps, "http://fuzz.example:9/o", 6);
  (void)unlink(out);
  CHECK(gsr__widths_save(ps, out) == 1);
  gsr__widths_free(ps);
  ps = gsr__widths_new();
  CHECK(ps != NULL);
  CHECK(gsr__widths_load(ps, out) >= 1);
  CHECK(gsr__widths_get(ps, "http://fuzz.example:9/p") == 6);
  gsr__widths_free(ps);
  return 0;
}
