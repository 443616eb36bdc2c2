#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the release artifacts (make package):
#   $DIST/timetiles-backup_<version>_<arch>.deb            (nfpm)
#   $DIST/timetiles-backup-<version>-linux-<arch>.tar.gz   (bin/, lib/timetiles-backup/, share/doc/)
# Both hold the CLI and the bundled plugins where the CLI looks for them.
# VERSION (a semantic version) defaults to scripts/version.sh's, from the git
# tags; the .deb's version is its dpkg form (0.2.0-git20261204+4b99d78 →
# 0.2.0~git20261204.4b99d78, below 0.2.0). DIST defaults to ./dist.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dist=${DIST:-$root/dist}
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
version=${VERSION:-$(scripts/version.sh)}
case "$version" in
  [0-9]*.[0-9]*.[0-9]*) ;;
  *) echo "package: VERSION=$version is not a semantic version (MAJOR.MINOR.PATCH[-PRE][+BUILD])" >&2; exit 2 ;;
esac
debversion=$(scripts/version.sh --deb "$version")
arch=$(go env GOARCH)
scripts/tools.sh nfpm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "package: timetiles-backup $version (.deb $debversion, $arch)" >&2
stage="$work/stage"
make -s install DESTDIR="$stage" PREFIX=/usr VERSION="$version"
# Debian's places: man pages and the changelog compressed (gzip -9n: no
# name, no time, so the same input gives the same bytes).
gzip -9n "$stage"/usr/share/man/man1/*.1
gzip -9nc packaging/changelog > "$stage/changelog.gz"
# nfpm does not expand variables in file paths: fill them in.
sed -e "s#\${STAGE}#$stage#g" -e "s#\${ARCH}#$arch#g" -e "s#\${VERSION}#$debversion#g" \
  packaging/nfpm.yaml > "$work/nfpm.yaml"
.tools/bin/nfpm package --config "$work/nfpm.yaml" --packager deb --target "$dist/" >&2

tarname="timetiles-backup-$version-linux-$arch"
cp -a "$stage/usr" "$work/$tarname"
tar -C "$work" -czf "$dist/$tarname.tar.gz" "$tarname"
ls -1 "$dist"/*.deb "$dist/$tarname.tar.gz"
