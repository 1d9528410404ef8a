#!/usr/bin/env bash
# Run every test: the set-up test (scripts/test-setup.sh), unit and integration
# (cargo; MQTT interoperability against our own Mosquitto, a real Prometheus
# scraping /metrics, SNMP against our simulator agent and net-snmp's tools, and
# against the independent snmpsim peer of ../shared/peers when that folder is
# there), an MQTT shell test, the API against its own OpenAPI description
# (schemathesis), then
# end-to-end in headless Chromium (Playwright) against the real binary with
# the site embedded. Installs what it needs on a fresh Debian machine with
# rustup, idempotently. A clone on its own (no ../shared) passes too: the
# snmpsim suite is then skipped, and the summary says so.
#
#   PDU_BRIDGE_NO_PEERS=1 bash scripts/test.sh   as if ../shared/peers were absent
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

work="$(mktemp -d "${TMPDIR:-/tmp}/pdu-bridge-test.XXXXXX")"
cleanup_work() { rm -rf "$work"; }
at_exit cleanup_work

ran=()      # the suites that ran, in order
skipped=()  # "name (why)"
counted=()  # the "label: N passed, M failed" lines of the suites that count
totals=(0 0 0)  # passed, failed, skipped

# count LABEL PASSED FAILED [SKIPPED]: one suite's numbers, for the summary.
count() {
  local line="$1: $2 passed, $3 failed"
  if [ "${4:-0}" != 0 ]; then line+=", $4 skipped"; fi
  counted+=("$line")
  totals=($((totals[0] + $2)) $((totals[1] + $3)) $((totals[2] + ${4:-0})))
}

# logged FILE COMMAND...: run COMMAND, its output shown and kept in FILE; a
# failure names COMMAND (not tee).
logged() {
  local file="$1" rc=0
  shift
  "$@" 2>&1 | tee "$file" || rc=$?
  [ "$rc" = 0 ] || die "$rc" "$*"
}

# counts_from FILE PREFIX LABEL: the numbers of the last "PREFIX: N passed,
# M failed" line in FILE, counted as LABEL.
counts_from() {
  local line
  line="$(grep -E "^$2: [0-9]+ passed, [0-9]+ failed" "$1" | tail -n 1 || true)"
  [ -n "$line" ] || die 1 "no '$2: N passed, M failed' line in the output"
  # shellcheck disable=SC2046 # two numbers
  count "$3" $(sed -E 's/^[^:]*: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/' <<<"$line")
}

ensure_test_packages

step "set-up test" "the set-up steps on a bare sandbox with stubbed installs, and shellcheck (scripts/test-setup.sh)"
logged "$work/setup.log" bash scripts/test-setup.sh
counts_from "$work/setup.log" setup set-up
ran+=("set-up")

ensure_wasm_toolchain
ensure_chromium
ensure_node_modules

# MQTT interoperability: our own Mosquitto, always.
start_test_mosquitto
at_exit stop_test_mosquitto

# The independent peers (snmpsim on udp 11161, written from the vendor MIB by
# someone else) when ../shared/peers sits beside the clone; CI always has it.
peers="$ROOT/../shared/peers"
if [ "${PDU_BRIDGE_NO_PEERS:-}" = 1 ]; then
  why="PDU_BRIDGE_NO_PEERS=1"
elif [ -f "$peers/start-peers.sh" ]; then
  why=""
else
  why="no ../shared/peers"
fi
if [ -z "$why" ]; then
  step "shared peers" "snmpsim serving a simulated PDU44001 on udp 127.0.0.1:11161 (../shared/peers/start-peers.sh)"
  bash "$peers/start-peers.sh"
  export PDU_BRIDGE_PEERS=1
else
  log "the snmpsim peer suite is skipped: $why"
  unset PDU_BRIDGE_PEERS
fi

step "site" "the WASM front end, debug build (scripts/build-site.sh)"
bash scripts/build-site.sh

step "unit and integration tests" "cargo test -p app -p server"
# Prometheus was installed above (ensure_test_packages): its test must run here.
export PDU_BRIDGE_NEED_PROMETHEUS=1
logged "$work/cargo.log" cargo test -p app -p server
read -r passed failed ignored < <(awk '/^test result:/ { p += $4; f += $6; i += $8 } END { print p + 0, f + 0, i + 0 }' "$work/cargo.log")
count cargo "$passed" "$failed" "$ignored"
ran+=("cargo (unit+integration; Mosquitto interop on 127.0.0.1:$TEST_MQTT_PORT/$TEST_MQTT_AUTH_PORT)")
# The snmpsim suite is part of the cargo run, gated by PDU_BRIDGE_PEERS.
if [ -z "$why" ]; then ran+=("snmpsim-peers"); else skipped+=("snmpsim-peers ($why)"); fi

step "bridge binary" "cargo build -p server, the site embedded"
cargo build -p server
bin="$CARGO_TARGET_DIR/debug/pdu-bridge"

step "mqtt shell" "Mosquitto's clients against the bridge's embedded broker (scripts/mqtt-shell-test.sh)"
logged "$work/mqtt-shell.log" bash scripts/mqtt-shell-test.sh "$bin"
counts_from "$work/mqtt-shell.log" "mqtt shell" mqtt-shell
ran+=("mqtt-shell")

step "openapi" "schemathesis against the running bridge's own OpenAPI description (scripts/openapi-test.sh)"
logged "$work/openapi.log" bash scripts/openapi-test.sh "$bin"
counts_from "$work/openapi.log" openapi openapi
ran+=("openapi")

step "container stack" "docker/: image, compose, Telegraf and the Mosquitto ACL, run with real Mosquitto and the bridge (docker/test-stack.sh)"
logged "$work/stack.log" bash docker/test-stack.sh "$bin"
counts_from "$work/stack.log" stack stack
ran+=("stack")

step "systemd unit" "deploy/systemd/pdu-bridge.service through systemd-analyze verify and security (deploy/test-systemd.sh)"
logged "$work/systemd.log" bash deploy/test-systemd.sh "$bin"
counts_from "$work/systemd.log" systemd systemd
ran+=("systemd")

step "end-to-end tests" "Playwright in Debian's Chromium against the built bridge"
mkdir -p docs/screenshots
rm -f end2end/test-results/results.json
e2e=0
(cd end2end && PDU_BRIDGE_BIN="$bin" npx playwright test) || e2e=$?
ran+=("e2e")
if [ -f end2end/test-results/results.json ]; then
  read -r passed failed e2e_skipped < <(node -e '
    const s = require("./end2end/test-results/results.json").stats;
    console.log(s.expected, s.unexpected, s.skipped);
  ')
  count end-to-end "$passed" "$failed" "$e2e_skipped"
else
  counted+=("end-to-end: no results (playwright exited $e2e)")
  totals[1]=$((totals[1] + 1))
fi

# Our Mosquitto is stopped before the summary, so the counted line stays last.
stop_test_mosquitto
step "summary"
joined() { local out="" x; for x in "$@"; do out+="${out:+, }$x"; done; printf '%s' "${out:-none}"; }
printf 'suites ran: %s\n' "$(joined "${ran[@]}")"
printf 'suites skipped: %s\n' "$(joined "${skipped[@]}")"
printf '%s\n' "${counted[@]}"
if [ "$e2e" != 0 ]; then
  printf "%s: step '%s' failed (exit %d): npx playwright test\n" "$_SCRIPT" "end-to-end tests" "$e2e"
fi
line="total: ${totals[0]} passed, ${totals[1]} failed"
if [ "${totals[2]}" != 0 ]; then line+=", ${totals[2]} skipped"; fi
printf '%s\n' "$line"
_REPORTED=1  # the lines above say what failed, if anything
if [ "$e2e" != 0 ]; then exit "$e2e"; fi
[ "${totals[1]}" = 0 ]
