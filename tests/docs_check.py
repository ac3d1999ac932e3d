#!/usr/bin/python3
"""The docs check (ctest `docs`, label style): statements in README.md,
docs/, include/gsread.h and the --help texts that were found false against
the code must not come back, and the lists the docs keep of the code
(environment variables, commands) must name everything the code has.

Usage: tests/docs_check.py SOURCE_DIR [GSREAD_BINARY]
Prints each finding as FILE: what; exits 1 if there is any.
"""
import glob
import os
import re
import subprocess
import sys

# Phrases once true of older code, each with why it is false now. Matched
# case-insensitively with runs of whitespace (line breaks) as one space.
STALE = [
    ("one I/O thread per client", "a client runs io_threads I/O threads"),
    ("one I/O thread per process", "a client runs io_threads I/O threads"),
    ("one I/O thread, one pool", "a client runs io_threads I/O threads"),
    ("one stream or N blocks", "the stream engine is gone; cat measures a width"),
    ("with no copy at all", "gsr_sendfile copies once, into a block"),
    ("parallel parts written in place", "cp writes the engine's blocks in order"),
    ("after a cut resumes where it stopped", "a refused block is re-fetched whole"),
    (
        "refilled the moment a block is consumed",
        "the next request goes out by the lead",
    ),
    ("src/prefetch/", "the engine lives in src/read/prefetch/"),
    ("8 x bytes read in the run", "the ramp is GSR__RAMP (16) x"),
    ("128 MiB per `gsread.h`", "max_prefetch defaults to 96 MiB"),
    ("`cat` and `cp` keep the width", "only cat keeps the plans file"),
    ("gsr__download_wake_at", "the part engine's waiter is gone"),
    ("plan: blocks", "plans are none, ramp, full"),
    ("gsread cat gs://bkt/obj --io-size", "--io-size applies to --copy only"),
    (
        "open` does not use it",
        "Python opens of listed objects cost no request (gsr_open_listed)",
    ),
    (
        "costs one metadata request** even when a listing",
        "Python opens of listed objects cost no request (gsr_open_listed)",
    ),
]

DOC_GLOBS = [
    "README.md",
    "docs/*.md",
    "include/gsread.h",
    "cli/*.c",
    "cli/*/*.c",
    "cli/help/*.txt",
    "python/gsread/*.py",
]


def norm(text):
    return re.sub(r"\s+", " ", text).lower()


def main():
    src = sys.argv[1]
    binary = sys.argv[2] if len(sys.argv) > 2 else None
    found = []
    files = sorted({f for g in DOC_GLOBS for f in glob.glob(os.path.join(src, g))})
    texts = {}
    for path in files:
        with open(path, encoding="utf-8") as fh:
            texts[os.path.relpath(path, src)] = fh.read()
    if binary:
        helps = []
        for cmd in [
            "--help",
            "cat --help",
            "cp --help",
            "ls --help",
            "stat --help",
            "bench --help",
            "auth --help",
            "mount --help",
            "unmount --help",
        ]:
            r = subprocess.run([binary] + cmd.split(), capture_output=True, text=True)
            helps.append(r.stdout + r.stderr)
        texts["gsread --help texts"] = "\n".join(helps)
    for name, text in texts.items():
        t = norm(text)
        for phrase, why in STALE:
            if norm(phrase) in t:
                found.append(f"{name}: says '{phrase}' ({why})")

    # Every environment variable the library or the CLI reads is in
    # docs/cli.md's Environment table.
    cli_md = texts.get("docs/cli.md", "")
    env_section = cli_md.split("## Environment", 1)[-1].split("\n## ", 1)[0]
    code = ""
    for g in ["src/**/*.c", "cli/**/*.c"]:
        for path in glob.glob(os.path.join(src, g), recursive=True):
            with open(path, encoding="utf-8") as fh:
                code += fh.read()
    wanted = set(
        re.findall(
            r'"((?:GSREAD|STORAGE|GOOGLE|CLOUDSDK|GCE|DEFAULT_GCSFS|USE_EXPERIMENTAL)[A-Z_]*)"',
            code,
        )
    )
    for var in sorted(wanted):
        if f"`{var}`" not in env_section:
            found.append(
                f"docs/cli.md: the Environment table lacks `{var}`, which the code reads"
            )

    # Every command of the CLI is in docs/cli.md's command table.
    with open(os.path.join(src, "cli/main.c"), encoding="utf-8") as fh:
        main_c = fh.read()
    for cmd in re.findall(r"&cli_cmd_(\w+)", main_c):
        if f"| `{cmd}`" not in cli_md:
            found.append(f"docs/cli.md: the command table lacks `{cmd}`")

    for line in found:
        print(line)
    print(
        f"docs check: {len(texts)} texts, {len(STALE)} stale phrases, "
        f"{len(wanted)} environment variables: {len(found)} findings"
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
