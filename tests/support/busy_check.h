/* Do a sequential read's connections stay busy? A pure check of the GETs
 * the server logged for one object (tests/server's requests.log: msec is
 * when a response ended, request_time how long before that its request
 * arrived).
 *
 * For a read at concurrency N with first-byte time ttfb:
 *  (a) hand-over: order the requests by arrival and the responses by end;
 *      request k (k >= N) must arrive before response k - N ends (by at
 *      least BUSY_CLOCK_S). Then,
 *      just before any response ends, N + 1 requests are out: the request
 *      that takes over the finishing connection's place was already sent
 *      (HTTP/1.1 cannot send it on the same connection before the response
 *      ends, so it goes on another pooled one). An engine that sends the
 *      next request only when a response ends fails it for every k >= N.
 *  (b) width: a transfer carries bytes from its arrival + ttfb to its end.
 *      Over the window from the first arrival + ttfb to the last end minus
 *      one block's transfer time (the median of end - arrival - ttfb; the
 *      tail, where the last blocks end one by one, is outside), the
 *      longest stretch and the total time with fewer than N carrying.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_BUSY_CHECK_H
#define GSR_BUSY_CHECK_H

/* The log's times are whole milliseconds, from each nginx worker's cached
 * clock: a request counts as handed over only if it arrived at least this
 * long before the response it takes over from ended. */
#define BUSY_CLOCK_S 0.002

/* One response: when its request arrived and when it ended (seconds). */
struct busy_req {
  double start, end;
};

struct busy_report {
  int n; /* responses */
  /* (a) */
  int handed_over;   /* requests k >= N that arrived in time */
  int late;          /* requests k >= N that did not */
  int first_late;    /* the first such k (arrival order), or -1 */
  double worst_late; /* the most seconds a request came after its
                      * response k - N ended (0 if none did) */
  /* (b) */
  double block_s;                  /* one block's transfer time (median) */
  double window_start, window_end; /* the window (0 and 0 if empty) */
  double longest_short;            /* longest stretch with < N carrying, s */
  double longest_short_at;         /* when it began */
  double short_total;              /* total time with < N carrying, s */
  double short_fraction;           /* short_total / the window's length (0 if
                                    * the window is empty) */
};

/* Checks r[0..n) (any order) for concurrency conc >= 1. Returns 0, or -1
 * if the arguments are unusable (n < 0, conc < 1, a response ending
 * before its request arrived, or out of memory). */
int busy_check(const struct busy_req *r, int n, int conc, double ttfb,
               struct busy_report *out);

#endif
