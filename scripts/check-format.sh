#!/usr/bin/env bash
# Exits non-zero, listing them, if any C or Python file differs from the
# project's style (docs/STYLE.md); scripts/format.sh fixes them. Part of
# scripts/test.sh, so of CI. A thin name for `scripts/format.sh --check`.
exec bash "$(dirname "${BASH_SOURCE[0]}")/format.sh" --check "$@"
