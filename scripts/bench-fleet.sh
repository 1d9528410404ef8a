#!/usr/bin/env bash
# One bridge polling many simulated PDUs over real SNMP at 1 Hz, with
# history, the embedded MQTT broker and one rule per PDU on: the poll period
# of every PDU (mean rate and the p99 of the period error, from the live
# status every PDU publishes on MQTT after each poll), CPU and resident
# memory over the window with one dashboard's live stream open, history
# queue losses, and the fleet page's server time.
#
#   scripts/bench-fleet.sh [count] [seconds]   (default 200 PDUs, 60 s; needs a
#                                               release build: scripts/run.sh
#                                               builds one)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
count="${1:-200}"
seconds="${2:-60}"
[[ "$count" =~ ^[1-9][0-9]*$ && "$count" -le 1000 ]] || die 2 "usage: scripts/bench-fleet.sh [count 1-1000] [seconds] (got '$count')"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || die 2 "usage: scripts/bench-fleet.sh [count] [seconds] (got '$seconds')"
for tool in curl getconf python3 mosquitto_sub; do
  command -v "$tool" >/dev/null || die 127 "$tool is not on the PATH"
done
bin="$CARGO_TARGET_DIR/release/pdu-bridge"
[ -x "$bin" ] || die 1 "no release binary at $bin: run scripts/run.sh once (or cargo build --release -p server)"

port=18281
mqtt_port=18283
snmp_port=21000
data="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$data"
}
at_exit cleanup

step "agents" "$count simulated PDU44001s on udp 127.0.0.1:$snmp_port-$((snmp_port + count - 1))"
"$bin" simulate --count "$count" --port "$snmp_port" >/dev/null 2>&1 &
agents=$!
pids+=("$agents")

step "fleet" "pdus.json with $count PDUs, one rule each"
python3 - "$data" "$count" "$snmp_port" <<'EOF'
import json, sys
data, count, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pdus = [{"device_id": f"pdu-{i:03d}", "host": "127.0.0.1", "snmp_port": port + i, "label": f"PDU {i}"}
        for i in range(count)]
with open(f"{data}/pdus.json", "w") as f:
    json.dump({"pdus": pdus}, f)
for p in pdus:
    rule = [{"name": "brownout", "outlet": 10, "condition": "voltage_below", "threshold": 90, "action": "off"}]
    with open(f"{data}/rules-{p['device_id']}.json", "w") as f:
        json.dump(rule, f)
EOF

step "start" "the bridge on 127.0.0.1:$port (embedded MQTT on $mqtt_port)"
BRIDGE_ANONYMOUS_READ=true BRIDGE_WEB_PORT=$port MQTT_PORT=$mqtt_port BRIDGE_DATA_DIR="$data" \
  BRIDGE_LOG_LEVEL=warn "$bin" &
pid=$!
pids+=("$pid")
healthy=""
for _ in $(seq 100); do
  if curl -sf "http://127.0.0.1:$port/api/health" >/dev/null; then healthy=1; break; fi
  kill -0 "$pid" 2>/dev/null || die 1 "the bridge exited before it answered (its output is above)"
  sleep 0.2
done
[ -n "$healthy" ] || die 1 "the bridge did not answer http://127.0.0.1:$port/api/health within 20 s"
sleep 10   # warm-up: every PDU's identity and first polls

step "measure" "poll periods, CPU and resident memory of pid $pid over $seconds s"
timeout "$((seconds + 2))" curl -sN "http://127.0.0.1:$port/api/stream" >/dev/null &
pids+=($!)
timeout "$((seconds + 2))" mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -t 'pdu/+/status' >"$data/status.txt" &
pids+=($!)
sleep 2
agent_ticks() { awk '{print $14 + $15}' "/proc/$agents/stat"; }
agents_before=$(agent_ticks)
measure_cpu_rss "$pid" "$seconds"
awk -v t=$(( $(agent_ticks) - agents_before )) -v hz="$(getconf CLK_TCK)" -v s="$seconds" \
  'BEGIN { printf "the simulated PDUs (same machine): %.1f %% of one core\n", 100 * t / hz / s }'
loadavg=$(cut -d' ' -f1 /proc/loadavg)
echo "load average (1 min) at the end: $loadavg on $(getconf _NPROCESSORS_ONLN) cores"
sleep 1

step "periods" "every PDU's poll period, from its MQTT status after each poll"
python3 - "$data/status.txt" "$count" <<'EOF'
import json, sys
path, count = sys.argv[1], int(sys.argv[2])
polls = {}
for line in open(path, errors="replace"):
    try:
        s = json.loads(line)
    except ValueError:
        continue
    if (s.get("connection") or {}).get("state") == "online":
        polls.setdefault(s["device_id"], []).append((s["tick_ms"], s["ts_ms"]))
errors, rates, skipped, periods = [], [], 0, 0
for d, p in polls.items():
    p = sorted(set(p))
    if len(p) < 3:
        continue
    rates.append((len(p) - 1) / ((p[-1][1] - p[0][1]) / 1000))
    for (t0, s0), (t1, s1) in zip(p, p[1:]):
        periods += 1
        skipped += max(0, round((t1 - t0) / 1000) - 1)
        errors.append(abs(s1 - s0 - 1000))
errors.sort()
q = lambda f: errors[min(len(errors) - 1, int(f * len(errors)))] if errors else float("nan")
print(f"PDUs seen online: {len(polls)} of {count}")
if rates:
    print(f"poll rate per PDU: min {min(rates):.3f} Hz, mean {sum(rates) / len(rates):.3f} Hz")
print(f"poll-period error (time between two polls' answers minus 1 s): p50 {q(0.5)} ms, p99 {q(0.99)} ms, max {errors[-1] if errors else 'n/a'} ms over {periods} periods; {skipped} ticks skipped")
EOF

step "health" "queues and losses after the window"
curl -sf "http://127.0.0.1:$port/api/health" | python3 -c '
import json, sys
h = json.load(sys.stdin)
print("status:", h["status"], "; reasons:", h["reasons"][:3])
queues = h["queues"]
lost = [q for q in queues if q["lost"]]
history = [q for q in queues if q["name"] == "history"]
for q in history:
    print("history queue: {} of {} waiting, {} lost".format(q["queued"], q["capacity"], q["lost"]))
print("queues: {}, with losses: {}".format(len(queues), len(lost)), [q["name"] for q in lost][:5])
'

step "fleet page" "server time of GET /fleet (time to first byte, 20 requests)"
for _ in $(seq 20); do
  curl -s -o /dev/null -w '%{time_starttransfer}\n' "http://127.0.0.1:$port/fleet"
done | sort -n | awk '{ v[NR] = $1 } END { printf "fleet page: median %.1f ms, max %.1f ms\n", v[int((NR + 1) / 2)] * 1000, v[NR] * 1000 }'
