/* Vectored reads (gsr_read_ranges): the planner, a pure function, and the
 * cost model that sets its hole limit. See docs/ranges.md.
 *
 * The plan: the ranges sorted by offset (the caller's indices kept);
 * overlapping and adjacent ones merged into extents (an extent's bytes
 * are fetched once); neighbouring extents joined into one span (one
 * request, or one split fetch) while the hole between them is at most
 * hole_limit and the span stays within span_limit. An extent is never
 * cut: one longer than span_limit is a span of its own (fetched in
 * parts).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_RPLAN_H
#define GSR_RPLAN_H

#include <stddef.h>
#include <stdint.h>

/* A range as the planner sees it: already clamped to the object (len 0:
 * nothing to fetch). off + len must not overflow. */
struct gsr__rplan_range {
  uint64_t off, len;
};

struct gsr__rplan_limits {
  uint64_t hole_limit; /* join extents whose hole is at most this */
  uint64_t span_limit; /* ... if the joined span is at most this */
};

/* Bytes [off, off+len) of the object land in range `range`, at
 * off - ranges[range].off. Segments of a span are in offset order; the
 * gaps between them are the span's holes. */
struct gsr__rseg {
  uint64_t off, len;
  size_t range;
};

struct gsr__rspan {
  uint64_t off, len;
  uint64_t hole_bytes;      /* bytes of the span no range asked for */
  size_t first_seg, n_segs; /* its segments in plan.segs */
  size_t first, n;          /* its ranges in plan.order */
};

struct gsr__rplan {
  struct gsr__rspan *spans;
  size_t n_spans;
  struct gsr__rseg *segs;
  size_t n_segs;
  /* The non-empty ranges' indices, by offset (then longest first, then
   * index): each span's ranges are a stretch of it. */
  size_t *order;
  size_t n_order;
  /* Per range (all n): bytes [0, copied) of it are also an earlier
   * range's (an overlap): they land there, and are copied over once the
   * span is in. The rest, [copied, len), is this range's own segment. */
  uint64_t *copied;
  uint64_t bytes;      /* sum of the spans' lengths: what is fetched */
  uint64_t hole_bytes; /* ... of which holes */
};

/* Plans r[0..n). Returns GSR_OK and fills *out (free it with
 * gsr__rplan_free), or GSR_ENOMEM (message set; *out empty). Time
 * O(n log n), memory O(n). */
int gsr__rplan_build(const struct gsr__rplan_range *r, size_t n,
                     const struct gsr__rplan_limits *lim,
                     struct gsr__rplan *out);
void gsr__rplan_free(struct gsr__rplan *p);

/* The index in p->segs of the segment of span s that holds object byte
 * off (a byte of one of its ranges, not of a hole). */
size_t gsr__rplan_seg_at(const struct gsr__rplan *p, size_t s, uint64_t off);

/* The cost model. A hole of h bytes on a connection already streaming
 * costs h / rate seconds; a request of its own costs one first-byte wait
 * (rate: one connection's bytes/s; ttfb: seconds from request to first
 * byte). Fetching the hole is cheaper while h < rate x ttfb, but a hole
 * near that break-even saves almost no time and still fetches bytes no
 * range asked for (bandwidth, egress billed): a hole is joined only while
 * it costs at most 1/GSR__HOLE_MARGIN of the wait it saves. Measured on
 * the gcs profile (Zarr-like batches, random 256 KiB-1 MiB chunks about
 * 10 MB apart): at the break-even the holes were 3x the bytes read for no
 * gain in time (20.7 s against 20.4 s for one GET per range). Before any
 * measurement (rate or ttfb <= 0): GSR__HOLE_DEFAULT, the limit of a
 * GCS-like link (38 ms, 220 MB/s). Kept within GSR__HOLE_MAX, so that one
 * noisy measurement cannot make a span read most of an object. */
#define GSR__HOLE_MARGIN 16
#define GSR__HOLE_DEFAULT ((uint64_t)512 << 10)
#define GSR__HOLE_MAX ((uint64_t)16 << 20)
/* gsr__rplan_width: a width within this factor of the pool's time is as
 * good as the pool (the engine's width steps ask 10% of each pair, too). */
#define GSR__WIDTH_TOLERANCE 1.10
uint64_t gsr__rplan_hole_limit(double rate, double ttfb);
/* Default span limit: bounds one span's memory (by-reference ranges) and
 * keeps a long batch spread over several spans in flight. */
#define GSR__SPAN_DEFAULT ((uint64_t)64 << 20)
/* How many parts the next span may be split into, with `remaining` spans
 * (this one included) still to start on `conc` connections: one while
 * the spans alone keep every connection busy (a part more is a first-byte
 * wait more), else enough to fill the connections the last spans leave
 * idle. At least 1. */
int gsr__rplan_parts(size_t remaining, int conc);
/* How many requests a vectored read keeps in flight when the caller did
 * not say (pure): the fewest whose modelled time, ceil(spans / w)
 * first-byte waits plus bytes / (w x rate), is within 10% of the time at
 * max (the pool). Spans beyond w wait a first-byte time each, so a plan of
 * many spans wants many requests; bytes beyond a span per connection are
 * split into parts. Nothing measured yet (rate or ttfb 0): a request per
 * span, at least `least`, at most max. */
int gsr__rplan_width(size_t spans, uint64_t bytes, double rate, double ttfb,
                     int least, int max);

#endif /* GSR_RPLAN_H */
