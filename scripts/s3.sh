# An S3-compatible test server (moto, from PyPI) for the S3 artifact store. Source it, then:
#   start_s3 <workdir>   installs moto[server] into a venv if needed, starts it on a free loopback
#                        port, creates a bucket and exports HOKUSAI_TEST_S3_ENDPOINT,
#                        HOKUSAI_TEST_S3_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
#                        AWS_DEFAULT_REGION. Logs go to <workdir>/s3-server.log.
#   stop_s3              stops the server start_s3 started.
# Functions return non-zero on failure instead of exiting, so a caller with `set -e` stops there.
# shellcheck shell=bash

# Pinned so every machine tests against the same server behaviour.
S3_SERVER_REQUIREMENT="moto[server]==5.2.5"
S3_SERVER_VENV="${HOKUSAI_VENV_ROOT:-$HOME/.cache/hokusai-venvs}/s3-server"
S3_TEST_BUCKET="hokusai-test"
S3_SERVER_START_TIMEOUT_SECONDS=60

_s3_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Creates the venv and installs the pinned moto unless it is already there.
_s3_ensure_venv() {
  local python="$S3_SERVER_VENV/bin/python"
  if [ ! -x "$python" ]; then
    _s3_log "creating Python venv $S3_SERVER_VENV"
    mkdir -p "$(dirname "$S3_SERVER_VENV")"
    python3 -m venv "$S3_SERVER_VENV" || return 1
  fi
  local wanted="${S3_SERVER_REQUIREMENT#*==}"
  local have
  have="$("$python" -c 'import moto, flask, boto3; print(moto.__version__)' 2>/dev/null || true)"
  if [ "$have" != "$wanted" ]; then
    _s3_log "installing $S3_SERVER_REQUIREMENT into $S3_SERVER_VENV"
    "$S3_SERVER_VENV/bin/pip" install -q "$S3_SERVER_REQUIREMENT" || return 1
  fi
}

# Prints a TCP port that is free on 127.0.0.1 right now.
_s3_free_port() {
  "$S3_SERVER_VENV/bin/python" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Waits until the server at $1 answers HTTP (any status) or its process $2 dies.
_s3_wait_ready() {
  local endpoint="$1" pid="$2" deadline=$((SECONDS + S3_SERVER_START_TIMEOUT_SECONDS))
  while [ "$SECONDS" -lt "$deadline" ]; do
    kill -0 "$pid" 2>/dev/null || return 1
    if "$S3_SERVER_VENV/bin/python" - "$endpoint" 2>/dev/null <<'EOF'
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/", timeout=1)
except urllib.error.HTTPError:
    pass  # any HTTP answer means it is up
EOF
    then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

start_s3() {
  local workdir="${1:?usage: start_s3 <workdir>}"
  mkdir -p "$workdir" || return 1
  _s3_ensure_venv || return 1
  local port
  port="$(_s3_free_port)" || return 1
  local endpoint="http://127.0.0.1:$port"
  "$S3_SERVER_VENV/bin/python" -m moto.server -H 127.0.0.1 -p "$port" \
    >"$workdir/s3-server.log" 2>&1 &
  S3_SERVER_PID=$!
  if ! _s3_wait_ready "$endpoint" "$S3_SERVER_PID"; then
    _s3_log "the S3 test server did not start; see $workdir/s3-server.log"
    stop_s3
    return 1
  fi
  export HOKUSAI_TEST_S3_ENDPOINT="$endpoint"
  export HOKUSAI_TEST_S3_BUCKET="$S3_TEST_BUCKET"
  # moto accepts any credentials; these are placeholders, not secrets.
  export AWS_ACCESS_KEY_ID="hokusai-test-key"
  export AWS_SECRET_ACCESS_KEY="hokusai-test-secret"
  export AWS_DEFAULT_REGION="us-east-1"
  if ! "$S3_SERVER_VENV/bin/python" - "$endpoint" "$S3_TEST_BUCKET" <<'EOF'
import sys, boto3
boto3.client("s3", endpoint_url=sys.argv[1]).create_bucket(Bucket=sys.argv[2])
EOF
  then
    _s3_log "could not create bucket $S3_TEST_BUCKET; see $workdir/s3-server.log"
    stop_s3
    return 1
  fi
  _s3_log "S3 test server (moto) at $endpoint, bucket $S3_TEST_BUCKET, pid $S3_SERVER_PID"
}

stop_s3() {
  if [ -n "${S3_SERVER_PID:-}" ]; then
    kill "$S3_SERVER_PID" 2>/dev/null || true
    wait "$S3_SERVER_PID" 2>/dev/null || true
    unset S3_SERVER_PID
  fi
}
