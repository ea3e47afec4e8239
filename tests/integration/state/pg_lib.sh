#!/usr/bin/env bash
# pg_lib.sh - a throwaway PostgreSQL server for tests (Debian's postgresql package: initdb and
# postgres from /usr/lib/postgresql/<version>/bin), in a temporary directory, stopped by PID.
#
# PostgreSQL refuses to run as root. When the tests run as root (CI), the server runs as the
# "postgres" system user the postgresql package creates (or "nobody" if it is missing), through
# setpriv, which execs in place so the PID we hold is the server's own; the directory is chowned
# to that user. As any other user, the server runs as that user.
#
# The server listens on a Unix socket in DIR/sock and on 127.0.0.1:<a free port> with TLS (a CA
# and a server certificate for localhost/127.0.0.1 made here by openssl); superuser "anode" with
# password authentication (scram-sha-256) over TCP and trust on the socket; databases "anode",
# "anode_mig" and "anode_nomig".
#
# Sourced:  pg_setup DIR (initdb + certs + start + databases; sets PG_PORT), pg_stop DIR,
#           pg_start DIR, pg_freeze DIR, pg_thaw DIR, pg_url DIR [DB] (the socket url).
# Executed: pg_lib.sh stop|start|freeze|thaw DIR (what the C tests call through system()).
# The server's PID is in DIR/server.pid while it runs; the caller's trap calls pg_stop.
# shellcheck shell=bash

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

pg_as() { # run a command as the server's user (exec: in a subshell, the PID becomes the command's)
    if [ "$(id -u)" -eq 0 ]; then
        local u
        u=$(pg_owner)
        exec setpriv --reuid "$u" --regid "$(id -g "$u")" --clear-groups -- "$@"
    else
        exec "$@"
    fi
}

pg_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        if id -u postgres >/dev/null 2>&1; then echo postgres; else echo nobody; fi
    else
        id -un
    fi
}

pg_free_port() { # as tests/ops/package_test.sh: node is on every machine the tests run on
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

pg_start() { # DIR: start the server, wait until it answers (20 s)
    local dir=$1
    (pg_as "$PG_BIN/postgres" -D "$dir/data") >>"$dir/server.log" 2>&1 &
    echo $! >"$dir/server.pid"
    for _ in $(seq 1 200); do
        if (pg_as "$PG_BIN/pg_isready" -q -h "$dir/sock" -p "$(cat "$dir/port")" -d postgres); then
            return 0
        fi
        pg_alive "$(cat "$dir/server.pid")" || break
        sleep 0.1
    done
    echo "pg_lib: postgres did not start; log:" >&2
    tail -20 "$dir/server.log" >&2
    return 1
}

pg_alive() { # PID: running (a zombie not yet reaped is not)
    [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)" != Z ]
}

pg_stop() { # DIR: fast shutdown by PID, wait for the exit (20 s, then SIGKILL)
    local dir=$1 pid
    [ -f "$dir/server.pid" ] || return 0
    pid=$(cat "$dir/server.pid")
    pg_thaw "$dir"
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do
        pg_alive "$pid" || break
        sleep 0.1
    done
    pg_alive "$pid" && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true # reaps it when it is our child
    rm -f "$dir/server.pid"
}

pg_pids() { # DIR: the server and its children (backends, background workers)
    local pid
    pid=$(cat "$1/server.pid")
    echo "$pid"
    ps -o pid= --ppid "$pid" 2>/dev/null
}

pg_freeze() { # DIR: SIGSTOP the server and its children: it accepts nothing, answers nothing
    local p
    for p in $(pg_pids "$1"); do kill -STOP "$p" 2>/dev/null || true; done
}

pg_thaw() {
    local p
    for p in $(pg_pids "$1"); do kill -CONT "$p" 2>/dev/null || true; done
}

pg_url() { # DIR [DB]: the url over the Unix socket
    echo "postgresql://anode@/${2:-anode}?host=$1/sock&port=$(cat "$1/port")"
}

pg_certs() { # DIR: CA + server certificate for localhost/127.0.0.1, and a second unrelated CA
    local d=$1/tls
    mkdir -p "$d"
    (
        cd "$d" || exit 1
        for ca in ca badca; do
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
                -subj "/CN=anode test $ca" -keyout "$ca.key" -out "$ca.crt" 2>/dev/null || exit 1
        done
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
            -keyout server.key -out server.csr 2>/dev/null || exit 1
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext.cnf
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
            -extfile ext.cnf -out server.crt 2>/dev/null || exit 1
        chmod 600 server.key
    )
}

pg_setup() { # DIR: a new cluster, started, with the test databases; sets PG_PORT
    local dir=$1 owner
    owner=$(pg_owner)
    mkdir -p "$dir/sock"
    PG_PORT=$(pg_free_port)
    echo "$PG_PORT" >"$dir/port"
    printf 'anode-test-pw\n' >"$dir/pwfile"
    chmod 600 "$dir/pwfile"
    pg_certs "$dir" || return 1
    chown -R "$owner" "$dir"
    (pg_as "$PG_BIN/initdb" -D "$dir/data" -U anode --pwfile="$dir/pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --no-sync) >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        return 1
    }
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$dir/sock'
ssl = on
ssl_cert_file = '$dir/tls/server.crt'
ssl_key_file = '$dir/tls/server.key'
fsync = ${PG_FSYNC:-off}
max_connections = 200
shared_buffers = 16MB
EOF
    pg_start "$dir" || return 1
    local db
    for db in anode anode_mig anode_nomig; do
        (pg_as "$PG_BIN/createdb" -h "$dir/sock" -p "$PG_PORT" -U anode "$db") || return 1
    done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -eu
    case "${1:-}" in
    stop) pg_stop "$2" ;;
    start) pg_start "$2" ;;
    freeze) pg_freeze "$2" ;;
    thaw) pg_thaw "$2" ;;
    *)
        echo "usage: pg_lib.sh stop|start|freeze|thaw DIR" >&2
        exit 2
        ;;
    esac
fi
