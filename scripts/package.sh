#!/usr/bin/env bash
# Builds the release artifacts (make package):
#   $DIST/timetiles-backup_<version>_<arch>.deb            (nfpm)
#   $DIST/timetiles-backup-<version>-linux-<arch>.tar.gz   (bin/, lib/timetiles-backup/, share/doc/)
# Both hold the CLI and the bundled plugins where the CLI looks for them.
# VERSION defaults to `git describe`; DIST to ./dist.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dist=${DIST:-$root/dist}
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null | sed 's/^v//')}
case "$version" in [0-9]*) ;; *) version="0.1.0+g${version:-unknown}" ;; esac
arch=$(go env GOARCH)
scripts/tools.sh nfpm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "package: timetiles-backup $version ($arch)" >&2
stage="$work/stage"
make -s install DESTDIR="$stage" PREFIX=/usr VERSION="$version"
# nfpm does not expand variables in file paths: fill them in.
sed -e "s#\${STAGE}#$stage#g" -e "s#\${ARCH}#$arch#g" -e "s#\${VERSION}#$version#g" \
  packaging/nfpm.yaml > "$work/nfpm.yaml"
.tools/bin/nfpm package --config "$work/nfpm.yaml" --packager deb --target "$dist/" >&2

tarname="timetiles-backup-$version-linux-$arch"
cp -a "$stage/usr" "$work/$tarname"
tar -C "$work" -czf "$dist/$tarname.tar.gz" "$tarname"
ls -1 "$dist"/*.deb "$dist/$tarname.tar.gz"
