#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# What the official postgres image's entrypoint does, reduced to what
# TimeTiles' database service relies on: on an empty data directory, initdb
# with POSTGRES_USER / POSTGRES_PASSWORD (through a file, never argv) and
# scram-sha-256 for TCP clients, create POSTGRES_DB, run
# /docker-entrypoint-initdb.d/*.sql and *.sh; then postgres in the foreground
# as PID 1 (SIGINT from `docker stop` is a fast shutdown).
set -Eeuo pipefail
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

if [ "${1:-}" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set (the password of the database superuser)}"
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    pwfile=$(mktemp)
    chown postgres "$pwfile"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    as_postgres initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    printf "listen_addresses = '*'\npassword_encryption = 'scram-sha-256'\n" >>"$PGDATA/postgresql.conf"
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    export PGUSER="$user"
    if [ "$db" != postgres ]; then
      # psql interpolates :"db" (quoted identifier) from stdin, not from -c
      echo 'CREATE DATABASE :"db"' | as_postgres psql -v ON_ERROR_STOP=1 -q -d postgres --set db="$db" >/dev/null
    fi
    for f in /docker-entrypoint-initdb.d/*; do
      case "$f" in
        *.sql) as_postgres psql -v ON_ERROR_STOP=1 -q -d "$db" -f "$f" ;;
        *.sh) . "$f" ;;
      esac
    done
    as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    unset PGUSER
    echo "PostgreSQL init process complete; ready for start up."
  fi
  exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
fi
exec "$@"
