#!/usr/bin/env bash
# Build everything in release mode and start the bridge. With no PDU_HOST it
# runs a demo on a simulated PDU44001: dashboard on http://localhost:8080.
# Arguments go to pdu-bridge (for example --env-file .env).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_wasm_toolchain
ensure_node_modules

step "site" "the WASM front end, release build (scripts/build-site.sh --release)"
bash scripts/build-site.sh --release

step "server" "the bridge, release build (cargo build --release -p server)"
cargo build --release -p server
bin="$CARGO_TARGET_DIR/release/pdu-bridge"
[ -x "$bin" ] || die 1 "cargo build finished but $bin is missing"

# A simulated PDU starts with a week of simulated history, so charts and the
# first weekly report are not empty (never applied to a real PDU).
export BRIDGE_DEMO_HISTORY_DAYS="${BRIDGE_DEMO_HISTORY_DAYS:-7}"
step "start" "the bridge ($bin; its arguments are not shown: they may hold secrets)"
echo "Sign in as admin: on a first start the password is printed below and kept in ${BRIDGE_DATA_DIR:-./data}/initial-admin-password (or set BRIDGE_ADMIN_PASSWORD before the first start)."
exec "$bin" "$@"
