#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The side-by-side benchmark of docs/performance.md, in one command:
#   bench/run.sh                      # full size: ~1 GiB dump, ~1 GiB uploads, 5 repetitions
#   bench/run.sh -scale 5 -reps 5     # a quick run (~100 MiB each)
#   bench/run.sh -pairs P1,P3         # some pairs only
#   bench/run.sh --compare REV [...]  # also run the CLI and plugins of git
#                                     # revision REV as a third side (before/after)
# Installs what it needs (PostgreSQL 15 + PostGIS, pinned restic and
# versitygw, cached in .tools/), then runs bench/cmd/ttbench with the
# arguments given; the report (markdown) is printed and written to
# bench/results/latest.md. Run it on an otherwise idle machine: every figure
# is a median of interleaved repetitions, but CPU contention from other work
# still shows.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh >/dev/null
scripts/tools.sh restic versitygw >/dev/null
mkdir -p bench/results
args=()
if [ "${1:-}" = "--compare" ]; then
  rev=$2
  shift 2
  src=$(mktemp -d)
  bin=$(mktemp -d)
  trap 'rm -rf "$src" "$bin"' EXIT
  git archive "$rev" | tar -x -C "$src"
  (cd "$src" && go build -o "$bin/" ./cmd/timetiles-backup ./plugins/...)
  for p in "$bin"/*; do
    n=$(basename "$p")
    [ "$n" = timetiles-backup ] || mv "$p" "$bin/timetiles-backup-$n"
  done
  args=(-compare-bin "$bin" -compare-label "$(git rev-parse --short "$rev")")
fi
go run ./bench/cmd/ttbench -out bench/results/latest.md "${args[@]}" "$@"
