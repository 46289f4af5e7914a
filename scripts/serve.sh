#!/usr/bin/env bash
# Installs what is missing, builds the release binary and starts the server on the embedded
# default (SQLite at ./hokusai-data/registry.db, 127.0.0.1:5000). Extra arguments go to `serve`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
install_packages "${BUILD_PACKAGES[@]}"
build_preset release hokusai-registry
log "starting hokusai-registry (Ctrl-C to stop)"
exec "$REPO_ROOT/build/release/hokusai-registry" serve "$@"
