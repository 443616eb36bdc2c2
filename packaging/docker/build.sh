#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the timetiles-backup container image (packaging/docker/Dockerfile)
# from this checkout: stages the CLI and plugins (make install), the pinned
# restic (scripts/tools.sh), and runs docker build.
# Usage: packaging/docker/build.sh [TAG]     (default timetiles-backup:local)
#   BASE_IMAGE=debian:bookworm-slim   the image to build FROM (the tests use
#                                     the local debootstrap image)
#   EXTRA_PACKAGES="postgresql-client-15"   for direct mode
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tag=${1:-timetiles-backup:local}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
make -s -C "$root" install DESTDIR="$ctx" PREFIX=/stage >/dev/null
"$root/scripts/tools.sh" restic
mkdir -p "$ctx/bin" "$ctx/lib"
mv "$ctx/stage/bin/timetiles-backup" "$ctx/bin/"
mv "$ctx/stage/lib/timetiles-backup" "$ctx/lib/"
cp -L "$root/.tools/bin/restic" "$ctx/bin/restic"
rm -rf "$ctx/stage"
exec docker build -t "$tag" -f "$root/packaging/docker/Dockerfile" \
  --build-arg "BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}" \
  --build-arg "EXTRA_PACKAGES=${EXTRA_PACKAGES:-}" "$ctx"
