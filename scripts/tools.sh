#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every pinned tool the demo, the tests and the code generator need into
# .tools/<name>-<version>/ (ignored by git) and links them into .tools/bin.
# Idempotent: a tool already built at its pinned version costs nothing.
# Usage: scripts/tools.sh [tool ...]   (default: the tools the tests need)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
mkdir -p "$tools/bin"

RESTIC_VERSION=v0.18.1
RESTIC_FLOOR_VERSION=v0.16.4
REST_SERVER_VERSION=v0.14.0
VERSITYGW_VERSION=v1.8.0
BUF_VERSION=v1.75.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
# nfpm builds the .deb (scripts/package.sh). Newer releases (2.46+) need
# go.digitalxero.dev modules that the Go module proxy does not serve.
NFPM_VERSION=v2.45.2
# staticcheck (unused code, U1000) in scripts/test.sh: 2026.2.2, a release for Go 1.26.
STATICCHECK_VERSION=v0.8.2

log() { echo "tools: $*" >&2; }

# link NAME DIR [AS]: expose DIR/NAME as .tools/bin/AS (default NAME). The
# link is relative, so it stays valid when .tools is reached through a
# symbolic link or the checkout moves.
link() { ln -sfn "../$(basename "$2")/$1" "$tools/bin/${3:-$1}"; }

go_install() { # go_install NAME VERSION PACKAGE
  local name=$1 version=$2 pkg=$3 dir="$tools/$1-$2"
  if [ ! -x "$dir/$name" ]; then
    log "building $name $version"
    mkdir -p "$dir"
    GOBIN="$dir" GOFLAGS=-mod=mod go install "$pkg@$version"
  fi
  link "$name" "$dir"
}

restic_floor() { # restic 0.16.4 (Ubuntu 24.04's version): its go.mod has replace directives
  local dir="$tools/restic-$RESTIC_FLOOR_VERSION"
  if [ ! -x "$dir/restic" ]; then
    log "building restic $RESTIC_FLOOR_VERSION (compatibility floor)"
    local src work
    src=$(go mod download -json "github.com/restic/restic@$RESTIC_FLOOR_VERSION" | jq -r .Dir)
    work=$(mktemp -d)
    cp -r "$src/." "$work/" && chmod -R u+w "$work"
    mkdir -p "$dir"
    (cd "$work" && go build -o "$dir/restic" ./cmd/restic)
    rm -rf "$work"
  fi
  link restic "$dir" restic-0.16
}

# restic-lowkdf: the pinned restic built with its "profile" build tag, which
# adds restic's --insecure-kdf flag (cmd/restic/global_debug.go in restic's
# source: scrypt N=128, r=1, p=1, the parameters of restic's own tests).
# The tests create repositories with it (testenv.NewRepo); the key file
# stores its KDF parameters, so the pinned release restic, which does
# everything else, opens such a repository without the ~0.4 CPU-s key
# derivation of a calibrated key. Never used outside the tests.
restic_lowkdf() {
  local dir="$tools/restic-lowkdf-$RESTIC_VERSION"
  if [ ! -x "$dir/restic" ]; then
    log "building restic $RESTIC_VERSION with --insecure-kdf (test repositories)"
    mkdir -p "$dir"
    GOBIN="$dir" GOFLAGS=-mod=mod go install -tags profile "github.com/restic/restic/cmd/restic@$RESTIC_VERSION"
  fi
  link restic "$dir" restic-lowkdf
}

rest_server() {
  local dir="$tools/rest-server-$REST_SERVER_VERSION"
  if [ ! -x "$dir/rest-server" ]; then
    log "building rest-server $REST_SERVER_VERSION"
    local work
    work=$(mktemp -d)
    mkdir -p "$dir"
    (cd "$work" && go mod init tmp >/dev/null 2>&1 &&
      go get "github.com/restic/rest-server/cmd/rest-server@$REST_SERVER_VERSION" >/dev/null 2>&1 &&
      go build -o "$dir/rest-server" github.com/restic/rest-server/cmd/rest-server)
    rm -rf "$work"
  fi
  link rest-server "$dir"
}

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(restic restic-floor restic-lowkdf rest-server versitygw)
for t in "${want[@]}"; do
  case "$t" in
    restic) go_install restic "$RESTIC_VERSION" github.com/restic/restic/cmd/restic ;;
    restic-floor) restic_floor ;;
    restic-lowkdf) restic_lowkdf ;;
    rest-server) rest_server ;;
    versitygw) go_install versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw/cmd/versitygw ;;
    buf) go_install buf "$BUF_VERSION" github.com/bufbuild/buf/cmd/buf ;;
    protoc-gen-go) go_install protoc-gen-go "$PROTOC_GEN_GO_VERSION" google.golang.org/protobuf/cmd/protoc-gen-go ;;
    protoc-gen-go-grpc) go_install protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION" google.golang.org/grpc/cmd/protoc-gen-go-grpc ;;
    nfpm) go_install nfpm "$NFPM_VERSION" github.com/goreleaser/nfpm/v2/cmd/nfpm ;;
    staticcheck) go_install staticcheck "$STATICCHECK_VERSION" honnef.co/go/tools/cmd/staticcheck ;;
    proto) for p in buf protoc-gen-go protoc-gen-go-grpc; do "$0" "$p"; done ;;
    *) echo "tools: unknown tool $t" >&2; exit 2 ;;
  esac
done
