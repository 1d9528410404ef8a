#!/usr/bin/env bash
# Shell-level MQTT test with Mosquitto's own command-line clients against
# the bridge's embedded broker: what a user does on a fresh install.
#   scripts/mqtt-shell-test.sh PATH/TO/pdu-bridge
set -uo pipefail   # not -e: every check runs and is counted
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

step "mqtt shell" "mosquitto_sub / mosquitto_pub against the bridge's embedded broker"
bin="${1:-}"
[ -x "$bin" ] || die 2 "usage: scripts/mqtt-shell-test.sh PATH/TO/pdu-bridge (got '${bin}', not an executable)"
for tool in mosquitto_sub mosquitto_pub curl python3; do
  command -v "$tool" >/dev/null || die 127 "$tool is not on the PATH (Debian packages: mosquitto-clients curl python3)"
done

web=$((20000 + RANDOM % 10000)); mqtt=$((web + 1))
data="$(mktemp -d)"
log "starting $bin: web 127.0.0.1:$web, embedded broker 127.0.0.1:$mqtt"
BRIDGE_WEB_PORT=$web MQTT_PORT=$mqtt BRIDGE_DATA_DIR="$data" BRIDGE_LOG_LEVEL=warn "$bin" &
pid=$!
stop_bridge() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$data"; }
at_exit stop_bridge
healthy=""
for _ in $(seq 100); do
  if curl -sf "http://127.0.0.1:$web/api/health" >/dev/null; then healthy=1; break; fi
  kill -0 "$pid" 2>/dev/null || die 1 "the bridge exited before it answered (its output is above)"
  sleep 0.1
done
[ -n "$healthy" ] || die 1 "the bridge did not answer http://127.0.0.1:$web/api/health within 10 s"

passed=0 failed=0
check() { # name, expected, actual
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); echo "  ok   $1"
  else failed=$((failed + 1)); echo "  FAIL $1: expected '$2', got '$3'"; fi
}
sub() { mosquitto_sub -h 127.0.0.1 -p "$mqtt" -W 5 "$@" 2>/dev/null; }

check "retained outlet name"   "Server-1" "$(sub -t pdu/pdu44001/outlet/4/name -C 1)"
check "retained bridge status" "online"   "$(sub -t pdu/pdu44001/bridge/status -C 1)"
check "retained availability"  "online"   "$(sub -t pdu/pdu44001/availability -C 1)"
check "the bridge's last will, online" "online" "$(sub -t 'pdu/bridge/+/status' -C 1)"
check "retained alarm list, empty" "[]" "$(sub -t pdu/pdu44001/alarms -C 1)"
check "retained alarm count"       "0"  "$(sub -t pdu/pdu44001/alarms/active -C 1)"
# status, device, availability, bridge/status, automation/status; alarms and
# alarms/active (the live alarm topic is not retained); input 2;
# sources 2 x 3; ATS 3; banks 2 x 7; outlets 10 x 6 (with peak power);
# power supplies 2 (the simulated PDU has no environment probe).
# A subscriber that arrives while the bridge's first publish is still going out
# gets the rest of it live (retain flag 0): wait for the last topic of that
# burst, then count the distinct topics delivered with the retained flag.
sub -t pdu/pdu44001/power_supply/2 -C 1 >/dev/null
check "the whole tree is retained" "94" "$(sub -t 'pdu/pdu44001/#' -W 2 -F '%r %t' | awk '$1 == 1 { print $2 }' | sort -u | wc -l)"
check "discovery for outlet 1" "outlet"   "$(sub -t homeassistant/switch/+/outlet_1/config -C 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["device_class"])')"
check "discovery for the alarm entity" "problem pdu/pdu44001/alarms/active" "$(sub -t homeassistant/binary_sensor/+/alarm/config -C 1 | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["device_class"], c["state_topic"])')"

sub -t pdu/pdu44001/outlet/7/command/response -C 1 > "$data/response" &
waiter=$!
sleep 0.5
mosquitto_pub -h 127.0.0.1 -p "$mqtt" -t pdu/pdu44001/outlet/7/command -m off
wait $waiter
check "command response" "True off" "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["success"], r["state"])' "$data/response")"
check "outlet state topic" "off" "$(sub -t pdu/pdu44001/outlet/7/state -C 1)"

echo "mqtt shell: $passed passed, $failed failed"
_REPORTED=1  # the counted line says it
[ "$failed" = 0 ]
