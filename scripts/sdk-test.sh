#!/usr/bin/env bash
# The Python SDK's checks (sdk/python): installs the SDK into the pinned MLflow venv, type-checks
# it with mypy --strict, and runs its pytest suite (sdk/python/tests): unit tests, then the
# integration tests against $HOKUSAI_BIN (default: the ASan build, build/asan/hokusai-registry).
#
#   source scripts/sdk-test.sh && run_sdk_tests [extra pytest arguments]   # from another script
#   bash scripts/sdk-test.sh [extra pytest arguments]                       # on its own
#
# The binary must already be built; a missing binary fails the integration tests (never skips).
# shellcheck shell=bash
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

# Extra tools for the SDK's type check (the SDK itself needs only requests).
SDK_CHECK_PACKAGES=(mypy types-requests)

run_sdk_tests() {
  local venv bin status=0
  venv="$(ensure_venv "mlflow-$MLFLOW_PINNED" "mlflow==$MLFLOW_PINNED")"
  bin="${HOKUSAI_BIN:-$REPO_ROOT/build/asan/hokusai-registry}"
  log "installing the SDK (sdk/python) into $venv"
  "$venv/bin/pip" install -q --force-reinstall --no-deps "$REPO_ROOT/sdk/python" || return 1
  "$venv/bin/pip" install -q requests "${SDK_CHECK_PACKAGES[@]}" || return 1
  log "SDK type check (mypy --strict)"
  (cd "$REPO_ROOT/sdk/python" && "$venv/bin/mypy") || return 1
  log "SDK tests against $bin"
  (cd "$REPO_ROOT" && HOKUSAI_BIN="$bin" "$venv/bin/python" -m pytest sdk/python/tests -q \
    -p no:cacheprovider "$@") || status=$?
  if [ "$status" -eq 5 ]; then
    echo "pytest collected no SDK tests: sdk/python/tests is missing" >&2
    return 1
  fi
  return "$status"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  run_sdk_tests "$@"
fi
