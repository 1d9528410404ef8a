#!/usr/bin/env bash
# A long real run with faults, to see that nothing leaks and no sample is
# lost while the PDU answers: the bridge polls the project's SNMP simulator
# (`pdu-bridge simulate`) over UDP, publishes to a Mosquitto, runs a rule,
# serves 20 live-stream clients; every 5 minutes a fault: the PDU drops off
# for 20 s, or the broker restarts. RSS and open files are read every 30 s.
#
#   bash scripts/soak.sh PATH/TO/pdu-bridge [MINUTES]      (default 30)
#
# Loopback only. Ends with "soak: N passed, M failed".
set -uo pipefail
bin="${1:?usage: scripts/soak.sh PATH/TO/pdu-bridge [MINUTES]}"
minutes="${2:-30}"
work="$(mktemp -d)"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}" ${sim:-} ${broker:-} ${bridge:-}; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, getattr(socket, sys.argv[1])); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"; }
web="$(free_port SOCK_STREAM)" mqtt="$(free_port SOCK_STREAM)" snmp="$(free_port SOCK_DGRAM)"
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nuser %s\n' "$mqtt" "$(id -un)" >"$work/mosquitto.conf"
start_broker() { mosquitto -c "$work/mosquitto.conf" >>"$work/mosquitto.log" 2>&1 & broker=$!; }
start_sim() { "$bin" simulate --port "$snmp" >>"$work/sim.log" 2>&1 & sim=$!; }
start_broker
start_sim
mkdir -p "$work/data"
echo '[{"name":"brownout-shed","condition":"voltage_below","input":1,"threshold":90,"outlet":[9],"action":"off","delay":10,"restore_delay":30}]' >"$work/data/rules.json"
BRIDGE_ANONYMOUS_READ=true PDU_HOST=127.0.0.1 PDU_SNMP_PORT="$snmp" MQTT_BROKER=127.0.0.1 MQTT_PORT="$mqtt" BRIDGE_WEB_PORT="$web" \
  BRIDGE_DATA_DIR="$work/data" BRIDGE_LOG_LEVEL=warn "$bin" >"$work/bridge.log" 2>&1 &
bridge=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$web/api/health" >/dev/null && break; sleep 0.2; done
for i in $(seq 20); do curl -sN "http://127.0.0.1:$web/api/stream" >"$work/sse-$i" 2>/dev/null & pids+=($!); done
mosquitto_sub -h 127.0.0.1 -p "$mqtt" -t 'pdu/#' >"$work/mqtt.out" 2>/dev/null & pids+=($!)

start="$(date +%s)"
end=$((start + minutes * 60))
: >"$work/outages"
printf 't_s\trss_kib\tfds\n' >"$work/resources.tsv"
fault=0 next_fault=$((start + 300)) next_read=$start
while [ "$(date +%s)" -lt "$end" ]; do
  now="$(date +%s)"
  if [ "$now" -ge "$next_read" ]; then
    rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$bridge/status")"
    fds="$(find "/proc/$bridge/fd" -mindepth 1 -maxdepth 1 | wc -l)"
    printf '%s\t%s\t%s\n' $((now - start)) "$rss" "$fds" >>"$work/resources.tsv"
    next_read=$((next_read + 30))
  fi
  if [ "$now" -ge "$next_fault" ] && [ $((now + 60)) -lt "$end" ]; then
    fault=$((fault + 1))
    if [ $((fault % 2)) = 1 ]; then
      echo "$(date -u +%T) fault $fault: the PDU drops off for 20 s"
      kill "$sim"; wait "$sim" 2>/dev/null
      down="$(date +%s)"; sleep 20; start_sim; up="$(date +%s)"
      printf '%s\t%s\n' "$down" "$up" >>"$work/outages"
    else
      echo "$(date -u +%T) fault $fault: the broker restarts"
      kill "$broker"; wait "$broker" 2>/dev/null; sleep 10; start_broker
    fi
    next_fault=$((next_fault + 300))
  fi
  sleep 1
done
stop="$(date +%s)"

passed=0 failed=0
check() { if eval "$2"; then passed=$((passed + 1)); echo "  ok   $1"; else failed=$((failed + 1)); echo "  FAIL $1"; fi; }
column -t "$work/resources.tsv" | sed 's/^/    /'
# Warm-up over by the reading at 5 minutes (or the second one on a short run).
base="$(awk -F'\t' 'NR > 1 && $1 >= 300 { print; exit }' "$work/resources.tsv")"
[ -n "$base" ] || base="$(sed -n 3p "$work/resources.tsv")"
last="$(tail -n 1 "$work/resources.tsv")"
read -r _ rss0 fd0 <<<"$base"
read -r _ rss1 fd1 <<<"$last"
check "RSS flat: ${rss0} KiB after warm-up, ${rss1} KiB at the end (within 10 %)" \
  "awk -v a=$rss0 -v b=$rss1 'BEGIN { exit !(b <= a * 1.10 && b >= a * 0.90) }'"
check "open files flat: ${fd0} after warm-up, ${fd1} at the end (within 10 % or 3)" \
  "awk -v a=$fd0 -v b=$fd1 'BEGIN { d = b - a; if (d < 0) d = -d; exit !(d <= 3 || d <= a * 0.10) }'"
# Samples: every second the PDU answered has one (1-second buckets up to an hour).
from=$((start + 10)) to=$((stop - 15))
ok_seconds=0 have=0 lost=0
points="$(curl -s "http://127.0.0.1:$web/api/history/banks?start=$from&end=$to" | python3 -c '
import json, sys
h = json.load(sys.stdin)
print(" ".join(str(p[0]) for p in h["series"][0]["points"]))')"
for t in $(seq "$from" $((to - 1))); do
  skip=0
  while read -r down up; do
    # From the drop until 10 s after the simulator is back: the PDU was away.
    [ -n "$down" ] && [ "$t" -ge "$((down - 1))" ] && [ "$t" -le "$((up + 10))" ] && skip=1
  done <"$work/outages"
  [ "$skip" = 1 ] && continue
  ok_seconds=$((ok_seconds + 1))
  case " $points " in *" $t "*) have=$((have + 1)) ;; *) lost=$((lost + 1)) ;; esac
done
check "no sample lost while the PDU answered: $have of $ok_seconds seconds stored" "[ $lost = 0 ]"
clients="$(for i in $(seq 20); do grep -c '^event: snapshot' "$work/sse-$i"; done | sort -n | head -n 1)"
check "every live-stream client got snapshots to the end (fewest: $clients)" "[ ${clients:-0} -ge $(( (stop - start) * 8 / 10 )) ]"
check "MQTT carried the readings ($(wc -l <"$work/mqtt.out") messages)" "[ $(wc -l <"$work/mqtt.out") -gt $((minutes * 300)) ]"
check "the bridge is healthy at the end" "curl -sf http://127.0.0.1:$web/api/health >/dev/null"
echo "soak ($minutes min, $fault faults): $passed passed, $failed failed"
[ "$failed" = 0 ]
