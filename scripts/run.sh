#!/usr/bin/env bash
# Build everything in release mode and start the bridge. With no PDU_HOST it
# runs a demo on a simulated PDU44001: dashboard on http://localhost:8080.
# Arguments go to pdu-bridge (for example --env-file .env).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_wasm_toolchain
ensure_node_modules
bash scripts/build-site.sh --release
log "building the server (release)"
cargo build --release -p server
# A simulated PDU starts with a week of simulated history, so charts and the
# first weekly report are not empty (never applied to a real PDU).
export BRIDGE_DEMO_HISTORY_DAYS="${BRIDGE_DEMO_HISTORY_DAYS:-7}"
exec "$CARGO_TARGET_DIR/release/pdu-bridge" "$@"
