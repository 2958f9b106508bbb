#!/usr/bin/env bash
# All four measurements of perf/callgrind.sh (writes and 10:1 mix, callgrind and strace) into
# $1 (a directory), one summary line each in $1/summary.txt.
set -uo pipefail
DEST=${1:?destination directory}
mkdir -p "$DEST"
HERE=$(cd "$(dirname "$0")" && pwd)
: >"$DEST/summary.txt"
for cell in writes mix; do
  for mode in callgrind strace; do
    out=$DEST/$cell.$mode
    if [ "$mode" = callgrind ]; then w=${WINDOW_S:-20}; else w=${STRACE_WINDOW_S:-10}; fi
    OUT=$out MODE=$mode "$HERE/callgrind.sh" "$cell" "$w" >"$out.log" 2>&1
    head -2 "$out/summary.txt" >>"$DEST/summary.txt"
  done
done
cat "$DEST/summary.txt"
