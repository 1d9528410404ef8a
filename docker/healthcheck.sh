#!/usr/bin/env bash
# The container's health check (HEALTHCHECK in docker/Dockerfile, and the
# bridge's healthcheck in docker/compose.yml): GET /api/health from the
# dashboard; healthy only when it answers 200 (every PDU answers and its data
# is fresh; 503 names the reasons). debian:bookworm-slim has no curl or wget,
# so bash's /dev/tcp sends the request: nothing is installed for it.
# Exit 0 healthy, 1 unhealthy, as Docker expects, with a line saying why.
set -u

host="${BRIDGE_WEB_BIND:-127.0.0.1}"
case "$host" in 0.0.0.0 | :: | '[::]') host=127.0.0.1 ;; esac
host="${host#[}" host="${host%]}"
port="${BRIDGE_WEB_PORT:-8080}"
wait_s="${HEALTHCHECK_TIMEOUT:-4}"

if ! { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
  echo "unhealthy: nothing answers on $host:$port"
  exit 1
fi
printf 'GET /api/health HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$host" "$port" >&3

if ! IFS= read -r -t "$wait_s" status <&3; then
  echo "unhealthy: no answer from http://$host:$port/api/health within ${wait_s}s"
  exit 1
fi
status="${status%$'\r'}"
# Headers, then the body (one JSON line, maybe without a final newline).
body="" in_body=0
while IFS= read -r -t "$wait_s" line <&3 || [ -n "$line" ]; do
  line="${line%$'\r'}"
  if [ "$in_body" = 1 ]; then body+="$line"; elif [ -z "$line" ]; then in_body=1; fi
  line=""
done
exec 3<&-

case "$status" in
  "HTTP/1."?" 200"*) echo "healthy: $body"; exit 0 ;;
  *) echo "unhealthy: $status ${body:0:500}"; exit 1 ;;
esac
