#!/usr/bin/env bash
# Run every test: unit and integration (cargo), then end-to-end in headless
# Chromium (Playwright) against the real binary with the site embedded.
# Installs what it needs on a fresh Debian machine with rustup, idempotently.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_wasm_toolchain
ensure_chromium
ensure_node_modules
# net-snmp's tools for the SNMP interoperability tests; openssl makes the
# MQTT TLS test's certificates.
apt_install snmp openssl

# Third-party peers (snmpsim on udp 11161, Mosquitto) from ../shared/peers.
peers="$ROOT/../shared/peers"
[ -d "$peers" ] || { echo "missing $peers: the shared folder must sit beside the project" >&2; exit 1; }
log "starting the test peers"
bash "$peers/start-peers.sh"

bash scripts/build-site.sh

log "unit and integration tests"
cargo test -p app -p server

log "building the bridge with the site embedded"
cargo build -p server
bin="$CARGO_TARGET_DIR/debug/pdu-bridge"

log "MQTT from the shell (mosquitto_sub / mosquitto_pub)"
bash scripts/mqtt-shell-test.sh "$bin"

log "end-to-end tests in Chromium"
mkdir -p docs/screenshots
rm -f end2end/test-results/results.json
set +e
(cd end2end && PDU_BRIDGE_BIN="$bin" npx playwright test)
e2e=$?
set -e
if [ -f end2end/test-results/results.json ]; then
  node -e '
    const s = require("./end2end/test-results/results.json").stats;
    console.log(`end-to-end: ${s.expected} passed, ${s.unexpected} failed` + (s.skipped ? `, ${s.skipped} skipped` : ""));
  '
fi
exit "$e2e"
