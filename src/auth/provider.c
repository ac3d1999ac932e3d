/* The credentials chain and the per-client token cache.
 *
 * Order (Google's Application Default Credentials, plus gsread's options):
 *   1. client option access_token, or option anonymous
 *   2. $GSREAD_ACCESS_TOKEN (a fixed token, never refreshed)
 *   3. $GOOGLE_APPLICATION_CREDENTIALS: service-account key or
 *      authorized_user file (a bad or missing file is an error: the user
 *      asked for it)
 *   4. gcloud's ADC file: $CLOUDSDK_CONFIG/application_default_credentials.json
 *      or ~/.config/gcloud/application_default_credentials.json
 *   5. the GCE metadata server ($GCE_METADATA_HOST, or
 *      metadata.google.internal when the machine looks like GCE), probed
 *      once per client with a short timeout, at the first gs:// request
 *   6. anonymous
 * $GSREAD_TOKEN_URI overrides the token endpoint of steps 3 and 4.
 *
 * Refresh: a token is refreshed when less than min(5 min, 10% of its
 * lifetime) remains. One thread refreshes; the others keep sending the old
 * token while it is still valid, and wait only when there is none.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"

#define METADATA_HOST "metadata.google.internal"
#define METADATA_PATH \
  "/computeMetadata/v1/instance/service-accounts/default/token"
#define PROBE_TIMEOUT_MS 500
#define FETCH_TIMEOUT_MS 30000
#define MAX_MARGIN_S 300
#define DEFAULT_LIFETIME_S 3600
/* A token is trusted for at most a day, whatever its expires_in says: a
 * huge value (1e17, 2^63-1) must not overflow the milliseconds below. */
#define MAX_LIFETIME_S (24L * 3600)

struct gsr__auth {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  enum gsr__auth_kind kind;
  const char *source;      /* static string: where the credentials came from */
  struct gsr__creds creds; /* for SERVICE_ACCOUNT and USER */
  char *metadata_host;     /* for METADATA / UNRESOLVED: host[:port] */
  char *token_uri;         /* effective endpoint (override applied) */
  struct gsr__http_opts http;
  char *ua; /* owned copy of the user agent */
  char *ca; /* owned copy of the CA bundle path */
  void (*trace)(void *arg, const char *line);
  void *trace_arg;

  /* The cached token, guarded by mu. */
  char *header;               /* "Authorization: Bearer ..." or NULL */
  uint64_t gen;               /* bumped on every new token */
  int64_t expires_at;         /* wall clock, ms; 0: unknown/never */
  int64_t refresh_at;         /* refresh from here on (ms) */
  int refreshing;             /* a thread is obtaining one */
  uint64_t failures;          /* refreshes that failed */
  struct gsr__error last_err; /* the last one's message, for its waiters */
};

static void trace(struct gsr__auth *a, const char *fmt, ...) GSR__PRINTF(2, 3);
static void trace(struct gsr__auth *a, const char *fmt, ...) {
  if (a->trace == NULL) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  a->trace(a->trace_arg, line);
}

/* Wall clock in ms: token lifetimes are wall-clock times. */
static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
static int64_t wall_now(void) { return wall_ms() / 1000; }

static int set_static(struct gsr__auth *a, const char *token,
                      const char *source) {
  if (strpbrk(token, "\r\n") != NULL)
    return gsr__err(GSR_EINVAL, "%s: access token contains a line break",
                    source);
  size_t n = strlen(token) + 32;
  if ((a->header = gsr__malloc(n)) == NULL)
    return gsr__err(GSR_ENOMEM, "out of memory");
  snprintf(a->header, n, "Authorization: Bearer %s", token);
  a->kind = GSR__AUTH_STATIC;
  a->source = source;
  a->gen = 1;
  return GSR_OK;
}

static int use_file(struct gsr__auth *a, const char *path, const char *source) {
  int status = gsr__creds_load(path, &a->creds);
  if (status != GSR_OK) return status;
  const char *uri = getenv("GSREAD_TOKEN_URI");
  if (uri == NULL || uri[0] == '\0') uri = a->creds.token_uri;
  if ((a->token_uri = gsr__strdup(uri)) == NULL)
    return gsr__err(GSR_ENOMEM, "out of memory");
  a->kind = a->creds.kind;
  a->source = source;
  return GSR_OK;
}

/* True on Google Compute Engine (and GKE, Cloud Run...): the DMI product
 * name says so. Checked before probing metadata.google.internal so that
 * clients elsewhere do not pay a DNS lookup and a timeout. */
static int looks_like_gce(void) {
  char buf[128] = "";
  FILE *fp = gsr__fopen_read("/sys/class/dmi/id/product_name");
  if (fp == NULL) return 0;
  size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
  fclose(fp);
  buf[n] = '\0';
  return strstr(buf, "Google") != NULL;
}

static int resolve(struct gsr__auth *a, const struct gsr__auth_config *cfg) {
  const char *v;
  if (cfg->access_token != NULL)
    return set_static(a, cfg->access_token, "option");
  if (cfg->anonymous) {
    a->kind = GSR__AUTH_ANONYMOUS;
    a->source = "option";
    return GSR_OK;
  }
  if (cfg->credentials_file != NULL && cfg->credentials_file[0] != '\0')
    return use_file(a, cfg->credentials_file, "option");
  if (cfg->emulator) { /* never the environment's credentials, in clear */
    a->kind = GSR__AUTH_ANONYMOUS;
    a->source = "STORAGE_EMULATOR_HOST";
    return GSR_OK;
  }
  if ((v = getenv("GSREAD_ACCESS_TOKEN")) != NULL && v[0] != '\0')
    return set_static(a, v, "GSREAD_ACCESS_TOKEN");
  if ((v = getenv("GOOGLE_APPLICATION_CREDENTIALS")) != NULL && v[0] != '\0')
    return use_file(a, v, "GOOGLE_APPLICATION_CREDENTIALS");
  char path[4096];
  const char *dir = getenv("CLOUDSDK_CONFIG"), *home = getenv("HOME");
  path[0] = '\0';
  if (dir != NULL && dir[0] != '\0')
    snprintf(path, sizeof(path), "%s/application_default_credentials.json",
             dir);
  else if (home != NULL && home[0] != '\0')
    snprintf(path, sizeof(path),
             "%s/.config/gcloud/application_default_credentials.json", home);
  if (path[0] != '\0' && access(path, F_OK) == 0)
    return use_file(a, path, "gcloud_adc");
  v = getenv("GCE_METADATA_HOST");
  if ((v != NULL && v[0] != '\0') || looks_like_gce()) {
    const char *host = v != NULL && v[0] != '\0' ? v : METADATA_HOST;
    if ((a->metadata_host = gsr__strdup(host)) == NULL)
      return gsr__err(GSR_ENOMEM, "out of memory");
    a->kind = GSR__AUTH_UNRESOLVED; /* probed at the first request */
    a->source = "metadata_server";
    return GSR_OK;
  }
  a->kind = GSR__AUTH_ANONYMOUS;
  a->source = "default";
  return GSR_OK;
}

int gsr__auth_new(const struct gsr__auth_config *cfg, struct gsr__auth **out) {
  *out = NULL;
  struct gsr__auth *a = gsr__calloc(1, sizeof(*a));
  if (a == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  if (pthread_mutex_init(&a->mu, NULL) != 0) {
    gsr__free(a);
    return gsr__err(GSR_ENOMEM, "pthread_mutex_init failed");
  }
  if (pthread_cond_init(&a->cv, NULL) != 0) {
    pthread_mutex_destroy(&a->mu);
    gsr__free(a);
    return gsr__err(GSR_ENOMEM, "pthread_cond_init failed");
  }
  a->trace = cfg->trace;
  a->trace_arg = cfg->trace_arg;
  a->http.connect_timeout_ms = cfg->connect_timeout_ms > 0
                                   ? cfg->connect_timeout_ms
                                   : 10000;
  a->http.timeout_ms = FETCH_TIMEOUT_MS;
  int status = GSR_OK;
  if ((cfg->user_agent && (a->ua = gsr__strdup(cfg->user_agent)) == NULL) ||
      (cfg->ca_bundle && (a->ca = gsr__strdup(cfg->ca_bundle)) == NULL))
    status = gsr__err(GSR_ENOMEM, "out of memory");
  a->http.user_agent = a->ua;
  a->http.ca_bundle = a->ca;
  if (status == GSR_OK) status = resolve(a, cfg);
  if (status != GSR_OK) {
    gsr__auth_free(a);
    return status;
  }
  trace(a, "auth: source %s (%s)", a->source,
        a->kind == GSR__AUTH_UNRESOLVED  ? "metadata server, not yet probed"
        : a->kind == GSR__AUTH_ANONYMOUS ? "anonymous"
        : a->kind == GSR__AUTH_STATIC    ? "fixed access token"
        : a->kind == GSR__AUTH_SERVICE_ACCOUNT ? "service account key"
                                               : "authorized_user");
  *out = a;
  return GSR_OK;
}

static void drop_header(struct gsr__auth *a) {
  if (a->header != NULL) {
    memset(a->header, 0, strlen(a->header));
    gsr__free(a->header);
  }
  a->header = NULL;
}

void gsr__auth_free(struct gsr__auth *a) {
  if (a == NULL) return;
  drop_header(a);
  gsr__creds_clear(&a->creds);
  gsr__free(a->metadata_host);
  gsr__free(a->token_uri);
  gsr__free(a->ua);
  gsr__free(a->ca);
  pthread_cond_destroy(&a->cv);
  pthread_mutex_destroy(&a->mu);
  gsr__free(a);
}

/* Obtains a new token for kind (without the lock: it blocks on the
 * network). Only reads fields that never change after resolution. */
static int obtain(struct gsr__auth *a, enum gsr__auth_kind kind,
                  struct gsr__token *tok) {
  char what[600];
  char *form = NULL;
  int status;
  if (kind == GSR__AUTH_SERVICE_ACCOUNT) {
    char *jwt = NULL, *enc = NULL;
    snprintf(what, sizeof(what), "service account token (key file '%s')",
             a->creds.path);
    status = gsr__jwt_assertion(&a->creds, a->token_uri, wall_now(), &jwt);
    if (status != GSR_OK) return status;
    static const char pre[] =
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
        "&assertion=";
    if ((enc = gsr__form_encode(jwt)) != NULL &&
        (form = gsr__malloc(sizeof(pre) + strlen(enc))) != NULL)
      sprintf(form, "%s%s", pre, enc);
    gsr__free(jwt);
    gsr__free(enc);
    if (form == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
    status = gsr__token_request(&a->http, a->token_uri, form, NULL, what, tok);
  } else if (kind == GSR__AUTH_USER) {
    char *id = gsr__form_encode(a->creds.client_id);
    char *sec = gsr__form_encode(a->creds.client_secret);
    char *rt = gsr__form_encode(a->creds.refresh_token);
    snprintf(what, sizeof(what), "authorized_user token (file '%s')",
             a->creds.path);
    if (id && sec && rt &&
        (form = gsr__malloc(strlen(id) + strlen(sec) + strlen(rt) + 80)) !=
            NULL)
      sprintf(form,
              "client_id=%s&client_secret=%s&refresh_token=%s"
              "&grant_type=refresh_token",
              id, sec, rt);
    if (sec) memset(sec, 0, strlen(sec));
    if (rt) memset(rt, 0, strlen(rt));
    gsr__free(id);
    gsr__free(sec);
    gsr__free(rt);
    if (form == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
    status = gsr__token_request(&a->http, a->token_uri, form, NULL, what, tok);
  } else { /* metadata server */
    char url[1024];
    struct gsr__http_opts o = a->http;
    snprintf(url, sizeof(url), "http://%s" METADATA_PATH, a->metadata_host);
    snprintf(what, sizeof(what), "metadata server token");
    if (kind == GSR__AUTH_UNRESOLVED) { /* the probe: short, tried once */
      o.connect_timeout_ms = PROBE_TIMEOUT_MS;
      o.timeout_ms = 4 * PROBE_TIMEOUT_MS;
    }
    return gsr__token_request(&o, url, NULL, "Metadata-Flavor: Google", what,
                              tok);
  }
  if (form != NULL) {
    memset(form, 0, strlen(form)); /* held the secrets */
    gsr__free(form);
  }
  return status;
}

static int can_refresh(enum gsr__auth_kind k) {
  return k == GSR__AUTH_SERVICE_ACCOUNT || k == GSR__AUTH_USER ||
         k == GSR__AUTH_METADATA || k == GSR__AUTH_UNRESOLVED;
}

/* Called with mu held by the one refresher; drops and retakes it. */
static int refresh_locked(struct gsr__auth *a) {
  assert(!a->refreshing); /* the one refresher: others wait for it */
  enum gsr__auth_kind kind = a->kind;
  struct gsr__token tok;
  a->refreshing = 1;
  pthread_mutex_unlock(&a->mu);
  uint64_t t0 = gsr__now_ns();
  int status = obtain(a, kind, &tok);
  char *hdr = NULL;
  if (status == GSR_OK) {
    size_t n = strlen(tok.access_token) + 32;
    if ((hdr = gsr__malloc(n)) == NULL)
      status = gsr__err(GSR_ENOMEM, "out of memory");
    else
      snprintf(hdr, n, "Authorization: Bearer %s", tok.access_token);
  }
  long life = tok.expires_in <= 0               ? DEFAULT_LIFETIME_S
              : tok.expires_in > MAX_LIFETIME_S ? MAX_LIFETIME_S
                                                : tok.expires_in;
  if (status == GSR_OK) gsr__token_clear(&tok);
  pthread_mutex_lock(&a->mu);
  a->refreshing = 0;
  if (kind == GSR__AUTH_UNRESOLVED) {
    /* The probe decides once for the client's life: a metadata server that
     * answers is used (and refreshed) from now on; none means anonymous. */
    if (status == GSR_OK) {
      a->kind = GSR__AUTH_METADATA;
    } else {
      trace(a, "auth: no metadata server at %s (%s); anonymous",
            a->metadata_host, gsr_status_name(status));
      a->kind = GSR__AUTH_ANONYMOUS;
      a->source = "default";
      status = GSR_OK;
    }
  }
  if (status != GSR_OK) {
    a->failures++;
    gsr__error_set(&a->last_err, status, "%s", gsr_errmsg());
  }
  if (hdr != NULL) {
    drop_header(a);
    a->header = hdr;
    a->gen++;
    int64_t now = wall_ms(), life_ms = (int64_t)life * 1000;
    int64_t margin = life_ms / 10 < MAX_MARGIN_S * 1000 ? life_ms / 10
                                                        : MAX_MARGIN_S * 1000;
    a->expires_at = now + life_ms;
    a->refresh_at = now + life_ms - margin;
    trace(a,
          "auth: new token from %s, generation %llu, expires in %ld s "
          "(fetched in %.0f ms)",
          a->source, (unsigned long long)a->gen, life,
          (double)(gsr__now_ns() - t0) / 1e6);
  }
  pthread_cond_broadcast(&a->cv);
  return status;
}

int gsr__auth_header(struct gsr__auth *a, char **out, uint64_t *gen) {
  int status = GSR_OK;
  *out = NULL;
  pthread_mutex_lock(&a->mu);
  for (;;) {
    if (!can_refresh(a->kind)) break; /* anonymous or static */
    int64_t now = wall_ms();
    int valid = a->header != NULL && now < a->expires_at;
    if (valid && now < a->refresh_at) break; /* fresh */
    if (a->refreshing) {
      if (valid) break; /* someone refreshes; the old token still works */
      /* Wait for that refresh and share its outcome, failure included:
       * N readers must not retry a failing endpoint N times in a row. */
      uint64_t failures = a->failures;
      while (a->refreshing) pthread_cond_wait(&a->cv, &a->mu);
      if (a->failures != failures &&
          !(a->header != NULL && wall_ms() < a->expires_at)) {
        status = gsr__error_raise(&a->last_err);
        break;
      }
      continue;
    }
    uint64_t before = a->gen;
    status = refresh_locked(a);
    if (status != GSR_OK && valid && a->gen == before && now < a->expires_at) {
      /* An early refresh failed but the token has time left: use it and
       * try again at the next request. */
      status = GSR_OK;
    }
    break;
  }
  if (status == GSR_OK && a->header != NULL &&
      (*out = gsr__strdup(a->header)) == NULL)
    status = gsr__err(GSR_ENOMEM, "out of memory");
  if (gen) *gen = a->gen;
  pthread_mutex_unlock(&a->mu);
  return status;
}

int gsr__auth_invalidate(struct gsr__auth *a, uint64_t gen) {
  pthread_mutex_lock(&a->mu);
  int ok = can_refresh(a->kind);
  if (ok && a->gen == gen && a->header != NULL) {
    /* Expire it now; the next caller refreshes (once, for everybody). */
    trace(a, "auth: token generation %llu refused (HTTP 401); refreshing",
          (unsigned long long)gen);
    a->expires_at = a->refresh_at = 0;
  }
  pthread_mutex_unlock(&a->mu);
  return ok;
}

uint64_t gsr__auth_generation(struct gsr__auth *a) {
  pthread_mutex_lock(&a->mu);
  uint64_t g = a->gen;
  pthread_mutex_unlock(&a->mu);
  return g;
}

static const char *kind_name(enum gsr__auth_kind k) {
  switch (k) {
  case GSR__AUTH_STATIC:
    return "access_token";
  case GSR__AUTH_SERVICE_ACCOUNT:
    return "service_account";
  case GSR__AUTH_USER:
    return "authorized_user";
  case GSR__AUTH_METADATA:
  case GSR__AUTH_UNRESOLVED:
    return "metadata";
  default:
    return "anonymous";
  }
}

int gsr__auth_info(struct gsr__auth *a, gsr_auth_info *out) {
  char *hdr = NULL;
  memset(out, 0, sizeof(*out));
  int status = gsr__auth_header(a, &hdr, NULL);
  if (hdr != NULL) {
    memset(hdr, 0, strlen(hdr));
    gsr__free(hdr);
  }
  if (status != GSR_OK) return status;
  pthread_mutex_lock(&a->mu);
  snprintf(out->kind, sizeof(out->kind), "%s", kind_name(a->kind));
  snprintf(out->source, sizeof(out->source), "%s", a->source);
  if (a->creds.path)
    snprintf(out->detail, sizeof(out->detail), "%s", a->creds.path);
  else if (a->kind == GSR__AUTH_METADATA && a->metadata_host)
    snprintf(out->detail, sizeof(out->detail), "%s", a->metadata_host);
  if (a->creds.client_email)
    snprintf(out->account, sizeof(out->account), "%s", a->creds.client_email);
  if (can_refresh(a->kind) && a->expires_at > 0) {
    out->has_expiry = 1;
    out->expires_at = a->expires_at / 1000;
    out->remaining = (a->expires_at - wall_ms()) / 1000;
  }
  pthread_mutex_unlock(&a->mu);
  return GSR_OK;
}
