#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Prints the version of this checkout, from its git tags vMAJOR.MINOR.PATCH.
#
#   scripts/version.sh          semantic version (CLI, plugins, tarball)
#   scripts/version.sh --deb    the same as a Debian package version
#   scripts/version.sh --deb V  converts the semantic version V
#
#   a clean checkout of the tag v0.1.0 ........ 0.1.0
#   any other commit (or a modified tree) ..... the next minor release's pre-release,
#                                               0.2.0-git20261204+4b99d78 (semver: below 0.2.0)
#                                               0.2.0~git20261204.4b99d78 (dpkg: below 0.2.0)
#   no tag yet ................................ 0.1.0-git20261204+4b99d78 (the first release is 0.1.0)
#   a modified tree adds ".dirty"; no git at all gives 0.0.0-unknown.
# The date is the commit's (UTC), so a rebuild of one commit gives one
# version, and later commits on a branch sort later (same-day builds differ
# by hash only). A patch release (v0.1.1) is built from its tag.
set -euo pipefail

deb() { # semver → dpkg: the pre-release's "-" becomes "~" (sorts below the release), "+" becomes "."
  local v=$1
  v=${v/-/\~}
  echo "${v//+/.}"
}

if [ "${1:-}" = --deb ] && [ $# -ge 2 ]; then
  deb "$2"
  exit 0
fi

cd "$(dirname "$0")/.."
semver=0.0.0-unknown
if git rev-parse --git-dir >/dev/null 2>&1 && git rev-parse -q --verify HEAD >/dev/null; then
  tag=$(git tag --merged HEAD --list 'v[0-9]*' --sort=-v:refname | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | head -n1 || true)
  dirty=
  if ! git diff --quiet HEAD -- 2>/dev/null; then dirty=.dirty; fi
  if [ -n "$tag" ] && [ -z "$dirty" ] && [ "$(git rev-parse "$tag^{commit}")" = "$(git rev-parse HEAD)" ]; then
    semver=${tag#v}
  else
    if [ -n "$tag" ]; then
      IFS=. read -r major minor _ <<<"${tag#v}"
      next="$major.$((minor + 1)).0"
    else
      next=0.1.0
    fi
    date=$(TZ=UTC git show -s --format=%cd --date=format-local:%Y%m%d HEAD)
    hash=$(git rev-parse --short=7 HEAD)
    semver="$next-git$date+$hash$dirty"
  fi
fi

if [ "${1:-}" = --deb ]; then
  deb "$semver"
else
  echo "$semver"
fi
