#!/usr/bin/env bash
# Resource use of the bridge at 1 Hz with the simulated PDU: resident memory
# and CPU over a measured window, with one dashboard live stream connected.
#
#   scripts/bench-resources.sh [seconds]     (default 60; needs a release build:
#                                             scripts/run.sh builds one)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
seconds="${1:-60}"
bin="$CARGO_TARGET_DIR/release/pdu-bridge"
[ -x "$bin" ] || { echo "no release binary at $bin: run scripts/run.sh once (or cargo build --release -p server)" >&2; exit 1; }
port=18181
data="$(mktemp -d)"
BRIDGE_WEB_PORT=$port BRIDGE_DATA_DIR="$data" BRIDGE_LOG_LEVEL=warn "$bin" &
pid=$!
trap 'kill $pid 2>/dev/null || true; kill $stream 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/api/health" >/dev/null && break; sleep 0.2; done
curl -sN "http://127.0.0.1:$port/api/stream" >/dev/null &
stream=$!
sleep 5   # warm-up: first polls, first page render

ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
hz=$(getconf CLK_TCK)
start_ticks=$(ticks)
start_ns=$(date +%s%N)
max_rss=0 sum_rss=0 samples=0
for _ in $(seq "$seconds"); do
  sleep 1
  r=$(rss_kb); sum_rss=$((sum_rss + r)); samples=$((samples + 1))
  [ "$r" -gt "$max_rss" ] && max_rss=$r
done
end_ticks=$(ticks)
elapsed_ns=$(( $(date +%s%N) - start_ns ))
polls=$(curl -s "http://127.0.0.1:$port/api/status" >/dev/null && echo ok)
awk -v t=$((end_ticks - start_ticks)) -v hz="$hz" -v ns="$elapsed_ns" -v max="$max_rss" -v sum="$sum_rss" -v n="$samples" 'BEGIN {
  cpu_s = t / hz; wall = ns / 1e9;
  printf "window: %.1f s\nCPU: %.2f s (%.2f %% of one core)\nRSS: mean %.1f MiB, max %.1f MiB\n", wall, cpu_s, 100 * cpu_s / wall, sum / n / 1024, max / 1024
}'
[ "$polls" = ok ]
