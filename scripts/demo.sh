#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job on an embedded default, on a fresh Debian 12 machine:
#   make demo
# Starts a throwaway PostgreSQL 15 + PostGIS with sample TimeTiles-like data
# and a sample uploads directory, backs both up into a local restic
# repository with timetiles-backup, lists the restore points, restores into
# a scratch database and directory, and shows that they are equal.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/install-deps.sh
scripts/tools.sh restic
export PATH="$root/.tools/bin:$PATH"

work=$(mktemp -d /tmp/timetiles-demo-XXXXXX)
chmod 755 "$work"
pgbin=/usr/lib/postgresql/15/bin
cleanup() {
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Building timetiles-backup and its plugins"
mkdir -p "$work/bin"
ldflags="-X github.com/timetiles/timetiles-backup/internal/version.Version=$(scripts/version.sh)"
# One go build for all of them: the packages compile and link in parallel.
go build -ldflags "$ldflags" -o "$work/bin/" ./cmd/timetiles-backup ./plugins/...
for p in plugins/*/; do
  n=$(basename "$p")
  mv "$work/bin/$n" "$work/bin/timetiles-backup-$n"
done
ls "$work/bin"

step "Starting a throwaway PostgreSQL 15 with PostGIS"
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
mkdir -p "$work/pg"
chown postgres:postgres "$work/pg"
chmod 700 "$work/pg"
runuser -u postgres -- "$pgbin/initdb" -D "$work/pg/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $work/pg -c fsync=off" start >/dev/null
export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql -d postgres -c "CREATE DATABASE timetiles"
psql -d timetiles <<'SQL'
CREATE EXTENSION postgis;
CREATE TABLE datasets (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE events (
  id bigserial PRIMARY KEY,
  dataset_id int REFERENCES datasets(id),
  title text,
  happened_at timestamptz,
  location geometry(Point, 4326),
  payload jsonb
);
INSERT INTO datasets (name) SELECT 'Dataset ' || g || ' — Zürich' FROM generate_series(1, 20) g;
INSERT INTO events (dataset_id, title, happened_at, location, payload)
SELECT 1 + g % 20, 'Event ' || g || ' 日本', timestamptz '2024-01-01' + g * interval '1 hour',
       ST_SetSRID(ST_MakePoint(8.5 + g / 10000.0, 47.3 + g / 20000.0), 4326),
       jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'b'))
FROM generate_series(1, 5000) g;
CREATE INDEX ON events USING gist (location);
SQL
echo "database timetiles: $(psql -d timetiles -Atc 'SELECT count(*) FROM events') events"

step "Creating a sample uploads directory"
up="$work/uploads"
mkdir -p "$up/2024/05/Zürich café" "$up/empty-dir" "$up/media"
printf 'hello' > "$up/2024/05/Zürich café/日本語 ファイル.txt"
head -c 3000000 /dev/urandom > "$up/media/photo.jpg"
: > "$up/empty.txt"
for i in $(seq 1 50); do printf 'file %s\n' "$i" > "$up/2024/05/doc-$i.csv"; done
ln -s media/photo.jpg "$up/latest.jpg"
chmod 600 "$up/2024/05/doc-1.csv"
touch -d '2024-03-01 12:00:00' "$up/media/photo.jpg"
find "$up" -type f | wc -l | xargs echo "files:"

# The env file lives in a directory of its own: restore --to refuses a
# directory inside the env file's (as it does the uploads, the repository
# and the state directory), and the demo restores into $work/restored-uploads.
mkdir -p "$work/etc"
env="$work/etc/env.production"
cat > "$env" <<ENV
# The operator's env file (normally /opt/timetiles/.env.production).
RESTIC_PASSWORD=demo-password-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
RESTIC_REPOSITORY=$work/restic-repo
BACKUP_DATABASE_URL=postgres://postgres@127.0.0.1:$port/timetiles
UPLOAD_HOST_DIR=$up
BACKUP_ALERT_LOG=$work/alerts.log
BACKUP_STATE_DIR=$work/state
ENV
chmod 600 "$env"
tb() { "$work/bin/timetiles-backup" "$@" --env-file "$env"; }

step "timetiles-backup plugins"
tb plugins
step "timetiles-backup backup   (first run: the repository is created)"
tb backup
step "timetiles-backup backup   (second run: only new data is stored)"
tb backup
step "timetiles-backup backup list"
tb backup list

step "timetiles-backup restore latest --to-database timetiles_restored --to $work/restored-uploads --yes"
tb restore latest --to-database timetiles_restored --to "$work/restored-uploads" --yes

step "Checking that the restore equals the original"
digest() {
  psql -d "$1" -At <<'SQL'
SELECT 'datasets', md5(string_agg(d::text, '|' ORDER BY d.id)) FROM datasets d
UNION ALL SELECT 'events', md5(string_agg(e::text, '|' ORDER BY e.id)) FROM events e;
SQL
}
if [ "$(digest timetiles)" = "$(digest timetiles_restored)" ]; then
  echo "database: equal ($(psql -d timetiles_restored -Atc 'SELECT count(*) FROM events') events, PostGIS points included)"
else
  echo "database: DIFFERENT" >&2; exit 1
fi
listing() { (cd "$1" && find . -mindepth 1 -printf '%p %y %m %s %T@ %l\n' | sort); }
if [ "$(listing "$up")" = "$(listing "$work/restored-uploads")" ] && diff -r --no-dereference "$up" "$work/restored-uploads"; then
  echo "uploads: equal (bytes, modes, mtimes, symlinks, empty dirs, unicode names)"
else
  echo "uploads: DIFFERENT" >&2
  diff <(listing "$up") <(listing "$work/restored-uploads") >&2 || true
  exit 1
fi
printf '\n\033[1mDemo passed.\033[0m\n'
