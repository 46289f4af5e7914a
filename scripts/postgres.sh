# A throwaway PostgreSQL 15 cluster for tests: start_postgres, create_pg_database, stop_postgres.
# Source it; it changes nothing itself. Run as root: it installs the Debian packages it needs,
# and the server runs as the postgres OS user because PostgreSQL refuses to run as root.
# shellcheck shell=bash

if ! declare -F install_packages >/dev/null; then
  # shellcheck source=scripts/lib.sh
  source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fi

PG_PACKAGES=(postgresql)
PG_BIN_DIR=/usr/lib/postgresql/15/bin
# The cluster's superuser, and the role the tests connect as (owner of their databases).
PG_ADMIN_ROLE=postgres
PG_TEST_ROLE=hokusai
# The socket path "<dir>/run/.s.PGSQL.<port>" must fit in sun_path (107 bytes).
PG_MAX_DIR_LENGTH=80
PG_START_ATTEMPTS=5

# Runs a command as the postgres OS user, from a directory it can enter.
_pg_as_postgres() { (cd / && runuser -u postgres -- "$@"); }

# A TCP port on 127.0.0.1 that nothing listens on now (start_postgres retries if it is taken
# before the server binds it).
_pg_free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    return
  fi
  local port _
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

# psql as the superuser, over TCP, on database $1; further arguments go to psql.
_pg_admin_psql() {
  local database="$1"
  shift
  PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 \
    "postgresql://$PG_ADMIN_ROLE@127.0.0.1:$HOKUSAI_TEST_PG_PORT/$database" "$@"
}

# Stops the cluster whose directory is $1, if it runs.
_pg_stop_dir() {
  local dir="$1"
  [ -f "$dir/data/postmaster.pid" ] || return 0
  # A pid file with no server behind it (after a crash or a reboot) needs no stopping.
  _pg_as_postgres "$PG_BIN_DIR/pg_ctl" -D "$dir/data" status >/dev/null || return 0
  _pg_as_postgres "$PG_BIN_DIR/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

# Removes what an earlier start_postgres left at $1 (<workdir>/pg), stopping its server first.
# Refuses anything else found there.
_pg_discard() {
  local link="$1" dir
  [ -e "$link" ] || [ -L "$link" ] || return 0
  dir="$(readlink -f "$link")"
  if [ -n "$(ls -A "$dir" 2>/dev/null)" ] && [ ! -f "$dir/data/PG_VERSION" ] &&
     [ ! -f "$dir/initdb.log" ]; then
    echo "start_postgres: $link exists and is not a cluster made by start_postgres" >&2
    return 1
  fi
  _pg_stop_dir "$dir" || return 1
  rm -rf "$dir" && rm -f "$link"
}

# Starts a fresh cluster in <workdir>/pg (replacing one an earlier call left there, and stopping
# the one this shell started before), listening on 127.0.0.1 at a free port, with trust
# authentication for loopback and its own socket directory only, fsync on, and a database
# `hokusai` owned by the role `hokusai`. When the postgres OS user cannot enter <workdir> (a
# 0700 parent, as pytest's temporary root) or the path is too long for a socket, the cluster
# lives in a new directory under /tmp and <workdir>/pg links to it. Exports
# HOKUSAI_TEST_PG_URL (postgresql://hokusai@127.0.0.1:<port>/hokusai), HOKUSAI_TEST_PG_PORT and
# HOKUSAI_TEST_PG_DIR (the cluster's directory: data/, run/, postgres.log). Returns non-zero with
# a message on failure.
start_postgres() {
  local workdir="${1:?usage: start_postgres <workdir>}"
  install_packages "${PG_PACKAGES[@]}" || return 1
  if [ ! -x "$PG_BIN_DIR/initdb" ]; then
    echo "start_postgres: $PG_BIN_DIR/initdb is missing (is postgresql-15 installed?)" >&2
    return 1
  fi
  if [ -n "${HOKUSAI_TEST_PG_DIR:-}" ]; then
    _pg_stop_dir "$HOKUSAI_TEST_PG_DIR" || return 1
  fi
  mkdir -p "$workdir" && workdir="$(cd "$workdir" && pwd -P)" || return 1
  local link="$workdir/pg" dir="$workdir/pg"
  _pg_discard "$link" || return 1
  mkdir "$dir" && chown postgres: "$dir" && chmod 700 "$dir" || return 1
  if [ "${#dir}" -gt "$PG_MAX_DIR_LENGTH" ] || ! _pg_as_postgres test -w "$dir"; then
    rmdir "$dir"
    dir="$(mktemp -d /tmp/hokusai-pg.XXXXXX)" && chown postgres: "$dir" && ln -s "$dir" "$link" ||
      return 1
  fi

  log "creating a PostgreSQL cluster in $dir"
  # Locale C: text compares bytewise and lower() folds ASCII only, as in SQLite.
  if ! _pg_as_postgres "$PG_BIN_DIR/initdb" -D "$dir/data" -U "$PG_ADMIN_ROLE" --auth=trust \
      --encoding=UTF8 --locale=C --no-instructions >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    return 1
  fi
  _pg_as_postgres mkdir -m 700 "$dir/run" || return 1
  cat >>"$dir/data/postgresql.conf" <<EOF
# start_postgres (scripts/postgres.sh): loopback only, socket in the cluster's directory.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/run'
fsync = on
max_connections = 200
EOF
  cat >"$dir/data/pg_hba.conf" <<EOF
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
EOF

  local port="" attempt
  for ((attempt = 1; attempt <= PG_START_ATTEMPTS; attempt++)); do
    port="$(_pg_free_port)" || { echo "start_postgres: no free port" >&2; return 1; }
    if _pg_as_postgres "$PG_BIN_DIR/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
        -o "-p $port" start >/dev/null; then
      break
    fi
    if ! grep -q "Address already in use" "$dir/postgres.log" 2>/dev/null; then
      tail -n 20 "$dir/postgres.log" >&2
      return 1
    fi
    port=""
  done
  if [ -z "$port" ]; then
    echo "start_postgres: every port tried was taken" >&2
    return 1
  fi

  export HOKUSAI_TEST_PG_PORT="$port" HOKUSAI_TEST_PG_DIR="$dir"
  _pg_admin_psql postgres -c "CREATE ROLE $PG_TEST_ROLE LOGIN CREATEDB" \
    -c "CREATE DATABASE hokusai OWNER $PG_TEST_ROLE" || return 1
  export HOKUSAI_TEST_PG_URL="postgresql://$PG_TEST_ROLE@127.0.0.1:$port/hokusai"
  log "PostgreSQL is up: $HOKUSAI_TEST_PG_URL"
}

# Creates the database <name> (lowercase letters, digits, _) on the cluster start_postgres
# started, owned by the test role, dropping one of that name first so that it starts empty, and
# prints its URL.
create_pg_database() {
  local name="${1:?usage: create_pg_database <name>}"
  if ! [[ "$name" =~ ^[a-z_][a-z0-9_]{0,62}$ ]]; then
    echo "create_pg_database: '$name' is not a lowercase identifier" >&2
    return 1
  fi
  if [ -z "${HOKUSAI_TEST_PG_PORT:-}" ]; then
    echo "create_pg_database: no cluster (call start_postgres first)" >&2
    return 1
  fi
  _pg_admin_psql postgres -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" \
    -c "CREATE DATABASE $name OWNER $PG_TEST_ROLE" || return 1
  echo "postgresql://$PG_TEST_ROLE@127.0.0.1:$HOKUSAI_TEST_PG_PORT/$name"
}

# Stops the cluster start_postgres started in this shell, or the one in <workdir>/pg when given
# (fast shutdown: open sessions are cut). Leaves its files.
stop_postgres() {
  local dir="${HOKUSAI_TEST_PG_DIR:-}"
  if [ -n "${1:-}" ]; then
    dir="$(readlink -f "$1/pg")"
  fi
  [ -n "$dir" ] || return 0
  _pg_stop_dir "$dir" || return 1
  if [ "$dir" = "${HOKUSAI_TEST_PG_DIR:-}" ]; then
    unset HOKUSAI_TEST_PG_URL HOKUSAI_TEST_PG_PORT HOKUSAI_TEST_PG_DIR
  fi
}
