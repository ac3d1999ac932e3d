/* The CRC32C arithmetic of a range fetch: its destination's per-segment
 * CRCs regrouped from its parts' (the fetch itself is rfetch.c).
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <string.h>

#include "fetch/rfetch.h"

void gsr__seg_crcs(const struct gsr__request *reqs, int n_reqs,
                   const size_t *seg_len, int n_seg, uint32_t *seg_crc,
                   uint32_t *crc) {
  int j = 0;
  size_t used = 0; /* bytes of segment j accounted so far */
  assert(n_seg >= 0 && n_seg <= GSR__REQ_IOV); /* seg_crc's entries */
  memset(seg_crc, 0, sizeof(uint32_t) * GSR__REQ_IOV);
  *crc = 0;
  for (int i = 0; i < n_reqs; i++) {
    const struct gsr__request *req = &reqs[i];
    for (int k = 0; k < req->n_dst; k++) {
      size_t n = req->dst[k].len;
      /* Parts cut the destination in order; a part's segment never
       * straddles two of the destination's. */
      assert(j < n_seg && used + n <= seg_len[j]);
      seg_crc[j] = gsr__crc32c_combine(seg_crc[j], req->seg_crc[k], n);
      *crc = gsr__crc32c_combine(*crc, req->seg_crc[k], n);
      if ((used += n) == seg_len[j] && j + 1 < n_seg) {
        j++;
        used = 0;
      }
    }
  }
}
