/* gsread._gsread: the CPython extension under gsread's fsspec layer.
 *
 * Built on the public API (include/gsread.h) only. Every call that can
 * block (network, a file's lock, the I/O thread) runs with the GIL
 * released, so Python threads (Dask's, a thread pool's) read in parallel.
 * Objects remember the process that made them: after fork() the child has
 * no I/O thread, so a Client or File of the parent refuses to be used
 * there (OSError) and is dropped without being freed (freeing would wait
 * on a thread that does not exist). The Python layer makes a new client
 * in each process (gsread/fs.py).
 *
 * SPDX-License-Identifier: MIT
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gsread.h>

PyMODINIT_FUNC PyInit__gsread(void);

static PyObject *ObjectChanged; /* gsread.ObjectChanged(OSError) */

/* ---- Errors ---------------------------------------------------------------
 * One table: a gsread status -> the exception Python users catch. An errno
 * of 0 means "no errno": the type is raised with the message alone. */
struct errmap {
  int status;
  PyObject **type;
  int err;
};

static PyObject *exc_oserror, *exc_valueerror, *exc_memoryerror;

static const struct errmap ERRORS[] = {
    {GSR_EINVAL, &exc_valueerror, 0},
    {GSR_ENOMEM, &exc_memoryerror, 0},
    {GSR_ENOENT, &exc_oserror, ENOENT},     /* FileNotFoundError */
    {GSR_EACCES, &exc_oserror, EACCES},     /* PermissionError */
    {GSR_EAUTH, &exc_oserror, EACCES},      /* PermissionError */
    {GSR_ECHANGED, &ObjectChanged, ESTALE}, /* replaced under an open file */
    {GSR_ERANGE, &exc_oserror, ERANGE},
    {GSR_ENETWORK, &exc_oserror, ECONNABORTED}, /* ConnectionAbortedError */
    {GSR_ETIMEDOUT, &exc_oserror, ETIMEDOUT},   /* TimeoutError */
    {GSR_ECLOSED, &exc_valueerror, 0},          /* as io's closed files */
    {GSR_EBADF, &exc_oserror, EBADF},
    {GSR_EPROTO, &exc_oserror, EPROTO},
    {GSR_EHTTP, &exc_oserror, EIO},
    {GSR_EIO, &exc_oserror, EIO},
    {GSR_ECANCELED, &exc_oserror, ECANCELED},
    {GSR_EUNSUPPORTED, &exc_oserror, EOPNOTSUPP},
    {GSR_ETLS, &exc_oserror, EPROTO},
    {GSR_EINTEGRITY, &exc_oserror, EIO},
};

/* The exception for status with message msg, not raised (a new
 * reference; NULL only if building it failed, with an error set). It
 * carries .gsr_status, the code's name ("GSR_ENOENT"). */
static PyObject *make_error(int status, const char *msg) {
  PyObject *type = exc_oserror;
  int err = EIO;
  for (size_t i = 0; i < sizeof(ERRORS) / sizeof(ERRORS[0]); i++)
    if (ERRORS[i].status == status) {
      type = *ERRORS[i].type;
      err = ERRORS[i].err;
      break;
    }
  if (msg == NULL || msg[0] == '\0') msg = gsr_strerror(status);
  PyObject *text = PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg),
                                        "replace");
  if (text == NULL) return NULL;
  PyObject *exc;
  if (err != 0)
    /* OSError(errno, text) picks the subclass (FileNotFoundError...). */
    exc = PyObject_CallFunction(type, "iO", err, text);
  else
    exc = PyObject_CallFunctionObjArgs(type, text, NULL);
  Py_DECREF(text);
  if (exc == NULL) return NULL;
  PyObject *name = PyUnicode_FromString(gsr_status_name(status));
  if (name == NULL || PyObject_SetAttrString(exc, "gsr_status", name) < 0) {
    Py_XDECREF(name);
    Py_DECREF(exc);
    return NULL;
  }
  Py_DECREF(name);
  return exc;
}

/* Raises the error of the last failing gsread call on this thread. */
static PyObject *raise_status(int status) {
  PyObject *exc = make_error(status, gsr_errmsg());
  if (exc != NULL) {
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
  }
  return NULL;
}

static PyObject *raise_forked(const char *what) {
  PyErr_Format(PyExc_OSError,
               "gsread: this %s was made in another process (before a fork); "
               "make a new one in this process",
               what);
  return NULL;
}

/* ---- Client ---------------------------------------------------------------*/
typedef struct {
  PyObject_HEAD
  gsr_client *client;
  pid_t pid;
} ClientObject;

static PyTypeObject ClientType;

/* Copies a str/None argument for the life of the call. */
static int opt_str(PyObject *o, const char **out) {
  if (o == NULL || o == Py_None) {
    *out = NULL;
    return 0;
  }
  if (!PyUnicode_Check(o)) {
    PyErr_SetString(PyExc_TypeError, "expected str or None");
    return -1;
  }
  *out = PyUnicode_AsUTF8(o);
  return *out == NULL ? -1 : 0;
}

static int Client_init(ClientObject *self, PyObject *args, PyObject *kw) {
  static char *names[] = {"endpoint",
                          "access_token",
                          "credentials_file",
                          "anonymous",
                          "user_project",
                          "max_connections",
                          "memory_budget",
                          "ca_bundle",
                          "user_agent",
                          "retry_max_attempts",
                          "stall_timeout_ms",
                          "request_timeout_ms",
                          NULL};
  PyObject *endpoint = NULL, *token = NULL, *creds = NULL, *project = NULL,
           *ca = NULL, *ua = NULL;
  int anonymous = 0, max_connections = 0, retry_max_attempts = 0;
  unsigned long long budget = 0;
  long stall_ms = 0, request_ms = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|$OOOpOiKOOill", names, &endpoint,
                                   &token, &creds, &anonymous, &project,
                                   &max_connections, &budget, &ca, &ua,
                                   &retry_max_attempts, &stall_ms, &request_ms))
    return -1;
  if (self->client != NULL) {
    PyErr_SetString(PyExc_RuntimeError, "Client already initialized");
    return -1;
  }
  gsr_client_options o;
  gsr_client_options_init(&o);
  if (opt_str(endpoint, &o.endpoint) < 0 ||
      opt_str(token, &o.access_token) < 0 ||
      opt_str(creds, &o.credentials_file) < 0 ||
      opt_str(project, &o.user_project) < 0 || opt_str(ca, &o.ca_bundle) < 0 ||
      opt_str(ua, &o.user_agent) < 0)
    return -1;
  o.anonymous = anonymous;
  if (max_connections != 0) o.max_connections = max_connections;
  if (retry_max_attempts != 0) o.retry_max_attempts = retry_max_attempts;
  if (stall_ms != 0) o.stall_timeout_ms = stall_ms;
  o.request_timeout_ms = request_ms; /* 0: no limit, the default */
  o.memory_budget = budget;
  gsr_client *c = NULL;
  int status;
  Py_BEGIN_ALLOW_THREADS
  status = gsr_client_new(&o, &c);
  Py_END_ALLOW_THREADS
  if (status != GSR_OK) {
    raise_status(status);
    return -1;
  }
  self->client = c;
  self->pid = getpid();
  return 0;
}

static void Client_dealloc(ClientObject *self) {
  /* In a forked child the client's I/O thread does not exist: leak it. */
  if (self->client != NULL && self->pid == getpid()) {
    gsr_client *c = self->client;
    Py_BEGIN_ALLOW_THREADS
    gsr_client_free(c);
    Py_END_ALLOW_THREADS
  }
  self->client = NULL;
  Py_TYPE(self)->tp_free((PyObject *)self);
}

/* 1 if an object may be used: not gone (else ValueError gone_msg) and made
 * in this process (else the fork's OSError naming what). */
static int usable(int gone, const char *gone_msg, pid_t pid, const char *what) {
  if (gone) {
    PyErr_SetString(PyExc_ValueError, gone_msg);
    return 0;
  }
  if (pid != getpid()) {
    raise_forked(what);
    return 0;
  }
  return 1;
}

static int client_ok(ClientObject *self) {
  return usable(self->client == NULL, "Client not initialized", self->pid,
                "Client");
}

/* ---- File -----------------------------------------------------------------*/
typedef struct {
  PyObject_HEAD
  gsr_file file;
  ClientObject *client; /* kept alive while the file is */
  pid_t pid;
  int closed;
} FileObject;

static PyTypeObject FileType;

static int file_ok(FileObject *self) {
  return usable(self->closed, "I/O operation on closed file", self->pid,
                "File");
}

struct lentry;
static int lentry_from_dict(PyObject *d, struct lentry **out);
static void lentry_release(struct lentry *e);
static int lentry_open(gsr_client *c, const char *url,
                       const gsr_file_options *o, const struct lentry *e,
                       gsr_file *h);

static PyObject *Client_open(ClientObject *self, PyObject *args, PyObject *kw) {
  static char *names[] = {
      "url",        "cache_type",   "block_size",    "concurrency", "prefetch",
      "max_blocks", "max_prefetch", "min_part_size", "listed",      NULL};
  const char *url;
  PyObject *cache = NULL, *prefetch = NULL, *listed = NULL;
  unsigned long long block_size = 0, max_prefetch = 0, min_part = 0;
  int concurrency = 0, max_blocks = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "s|$OKiOiKKO", names, &url, &cache,
                                   &block_size, &concurrency, &prefetch,
                                   &max_blocks, &max_prefetch, &min_part,
                                   &listed))
    return NULL;
  if (!client_ok(self)) return NULL;
  struct lentry *entry = NULL;
  if (listed != NULL && listed != Py_None &&
      lentry_from_dict(listed, &entry) < 0)
    return NULL;
  gsr_file_options o;
  gsr_file_options_init(&o);
  if (opt_str(cache, &o.cache_type) < 0 || opt_str(prefetch, &o.prefetch) < 0) {
    lentry_release(entry);
    return NULL;
  }
  if (block_size) o.block_size = block_size;
  if (concurrency) o.concurrency = concurrency;
  if (max_blocks) o.max_blocks = max_blocks;
  if (max_prefetch) o.max_prefetch = max_prefetch;
  if (min_part) o.min_part_size = min_part;
  FileObject *f = PyObject_New(FileObject, &FileType);
  if (f == NULL) {
    lentry_release(entry);
    return NULL;
  }
  f->file = GSR_FILE_INVALID;
  f->client = NULL;
  f->pid = getpid();
  f->closed = 1;
  gsr_file h = GSR_FILE_INVALID;
  int status;
  gsr_client *c = self->client;
  Py_BEGIN_ALLOW_THREADS
  status = entry != NULL ? lentry_open(c, url, &o, entry, &h)
                         : gsr_open(c, url, &o, &h);
  Py_END_ALLOW_THREADS
  lentry_release(entry);
  if (status != GSR_OK) {
    Py_DECREF(f);
    return raise_status(status);
  }
  f->file = h;
  f->closed = 0;
  Py_INCREF(self);
  f->client = self;
  return (PyObject *)f;
}

static void File_dealloc(FileObject *self) {
  if (!self->closed && self->pid == getpid()) {
    gsr_file h = self->file;
    Py_BEGIN_ALLOW_THREADS
    gsr_close(h);
    Py_END_ALLOW_THREADS
  }
  self->closed = 1;
  Py_XDECREF(self->client);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *File_close(FileObject *self, PyObject *unused) {
  if (self->closed) Py_RETURN_NONE;
  self->closed = 1;
  if (self->pid != getpid()) Py_RETURN_NONE; /* the parent's: not ours */
  gsr_file h = self->file;
  Py_BEGIN_ALLOW_THREADS
  gsr_close(h);
  Py_END_ALLOW_THREADS
  Py_RETURN_NONE;
}

/* A large read's new bytes object is fresh memory: its pages are mapped
 * in one call (MADV_POPULATE_WRITE, Linux 5.14) rather than one fault at
 * a time while the I/O threads write into them (issue 24: 1 GiB faulted
 * page by page cost 0.50 CPU s, populated 0.41). Advice only: where the
 * kernel lacks it, the pages fault in as before. Without the GIL. */
#define POPULATE_MIN (16 << 20)
static void populate(char *p, size_t n) {
#ifdef MADV_POPULATE_WRITE
  long ps = sysconf(_SC_PAGESIZE);
  uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
  uintptr_t from = ((uintptr_t)p + page - 1) & ~(page - 1);
  uintptr_t to = ((uintptr_t)p + n) & ~(page - 1);
  if (n >= POPULATE_MIN && to > from)
    (void)madvise((void *)from, to - from, MADV_POPULATE_WRITE);
#else
  (void)p;
  (void)n;
#endif
}

/* bytes: at most want bytes (< 0: all) read at offset (-1: the position). */
static PyObject *read_new(FileObject *self, Py_ssize_t want, int64_t offset) {
  gsr_file h = self->file;
  int64_t pos, size;
  Py_BEGIN_ALLOW_THREADS
  size = gsr_size(h);
  pos = offset >= 0 ? offset : gsr_tell(h);
  Py_END_ALLOW_THREADS
  if (size < 0) return raise_status((int)size);
  if (pos < 0) return raise_status((int)pos);
  /* Never allocate past the end: read(1 << 40) of a small object is fine. */
  int64_t left = pos < size ? size - pos : 0;
  if (want < 0 || want > left) want = (Py_ssize_t)left;
  PyObject *b = PyBytes_FromStringAndSize(NULL, want);
  if (b == NULL) return NULL;
  if (want == 0) return b;
  char *p = PyBytes_AS_STRING(b);
  int64_t n;
  Py_BEGIN_ALLOW_THREADS
  populate(p, (size_t)want);
  n = offset >= 0 ? gsr_pread(h, p, (size_t)want, offset)
                  : gsr_read(h, p, (size_t)want);
  Py_END_ALLOW_THREADS
  if (n < 0) {
    Py_DECREF(b);
    return raise_status((int)n);
  }
  if (n < want && _PyBytes_Resize(&b, (Py_ssize_t)n) < 0) return NULL;
  return b;
}

static PyObject *File_read(FileObject *self, PyObject *args) {
  Py_ssize_t n = -1;
  if (!PyArg_ParseTuple(args, "|n", &n)) return NULL;
  if (!file_ok(self)) return NULL;
  return read_new(self, n, -1);
}

static PyObject *File_pread(FileObject *self, PyObject *args) {
  Py_ssize_t n;
  long long off;
  if (!PyArg_ParseTuple(args, "nL", &n, &off)) return NULL;
  if (!file_ok(self)) return NULL;
  if (off < 0) {
    PyErr_SetString(PyExc_ValueError, "negative offset");
    return NULL;
  }
  return read_new(self, n, (int64_t)off);
}

/* readinto(buffer) / preadinto(buffer, offset): the bytes land straight in
 * the caller's buffer (any writable C-contiguous buffer). */
static PyObject *into(FileObject *self, PyObject *args, int at) {
  Py_buffer view;
  long long off = -1;
  if (at ? !PyArg_ParseTuple(args, "w*L", &view, &off)
         : !PyArg_ParseTuple(args, "w*", &view))
    return NULL;
  if (!file_ok(self) || (at && off < 0)) {
    if (at && off < 0 && !PyErr_Occurred())
      PyErr_SetString(PyExc_ValueError, "negative offset");
    PyBuffer_Release(&view);
    return NULL;
  }
  gsr_file h = self->file;
  int64_t n = 0;
  if (view.len > 0) {
    Py_BEGIN_ALLOW_THREADS
    n = at ? gsr_pread(h, view.buf, (size_t)view.len, (int64_t)off)
           : gsr_read(h, view.buf, (size_t)view.len);
    Py_END_ALLOW_THREADS
  }
  PyBuffer_Release(&view);
  if (n < 0) return raise_status((int)n);
  return PyLong_FromLongLong(n);
}

static PyObject *File_readinto(FileObject *self, PyObject *args) {
  return into(self, args, 0);
}
static PyObject *File_preadinto(FileObject *self, PyObject *args) {
  return into(self, args, 1);
}

static PyObject *File_seek(FileObject *self, PyObject *args) {
  long long off;
  int whence = 0;
  if (!PyArg_ParseTuple(args, "L|i", &off, &whence)) return NULL;
  if (!file_ok(self)) return NULL;
  gsr_file h = self->file;
  int64_t r;
  Py_BEGIN_ALLOW_THREADS
  r = gsr_seek(h, (int64_t)off, whence);
  Py_END_ALLOW_THREADS
  if (r < 0) return raise_status((int)r);
  return PyLong_FromLongLong(r);
}

static PyObject *File_tell(FileObject *self, PyObject *unused) {
  if (!file_ok(self)) return NULL;
  gsr_file h = self->file;
  int64_t r;
  Py_BEGIN_ALLOW_THREADS
  r = gsr_tell(h);
  Py_END_ALLOW_THREADS
  if (r < 0) return raise_status((int)r);
  return PyLong_FromLongLong(r);
}

static PyObject *File_set_read_end(FileObject *self, PyObject *args) {
  unsigned long long end;
  if (!PyArg_ParseTuple(args, "K", &end)) return NULL;
  if (!file_ok(self)) return NULL;
  gsr_file h = self->file;
  int r;
  Py_BEGIN_ALLOW_THREADS
  r = gsr_set_read_end(h, end);
  Py_END_ALLOW_THREADS
  if (r < 0) return raise_status(r);
  Py_RETURN_NONE;
}

static PyObject *hex_md5(const unsigned char *md5) {
  char hex[33];
  for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", md5[i]);
  return PyUnicode_FromStringAndSize(hex, 32);
}

/* A server's text (an http header may carry any byte): bytes that are not
 * UTF-8 become U+FFFD instead of failing the whole call. */
static PyObject *server_text(const char *s) {
  return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

/* The metadata read at open, as a dict (no I/O). */
static PyObject *File_stat(FileObject *self, PyObject *unused) {
  if (!file_ok(self)) return NULL;
  gsr_stat st;
  int r = gsr_fstat(self->file, &st);
  if (r < 0) return raise_status(r);
  PyObject *crc = st.has_crc32c ? PyLong_FromUnsignedLong(st.crc32c)
                                : (Py_INCREF(Py_None), Py_None);
  PyObject *md5 = st.has_md5 ? hex_md5(st.md5) : (Py_INCREF(Py_None), Py_None);
  PyObject *etag = server_text(st.etag), *ctype = server_text(st.content_type);
  PyObject *updated = server_text(st.updated);
  PyObject *cenc = server_text(st.content_encoding);
  PyObject *sclass = server_text(st.storage_class);
  PyObject *created = server_text(st.time_created);
  if (!crc || !md5 || !etag || !ctype || !updated || !cenc || !sclass ||
      !created) {
    Py_XDECREF(crc);
    Py_XDECREF(md5);
    Py_XDECREF(etag);
    Py_XDECREF(ctype);
    Py_XDECREF(updated);
    Py_XDECREF(cenc);
    Py_XDECREF(sclass);
    Py_XDECREF(created);
    return NULL;
  }
  return Py_BuildValue(
      "{s:K,s:L,s:L,s:N,s:N,s:N,s:N,s:N,s:L,s:N,s:N,s:N}", "size",
      (unsigned long long)st.size, "generation", (long long)st.generation,
      "metageneration", (long long)st.metageneration, "etag", etag, "crc32c",
      crc, "md5", md5, "content_type", ctype, "updated", updated, "mtime",
      (long long)st.mtime, "content_encoding", cenc, "storage_class", sclass,
      "time_created", created);
}

static PyObject *File_stats(FileObject *self, PyObject *unused) {
  if (!file_ok(self)) return NULL;
  gsr_file_stats s;
  int r = gsr_file_stats_get(self->file, &s);
  if (r < 0) return raise_status(r);
  return Py_BuildValue(
      "{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:d,s:K,s:K,s:s}", "reads",
      (unsigned long long)s.reads, "hits", (unsigned long long)s.hits, "misses",
      (unsigned long long)s.misses, "requests", (unsigned long long)s.requests,
      "bytes_fetched", (unsigned long long)s.bytes_fetched, "bytes_delivered",
      (unsigned long long)s.bytes_delivered, "bytes_copied",
      (unsigned long long)s.bytes_copied, "bytes_referenced",
      (unsigned long long)s.bytes_referenced, "bytes_direct",
      (unsigned long long)s.bytes_direct, "prefetched_unused",
      (unsigned long long)s.prefetched_unused, "stalls",
      (unsigned long long)s.stalls, "stall_seconds", s.stall_seconds, "window",
      (unsigned long long)s.window, "peak_buffered",
      (unsigned long long)s.peak_buffered, "plan", s.plan ? s.plan : "none");
}

static PyObject *File_size(FileObject *self, void *unused) {
  if (!file_ok(self)) return NULL;
  int64_t r = gsr_size(self->file);
  if (r < 0) return raise_status((int)r);
  return PyLong_FromLongLong(r);
}

static PyObject *File_closed(FileObject *self, void *unused) {
  return PyBool_FromLong(self->closed);
}

/* ---- Ranges ---------------------------------------------------------------
 * read_ranges: many (file, offset, length) reads at once, of any number of
 * files, in one gsr_read_ranges_files call with the GIL released: each
 * file's ranges sorted, merged and joined by cost, every file's spans
 * fetched under one width, landing straight in their bytes objects
 * (docs/ranges.md). The Python layer reaches it through one function
 * (gsread/fs.py: _read_ranges). */
/* read_ranges(items) -> list: items is a sequence of (File, offset,
 * length); each result is bytes (shorter at the end of the object) or the
 * exception its read failed with (not raised). */
static PyObject *mod_read_ranges(PyObject *mod, PyObject *arg) {
  PyObject *seq = PySequence_Fast(arg, "read_ranges: expected a sequence");
  if (seq == NULL) return NULL;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  size_t count = n > 0 ? (size_t)n : 1;
  PyObject *out = PyList_New(n);
  gsr_file *files = PyMem_Calloc(count, sizeof(*files));
  gsr_range *r = PyMem_Calloc(count, sizeof(*r));
  if (out == NULL || files == NULL || r == NULL) {
    Py_XDECREF(out);
    PyMem_Free(files);
    PyMem_Free(r);
    Py_DECREF(seq);
    return PyErr_NoMemory();
  }
  PyObject *fail = NULL;
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *f;
    long long off;
    Py_ssize_t len;
    PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
    if (!PyArg_ParseTuple(item,
                          "O!Ln;read_ranges: items are (File, offset, length)",
                          &FileType, &f, &off, &len)) {
      fail = out;
      break;
    }
    if (off < 0 || len < 0) {
      PyErr_SetString(PyExc_ValueError,
                      "read_ranges: negative offset or length");
      fail = out;
      break;
    }
    if (!file_ok((FileObject *)f)) {
      fail = out;
      break;
    }
    /* Clamped to the object before the buffer is made: a length past its
     * end must not allocate what will never be read. */
    gsr_stat st;
    int rs = gsr_fstat(((FileObject *)f)->file, &st);
    if (rs < 0) {
      raise_status(rs);
      fail = out;
      break;
    }
    uint64_t left = (uint64_t)off < st.size ? st.size - (uint64_t)off : 0;
    if ((uint64_t)len > left) len = (Py_ssize_t)left;
    PyObject *b = PyBytes_FromStringAndSize(NULL, len);
    if (b == NULL) {
      fail = out;
      break;
    }
    PyList_SET_ITEM(out, i, b);
    files[i] = ((FileObject *)f)->file;
    r[i] = (gsr_range){
        .offset = off, .length = (uint64_t)len, .buf = PyBytes_AS_STRING(b)};
  }
  if (fail == NULL) {
    int status;
    char *msg = NULL;
    Py_BEGIN_ALLOW_THREADS
    status = gsr_read_ranges_files(files, r, (size_t)n, NULL);
    if (status != GSR_OK) msg = strdup(gsr_errmsg());
    Py_END_ALLOW_THREADS
    /* A failure before any range was looked at (bad arguments) leaves the
     * ranges' statuses unset: the call's is theirs. The first failed range
     * (in order) has the call's message; the others their status's name. */
    int named = 0;
    for (Py_ssize_t i = 0; i < n && fail == NULL; i++) {
      int st = r[i].status;
      if (st != GSR_OK) {
        PyObject *e = make_error(st,
                                 named || msg == NULL ? gsr_strerror(st) : msg);
        named = 1;
        if (e == NULL) {
          fail = out;
          break;
        }
        PyList_SetItem(out, i, e); /* drops the bytes */
      } else if (r[i].delivered < r[i].length) {
        /* Out of the list first: only a sole reference can be resized. */
        PyObject *b = PyList_GET_ITEM(out, i);
        PyList_SET_ITEM(out, i, NULL);
        if (_PyBytes_Resize(&b, (Py_ssize_t)r[i].delivered) < 0) {
          fail = out;
          break;
        }
        PyList_SET_ITEM(out, i, b);
      }
    }
    free(msg);
  }
  PyMem_Free(files);
  PyMem_Free(r);
  Py_DECREF(seq);
  if (fail != NULL) {
    Py_DECREF(out);
    return NULL;
  }
  return out;
}

/* ---- Listing --------------------------------------------------------------
 * The callback runs on this thread with the GIL released, so entries are
 * gathered in C and turned into Python objects afterwards. */
/* The string fields of an entry, copied out of the callback. */
#define LENTRY_STRS(X)                   \
  X(name, "name")                        \
  X(updated, "updated")                  \
  X(etag, "etag")                        \
  X(md5_hash, "md5Hash")                 \
  X(content_type, "contentType")         \
  X(content_encoding, "contentEncoding") \
  X(storage_class, "storageClass")       \
  X(time_created, "timeCreated")
struct lentry {
#define LENTRY_FIELD(f, key) char *f;
  LENTRY_STRS(LENTRY_FIELD)
#undef LENTRY_FIELD
  int is_prefix, has_crc32c;
  uint64_t size;
  int64_t generation, metageneration;
  uint32_t crc32c;
};
struct lacc {
  struct lentry *v;
  size_t n, cap;
  size_t limit; /* stop after this many (0: no limit) */
  int oom;
};

static void lentry_free(struct lentry *d) {
#define LENTRY_FREE(f, key) free(d->f);
  LENTRY_STRS(LENTRY_FREE)
#undef LENTRY_FREE
}

static int list_cb(void *arg, const gsr_list_entry *e) {
  struct lacc *a = arg;
  if (a->n == a->cap) {
    size_t cap = a->cap ? 2 * a->cap : 64;
    struct lentry *v = realloc(a->v, cap * sizeof(*v));
    if (v == NULL) {
      a->oom = 1;
      return 1;
    }
    a->v = v;
    a->cap = cap;
  }
  struct lentry *d = &a->v[a->n];
  int failed = 0;
#define LENTRY_COPY(f, key)        \
  d->f = strdup(e->f ? e->f : ""); \
  failed |= d->f == NULL;
  LENTRY_STRS(LENTRY_COPY)
#undef LENTRY_COPY
  if (failed) {
    lentry_free(d);
    a->oom = 1;
    return 1;
  }
  d->is_prefix = e->is_prefix;
  d->size = e->size;
  d->generation = e->generation;
  d->metageneration = e->metageneration;
  d->has_crc32c = e->has_crc32c;
  d->crc32c = e->crc32c;
  a->n++;
  return a->limit != 0 && a->n >= a->limit;
}

/* open(listed=D): D as lentry_dict gives it (name and is_prefix not used;
 * a missing string is ""), copied into a heap entry so that no Python
 * object is touched while the GIL is released. */
static int lentry_from_dict(PyObject *d, struct lentry **out) {
  *out = NULL;
  if (!PyDict_Check(d)) {
    PyErr_SetString(PyExc_TypeError, "listed: expected a dict");
    return -1;
  }
  struct lentry *e = calloc(1, sizeof(*e));
  if (e == NULL) {
    PyErr_NoMemory();
    return -1;
  }
  int rc = 0;
#define LENTRY_GET(f, key)                            \
  if (rc == 0) {                                      \
    const char *s = NULL;                             \
    PyObject *v = PyDict_GetItemString(d, key);       \
    if (v != NULL && opt_str(v, &s) < 0) {            \
      rc = -1;                                        \
    } else if ((e->f = strdup(s ? s : "")) == NULL) { \
      PyErr_NoMemory();                               \
      rc = -1;                                        \
    }                                                 \
  }
  LENTRY_STRS(LENTRY_GET)
#undef LENTRY_GET
  PyObject *size = PyDict_GetItemString(d, "size");
  PyObject *gen = PyDict_GetItemString(d, "generation");
  PyObject *meta = PyDict_GetItemString(d, "metageneration");
  PyObject *crc = PyDict_GetItemString(d, "crc32c");
  if (rc == 0 && (size == NULL || gen == NULL)) {
    PyErr_SetString(PyExc_ValueError, "listed: size and generation needed");
    rc = -1;
  }
  if (rc == 0) {
    e->size = PyLong_AsUnsignedLongLong(size);
    e->generation = PyLong_AsLongLong(gen);
    e->metageneration = meta != NULL && meta != Py_None
                            ? PyLong_AsLongLong(meta)
                            : 0;
    if (crc != NULL && crc != Py_None) {
      e->crc32c = (uint32_t)PyLong_AsUnsignedLong(crc);
      e->has_crc32c = 1;
    }
    if (PyErr_Occurred()) rc = -1;
  }
  if (rc < 0) {
    lentry_release(e);
    return -1;
  }
  *out = e;
  return 0;
}

static void lentry_release(struct lentry *e) {
  if (e == NULL) return;
  lentry_free(e);
  free(e);
}

/* gsr_open_listed from a copied entry (no GIL needed). */
static int lentry_open(gsr_client *c, const char *url,
                       const gsr_file_options *o, const struct lentry *e,
                       gsr_file *h) {
  gsr_list_entry le = {
      .name = e->name,
      .size = e->size,
      .generation = e->generation,
      .updated = e->updated,
      .has_crc32c = e->has_crc32c,
      .crc32c = e->crc32c,
      .metageneration = e->metageneration,
      .etag = e->etag,
      .md5_hash = e->md5_hash,
      .content_type = e->content_type,
      .content_encoding = e->content_encoding,
      .storage_class = e->storage_class,
      .time_created = e->time_created,
  };
  return gsr_open_listed(c, url, o, &le, h);
}

/* One entry as a dict: name, is_prefix, size, generation, metageneration,
 * crc32c (int or None), and the strings under GCS's names (updated, etag,
 * md5Hash, contentType, contentEncoding, storageClass, timeCreated). */
static PyObject *lentry_dict(const struct lentry *e) {
  PyObject *crc = e->has_crc32c ? PyLong_FromUnsignedLong(e->crc32c)
                                : (Py_INCREF(Py_None), Py_None);
  if (crc == NULL) return NULL;
  PyObject *d = Py_BuildValue("{s:O,s:K,s:L,s:L,s:N}", "is_prefix",
                              e->is_prefix ? Py_True : Py_False, "size",
                              (unsigned long long)e->size, "generation",
                              (long long)e->generation, "metageneration",
                              (long long)e->metageneration, "crc32c", crc);
  if (d == NULL) return NULL;
#define LENTRY_SET(f, key)                                             \
  if (d != NULL) {                                                     \
    PyObject *v = PyUnicode_DecodeUTF8(e->f, (Py_ssize_t)strlen(e->f), \
                                       "surrogateescape");             \
    if (v == NULL || PyDict_SetItemString(d, key, v) < 0) Py_CLEAR(d); \
    Py_XDECREF(v);                                                     \
  }
  LENTRY_STRS(LENTRY_SET)
#undef LENTRY_SET
  return d;
}

/* list(url, recursive=False, limit=0) -> list of dicts (lentry_dict).
 * limit > 0 stops after that many entries (an existence check of a
 * prefix). */
static PyObject *Client_list(ClientObject *self, PyObject *args, PyObject *kw) {
  static char *names[] = {"url", "recursive", "limit", NULL};
  const char *url;
  int recursive = 0;
  Py_ssize_t limit = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "s|pn", names, &url, &recursive,
                                   &limit))
    return NULL;
  if (!client_ok(self)) return NULL;
  struct lacc acc = {.limit = limit > 0 ? (size_t)limit : 0};
  gsr_client *c = self->client;
  int status;
  Py_BEGIN_ALLOW_THREADS
  status = gsr_list(c, url, recursive, list_cb, &acc);
  Py_END_ALLOW_THREADS
  PyObject *out = NULL;
  if (acc.oom) {
    PyErr_NoMemory();
  } else if (status != GSR_OK &&
             !(status == GSR_ECANCELED && acc.limit && acc.n >= acc.limit)) {
    raise_status(status);
  } else if ((out = PyList_New((Py_ssize_t)acc.n)) != NULL) {
    for (size_t i = 0; i < acc.n; i++) {
      PyObject *d = lentry_dict(&acc.v[i]);
      if (d == NULL) {
        Py_CLEAR(out);
        break;
      }
      PyList_SET_ITEM(out, (Py_ssize_t)i, d);
    }
  }
  for (size_t i = 0; i < acc.n; i++) lentry_free(&acc.v[i]);
  free(acc.v);
  return out;
}

/* download(url, dest, concurrency=0, part_size=0) -> dict of its stats. */
static PyObject *Client_download(ClientObject *self, PyObject *args,
                                 PyObject *kw) {
  static char *names[] = {"url", "dest", "concurrency", "part_size", NULL};
  const char *url, *dest;
  int concurrency = 0;
  unsigned long long part = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "ss|iK", names, &url, &dest,
                                   &concurrency, &part))
    return NULL;
  if (!client_ok(self)) return NULL;
  gsr_download_options o;
  gsr_download_options_init(&o);
  o.concurrency = concurrency;
  o.part_size = part;
  gsr_download_stats st;
  memset(&st, 0, sizeof(st));
  gsr_client *c = self->client;
  int status;
  Py_BEGIN_ALLOW_THREADS
  status = gsr_download(c, url, dest, &o, &st);
  Py_END_ALLOW_THREADS
  if (status != GSR_OK) return raise_status(status);
  return Py_BuildValue(
      "{s:K,s:K,s:K,s:d,s:O,s:k}", "bytes", (unsigned long long)st.bytes,
      "requests", (unsigned long long)st.requests, "retries",
      (unsigned long long)st.retries, "seconds", st.seconds, "crc32c_verified",
      st.crc32c_verified ? Py_True : Py_False, "crc32c",
      (unsigned long)st.crc32c);
}

static PyObject *Client_auth_info(ClientObject *self, PyObject *unused) {
  if (!client_ok(self)) return NULL;
  gsr_auth_info ai;
  gsr_client *c = self->client;
  int status;
  Py_BEGIN_ALLOW_THREADS
  status = gsr_client_auth_info(c, &ai);
  Py_END_ALLOW_THREADS
  if (status != GSR_OK) return raise_status(status);
  return Py_BuildValue(
      "{s:s,s:s,s:s,s:s,s:O,s:L,s:L}", "kind", ai.kind, "source", ai.source,
      "detail", ai.detail, "account", ai.account, "has_expiry",
      ai.has_expiry ? Py_True : Py_False, "expires_at",
      (long long)ai.expires_at, "remaining", (long long)ai.remaining);
}

static PyObject *Client_stats(ClientObject *self, PyObject *unused) {
  if (!client_ok(self)) return NULL;
  gsr_client_stats s;
  int r = gsr_client_stats_get(self->client, &s);
  if (r < 0) return raise_status(r);
  return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K,s:K}", "requests",
                       (unsigned long long)s.requests, "bytes_fetched",
                       (unsigned long long)s.bytes_fetched, "buffered",
                       (unsigned long long)s.buffered, "peak_buffered",
                       (unsigned long long)s.peak_buffered, "budget",
                       (unsigned long long)s.budget, "retries",
                       (unsigned long long)s.retries, "resumes",
                       (unsigned long long)s.resumes);
}

static PyObject *Client_pid(ClientObject *self, void *unused) {
  return PyLong_FromLong((long)self->pid);
}

static PyMethodDef Client_methods[] = {
    {"open", (PyCFunction)(void (*)(void))Client_open,
     METH_VARARGS | METH_KEYWORDS,
     "open(url, *, cache_type=None, block_size=0, concurrency=0, prefetch=None,\n"
     "     max_blocks=0, max_prefetch=0, min_part_size=0, listed=None)\n"
     "     -> File\n\n"
     "Opens url (gs://, http(s)://, file://) pinned to its generation or ETag;\n"
     "one metadata request. 0 or None: the library's default. listed: the\n"
     "object's entry as list() gives it (gs:// only): no request at open\n"
     "(gsr_open_listed); pinned to its generation, reads raise ObjectChanged\n"
     "if the object was replaced or deleted since."},
    {"list", (PyCFunction)(void (*)(void))Client_list,
     METH_VARARGS | METH_KEYWORDS,
     "list(url, recursive=False, limit=0) -> list of dict\n\n"
     "objects.list of gs://BUCKET[/PREFIX], every page; without recursive,\n"
     "deeper names fold into prefix entries ending in '/'."},
    {"download", (PyCFunction)(void (*)(void))Client_download,
     METH_VARARGS | METH_KEYWORDS,
     "download(url, dest, concurrency=0, part_size=0) -> dict\n\n"
     "gsr_download: parallel parts into a temporary file renamed over dest\n"
     "once the CRC32C (or length) matched."},
    {"auth_info", (PyCFunction)Client_auth_info, METH_NOARGS,
     "auth_info() -> dict: which credentials are used (never the token)."},
    {"stats", (PyCFunction)Client_stats, METH_NOARGS,
     "stats() -> dict: client-wide counters."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Client_getset[] = {
    {"pid", (getter)Client_pid, NULL, "the process that made the client", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject ClientType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "gsread._gsread.Client",
    .tp_basicsize = sizeof(ClientObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc =
        "Client(*, endpoint=None, access_token=None, credentials_file=None,\n"
        "       anonymous=False, user_project=None, max_connections=0,\n"
        "       memory_budget=0, ca_bundle=None, user_agent=None,\n"
        "       retry_max_attempts=0, stall_timeout_ms=0,\n"
        "       request_timeout_ms=0)\n\n"
        "A gsread client: one I/O thread and a connection pool, shared by\n"
        "every file opened on it. Usable only in the process that made it.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Client_init,
    .tp_dealloc = (destructor)Client_dealloc,
    .tp_methods = Client_methods,
    .tp_getset = Client_getset,
};

static PyMethodDef File_methods[] = {
    {"read", (PyCFunction)File_read, METH_VARARGS,
     "read(n=-1) -> bytes: up to n bytes at the position (all to the end if n < 0)."},
    {"readinto", (PyCFunction)File_readinto, METH_VARARGS,
     "readinto(buffer) -> int: reads straight into a writable buffer."},
    {"pread", (PyCFunction)File_pread, METH_VARARGS,
     "pread(n, offset) -> bytes: at offset, the position untouched."},
    {"preadinto", (PyCFunction)File_preadinto, METH_VARARGS,
     "preadinto(buffer, offset) -> int"},
    {"seek", (PyCFunction)File_seek, METH_VARARGS,
     "seek(offset, whence=0) -> int: as lseek (no I/O)."},
    {"tell", (PyCFunction)File_tell, METH_NOARGS, "tell() -> int"},
    {"set_read_end", (PyCFunction)File_set_read_end, METH_VARARGS,
     "set_read_end(end): a promise that reads stop before end."},
    {"stat", (PyCFunction)File_stat, METH_NOARGS,
     "stat() -> dict: the metadata read at open (no I/O)."},
    {"stats", (PyCFunction)File_stats, METH_NOARGS,
     "stats() -> dict: counters."},
    {"close", (PyCFunction)File_close, METH_NOARGS, "close(): idempotent."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef File_getset[] = {
    {"size", (getter)File_size, NULL, "the object's size", NULL},
    {"closed", (getter)File_closed, NULL, "True once closed", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject FileType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "gsread._gsread.File",
    .tp_basicsize = sizeof(FileObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc =
        "An object opened for reading (Client.open), pinned to one version.",
    .tp_dealloc = (destructor)File_dealloc,
    .tp_methods = File_methods,
    .tp_getset = File_getset,
};

static PyObject *mod_parse_size(PyObject *mod, PyObject *arg) {
  const char *s = PyUnicode_AsUTF8(arg);
  if (s == NULL) return NULL;
  uint64_t v;
  int r = gsr_parse_size(s, &v);
  if (r != GSR_OK) return raise_status(r);
  return PyLong_FromUnsignedLongLong(v);
}

static PyObject *mod_error(PyObject *mod, PyObject *args) {
  int status;
  const char *msg = NULL;
  if (!PyArg_ParseTuple(args, "i|z", &status, &msg)) return NULL;
  return make_error(status, msg);
}

static PyMethodDef module_methods[] = {
    {"read_ranges", (PyCFunction)mod_read_ranges, METH_O,
     "read_ranges(items) -> list\n\n"
     "items: (File, offset, length) tuples, read concurrently on C threads\n"
     "with the GIL released. Each result is bytes (shorter at the end of\n"
     "the object) or the exception its read failed with, not raised."},
    {"parse_size", (PyCFunction)mod_parse_size, METH_O,
     "parse_size(text) -> int: '64K', '1MiB', '5MB', '4096'."},
    {"error", (PyCFunction)mod_error, METH_VARARGS,
     "error(status, message=None) -> exception: the exception a gsread status\n"
     "maps to (not raised)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "gsread._gsread",
    "gsread's C extension: the library's client, files, listing and copies.",
    -1,
    module_methods,
    NULL,
    NULL,
    NULL,
    NULL};

PyMODINIT_FUNC PyInit__gsread(void) {
  exc_oserror = PyExc_OSError;
  exc_valueerror = PyExc_ValueError;
  exc_memoryerror = PyExc_MemoryError;
  if (PyType_Ready(&ClientType) < 0 || PyType_Ready(&FileType) < 0) return NULL;
  PyObject *m = PyModule_Create(&module);
  if (m == NULL) return NULL;
  ObjectChanged = PyErr_NewExceptionWithDoc(
      "gsread.ObjectChanged",
      "The object was replaced (a new generation or ETag) while a file\n"
      "pinned to its old version was open. A subclass of OSError (errno\n"
      "ESTALE); reopen to read the new version.",
      PyExc_OSError, NULL);
  if (ObjectChanged == NULL) goto fail;
  Py_INCREF(ObjectChanged);
  if (PyModule_AddObject(m, "ObjectChanged", ObjectChanged) < 0) goto fail;
  Py_INCREF(&ClientType);
  if (PyModule_AddObject(m, "Client", (PyObject *)&ClientType) < 0) goto fail;
  Py_INCREF(&FileType);
  if (PyModule_AddObject(m, "File", (PyObject *)&FileType) < 0) goto fail;
  if (PyModule_AddStringConstant(m, "library_version", gsr_version()) < 0)
    goto fail;
#define GSR__ADD(name, code, text) \
  if (PyModule_AddIntConstant(m, "GSR_" #name, code) < 0) goto fail;
  GSR_STATUS_MAP(GSR__ADD)
#undef GSR__ADD
  return m;
fail:
  Py_DECREF(m);
  return NULL;
}
