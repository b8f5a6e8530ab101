#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for the cacheness tests.
#
#   scripts/pg.sh start   # prints: export CACHENESS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/cacheness_test
#   scripts/pg.sh stop    # stops the cluster and deletes its data directory
#   scripts/pg.sh status  # prints the export line if the cluster is running
#
# Use:  eval "$(scripts/pg.sh start)"
#
# Installs the Debian `postgresql` package when no initdb/pg_ctl can be found. The cluster lives
# in a fresh temporary directory owned by the `postgres` user, listens on 127.0.0.1 only (on a
# free port) with trust authentication and keeps its unix sockets in its data directory.
# State (data dir, port, binaries) is kept in target/pg/state so that `stop` can find it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state_dir="${CACHENESS_PG_STATE_DIR:-$here/target/pg}"
state="$state_dir/state"
db=cacheness_test

log() { echo "pg.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Directory holding initdb, pg_ctl, pg_isready, psql (empty if none).
find_bindir() {
    local d
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        d="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return; fi
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return; fi
    done
    echo ""
}

ensure_binaries() {
    local bindir
    bindir="$(find_bindir)"
    if [ -z "$bindir" ]; then
        [ "$(id -u)" = 0 ] || die "initdb/pg_ctl not found and not root: install PostgreSQL (apt-get install -y postgresql)"
        log "initdb/pg_ctl not found: installing the postgresql package"
        export DEBIAN_FRONTEND=noninteractive
        # Do not let the package create and start its own cluster on port 5432.
        if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
            mkdir -p /etc/postgresql-common
            echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
        fi
        if ! apt-get install -y postgresql >&2; then
            apt-get update >&2
            apt-get install -y postgresql >&2
        fi
        bindir="$(find_bindir)"
        [ -n "$bindir" ] || die "postgresql installed but initdb/pg_ctl still not found"
    fi
    echo "$bindir"
}

# Runs a command as the user that owns the cluster.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
        fi
    else
        "$@"
    fi
}

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    else
        # Try ports until one is not accepting connections.
        local p
        for p in $(seq 54320 54420); do
            if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
        done
        die "no free port found"
    fi
}

url_of() { echo "postgres://postgres@127.0.0.1:$1/$db"; }

running() {
    [ -f "$state" ] || return 1
    # shellcheck disable=SC1090
    . "$state"
    [ -d "${PGDATA_DIR:-}" ] || return 1
    as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1
}

start() {
    if running; then
        log "already running (data dir $PGDATA_DIR, port $PORT)"
        echo "export CACHENESS_TEST_POSTGRES_URL=$(url_of "$PORT")"
        return
    fi
    if [ -f "$state" ]; then
        log "removing stale state $state"
        stop_cluster || true
    fi
    local bindir user
    bindir="$(ensure_binaries)"
    if [ "$(id -u)" = 0 ]; then
        user=postgres
        if ! id postgres >/dev/null 2>&1; then
            log "creating system user postgres"
            useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres
        fi
    else
        user="$(id -un)"
    fi
    local data
    # Not $TMPDIR: the postgres user must be able to reach the directory.
    data="$(mktemp -d "${CACHENESS_PG_TMPDIR:-/tmp}/cacheness-pg.XXXXXX")"
    chmod 0700 "$data"
    [ "$(id -u)" = 0 ] && chown postgres: "$data"
    mkdir -p "$state_dir"
    # Record the data dir before anything can fail so that `stop` can clean up.
    printf 'PGDATA_DIR=%q\nPORT=%q\nBINDIR=%q\n' "$data" "" "$bindir" >"$state"

    log "initdb into $data (user $user, binaries $bindir)"
    as_owner "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$data.initdb.log" 2>&1 \
        || { cat "$data.initdb.log" >&2; rm -f "$data.initdb.log"; die "initdb failed"; }
    rm -f "$data.initdb.log"

    local port attempt
    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        printf 'PGDATA_DIR=%q\nPORT=%q\nBINDIR=%q\n' "$data" "$port" "$bindir" >"$state"
        if as_owner "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$data' -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >&2; then
            break
        fi
        log "start on port $port failed (attempt $attempt):"
        tail -n 20 "$data/server.log" >&2 || true
        port=""
    done
    [ -n "$port" ] || die "could not start PostgreSQL"

    local i
    for i in $(seq 1 60); do
        if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; then break; fi
        sleep 0.5
        [ "$i" = 60 ] && die "server not ready after 30 s (see $data/server.log)"
    done
    "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
        -c "CREATE DATABASE $db" >&2 || die "could not create database $db"
    log "PostgreSQL running on 127.0.0.1:$port, data dir $data"
    echo "export CACHENESS_TEST_POSTGRES_URL=$(url_of "$port")"
}

stop_cluster() {
    # shellcheck disable=SC1090
    . "$state"
    if [ -n "${PGDATA_DIR:-}" ] && [ -d "$PGDATA_DIR" ]; then
        if [ -f "$PGDATA_DIR/postmaster.pid" ] && as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
            as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 60 stop >&2 || log "pg_ctl stop failed"
        fi
        case "$PGDATA_DIR" in
            */cacheness-pg.*) rm -rf "$PGDATA_DIR" ;;
            *) log "not deleting unexpected data dir $PGDATA_DIR" ;;
        esac
    fi
    rm -f "$state"
}

stop() {
    if [ ! -f "$state" ]; then
        log "not running (no $state)"
        return
    fi
    stop_cluster
    log "stopped"
}

status() {
    if running; then
        echo "export CACHENESS_TEST_POSTGRES_URL=$(url_of "$PORT")"
    else
        log "not running"
        return 1
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
