#!/usr/bin/env bash
# The systemd unit, checked by systemd's own tools (no systemd runs as PID 1
# here): `systemd-analyze verify` on a copy pointing at a real binary, the
# hardening that the unit promises, and `systemd-analyze security --offline`
# rating it at most 2.0 ("OK").
#   bash deploy/test-systemd.sh PATH/TO/pdu-bridge
# Ends with "systemd: N passed, M failed"; exits non-zero when a check failed.
set -uo pipefail
bin="${1:?usage: deploy/test-systemd.sh PATH/TO/pdu-bridge}"
unit="$(dirname "$0")/systemd/pdu-bridge.service"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
check() { # name, command...
  local name="$1"
  shift
  if "$@" >"$work/out" 2>&1; then passed=$((passed + 1)); echo "  ok   $name"
  else failed=$((failed + 1)); echo "  FAIL $name"; sed 's/^/       /' "$work/out"; fi
}

if ! command -v systemd-analyze >/dev/null; then
  echo "  FAIL systemd-analyze is not installed (apt-get install systemd)"
  echo "systemd: 0 passed, 1 failed"
  exit 1
fi

copy="$work/pdu-bridge.service"
sed "s|/usr/local/bin/pdu-bridge|$bin|; s|/etc/pdu-bridge.env|$work/pdu-bridge.env|" "$unit" >"$copy"
cp "$(dirname "$0")/systemd/pdu-bridge.env.example" "$work/pdu-bridge.env"
check "systemd-analyze verify accepts the unit" systemd-analyze verify "$copy"

for directive in Type=notify WatchdogSec= Restart=on-failure DynamicUser=yes StateDirectory=pdu-bridge \
    ProtectSystem=strict ProtectHome=yes NoNewPrivileges=yes PrivateTmp=yes "CapabilityBoundingSet=$" \
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" "Environment=BRIDGE_DATA_DIR=/var/lib/pdu-bridge"; do
  check "the unit sets ${directive%\$}" grep -Eq "^${directive}" "$unit"
done

rated() {
  local score
  score="$(systemd-analyze security --offline=yes "$copy" 2>&1 | sed -nE 's/.*Overall exposure level for [^:]*: ([0-9.]+).*/\1/p')"
  echo "exposure level: ${score:-none}"
  [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'
}
check "systemd-analyze security rates the unit's exposure at most 2.0" rated

# The env file's settings are ones the bridge accepts (no PDU reachable here,
# so only the settings stage of `check` is asked: exit 2 would mean bad settings).
settings_valid() {
  "$bin" check --env-file "$work/pdu-bridge.env" --set BRIDGE_DATA_DIR="$work/data" --set MQTT_BROKER=none \
    --set BRIDGE_SNMP_TIMEOUT=0.2 --set PDU_HOST=127.0.0.1 --set PDU_SNMP_PORT=9 >"$work/check" 2>&1
  local rc=$?
  cat "$work/check"
  [ "$rc" != 2 ]
}
check "the example env file holds valid settings" settings_valid

echo "systemd: $passed passed, $failed failed"
[ "$failed" = 0 ]
