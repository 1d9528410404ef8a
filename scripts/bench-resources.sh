#!/usr/bin/env bash
# Resource use of the bridge at 1 Hz with the simulated PDU: resident memory
# and CPU over a measured window, with one dashboard live stream connected.
#
#   scripts/bench-resources.sh [seconds]     (default 60; needs a release build:
#                                             scripts/run.sh builds one)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
seconds="${1:-60}"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || die 2 "usage: scripts/bench-resources.sh [seconds] (got '$seconds')"
for tool in curl getconf; do
  command -v "$tool" >/dev/null || die 127 "$tool is not on the PATH"
done
bin="$CARGO_TARGET_DIR/release/pdu-bridge"
[ -x "$bin" ] || die 1 "no release binary at $bin: run scripts/run.sh once (or cargo build --release -p server)"

step "start" "the bridge on 127.0.0.1:18181 with a simulated PDU and one live stream"
port=18181
data="$(mktemp -d)"
BRIDGE_ANONYMOUS_READ=true BRIDGE_WEB_PORT=$port BRIDGE_DATA_DIR="$data" BRIDGE_LOG_LEVEL=warn "$bin" &
pid=$!
stream=""
cleanup() {
  kill "$pid" 2>/dev/null || true
  if [ -n "$stream" ]; then kill "$stream" 2>/dev/null || true; fi
  rm -rf "$data"
}
at_exit cleanup
healthy=""
for _ in $(seq 50); do
  if curl -sf "http://127.0.0.1:$port/api/health" >/dev/null; then healthy=1; break; fi
  kill -0 "$pid" 2>/dev/null || die 1 "the bridge exited before it answered (its output is above)"
  sleep 0.2
done
[ -n "$healthy" ] || die 1 "the bridge did not answer http://127.0.0.1:$port/api/health within 10 s"
curl -sN "http://127.0.0.1:$port/api/stream" >/dev/null &
stream=$!
sleep 5   # warm-up: first polls, first page render

step "measure" "CPU and resident memory of pid $pid over $seconds s"
measure_cpu_rss "$pid" "$seconds"

step "status" "the bridge still answers /api/status"
curl -sf "http://127.0.0.1:$port/api/status" >/dev/null || die 1 "the bridge did not answer /api/status after the window"
