#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages the tests need (PostgreSQL 15 + PostGIS, jq;
# cron and systemd to check the scheduled job against the real ones; zsh and
# man-db to check the shell completion and the man pages; the tools of the
# root-only tests: util-linux for setpriv, unshare and mount, e2fsprogs for
# chattr, dpkg for dpkg-deb, tar for the GNU tar interop; chromium, Debian's
# build, to render `status --html` in a real browser).
# Idempotent and silent when everything is already installed.
set -euo pipefail

pkgs=(postgresql-15 postgresql-15-postgis-3 jq cron systemd zsh man-db util-linux e2fsprogs dpkg tar chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
