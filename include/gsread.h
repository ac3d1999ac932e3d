/* gsread: read objects from Google Cloud Storage, HTTP(S) servers and local
 * files as fast as the network allows.
 *
 * This header is the whole public API. Conventions:
 *  - Functions that can fail return a gsr_status: GSR_OK (0) or a negative
 *    code. Functions that return a byte count or an offset return it as a
 *    non-negative int64_t, or a negative gsr_status on failure.
 *  - After a failure, gsr_errmsg() returns a message naming what failed (URL,
 *    HTTP status, the server's text). The message is per thread, like errno:
 *    it stays until the next failing call on the same thread.
 *  - The library never prints, never exits and never aborts on bad input.
 *  - Messages echo URLs and paths; one too long is shortened in the middle
 *    (gsr_shorten_middle), so the reason at the end always shows.
 *  - File descriptors: every descriptor the library opens (local files,
 *    temporary files, connection sockets) is close-on-exec and numbered
 *    3 or more, even if the caller closed fd 0, 1 or 2: a closed fd 1
 *    stays closed, and nothing the library reads or writes goes through
 *    it. libcurl makes a few descriptors of its own (its wakeup socketpair
 *    in gsr_client_new, one per name lookup); while those are made, the
 *    library holds any closed fd 0-2 on /dev/null for the length of that
 *    call only, then closes it again. libcurl 7.88 does not make them
 *    close-on-exec.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSREAD_H
#define GSREAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define GSR_EXTERN
#elif defined(__GNUC__)
#define GSR_EXTERN __attribute__((visibility("default")))
#else
#define GSR_EXTERN
#endif

#define GSR_VERSION_MAJOR 0
#define GSR_VERSION_MINOR 1
#define GSR_VERSION_PATCH 0
#define GSR_VERSION_STRING "0.1.0"

/* The error list. Codes are appended, never removed or renumbered. */
#define GSR_STATUS_MAP(XX)                               \
  XX(EINVAL, -1, "invalid argument")                     \
  XX(ENOMEM, -2, "out of memory")                        \
  XX(ENOENT, -3, "object not found")                     \
  XX(EACCES, -4, "permission denied")                    \
  XX(ECHANGED, -5, "object changed since it was opened") \
  XX(ERANGE, -6, "range not satisfiable")                \
  XX(ENETWORK, -7, "network error")                      \
  XX(ETIMEDOUT, -8, "timed out")                         \
  XX(ECLOSED, -9, "file is closed")                      \
  XX(EBADF, -10, "not a valid file handle")              \
  XX(EPROTO, -11, "invalid response from server")        \
  XX(EHTTP, -12, "unexpected HTTP status")               \
  XX(EIO, -13, "local I/O error")                        \
  XX(ECANCELED, -14, "operation canceled")               \
  XX(EUNSUPPORTED, -15, "not supported")                 \
  XX(EAUTH, -16, "authentication required or failed")    \
  XX(ETLS, -17, "TLS error")                             \
  XX(EINTEGRITY, -18, "checksum mismatch")

/* clang-format off: it cannot see the map's commas and indents the last. */
typedef enum gsr_status {
  GSR_OK = 0,
#define GSR__XX(name, code, text) GSR_##name = code,
  GSR_STATUS_MAP(GSR__XX)
#undef GSR__XX
      GSR__STATUS_LAST = -19
} gsr_status;
/* clang-format on */

/* Short description of a status ("object not found"); never NULL. */
GSR_EXTERN const char *gsr_strerror(int status);
/* The code's name ("GSR_ENOENT"); never NULL. */
GSR_EXTERN const char *gsr_status_name(int status);
/* 1 if retrying the same operation later may succeed (network, timeout). */
GSR_EXTERN int gsr_status_is_retryable(int status);
/* Message of the last failing call on this thread ("" if none). The pointer
 * stays valid until the next gsread call on this thread. */
GSR_EXTERN const char *gsr_errmsg(void);
/* Copies s into out (n bytes, NUL-terminated). If s does not fit, its
 * middle is replaced with "\xe2\x80\xa6" (U+2026, UTF-8): its start
 * fills a quarter of the room and its end the rest, never splitting a
 * UTF-8 sequence. A message ends with why something failed and echoes
 * URLs and paths of any length before that, so gsr_errmsg()'s messages
 * are shortened this way (the reason always shows); a caller that prints
 * one in a fixed buffer can do the same. Returns the length written. */
GSR_EXTERN size_t gsr_shorten_middle(char *out, size_t n, const char *s);
/* The library's version string ("0.1.0"). */
GSR_EXTERN const char *gsr_version(void);

/* ---- Client ---------------------------------------------------------------
 * A client owns its I/O threads (libcurl multi handles; io_threads below),
 * a bounded pool of keep-alive connections and the settings below. It is
 * thread-safe and meant to be shared by every file a program opens.
 * After fork() the child makes its own client (the parent's I/O threads are
 * not in it); it may do so, and open files, whatever the parent's other
 * threads were doing in the library at the fork. */
typedef struct gsr_client gsr_client;

typedef struct gsr_client_options {
  /* GCS JSON API endpoint for gs:// URLs. NULL: $STORAGE_EMULATOR_HOST if
   * set (a bare "host:port" means http://host:port), else
   * https://storage.googleapis.com. */
  const char *endpoint;
  /* User-Agent header. NULL: "gsread/<version>". */
  const char *user_agent;
  /* CA bundle (PEM file) for TLS verification. NULL: the system's bundle.
   * Verification is always on. */
  const char *ca_bundle;
  /* Bearer token sent as "Authorization: Bearer ..." on gs:// requests,
   * never refreshed. NULL: the credentials chain (docs/auth.md):
   * anonymous while $STORAGE_EMULATOR_HOST sets the endpoint, else
   * $GSREAD_ACCESS_TOKEN, $GOOGLE_APPLICATION_CREDENTIALS (service-account
   * key or authorized_user file), gcloud's application default credentials
   * file, the GCE metadata server, else anonymous. */
  const char *access_token;
  long connect_timeout_ms; /* TCP+TLS connect; default 10000 */
  /* Abort (and retry) a transfer that receives nothing for this long, or
   * less than 1 KiB in as long once bytes flow (a trickle). Default 30000. */
  long stall_timeout_ms;
  /* Abort (and retry) each HTTP attempt that takes longer than this, connect
   * to last byte. 0 (default): no limit. A body cut short resumes with a
   * fresh retry budget only after 64 KiB (or all it lacked) arrived, so a
   * server sending a byte per connection runs the retries out. */
  long request_timeout_ms;
  int max_connections; /* connection pool size; default 64 (1..1024) */
  /* Most bytes all files of this client may hold prefetched; prefetching
   * waits or shrinks when it is spent, demand reads always proceed.
   * 0: default (256 MiB). */
  uint64_t memory_budget;
  /* Retries of transient failures, for every request (metadata and data):
   * connection refused or reset, TLS errors mid-transfer, timeouts and
   * stalls, HTTP 408, 429, 500, 502, 503 and 504, bodies cut short (the
   * retry resumes after the last byte received). Exponential backoff with
   * full jitter: before attempt k+1 wait a random time up to
   * min(retry_max_delay_ms, retry_initial_ms * retry_multiplier^(k-1)),
   * and at least the server's Retry-After. No attempt starts later than
   * retry_deadline_ms after the first. Defaults: 250 ms, 2.0, 16000 ms,
   * 8 attempts, 120000 ms. retry_max_attempts = 1 disables retries. */
  long retry_initial_ms;
  double retry_multiplier;
  long retry_max_delay_ms;
  int retry_max_attempts;
  long retry_deadline_ms;
  /* Debug trace: if set, called with one line per decision (prefetch
   * window, blocks scheduled, seek kind, cancellations, retries), from the
   * thread that made it. Must be thread-safe and quick; must not call back
   * into gsread. */
  void (*trace)(void *arg, const char *line);
  void *trace_arg;
  /* 1: send no credentials at all (public buckets), skipping the chain. */
  int anonymous;
  /* Requester pays: the project billed for the requests, sent as
   * userProject=... on every GCS request. NULL: none. */
  const char *user_project;
  /* Where the engine's measured widths persist (the connections chosen
   * per server for readers with concurrency 0, each good for 10 minutes;
   * docs/prefetch.md): read at
   * gsr_client_new, written at gsr_client_free if a width was chosen
   * (written whole, mode 0600, then renamed over; missing directories
   * made 0700; origins with credentials in them left out; what other
   * processes saved meanwhile kept). A file that cannot be read or written
   * only costs a measurement. NULL or "" (default): kept in memory, for this
   * client's life. The CLI sets it (docs/cli.md). */
  const char *plans_file;
  /* Redirects (301, 302, 303, 307, 308) followed per http(s) request, as
   * `curl -L` does; default 5, at most 50. 0: none, and a redirect is an
   * error (GSR_EHTTP) naming its status and Location. An open resolves
   * them once: data requests go to the URL it ended at, pinned to that
   * URL's ETag. A hop to another origin (scheme, host or port) carries no
   * user name, password or custom header but If-Match. A loop, or one hop
   * too many, fails naming the hops. gs:// requests never follow. */
  int max_redirects;
  /* A service-account key or authorized_user JSON file to take the
   * credentials from, as $GOOGLE_APPLICATION_CREDENTIALS would name it,
   * but for this client only (the Python layer's token="path"). Read at
   * gsr_client_new. Ignored if access_token or anonymous is set. NULL
   * (default): the credentials chain. */
  const char *credentials_file;
  /* The prefetch mode of files whose options leave prefetch and
   * cache_type NULL (see gsr_file_options.prefetch; a named cache still
   * turns it off): "off", "adaptive" or "sequential". NULL (default):
   * $GSREAD_PREFETCH (one of the three) if set, else gcsfs's
   * $USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING as gcsfs >= 2026.8.0 reads it:
   * unset, "true" or "1" (any case): "adaptive"; anything else: "off". */
  const char *prefetch;
  /* I/O threads: each runs its own libcurl multi handle with an equal
   * share of the max_connections pool, and every request goes to the one
   * with the fewest in flight, so one file's parts and different files'
   * requests spread over them. 0 (default): $GSREAD_IO_THREADS if set
   * (1..256), else one per 4 connections of max_connections, at most the
   * CPUs this process may use (sched_getaffinity), at least 1. Never more
   * than max_connections. 1..256: that many. */
  int io_threads;
  /* gs:// data over gRPC BidiReadObject, the only way zonal (Rapid
   * Storage) buckets serve it (docs/zonal.md): 0 (default) for the objects
   * whose JSON metadata says storage class RAPID, 1 for every object (its
   * metadata then from the stream alone, no JSON request), -1 never. */
  int grpc;
  /* The gRPC endpoint: "http://HOST:PORT" (cleartext HTTP/2) or
   * "https://HOST[:PORT]" (TLS, verified as ca_bundle says). NULL:
   * $STORAGE_GRPC_ENDPOINT (a bare "host:port" means http://host:port),
   * else https://storage.googleapis.com. */
  const char *grpc_endpoint;
} gsr_client_options;

/* Which credentials a client uses; never the token itself. */
typedef struct gsr_auth_info {
  /* "anonymous", "access_token", "service_account", "authorized_user",
   * "metadata". */
  char kind[32];
  /* Where they came from: "option", "GSREAD_ACCESS_TOKEN",
   * "GOOGLE_APPLICATION_CREDENTIALS", "gcloud_adc", "metadata_server",
   * "STORAGE_EMULATOR_HOST" (anonymous: an emulator), "default"
   * (anonymous fallback). */
  char source[40];
  /* The key file's path, or the metadata host; "" if none. */
  char detail[512];
  /* Service account e-mail if known (not a secret); "" if none. */
  char account[256];
  int has_expiry;     /* 1 if the token's lifetime is known */
  int64_t expires_at; /* seconds since the epoch */
  int64_t remaining;  /* seconds left (may be <= 0) */
} gsr_auth_info;

/* Resolves the client's credentials (fetching a token if the source has
 * one, which costs a request to the token endpoint) and describes them.
 * Returns GSR_OK, GSR_EINVAL, GSR_EAUTH (the source failed; message says
 * why), GSR_ENETWORK, GSR_ETIMEDOUT, GSR_ENOMEM. */
GSR_EXTERN int gsr_client_auth_info(gsr_client *client, gsr_auth_info *out);

/* Client-wide counters. */
typedef struct gsr_client_stats {
  /* HTTP requests put on the wire for its files' bytes and its listings,
   * as gsr_file_stats.requests counts them (retries and redirect hops
   * included); not the opens' metadata requests, nor local preads. */
  uint64_t requests;
  uint64_t bytes_fetched;
  /* Bytes held in buffers in use now, each charged for its size class
   * (a buffer of 256 KiB or more is rounded up to one: 4 per power of
   * two, so less than a quarter more). */
  uint64_t buffered;
  uint64_t peak_buffered; /* most held at once */
  uint64_t budget;        /* the memory budget */
  uint64_t retries;       /* request attempts after the first */
  uint64_t resumes;       /* ... that resumed a body cut short */
  int io_threads;         /* I/O threads the client runs */
  /* The buffer pool: buffers of 256 KiB or more stay mapped once their
   * last reference goes and are reused for the next ones, so their pages
   * fault in once. buffered + pooled stays within the budget (demand
   * reads aside); the pool gives its memory back after 5 s without a
   * buffer taken or given. */
  uint64_t pooled;      /* bytes of idle buffers kept in the pool now */
  uint64_t pool_hits;   /* buffers taken from the pool */
  uint64_t pool_misses; /* buffers mapped fresh (their pages faulted in) */
} gsr_client_stats;
GSR_EXTERN int gsr_client_stats_get(gsr_client *client, gsr_client_stats *out);

/* Changes the client's memory budget (gsr_client_options.memory_budget;
 * 0: the default, 256 MiB) while it runs, for a program that must give
 * memory back (a daemon under pressure). A smaller budget unmaps at once
 * the idle pooled buffers past it; buffers in use stay until their reads
 * let them go, and prefetching waits, or shrinks, until what is held is
 * under it. A file's window cap is the one computed at its open. Returns
 * GSR_OK, or GSR_EINVAL (client NULL). Thread-safe. */
GSR_EXTERN int gsr_client_set_memory_budget(gsr_client *client, uint64_t bytes);

/* Fills *opts with the defaults. Always call it before setting fields:
 * fields may be appended in later versions. */
GSR_EXTERN void gsr_client_options_init(gsr_client_options *opts);

/* Creates a client and starts its I/O threads. opts may be NULL (defaults).
 * Returns GSR_OK and sets *out, or GSR_EINVAL (bad option), GSR_ENOMEM,
 * GSR_EIO (the thread or libcurl could not start); *out is then NULL. */
GSR_EXTERN int gsr_client_new(const gsr_client_options *opts, gsr_client **out);

/* Stops the I/O threads and frees the client. Files still open on it are
 * closed first (their handles then answer GSR_ECLOSED). NULL is a no-op.
 * Must not be called while another thread still uses the client. */
GSR_EXTERN void gsr_client_free(gsr_client *client);

/* ---- Files ----------------------------------------------------------------
 * A file is one object opened for reading, pinned at open to one version:
 * its GCS generation, or its HTTP strong ETag, or, from a server that sends
 * none (a weak W/"..." ETag pins no bytes), its Last-Modified date (to the
 * second). If the object is replaced while the file is open, reads fail
 * with GSR_ECHANGED; bytes of two versions are never mixed. A server that
 * sends neither validator can be read only in one request for the whole
 * object: any other read fails with GSR_EPROTO.
 *
 * Files are named by handles, not pointers: a handle that was closed (or
 * never opened) is detected and answers GSR_ECLOSED or GSR_EBADF, never a
 * crash. Handles are never reused within a process. */
typedef uint64_t gsr_file;
#define GSR_FILE_INVALID ((gsr_file)0)

typedef struct gsr_file_options {
  /* Cache strategy (see docs/caches.md): "none" (every read fetches
   * exactly its bytes), "readahead", "readahead_chunked" (alias
   * "readahead_v2"), "blockcache", "background", "first", "all", "bytes".
   * NULL (default): "none", with the client's prefetch mode (gcsfs's
   * default: no cache, the adaptive prefetcher). Whatever the cache, a
   * gsr_read or gsr_pread into the caller's buffer that runs to the end
   * of the object and is at least block_size and 16 MiB long skips the
   * cache and
   * the prefetcher: its bytes land straight in the buffer, never held
   * twice. */
  const char *cache_type;
  /* Block size of the caches; default 5 MiB (as gcsfs). */
  uint64_t block_size;
  /* blockcache/background: blocks kept (LRU); default 32. */
  int max_blocks;
  /* Parallel connections for one fetch. A fetch of at least
   * 2 x min_part_size is split into up to this many parts, each written
   * straight to its place; the prefetcher keeps this many connections
   * carrying bytes. 0 (default): the client's default, which is
   * $GSREAD_CONCURRENCY, else $DEFAULT_GCSFS_CONCURRENCY, else 4; with
   * neither set, a sequential reader gets a width chosen by measurement
   * (one that promised it, prefetch "sequential", from its first read; an
   * "adaptive" one once its run filled the window): from 4, two more
   * connections at a time while each pair raises the rate by 10%, within
   * max_prefetch and the client's max_connections / 2 (docs/prefetch.md).
   * An explicit number is obeyed up to the client's max_connections (a
   * wider fetch would only queue for the pool). */
  int concurrency;
  /* Smallest part of a split fetch; default 5 MiB (as gcsfs); 1 to
   * 2^63-1 (else GSR_EINVAL at open). */
  uint64_t min_part_size;
  /* Prefetching (see docs/prefetch.md): "off"; "adaptive" (read ahead
   * once three reads in a row were sequential); "sequential" (a promise,
   * like POSIX_FADV_SEQUENTIAL, that the reader goes front to back: read
   * ahead from the first read and after every seek, at full width);
   * "default": the
   * client's mode (gsr_client_options.prefetch), whatever the cache;
   * or NULL, the default: "off" if cache_type names a cache, "none"
   * included (as gcsfs: an explicit cache alone decides the requests,
   * fsspec's exactly; set both to stack them), else the client's mode. */
  const char *prefetch;
  /* Most bytes this file may hold in prefetched blocks (the one being
   * read included); 0: default (96 MiB). Reads larger than half of it
   * raise it to 2 x the read size. The client's budget also applies. A
   * read larger than the most the window may be (this cap if set, else
   * it or the budget, whichever is larger) or than half the client's
   * memory_budget takes what the blocks already hold of it and fetches
   * the rest straight into the caller's buffer, holding no blocks. */
  uint64_t max_prefetch;
  /* Reads that arrive out of order (the kernel's readahead through FUSE,
   * a pool of threads sharing the file): a read that lies wholly before
   * the prefetcher's sequential position, at most this many bytes before
   * it, is served without cancelling the window: from the blocks the
   * reader just passed, which the prefetcher keeps (those that cover the
   * last this many bytes: less than this + one block, in the budget)
   * while they are whole, else fetched exactly. 0 (default): such a read
   * is a seek back and starts a new run. gsread mount sets 4 MiB. At most 1 GiB
   * (else GSR_EINVAL at open). */
  uint64_t reorder_bytes;
} gsr_file_options;

/* Fills *opts with the defaults. Always call it before setting fields. */
GSR_EXTERN void gsr_file_options_init(gsr_file_options *opts);

/* Opens url for reading. url is one of:
 *   gs://BUCKET/OBJECT     (GCS JSON API; the object name is taken verbatim,
 *                           any bytes allowed; it is percent-encoded here)
 *   http://... https://... (any server that supports Range requests)
 *   file:///path, or a plain path (a regular file whose size is its
 *                           length: a FIFO, a device, a socket or a /proc
 *                           file is GSR_EINVAL, and opening one never
 *                           blocks)
 * Costs at most one request (the object's metadata, or a HEAD).
 * Returns GSR_OK and sets *out, or GSR_EINVAL (bad URL or options),
 * GSR_ENOENT, GSR_EACCES, GSR_EAUTH, GSR_ENETWORK, GSR_ETIMEDOUT, GSR_ETLS,
 * GSR_EHTTP, GSR_EPROTO, GSR_ENOMEM, GSR_EIO. Thread-safe. */
GSR_EXTERN int gsr_open(gsr_client *client, const char *url,
                        const gsr_file_options *opts, gsr_file *out);

struct gsr_list_entry;
/* Opens url (gs://BUCKET/OBJECT only) as gsr_open does, from what a listing
 * (gsr_list) said of the object instead of asking the server: no request at
 * open. entry gives the size, generation, metageneration, CRC32C and the
 * texts (updated, content encoding, ETag, content type, storage class,
 * time created; each NULL or "" if unknown, read during the call only)
 * (its name is not used: url names the object). An object of a zonal
 * bucket (storage class RAPID) is read over gRPC, as gsr_open does. The
 * file is pinned to entry->generation: if the object was replaced or
 * deleted since the listing, reads fail with GSR_ECHANGED (the data
 * request's 404). gsr_fstat shows no MD5. Returns
 * GSR_OK, or GSR_EINVAL (not gs://, entry NULL, a prefix, generation <= 0),
 * GSR_ENOMEM. Thread-safe. */
GSR_EXTERN int gsr_open_listed(gsr_client *client, const char *url,
                               const gsr_file_options *opts,
                               const struct gsr_list_entry *entry,
                               gsr_file *out);

typedef struct gsr_stat {
  uint64_t size;
  int64_t generation;     /* GCS generation; 0 if the backend has none */
  int64_t metageneration; /* GCS metageneration; 0 if none */
  char etag[128];         /* HTTP ETag as sent (quotes kept), or "" when none or
                           * longer than 127 bytes (the file is pinned to the
                           * whole of it all the same) */
  int has_crc32c;         /* 1 if crc32c is known */
  uint32_t crc32c;        /* CRC32C (Castagnoli) of the whole object */
  int has_md5;            /* 1 if md5 is known */
  unsigned char md5[16];
  char content_type[128]; /* "" if unknown or longer than 127 bytes:
                           * texts are whole or "", never cut (a cut
                           * could end inside a UTF-8 sequence) */
  char updated[40];       /* RFC 3339 time of last update, or "" */
  int64_t mtime;          /* the same as seconds since the epoch, or 0 */
  /* GCS contentEncoding ("gzip": stored compressed), or "". gsread reads
   * the stored bytes, which size and crc32c describe: such an object is
   * read compressed (with Accept-Encoding: gzip, so that GCS neither
   * decompresses it nor ignores the byte ranges). */
  char content_encoding[32];
  char storage_class[32]; /* GCS storageClass ("STANDARD"...), or "" */
  char time_created[40];  /* GCS timeCreated, RFC 3339, or "" */
} gsr_stat;

/* The metadata read at open (no I/O). Returns GSR_OK, GSR_EINVAL (st NULL),
 * GSR_EBADF or GSR_ECLOSED. */
GSR_EXTERN int gsr_fstat(gsr_file file, gsr_stat *st);

/* Reads up to n bytes at the file position into buf and advances the
 * position. When gsr_read (or gsr_read_slices) calls read the object from
 * offset 0 to its end in order, the CRC32C of the bytes is computed as they
 * go and compared with the server's (GCS metadata): a mismatch makes the
 * read that reaches the end return GSR_EINTEGRITY, never success. Returns the
 * count read: n, fewer only at end of object, 0 at or past the end or when n is
 * 0 (no I/O then). On failure returns a negative gsr_status and the position is
 * unchanged. n must not exceed INT64_MAX. gsr_read, gsr_read_slices and
 * gsr_seek calls on one file are serialized with each other (they share
 * the position and the whole-object check); gsr_pread calls beside them
 * are not held up by them. Use gsr_pread for parallel reads. */
GSR_EXTERN int64_t gsr_read(gsr_file file, void *buf, size_t n);

/* Like gsr_read at an explicit offset, without using or moving the file
 * position. Any number of threads may call it on one file at once, and
 * their network waits overlap, with or without the prefetcher, under every
 * cache but "bytes": a cache's state is locked only to decide what a read
 * fetches and to install what it fetched, never while bytes travel (a
 * read that needs bytes another read is fetching waits for that fetch
 * instead of fetching them again), and a read the prefetcher fetches
 * exactly (a random read) holds no lock of the file while its bytes
 * travel. What stays one at a time per file: reads served from the
 * prefetch window (the engine's state), and reads through the cache
 * "bytes" (fsspec's rules for one growing buffer), fetch time included.
 * A negative offset is GSR_EINVAL. */
GSR_EXTERN int64_t gsr_pread(gsr_file file, void *buf, size_t n,
                             int64_t offset);

#define GSR_SEEK_SET 0
#define GSR_SEEK_CUR 1
#define GSR_SEEK_END 2
/* Moves the position as lseek does (no I/O). Seeking past the end is
 * allowed; reads there return 0. Returns the new position, or GSR_EINVAL
 * (negative result, bad whence, overflow), GSR_EBADF, GSR_ECLOSED. */
GSR_EXTERN int64_t gsr_seek(gsr_file file, int64_t offset, int whence);
/* The position, or a negative status. */
GSR_EXTERN int64_t gsr_tell(gsr_file file);
/* The object's size, or a negative status. */
GSR_EXTERN int64_t gsr_size(gsr_file file);
/* A promise that reads stop before offset `end` (UINT64_MAX, the default:
 * no promise): prefetching fetches nothing at or past it (gsread cat
 * --copy --length). A read
 * past it breaks the promise: it is forgotten, and reads go on as without
 * one (what was prefetched is dropped). gsr_sendfile promises its own
 * range while it runs. Returns GSR_OK, GSR_EBADF, GSR_ECLOSED. */
GSR_EXTERN int gsr_set_read_end(gsr_file file, uint64_t end);

/* ---- Zero-copy reads ------------------------------------------------------
 * A slice is a reference to bytes held by the library: data[0..len) stays
 * valid and unchanged until gsr_slice_release, even after the cache moved
 * on or the file was closed. Slices never need to be copied: one per
 * cached chunk (or prefetched block) the range touches. */
typedef struct gsr_slice {
  const unsigned char *data;
  size_t len;
  void *owner; /* private: the refcounted chunk */
} gsr_slice;

/* Returns the next n bytes at the file position as at most max_slices
 * slices in out[], sets *n_slices, and advances the position by the count
 * returned. Fewer than n bytes come back at the end of the object or when
 * max_slices runs out. Returns the count (0 at EOF), or a negative status
 * (then nothing is held). Each slice must be released. */
GSR_EXTERN int64_t gsr_read_slices(gsr_file file, size_t n, gsr_slice *out,
                                   size_t max_slices, size_t *n_slices);
/* The same at an explicit offset, position untouched. */
GSR_EXTERN int64_t gsr_pread_slices(gsr_file file, size_t n, int64_t offset,
                                    gsr_slice *out, size_t max_slices,
                                    size_t *n_slices);
/* Drops the reference; the chunk is freed when nothing else holds it.
 * Sets slice to empty. NULL or an empty slice is a no-op. */
GSR_EXTERN void gsr_slice_release(gsr_slice *slice);

/* Writes bytes [offset, offset + count) of the file to the file descriptor
 * fd, as write(2) would (fewer at the end of the object; count UINT64_MAX:
 * to the end); the file position is untouched. For a reader that only
 * passes bytes on (gsread cat): the range is read through the file's
 * readers (its cache, its prefetcher: open the file with prefetch
 * "sequential", as gsread cat does, for full width from the first byte)
 * as slices, written out from the blocks the bytes landed in, with no
 * copy of ours. The range is a promise (gsr_set_read_end) while it runs.
 * A range from 0 to the end is checked against the object's CRC32C.
 * *written (may be NULL) gets the bytes written, also on failure. Returns
 * GSR_OK, or a status: GSR_EIO if fd refused a write (then errno says
 * why, else it is 0; SIGPIPE is raised as by write(2) unless ignored),
 * GSR_EINTEGRITY (the bytes written must be discarded), or any read
 * error. */
GSR_EXTERN int gsr_sendfile(gsr_file file, int fd, int64_t offset,
                            uint64_t count, uint64_t *written);

/* ---- Vectored reads -------------------------------------------------------
 * gsr_read_ranges reads many ranges of one file in one call (a Parquet
 * footer's column chunks, Zarr chunks, a checkpoint's tensors). The ranges
 * are sorted; overlapping and adjacent ones are merged; neighbours are
 * joined into one request ("span") while the hole between them costs at
 * most 1/16 of the request it saves: hole_limit = a connection's measured
 * rate x its first-byte time / 16 (measured on this client's earlier range
 * reads; 512 KiB before any). Spans are fetched in parallel, the last
 * ones in parts, and their bytes land straight in the ranges' buffers (holes
 * are dropped as they arrive). See docs/ranges.md. */
typedef struct gsr_range {
  int64_t offset;  /* in: first byte (>= 0) */
  uint64_t length; /* in: bytes asked (offset + length <= INT64_MAX) */
  /* in: where the bytes go (length bytes of room), or NULL: they come
   * back by reference in `slice`, held by the library. */
  void *buf;
  /* out: bytes delivered: length, fewer at the end of the object, 0 at or
   * past it (or on failure). */
  uint64_t delivered;
  /* out: GSR_OK, or why this range failed (its span's failure, after the
   * usual retries); the other ranges are unaffected. */
  int status;
  /* out: with buf NULL and delivered > 0, the bytes (one slice); release
   * it with gsr_slice_release. Else empty. */
  gsr_slice slice;
} gsr_range;

/* Counters of one gsr_read_ranges call. */
typedef struct gsr_ranges_stats {
  uint64_t ranges;          /* ranges asked (n) */
  uint64_t spans;           /* spans planned and fetched */
  uint64_t requests;        /* HTTP requests (a span split in parts counts
                             * each; retries not counted), or preads */
  uint64_t bytes_fetched;   /* bytes of the spans (holes included) */
  uint64_t hole_bytes;      /* ... of which no range asked for: the waste */
  uint64_t bytes_delivered; /* sum of the ranges' delivered */
  uint64_t failed;          /* ranges whose status is not GSR_OK */
  uint64_t hole_limit;      /* the limits the plan used */
  uint64_t span_limit;
  double seconds;  /* the call's wall time */
  int concurrency; /* requests it kept in flight at most (its width) */
} gsr_ranges_stats;

typedef struct gsr_ranges_options {
  /* Join two neighbouring ranges into one request when at most this many
   * bytes lie between them. -1 (default): from the cost model (measured
   * rate x first-byte time / 16, 512 KiB before any measurement, at most
   * 16 MiB;
   * 0 for a local file, where a read costs no first-byte wait). */
  int64_t hole_limit;
  /* Stop joining when a span would exceed this many bytes (overlapping
   * ranges longer than it are still one span, fetched in parts).
   * 0 (default): 64 MiB. */
  uint64_t span_limit;
  /* Requests in flight at once (spans, or parts of a large span);
   * 0 (default): the file's concurrency if it was set (option or
   * $GSREAD_CONCURRENCY), else chosen from the plan: the fewest requests
   * whose modelled time (a first-byte wait per span beyond the width, the
   * bytes over the width's connections at the measured rate) is within
   * 10% of the pool's (max_connections); before any measurement, one per
   * span, within the pool. At most 256. */
  int concurrency;
  /* If set, the call's counters are written here (also on failure). */
  gsr_ranges_stats *stats;
} gsr_ranges_options;

/* Fills *opts with the defaults. Always call it before setting fields. */
GSR_EXTERN void gsr_ranges_options_init(gsr_ranges_options *opts);

/* Reads ranges[0..n) of file (opts may be NULL: defaults), each into its
 * buf or as a slice, and sets each range's delivered, status and slice.
 * Ranges may come in any order, overlap, repeat, be empty or lie past
 * the end of the object; a million in one call is fine (time and memory
 * O(n log n)). Memory: the by-reference ranges' bytes, one buffer per
 * span, charged to the client's memory budget (counted, never refused;
 * fewer spans run at once while it is spent); holes take none.
 * Returns GSR_OK if every range was read; GSR_EINVAL, reading nothing,
 * if an argument or a range is bad (the message names it; every range's
 * status is then GSR_EINVAL); else the status of the first failed range
 * in the caller's order (the message names it) while the other ranges
 * hold their bytes: a failed span (after the usual retries, which resume
 * mid-span) fails only its ranges. Closing the file cancels what is in
 * flight (those ranges fail with GSR_ECANCELED or GSR_ECLOSED). Like
 * gsr_pread: the position is untouched, any number of threads may call
 * it at once (it takes no lock of the file while bytes travel: the file's
 * cache and prefetch window are not used). The bytes of a failed range's
 * buf are unspecified. */
GSR_EXTERN int gsr_read_ranges(gsr_file file, gsr_range *ranges, size_t n,
                               const gsr_ranges_options *opts);

/* gsr_read_ranges over several files of one client: ranges[i] is read
 * from files[i] (a file may appear any number of times, in any order).
 * Each file's ranges are planned as gsr_read_ranges plans them, and every
 * file's spans are fetched under one width (opts->concurrency, else
 * chosen from all the plans together) and one memory budget: many small
 * objects cost a round of first-byte waits per width, not per object.
 * A handle that is not open (GSR_EBADF, GSR_ECLOSED) or of another
 * client (GSR_EINVAL) fails its own ranges only. Returns GSR_OK when every
 * range succeeded, else the status of the first failed range in the
 * caller's order (the message names it); each range has its own status.
 * opts->stats sums the call (ranges of handles not open count as
 * failed). Thread-safe as gsr_read_ranges. */
GSR_EXTERN int gsr_read_ranges_files(const gsr_file *files, gsr_range *ranges,
                                     size_t n, const gsr_ranges_options *opts);

/* ---- Statistics ----------------------------------------------------------*/
typedef struct gsr_file_stats {
  uint64_t reads;  /* read calls that asked for bytes */
  uint64_t hits;   /* cache: reads served without a request */
  uint64_t misses; /* cache: reads that needed a request */
  /* HTTP requests put on the wire for this file's bytes, counted by the
   * transport as libcurl sends each one: every attempt counts (a retry, a
   * resumed body, a redirect hop, each part of a split fetch, each
   * prefetched block), one canceled or refused a connection
   * before it was sent does not; the open's metadata request is not
   * counted. So it equals the server's count of media requests for the
   * file. A local file: one per pread. */
  uint64_t requests;
  uint64_t bytes_fetched;     /* bytes received from the backend */
  uint64_t bytes_delivered;   /* bytes handed to the caller */
  uint64_t bytes_copied;      /* ... of which copied into caller buffers */
  uint64_t bytes_referenced;  /* ... of which handed out as slices */
  uint64_t bytes_direct;      /* ... of which landed straight from the wire */
  uint64_t prefetched_unused; /* prefetched bytes received and never read
                               * (waste; cancelled transfers included) */
  uint64_t stalls;            /* reads that waited for prefetched bytes */
  double stall_seconds;       /* time those reads waited */
  uint64_t window;            /* current prefetch window, bytes */
  uint64_t peak_buffered;     /* most bytes this file held at once */
  /* The prefetcher's plan (a static string): "none" (nothing fetched
   * ahead: random reads, or prefetch off), "ramp" (a sequential run of an
   * adaptive reader, its window growing) or "full" (the whole window at
   * full width). docs/prefetch.md. */
  const char *plan;
  /* Connections the prefetcher keeps carrying bytes (its width); 0 while
   * the plan is "none". */
  int connections;
} gsr_file_stats;

/* Copies the file's counters. GSR_OK, GSR_EINVAL, GSR_EBADF, GSR_ECLOSED. */
GSR_EXTERN int gsr_file_stats_get(gsr_file file, gsr_file_stats *out);

/* Closes the file: cancels its transfers and frees its memory once no call
 * on it is still running. Returns GSR_OK, or GSR_ECLOSED if it was already
 * closed, GSR_EBADF if it never was a handle. */
GSR_EXTERN int gsr_close(gsr_file file);

/* ---- Downloads -----------------------------------------------------------
 * gsr_download copies a whole object to a local file, fast and safely:
 *  - the object is opened (and pinned to its generation or ETag) once, then
 *    read front to back by the prefetcher, as a file opened with prefetch
 *    "sequential" is (its window of blocks at full width from the first
 *    byte), and written out in order as the blocks land;
 *  - the bytes go to a temporary file beside the destination,
 *    ".NAME.gsread-PID-XXXXXX" (PID: this process; NAME: the destination's
 *    name, its first 229 bytes if longer, so that it fits NAME_MAX;
 *    created with mode 0666 minus the umask), which is renamed over the
 * destination only after the whole object's CRC32C matched the server's
 * (gs://), or, when the source publishes no checksum (http, file), after the
 * length matched. On any failure the temporary file is removed and the
 * destination is untouched. A process killed meanwhile cannot remove it: see
 *    temp_file below for signals; for the rest (SIGKILL, a crash), each
 *    gsr_download first removes the ".NAME.gsread-PID-XXXXXX" files of its
 *    destination whose PID is no running process (kill(PID, 0) fails with
 *    ESRCH; files of live processes are kept). Processes in other PID
 *    namespaces or on other hosts writing the same destination directory
 *    are not seen: do not point concurrent copies from them at one DEST.
 *  - The file is not fsync'ed (as cp, curl and gsutil do not): the rename
 *    makes the copy appear whole or not at all, not durable across a crash.
 *  - A destination that exists and is not a regular file (a device such as
 *    /dev/null, a FIFO, or a symlink to one) is written into in order, as
 *    cp(1) does, with no temporary file: it is never replaced. A FIFO's
 *    open waits for its reader. The checks are the same; on a failure
 *    what was written stays written.
 * Memory: the prefetcher's window (96 MiB by default; at least
 * (2 x concurrency + 2) x part_size when part_size is given), charged to
 * the client's memory budget. */
/* The smallest part_size gsr_download takes (0 aside): each part is one
 * request, so a tiny one turns a copy into a request per few bytes. */
#define GSR_DOWNLOAD_MIN_PART_SIZE ((uint64_t)256 * 1024)

typedef struct gsr_download_options {
  int concurrency; /* connections carrying bytes at once; 0: as
                    * gsr_file_options.concurrency 0 (chosen by
                    * measurement unless set in the environment); at
                    * most 256 */
  /* Bytes per request (the prefetcher's block). 0 (default): the
   * prefetcher's choice, at least what one connection receives during one
   * first-byte wait. Otherwise at least GSR_DOWNLOAD_MIN_PART_SIZE
   * (GSR_EINVAL below it). */
  uint64_t part_size;
  /* If set, called from the calling thread with the bytes received so far
   * and the object's size: at the start, at most about 4 times a second
   * while the download runs, and once at the end (done == total) on
   * success. Must not call back into gsread. */
  void (*progress)(void *arg, uint64_t done, uint64_t total);
  void *progress_arg;
  /* If set, called from the calling thread with the temporary file's path:
   * created = 1 just before the file is created, created = 0 once it is
   * gone (renamed over the destination, or removed). In between, path
   * stays valid and unchanged, so a signal handler running on that thread
   * may unlink() it (async-signal-safe) before the process ends, as
   * gsread cp does on SIGINT, SIGTERM and SIGHUP. The library itself never
   * touches signal handling. Must not call back into gsread. */
  void (*temp_file)(void *arg, const char *path, int created);
  void *temp_file_arg;
} gsr_download_options;

typedef struct gsr_download_stats {
  uint64_t bytes;      /* object bytes written */
  uint64_t requests;   /* data requests sent, retries included (as
                        * gsr_file_stats.requests) */
  uint64_t retries;    /* attempts after the first, client-wide delta */
  double seconds;      /* open to rename */
  int crc32c_verified; /* 1: checked against the server's CRC32C;
                        * 0: only the length was checked */
  uint32_t crc32c;     /* CRC32C of the bytes written */
} gsr_download_stats;

/* Fills *opts with the defaults. Always call it before setting fields. */
GSR_EXTERN void gsr_download_options_init(gsr_download_options *opts);

/* Downloads the object at url (any URL gsr_open takes) to dest_path. If
 * dest_path is an existing directory, the file inside it is named after
 * the last '/'-separated component of the object's name (or URL path),
 * whole (one longer than the file system takes fails: GSR_EIO).
 * opts and stats may be NULL. Returns GSR_OK, or what gsr_open returns,
 * GSR_EINTEGRITY (checksum or length mismatch), GSR_EIO (local file
 * error, message names the path and errno text), GSR_ECHANGED, network
 * statuses. Thread-safe (distinct destinations). */
GSR_EXTERN int gsr_download(gsr_client *client, const char *url,
                            const char *dest_path,
                            const gsr_download_options *opts,
                            gsr_download_stats *stats);

/* The same into an open file descriptor that may not be seekable (a pipe,
 * standard output): parts are fetched concurrently but written in order
 * with write(); a finished part waits in its buffer for its turn. The
 * checksum is verified after the last byte was written, so on
 * GSR_EINTEGRITY the bytes are already out: the caller must discard them.
 * fd is neither closed nor rewound. */
GSR_EXTERN int gsr_download_fd(gsr_client *client, const char *url, int fd,
                               const gsr_download_options *opts,
                               gsr_download_stats *stats);

/* ---- Listing --------------------------------------------------------------
 * gsr_list lists gs://BUCKET[/PREFIX] through the JSON API (objects.list),
 * following nextPageToken until the end. PREFIX is taken verbatim (as GCS
 * does): gs://b/dir matches "dir", "dir/x" and "dir2"; gs://b/dir/ only
 * what is inside dir/. Without recursive, delimiter "/" is used: names
 * with a further '/' after the prefix are folded into one "directory"
 * entry (is_prefix = 1, name ending in '/'). Entries come in name order,
 * objects and directories merged. */
typedef struct gsr_list_entry {
  const char *name; /* the full object name (or prefix), valid only
                     * during the callback */
  int is_prefix;    /* 1: a directory (only size 0, no other fields) */
  uint64_t size;
  int64_t generation;
  const char *updated; /* RFC 3339, "" if unknown */
  int has_crc32c;
  uint32_t crc32c;
  /* The rest of the object's listing entry, as GCS sent it ("" or 0 if
   * absent; every string valid only during the callback): what gcsfs's
   * entries carry under the same names. */
  int64_t metageneration;
  const char *etag;
  const char *md5_hash;         /* base64, as "md5Hash" */
  const char *content_type;     /* "contentType" */
  const char *content_encoding; /* "contentEncoding" ("gzip"), or "" */
  const char *storage_class;    /* "storageClass" */
  const char *time_created;     /* "timeCreated", RFC 3339 */
} gsr_list_entry;

/* Called once per entry from the calling thread; return 0 to go on,
 * anything else to stop (gsr_list then returns GSR_ECANCELED). */
typedef int (*gsr_list_cb)(void *arg, const gsr_list_entry *entry);

/* Returns GSR_OK, GSR_EINVAL (not a gs://BUCKET[/PREFIX] URL),
 * GSR_ECANCELED, GSR_EPROTO (bad JSON), network and HTTP statuses
 * (GSR_ENOENT: no such bucket). Thread-safe. */
GSR_EXTERN int gsr_list(gsr_client *client, const char *url, int recursive,
                        gsr_list_cb cb, void *arg);

/* ---- Helpers --------------------------------------------------------------*/

/* Parses a byte size: decimal digits with an optional suffix. K, M, G, T,
 * KiB, MiB, GiB, TiB are powers of 1024; KB, MB, GB, TB powers of 1000;
 * B or no suffix is bytes. Case-insensitive; no spaces, no sign, no
 * fraction. Returns GSR_OK, or GSR_EINVAL (malformed or overflowing). */
GSR_EXTERN int gsr_parse_size(const char *text, uint64_t *out);

#ifdef __cplusplus
}
#endif
#endif /* GSREAD_H */
