/* gRPC calls over HTTP/2 (TLS with ALPN h2, or cleartext h2c with prior
 * knowledge) on nghttp2: one
 * connection, one bidirectional stream, driven in the caller's thread with
 * a blocking socket and poll() deadlines. gRPC's length-prefixed message
 * framing, its trailers (grpc-status, grpc-message, grpc-status-details-bin)
 * and the HTTP-to-gRPC status mapping are decoded here, by hand: no gRPC
 * runtime. Messages are opaque bytes; what they mean is the caller's.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_GRPC_H
#define GSR_GRPC_H

#include <stddef.h>
#include <stdint.h>

#include "base/internal.h"

/* gRPC status codes (grpc/grpc doc/statuscodes.md). */
enum {
  GSR__GRPC_OK = 0,
  GSR__GRPC_CANCELLED = 1,
  GSR__GRPC_UNKNOWN = 2,
  GSR__GRPC_INVALID_ARGUMENT = 3,
  GSR__GRPC_DEADLINE_EXCEEDED = 4,
  GSR__GRPC_NOT_FOUND = 5,
  GSR__GRPC_PERMISSION_DENIED = 7,
  GSR__GRPC_RESOURCE_EXHAUSTED = 8,
  GSR__GRPC_FAILED_PRECONDITION = 9,
  GSR__GRPC_ABORTED = 10,
  GSR__GRPC_OUT_OF_RANGE = 11,
  GSR__GRPC_UNIMPLEMENTED = 12,
  GSR__GRPC_INTERNAL = 13,
  GSR__GRPC_UNAVAILABLE = 14,
  GSR__GRPC_DATA_LOSS = 15,
  GSR__GRPC_UNAUTHENTICATED = 16,
};

/* The largest message accepted: a response may carry several 2 MiB
 * chunks plus metadata. */
#define GSR__GRPC_MAX_MESSAGE (64u << 20)

/* How a call ended. */
struct gsr__grpc_status {
  int code;           /* a GSR__GRPC_* code */
  char message[256];  /* grpc-message, percent-decoded, printable only */
  uint8_t *details;   /* grpc-status-details-bin, base64-decoded (owned) */
  size_t details_len; /* (a google.rpc.Status), or NULL, 0 */
};

/* ---- grpc_frame.c: pure parsing (fuzzed: tests/fuzz/fuzz_grpc.c). */
/* One length-prefixed message at p[0..n): returns the bytes it takes
 * (5 + length) and sets *msg_len, or 0 if incomplete, or -1 if it is
 * compressed (we accept no encoding) or longer than max. */
long gsr__grpc_deframe(const uint8_t *p, size_t n, size_t max, size_t *msg_len);
/* The 5-byte prefix of an uncompressed message of len bytes. */
void gsr__grpc_frame_prefix(uint8_t out[5], uint32_t len);
/* grpc-status's value (decimal, no sign): the code, or -1. */
int gsr__grpc_parse_code(const char *v, size_t n);
/* A status for a response without grpc-status, from its HTTP :status
 * (grpc doc/http-grpc-status-mapping.md). */
int gsr__grpc_code_from_http(long http_status);
/* A status for a stream reset by the peer with an HTTP/2 error code. */
int gsr__grpc_code_from_rst(uint32_t h2_error);
/* grpc-message's value percent-decoded into out (NUL-terminated, bytes
 * outside printable ASCII as '?', cut to fit). */
void gsr__grpc_decode_message(const char *v, size_t n, char *out, size_t out_n);
/* A -bin header's value (base64, padded or not; comma-joined entries:
 * the first) into a new buffer: 0 and *out and *out_len, or -1. */
int gsr__grpc_decode_bin(const char *v, size_t n, uint8_t **out,
                         size_t *out_len);
/* "http://HOST:PORT" (or a bare "HOST:PORT"), or "https://HOST[:PORT]"
 * (port 443 by default; *tls 1), into a new *host, *port and *tls. GSR_OK,
 * else GSR_EINVAL (message set). */
int gsr__grpc_parse_endpoint(const char *url, char **host, int *port, int *tls);
/* :authority for host and port: "host:port", "[v6addr]:port". */
void gsr__grpc_authority(const char *host, int port, char *out, size_t n);
/* The gRPC name of a code ("UNAVAILABLE"), for messages. */
const char *gsr__grpc_code_name(int code);

/* ---- grpc.c: a call. */
struct gsr__grpc;

struct gsr__grpc_call_opts {
  const char *host; /* to connect to, and in :authority */
  int port;
  const char *path;           /* :path: "/Package.Service/Method" */
  const char *const *headers; /* name, value, name, value, ..., NULL */
  long connect_timeout_ms;    /* 0: 10000 */
  long stall_timeout_ms;      /* no byte in or out this long: 0: 30000 */
  uint32_t stream_window;     /* HTTP/2 receive window; 0: 16 MiB */
  int tls;                    /* 1: TLS (ALPN h2, peer verified) */
  const char *ca_bundle;      /* with tls: CA file; NULL: the system's */
};

/* Connects and starts the call (headers sent, no message yet). GSR_OK and
 * *out, or GSR_ENETWORK / GSR_ETIMEDOUT / GSR_ETLS / GSR_ENOMEM with a
 * message. */
int gsr__grpc_open(const struct gsr__grpc_call_opts *o, struct gsr__grpc **out);
/* Sends one message (framed here). GSR_OK, or a network status. */
int gsr__grpc_send(struct gsr__grpc *g, const void *msg, size_t len);
/* The next message: 1 and *msg, *len (valid until the next call), or 0 when
 * the call ended (gsr__grpc_end says how; a broken connection or a stall
 * end it as UNAVAILABLE / DEADLINE_EXCEEDED), or 2 when the wake fd became
 * readable first (the caller drains it). */
int gsr__grpc_recv(struct gsr__grpc *g, const uint8_t **msg, size_t *len);
/* An fd whose readability interrupts recv's wait (-1: none). */
void gsr__grpc_set_wake(struct gsr__grpc *g, int fd);
/* How the call ended (valid once recv returned 0). */
const struct gsr__grpc_status *gsr__grpc_end(const struct gsr__grpc *g);
/* Cancels the call if still open (RST_STREAM CANCEL), closes, frees. NULL
 * is a no-op. */
void gsr__grpc_close(struct gsr__grpc *g);

#endif /* GSR_GRPC_H */
