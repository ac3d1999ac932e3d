/* gsread: command-line front end of the gsread library.
 *
 * main() only dispatches: global flags (--help, --version), `help CMD`,
 * then the command's own file parses its options (through opts.c) and
 * runs. Exit statuses: 0 success, 1 failure, 2 usage error.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mount/mount.h"

static const struct cli_command *const commands[] = {
    &cli_cmd_cat,   &cli_cmd_cp,   &cli_cmd_ls,    &cli_cmd_stat,
    &cli_cmd_bench, &cli_cmd_auth, &cli_cmd_mount, &cli_cmd_unmount,
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct cli_command *find_command(const char *name) {
  for (size_t i = 0; i < NCOMMANDS; i++) {
    if (strcmp(commands[i]->name, name) == 0) return commands[i];
  }
  return NULL;
}

static void print_usage(FILE *out) {
  fputs("Usage: gsread COMMAND [OPTIONS] URL\n"
        "       gsread cp [OPTIONS] URL DEST\n"
        "       gsread mount [OPTIONS] gs://BUCKET[/PREFIX] MOUNTPOINT\n"
        "       gsread help [COMMAND]\n"
        "       gsread --version\n"
        "\n"
        "Read objects from Google Cloud Storage, HTTP(S) servers and local "
        "files.\n"
        "\n"
        "Commands:\n",
        out);
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  %-6s %s\n", commands[i]->name, commands[i]->summary);
  fprintf(out, "  %-6s %s\n", "help", "show this help, or a command's help");
  fputs("\n"
        "URLs:\n"
        "  gs://BUCKET/OBJECT      an object in Google Cloud Storage\n"
        "  http://... https://...  a file on any server that supports "
        "Range requests\n",
        out);
  gsr_client_options defaults; /* the library's limit, not a copy of it */
  gsr_client_options_init(&defaults);
  fprintf(out,
          "                          (redirects followed, up to %d, "
          "unless --no-follow)\n",
          defaults.max_redirects);
  fputs(
      "  file:///PATH, PATH      a local file\n"
      "\n"
      "Environment:\n"
      "  STORAGE_EMULATOR_HOST   GCS endpoint to use instead of\n"
      "                          https://storage.googleapis.com, e.g.\n"
      "                          "
      "STORAGE_EMULATOR_HOST=http://127.0.0.1:8080\n"
      "                          (--endpoint overrides it)\n"
      "  STORAGE_GRPC_ENDPOINT   gRPC endpoint (http://HOST:PORT or https://...)\n"
      "                          for gs:// data:\n"
      "                          zonal buckets read over BidiReadObject\n"
      "                          (default https://storage.googleapis.com;\n"
      "                          --grpc-endpoint overrides it)\n"
      "  GSREAD_ACCESS_TOKEN     fixed bearer token for gs:// requests "
      "(never\n"
      "                          refreshed); unset or empty: the chain "
      "below\n"
      "  GOOGLE_APPLICATION_CREDENTIALS  service-account key or "
      "authorized_user\n"
      "                          file; else gcloud's ADC file "
      "(CLOUDSDK_CONFIG),\n"
      "                          else the GCE metadata server "
      "(GCE_METADATA_HOST),\n"
      "                          else anonymous; 'gsread auth' shows "
      "which\n"
      "  GSREAD_TOKEN_URI        token endpoint instead of the key "
      "file's\n"
      "  GSREAD_PLANS_FILE       where cat keeps the connections it "
      "measured\n"
      "                          per server, for 10 minutes (default:\n"
      "                          $XDG_CACHE_HOME/gsread/plans or\n"
      "                          ~/.cache/gsread/plans); empty: "
      "none\n"
      "\n"
      "Exit status:\n"
      "  0  success\n"
      "  1  the operation failed (open, read or write error)\n"
      "  2  usage error: unknown command or option, bad or missing "
      "value,\n"
      "     malformed URL\n"
      "\n"
      "Run 'gsread COMMAND --help' for the options of a command.\n",
      out);
}

/* `gsread help [COMMAND]` (also `gsread --help [COMMAND]`). */
static int run_help(int argc, char **argv) {
  const struct cli_command *cmd;

  if (argc == 0) {
    print_usage(stdout);
    return CLI_EXIT_OK;
  }
  if (argc > 1)
    return cli_usage_error(NULL, "unexpected argument '%s'", argv[1]);
  if (strcmp(argv[0], "help") == 0) {
    print_usage(stdout);
    return CLI_EXIT_OK;
  }
  cmd = find_command(argv[0]);
  if (!cmd) return cli_usage_error(NULL, "unknown command '%s'", argv[0]);
  cli_print_command_help(cmd, stdout);
  return CLI_EXIT_OK;
}

/* Which of fds 0-2 were closed when we started (bit 1 << fd). */
static unsigned std_closed;

/* A closed fd 0, 1 or 2 gets a placeholder before anything opens a
 * descriptor: else the next one opened (a socket of the library's, a
 * file) takes its number, and what we write to "standard output" goes
 * into it. The placeholder is /dev/null opened the wrong way round
 * (stdin write-only, stdout and stderr read-only), so reading or writing
 * it fails with EBADF, as on the closed descriptor. */
static void hold_std_fds(void) {
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    if (open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY) != fd)
      exit(CLI_EXIT_FAIL); /* no descriptor left: nothing can run */
    std_closed |= 1u << fd;
  }
}

static int stdout_is_closed(void) {
  cli_fail_text(NULL, "standard output is closed");
  return CLI_EXIT_FAIL;
}

/* What the command writes to stdout is what it is for, except for cp to
 * a file (DEST not "-") and mount/unmount (a daemon, often started with
 * stdout closed; its messages go to stderr or syslog). */
static int writes_stdout(const struct cli_args *a) {
  if (strcmp(a->cmd, "mount") == 0 || strcmp(a->cmd, "unmount") == 0) return 0;
  return strcmp(a->cmd, "cp") != 0 || strcmp(a->dest, "-") == 0;
}

/* stdout is buffered: a failed write of the help or of `stat` output
 * (disk full, closed pipe) only shows at the final flush. Exiting 0 after
 * losing output would lie to the caller. */
static int finish(int status) {
  if (fflush(stdout) != 0 || ferror(stdout)) {
    if (std_closed & 2) return stdout_is_closed();
    if (errno != EPIPE)
      cli_fail_errno(errno, "cannot write to standard output");
    return CLI_EXIT_FAIL;
  }
  return status;
}

static int dispatch(int argc, char **argv) {
  const char *word;
  const struct cli_command *cmd;
  struct cli_args args;
  int rc;

  if (argc < 2) return cli_usage_error(NULL, "missing command");
  word = argv[1];
  if (!strcmp(word, "--help") || !strcmp(word, "-h") || !strcmp(word, "help"))
    return run_help(argc - 2, argv + 2);
  if (!strcmp(word, "--version")) {
    if (argc > 2)
      return cli_usage_error(NULL, "unexpected argument '%s'", argv[2]);
    printf("gsread %s\n", gsr_version());
    return CLI_EXIT_OK;
  }
  if (word[0] == '-') return cli_usage_error(NULL, "unknown option '%s'", word);
  cmd = find_command(word);
  if (!cmd) return cli_usage_error(NULL, "unknown command '%s'", word);
  rc = cli_parse_args(cmd, argc - 2, argv + 2, &args);
  if (rc != CLI_CONTINUE) return rc;
  if ((std_closed & 2) && writes_stdout(&args))
    return stdout_is_closed(); /* before anything is read */
  return cmd->run(&args);
}

/* Called as mount.gsread (a link to gsread): mount(8)'s helper, for fstab
 * and systemd mount units. "mount.gsread SPEC DIR [-sfnv] [-o OPTS]" is
 * "gsread mount [-o OPTS] SPEC DIR". */
static int run_mount_helper(int argc, char **argv) {
  char **args = calloc((size_t)argc + 2, sizeof *args);
  const char *bad = NULL;
  int fake = 0, n, rc;

  if (!args) return CLI_EXIT_FAIL;
  n = mount_helper_args(argc, argv, args, &fake, &bad);
  if (n < 0)
    rc = cli_usage_error("mount",
                         "mount.gsread: unexpected argument '%s' "
                         "(usage: mount.gsread SPEC DIR [-sfnv] "
                         "[-o OPTIONS])",
                         bad);
  else
    rc = fake ? CLI_EXIT_OK : dispatch(n, args);
  free(args);
  return rc;
}

int main(int argc, char **argv) {
  const char *base = argc > 0 ? strrchr(argv[0], '/') : NULL;

  /* A reader that goes away (gsread cat ... | head) must end us with a
   * status, not kill us with a signal halfway through a cleanup: with
   * SIGPIPE ignored, write() fails with EPIPE and we stop quietly. */
  signal(SIGPIPE, SIG_IGN);
  hold_std_fds();
  base = base ? base + 1 : argc > 0 ? argv[0] : "";
  if (strcmp(base, "mount.gsread") == 0)
    return finish(run_mount_helper(argc, argv));
  return finish(dispatch(argc, argv));
}
