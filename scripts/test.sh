#!/usr/bin/env bash
# Installs what is missing, builds with AddressSanitizer + UBSan, and runs the whole suite:
# GoogleTest unit tests, then the pytest integration tests with the pinned MLflow 3 client, the
# newest one on PyPI and the last 2.x line (tests needing MLflow 3 APIs are deselected there), all
# against the sanitized binary; then the shared tests against the real mlflow server, and the
# client journeys through the binary in gateway mode in front of a real mlflow server; then the
# suite (native and gateway) once more with the servers on PostgreSQL and S3 (scripts/postgres.sh,
# scripts/s3.sh), including two replicas behind nginx (test_replicas.py).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
install_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"

build_preset asan
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

log "unit tests (ASan/UBSan)"
ctest --preset asan --output-on-failure -j 2

pinned="$(ensure_venv "mlflow-$MLFLOW_PINNED" "mlflow==$MLFLOW_PINNED")"
latest="$(ensure_venv mlflow-latest mlflow)"
# MLflow 2.22's server needs SQLAlchemy < 2.1 (its pool import fails on 2.1).
v2="$(ensure_venv "mlflow-$MLFLOW_2X" "mlflow==$MLFLOW_2X.*" "sqlalchemy<2.1")"
export HOKUSAI_BIN="$REPO_ROOT/build/asan/hokusai-registry"

status=0
for venv in "$pinned" "$latest" "$v2"; do
  version="$("$venv/bin/python" -c 'import mlflow; print(mlflow.__version__)')"
  # The route x scope matrix speaks raw HTTP only (no mlflow client): once, with the pinned
  # client's venv, is enough.
  extra=()
  # The 1 GiB transfer through the gateway and a real mlflow server: once, with the pinned venv.
  [ "$venv" = "$pinned" ] || extra=(--ignore=tests/integration/test_authz_matrix.py
                                    --ignore=tests/integration/test_gateway_large_artifact.py)
  log "integration tests with mlflow $version ${extra[*]}"
  (cd "$REPO_ROOT" && "$venv/bin/python" -m pytest tests/integration -q -p no:cacheprovider \
    "${extra[@]}") || status=$?
  if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: the integration suite is missing" >&2
    exit 1
  fi
  [ "$status" -eq 0 ] || break
done
if [ "$status" -eq 0 ]; then
  log "the same client and protocol tests against the real mlflow server (checks the expectations)"
  (cd "$REPO_ROOT" && "$pinned/bin/python" -m pytest tests/integration -q -p no:cacheprovider \
    --target=mlflow) || status=$?
fi
if [ "$status" -eq 0 ]; then
  log "the client journeys and key tests through the gateway (--upstream) to a real mlflow server"
  (cd "$REPO_ROOT" && "$pinned/bin/python" -m pytest tests/integration -q -p no:cacheprovider \
    --target=gateway) || status=$?
fi
if [ "$status" -eq 0 ]; then
  # Scale-out: the whole suite again (native and gateway) with every server on a database of its
  # own in a throwaway PostgreSQL cluster and its artifacts under a prefix of its own in an
  # S3-compatible server (docs/scale-out.md; scripts/postgres.sh, scripts/s3.sh).
  source "$(dirname "$0")/postgres.sh"
  source "$(dirname "$0")/s3.sh"
  services="$(mktemp -d /tmp/hokusai-test-services.XXXXXX)"
  trap 'stop_s3 >/dev/null 2>&1 || true; stop_postgres "$services" >/dev/null 2>&1 || true' EXIT
  start_postgres "$services"
  start_s3 "$services"
  export HOKUSAI_TEST_BACKEND=postgres HOKUSAI_TEST_ARTIFACTS=s3
  log "integration tests on PostgreSQL + S3 with mlflow $MLFLOW_PINNED"
  (cd "$REPO_ROOT" && "$pinned/bin/python" -m pytest tests/integration -q -p no:cacheprovider) \
    || status=$?
  if [ "$status" -eq 0 ]; then
    log "the gateway tests on PostgreSQL"
    (cd "$REPO_ROOT" && "$pinned/bin/python" -m pytest tests/integration -q -p no:cacheprovider \
      --target=gateway --ignore=tests/integration/test_gateway_large_artifact.py) || status=$?
  fi
  unset HOKUSAI_TEST_BACKEND HOKUSAI_TEST_ARTIFACTS
fi
if [ "$status" -eq 0 ]; then
  # The Python SDK (sdk/python): type check and its own suite against the same binary.
  source "$(dirname "$0")/sdk-test.sh"
  run_sdk_tests || status=$?
fi
exit "$status"
