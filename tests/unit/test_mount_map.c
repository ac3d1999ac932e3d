/* Unit tests of gsread mount's decisions (cli/mount/map.c): statuses to
 * errno, listing entries to directory children (placeholders folded, a
 * directory winning over an object of its name), lookups by prefix, RFC
 * 3339 times, /proc/self/mounts lines and the cache table.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mount.h"

static void test_errno(void **state) {
  (void)state;
  assert_int_equal(mount_errno(GSR_OK), 0);
  assert_int_equal(mount_errno(GSR_ENOENT), ENOENT);
  assert_int_equal(mount_errno(GSR_EACCES), EACCES);
  assert_int_equal(mount_errno(GSR_EAUTH), EACCES);
  assert_int_equal(mount_errno(GSR_ECHANGED), ESTALE);
  assert_int_equal(mount_errno(GSR_ETIMEDOUT), EIO);
  assert_int_equal(mount_errno(GSR_ENETWORK), EIO);
  assert_int_equal(mount_errno(GSR_EHTTP), EIO);
  assert_int_equal(mount_errno(GSR_EINTEGRITY), EIO);
  assert_int_equal(mount_errno(GSR_ECLOSED), EIO);
  assert_false(mount_status_logged(GSR_ENOENT));
  assert_true(mount_status_logged(GSR_EACCES));
  assert_true(mount_status_logged(GSR_ECHANGED));
}

static void test_time(void **state) {
  (void)state;
  assert_true(mount_parse_time("1970-01-01T00:00:00Z") == 0);
  assert_true(mount_parse_time("2026-11-22T04:45:14.123Z") == 1795322714);
  assert_true(mount_parse_time("2026-11-22T05:45:14+01:00") == 1795322714);
  assert_true(mount_parse_time("2026-11-22T03:45:14.5-01:00") == 1795322714);
  assert_true(mount_parse_time("") == 0);
  assert_true(mount_parse_time(NULL) == 0);
  assert_true(mount_parse_time("2026-11-22 04:45:14Z") == 0);
  assert_true(mount_parse_time("2026-13-22T04:45:14Z") == 0);
  assert_true(mount_parse_time("2026-11-22T04:45:14") == 0);
}

static int child(const char *dir, const char *name, int is_prefix,
                 const char *want) {
  char out[300];
  int r = mount_child_name(dir, name, is_prefix, out, sizeof out);
  if (r && want) assert_string_equal(out, want);
  return r;
}

static void test_child_name(void **state) {
  (void)state;
  assert_true(child("", "a", 0, "a"));
  assert_true(child("", "d/", 1, "d"));
  assert_true(child("d/", "d/x y#%é", 0, "x y#%é"));
  assert_true(child("d/", "d/sub/", 1, "sub"));
  /* the directory's own placeholder object */
  assert_false(child("d/", "d/", 0, NULL));
  assert_false(child("d/", "d/", 1, NULL));
  assert_false(child("d/", "d//", 1, NULL)); /* "d//x": no name */
  assert_false(child("d/", "e/x", 0, NULL)); /* outside */
  assert_false(child("", ".", 0, NULL));
  assert_false(child("", "../", 1, NULL));
  assert_false(child("", "a/b", 0, NULL)); /* not one component */
  char longname[300];
  memset(longname, 'x', 256);
  longname[256] = '\0';
  assert_false(child("", longname, 0, NULL));
  longname[255] = '\0';
  assert_true(child("", longname, 0, longname));
}

static gsr_list_entry entry(const char *name, int is_prefix, uint64_t size) {
  gsr_list_entry e;
  memset(&e, 0, sizeof e);
  e.name = name;
  e.is_prefix = is_prefix;
  e.size = size;
  e.generation = 7;
  e.updated = "2026-11-22T04:45:14Z";
  return e;
}

static void test_dir(void **state) {
  (void)state;
  struct mount_dir d;
  memset(&d, 0, sizeof d);
  /* A listing of "p/", in GCS's name order: an object "p/a" and a
   * directory "p/a/", the placeholder "p/", objects, prefixes. */
  const char *names[] = {"p/", "p/a", "p/a-1", "p/a/", "p/b", "p/c/", "p/."};
  int prefix[] = {0, 0, 0, 1, 0, 1, 0};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    gsr_list_entry e = entry(names[i], prefix[i], 10 + i);
    assert_int_equal(mount_dir_add(&d, "p/", &e), 0);
  }
  mount_dir_finish(&d);
  assert_int_equal(d.n, 4);
  assert_string_equal(d.v[0].name, "a");
  assert_true(d.v[0].is_dir); /* the directory wins */
  assert_string_equal(d.v[1].name, "a-1");
  assert_false(d.v[1].is_dir);
  assert_true(d.v[1].size == 12);
  assert_true(d.v[1].mtime == 1795322714);
  assert_string_equal(d.v[2].name, "b");
  assert_string_equal(d.v[3].name, "c");
  assert_true(d.v[3].is_dir);
  assert_non_null(mount_dir_find(&d, "b"));
  assert_null(mount_dir_find(&d, "p"));
  assert_null(mount_dir_find(&d, ""));
  mount_dir_free(&d);
}

static void test_lookup(void **state) {
  (void)state;
  gsr_list_entry e;
  struct mount_lookup l = {.name = "d/x"};

  e = entry("d/x", 0, 5);
  assert_int_equal(mount_lookup_entry(&l, &e), 0);
  assert_true(l.found_file && l.file.size == 5);
  e = entry("d/x-y", 0, 1); /* sorts before "d/x/": go on */
  assert_int_equal(mount_lookup_entry(&l, &e), 0);
  e = entry("d/x.txt", 0, 1);
  assert_int_equal(mount_lookup_entry(&l, &e), 0);
  e = entry("d/x/", 1, 0);
  assert_int_equal(mount_lookup_entry(&l, &e), 1);
  assert_true(l.found_dir);

  struct mount_lookup m = {.name = "d/x"};
  e = entry("d/xa", 0, 1); /* past "d/x/": stop, nothing found */
  assert_int_equal(mount_lookup_entry(&m, &e), 1);
  assert_false(m.found_file || m.found_dir);

  struct mount_lookup p = {.name = "d/x"};
  e = entry("d/x/", 0, 0); /* an unfolded placeholder is a directory */
  assert_int_equal(mount_lookup_entry(&p, &e), 1);
  assert_true(p.found_dir);
  assert_false(p.found_file);
}

static void test_proc_line(void **state) {
  (void)state;
  char out[256];
  assert_true(mount_proc_line("gs://b /tmp/m\\040n fuse.gsread ro 0 0\n",
                              "fuse.gsread", out, sizeof out));
  assert_string_equal(out, "/tmp/m n");
  assert_false(mount_proc_line("/dev/sda1 / ext4 rw 0 0\n", "fuse.gsread", out,
                               sizeof out));
  assert_false(mount_proc_line("junk", "fuse.gsread", out, sizeof out));
  assert_false(mount_proc_line("gs://b /a/very/long fuse.gsread ro 0 0",
                               "fuse.gsread", out, 5));
}

static void test_info_dev(void **state) {
  (void)state;
  unsigned maj = 9, min = 9;
  const char *l =
      "45 27 0:40 / /tmp/m\\040n ro,nosuid - fuse.gsread gs://b ro\n";
  assert_true(mount_info_dev(l, "/tmp/m n", &maj, &min));
  assert_true(maj == 0 && min == 40);
  assert_false(mount_info_dev(l, "/tmp/m", &maj, &min));
  assert_false(mount_info_dev("junk\n", "/tmp/m n", &maj, &min));
}

static void test_table(void **state) {
  (void)state;
  struct mount_table t;
  memset(&t, 0, sizeof t);
  assert_null(mount_table_get(&t, "a"));
  struct mount_entry *e = mount_table_put(&t, "a", 3, 0);
  assert_non_null(e);
  e->at = 1;
  e = mount_table_put(&t, "b", 3, 0);
  e->at = 5;
  e = mount_table_put(&t, "c", 3, 0);
  e->at = 6;
  assert_int_equal(t.n, 3);
  /* Full: the ones fetched before 2 go first. */
  e = mount_table_put(&t, "d", 3, 2);
  e->at = 7;
  assert_int_equal(t.n, 3);
  assert_null(mount_table_get(&t, "a"));
  assert_non_null(mount_table_get(&t, "b"));
  /* Replacing keeps one entry per key. */
  e = mount_table_put(&t, "b", 3, 0);
  e->at = 8;
  assert_int_equal(t.n, 3);
  /* Full and nothing stale: everything goes. */
  e = mount_table_put(&t, "e", 3, 0);
  assert_int_equal(t.n, 1);
  assert_non_null(mount_table_get(&t, "e"));
  mount_table_del(&t, "e");
  assert_int_equal(t.n, 0);
  mount_table_free(&t);
}

/* The page cache holds one generation's bytes: an open of another
 * generation while a reader of the cached one is live bypasses it. */
static void test_open_cache(void **state) {
  (void)state;
  int64_t cache = 0;
  int keep = -1, direct = -1;

  mount_open_cache(&cache, 7, 0, &keep, &direct); /* first open */
  assert_true(cache == 7 && !keep && !direct);
  mount_open_cache(&cache, 7, 0, &keep, &direct); /* same generation */
  assert_true(cache == 7 && keep && !direct);
  /* Replaced; A (generation 7) still reads through the cache: B's open
   * of 8 must neither fill it nor drop A's pages. */
  mount_open_cache(&cache, 8, 1, &keep, &direct);
  assert_true(cache == 7 && keep && direct);
  /* A closed: 8 takes the cache, 7's pages dropped. */
  mount_open_cache(&cache, 8, 0, &keep, &direct);
  assert_true(cache == 8 && !keep && !direct);
  /* Unknown (forgotten) with another generation live: bypass too. */
  cache = 0;
  mount_open_cache(&cache, 9, 1, &keep, &direct);
  assert_true(cache == 0 && direct);
}

/* Reads go to the stream they continue, or that they lie just behind;
 * others to a new one, then the least recently used. A read that
 * overtakes another stream stops it. */
static void test_pick_stream(void **state) {
  (void)state;
  struct mount_stream s[3] = {{1, 1000, 5}, {0, 0, 0}, {0, 0, 0}};
  const uint64_t slack = 100;

  assert_int_equal(mount_pick_stream(s, 3, 1000, 10, slack, 6), 0);
  assert_true(s[0].next == 1010 && s[0].used == 6);
  assert_int_equal(mount_pick_stream(s, 3, 1050, 10, slack, 7), 0); /* gap */
  assert_true(s[0].next == 1060);
  /* Wholly behind within slack (out of order): stream 0, whose
   * position stays. */
  assert_int_equal(mount_pick_stream(s, 3, 999, 10, slack, 8), 0);
  assert_true(s[0].next == 1060 && s[0].used == 8);
  /* Behind by more than slack: not onto stream 0 (a new one; the
   * caller opens it). */
  assert_int_equal(mount_pick_stream(s, 3, 900, 10, slack, 8), 1);
  s[1].open = 1;
  s[0].used = 7;
  assert_int_equal(mount_pick_stream(s, 3, 5000, 10, slack, 9), 2);
  s[2].open = 1;
  /* Nothing near, all open: the least recently used (stream 0, 7). */
  assert_int_equal(mount_pick_stream(s, 3, 20000, 10, slack, 10), 0);
  /* Two streams racing: stream 1 at 1009, stream 2 at 1000 (set here);
   * a read at 1010 continues 1 and overtakes 2, which stops. */
  s[1].next = 1009;
  s[2].next = 1000;
  assert_int_equal(mount_pick_stream(s, 3, 1010, 20, slack, 11), 1);
  assert_true(s[2].next == UINT64_MAX && s[2].used == 0);
  /* The stopped one matches nothing and is reused first. */
  assert_int_equal(mount_pick_stream(s, 3, 8000, 10, slack, 12), 2);
  /* Across a stream's position: a new stream, which overtakes it. */
  struct mount_stream two[2] = {{1, 1000, 5}, {0, 0, 0}};
  assert_int_equal(mount_pick_stream(two, 2, 995, 10, slack, 14), 1);
  assert_true(two[0].next == UINT64_MAX && two[1].next == 1005);
  struct mount_stream one = {1, 0, 0};
  assert_int_equal(mount_pick_stream(&one, 1, 77777, 1, slack, 13), 0);
}

/* What an open passes to gsr_open_listed: the listing's, via the node. */
static void test_node_entry(void **state) {
  (void)state;
  struct mount_dir d;
  gsr_list_entry e = entry("p/z", 0, 77), out;

  memset(&d, 0, sizeof d);
  e.generation = 12345;
  e.has_crc32c = 1;
  e.crc32c = 0xdeadbeef;
  e.content_encoding = "gzip";
  assert_int_equal(mount_dir_add(&d, "p/", &e), 0);
  mount_dir_finish(&d);
  mount_node_entry(&d.v[0], &out);
  assert_true(out.size == 77 && out.generation == 12345);
  assert_true(out.has_crc32c && out.crc32c == 0xdeadbeef);
  assert_string_equal(out.content_encoding, "gzip");
  assert_false(out.is_prefix);
  mount_dir_free(&d);
}

/* mount -o lists: gsread's options as --name [value], mount(8)'s
 * skipped. */
static void test_o_options(void **state) {
  (void)state;
  const char *p = "rw,defaults,allow_other,,uid=1000,_netdev,x-systemd."
                  "automount,comment=x,file_mode=0440,noauto,nofail,ttl=";
  char name[32], value[32];
  int hv;

  assert_int_equal(
      mount_o_next(&p, name, sizeof name, value, sizeof value, &hv), 1);
  assert_string_equal(name, "allow-other");
  assert_false(hv);
  assert_int_equal(
      mount_o_next(&p, name, sizeof name, value, sizeof value, &hv), 1);
  assert_string_equal(name, "uid");
  assert_true(hv);
  assert_string_equal(value, "1000");
  assert_int_equal(
      mount_o_next(&p, name, sizeof name, value, sizeof value, &hv), 1);
  assert_string_equal(name, "file-mode");
  assert_string_equal(value, "0440");
  assert_int_equal(
      mount_o_next(&p, name, sizeof name, value, sizeof value, &hv), 1);
  assert_string_equal(name, "ttl"); /* an empty value is a value */
  assert_true(hv);
  assert_string_equal(value, "");
  assert_int_equal(
      mount_o_next(&p, name, sizeof name, value, sizeof value, &hv), 0);
  /* "ro=1" is no mount(8) flag: passed on (and refused by the parser). */
  p = "ro=1";
  assert_int_equal(
      mount_o_next(&p, name, sizeof name, value, sizeof value, &hv), 1);
  assert_string_equal(name, "ro");
  p = "averyveryveryveryverylongoptionname=1";
  assert_int_equal(mount_o_next(&p, name, 8, value, sizeof value, &hv), -1);
}

/* mount(8)'s helper command line as gsread's. */
static void test_helper_args(void **state) {
  (void)state;
  char *argv[] = {"/sbin/mount.gsread", "gs://b/p", "/mnt/x", "-n", "-o",
                  "ro,ttl=5",           "-t",       "gsread"};
  char *out[16];
  const char *bad;
  int fake, n = mount_helper_args(8, argv, out, &fake, &bad);

  assert_int_equal(n, 7);
  assert_false(fake);
  assert_string_equal(out[0], "gsread");
  assert_string_equal(out[1], "mount");
  assert_string_equal(out[2], "-o");
  assert_string_equal(out[3], "ro,ttl=5");
  assert_string_equal(out[4], "--");
  assert_string_equal(out[5], "gs://b/p");
  assert_string_equal(out[6], "/mnt/x");

  char *fk[] = {"mount.gsread", "-sfv", "gs://b", "/m"};
  assert_int_equal(mount_helper_args(4, fk, out, &fake, &bad), 5);
  assert_true(fake);
  char *ns[] = {"mount.gsread", "gs://b", "/m", "-N", "1"};
  assert_int_equal(mount_helper_args(5, ns, out, &fake, &bad), -1);
  assert_string_equal(bad, "-N");
  char *one[] = {"mount.gsread", "gs://b"};
  assert_int_equal(mount_helper_args(2, one, out, &fake, &bad), -1);
  char *three[] = {"mount.gsread", "gs://b", "/m", "extra"};
  assert_int_equal(mount_helper_args(4, three, out, &fake, &bad), -1);
  assert_string_equal(bad, "extra");
}

static void test_reply_pipe(void **state) {
  const size_t pg = 4096, mib = 1u << 20;

  (void)state;
  assert_int_equal(mount_slice_pages(0, 0, pg), 0);
  assert_int_equal(mount_slice_pages(0, pg, pg), 1);
  assert_int_equal(mount_slice_pages(1, pg, pg), 2);
  assert_int_equal(mount_slice_pages(pg - 1, 2, pg), 2);
  assert_int_equal(mount_slice_pages(8 * pg, 3 * pg + 1, pg), 4);
  /* libfuse copies replies under 2 pages itself. */
  assert_int_equal(mount_reply_by_pipe(2 * pg - 1, 2, mib, pg), 0);
  assert_int_equal(mount_reply_by_pipe(2 * pg, 2, mib, pg), 1);
  /* A 1 MiB reply needs more than a 1 MiB pipe (the header's page and
   * libfuse's 3 spare pages); 2 MiB take it. */
  assert_int_equal(mount_reply_by_pipe(mib, 256, mib, pg), 0);
  assert_int_equal(mount_reply_by_pipe(mib, 257, 2 * mib, pg), 1);
  /* The largest reply a 1 MiB pipe takes, with a straddling slice. */
  assert_int_equal(mount_reply_by_pipe(mib - 4 * pg, 253, mib, pg), 1);
  assert_int_equal(mount_reply_by_pipe(mib - 4 * pg + pg, 253, mib, pg), 0);
  /* Too many pages for the pipe: copied. */
  assert_int_equal(mount_reply_by_pipe(64 * pg, 256, mib, pg), 0);
  assert_int_equal(mount_reply_by_pipe(64 * pg, 255, mib, pg), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_errno),       cmocka_unit_test(test_time),
      cmocka_unit_test(test_child_name),  cmocka_unit_test(test_dir),
      cmocka_unit_test(test_lookup),      cmocka_unit_test(test_proc_line),
      cmocka_unit_test(test_info_dev),    cmocka_unit_test(test_table),
      cmocka_unit_test(test_open_cache),  cmocka_unit_test(test_pick_stream),
      cmocka_unit_test(test_node_entry),  cmocka_unit_test(test_o_options),
      cmocka_unit_test(test_helper_args), cmocka_unit_test(test_reply_pipe),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
