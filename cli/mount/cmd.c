/* gsread mount / gsread unmount: a read-only FUSE file system over
 * gs://BUCKET[/PREFIX] (the operations are fs.c).
 *
 * Start-up order, so that every error reaches the terminal: (background)
 * fork, the child makes the client, checks that the bucket can be listed,
 * mounts, and only then tells the waiting parent it may exit 0 and turns
 * its log to syslog. Nothing forks after the client's I/O thread exists.
 *
 * Stopping: SIGINT, SIGTERM and SIGHUP are blocked in every thread and
 * taken by one thread (sigwait), which closes every open gsread file (so
 * reads waiting on the network return at once), ends the FUSE loop and
 * wakes it. The main thread then unmounts and frees everything.
 *
 * SPDX-License-Identifier: MIT
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_opt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_help.h"
#include "mount.h"

/* The type /proc/self/mounts shows for our mounts ("fuse." + subtype). */
#define MOUNT_FSTYPE "fuse.gsread"
/* Worker threads of the FUSE loop: enough for many readers blocked on the
 * network at once (the library's connections are the real limit). */
#define MOUNT_MAX_THREADS 64

static void mount_defaults(struct cli_args *a) {
  /* Sequential readers get the window, random readers exact reads. */
  a->file.prefetch = "adaptive";
  a->mount.uid = getuid();
  a->mount.gid = getgid();
  a->mount.file_mode = 0444;
  a->mount.dir_mode = 0555;
  a->mount.ttl = 60;
  /* A reader blocked on a dead server should learn it within a minute
   * or so (the read may wait for a prefetched block's retries, then
   * retry itself), not after the library's two-minute deadline twice. */
  a->client.retry_deadline_ms = 20000;
  /* What the readahead measurement kept (docs/mount.md): 1 MiB lets a
   * 1 MiB read reach the engine whole (exact for random readers), and
   * the engine's window does the rest; more kernel readahead, sent as
   * parallel out-of-order requests, only confuses it. */
  a->mount.max_readahead = 1024 * 1024;
}

static int mount_finish(struct cli_args *a) {
  if (!a->dest) return cli_usage_error(a->cmd, "missing MOUNTPOINT");
  if (strncmp(a->url, "gs://", 5) != 0 || a->url[5] == '\0' || a->url[5] == '/')
    return cli_usage_error(a->cmd, "mount needs a gs://BUCKET[/PREFIX] URL");
  return CLI_CONTINUE;
}

/* ---- Signals
 * ---------------------------------------------------------------*/

struct stopper {
  sigset_t set;
  struct fuse *fuse;
  struct mount_fs *fs;
  pthread_t main;
  atomic_int loop_done;
};

static void on_wake(int sig) {
  (void)sig; /* only interrupts the loop's wait */
}

static void *stop_thread(void *arg) {
  struct stopper *s = arg;
  struct timespec pause = {0, 50 * 1000 * 1000};
  int sig;

  if (sigwait(&s->set, &sig) != 0 || atomic_load(&s->loop_done)) return NULL;
  mount_log("%s: unmounting", strsignal(sig));
  mount_fs_shutdown(s->fs);
  fuse_exit(s->fuse);
  /* The loop's main thread waits on a semaphore that only a signal
   * interrupts; repeat, in case it was not waiting yet. */
  while (!atomic_load(&s->loop_done)) {
    pthread_kill(s->main, SIGUSR2);
    nanosleep(&pause, NULL);
  }
  return NULL;
}

/* ---- mount
 * -----------------------------------------------------------------*/

/* The mount options for libfuse: read-only, the kernel checks the modes
 * we show, our name in /proc/mounts. */
static char *fuse_options(const struct cli_args *a) {
  char *o = NULL;
  /* fsname is a comma-separated option's value: show the URL only when
   * it cannot break the list. */
  const char *fsname = strpbrk(a->url, ",\\") ? "gsread" : a->url;

  if (asprintf(&o, "ro,default_permissions,subtype=gsread,fsname=%s%s", fsname,
               a->mount.allow_other ? ",allow_other" : "") < 0)
    return NULL;
  return o;
}

/* Tells the waiting parent how start-up ended (background mode). */
static void report_start(int fd, int status) {
  char c = (char)('0' + status);

  if (fd >= 0) {
    if (write(fd, &c, 1) != 1) {
      /* the parent is gone: nobody to tell */
    }
    close(fd);
  }
}

/* The parent of a background mount: exits with the child's start-up
 * status (the child printed any error itself). */
static int wait_for_child(int fd, pid_t pid) {
  char c;
  ssize_t n;

  do n = read(fd, &c, 1);
  while (n < 0 && errno == EINTR);
  close(fd);
  if (n == 1 && c >= '0' && c <= '9') return c - '0';
  waitpid(pid, NULL, 0); /* died before saying: it printed why */
  return CLI_EXIT_FAIL;
}

static void detach_stdio(void) {
  int fd = open("/dev/null", O_RDWR);

  if (fd >= 0) {
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2) close(fd);
  }
  if (chdir("/") != 0) {
    /* keeps the mount point's directory busy; harmless */
  }
}

/* FUSE starts every mount's readahead at 128 KiB (the bdi default, which
 * max_readahead can only lower); the mount's bdi takes more through sysfs,
 * which only root may write. Elsewhere the 128 KiB stay: reads of more
 * than that reach the engine in 128 KiB requests. */
static void set_readahead(const char *mnt, uint64_t bytes, int debug) {
  char path[128], line[8192];
  unsigned maj = 0, min = 0;
  int found = 0;
  FILE *f = fopen("/proc/self/mountinfo", "r");

  while (f && !found && fgets(line, sizeof line, f))
    found = mount_info_dev(line, mnt, &maj, &min);
  if (f) fclose(f);
  if (!found) return;
  snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
  f = fopen(path, "w");
  if (f) {
    int bad = fprintf(f, "%llu\n", (unsigned long long)(bytes / 1024)) < 0;

    if (fclose(f) == 0 && !bad) return;
  }
  if (debug)
    mount_log("debug: cannot set the kernel's readahead (%s): %s", path,
              strerror(errno));
}

/* Runs the mounted file system until it is unmounted or signalled. */
static int serve(struct fuse *fuse, struct mount_fs *fs, sigset_t *set) {
  struct stopper s = {.fuse = fuse, .fs = fs, .main = pthread_self()};
  struct fuse_loop_config *lc = fuse_loop_cfg_create();
  struct sigaction sa;
  sigset_t wake;
  pthread_t tid;
  int rc;

  s.set = *set;
  atomic_init(&s.loop_done, 0);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_wake; /* no SA_RESTART: the wait must end */
  sigaction(SIGUSR2, &sa, NULL);
  sigemptyset(&wake);
  sigaddset(&wake, SIGUSR2);
  pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
  if (!lc || pthread_create(&tid, NULL, stop_thread, &s) != 0) {
    mount_log("cannot start: %s", strerror(ENOMEM));
    fuse_loop_cfg_destroy(lc);
    return CLI_EXIT_FAIL;
  }
  fuse_loop_cfg_set_max_threads(lc, MOUNT_MAX_THREADS);
  rc = fuse_loop_mt(fuse, lc);
  atomic_store(&s.loop_done, 1);
  pthread_kill(tid, SIGTERM); /* ends its sigwait if no signal came */
  pthread_join(tid, NULL);
  fuse_loop_cfg_destroy(lc);
  if (rc != 0 && rc != SIGINT && rc != SIGTERM && rc != SIGHUP)
    mount_log("the FUSE loop ended with an error (%d)", rc);
  return CLI_EXIT_OK;
}

static int is_our_mount(const char *path);

/* The absolute path of mount point dest into mnt (PATH_MAX bytes): 1 if
 * resolved (realpath); 2 for a FUSE mount whose process is gone (every
 * access fails with ENOTCONN; the path as given, made absolute, which
 * /proc/self/mounts shows); 0 with errno set if neither. */
static int mount_point_path(const char *dest, char *mnt) {
  char cwd[PATH_MAX];

  if (realpath(dest, mnt)) return 1;
  if (errno != ENOTCONN) return 0;
  if (dest[0] == '/') {
    if (strlen(dest) >= PATH_MAX) return 0;
    strcpy(mnt, dest);
  } else if (!getcwd(cwd, sizeof cwd) ||
             strlen(cwd) + 1 + strlen(dest) >= PATH_MAX) {
    errno = ENOTCONN;
    return 0;
  } else {
    strcat(strcat(strcpy(mnt, cwd), "/"), dest);
  }
  for (size_t n = strlen(mnt); n > 1 && mnt[n - 1] == '/'; n--) mnt[n - 1] = 0;
  errno = ENOTCONN;
  return 2;
}

/* Refuses a mount point that already is a gsread mount, live or with its
 * process gone: mounting over it would stack a second one. 0, or
 * CLI_EXIT_FAIL with the message printed. */
static int refuse_stacked(const char *dest, char *mnt) {
  int how = mount_point_path(dest, mnt);

  if (how == 0 || !is_our_mount(mnt)) return 0; /* the caller goes on */
  cli_fail_text(how == 1 ? "it already is a gsread mount; run 'gsread "
                           "unmount' on it first"
                         : "it is a gsread mount whose process is gone; "
                           "run 'gsread unmount' on it first",
                "cannot mount on %s", mnt);
  return CLI_EXIT_FAIL;
}

static int on_root_entry(void *arg, const gsr_list_entry *e) {
  return mount_lookup_entry(arg, e);
}

/* Checks the root before mounting: the bucket can be listed (a missing
 * bucket or refused credentials fail here, on the terminal, not later as
 * EIO in a daemon's log); a PREFIX that names an object and no directory
 * is refused; one with nothing under it is mounted with a warning (it may
 * be filled later). 0, or CLI_EXIT_FAIL with the message printed. */
static int check_root(gsr_client *client, const char *bucket,
                      const char *prefix) {
  char *name = strdup(prefix), *url = NULL;
  struct mount_lookup l;
  int rc;

  if (!name) return CLI_EXIT_FAIL;
  if (*name) name[strlen(name) - 1] = '\0'; /* "p/" -> "p" */
  memset(&l, 0, sizeof l);
  l.name = name;
  if (asprintf(&url, *name ? "%s/%s" : "%s%s", bucket, name) < 0) {
    free(name);
    return CLI_EXIT_FAIL;
  }
  rc = gsr_list(client, url, 0, on_root_entry, &l);
  if (rc != GSR_OK && rc != GSR_ECANCELED) {
    cli_fail_gsr(rc, "cannot list %s", url);
    rc = CLI_EXIT_FAIL;
  } else if (*name && l.found_file && !l.found_dir) {
    cli_fail_text("it is an object, not a directory (mount the directory "
                  "that holds it)",
                  "cannot mount %s", url);
    rc = CLI_EXIT_FAIL;
  } else {
    if (*name && !l.found_dir)
      fprintf(stderr,
              "gsread: warning: nothing under %s/ (yet): the mount shows an "
              "empty directory\n",
              url);
    rc = 0;
  }
  free(url);
  free(name);
  return rc;
}

/* A mount from start-up to teardown: what each step makes and the
 * teardown frees (the background parent's share of it too). */
struct mounting {
  const struct cli_args *a;
  char mnt[PATH_MAX]; /* the mount point, absolute */
  char *bucket;       /* "gs://BUCKET" */
  char *prefix;       /* "" or ending in '/' */
  int report_fd;      /* background child: the parent waits on it; else -1 */
  int logfd;          /* --log-file until the log owns it; else -1 */
  sigset_t stop;      /* SIGINT, SIGTERM, SIGHUP: the stop thread's */
  gsr_client *client;
  struct mount_fs *fs;
  char *opts;    /* libfuse's -o list */
  char *argv[4]; /* libfuse's command line: gsread -o OPTS */
  struct fuse_args args;
  struct fuse *fuse;
};

/* The mount point: not a gsread mount already, a directory, and
 * /dev/fuse usable. 0, or CLI_EXIT_FAIL with the message printed. */
static int check_mount_point(struct mounting *m) {
  const char *dest = m->a->dest;
  struct stat st;

  if (refuse_stacked(dest, m->mnt)) return CLI_EXIT_FAIL;
  if (!realpath(dest, m->mnt) || stat(m->mnt, &st) != 0) {
    cli_fail_errno(errno, "cannot mount on %s", dest);
    return CLI_EXIT_FAIL;
  }
  if (!S_ISDIR(st.st_mode)) {
    cli_fail_errno(ENOTDIR, "cannot mount on %s", dest);
    return CLI_EXIT_FAIL;
  }
  if (access("/dev/fuse", R_OK | W_OK) != 0) {
    cli_fail_errno(errno, "cannot use /dev/fuse (is the fuse module "
                          "loaded, and fuse3 installed?)");
    return CLI_EXIT_FAIL;
  }
  return 0;
}

/* "gs://b/p" mounts the directory "p/": the prefix always ends in '/'.
 * 0, or -1 out of memory. */
static int split_url(struct mounting *m) {
  const char *url = m->a->url, *slash = strchr(url + 5, '/');

  m->bucket = strndup(url, slash ? (size_t)(slash - url) : strlen(url));
  m->prefix = strdup(slash && slash[1] ? slash + 1 : "");
  if (!m->bucket || !m->prefix) return -1;
  if (*m->prefix && m->prefix[strlen(m->prefix) - 1] != '/') {
    char *p = NULL;

    if (asprintf(&p, "%s/", m->prefix) < 0) return -1;
    free(m->prefix);
    m->prefix = p;
  }
  return 0;
}

/* Where a background mount will log: --log-file, opened here so that a
 * bad path fails on the terminal; else syslog, warned about if absent.
 * 0, or CLI_EXIT_FAIL with the message printed. */
static int open_log(struct mounting *m) {
  const struct cli_mount_args *o = &m->a->mount;

  if (o->foreground) return 0;
  if (o->log_file) {
    m->logfd = open(o->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                    0644);
    if (m->logfd < 0) {
      cli_fail_errno(errno, "cannot open the log file %s", o->log_file);
      return CLI_EXIT_FAIL;
    }
  } else if (access("/dev/log", W_OK) != 0) {
    fprintf(stderr,
            "gsread: warning: no syslog here (/dev/log: %s): the "
            "mount's errors will be lost; use --log-file FILE\n",
            strerror(errno));
  }
  return 0;
}

/* Background mode: forks; the parent waits for the child's start-up and
 * returns its status, the child (a new session) returns CLI_CONTINUE and
 * goes on, its report_fd set. The foreground returns CLI_CONTINUE. */
static int go_background(struct mounting *m) {
  int fd[2];
  pid_t pid;

  if (m->a->mount.foreground) return CLI_CONTINUE;
  if (pipe(fd) != 0) {
    cli_fail_errno(errno, "cannot start in the background");
    return CLI_EXIT_FAIL;
  }
  if ((pid = fork()) < 0) {
    cli_fail_errno(errno, "cannot start in the background");
    close(fd[0]);
    close(fd[1]);
    return CLI_EXIT_FAIL;
  }
  if (pid > 0) {
    close(fd[1]);
    return wait_for_child(fd[0], pid);
  }
  close(fd[0]);
  m->report_fd = fd[1];
  setsid();
  return CLI_CONTINUE;
}

/* The client, created with the stop signals blocked, so that its threads
 * (and the FUSE loop's, later) inherit the mask; unblocked again in this
 * thread until the mount, so that a signal before then simply ends the
 * process (nothing to clean up yet). CLI_CONTINUE, or an exit status with
 * the message printed. */
static int start_client(struct mounting *m) {
  gsr_client_options copts = m->a->client;
  int rc;

  sigemptyset(&m->stop);
  sigaddset(&m->stop, SIGINT);
  sigaddset(&m->stop, SIGTERM);
  sigaddset(&m->stop, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &m->stop, NULL);
  cli_apply_debug(m->a, &copts);
  rc = gsr_client_new(&copts, &m->client);
  pthread_sigmask(SIG_UNBLOCK, &m->stop, NULL);
  if (rc == GSR_OK) return CLI_CONTINUE;
  cli_fail_gsr(rc, "cannot start the client");
  return rc == GSR_EINVAL ? cli_usage_hint(m->a->cmd) : CLI_EXIT_FAIL;
}

/* The file system over the client, and libfuse's options for it. 0, or
 * CLI_EXIT_FAIL with the message printed. */
static int new_fs(struct mounting *m) {
  const struct cli_args *a = m->a;
  struct mount_conf conf;

  memset(&conf, 0, sizeof conf);
  conf.bucket = m->bucket;
  conf.prefix = m->prefix;
  conf.uid = (uid_t)a->mount.uid;
  conf.gid = (gid_t)a->mount.gid;
  conf.file_mode = a->mount.file_mode;
  conf.dir_mode = a->mount.dir_mode;
  conf.ttl = (double)a->mount.ttl;
  conf.max_readahead = (unsigned)a->mount.max_readahead;
  conf.direct_io = a->mount.direct_io;
  conf.file = a->file;
  conf.debug = a->debug;
  if (!(m->fs = mount_fs_new(&conf, m->client)) ||
      !(m->opts = fuse_options(a))) {
    cli_fail_errno(ENOMEM, "cannot mount %s", a->url);
    return CLI_EXIT_FAIL;
  }
  m->argv[2] = m->opts;
  return 0;
}

/* Mounts: from here on the stop signals stay blocked (the stop thread
 * takes them). 0, or CLI_EXIT_FAIL with the message printed. */
static int fuse_start(struct mounting *m) {
  const struct cli_args *a = m->a;

  pthread_sigmask(SIG_BLOCK, &m->stop, NULL);
  m->fuse = fuse_new(&m->args, mount_fs_ops(), sizeof(struct fuse_operations),
                     m->fs);
  if (!m->fuse) {
    cli_fail_text("libfuse refused the options", "cannot mount %s", a->url);
    return CLI_EXIT_FAIL;
  }
  if (fuse_mount(m->fuse, m->mnt) != 0) {
    /* libfuse said why on stderr ("fuse: ..."). */
    cli_fail_text("the kernel refused the mount (see above)",
                  "cannot mount %s on %s", a->url, m->mnt);
    return CLI_EXIT_FAIL;
  }
  set_readahead(m->mnt, a->mount.max_readahead, a->debug);
  return 0;
}

/* Background mode, once mounted: the parent may exit 0; the log turns to
 * the --log-file or syslog, the terminal is let go. */
static void detach(struct mounting *m) {
  if (m->a->mount.foreground) return;
  report_start(m->report_fd, CLI_EXIT_OK);
  m->report_fd = -1;
  detach_stdio();
  if (m->logfd >= 0) {
    mount_log_to_fd(m->logfd);
    m->logfd = -1; /* the log owns it */
  } else {
    mount_log_to_syslog();
  }
}

/* The steps up to the mount, then the loop until it ends: an exit
 * status, with any failure printed. */
static int mount_and_serve(struct mounting *m) {
  int rc = check_mount_point(m);

  if (rc != 0) return rc;
  if (split_url(m) != 0) return CLI_EXIT_FAIL;
  if (open_log(m) != 0) return CLI_EXIT_FAIL;
  if ((rc = go_background(m)) != CLI_CONTINUE) return rc;
  if ((rc = start_client(m)) != CLI_CONTINUE) return rc;
  if (check_root(m->client, m->bucket, m->prefix) != 0) return CLI_EXIT_FAIL;
  if (new_fs(m) != 0 || fuse_start(m) != 0) return CLI_EXIT_FAIL;
  detach(m);
  rc = serve(m->fuse, m->fs, &m->stop);
  fuse_unmount(m->fuse);
  return rc;
}

/* Tells a waiting parent how start-up ended, if it has not been told,
 * and frees what the steps made. */
static int mount_teardown(struct mounting *m, int status) {
  report_start(m->report_fd, status);
  if (m->logfd >= 0) close(m->logfd);
  fuse_opt_free_args(&m->args);
  if (m->fuse) fuse_destroy(m->fuse);
  /* No FUSE thread is left: the files and the client can go. */
  mount_fs_free(m->fs);
  gsr_client_free(m->client);
  free(m->opts);
  free(m->bucket);
  free(m->prefix);
  return status;
}

static int mount_run(const struct cli_args *a) {
  struct mounting m = {.a = a, .report_fd = -1, .logfd = -1};

  m.argv[0] = "gsread";
  m.argv[1] = "-o";
  m.args = (struct fuse_args)FUSE_ARGS_INIT(3, m.argv);
  return mount_teardown(&m, mount_and_serve(&m));
}

static const enum cli_opt_id mount_opts[] = {
    CLI_OPT_FOREGROUND,
    CLI_OPT_ALLOW_OTHER,
    CLI_OPT_UID,
    CLI_OPT_GID,
    CLI_OPT_FILE_MODE,
    CLI_OPT_DIR_MODE,
    CLI_OPT_TTL,
    CLI_OPT_MAX_READAHEAD,
    CLI_OPT_DIRECT_IO,
    CLI_OPT_PREFETCH,
    CLI_OPT_CACHE,
    CLI_OPT_BLOCK_SIZE,
    CLI_OPT_MAX_BLOCKS,
    CLI_OPT_CONCURRENCY,
    CLI_OPT_MAX_PREFETCH,
    CLI_OPT_MEMORY_BUDGET,
    CLI_OPT_MAX_CONNECTIONS,
    CLI_OPT_STALL_TIMEOUT,
    CLI_OPT_REQUEST_TIMEOUT,
    CLI_OPT_ENDPOINT,
    CLI_OPT_CA_BUNDLE,
    CLI_OPT_ANONYMOUS,
    CLI_OPT_GRPC,
    CLI_OPT_NO_GRPC,
    CLI_OPT_GRPC_ENDPOINT,
    CLI_OPT_USER_PROJECT,
    CLI_OPT_DEBUG,
    CLI_OPT_LOG_FILE,
    CLI_OPT_OPTIONS,
    CLI_OPT_HELP,
};

const struct cli_command cli_cmd_mount = {
    .name = "mount",
    CLI_HELP_mount,
    CLI_OPTS(mount_opts),
    .takes_dest = 1,
    .defaults = mount_defaults,
    .finish = mount_finish,
    .run = mount_run,
};

/* ---- unmount
 * ---------------------------------------------------------------*/

/* 1 if path is one of our mounts (as /proc/self/mounts says). */
static int is_our_mount(const char *path) {
  FILE *f = fopen("/proc/self/mounts", "r");
  char line[8192], mnt[4096];
  int found = 0;

  if (!f) return 0;
  while (!found && fgets(line, sizeof line, f))
    found = mount_proc_line(line, MOUNT_FSTYPE, mnt, sizeof mnt) &&
            strcmp(mnt, path) == 0;
  fclose(f);
  return found;
}

static int unmount_run(const struct cli_args *a) {
  char mnt[PATH_MAX];
  pid_t pid;
  int ws;

  /* A mount whose process was killed is detached all the same. */
  if (!mount_point_path(a->url, mnt)) {
    cli_fail_errno(errno, "cannot unmount %s", a->url);
    return CLI_EXIT_FAIL;
  }
  /* Never detach anything else: as root, umount2 would. */
  if (!is_our_mount(mnt)) {
    cli_fail_text("not a gsread mount", "cannot unmount %s", mnt);
    return CLI_EXIT_FAIL;
  }
  /* Lazy, like umount -l: the mount point is free at once; files still
   * open keep reading until closed, then the file system exits. */
  if (geteuid() == 0) {
    if (umount2(mnt, MNT_DETACH) == 0) return CLI_EXIT_OK;
    cli_fail_errno(errno, "cannot unmount %s", mnt);
    return CLI_EXIT_FAIL;
  }
  pid = fork();
  if (pid == 0) {
    execlp("fusermount3", "fusermount3", "-u", "-z", "--", mnt, (char *)NULL);
    cli_fail_errno(errno, "cannot run fusermount3");
    _exit(CLI_EXIT_FAIL);
  }
  if (pid < 0 || waitpid(pid, &ws, 0) < 0) {
    cli_fail_errno(errno, "cannot unmount %s", mnt);
    return CLI_EXIT_FAIL;
  }
  return WIFEXITED(ws) && WEXITSTATUS(ws) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static const enum cli_opt_id unmount_opts[] = {CLI_OPT_HELP};

const struct cli_command cli_cmd_unmount = {
    .name = "unmount",
    CLI_HELP_unmount,
    CLI_OPTS(unmount_opts),
    .run = unmount_run,
};
