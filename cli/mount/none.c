/* gsread mount and unmount in a build without FUSE (no fuse3 found at
 * build time: CMakeLists.txt leaves cmd.c and fs.c out and
 * builds this instead): both say so, and how to get them.
 *
 * SPDX-License-Identifier: MIT
 */
#include "cli.h"

#define NO_FUSE                                                          \
  "this gsread was built without FUSE (fuse3 was not found at build "    \
  "time):\ninstall libfuse3-dev (scripts/install-deps.sh) and build it " \
  "again"

static int no_fuse_run(const struct cli_args *a) {
  cli_fail_text(NO_FUSE, "%s", a->cmd);
  return CLI_EXIT_FAIL;
}

static const enum cli_opt_id no_fuse_opts[] = {CLI_OPT_HELP};

/* Both commands: any arguments, only --help, and the one message. */
#define NO_FUSE_COMMAND(NAME, SUMMARY, SYNOPSIS, DEST)                        \
  {                                                                           \
    .name = NAME, .summary = SUMMARY, .synopsis = SYNOPSIS,                   \
    .description = "Not in this build: " NO_FUSE ".", CLI_OPTS(no_fuse_opts), \
    .takes_dest = DEST, .url_optional = 1, .run = no_fuse_run,                \
  }

const struct cli_command cli_cmd_mount = NO_FUSE_COMMAND(
    "mount", "mount gs://BUCKET[/PREFIX] (not in this build: no FUSE)",
    "gs://BUCKET[/PREFIX] MOUNTPOINT", 1);
const struct cli_command cli_cmd_unmount = NO_FUSE_COMMAND(
    "unmount", "unmount what gsread mount mounted (not in this build)",
    "MOUNTPOINT", 0);
