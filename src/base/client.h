/* The client's state: settings, the transport (I/O threads), credentials
 * and the memory budget, shared by every file opened on it. Its fields are
 * read by every layer, so the struct lives at the base; its functions are
 * the api layer's (api/client.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_CLIENT_H
#define GSR_CLIENT_H

#include <stdatomic.h>

#include "base/buf.h"
#include "base/internal.h"

struct gsr__auth;
struct gsr__widths;
struct gsr__transport;

struct gsr_client {
  gsr_client_options opts; /* strings below are owned copies */
  char *endpoint;          /* GCS endpoint, no trailing '/' */
  struct gsr__auth *auth;  /* credentials and the cached token */
  char *user_project;      /* requester pays: percent-encoded, or NULL */
  struct gsr__transport *transport;
  char *ca_bundle;            /* owned copy, or NULL */
  struct gsr__budget *budget; /* prefetch memory, shared by all files */
  struct gsr__widths *widths; /* the widths the engine chose */
  char *plans_file;           /* where they persist (owned), or NULL */
  int default_concurrency;    /* from the environment, else 4 */
  int concurrency_set;        /* ... from the environment: obeyed */
  int default_prefetch;       /* as gsr__file.prefetch, from the env */
  int io_threads;             /* the transport's (gsr__io_threads) */
  int grpc;        /* gs:// over gRPC (the option resolved at creation) */
  char *grpc_host; /* the gRPC endpoint's host (owned), or NULL */
  int grpc_port;
  int grpc_tls;                  /* an https:// endpoint */
  atomic_uint_fast64_t requests; /* counters over all files */
  /* The link as gsr_read_ranges measured it (its cost model, fetch/rplan.h):
   * one connection's bytes/s and first-byte seconds, moving averages;
   * 0 until measured. */
  _Atomic double link_rate, link_ttfb;
  atomic_uint_fast64_t bytes_fetched;
};

#endif /* GSR_CLIENT_H */
