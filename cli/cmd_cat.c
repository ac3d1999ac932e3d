/* gsread cat: write an object, or a byte range of it, to standard output.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

/* Writes all n bytes to fd. Returns 0 or an errno value.
 * write() may write less than asked (pipes, signals), fail with EINTR when
 * a signal arrives, or with EAGAIN if we inherited a non-blocking stdout;
 * none of those is an error, so keep going until every byte is out. */
static int write_all(int fd, const unsigned char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = write(fd, p, n);

    if (w < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        poll(&pfd, 1, -1);
        continue;
      }
      return errno;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Copies count bytes from the file position to stdout, bufsize at a time:
 * one gsr_read per buffer lets the library fetch a whole buffer with
 * parallel range requests while we were writing the previous one out. */
static int copy_out(const struct cli_args *a, gsr_file file,
                    unsigned char *buf, size_t bufsize, uint64_t count)
{
  uint64_t pos = a->offset;
  uint64_t end = a->offset + count;

  while (pos < end) {
    size_t want = end - pos < bufsize ? (size_t)(end - pos) : bufsize;
    int64_t got = gsr_read(file, buf, want);
    int err;

    if (got < 0) {
      cli_fail_gsr(got, "cannot read %s at offset %" PRIu64, a->url, pos);
      return CLI_EXIT_FAIL;
    }
    if (got == 0) {
      /* The size was known at open; stopping silently here would hand the
       * reader a truncated object that looks complete. */
      cli_fail_text("object ended early",
                    "cannot read %s at offset %" PRIu64 " of %" PRIu64,
                    a->url, pos, end);
      return CLI_EXIT_FAIL;
    }
    err = write_all(STDOUT_FILENO, buf, (size_t)got);
    if (err == EPIPE)
      return CLI_EXIT_FAIL; /* the reader left (| head): not worth a word */
    if (err) {
      cli_fail_errno(err, "cannot write to standard output");
      return CLI_EXIT_FAIL;
    }
    pos += (uint64_t)got;
  }
  return CLI_EXIT_OK;
}

/* Works out the range to write, clamped at the end of the object, and
 * copies it out through one buffer. */
static int cat_file(const struct cli_args *a, gsr_file file)
{
  int64_t size = gsr_size(file);
  int64_t pos;
  uint64_t count;
  size_t bufsize;
  unsigned char *buf;
  int rc;

  if (size < 0) {
    cli_fail_gsr(size, "cannot get the size of %s", a->url);
    return CLI_EXIT_FAIL;
  }
  if (a->offset >= (uint64_t)size)
    return CLI_EXIT_OK; /* at or past the end: empty, not an error */
  count = (uint64_t)size - a->offset;
  if (a->has_length && a->length < count)
    count = a->length;
  if (count == 0)
    return CLI_EXIT_OK;

  pos = gsr_seek(file, (int64_t)a->offset, GSR_SEEK_SET);
  if (pos < 0) {
    cli_fail_gsr(pos, "cannot seek %s to offset %" PRIu64, a->url,
                 a->offset);
    return CLI_EXIT_FAIL;
  }
  /* No point in a 16 MiB buffer for a 10-byte object. */
  bufsize = a->io_size < count ? (size_t)a->io_size : (size_t)count;
  buf = malloc(bufsize);
  if (!buf) {
    cli_fail_errno(ENOMEM, "cannot allocate a %zu-byte buffer", bufsize);
    return CLI_EXIT_FAIL;
  }
  rc = copy_out(a, file, buf, bufsize, count);
  free(buf);
  return rc;
}

static int cat_run(const struct cli_args *a)
{
  gsr_client *client;
  gsr_file file;
  int rc = cli_open(a, &client, &file);

  if (rc != CLI_EXIT_OK)
    return rc;
  rc = cat_file(a, file);
  cli_close(client, file);
  return rc;
}

static const enum cli_opt_id cat_opts[] = {
    CLI_OPT_OFFSET,        CLI_OPT_LENGTH,          CLI_OPT_IO_SIZE,
    CLI_OPT_CACHE,         CLI_OPT_BLOCK_SIZE,      CLI_OPT_ENDPOINT,
    CLI_OPT_CA_BUNDLE,     CLI_OPT_MAX_CONNECTIONS, CLI_OPT_STALL_TIMEOUT,
    CLI_OPT_HELP,
};

const struct cli_command cli_cmd_cat = {
    .name = "cat",
    .summary = "write an object, or a byte range of it, to standard output",
    .synopsis = "[OPTIONS] URL",
    .description =
        "Write the bytes of the object at URL to standard output: all of "
        "them, or\n"
        "those from --offset on, at most --length of them. A range that "
        "runs past\n"
        "the end of the object stops there; one that starts at or past the "
        "end\n"
        "writes nothing and succeeds.",
    .opts = cat_opts,
    .nopts = sizeof cat_opts / sizeof cat_opts[0],
    .run = cat_run,
};
