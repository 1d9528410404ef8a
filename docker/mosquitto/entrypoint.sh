#!/bin/sh
# Mosquitto's entrypoint in docker/compose.yml: writes the password file from
# the accounts' passwords in the environment, then runs the command (the
# broker). The usernames are fixed, as in the ACL (./acl):
#   pdu-bridge    MOSQUITTO_BRIDGE_PASSWORD    (required)
#   pdu-reader    MOSQUITTO_READER_PASSWORD    (required)
#   pdu-operator  MOSQUITTO_OPERATOR_PASSWORD  (optional: no account when empty)
# The plain file is hashed in place (mosquitto_passwd -U), so no password is
# ever on a command line. Tests move the files (MOSQUITTO_PASSWORD_FILE,
# MOSQUITTO_DATA_DIR).
set -eu

file="${MOSQUITTO_PASSWORD_FILE:-/mosquitto/run/passwd}"
: "${MOSQUITTO_BRIDGE_PASSWORD:?MOSQUITTO_BRIDGE_PASSWORD is not set (see docker/.env.example)}"
: "${MOSQUITTO_READER_PASSWORD:?MOSQUITTO_READER_PASSWORD is not set (see docker/.env.example)}"

for pw in "$MOSQUITTO_BRIDGE_PASSWORD" "$MOSQUITTO_READER_PASSWORD" "${MOSQUITTO_OPERATOR_PASSWORD:-}"; do
  case "$pw" in
    *"
"*) echo "mosquitto entrypoint: a password must be one line" >&2; exit 1 ;;
  esac
done

(umask 022 && mkdir -p "$(dirname "$file")")
umask 077
rm -f "$file"
{
  printf 'pdu-bridge:%s\n' "$MOSQUITTO_BRIDGE_PASSWORD"
  printf 'pdu-reader:%s\n' "$MOSQUITTO_READER_PASSWORD"
  if [ -n "${MOSQUITTO_OPERATOR_PASSWORD:-}" ]; then
    printf 'pdu-operator:%s\n' "$MOSQUITTO_OPERATOR_PASSWORD"
  fi
} >"$file"
mosquitto_passwd -U "$file"

# Started as root, mosquitto reads the file after dropping to its own user.
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
  chown mosquitto:mosquitto "$file"
fi
echo "mosquitto entrypoint: password file $file written ($(wc -l <"$file") accounts)"

# A data volume bind-mounted from the host may belong to root: hand it to the
# broker's user (what the image's own entrypoint does for all of /mosquitto,
# where the read-only config mount would only make it complain).
data_dir="${MOSQUITTO_DATA_DIR:-/mosquitto/data}"
if [ "$(id -u)" = 0 ] && [ -d "$data_dir" ] && id mosquitto >/dev/null 2>&1; then
  chown -R mosquitto:mosquitto "$data_dir"
fi
exec "$@"
