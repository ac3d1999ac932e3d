/* The work of gsr_read_ranges and gsr_read_ranges_files (api/file.c):
 * check the ranges, plan each file's (fetch/rplan.c), fetch the spans of
 * every file under one width with their bytes scattered straight into
 * the ranges' buffers (holes dropped by the I/O thread), copy overlaps,
 * hand out slices, measure the link for the next plan. See fetch/rplan.h
 * and docs/ranges.md.
 *
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/client.h"
#include "fetch/rfetch.h"
#include "fetch/rplan.h"
#include "read/file.h"

#define MAX_CONCURRENCY GSR__RANGES_MAX_CONCURRENCY
/* Responses at least this long give a rate worth keeping: shorter ones
 * arrive in one burst and would measure the server's buffers. */
#define RATE_MIN_BYTES ((uint64_t)1 << 20)

struct call;

/* A span in flight. */
struct job {
  struct call *c; /* the file's call it belongs to */
  size_t span;
  struct gsr__rfetch *rf;
  struct gsr__buf *buf; /* its by-reference ranges' bytes, or NULL */
  int parts;
};

/* One file's share of a call: its ranges, their plan, its results. */
struct call {
  struct gsr__file *f;
  gsr_range *r;
  size_t n;
  size_t *index; /* r[i] is the caller's ranges[index[i]]; NULL: the same */
  struct gsr__rplan_range *in; /* the ranges clamped to the object */
  struct gsr__rplan plan;
  unsigned char **land; /* where each range's bytes land */
  int local;
  gsr_ranges_stats st;
  size_t err_at;         /* the first failed range (its r's order) */
  struct gsr__error err; /* ... and its message */
};

/* The spans in flight, of every file of the call, under one width. */
struct sched {
  int conc;
  struct job jobs[MAX_CONCURRENCY]; /* a FIFO: head, count */
  int head, count, parts;
};

/* Moving average of a link measurement (a benign race between callers:
 * either update wins). */
static void ewma(_Atomic double *v, double sample) {
  double old = atomic_load(v);
  atomic_store(v, old > 0 ? 0.75 * old + 0.25 * sample : sample);
}

/* What a span's requests say about the link: first-byte time of every
 * first attempt, rate of the long ones. */
static void measure(struct call *c, const struct gsr__rfetch *rf) {
  gsr_client *cl = c->f->client;
  for (int i = 0; i < rf->n_parts; i++) {
    const struct gsr__request *q = &rf->reqs[i];
    if (q->attempts != 1 || q->first_byte_ns <= q->first_start_ns ||
        q->first_start_ns == 0 || q->err.status != GSR_OK)
      continue;
    ewma(&cl->link_ttfb, (double)(q->first_byte_ns - q->first_start_ns) / 1e9);
    if (q->received >= RATE_MIN_BYTES && q->done_ns > q->first_byte_ns)
      ewma(&cl->link_rate,
           (double)q->received * 1e9 / (double)(q->done_ns - q->first_byte_ns));
  }
}

/* Fails every range of span s with e (the first failure, in the caller's
 * order, keeps its message). */
static void fail_span(struct call *c, size_t s, const struct gsr__error *e) {
  const struct gsr__rspan *sp = &c->plan.spans[s];
  for (size_t j = sp->first; j < sp->first + sp->n; j++) {
    size_t i = c->plan.order[j];
    c->r[i].status = e->status;
    if (i < c->err_at) {
      c->err_at = i;
      c->err = *e;
    }
  }
}

static void fail_span_here(struct call *c, size_t s, int status) {
  struct gsr__error e;
  gsr__error_set(&e, status, "%s", gsr_errmsg());
  fail_span(c, s, &e);
}

/* A span is in: copy each overlap from where it landed, deliver. */
static void deliver(struct call *c, size_t s, struct gsr__buf *buf) {
  const struct gsr__rplan *p = &c->plan;
  const struct gsr__rspan *sp = &p->spans[s];
  for (size_t j = sp->first; j < sp->first + sp->n; j++) {
    size_t i = p->order[j];
    uint64_t at = c->in[i].off, end = at + p->copied[i];
    while (at < end) { /* other ranges' segments hold these bytes */
      const struct gsr__rseg *g = &p->segs[gsr__rplan_seg_at(p, s, at)];
      assert(g->off <= at && at < g->off + g->len); /* g holds at */
      uint64_t k = GSR__MIN(end, g->off + g->len) - at;
      memcpy(c->land[i] + (at - c->in[i].off),
             c->land[g->range] + (at - c->in[g->range].off), (size_t)k);
      at += k;
    }
    gsr_range *r = &c->r[i];
    r->delivered = c->in[i].len;
    if (r->buf == NULL) {
      r->slice.data = c->land[i];
      r->slice.len = (size_t)c->in[i].len;
      r->slice.owner = gsr__buf_ref(buf);
    }
  }
}

/* Waits for the oldest span in flight and settles its ranges. */
static void reap(struct sched *q) {
  assert(q->count > 0);
  struct job *j = &q->jobs[q->head];
  struct call *c = j->c;
  q->head = (q->head + 1) % MAX_CONCURRENCY;
  q->count--;
  q->parts -= j->parts;
  if (gsr__rfetch_wait(j->rf) == GSR_OK) {
    if (!c->local) measure(c, j->rf);
    deliver(c, j->span, j->buf);
  } else {
    fail_span(c, j->span, &j->rf->completion.err);
  }
  gsr__rfetch_free(j->rf);
  gsr__buf_unref(j->buf);
}

/* The bytes span s's by-reference ranges need. */
static uint64_t ref_bytes(const struct call *c, size_t s) {
  const struct gsr__rspan *sp = &c->plan.spans[s];
  uint64_t bytes = 0;
  for (size_t j = sp->first; j < sp->first + sp->n; j++) {
    size_t i = c->plan.order[j];
    if (c->r[i].buf == NULL) bytes += c->in[i].len;
  }
  return bytes;
}

/* Starts span s: its by-reference ranges get their place in buf (refs
 * bytes, charged to the budget; NULL if refs is 0, or if it could not be
 * allocated), its segments and holes become the fetch's scatter list. */
static void start_span(struct sched *q, struct call *c, size_t s, uint64_t refs,
                       int parts, struct gsr__buf *buf) {
  const struct gsr__rplan *p = &c->plan;
  const struct gsr__rspan *sp = &p->spans[s];
  struct gsr__iov *iov = NULL;
  if (refs > 0) {
    if (buf == NULL) {
      gsr__err(GSR_ENOMEM, "out of memory (%llu bytes)",
               (unsigned long long)refs);
      fail_span_here(c, s, GSR_ENOMEM);
      return;
    }
    uint64_t at = 0;
    for (size_t j = sp->first; j < sp->first + sp->n; j++) {
      size_t i = p->order[j];
      if (c->r[i].buf != NULL) continue;
      c->land[i] = buf->data + at;
      at += c->in[i].len;
    }
    assert(at == refs); /* ref_bytes counted the same ranges */
  }
  iov = gsr__malloc(2 * sp->n_segs * sizeof(*iov));
  if (iov == NULL) {
    gsr__buf_unref(buf);
    fail_span_here(c, s, gsr__err(GSR_ENOMEM, "out of memory"));
    return;
  }
  size_t k = 0;
  uint64_t at = sp->off;
  for (size_t g = sp->first_seg; g < sp->first_seg + sp->n_segs; g++) {
    const struct gsr__rseg *seg = &p->segs[g];
    if (seg->off > at) iov[k++] = (struct gsr__iov){NULL, seg->off - at};
    iov[k++] = (struct gsr__iov){
        c->land[seg->range] + (seg->off - c->in[seg->range].off), seg->len};
    at = seg->off + seg->len;
  }
  assert(k <= 2 * sp->n_segs && at <= sp->off + sp->len);
  struct gsr__rfetch *rf;
  struct gsr__dst d; /* holes between the ranges: no CRCs */
  gsr__dst_set(&d, iov, (int)k, NULL);
  assert(d.len == sp->len); /* the segments and holes cover the span */
  int status = gsr__rfetch_start(&c->f->target, sp->off, &d, parts,
                                 c->f->min_part, buf, &rf);
  gsr__free(iov);
  c->st.spans++;
  c->st.requests += c->local ? sp->n_segs : (uint64_t)parts;
  c->st.bytes_fetched += c->local ? sp->len - sp->hole_bytes : sp->len;
  c->st.hole_bytes += c->local ? 0 : sp->hole_bytes;
  if (status != GSR_OK) {
    gsr__buf_unref(buf);
    fail_span_here(c, s, status);
    return;
  }
  struct job *j = &q->jobs[(q->head + q->count) % MAX_CONCURRENCY];
  *j = (struct job){c, s, rf, buf, c->local ? 1 : rf->n_parts};
  assert(q->count < MAX_CONCURRENCY);
  q->count++;
  q->parts += j->parts;
}

/* Fetches every span of every file, file after file: the next one starts
 * once its parts fit in the width and its by-reference bytes in the
 * budget (or nothing else is in flight: a demand read always proceeds).
 * The last spans of all are split into parts where connections would
 * otherwise idle. */
static void run_spans(struct sched *q, struct call *calls, size_t k,
                      size_t total_spans) {
  size_t started = 0;
  for (size_t ci = 0; ci < k; ci++) {
    struct call *c = &calls[ci];
    struct gsr__budget *budget = c->f->client->budget;
    for (size_t s = 0; s < c->plan.n_spans; s++, started++) {
      uint64_t part_len, refs = ref_bytes(c, s);
      int parts = c->local
                      ? 1
                      : gsr__split_range(
                            c->plan.spans[s].len,
                            gsr__rplan_parts(total_spans - started, q->conc),
                            c->f->min_part, &part_len);
      struct gsr__buf *buf = NULL;
      for (;;) {
        int refused = 0;
        if (q->count == 0) {
          if (refs > 0) buf = gsr__buf_new((size_t)refs, budget);
          break;
        }
        if (q->parts + parts <= q->conc &&
            (refs == 0 ||
             (buf = gsr__buf_try((size_t)refs, budget, &refused)) != NULL ||
             !refused))
          break;
        reap(q);
      }
      start_span(q, c, s, refs, parts, buf);
    }
  }
  while (q->count > 0) reap(q);
}

int gsr__ranges_check(gsr_range *r, size_t n, const gsr_ranges_options *o) {
  int status = GSR_OK;
  if (r == NULL && n > 0)
    return gsr__err(GSR_EINVAL, "gsr_read_ranges: ranges is NULL");
  if (n > (size_t)INT_MAX / 4)
    status = gsr__err(GSR_EINVAL,
                      "gsr_read_ranges: %zu ranges (at most %d "
                      "in one call)",
                      n, INT_MAX / 4);
  else if (o->hole_limit < -1)
    status = gsr__err(GSR_EINVAL,
                      "gsr_read_ranges: hole_limit %lld (-1: "
                      "from the cost model, or >= 0)",
                      (long long)o->hole_limit);
  else if (o->concurrency < 0 || o->concurrency > MAX_CONCURRENCY)
    status = gsr__err(GSR_EINVAL,
                      "gsr_read_ranges: concurrency %d (0: the "
                      "file's, or 1 to %d)",
                      o->concurrency, MAX_CONCURRENCY);
  for (size_t i = 0; i < n && status == GSR_OK; i++) {
    if (r[i].offset < 0)
      status = gsr__err(GSR_EINVAL,
                        "gsr_read_ranges: range %zu: negative "
                        "offset %lld",
                        i, (long long)r[i].offset);
    else if (r[i].length > (uint64_t)(INT64_MAX - r[i].offset))
      status = gsr__err(GSR_EINVAL,
                        "gsr_read_ranges: range %zu: offset %lld "
                        "+ length %llu exceeds INT64_MAX",
                        i, (long long)r[i].offset,
                        (unsigned long long)r[i].length);
  }
  for (size_t i = 0; i < n; i++) {
    r[i].delivered = 0;
    r[i].status = status;
    memset(&r[i].slice, 0, sizeof(r[i].slice));
  }
  return status;
}

/* The limits of this call's plan. */
static void limits(struct call *c, const gsr_ranges_options *o,
                   struct gsr__rplan_limits *lim) {
  gsr_client *cl = c->f->client;
  lim->span_limit = o->span_limit ? o->span_limit : GSR__SPAN_DEFAULT;
  if (o->hole_limit >= 0)
    lim->hole_limit = (uint64_t)o->hole_limit;
  else if (c->local) /* a pread has no first-byte wait to save */
    lim->hole_limit = 0;
  else
    lim->hole_limit = gsr__rplan_hole_limit(atomic_load(&cl->link_rate),
                                            atomic_load(&cl->link_ttfb));
  c->st.hole_limit = lim->hole_limit;
  c->st.span_limit = lim->span_limit;
}

/* The requests in flight: the caller's concurrency, else the files' when
 * each was set (option or environment; the largest), else what the
 * plans' spans and the measured link call for, within the pool. */
static int width(const struct call *calls, size_t k,
                 const gsr_ranges_options *o) {
  if (o->concurrency) return o->concurrency;
  int all_set = 1, most = 1;
  size_t spans = 0;
  uint64_t bytes = 0;
  for (size_t i = 0; i < k; i++) {
    const struct gsr__file *f = calls[i].f;
    all_set = all_set && !f->auto_width;
    most = GSR__MAX(most, f->concurrency);
    spans += calls[i].plan.n_spans;
    bytes += calls[i].plan.bytes;
  }
  if (all_set) return most;
  gsr_client *cl = calls[0].f->client;
  return gsr__rplan_width(spans, bytes, atomic_load(&cl->link_rate),
                          atomic_load(&cl->link_ttfb), most,
                          cl->opts.max_connections);
}

/* Clamps and plans one file's ranges. */
static int plan(struct call *c, const gsr_ranges_options *o) {
  size_t n = c->n;
  uint64_t size = c->f->obj->st.size;
  struct gsr__rplan_limits lim;
  c->err_at = SIZE_MAX;
  c->local = c->f->obj->local;
  c->st.ranges = n;
  c->in = gsr__malloc((n ? n : 1) * sizeof(*c->in));
  c->land = gsr__malloc((n ? n : 1) * sizeof(*c->land));
  if (c->in == NULL || c->land == NULL)
    return gsr__err(GSR_ENOMEM, "out of memory for %zu ranges", n);
  for (size_t i = 0; i < n; i++) {
    uint64_t off = (uint64_t)c->r[i].offset;
    c->in[i].off = off;
    c->in[i].len = off >= size ? 0 : GSR__MIN(c->r[i].length, size - off);
    c->land[i] = c->r[i].buf;
  }
  limits(c, o, &lim);
  int status = gsr__rplan_build(c->in, n, &lim, &c->plan);
  if (status != GSR_OK) return status;
  GSR__TRACE(
      c->f->client,
      "%s: %zu ranges -> %zu spans, %llu bytes, %llu in "
      "holes (hole limit %llu, span limit %llu)",
      c->f->obj->display, n, c->plan.n_spans, (unsigned long long)c->plan.bytes,
      (unsigned long long)c->plan.hole_bytes,
      (unsigned long long)lim.hole_limit, (unsigned long long)lim.span_limit);
  return GSR_OK;
}

/* One file's results: the ranges' statuses (status: the plan's, if it
 * failed), its counters; the first failure (its r's order) named in
 * *msg_status and the message when it is the call's first. */
static void settle(struct call *c, int status) {
  struct gsr__file *f = c->f;
  for (size_t i = 0; i < c->n; i++) {
    if (status != GSR_OK) c->r[i].status = status; /* nothing was read */
    if (c->r[i].status != GSR_OK) c->st.failed++;
    c->st.bytes_delivered += c->r[i].delivered;
  }
  struct gsr__stats *fs = &f->stats;
  uint64_t refs = 0;
  for (size_t i = 0; i < c->n; i++)
    if (c->r[i].buf == NULL) refs += c->r[i].delivered;
  atomic_fetch_add(&fs->reads, 1);
  atomic_fetch_add(&fs->bytes_delivered, c->st.bytes_delivered);
  atomic_fetch_add(&fs->bytes_referenced, refs);
  atomic_fetch_add(&fs->bytes_copied, c->st.bytes_delivered - refs);
}

static void add_stats(gsr_ranges_stats *to, const gsr_ranges_stats *st) {
  to->ranges += st->ranges;
  to->spans += st->spans;
  to->requests += st->requests;
  to->bytes_fetched += st->bytes_fetched;
  to->hole_bytes += st->hole_bytes;
  to->bytes_delivered += st->bytes_delivered;
  to->failed += st->failed;
  to->hole_limit = st->hole_limit;
  to->span_limit = st->span_limit;
}

static void call_free(struct call *c) {
  gsr__rplan_free(&c->plan);
  gsr__free(c->in);
  gsr__free(c->land);
  gsr__free(c->index);
}

/* The calls planned, run under one width, settled. Returns GSR_OK, the
 * first failed range's status with its message (the caller's order), or
 * a failure that read nothing. */
static int run_calls(struct call *calls, size_t k, const gsr_ranges_options *o,
                     uint64_t t0) {
  struct sched *q = gsr__calloc(1, sizeof(*q));
  int status = q == NULL ? gsr__err(GSR_ENOMEM, "out of memory") : GSR_OK;
  size_t total_spans = 0;
  for (size_t i = 0; i < k && status == GSR_OK; i++) {
    status = plan(&calls[i], o);
    total_spans += calls[i].plan.n_spans;
  }
  if (status == GSR_OK && k > 0) {
    q->conc = GSR__MIN(GSR__MAX(width(calls, k, o), 1), MAX_CONCURRENCY);
    /* More requests than the pool has connections only queue. */
    q->conc = GSR__MIN(q->conc, calls[0].f->client->opts.max_connections);
    run_spans(q, calls, k, total_spans);
  }
  gsr_ranges_stats st;
  memset(&st, 0, sizeof(st));
  size_t err_at = SIZE_MAX;
  const struct call *err_call = NULL;
  for (size_t i = 0; i < k; i++) {
    struct call *c = &calls[i];
    settle(c, status);
    add_stats(&st, &c->st);
    if (status != GSR_OK || c->err_at == SIZE_MAX) continue;
    size_t at = c->index ? c->index[c->err_at] : c->err_at;
    if (at < err_at) {
      err_at = at;
      err_call = c;
    }
  }
  if (err_call != NULL) {
    const gsr_range *r = &err_call->r[err_call->err_at];
    status = gsr__err(err_call->err.status,
                      "range %zu (offset %lld, length %llu): "
                      "%s",
                      err_at, (long long)r->offset,
                      (unsigned long long)r->length, err_call->err.msg);
  }
  st.concurrency = q ? q->conc : 0;
  st.seconds = (double)(gsr__now_ns() - t0) / 1e9;
  if (o->stats != NULL) *o->stats = st;
  gsr__free(q);
  return status;
}

int gsr__file_read_ranges(struct gsr__file *f, gsr_range *ranges, size_t n,
                          const gsr_ranges_options *opts, uint64_t t0) {
  struct call *c = gsr__calloc(1, sizeof(*c));
  if (c == NULL) {
    for (size_t i = 0; i < n; i++) ranges[i].status = GSR_ENOMEM;
    return gsr__err(GSR_ENOMEM, "out of memory");
  }
  *c = (struct call){.f = f, .r = ranges, .n = n};
  int status = run_calls(c, 1, opts, t0);
  call_free(c);
  gsr__free(c);
  return status;
}

static int by_file(const void *a, const void *b, void *files) {
  struct gsr__file *const *fs = files;
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  uintptr_t x = (uintptr_t)fs[i], y = (uintptr_t)fs[j];
  if (x != y) return x < y ? -1 : 1;
  return i < j ? -1 : i > j;
}

int gsr__files_read_ranges(struct gsr__file **files, gsr_range *ranges,
                           size_t n, const gsr_ranges_options *opts,
                           uint64_t t0) {
  size_t *order = gsr__malloc((n ? n : 1) * sizeof(*order));
  if (order == NULL) {
    for (size_t i = 0; i < n; i++)
      if (files[i] != NULL) ranges[i].status = GSR_ENOMEM;
    return gsr__err(GSR_ENOMEM, "out of memory");
  }
  size_t k = 0, m = 0;
  for (size_t i = 0; i < n; i++)
    if (files[i] != NULL) order[m++] = i;
  qsort_r(order, m, sizeof(*order), by_file, files);
  for (size_t i = 0; i < m; i++)
    k += i == 0 || files[order[i]] != files[order[i - 1]];
  struct call *calls = gsr__calloc(k ? k : 1, sizeof(*calls));
  int status = calls == NULL ? gsr__err(GSR_ENOMEM, "out of memory") : GSR_OK;
  /* Each file's ranges gathered (copies of the caller's), in the caller's
   * order. */
  for (size_t i = 0, ci = 0; i < m && status == GSR_OK; ci++) {
    size_t j = i;
    while (j < m && files[order[j]] == files[order[i]]) j++;
    struct call *c = &calls[ci];
    c->f = files[order[i]];
    c->n = j - i;
    c->r = gsr__malloc(c->n * sizeof(*c->r));
    c->index = gsr__malloc(c->n * sizeof(*c->index));
    if (c->r == NULL || c->index == NULL)
      status = gsr__err(GSR_ENOMEM, "out of memory");
    for (size_t x = 0; x < c->n && status == GSR_OK; x++) {
      c->index[x] = order[i + x];
      c->r[x] = ranges[order[i + x]];
    }
    i = j;
  }
  if (status == GSR_OK) {
    status = run_calls(calls, k, opts, t0);
    for (size_t ci = 0; ci < k; ci++) /* the results, back in place */
      for (size_t x = 0; x < calls[ci].n; x++) {
        gsr_range *to = &ranges[calls[ci].index[x]];
        to->delivered = calls[ci].r[x].delivered;
        to->status = calls[ci].r[x].status;
        to->slice = calls[ci].r[x].slice;
      }
  } else {
    for (size_t i = 0; i < m; i++) ranges[order[i]].status = status;
  }
  for (size_t ci = 0; calls != NULL && ci < k; ci++) {
    gsr__free(calls[ci].r);
    call_free(&calls[ci]);
  }
  gsr__free(calls);
  gsr__free(order);
  return status;
}
