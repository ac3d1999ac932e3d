/* gsr_list: the arguments checked; the listing is the GCS backend's
 * (backend/list.c).
 *
 * SPDX-License-Identifier: MIT
 */
#include "backend/backend.h"

int gsr_list(gsr_client *c, const char *url, int recursive, gsr_list_cb cb,
             void *arg) {
  if (c == NULL || url == NULL || cb == NULL)
    return gsr__err(GSR_EINVAL, "gsr_list: client, url or callback is NULL");
  return gsr__list(c, url, recursive, cb, arg);
}
