/* Credentials for gs:// requests: which source to use (Google's Application
 * Default Credentials order), and a per-client access token that is obtained,
 * cached and refreshed before it expires.
 *
 * Secrets (access tokens, private keys, refresh tokens, client secrets)
 * live only in this module's memory and in the Authorization header handed
 * to the transport. No message, trace line or public struct built here
 * contains one.
 *
 * Threads: everything here is thread-safe. At most one thread refreshes a
 * token at a time; the others keep using the old token while it is still
 * valid, or wait for the refresher (mutex + condition variable).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_AUTH_H
#define GSR_AUTH_H

#include <stdint.h>

#include "base/internal.h"

/* What kind of credential is in use. */
enum gsr__auth_kind {
  GSR__AUTH_ANONYMOUS = 0,
  GSR__AUTH_STATIC,          /* a fixed access token: never refreshed */
  GSR__AUTH_SERVICE_ACCOUNT, /* key file: RS256 JWT assertion exchanged */
  GSR__AUTH_USER,            /* authorized_user file: refresh-token grant */
  GSR__AUTH_METADATA,        /* GCE metadata server */
  GSR__AUTH_UNRESOLVED       /* only the metadata probe is left to try */
};

struct gsr__auth_config {
  const char *access_token;     /* client option; wins over everything */
  int anonymous;                /* client option: no credentials at all */
  const char *credentials_file; /* client option: a key or ADC file */
  /* The endpoint is $STORAGE_EMULATOR_HOST's: anonymous unless an option
   * above names credentials (as Google's own clients do). */
  int emulator;
  const char *ca_bundle; /* for the token endpoint's TLS */
  const char *user_agent;
  long connect_timeout_ms;
  void (*trace)(void *arg, const char *line);
  void *trace_arg;
};

struct gsr__auth;

/* Picks the source: the options, then (with an emulator) anonymous, then
 * $GSREAD_ACCESS_TOKEN,
 * $GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, then (lazily, at the
 * first gs:// request) the metadata server, else anonymous. Files are read
 * and parsed here, so a bad key file fails the client at once, naming the
 * file. No network I/O. Returns GSR_OK, GSR_EAUTH, GSR_ENOMEM. */
int gsr__auth_new(const struct gsr__auth_config *cfg, struct gsr__auth **out);
void gsr__auth_free(struct gsr__auth *a);

/* The header line "Authorization: Bearer ..." to send now, as a copy the
 * caller frees, or NULL in *out for anonymous. Obtains or refreshes the
 * token if needed (blocking this thread; concurrent callers share one
 * refresh). *gen, if not NULL, gets the token's generation, for
 * gsr__auth_invalidate. Returns GSR_OK or a status (message set). */
int gsr__auth_header(struct gsr__auth *a, char **out, uint64_t *gen);

/* The token of generation gen was refused (HTTP 401): forget it so that the
 * next gsr__auth_header obtains a new one. A later generation is kept (a
 * refresh already happened). Returns 1 if a new token can be obtained (so a
 * retry makes sense), 0 if not (static token, anonymous). */
int gsr__auth_invalidate(struct gsr__auth *a, uint64_t gen);

/* The current generation (0 before the first token). */
uint64_t gsr__auth_generation(struct gsr__auth *a);

/* Fills the public description (resolving the source and obtaining a token
 * first, so the lifetime is known). */
int gsr__auth_info(struct gsr__auth *a, gsr_auth_info *out);

/* ---- Internals shared by the module's files. */

/* A token as a token endpoint or the metadata server returned it. */
struct gsr__token {
  char *access_token; /* secret */
  long expires_in;    /* seconds; <= 0 if the answer had none */
};
void gsr__token_clear(struct gsr__token *t);

/* Credentials read from a JSON file (key or ADC). Strings owned. */
struct gsr__creds {
  enum gsr__auth_kind kind;
  char *path;           /* the file, for messages */
  char *client_email;   /* service account: iss; not a secret */
  char *private_key;    /* service account: PEM (secret) */
  char *private_key_id; /* service account: JWT "kid" */
  char *token_uri;      /* where to exchange */
  char *client_id;      /* authorized_user */
  char *client_secret;  /* authorized_user (secret) */
  char *refresh_token;  /* authorized_user (secret) */
};
void gsr__creds_clear(struct gsr__creds *c);
/* Reads and checks a key or authorized_user file. GSR_OK, GSR_EAUTH (the
 * message names the file and what is wrong, never a value), GSR_ENOMEM. */
int gsr__creds_load(const char *path, struct gsr__creds *out);

/* Builds the signed assertion "header.claims.signature" (RS256) for a
 * service account. Caller frees. GSR_OK, GSR_EAUTH, GSR_ENOMEM. */
int gsr__jwt_assertion(const struct gsr__creds *c, const char *aud, int64_t now,
                       char **out);
/* base64url without padding. Caller frees; NULL on ENOMEM. */
char *gsr__base64url(const unsigned char *p, size_t n);

/* One blocking HTTP exchange on the calling thread with its own curl easy
 * handle (the I/O thread is not involved). form != NULL: POST it as
 * application/x-www-form-urlencoded. Parses {"access_token","expires_in"}.
 * what names the source in messages. */
struct gsr__http_opts {
  const char *ca_bundle;
  const char *user_agent;
  long connect_timeout_ms;
  long timeout_ms;
};
int gsr__token_request(const struct gsr__http_opts *o, const char *url,
                       const char *form, const char *header, const char *what,
                       struct gsr__token *out);
/* A form value percent-encoded (caller frees; NULL on ENOMEM). */
char *gsr__form_encode(const char *s);

#endif /* GSR_AUTH_H */
