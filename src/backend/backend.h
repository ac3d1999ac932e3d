/* Backends: what a URL means. gs:// (GCS JSON API), http(s):// (any server
 * with Range support) and file:// or plain paths (pread), behind one small
 * ops table, one file per variant.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_BACKEND_H
#define GSR_BACKEND_H

#include "auth/auth.h"
#include "base/client.h"
#include "transport/transport.h"

enum gsr__scheme { GSR__SCHEME_GS, GSR__SCHEME_HTTP, GSR__SCHEME_FILE };

struct gsr__url {
  enum gsr__scheme scheme;
  char *bucket; /* gs: bucket name */
  char *object; /* gs: object name, verbatim */
  char *href;   /* http(s): the URL as given */
  char *path;   /* file: local path */
};

/* Parses text into *u. Returns GSR_OK, GSR_EINVAL (message names the
 * problem) or GSR_ENOMEM; on failure *u owns nothing. */
int gsr__url_parse(const char *text, struct gsr__url *u);
void gsr__url_cleanup(struct gsr__url *u);
/* RFC 3986 percent-encoding: unreserved bytes (A-Z a-z 0-9 - . _ ~) kept,
 * every other byte (including '/') as %XX. NULL on allocation failure. */
char *gsr__percent_encode(const char *s, size_t len);
/* Decodes %XX escapes in place; returns 0, or -1 on a bad escape. */
int gsr__percent_decode(char *s);
/* 1 if b is a valid GCS bucket name. */
int gsr__bucket_name_valid(const char *b);

struct gsr__backend_ops;

/* An opened object, pinned to one version. */
struct gsr__object {
  const struct gsr__backend_ops *ops;
  gsr_client *client;
  struct gsr__url url;
  gsr_stat st;
  char *display;   /* the URL for messages */
  char *media_url; /* network: where data requests go */
  char *pin;       /* network: precondition header, e.g. If-Match; NULL:
                    * none (http: no validator, one request only) */
  size_t pin_at;   /* where the validator's value starts in pin */
  int fd;          /* local: the open file */
  int local;       /* decided once, at open: read with pread, not HTTP */
  void *priv;      /* the backend's own state (zonal: its streams) */
  /* gs:// over the JSON API found a zonal bucket (storage class RAPID):
   * the object goes on over gRPC (object.c), its generation pinned. */
  int zonal;
};

struct gsr__backend_ops {
  const char *name;
  /* Reads metadata and pins the version; at most one request. */
  int (*open)(struct gsr__object *obj);
  /* Pins the version already in obj->st (what a listing said), with no
   * request; NULL where a backend cannot (no generation to pin). */
  int (*adopt)(struct gsr__object *obj);
  /* Network backends: fills req (initialized by the caller) to fetch bytes
   * [off, off+len) into dst. NULL for local. */
  int (*prepare)(struct gsr__object *obj, struct gsr__request *req,
                 uint64_t off, uint64_t len, void *dst);
  /* Checks a data response's headers against the pinned version (I/O
   * thread). May be NULL. */
  int (*check_headers)(struct gsr__object *obj, struct gsr__request *req);
  /* Local backend (NULL for network), in the caller's thread: reads the
   * bytes at off into dst, skipping its holes (no pread), adding each
   * segment to its CRC32C (and checkpoints) if dst keeps them; *preads
   * and *bytes: the reads made and the bytes they read, also on
   * failure. */
  int (*fill)(struct gsr__object *obj, uint64_t off, struct gsr__dst *dst,
              uint64_t *preads, uint64_t *bytes);
  /* Backends with a transport of their own (zonal: its gRPC streams; NULL
   * for the others, whose requests go to the I/O threads): take a request
   * prepare built, land its bytes and count it on its completion exactly
   * once (GSR_OK), or refuse it (a status; not counted); and abort one
   * (its completion then counts it, GSR_ECANCELED unless it completed).
   * Thread-safe. */
  int (*submit)(struct gsr__object *obj, struct gsr__request *req);
  void (*cancel)(struct gsr__object *obj, struct gsr__request *req);
  void (*close)(struct gsr__object *obj);
  /* Backends with credentials (GCS; else NULL): the generation of those
   * requests carry now, and, for a request carrying generation *gen that
   * failed, whether they were renewed (*gen updated) so that the same
   * request prepared again may succeed. The policy (GCS: HTTP 401, one
   * refresh) is the backend's; the fetch only resubmits. */
  uint64_t (*auth_generation)(struct gsr__object *obj);
  int (*reauthorize)(struct gsr__object *obj, const struct gsr__request *req,
                     uint64_t *gen);
};

extern const struct gsr__backend_ops gsr__gcs_ops;
extern const struct gsr__backend_ops gsr__http_ops;
extern const struct gsr__backend_ops gsr__local_ops;
extern const struct gsr__backend_ops gsr__zonal_ops; /* zonal.c */

/* Opens the object a URL names (one request at most); with known (what a
 * listing said of it) not NULL, no request: the version known names is
 * pinned (backends with an adopt op only, else GSR_EINVAL). */
int gsr__object_open(gsr_client *c, const char *url, const gsr_stat *known,
                     struct gsr__object **out);
void gsr__object_close(struct gsr__object *obj);

/* ---- gcs.c: credentials on GCS requests (the 401 policy is GCS's), and
 * the JSON resources GCS answers with. */
/* Adds the Authorization header (if any) to req, fetching or refreshing
 * the token first if needed; *gen, if not NULL, gets the token's
 * generation. */
int gsr__gcs_authorize(gsr_client *c, struct gsr__request *req, uint64_t *gen);
/* A GCS int64 field of a JSON resource (an object's, a listing item's):
 * a decimal string or, leniently, a JSON number. 0 and *out, or -1 when
 * absent, negative or not a number. */
struct json_object;
int gsr__gcs_u64(struct json_object *root, const char *key, uint64_t *out);

/* ---- list.c: gsr_list's work (its arguments checked, not NULL). */
int gsr__list(gsr_client *c, const char *url, int recursive, gsr_list_cb cb,
              void *arg);

#endif /* GSR_BACKEND_H */
