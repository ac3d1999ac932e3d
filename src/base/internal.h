/* Declarations shared inside libgsread: the allocator, error reporting and
 * the nouns every layer uses. Nothing here is exported.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_INTERNAL_H
#define GSR_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "gsread.h"

#define GSR__HIDDEN __attribute__((visibility("hidden")))
#define GSR__PRINTF(a, b) __attribute__((format(printf, a, b)))

#define GSR__MIN(a, b) ((a) < (b) ? (a) : (b))
#define GSR__MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- alloc.c: every allocation in src/ goes through these, so a test build
 * can make the k-th one fail (the torture test). */
void *gsr__malloc(size_t n);
void *gsr__calloc(size_t count, size_t n);
void *gsr__realloc(void *p, size_t n);
char *gsr__strdup(const char *s);
char *gsr__strndup(const char *s, size_t n);
/* Copies src (NULL: "") into dst[0..n) whole, or, when it does not fit,
 * makes dst "": a cut value would be another value (an ETag that matches
 * nothing, a text cut inside a UTF-8 sequence). 1 if copied whole. */
int gsr__copy_whole(char *dst, size_t n, const char *src);
void gsr__free(void *p);
/* n bytes of fresh anonymous memory, its pages mapped in and zeroed
 * (MAP_POPULATE: faulted here, at once, not one by one on first touch);
 * NULL on failure. Freed with gsr__unmap(p, n). */
void *gsr__map(size_t n);
void gsr__unmap(void *p, size_t n);
/* Grows the gsr__map'd p of n bytes to `to` bytes, keeping its pages (it
 * may move); the new pages are mapped in too where the kernel can
 * (MADV_POPULATE_WRITE, Linux 5.14), else they fault on first touch. NULL
 * on failure, p then unchanged. */
void *gsr__remap(void *p, size_t n, size_t to);
/* Test hook: fail the k-th allocation from now (1-based); 0 disables.
 * Returns the number of allocations counted since the last call. */
GSR_EXTERN uint64_t gsr__alloc_fail_at(uint64_t k);

/* ---- status.c: the message behind a failing status, per thread. */
/* Sets this thread's message and returns status, so code reads
 * `return gsr__err(GSR_EINVAL, "bad url '%s'", url);`. */
int gsr__err(int status, const char *fmt, ...) GSR__PRINTF(2, 3);
/* strerror(e) without its shared buffer (the library's callers have many
 * threads): the text stays valid until this thread's next call. */
const char *gsr__errno_text(int e);
int gsr__verr(int status, const char *fmt, va_list ap);

/* A status plus its message, carried from the I/O thread to a waiter. */
struct gsr__error {
  int status;
  char msg[512];
};
void gsr__error_set(struct gsr__error *e, int status, const char *fmt, ...)
    GSR__PRINTF(3, 4);
/* Publishes e as this thread's message; returns e->status. */
int gsr__error_raise(const struct gsr__error *e);
/* The one escaping of foreign text (a server's error text, a Location, a
 * listed name) put in a message: the first len bytes of s into out
 * (capacity n, NUL-terminated), control bytes (C0, DEL, and C1 as UTF-8
 * pairs) as \xNN so that none reaches
 * a terminal or log raw; an escape that does not fit is left out whole.
 * Returns the length written. */
size_t gsr__escape(char *out, size_t n, const char *s, size_t len);

/* ---- fdio.c: all of buf to fd (retrying short writes and EINTR, and
 * waiting in poll(2) while a non-blocking fd answers EAGAIN).
 * 0, or -1 with errno set (EIO if a write took nothing). */
int gsr__write_all(int fd, const void *buf, size_t n);
int gsr__pwrite_all(int fd, const void *buf, size_t n, uint64_t off);
/* Descriptors of the library's own are close-on-exec and never 0, 1 or 2
 * (the caller may have closed its standard ones: see gsread.h).
 * gsr__fd_own moves fd (close-on-exec already) to 3 or above if it is
 * below; returns the descriptor to use, or -1 with errno set (fd closed).
 * gsr__open is open(2) with O_CLOEXEC, then gsr__fd_own. */
int gsr__fd_own(int fd);
int gsr__open(const char *path, int flags, mode_t mode);
/* A regular file for reading, never blocking in open(2) (a FIFO would wait
 * for a writer): the descriptor, or -1 with errno set: EISDIR for a
 * directory, EINVAL for anything else that is not a regular file (a FIFO,
 * a device, a socket). */
int gsr__open_regular(const char *path);
/* "r", through gsr__open_regular (the same errno values). */
FILE *gsr__fopen_read(const char *path);
/* Around libcurl calls that make descriptors we cannot number ourselves
 * (curl_multi_init's wakeup socketpair, a name lookup's socketpair):
 * holds each of fds 0-2 that is closed on /dev/null until the matching
 * release. Holds nest, process-wide. */
void gsr__std_hold(void);
void gsr__std_release(void);

/* ---- size.c */
int gsr__parse_u64(const char *s, size_t len, uint64_t *out);
/* The value of one hex digit (either case), or -1. */
int gsr__hex_value(char c);

/* ---- utc.c (no C library time calls: fork-safe) */
/* Seconds since the epoch of a UTC date and time (month 1-12). */
int64_t gsr__utc_seconds(int64_t year, int month, int day, int hour, int min,
                         int sec);
/* t as "YYYY-MM-DDTHH:MM:SSZ" into out (cut to n - 1). */
void gsr__utc_format(int64_t t, char *out, size_t n);

/* ---- crc32c.c: CRC32C (Castagnoli), standard form (init ~0, final ~). */
uint32_t gsr__crc32c(uint32_t crc, const void *buf, size_t len);
/* The CRC32C of A followed by B, from crc1 = CRC(A), crc2 = CRC(B) and
 * len2 = |B|, without the bytes (powers of x modulo the polynomial, as
 * zlib 1.2.12+ does; about 1 us). */
uint32_t gsr__crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2);
/* CRC32C checkpoints (see buf.h): the I/O thread records the CRC32C of
 * every prefix of a whole number of strides of a buffer it fills. */
#define GSR__CRC_STRIDE ((size_t)256 * 1024)
/* Adds the n bytes at p, which land at offset at of a buffer filled in
 * order, to *crc, recording in marks[k] the CRC32C of every whole prefix
 * of k + 1 strides they complete. */
void gsr__crc32c_strided(uint32_t *crc, uint32_t *marks, size_t at,
                         const void *p, size_t n);
/* Decodes base64 of n_out bytes exactly; returns 0 or -1. */
int gsr__base64_decode(const char *s, unsigned char *out, size_t n_out);
/* The value of one base64 digit (standard or URL alphabet), or -1. */
int gsr__base64_value(char c);

/* Debug trace: formats one line and hands it to the client's trace
 * callback, if it has one (cheap test first: tracing off costs a branch). */
struct gsr_client;
void gsr__trace(struct gsr_client *c, const char *fmt, ...) GSR__PRINTF(2, 3);
#define GSR__TRACE(c, ...)                                     \
  do {                                                         \
    if ((c)->opts.trace != NULL) gsr__trace((c), __VA_ARGS__); \
  } while (0)

/* ---- tempname.c: a download's temporary file, DIR/.NAME.gsread-PID-XXXXXX
 * (NAME: the destination's last component, its first bytes only when the
 * whole would not fit in NAME_MAX; XXXXXX: GSR__TEMP_SFX_LEN random
 * letters and digits). gsr__temp_name writes it for dest into buf:
 * its length, or -1 if n is too small. gsr__temp_owner: 1 if the directory
 * entry `entry` is such a file for a destination named `name`, with its
 * owner's pid in *pid; else 0. */
#define GSR__TEMP_SFX_LEN 6
int gsr__temp_name(char *buf, size_t n, const char *dest, long pid,
                   const char *sfx);
int gsr__temp_owner(const char *entry, const char *name, long *pid);

/* Monotonic clock in nanoseconds. */
uint64_t gsr__now_ns(void);

#endif /* GSR_INTERNAL_H */
