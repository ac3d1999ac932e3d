/* How one range is split into parts for parallel connections.
 *
 * gcsfs splits any range of at least min_part (5 MiB) into
 * min(max_parts, len / min_part) parts. We split only ranges of at least
 * 2 x min_part: a part below min_part costs a request and a first-byte
 * wait for too little data, and gcsfs's own rule gives the same answer
 * there (len / min_part == 1).
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>

#include "fetch/rfetch.h"

int gsr__split_range(uint64_t len, int max_parts, uint64_t min_part,
                     uint64_t *part_len) {
  uint64_t n = 1;
  if (min_part == 0) min_part = 1;
  /* len / 2 >= min_part is len >= 2 x min_part without its overflow (a
   * min_part of 2^63 or more would double to 0 or wrap, and split). */
  if (max_parts > 1 && len / 2 >= min_part) {
    n = len / min_part;
    if (n > (uint64_t)max_parts) n = (uint64_t)max_parts;
  }
  *part_len = len / n;
  /* At least one part, at most max_parts; a split range's parts are of
   * at least min_part each, the last taking the remainder. */
  assert(n >= 1 && (n == 1 || (n <= (uint64_t)max_parts &&
                               *part_len >= min_part && *part_len * n <= len)));
  return (int)n;
}
