/* One gRPC call on its own h2c connection, nghttp2 in the caller's
 * thread. The request body is a queue of framed messages that nghttp2's
 * data source drains (deferred while empty, so the stream stays open for
 * more); the response body accumulates in a reassembly buffer that
 * gsr__grpc_deframe cuts into messages, since DATA frames and messages
 * have unrelated boundaries.
 *
 * SPDX-License-Identifier: MIT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/grpc.h"

struct gsr__grpc {
  int fd;
  SSL_CTX *ctx; /* TLS (https endpoints), else NULL */
  SSL *ssl;
  nghttp2_session *h2;
  int32_t stream_id;
  long stall_ms;
  int wake_fd;   /* readable: recv returns 2 (-1: none) */
  short want_ev; /* what the next read waits for (TLS may want POLLOUT) */
  /* request side: framed messages not yet taken by nghttp2 */
  uint8_t *out;
  size_t out_len, out_off, out_cap;
  int out_deferred;
  /* response side */
  uint8_t *in;
  size_t in_len, in_off, in_cap;
  long http_status;
  int has_grpc_status;
  int closed;        /* the stream closed (trailers or reset) */
  int conn_dead;     /* the connection failed: no more bytes either way */
  uint32_t rst_code; /* on_stream_close's error code */
  int ended;         /* end computed */
  int overflow;      /* a message too big, or compressed */
  struct gsr__grpc_status st;
  char conn_why[128];
};

static int grow(uint8_t **buf, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap : 65536;
  while (n < need) n *= 2;
  uint8_t *b = gsr__realloc(*buf, n);
  if (b == NULL) return -1;
  *buf = b;
  *cap = n;
  return 0;
}

/* ---- nghttp2 callbacks */

static ssize_t body_read(nghttp2_session *s, int32_t id, uint8_t *buf,
                         size_t len, uint32_t *flags, nghttp2_data_source *src,
                         void *user) {
  struct gsr__grpc *g = user;
  size_t avail = g->out_len - g->out_off;
  if (avail == 0) {
    g->out_deferred = 1;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (len > avail) len = avail;
  memcpy(buf, g->out + g->out_off, len);
  g->out_off += len;
  if (g->out_off == g->out_len) g->out_off = g->out_len = 0;
  return (ssize_t)len;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame,
                     const uint8_t *name, size_t namelen, const uint8_t *value,
                     size_t valuelen, uint8_t flags, void *user) {
  struct gsr__grpc *g = user;
  if (frame->hd.stream_id != g->stream_id) return 0;
  const char *n = (const char *)name, *v = (const char *)value;
  if (namelen == 7 && memcmp(n, ":status", 7) == 0) {
    long st = 0;
    for (size_t i = 0; i < valuelen && i < 3; i++)
      st = st * 10 + (v[i] >= '0' && v[i] <= '9' ? v[i] - '0' : 0);
    g->http_status = st;
  } else if (namelen == 11 && memcmp(n, "grpc-status", 11) == 0) {
    int code = gsr__grpc_parse_code(v, valuelen);
    g->st.code = code < 0 ? GSR__GRPC_UNKNOWN : code;
    g->has_grpc_status = 1;
  } else if (namelen == 12 && memcmp(n, "grpc-message", 12) == 0) {
    gsr__grpc_decode_message(v, valuelen, g->st.message, sizeof(g->st.message));
  } else if (namelen == 23 && memcmp(n, "grpc-status-details-bin", 23) == 0) {
    gsr__free(g->st.details);
    g->st.details = NULL;
    g->st.details_len = 0;
    if (gsr__grpc_decode_bin(v, valuelen, &g->st.details, &g->st.details_len) !=
        0)
      g->st.details = NULL;
  }
  return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id,
                   const uint8_t *data, size_t len, void *user) {
  struct gsr__grpc *g = user;
  if (id != g->stream_id) return 0;
  if (g->in_off > 0 && g->in_off == g->in_len) g->in_off = g->in_len = 0;
  if (grow(&g->in, &g->in_cap, g->in_len + len) != 0)
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  memcpy(g->in + g->in_len, data, len);
  g->in_len += len;
  return 0;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t code, void *user) {
  struct gsr__grpc *g = user;
  if (id == g->stream_id) {
    g->closed = 1;
    g->rst_code = code;
  }
  return 0;
}

static void conn_fail(struct gsr__grpc *g, const char *why) {
  if (!g->conn_dead) snprintf(g->conn_why, sizeof(g->conn_why), "%s", why);
  g->conn_dead = 1;
}

/* ---- socket I/O */

/* Waits for ev on the socket within the stall deadline: 1 ready, 0 timed
 * out, -1 error. */
static int wait_fd(struct gsr__grpc *g, short ev) {
  struct pollfd p = {.fd = g->fd, .events = ev};
  for (;;) {
    int r = poll(&p, 1, (int)g->stall_ms);
    if (r < 0 && errno == EINTR) continue;
    return r < 0 ? -1 : r;
  }
}

/* The socket's I/O, through TLS when the call has it: bytes moved, 0 for
 * a closed connection, -1 for an error, -2 when it must wait for *ev. */
static ssize_t io_tls(struct gsr__grpc *g, int r, short *ev) {
  if (r > 0) return r;
  switch (SSL_get_error(g->ssl, r)) {
  case SSL_ERROR_WANT_READ:
    *ev = POLLIN;
    return -2;
  case SSL_ERROR_WANT_WRITE:
    *ev = POLLOUT;
    return -2;
  case SSL_ERROR_ZERO_RETURN:
    return 0;
  default:
    return -1;
  }
}

static ssize_t io_send(struct gsr__grpc *g, const uint8_t *p, size_t n,
                       short *ev) {
  if (g->ssl != NULL) {
    ERR_clear_error();
    return io_tls(g, SSL_write(g->ssl, p, (int)GSR__MIN(n, INT32_MAX)), ev);
  }
  ssize_t w = send(g->fd, p, n, MSG_NOSIGNAL);
  if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    *ev = POLLOUT;
    return -2;
  }
  return w < 0 ? -1 : w;
}

static ssize_t io_recv(struct gsr__grpc *g, uint8_t *p, size_t n, short *ev) {
  if (g->ssl != NULL) {
    ERR_clear_error();
    return io_tls(g, SSL_read(g->ssl, p, (int)GSR__MIN(n, INT32_MAX)), ev);
  }
  ssize_t r = recv(g->fd, p, n, 0);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    *ev = POLLIN;
    return -2;
  }
  return r < 0 ? -1 : r;
}

/* Hands nghttp2's pending output to the socket. */
static int flush(struct gsr__grpc *g) {
  while (!g->conn_dead && nghttp2_session_want_write(g->h2)) {
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(g->h2, &data);
    if (n < 0) {
      conn_fail(g, nghttp2_strerror((int)n));
      return -1;
    }
    if (n == 0) break;
    size_t off = 0;
    while (off < (size_t)n) {
      short ev = 0;
      ssize_t w = io_send(g, data + off, (size_t)n - off, &ev);
      if (w == -2) {
        int r = wait_fd(g, ev);
        if (r <= 0) {
          conn_fail(g, r == 0 ? "stalled sending" : "poll failed");
          return -1;
        }
        continue;
      }
      if (w <= 0) {
        conn_fail(g, "connection lost while sending");
        return -1;
      }
      off += (size_t)w;
    }
  }
  return g->conn_dead ? -1 : 0;
}

/* Reads what the socket has (waiting up to the stall deadline) into
 * nghttp2, then flushes its answers (window updates, pings). */
static int pump(struct gsr__grpc *g) {
  uint8_t buf[65536];
  /* bytes TLS already decrypted are not the socket's to announce */
  if (g->ssl == NULL || SSL_pending(g->ssl) == 0) {
    struct pollfd p[2] = {{.fd = g->fd, .events = g->want_ev},
                          {.fd = g->wake_fd, .events = POLLIN}};
    int r;
    while ((r = poll(p, g->wake_fd >= 0 ? 2 : 1, (int)g->stall_ms)) < 0 &&
           errno == EINTR) {
    }
    if (r <= 0) {
      conn_fail(g, r == 0 ? "stalled: no data within the stall timeout"
                          : "poll failed");
      return -1;
    }
    if (!(p[0].revents & (g->want_ev | POLLHUP | POLLERR)))
      return 2; /* woken */
  }
  short ev = POLLIN;
  ssize_t n = io_recv(g, buf, sizeof(buf), &ev);
  g->want_ev = n == -2 ? ev : POLLIN;
  if (n == -2) return 0;
  if (n <= 0) {
    conn_fail(g, "connection closed by the server");
    return -1;
  }
  ssize_t used = nghttp2_session_mem_recv(g->h2, buf, (size_t)n);
  if (used < 0) {
    conn_fail(g, "HTTP/2 protocol error");
    return -1;
  }
  return flush(g);
}

static int connect_to(const struct gsr__grpc_call_opts *o, long timeout_ms,
                      int *out_fd) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res = NULL;
  char port[16];
  snprintf(port, sizeof(port), "%d", o->port);
  if (getaddrinfo(o->host, port, &hints, &res) != 0 || res == NULL)
    return gsr__err(GSR_ENETWORK, "gRPC: cannot resolve %s", o->host);
  int status = GSR_ENETWORK, fd = -1;
  for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      int err = 0;
      socklen_t len = sizeof(err);
      int r;
      while ((r = poll(&p, 1, (int)timeout_ms)) < 0 && errno == EINTR) {
      }
      if (r == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
          err == 0) {
        status = GSR_OK;
        break;
      }
      if (r == 0) status = GSR_ETIMEDOUT;
    }
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (status != GSR_OK)
    return gsr__err(status, "gRPC: cannot connect to %s:%d%s", o->host, o->port,
                    status == GSR_ETIMEDOUT ? " (timed out)" : "");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  *out_fd = fd;
  return GSR_OK;
}

/* TLS over the connected socket: the system's CAs or ca_bundle, the
 * host's name (or IP) checked, ALPN h2 required. */
static int start_tls(struct gsr__grpc *g, const struct gsr__grpc_call_opts *o,
                     long timeout_ms) {
  static const unsigned char alpn[] = "\x02h2";
  struct in6_addr a6;
  struct in_addr a4;
  int ip = inet_pton(AF_INET, o->host, &a4) == 1 ||
           inet_pton(AF_INET6, o->host, &a6) == 1;
  if ((g->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
      SSL_CTX_set_min_proto_version(g->ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_alpn_protos(g->ctx, alpn, sizeof(alpn) - 1) != 0)
    return gsr__err(GSR_ETLS, "gRPC: cannot set up TLS");
  SSL_CTX_set_verify(g->ctx, SSL_VERIFY_PEER, NULL);
  if ((o->ca_bundle ? SSL_CTX_load_verify_locations(g->ctx, o->ca_bundle, NULL)
                    : SSL_CTX_set_default_verify_paths(g->ctx)) != 1)
    return gsr__err(GSR_ETLS, "gRPC: cannot load the CA bundle %s",
                    o->ca_bundle ? o->ca_bundle : "(system)");
  if ((g->ssl = SSL_new(g->ctx)) == NULL || SSL_set_fd(g->ssl, g->fd) != 1 ||
      (ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(g->ssl), o->host)
          : SSL_set1_host(g->ssl, o->host) &&
                SSL_set_tlsext_host_name(g->ssl, o->host)) != 1)
    return gsr__err(GSR_ETLS, "gRPC: cannot set up TLS for %s", o->host);
  for (;;) {
    ERR_clear_error();
    int r = SSL_connect(g->ssl);
    if (r == 1) break;
    int e = SSL_get_error(g->ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      long v = SSL_get_verify_result(g->ssl);
      const char *why = v != X509_V_OK
                            ? X509_verify_cert_error_string(v)
                            : ERR_reason_error_string(ERR_get_error());
      return gsr__err(GSR_ETLS, "gRPC: TLS handshake with %s:%d failed: %s",
                      o->host, o->port, why ? why : "connection closed");
    }
    struct pollfd p = {.fd = g->fd,
                       .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
    int pr;
    while ((pr = poll(&p, 1, (int)timeout_ms)) < 0 && errno == EINTR) {
    }
    if (pr <= 0)
      return gsr__err(GSR_ETIMEDOUT, "gRPC: TLS handshake with %s:%d timed out",
                      o->host, o->port);
  }
  const unsigned char *proto;
  unsigned len;
  SSL_get0_alpn_selected(g->ssl, &proto, &len);
  if (len != 2 || memcmp(proto, "h2", 2) != 0)
    return gsr__err(GSR_ETLS, "gRPC: %s:%d did not agree to HTTP/2 (ALPN)",
                    o->host, o->port);
  return GSR_OK;
}

static int start_session(struct gsr__grpc *g,
                         const struct gsr__grpc_call_opts *o) {
  nghttp2_session_callbacks *cb;
  if (nghttp2_session_callbacks_new(&cb) != 0) return -1;
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
  int r = nghttp2_session_client_new(&g->h2, cb, g);
  nghttp2_session_callbacks_del(cb);
  if (r != 0) return -1;
  uint32_t win = o->stream_window ? o->stream_window : 16u << 20;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, win},
  };
  if (nghttp2_submit_settings(g->h2, NGHTTP2_FLAG_NONE, iv, 2) != 0 ||
      nghttp2_session_set_local_window_size(g->h2, NGHTTP2_FLAG_NONE, 0,
                                            (int32_t)win * 2) != 0)
    return -1;
  /* headers: the pseudo-headers first, then gRPC's, then the caller's */
  char authority[300];
  gsr__grpc_authority(o->host, o->port, authority, sizeof(authority));
  nghttp2_nv nv[32];
  size_t k = 0;
#define NV(n, v)                                                               \
  nv[k++] = (nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), \
                         NGHTTP2_NV_FLAG_NONE}
  NV(":method", "POST");
  NV(":scheme", o->tls ? "https" : "http");
  NV(":path", o->path);
  NV(":authority", authority);
  NV("content-type", "application/grpc");
  NV("te", "trailers");
  for (size_t i = 0; o->headers && o->headers[i] && o->headers[i + 1] &&
                     k < sizeof(nv) / sizeof(nv[0]);
       i += 2)
    NV(o->headers[i], o->headers[i + 1]);
#undef NV
  nghttp2_data_provider dp = {.read_callback = body_read};
  g->stream_id = nghttp2_submit_request(g->h2, NULL, nv, k, &dp, g);
  return g->stream_id < 0 ? -1 : 0;
}

int gsr__grpc_open(const struct gsr__grpc_call_opts *o,
                   struct gsr__grpc **out) {
  *out = NULL;
  struct gsr__grpc *g = gsr__calloc(1, sizeof(*g));
  if (g == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  g->fd = g->wake_fd = -1;
  g->stall_ms = o->stall_timeout_ms > 0 ? o->stall_timeout_ms : 30000;
  g->want_ev = POLLIN;
  long cto = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000;
  int status = connect_to(o, cto, &g->fd);
  if (status == GSR_OK && o->tls) status = start_tls(g, o, cto);
  if (status == GSR_OK && start_session(g, o) != 0)
    status = gsr__err(GSR_ENOMEM, "gRPC: cannot start an HTTP/2 session");
  if (status == GSR_OK && flush(g) != 0)
    status = gsr__err(GSR_ENETWORK, "gRPC %s:%d: %s", o->host, o->port,
                      g->conn_why);
  if (status != GSR_OK) {
    gsr__grpc_close(g);
    return status;
  }
  *out = g;
  return GSR_OK;
}

int gsr__grpc_send(struct gsr__grpc *g, const void *msg, size_t len) {
  if (g->conn_dead || g->closed)
    return gsr__err(GSR_ENETWORK, "gRPC: the call has ended");
  if (len > UINT32_MAX) return gsr__err(GSR_EINVAL, "gRPC: message too big");
  if (grow(&g->out, &g->out_cap, g->out_len + 5 + len) != 0)
    return gsr__err(GSR_ENOMEM, "out of memory");
  gsr__grpc_frame_prefix(g->out + g->out_len, (uint32_t)len);
  if (len > 0) memcpy(g->out + g->out_len + 5, msg, len);
  g->out_len += 5 + len;
  if (g->out_deferred) {
    g->out_deferred = 0;
    nghttp2_session_resume_data(g->h2, g->stream_id);
  }
  if (flush(g) != 0) return gsr__err(GSR_ENETWORK, "gRPC: %s", g->conn_why);
  return GSR_OK;
}

/* How the call ended, from what arrived (once). */
static void settle(struct gsr__grpc *g) {
  if (g->ended) return;
  g->ended = 1;
  if (g->overflow) {
    g->st.code = GSR__GRPC_INTERNAL;
    snprintf(g->st.message, sizeof(g->st.message),
             "a compressed or oversized message");
  } else if (g->has_grpc_status) {
    /* trailers came: they say how it ended */
  } else if (g->closed && g->rst_code != 0) {
    g->st.code = gsr__grpc_code_from_rst(g->rst_code);
    snprintf(g->st.message, sizeof(g->st.message),
             "stream reset (HTTP/2 error %u)", (unsigned)g->rst_code);
  } else if (g->http_status != 0 && g->http_status != 200) {
    g->st.code = gsr__grpc_code_from_http(g->http_status);
    snprintf(g->st.message, sizeof(g->st.message), "HTTP status %ld",
             g->http_status);
  } else if (g->conn_dead) {
    g->st.code = strstr(g->conn_why, "stalled") ? GSR__GRPC_DEADLINE_EXCEEDED
                                                : GSR__GRPC_UNAVAILABLE;
    snprintf(g->st.message, sizeof(g->st.message), "%s", g->conn_why);
  } else {
    g->st.code = GSR__GRPC_INTERNAL;
    snprintf(g->st.message, sizeof(g->st.message),
             "stream ended without grpc-status");
  }
}

int gsr__grpc_recv(struct gsr__grpc *g, const uint8_t **msg, size_t *len) {
  for (;;) {
    if (!g->overflow) {
      size_t ml;
      long took = gsr__grpc_deframe(g->in + g->in_off, g->in_len - g->in_off,
                                    GSR__GRPC_MAX_MESSAGE, &ml);
      if (took > 0) {
        *msg = g->in + g->in_off + 5;
        *len = ml;
        g->in_off += (size_t)took;
        return 1;
      }
      if (took < 0) g->overflow = 1;
    }
    if (g->overflow || g->closed || g->conn_dead) {
      settle(g);
      return 0;
    }
    /* keep the partial message at the front before more arrive */
    if (g->in_off > 0) {
      memmove(g->in, g->in + g->in_off, g->in_len - g->in_off);
      g->in_len -= g->in_off;
      g->in_off = 0;
    }
    if (pump(g) == 2) return 2;
  }
}

void gsr__grpc_set_wake(struct gsr__grpc *g, int fd) { g->wake_fd = fd; }

const struct gsr__grpc_status *gsr__grpc_end(const struct gsr__grpc *g) {
  return &g->st;
}

void gsr__grpc_close(struct gsr__grpc *g) {
  if (g == NULL) return;
  if (g->h2 != NULL) {
    if (!g->closed && !g->conn_dead && g->stream_id > 0) {
      nghttp2_submit_rst_stream(g->h2, NGHTTP2_FLAG_NONE, g->stream_id,
                                NGHTTP2_CANCEL);
      flush(g);
    }
    nghttp2_session_del(g->h2);
  }
  if (g->ssl != NULL) SSL_free(g->ssl);
  if (g->ctx != NULL) SSL_CTX_free(g->ctx);
  if (g->fd >= 0) close(g->fd);
  gsr__free(g->out);
  gsr__free(g->in);
  gsr__free(g->st.details);
  gsr__free(g);
}
