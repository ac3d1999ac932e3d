/* Opening what a URL names: parse, pick the backend, read metadata.
 *
 * SPDX-License-Identifier: MIT
 */
#include <string.h>

#include "backend/backend.h"

int gsr__object_open(gsr_client *c, const char *url, struct gsr__object **out) {
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
  status = obj->display ? obj->ops->open(obj)
                        : gsr__err(GSR_ENOMEM, "out of memory");
  if (status == GSR_OK && obj->zonal) { /* its data only over gRPC */
    obj->ops = &gsr__zonal_ops;
    status = obj->ops->open(obj);
  }
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
