#!/usr/bin/env bash
# The side-by-side benchmark of docs/performance.md, in one command:
#   bench/run.sh                      # full size: ~1 GiB dump, ~1 GiB uploads, 5 repetitions
#   bench/run.sh -scale 5 -reps 5     # a quick run (~100 MiB each)
#   bench/run.sh -pairs P1,P3         # some pairs only
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
exec go run ./bench/cmd/ttbench -out bench/results/latest.md "$@"
