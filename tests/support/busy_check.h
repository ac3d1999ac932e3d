/* Does a sequential read hand each connection's next request over before
 * the block it takes over from is in? A pure check of the ranged GETs the
 * server logged for one front-to-back read of an object, from the order of
 * things only (no times: those are the benchmarks'):
 *
 *  (a) which ranges: sorted by their first byte, the GETs tile
 *      [0, size) exactly once (no gap, no byte fetched twice);
 *  (b) in which order: on each connection, the later request asks for
 *      later bytes (the engine sends its blocks front to back);
 *  (c) hand-over: the log lists the GETs in the order their responses
 *      ended; take them also in the order of their first byte (the order
 *      a sequential engine sends them). Under HTTP/1.1 a connection takes
 *      its next request only after its response before has ended, so GET
 *      k went out after the end of the GET its connection served before
 *      it. An engine that sends GET k (k >= N at concurrency N) while the
 *      N before it are still coming in sends it before the (k - N + 1)-th
 *      end; if the GET before it on its connection is that end or a later
 *      one, GET k was provably sent only after a connection it should
 *      have overlapped fell idle: it is late. An engine that sends each
 *      next request only when a response ends reuses the freed
 *      connection, and every k >= N is late.
 *
 * The verdict (busy_verdict) asks every GET to be fetched once and in
 * order, and most hand-overs, not all, to be in time: the engine's
 * producer runs on the reader's thread, and a machine too busy to run it
 * for a first-byte wait (38 ms on the gcs profile) makes a hand-over
 * really late; an engine that waits for each block to end is late at
 * all of them (but where the pool happened to pick an older idle
 * connection).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef GSR_BUSY_CHECK_H
#define GSR_BUSY_CHECK_H

#include <stdint.h>

/* One ranged GET from the log. */
struct busy_get {
  uint64_t first, last; /* the Range asked (inclusive) */
  long connection;      /* the server's serial number of its connection */
  long on_connection;   /* its place on that connection (1, 2, ...) */
};

struct busy_report {
  int n;           /* GETs */
  int connections; /* distinct connections */
  /* (a) */
  int tiled;       /* 1 if the ranges tile [0, size) exactly once */
  uint64_t gap_at; /* else the first offset not covered exactly once */
  /* (b) */
  int out_of_order; /* GETs asking for bytes before their connection's
                     * previous GET did */
  /* (c) */
  int handed_over; /* GETs k >= N that went out in time */
  int late;        /* GETs k >= N that did not */
  int first_late;  /* the first such k (by first byte), or -1 */
  int late_after;  /* where the GET its connection served before it
                    * ended: 0 for the first end (-1 if none late) */
};

/* Checks g[0..n), in the log's order (the order the responses ended), of
 * a read of an object of `size` bytes at
 * concurrency conc >= 1. Returns 0, or -1 if the arguments are unusable
 * (n < 0, conc < 1, a range with last < first, two GETs with the same
 * place on one connection, or out of memory). */
int busy_check(const struct busy_get *g, int n, uint64_t size, int conc,
               struct busy_report *out);

/* What busy_verdict found wrong, in the order it looks. */
enum busy_fault {
  BUSY_OK = 0,
  BUSY_NOT_TILED,    /* (a) */
  BUSY_OUT_OF_ORDER, /* (b) */
  BUSY_TOO_FEW,      /* fewer than 2 x conc GETs: nothing to judge */
  BUSY_MOSTLY_LATE,  /* (c): more hand-overs late than in time */
};

/* The verdict on a report of busy_check at concurrency conc. */
enum busy_fault busy_verdict(const struct busy_report *r, int conc);

#endif
