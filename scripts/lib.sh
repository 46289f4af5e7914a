# Shared by the scripts: package lists and the install steps. Source it; it changes nothing itself.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_ROOT="${HOKUSAI_VENV_ROOT:-$HOME/.cache/hokusai-venvs}"
# The pinned MLflow client/server the suite always runs, the newest one PyPI resolves, and the
# last 2.x line (for the journeys that exist in MLflow 2).
MLFLOW_PINNED="3.10.1"
MLFLOW_2X="2.22"
# What every test venv holds besides mlflow.
# psycopg: the postgres leg's tests read the server's database; boto3: the S3 leg's list the bucket.
TEST_PIP_PACKAGES=(pytest requests scikit-learn "psycopg[binary]" boto3)

BUILD_PACKAGES=(g++ cmake ninja-build ccache pkg-config libboost1.81-dev libsimdjson-dev
  libexpected-dev libsqlite3-dev libspdlog-dev libfmt-dev libcli11-dev libssl-dev libpq-dev
  libcurl4-openssl-dev)
TEST_PACKAGES=(libgtest-dev python3 python3-venv python3-pip sqlite3 wrk curl procps nginx)
# What bench/run needs besides a build: wrk, and nginx for the gateway workload's reverse-proxy
# baseline (the bench starts its own nginx with a generated config; the package's service is not used).
BENCH_PACKAGES=(wrk nginx procps iproute2)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs the Debian packages that are not installed yet (apt-get update only when needed).
install_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Creates (or refreshes) a venv with the given mlflow requirement plus the test tools.
# $1: venv name, $2: pip requirement for mlflow, further arguments: extra requirements.
ensure_venv() {
  local name="$1" requirement="$2" dir="$VENV_ROOT/$1"
  shift 2
  local extra=("$@")
  if [ ! -x "$dir/bin/python" ]; then
    log "creating Python venv $dir"
    mkdir -p "$VENV_ROOT"
    python3 -m venv "$dir"
  fi
  if [ "$name" = "mlflow-latest" ] || ! "$dir/bin/python" -c "import mlflow, pytest, requests, sklearn, psycopg, boto3" 2>/dev/null; then
    log "installing $requirement into $dir"
    "$dir/bin/pip" install -q --upgrade "$requirement" "${TEST_PIP_PACKAGES[@]}" "${extra[@]}"
  fi
  echo "$dir"
}

# Configures and builds a CMake preset ($1), optionally one target ($2).
build_preset() {
  local preset="$1" target="${2:-}"
  log "building preset $preset"
  cmake --preset "$preset" -S "$REPO_ROOT" >/dev/null
  if [ -n "$target" ]; then
    cmake --build --preset "$preset" --target "$target"
  else
    cmake --build --preset "$preset"
  fi
}
