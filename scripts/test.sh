#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine or a warm one:
#   make test        (what CI runs through .ci/run)
# Installs what the tests need (idempotent, pinned, cached in .tools/),
# checks formatting, vet, buf lint and that generated code is current, then
# runs every Go test against real restic, PostgreSQL, S3 and rest-server.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/install-deps.sh
scripts/docker-env.sh # Docker engine, local images, compose plugin (the Docker end-to-end tests)
scripts/tools.sh restic restic-floor rest-server versitygw buf protoc-gen-go protoc-gen-go-grpc nfpm
export PATH="$root/.tools/bin:$PATH"

echo "== gofmt, go vet"
bad=$(gofmt -l $(git ls-files '*.go' | grep -v '\.pb\.go$') 2>/dev/null || true)
if [ -n "$bad" ]; then echo "gofmt would change: $bad" >&2; exit 1; fi
go vet ./...

echo "== buf lint, buf breaking against the released API, generated code up to date"
buf lint
# proto/released holds the image of the last released protocol: a change
# released plugins would not survive fails here (docs/plugins.md, Versioning).
buf breaking --against proto/released/timetiles-backup-v1.binpb
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
sed "s#out: gen#out: $gen#" buf.gen.yaml > "$gen/buf.gen.yaml"
buf generate --template "$gen/buf.gen.yaml"
if ! diff -r -q -x buf.gen.yaml gen "$gen" >/dev/null; then
  echo "gen/ is stale: run 'make proto' and commit the result" >&2
  diff -r -x buf.gen.yaml gen "$gen" | head -20 >&2
  exit 1
fi

echo "== go test"
go test -count=1 -timeout 20m ./... "$@"
echo "== transport benchmarks, once with 32 MiB (proves they run; no timing is judged)"
go test -count=1 -run '^$' -bench . -benchtime 1x ./bench -args -size 33554432
echo "== side-by-side harness (bench/run.sh), every pair once at a tiny scale (proves it runs; no figure is judged)"
go run ./bench/cmd/ttbench -scale 1 -reps 1 -p3-size 16MiB -p4-sizes 16MiB,32MiB -p4-reps 1 >/dev/null
for mod in examples/*/go.mod; do
  [ -f "$mod" ] || continue
  d=$(dirname "$mod")
  echo "== go test ($d)"
  (cd "$d" && go vet ./... && go test -count=1 -timeout 10m ./...)
done
