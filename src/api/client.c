/* The client: validated settings, the GCS endpoint, and the transport that
 * owns the I/O threads.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "backend/backend.h"
#include "base/client.h"
#include "read/file.h"
#include "read/prefetch/prefetch.h"
#include "transport/grpc.h"
#include "transport/transport.h"

#define DEFAULT_ENDPOINT "https://storage.googleapis.com"
#define DEFAULT_GRPC_ENDPOINT "https://storage.googleapis.com"
#define DEFAULT_BUDGET (256ull * 1024 * 1024)
/* memory_budget as given: 0 is the default. */
static uint64_t budget_of(uint64_t bytes) {
  return bytes ? bytes : DEFAULT_BUDGET;
}

void gsr_client_options_init(gsr_client_options *o) {
  if (o == NULL) return;
  memset(o, 0, sizeof(*o));
  o->connect_timeout_ms = 10000;
  o->stall_timeout_ms = 30000;
  o->request_timeout_ms = 0;
  /* As many as a vectored read over hundreds of spans keeps busy: 16
   * paid a first-byte wait per 16 spans (aiohttp, under gcsfs, allows
   * 100). Idle ones cost nothing; every width is chosen below it. */
  o->max_connections = 64;
  o->retry_initial_ms = 250;
  o->retry_multiplier = 2.0;
  o->retry_max_delay_ms = 16000;
  o->retry_max_attempts = 8;
  o->retry_deadline_ms = 120000;
  o->max_redirects = 5; /* like curl -L, but a short chain */
}

static int has_http_scheme(const char *s) {
  return strncasecmp(s, "http://", 7) == 0 ||
         strncasecmp(s, "https://", 8) == 0;
}

/* The endpoint from the option, $STORAGE_EMULATOR_HOST or the default,
 * without trailing slashes. A bare host:port gets http:// (as Google's
 * clients treat the variable). *emulator: 1 if it came from the variable. */
static int resolve_endpoint(const char *opt, char **out, int *emulator) {
  const char *src = opt, *what = "endpoint option";
  const char *env = getenv("STORAGE_EMULATOR_HOST");
  if (src == NULL && env != NULL && env[0] != '\0') {
    src = env;
    what = "STORAGE_EMULATOR_HOST";
  }
  *emulator = src != NULL && src == env;
  if (src == NULL) src = DEFAULT_ENDPOINT;
  size_t n = strlen(src) + 8;
  char *e = gsr__malloc(n);
  if (e == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  snprintf(e, n, "%s%s", has_http_scheme(src) ? "" : "http://", src);
  size_t len = strlen(e);
  while (len > 0 && e[len - 1] == '/') e[--len] = '\0';
  if (src != env && !has_http_scheme(src)) {
    gsr__free(e);
    return gsr__err(GSR_EINVAL, "%s '%s' must start with http:// or https://",
                    what, src);
  }
  if (strlen(e) <= 8 || strpbrk(e, " \r\n\t?#") != NULL) {
    gsr__free(e);
    return gsr__err(GSR_EINVAL, "%s '%s' is not a valid URL", what, src);
  }
  *out = e;
  return GSR_OK;
}

static int check_options(const gsr_client_options *o) {
  if (o->connect_timeout_ms < 0 || o->stall_timeout_ms < 0 ||
      o->request_timeout_ms < 0)
    return gsr__err(GSR_EINVAL, "timeouts must not be negative");
  if (o->max_connections < 1 || o->max_connections > 1024)
    return gsr__err(GSR_EINVAL, "max_connections must be 1 to 1024, not %d",
                    o->max_connections);
  if (o->retry_initial_ms < 0 || o->retry_max_delay_ms < 0 ||
      o->retry_deadline_ms < 0 || !(o->retry_multiplier >= 1.0) ||
      o->retry_multiplier > 100.0 || o->retry_max_attempts < 1 ||
      o->retry_max_attempts > 100)
    return gsr__err(GSR_EINVAL, "bad retry options (delays >= 0, multiplier "
                                "1 to 100, attempts 1 to 100)");
  if (o->io_threads < 0 || o->io_threads > 256)
    return gsr__err(GSR_EINVAL, "io_threads must be 0 (auto) to 256, not %d",
                    o->io_threads);
  if (o->max_redirects < 0 || o->max_redirects > GSR__MAX_REDIRECTS)
    return gsr__err(GSR_EINVAL, "max_redirects must be 0 to %d, not %d",
                    GSR__MAX_REDIRECTS, o->max_redirects);
  if (o->access_token != NULL && strpbrk(o->access_token, "\r\n") != NULL)
    return gsr__err(GSR_EINVAL, "access token contains a line break");
  if (o->prefetch != NULL && gsr__prefetch_mode(o->prefetch) < 0)
    return gsr__err(GSR_EINVAL,
                    "prefetch must be 'off', 'adaptive' or "
                    "'sequential', not '%s'",
                    o->prefetch);
  if (o->user_project != NULL &&
      (o->user_project[0] == '\0' || strlen(o->user_project) > 100))
    return gsr__err(GSR_EINVAL, "user_project must be 1 to 100 characters");
  return GSR_OK;
}

/* An integer from the environment in [lo, hi], or -1. */
static int env_int(const char *name, int lo, int hi) {
  const char *v = getenv(name);
  uint64_t x;
  if (v == NULL || gsr__parse_u64(v, strlen(v), &x) != 0 || x < (uint64_t)lo ||
      x > (uint64_t)hi)
    return -1;
  return (int)x;
}

/* The CPUs this process may run on (0 if unknown: no bound). */
static int usable_cpus(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
  return CPU_COUNT(&set);
}

/* The options first, then gsread's own variables, then gcsfs's, for users
 * coming from it.
 * Like gcsfs, an unparsable value falls back to the default. */
static void read_environment(gsr_client *c) {
  int n = env_int("GSREAD_CONCURRENCY", 1, 256);
  if (n < 0) n = env_int("DEFAULT_GCSFS_CONCURRENCY", 1, 256);
  c->default_concurrency = n > 0 ? n : 4;
  c->concurrency_set = n > 0;
  c->default_prefetch = gsr__prefetch_default(
      c->opts.prefetch, getenv("GSREAD_PREFETCH"),
      getenv("USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING"));
  /* The one place GSREAD_IO_THREADS is read: the option, if set, wins. */
  int threads = c->opts.io_threads;
  if (threads == 0) threads = GSR__MAX(env_int("GSREAD_IO_THREADS", 1, 256), 0);
  c->io_threads = gsr__io_threads(threads, usable_cpus(),
                                  c->opts.max_connections);
}

/* The gRPC endpoint (option, else $STORAGE_GRPC_ENDPOINT, else Google's)
 * and whether every gs:// read goes over it (the option's 1); with 0,
 * objects whose JSON metadata says zonal do (backend/gcs.c); with -1, none
 * does. */
static int resolve_grpc(gsr_client *c, const gsr_client_options *o) {
  const char *src = o->grpc_endpoint ? o->grpc_endpoint
                                     : getenv("STORAGE_GRPC_ENDPOINT");
  if (o->grpc < -1 || o->grpc > 1)
    return gsr__err(GSR_EINVAL, "grpc must be -1, 0 or 1, not %d", o->grpc);
  c->grpc = o->grpc == 1;
  if (o->grpc == -1) return GSR_OK;
  return gsr__grpc_parse_endpoint(
      src != NULL && src[0] != '\0' ? src : DEFAULT_GRPC_ENDPOINT,
      &c->grpc_host, &c->grpc_port, &c->grpc_tls);
}

/* The I/O threads' housekeeping, about once a second: an idle pool gives
 * its memory back. */
static void client_tick(void *arg) {
  gsr_client *c = arg;
  gsr__budget_idle(c->budget, gsr__now_ns());
}

static void client_destroy(gsr_client *c) {
  gsr__free(c->grpc_host);
  gsr__transport_free(c->transport);
  gsr__budget_unref(c->budget);
  gsr__widths_free(c->widths);
  gsr__free(c->endpoint);
  gsr__auth_free(c->auth);
  gsr__free(c->user_project);
  gsr__free(c->ca_bundle);
  gsr__free(c->plans_file);
  gsr__free((char *)c->opts.user_agent);
  gsr__free(c);
}

int gsr_client_new(const gsr_client_options *opts, gsr_client **out) {
  gsr_client_options defaults;
  int status;
  if (out == NULL) return gsr__err(GSR_EINVAL, "gsr_client_new: out is NULL");
  *out = NULL;
  if (opts == NULL) {
    gsr_client_options_init(&defaults);
    opts = &defaults;
  }
  if ((status = check_options(opts)) != GSR_OK) return status;
  gsr_client *c = gsr__calloc(1, sizeof(*c));
  if (c == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  c->opts = *opts;
  c->opts.endpoint = c->opts.ca_bundle = c->opts.access_token = NULL;
  c->opts.user_project = c->opts.plans_file = c->opts.credentials_file = NULL;
  c->opts.user_agent = gsr__strdup(
      opts->user_agent ? opts->user_agent : "gsread/" GSR_VERSION_STRING);
  if (c->opts.user_agent == NULL) {
    status = gsr__err(GSR_ENOMEM, "out of memory");
    goto fail;
  }
  int emulator = 0;
  if ((status = resolve_endpoint(opts->endpoint, &c->endpoint, &emulator)) !=
      GSR_OK)
    goto fail;
  if ((status = resolve_grpc(c, opts)) != GSR_OK) goto fail;
  c->opts.grpc_endpoint = NULL;
  read_environment(c);
  c->opts.prefetch = NULL; /* the caller's string: resolved just above */
  c->budget = gsr__budget_new(budget_of(opts->memory_budget));
  if (c->budget == NULL) {
    status = gsr__err(GSR_ENOMEM, "out of memory");
    goto fail;
  }
  if ((c->widths = gsr__widths_new()) == NULL) {
    status = gsr__err(GSR_ENOMEM, "out of memory");
    goto fail;
  }
  if (opts->user_project != NULL &&
      (c->user_project = gsr__percent_encode(
           opts->user_project, strlen(opts->user_project))) == NULL) {
    status = gsr__err(GSR_ENOMEM, "out of memory");
    goto fail;
  }
  struct gsr__auth_config acfg = {
      .access_token = opts->access_token,
      .anonymous = opts->anonymous,
      .credentials_file = opts->credentials_file,
      .emulator = emulator,
      .ca_bundle = opts->ca_bundle,
      .user_agent = c->opts.user_agent,
      .connect_timeout_ms = opts->connect_timeout_ms,
      .trace = opts->trace,
      .trace_arg = opts->trace_arg,
  };
  if ((status = gsr__auth_new(&acfg, &c->auth)) != GSR_OK) goto fail;
  if (opts->ca_bundle != NULL &&
      (c->ca_bundle = gsr__strdup(opts->ca_bundle)) == NULL) {
    status = gsr__err(GSR_ENOMEM, "out of memory");
    goto fail;
  }
  struct gsr__transport_config tcfg = {
      .user_agent = c->opts.user_agent,
      .ca_bundle = c->ca_bundle,
      .connect_timeout_ms = opts->connect_timeout_ms,
      .stall_timeout_ms = opts->stall_timeout_ms,
      .request_timeout_ms = opts->request_timeout_ms,
      .max_connections = opts->max_connections,
      .io_threads = c->io_threads,
      .retry = {.initial_ms = opts->retry_initial_ms,
                .multiplier = opts->retry_multiplier,
                .max_delay_ms = opts->retry_max_delay_ms,
                .max_attempts = opts->retry_max_attempts,
                .deadline_ms = opts->retry_deadline_ms},
      .trace = opts->trace,
      .trace_arg = opts->trace_arg,
      .tick = client_tick,
      .tick_arg = c,
  };
  if ((status = gsr__transport_new(&tcfg, &c->transport)) != GSR_OK) goto fail;
  if (opts->plans_file != NULL && opts->plans_file[0] != '\0') {
    if ((c->plans_file = gsr__strdup(opts->plans_file)) == NULL) {
      status = gsr__err(GSR_ENOMEM, "out of memory");
      goto fail;
    }
    /* A cache: a file that cannot be read costs a probe, not the client. */
    int n = gsr__widths_load(c->widths, c->plans_file);
    if (n < 0)
      GSR__TRACE(c, "plans: cannot read %s: ignored", c->plans_file);
    else if (n > 0)
      GSR__TRACE(c, "plans: %d from %s", n, c->plans_file);
  }
  *out = c;
  return GSR_OK;
fail:
  client_destroy(c);
  return status;
}

void gsr_client_free(gsr_client *c) {
  struct gsr__file *f;
  if (c == NULL) return;
  while ((f = gsr__handle_remove_any(c)) != NULL) {
    gsr__file_shutdown(f);
    gsr__file_unref(f);
  }
  if (c->plans_file != NULL && gsr__widths_save(c->widths, c->plans_file) < 0)
    GSR__TRACE(c, "plans: cannot write %s: %s", c->plans_file,
               gsr__errno_text(errno));
  client_destroy(c);
  gsr__handle_trim();
}

int gsr_client_auth_info(gsr_client *c, gsr_auth_info *out) {
  if (c == NULL || out == NULL)
    return gsr__err(GSR_EINVAL, "gsr_client_auth_info: NULL argument");
  return gsr__auth_info(c->auth, out);
}

int gsr_client_set_memory_budget(gsr_client *c, uint64_t bytes) {
  if (c == NULL)
    return gsr__err(GSR_EINVAL, "gsr_client_set_memory_budget: NULL client");
  uint64_t limit = budget_of(bytes);
  uint64_t given = gsr__budget_set_limit(c->budget, limit);
  GSR__TRACE(c, "client: memory budget %llu bytes, %llu pooled given back",
             (unsigned long long)limit, (unsigned long long)given);
  return GSR_OK;
}

int gsr_client_stats_get(gsr_client *c, gsr_client_stats *out) {
  if (c == NULL || out == NULL)
    return gsr__err(GSR_EINVAL, "gsr_client_stats_get: NULL argument");
  out->requests = atomic_load(&c->requests);
  out->bytes_fetched = atomic_load(&c->bytes_fetched);
  out->buffered = atomic_load(&c->budget->used);
  out->peak_buffered = atomic_load(&c->budget->peak);
  out->budget = atomic_load(&c->budget->limit);
  out->pooled = atomic_load(&c->budget->pooled);
  out->pool_hits = atomic_load(&c->budget->hits);
  out->pool_misses = atomic_load(&c->budget->misses);
  struct gsr__transport_stats ts;
  gsr__transport_stats_get(c->transport, &ts);
  out->retries = ts.retries;
  out->resumes = ts.resumes;
  out->io_threads = gsr__transport_threads(c->transport);
  return GSR_OK;
}
