#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Makes a Docker engine and the images the end-to-end tests use available on
# this machine (Debian 12), from nothing and without any registry:
#   - docker.io and debootstrap from Debian (apt) when missing;
#   - dockerd started (setsid, log in .tools/docker/dockerd.log) when
#     `docker info` does not answer;
#   - local/debian:bookworm imported from a debootstrap --variant=minbase
#     rootfs, and timetiles-backup-test/postgis:15 built FROM it
#     (scripts/docker/postgis), each only when missing or when its recipe
#     changed (a label holds the recipe's hash): present ⇒ no rebuild;
#   - the docker compose CLI plugin built from the Go module proxy
#     (github.com/docker/compose/v5, pinned) into ~/.docker/cli-plugins
#     (Debian's docker-compose 1.29 behind a shim if it cannot be built).
# Idempotent: on a warm machine it only checks (well under a second).
# Usage: scripts/docker-env.sh            (everything)
#        scripts/docker-env.sh --no-compose
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH=/usr/bin:/usr/sbin:/bin:/sbin:$PATH # Debian's docker CLI, not a daemon-less newer one in /usr/local/bin
state="$root/.tools/docker"
mkdir -p "$state"
log() { echo "docker-env: $*" >&2; }

BASE_IMAGE=local/debian:bookworm
POSTGIS_IMAGE=timetiles-backup-test/postgis:15
COMPOSE_VERSION=v5.6.0
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)

# 1. packages
missing=()
for p in docker.io debootstrap; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq >&2
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# 2. the daemon
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: $state/dockerd.log)"
  "${sudo[@]}" setsid dockerd >"$state/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 300); do
    docker info >/dev/null 2>&1 && break
    sleep 0.1
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not come up:"; tail -20 "$state/dockerd.log" >&2; exit 1; }
fi

recipe_hash() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }
has_image() { # has_image NAME [HASH]
  local got
  got=$(docker image inspect -f '{{ index .Config.Labels "org.timetiles-backup.recipe" }}' "$1" 2>/dev/null) || return 1
  [ -z "${2:-}" ] || [ "$got" = "$2" ]
}

# 3. base image: a minimal Debian 12 rootfs (no registry to pull from)
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "building $BASE_IMAGE with debootstrap (a few minutes)"
  rootfs=$(mktemp -d "$state/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  "${sudo[@]}" debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >"$state/debootstrap.log" 2>&1 ||
    { tail -20 "$state/debootstrap.log" >&2; exit 1; }
  "${sudo[@]}" rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
  "${sudo[@]}" tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' -c 'ENV LANG=C.UTF-8' - "$BASE_IMAGE" >/dev/null
  "${sudo[@]}" rm -rf "$rootfs"
  trap - EXIT
fi

# 4. PostGIS image (the recipe's hash is its label: a changed recipe rebuilds)
h=$(recipe_hash "$root/scripts/docker/postgis")
if ! has_image "$POSTGIS_IMAGE" "$h"; then
  log "building $POSTGIS_IMAGE (about a minute)"
  docker build -q --label "org.timetiles-backup.recipe=$h" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    -t "$POSTGIS_IMAGE" "$root/scripts/docker/postgis" >/dev/null
  docker image prune -f --filter label=org.timetiles-backup.recipe >/dev/null # the previous recipe's image
fi

# 5. docker compose v2+ CLI plugin, from the Go module proxy (pinned). If it
# cannot be built, Debian's docker-compose 1.29 stands in behind a small CLI
# plugin shim (`docker compose ARGS` runs `docker-compose ARGS`); the suite
# is run with the built plugin (1.29 names containers and projects
# differently: project_web_1, no '-' in project names).
if [ "${1:-}" != --no-compose ]; then
  plugdir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
  cache="$root/.tools/docker-compose-$COMPOSE_VERSION"
  mkdir -p "$plugdir"
  if [ ! -x "$cache/docker-compose" ]; then
    log "building docker compose $COMPOSE_VERSION from the Go module proxy (several minutes)"
    work=$(mktemp -d)
    mkdir -p "$cache"
    if (cd "$work" && go mod init tmp >/dev/null 2>&1 &&
      GOFLAGS=-mod=mod go get "github.com/docker/compose/v5/cmd@$COMPOSE_VERSION" >&2 &&
      GOFLAGS=-mod=mod go build -trimpath \
        -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" \
        -o "$cache/docker-compose.tmp" github.com/docker/compose/v5/cmd); then
      mv "$cache/docker-compose.tmp" "$cache/docker-compose"
    fi
    rm -rf "$work"
  fi
  if [ -x "$cache/docker-compose" ]; then
    ln -sfn "$cache/docker-compose" "$plugdir/docker-compose"
  else
    log "docker compose $COMPOSE_VERSION could not be built: falling back to Debian's docker-compose 1.29"
    if [ "$(dpkg-query -W -f='${Status}' docker-compose 2>/dev/null)" != "install ok installed" ]; then
      DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends docker-compose >&2
    fi
    rm -f "$plugdir/docker-compose"
    cat >"$plugdir/docker-compose" <<'SHIM'
#!/bin/sh
# docker CLI plugin shim: `docker compose ARGS` runs Debian's docker-compose 1.29.
if [ "$1" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion":"0.1.0","Vendor":"Debian","Version":"1.29 (docker-compose shim)","ShortDescription":"Docker Compose"}'
  exit 0
fi
shift # the plugin's name, "compose"
exec /usr/bin/docker-compose "$@"
SHIM
    chmod 755 "$plugdir/docker-compose"
  fi
  docker compose version >/dev/null 2>&1 || { log "docker compose does not run"; exit 1; }
fi
