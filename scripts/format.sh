#!/usr/bin/env bash
# Formats the C and Python sources in the project's one style (docs/STYLE.md):
#   C: src/ cli/ tests/ python/ include/ with Debian's clang-format-14 and
#      the root .clang-format
#   Python: every *.py with Debian's black, its default style
# Only files git knows or would add (tracked, or untracked and not ignored).
# Usage: scripts/format.sh          rewrite the files in place
#        scripts/format.sh --check  change nothing; list the files that differ
#                                   and exit 1 (scripts/check-format.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  *) echo "usage: scripts/format.sh [--check]" >&2; exit 2 ;;
esac

# The versions CI has (Debian 12); another version formats some lines
# differently, so these are named, not whatever is first on PATH.
CLANG_FORMAT=${CLANG_FORMAT:-clang-format-14}
BLACK=${BLACK:-black}
for tool in "$CLANG_FORMAT" "$BLACK"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "format: $tool not found: install it with scripts/install-deps.sh" >&2
    exit 2
  fi
done

list() { # pathspecs... -> existing files, NUL-separated
  git ls-files -z --cached --others --exclude-standard -- "$@" |
    while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done
}
C_FILES=(src/'*.[ch]' cli/'*.[ch]' tests/'*.[ch]' python/'*.[ch]' include/'*.h')
JOBS=$(nproc 2>/dev/null || echo 2)

if [ "$check" -eq 0 ]; then
  list "${C_FILES[@]}" | xargs -0 -r -n 16 -P "$JOBS" "$CLANG_FORMAT" -i --style=file
  list '*.py' | xargs -0 -r "$BLACK" -q
  exit 0
fi

# --check: one line per file that differs, with its first differing line.
# A .clang-format this clang-format cannot read fails once, here.
if ! cfg_err=$("$CLANG_FORMAT" --style=file --dump-config include/gsread.h 2>&1 >/dev/null) ||
   [ -n "$cfg_err" ]; then
  echo "format check FAILED: $CLANG_FORMAT cannot use .clang-format:" >&2
  echo "$cfg_err" >&2
  exit 2
fi
bad=$(mktemp)
trap 'rm -f "$bad"' EXIT
list "${C_FILES[@]}" | xargs -0 -r -n 1 -P "$JOBS" sh -c '
  out=$("$0" --style=file --dry-run -Werror --ferror-limit=1 "$1" 2>&1) && exit 0
  first=$(printf "%s\n" "$out" | grep -m1 "clang-format-violations" |
          grep -o "^[^ ]*:[0-9]*:[0-9]*:") ||
    { printf "%s\n" "$out" >&2; echo "$1 (clang-format failed)"; exit 0; }
  echo "${first%:} (clang-format: first difference)"' "$CLANG_FORMAT" >>"$bad"
py_out=$(list '*.py' | xargs -0 -r "$BLACK" --check 2>&1) || py_rc=$?
if [ "${py_rc:-0}" -ne 0 ]; then
  # rc 1: files would change ("would reformat F"); 123: black failed on one.
  printf '%s\n' "$py_out" | sed -n 's/^would reformat \(.*\)$/\1 (black)/p' >>"$bad"
  printf '%s\n' "$py_out" | grep '^error:' >>"$bad" || true
  [ "${py_rc}" -eq 1 ] || [ -s "$bad" ] || echo "black failed (exit ${py_rc}): $py_out" >>"$bad"
fi

if [ -s "$bad" ]; then
  n=$(wc -l <"$bad")
  echo "format check FAILED: $n file(s) differ from the project's style:"
  sed "s|^$ROOT/||" "$bad" | sort | sed 's/^/  /'
  echo "Run scripts/format.sh to format them (docs/STYLE.md)."
  echo "Tools: $("$CLANG_FORMAT" --version | head -1); $("$BLACK" --version | head -1)"
  exit 1
fi
echo "format check passed: $(list "${C_FILES[@]}" | tr -cd '\0' | wc -c) C files ($CLANG_FORMAT), $(list '*.py' | tr -cd '\0' | wc -c) Python files ($BLACK)"
