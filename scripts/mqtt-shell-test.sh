#!/usr/bin/env bash
# Shell-level MQTT test with Mosquitto's own command-line clients against
# the bridge's embedded broker: what a user does on a fresh install.
#   scripts/mqtt-shell-test.sh PATH/TO/pdu-bridge
set -uo pipefail
bin="$1"
web=$((20000 + RANDOM % 10000)); mqtt=$((web + 1))
data="$(mktemp -d)"
BRIDGE_WEB_PORT=$web MQTT_PORT=$mqtt BRIDGE_DATA_DIR="$data" BRIDGE_LOG_LEVEL=warn "$bin" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$web/api/health" >/dev/null && break; sleep 0.1; done

passed=0 failed=0
check() { # name, expected, actual
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); echo "  ok   $1"
  else failed=$((failed + 1)); echo "  FAIL $1: expected '$2', got '$3'"; fi
}
sub() { mosquitto_sub -h 127.0.0.1 -p "$mqtt" -W 5 "$@" 2>/dev/null; }

check "retained outlet name"   "Server-1" "$(sub -t pdu/pdu44001/outlet/4/name -C 1)"
check "retained bridge status" "online"   "$(sub -t pdu/pdu44001/bridge/status -C 1)"
check "retained availability"  "online"   "$(sub -t pdu/pdu44001/availability -C 1)"
# status, device, availability, bridge/status, automation/status; input 2;
# sources 2 x 3; ATS 3; banks 2 x 7; outlets 10 x 5.
# A subscriber that arrives while the bridge's first publish is still going out
# gets the rest of it live (retain flag 0): wait for the last topic of that
# burst, then count the distinct topics delivered with the retained flag.
sub -t pdu/pdu44001/outlet/10/energy -C 1 >/dev/null
check "the whole tree is retained" "80" "$(sub -t 'pdu/#' -W 2 -F '%r %t' | awk '$1 == 1 { print $2 }' | sort -u | wc -l)"
check "discovery for outlet 1" "outlet"   "$(sub -t homeassistant/switch/+/outlet_1/config -C 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["device_class"])')"

sub -t pdu/pdu44001/outlet/7/command/response -C 1 > "$data/response" &
waiter=$!
sleep 0.5
mosquitto_pub -h 127.0.0.1 -p "$mqtt" -t pdu/pdu44001/outlet/7/command -m off
wait $waiter
check "command response" "True off" "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["success"], r["state"])' "$data/response")"
check "outlet state topic" "off" "$(sub -t pdu/pdu44001/outlet/7/state -C 1)"

echo "mqtt shell: $passed passed, $failed failed"
[ "$failed" = 0 ]
