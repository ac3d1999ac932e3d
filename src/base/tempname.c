/* The name of a download's temporary file, DIR/.NAME.gsread-PID-XXXXXX,
 * and the one decision made from it: is a directory entry such a file for
 * a given NAME, and which process owns it. The owner's pid is in the name
 * so that a file left by a process that is gone (SIGKILL, a crash) can be
 * recognized and removed later, without touching one still being written.
 *
 * SPDX-License-Identifier: MIT
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "base/internal.h"

#define TAG ".gsread-"
/* The most of NAME a temporary name keeps: the rest of it (".", the tag,
 * a pid of up to 10 digits, "-", the suffix) and NAME fit in NAME_MAX, so
 * that a destination of any legal name can have one. The same cut for
 * every pid, so that gsr__temp_owner finds another process's files. */
#define NAME_ROOM \
  (NAME_MAX - (1 + sizeof(TAG) - 1 + 10 + 1 + GSR__TEMP_SFX_LEN))

static int name_kept(size_t len) {
  return (int)(len < NAME_ROOM ? len : NAME_ROOM);
}

int gsr__temp_name(char *buf, size_t n, const char *dest, long pid,
                   const char *sfx) {
  const char *slash = strrchr(dest, '/');
  size_t dlen = slash ? (size_t)(slash - dest) + 1 : 0;
  const char *name = dest + dlen;
  int len = snprintf(buf, n, "%.*s.%.*s" TAG "%ld-%s", (int)dlen, dest,
                     name_kept(strlen(name)), name, pid, sfx);
  return len >= 0 && (size_t)len < n ? len : -1;
}

static int is_alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9');
}

/* Exactly what gsr__temp_name writes: a pid without leading zeros that
 * fits a pid_t, then GSR__TEMP_SFX_LEN letters or digits. Anything else,
 * a user's ".x.gsread-notes" included, is not ours. */
int gsr__temp_owner(const char *entry, const char *name, long *pid) {
  size_t nlen = (size_t)name_kept(strlen(name));
  if (entry[0] != '.' || strncmp(entry + 1, name, nlen) != 0) return 0;
  const char *p = entry + 1 + nlen;
  if (strncmp(p, TAG, sizeof(TAG) - 1) != 0) return 0;
  p += sizeof(TAG) - 1;
  long v = 0;
  const char *digits = p;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (p - digits >= 10) return 0;
    v = v * 10 + (*p - '0');
  }
  if (p == digits || *digits == '0' || v > INT_MAX || *p++ != '-') return 0;
  for (int i = 0; i < GSR__TEMP_SFX_LEN; i++)
    if (!is_alnum(p[i])) return 0;
  if (p[GSR__TEMP_SFX_LEN] != '\0') return 0;
  *pid = v;
  return 1;
}
