#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite, on a fresh Debian 12 machine or a warm one:
#   make test        (what CI runs through .ci/run)
# Installs what the tests need (idempotent, pinned, cached in .tools/),
# checks go.mod tidiness, formatting, vet, buf lint and that generated code
# is current, runs the benchmarks and every fuzz target briefly, then every
# Go test against real restic, PostgreSQL, S3 and rest-server.
#
# The tests run with `go test -json`; internal/testreport prints a line per
# package, the output of failed tests, and at the end the skipped tests with
# their reasons, the failures and the 10 slowest tests. The raw event
# stream is kept in $TEST_JSON (default test-results/go-test.json).
# With CI=true a skipped test fails the run unless scripts/skip-allowlist.txt
# names it with the reason it cannot run on that kind of machine.
# docs/testing.md has the details and the measured times.
#
# Arguments are passed to the main `go test` (e.g. -run TestX).
# FUZZTIME (default 3s) is how long each fuzz target runs; FUZZTIME=0 skips.
# The benchmarks, the harness and the fuzz targets run beside `go test` at
# nice 19 (SIDE=before: first, one after the other).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/install-deps.sh
scripts/docker-env.sh # Docker engine, local images, compose plugin (the Docker end-to-end tests)
scripts/tools.sh restic restic-floor restic-lowkdf rest-server versitygw buf protoc-gen-go protoc-gen-go-grpc nfpm staticcheck
export PATH="$root/.tools/bin:$PATH"
module=$(go list -m)
# Each step says when it starts and how long the run has taken so far.
step() { echo "== $* [$(date -u +%T), ${SECONDS}s]"; }

step "go mod tidy"
for mod in go.mod examples/*/go.mod; do
  [ -f "$mod" ] || continue
  d=$(dirname "$mod")
  if ! diff=$(cd "$d" && go mod tidy -diff 2>&1); then
    echo "$mod is not tidy: run 'go mod tidy' in $d and commit the result" >&2
    echo "$diff" | head -40 >&2
    exit 1
  fi
done

step "gofmt, go vet, staticcheck U1000"
bad=$(gofmt -l $(git ls-files '*.go' | grep -v '\.pb\.go$') 2>/dev/null || true)
if [ -n "$bad" ]; then echo "gofmt would change: $bad" >&2; exit 1; fi
go vet ./...
for mod in examples/*/go.mod; do
  [ -f "$mod" ] || continue
  (cd "$(dirname "$mod")" && go vet ./...)
done
staticcheck -checks U1000 ./... # unused code (dead code stays out)

step "buf lint, buf breaking against the released API, generated code up to date"
buf lint
# proto/released holds the image of the last released protocol: a change
# released plugins would not survive fails here (docs/plugins.md, Versioning).
buf breaking --against proto/released/timetiles-backup-v1.binpb
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gen="$work/gen"
mkdir "$gen"
sed "s#out: gen#out: $gen#" buf.gen.yaml > "$gen/buf.gen.yaml"
buf generate --template "$gen/buf.gen.yaml"
if ! diff -r -q -x buf.gen.yaml gen "$gen" >/dev/null; then
  echo "gen/ is stale: run 'make proto' and commit the result" >&2
  diff -r -x buf.gen.yaml gen "$gen" | head -20 >&2
  exit 1
fi

# The side steps: the transport benchmarks, the side-by-side harness and
# the fuzz targets. They run beside `go test`, at the lowest CPU priority
# (nice 19): the end-to-end tests wait on processes (PostgreSQL, restic,
# the plugins) and leave a core free for long stretches, which the side
# steps use; their output goes to a log printed after the tests, and a
# failure of theirs fails the run there. SIDE=before runs them first, one
# after the other (the old order), e.g. to see one's output at once.
side_steps() {
  step "transport benchmarks, once with 32 MiB (proves they run; no timing is judged)"
  go test -count=1 -run '^$' -bench . -benchtime 1x ./bench -args -size 33554432 || return
  step "side-by-side harness (bench/run.sh), every pair once at a tiny scale (proves it runs; no figure is judged)"
  go run ./bench/cmd/ttbench -scale 1 -reps 1 -p3-size 16MiB -p4-sizes 16MiB,32MiB -p4-reps 1 >/dev/null || return

  fuzztime=${FUZZTIME:-3s}
  if [ "$fuzztime" != 0 ]; then
    step "fuzz targets, $fuzztime each (seed corpus and testdata/fuzz first; a failing input is saved there)"
    # Every Fuzz function of every package, found anew each run.
    go test -list '^Fuzz' ./... | awk '/^Fuzz/ {t[n++]=$1} /^(ok|FAIL)[ \t]/ {for (i=0;i<n;i++) print $2, t[i]; n=0}' > "$work/fuzz" || return
    while read -r pkg target; do
      echo "-- $pkg $target"
      go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" | grep -v '^fuzz: elapsed' || { echo "fuzz target $target of $pkg failed" >&2; return 1; }
    done < "$work/fuzz"
  fi
  step "side steps done"
}

side_rc=0
side_pid=
if [ "${SIDE:-beside}" = before ]; then
  side_steps || side_rc=$?
  [ "$side_rc" = 0 ] || exit "$side_rc"
else
  # Its own process group (set -m), so an early exit ends all of it.
  set -m
  (renice -n 19 -p "$BASHPID" >/dev/null && side_steps) > "$work/side.log" 2>&1 < /dev/null &
  side_pid=$!
  set +m
  trap 'kill -TERM -- "-$side_pid" 2>/dev/null; rm -rf "$work"' EXIT
fi

step "go test${side_pid:+ (benchmarks, harness and fuzz targets beside it, at nice 19)}"
go build -o "$work/testreport" ./internal/testreport
json=${TEST_JSON:-$root/test-results/go-test.json}
mkdir -p "$(dirname "$json")"
# The module's packages, then each example module (a module of its own),
# read as one stream: one summary, one verdict.
test_rc=0
{
  rc=0
  # Three test binaries at a time on two cores: cmd/timetiles-backup, the
  # longest (it sorts before most packages, so it starts among the first),
  # holds one slot; the others share two. All of them wait on processes
  # much of the time (docs/testing.md, Speed).
  go test -p 3 -json -count=1 -timeout 20m ./... "$@" 2>&1 || rc=$?
  for mod in examples/*/go.mod; do
    [ -f "$mod" ] || continue
    (cd "$(dirname "$mod")" && go test -json -count=1 -timeout 10m ./... 2>&1) || rc=$?
  done
  exit $rc
} | "$work/testreport" -module "$module" -allow scripts/skip-allowlist.txt -json-out "$json" || test_rc=$?
if [ -n "$side_pid" ]; then
  step "waiting for the side steps"
  wait "$side_pid" || side_rc=$?
  trap 'rm -rf "$work"' EXIT
  sed 's/^/  | /' "$work/side.log"
  if [ "$side_rc" != 0 ]; then echo "the side steps failed (log above)" >&2; fi
fi
[ "$test_rc" = 0 ] || exit "$test_rc"
[ "$side_rc" = 0 ] || exit "$side_rc"
step "all passed"
