#!/usr/bin/env bash
# Peak resident memory of the heaviest requests one client can send (issue 17):
# the bridge runs with 60 days of simulated history, and for each request the
# peak (VmHWM, reset through /proc/PID/clear_refs before it) is read after it.
#
#   scripts/bench-request-rss.sh [binary]     (default: the release build;
#                                              cargo build --release -p server)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
bin="${1:-$CARGO_TARGET_DIR/release/pdu-bridge}"
for tool in curl xargs; do
  command -v "$tool" >/dev/null || die 127 "$tool is not on the PATH"
done
[ -x "$bin" ] || die 1 "no binary at $bin: cargo build --release -p server (or pass one)"

step "start" "the bridge on 127.0.0.1:18182 with 60 days of simulated history"
port=18182
base="http://127.0.0.1:$port"
data="$(mktemp -d)"
BRIDGE_ANONYMOUS_READ=true BRIDGE_WEB_PORT=$port BRIDGE_DATA_DIR="$data" BRIDGE_DEMO_HISTORY_DAYS=60 MQTT_BROKER=none \
  BRIDGE_LOG_LEVEL=info "$bin" >"$data/log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  rm -rf "$data"
}
at_exit cleanup
filled=""
for _ in $(seq 600); do
  if grep -q "simulated history filled" "$data/log"; then filled=1; break; fi
  kill -0 "$pid" 2>/dev/null || die 1 "the bridge exited: $(tail -5 "$data/log")"
  sleep 0.5
done
[ -n "$filled" ] || die 1 "the demo history was not filled within 300 s"
sleep 2   # the first samples and rollups after the fill

step "measure" "peak RSS of pid $pid per request"
kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
now=$(date +%s)
from=$((now - 400 * 86400))
overflow="start=-9223372036854775808&end=9223372036854775807"
printf '| request | status | bytes | time | RSS before | peak RSS |\n|---|---|---|---|---|---|\n'
measure() {
  local label="$1" path="$2" parallel="${3:-1}" result
  kill -0 "$pid" 2>/dev/null || die 1 "the bridge (pid $pid) exited"
  echo 5 >"/proc/$pid/clear_refs"   # VmHWM := VmRSS
  local before
  before=$(kb VmRSS)
  result=$(seq "$parallel" | xargs -P "$parallel" -I{} \
    curl -s -o /dev/null -w '%{http_code} %{size_download} %{time_total}\n' "$base$path" | sort | tail -1)
  read -r code bytes secs <<<"$result"
  awk -v l="$label" -v c="$code" -v b="$bytes" -v s="$secs" -v r="$before" -v h="$(kb VmHWM)" 'BEGIN {
    printf "| %s | %s | %.1f KiB | %.0f ms | %.1f MiB | %.1f MiB |\n", l, c, b / 1024, s * 1000, r / 1024, h / 1024
  }'
}
measure "a small request (/api/status)" "/api/status"
measure "the overflow GET, JSON" "/api/history/outlets?$overflow"
measure "the overflow GET, CSV" "/api/history/outlets.csv?$overflow"
measure "1 h of outlets (raw, 1 s)" "/api/history/outlets?range=1h"
measure "60 d of outlets (JSON)" "/api/history/outlets?range=60d"
measure "60 d of outlets (CSV)" "/api/history/outlets.csv?range=60d"
measure "400 d of outlets, the widest window (JSON)" "/api/history/outlets?start=$from&end=$now"
measure "400 d of outlets, the widest window (CSV)" "/api/history/outlets.csv?start=$from&end=$now"
measure "400 days of energy" "/api/energy/daily?days=400"
measure "1000 events" "/api/events?limit=1000"
measure "32 widest windows at once (one client's limit)" "/api/history/outlets?start=$from&end=$now" 32
