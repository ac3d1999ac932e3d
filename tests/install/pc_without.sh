#!/usr/bin/env bash
# Makes DIR a pkg-config search directory holding every module the system's
# pkg-config finds except MODULE (links to their .pc files), so that a
# build run with PKG_CONFIG_LIBDIR=DIR sees a machine without MODULE.
# Usage: pc_without.sh DIR MODULE
set -euo pipefail
dir=$1 module=$2
mkdir -p "$dir"
IFS=: read -ra paths <<<"$(pkg-config --variable pc_path pkg-config)"
for p in "${paths[@]}"; do
  [ -d "$p" ] || continue
  for pc in "$p"/*.pc; do
    [ -e "$pc" ] || continue
    name=$(basename "$pc")
    [ "$name" = "$module.pc" ] && continue
    [ -e "$dir/$name" ] || ln -s "$pc" "$dir/$name"
  done
done
if PKG_CONFIG_LIBDIR=$dir pkg-config --exists "$module"; then
  echo "pc_without: $module is still found" >&2
  exit 1
fi
