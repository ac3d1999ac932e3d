/* Opening what a URL names: parse, pick the backend, read metadata.
 *
 * SPDX-License-Identifier: MIT
 */
#include <string.h>

#include "backend/backend.h"

int gsr__object_open(gsr_client *c, const char *url, const gsr_stat *known,
                     struct gsr__object **out) {
  struct gsr__object *obj = gsr__calloc(1, sizeof(*obj));
  int status;
  *out = NULL;
  if (obj == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  obj->client = c;
  obj->fd = -1;
  status = gsr__url_parse(url, &obj->url);
  if (status != GSR_OK) {
    gsr__free(obj);
    return status;
  }
  obj->ops = obj->url.scheme == GSR__SCHEME_GS && c->grpc ? &gsr__zonal_ops
             : obj->url.scheme == GSR__SCHEME_GS          ? &gsr__gcs_ops
             : obj->url.scheme == GSR__SCHEME_HTTP        ? &gsr__http_ops
                                                          : &gsr__local_ops;
  obj->local = obj->url.scheme == GSR__SCHEME_FILE;
  obj->display = gsr__strdup(url);
  if (obj->display == NULL) {
    status = gsr__err(GSR_ENOMEM, "out of memory");
  } else if (known == NULL) {
    status = obj->ops->open(obj);
  } else if (obj->ops->adopt == NULL) {
    status = gsr__err(GSR_EINVAL, "%s: only gs:// objects open from a listing",
                      url);
  } else {
    obj->st = *known;
    status = obj->ops->adopt(obj);
  }
  if (status == GSR_OK && obj->zonal) { /* its data only over gRPC */
    obj->ops = &gsr__zonal_ops;
    status = obj->ops->open(obj);
  }
  /* Offsets are int64_t (gsr_seek, gsr_pread, gsr_size's result): a size
   * beyond INT64_MAX could not be read to its end. Only a server's claim
   * (or a listing's). */
  if (status == GSR_OK && obj->st.size > INT64_MAX)
    status = gsr__err(GSR_EPROTO,
                      "%s: the server gives a size of %llu bytes, past the "
                      "largest gsread can address (2^63-1)",
                      obj->display, (unsigned long long)obj->st.size);
  if (status != GSR_OK) {
    gsr__object_close(obj);
    return status;
  }
  *out = obj;
  return GSR_OK;
}

void gsr__object_close(struct gsr__object *obj) {
  if (obj == NULL) return;
  if (obj->ops && obj->ops->close) obj->ops->close(obj);
  gsr__url_cleanup(&obj->url);
  gsr__free(obj->display);
  gsr__free(obj->media_url);
  gsr__free(obj->pin);
  gsr__free(obj);
}
