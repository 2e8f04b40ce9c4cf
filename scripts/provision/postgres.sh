# shellcheck shell=bash
# Starts a throwaway PostgreSQL for the tests. SOURCE it (do not run it):
#
#   export TOLLGATE_TEST_DIR=$(mktemp -d)
#   source scripts/provision/postgres.sh
#   trap tollgate_stop_postgres EXIT
#
# It installs PostgreSQL with apt-get when no server binaries are found,
# creates a cluster under "$TOLLGATE_TEST_DIR/postgres", starts it on
# 127.0.0.1 (port TOLLGATE_TEST_POSTGRES_PORT, default 55432, or the next free
# one) with TLS from a throwaway CA, and exports TOLLGATE_TEST_POSTGRES_URL, a
# superuser URL, and TOLLGATE_TEST_POSTGRES_CA, the CA certificate (PEM). Returns
# non-zero with a message on stderr when it cannot. Safe under
# `set -euo pipefail`. Sourcing it again reuses the running cluster.

# shellcheck source=test-ca.sh
source "$(dirname "${BASH_SOURCE[0]}")/test-ca.sh"

tollgate__pg_log() {
    printf 'provision/postgres: %s\n' "$*" >&2
}

# Prints the directory holding initdb and pg_ctl, newest version first.
tollgate__pg_bindir() {
    local initdb_path dir
    if initdb_path=$(command -v initdb 2>/dev/null) && command -v pg_ctl >/dev/null 2>&1; then
        # Debian links the tools into PATH; pg_ctl wants the real directory,
        # where the postgres binary sits next to it.
        dirname "$(readlink -f "$initdb_path")"
        return 0
    fi
    for dir in $( (ls -d /usr/lib/postgresql/*/bin 2>/dev/null || true) | sort -t/ -k5 -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
            printf '%s\n' "$dir"
            return 0
        fi
    done
    return 1
}

tollgate__pg_install() {
    tollgate__pg_log "no PostgreSQL server binaries found; installing with apt-get"
    if ! command -v apt-get >/dev/null 2>&1; then
        tollgate__pg_log "apt-get is not available: install PostgreSQL (initdb, pg_ctl) yourself"
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y postgresql >&2; then
        tollgate__pg_log "install failed; refreshing the package lists and retrying"
        apt-get update >&2 && apt-get install -y postgresql >&2 || {
            tollgate__pg_log "apt-get install postgresql failed"
            return 1
        }
    fi
}

# Runs a command as the cluster's owner: postgres refuses to run as root.
tollgate__pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

tollgate__pg_port_taken() {
    # Something accepts connections there.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

tollgate__pg_provision() {
    local test_dir="${TOLLGATE_TEST_DIR:-}"
    if [ -z "$test_dir" ]; then
        tollgate__pg_log "TOLLGATE_TEST_DIR must be set (a scratch directory for this test run)"
        return 1
    fi
    local bindir
    if ! bindir=$(tollgate__pg_bindir); then
        tollgate__pg_install || return 1
        bindir=$(tollgate__pg_bindir) || {
            tollgate__pg_log "installed PostgreSQL but still found no initdb/pg_ctl"
            return 1
        }
    fi

    local root="$test_dir/postgres"
    local data="$root/data" sockets="$root/sockets" logfile="$root/server.log"
    mkdir -p "$root" "$sockets" || return 1

    if [ "$(id -u)" -eq 0 ]; then
        if ! id -u postgres >/dev/null 2>&1; then
            useradd --system --user-group --home-dir "$root" --shell /bin/sh postgres || {
                tollgate__pg_log "cannot create the system user postgres"
                return 1
            }
        fi
        # The server runs as postgres and must reach its directory: let it
        # traverse (not list) the test directory.
        chmod a+x "$test_dir" || return 1
        chown -R postgres: "$root" || return 1
        if ! runuser -u postgres -- test -w "$root"; then
            tollgate__pg_log "user postgres cannot write $root (check the permissions of its parents)"
            return 1
        fi
    fi

    local user=tollgate password
    if [ -s "$root/password" ]; then
        password=$(cat "$root/password")
    else
        password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
        (umask 077 && printf '%s\n' "$password" >"$root/password") || return 1
        [ "$(id -u)" -ne 0 ] || chown postgres: "$root/password"
    fi

    if [ ! -s "$data/PG_VERSION" ]; then
        tollgate__pg_as_owner "$bindir/initdb" -D "$data" --username="$user" \
            --pwfile="$root/password" --auth-local=trust --auth-host=scram-sha-256 \
            --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$root/initdb.log" 2>&1 || {
            tollgate__pg_log "initdb failed:"
            cat "$root/initdb.log" >&2
            return 1
        }
    fi

    # TLS with a throwaway CA, so clients can verify the server
    # (sslmode=verify-full against TOLLGATE_TEST_POSTGRES_CA).
    local tls="$root/tls"
    if [ ! -s "$tls/server.pem" ]; then
        tollgate_test_certs "$tls" PostgreSQL || {
            tollgate__pg_log "cannot create the TLS certificates"
            return 1
        }
        [ "$(id -u)" -ne 0 ] || chown -R postgres: "$tls"
    fi

    local port
    if tollgate__pg_as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1 && [ -s "$root/port" ]; then
        port=$(cat "$root/port")
        tollgate__pg_log "reusing the server already running on port $port"
    else
        port="${TOLLGATE_TEST_POSTGRES_PORT:-55432}"
        local last=$((port + 100))
        while tollgate__pg_port_taken "$port"; do
            port=$((port + 1))
            if [ "$port" -gt "$last" ]; then
                tollgate__pg_log "no free port between ${TOLLGATE_TEST_POSTGRES_PORT:-55432} and $last"
                return 1
            fi
        done
        # fsync and friends off: the cluster is thrown away after the run.
        tollgate__pg_as_owner "$bindir/pg_ctl" -D "$data" -l "$logfile" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $sockets -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c ssl=on -c ssl_cert_file=$tls/server.pem -c ssl_key_file=$tls/server.key" \
            start >&2 || {
            tollgate__pg_log "PostgreSQL did not start; server log:"
            tail -n 40 "$logfile" >&2 2>/dev/null || true
            return 1
        }
        printf '%s\n' "$port" >"$root/port"
    fi

    if ! "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30; then
        tollgate__pg_log "PostgreSQL is not accepting connections on 127.0.0.1:$port"
        tail -n 40 "$logfile" >&2 2>/dev/null || true
        return 1
    fi

    TOLLGATE_PG_BINDIR="$bindir"
    TOLLGATE_PG_DATA="$data"
    export TOLLGATE_TEST_POSTGRES_URL="postgres://$user:$password@127.0.0.1:$port/postgres"
    export TOLLGATE_TEST_POSTGRES_CA="$tls/ca.pem"
    tollgate__pg_log "PostgreSQL ready on 127.0.0.1:$port (data in $data)"
}

# Stops the cluster started above; safe to call more than once (e.g. in a trap).
tollgate_stop_postgres() {
    if [ -n "${TOLLGATE_PG_DATA:-}" ] && [ -d "$TOLLGATE_PG_DATA" ]; then
        tollgate__pg_as_owner "${TOLLGATE_PG_BINDIR:-}/pg_ctl" -D "$TOLLGATE_PG_DATA" -m fast -w stop \
            >/dev/null 2>&1 || true
    fi
}

tollgate__pg_provision
