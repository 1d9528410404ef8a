#!/usr/bin/env bash
# The running bridge against its own OpenAPI description, with schemathesis
# (PyPI; ensure_schemathesis installs it into the cache): a simulated PDU in
# a temporary data folder, an admin API token so every operation is
# exercised, the description fetched from GET /api/openapi.json. Checks:
# no 5xx but 503 (the PDU unreachable, which an added PDU may be; where an
# operation can answer it, it is documented), every status documented, every
# response's content type and body as documented (errors included: the one
# `{"error", "field"?}` shape), documented headers present. Bounded: a few
# examples per operation, a fixed seed (PDU_BRIDGE_SCHEMATHESIS_SEED moves it).
# GET /api/stream is left out: it never ends.
#   scripts/openapi-test.sh PATH/TO/pdu-bridge     last line: openapi: N passed, M failed
set -uo pipefail   # not -e: the run's failures are counted, not fatal
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

bin="${1:-}"
[ -x "$bin" ] || die 2 "usage: scripts/openapi-test.sh PATH/TO/pdu-bridge (got '${bin}', not an executable)"
command -v curl >/dev/null || die 127 "curl is not on the PATH (Debian package curl)"
ensure_schemathesis

step "openapi" "schemathesis against the bridge's own description"
web=$((20000 + RANDOM % 10000))
data="$(mktemp -d "${TMPDIR:-/tmp}/pdu-bridge-openapi.XXXXXX")"
# The bridge's settings, for the bridge and for `pdu-bridge token`.
settings=(BRIDGE_WEB_PORT="$web" BRIDGE_DATA_DIR="$data" MQTT_BROKER=none BRIDGE_LOG_LEVEL=warn
  BRIDGE_ADMIN_PASSWORD=openapi-test-password)
token="$(env "${settings[@]}" "$bin" token create schemathesis --role admin | tail -n 1)" \
  || die 1 "$bin token create schemathesis --role admin failed"
[ -n "$token" ] || die 1 "$bin token create printed no token"
# Its public id (`pdub_<id>_<secret>`): the hooks keep the run from revoking it.
token_id="${token#pdub_}"
export PDU_BRIDGE_OPENAPI_TOKEN_ID="${token_id%%_*}"
# The demo's simulated PDU (no PDU_HOST): the hooks keep the run from changing it.
export PDU_BRIDGE_OPENAPI_PDU=pdu44001
log "starting $bin: web 127.0.0.1:$web, a simulated PDU, data in $data"
env "${settings[@]}" "$bin" &
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

junit="$data/schemathesis.xml"
rc=0
# From the data folder: schemathesis keeps a cache of failures in the folder
# it runs in, and would replay an old run's in the next one.
cd "$data" || die 1 "cd $data"
SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$ROOT/scripts/openapi" \
  "$SCHEMATHESIS_VENV/bin/schemathesis" --config-file "$ROOT/scripts/openapi/schemathesis.toml" \
  run "http://127.0.0.1:$web/api/openapi.json" \
  --url "http://127.0.0.1:$web" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --exclude-path /api/stream \
  --phases examples,coverage,fuzzing \
  --max-examples "${PDU_BRIDGE_SCHEMATHESIS_EXAMPLES:-25}" \
  --seed "${PDU_BRIDGE_SCHEMATHESIS_SEED:-1}" \
  --workers 2 \
  --request-timeout 20 \
  --no-color \
  --report junit --report-junit-path "$junit" || rc=$?
kill -0 "$pid" 2>/dev/null || die 1 "the bridge exited during the run (its output is above)"
[ -f "$junit" ] || die 1 "schemathesis (exit $rc) wrote no report"

# One counted test per operation: passed when schemathesis found nothing wrong with it.
read -r passed failed < <(python3 - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
results = [any(c.tag in ("failure", "error") for c in case) for case in cases]
print(results.count(False), results.count(True))
PY
)
if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then failed=1; log "schemathesis exited $rc with no failing operation in its report"; fi
echo "openapi: $passed passed, $failed failed"
_REPORTED=1  # the counted line says it
[ "$failed" = 0 ]
