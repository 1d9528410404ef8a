# shellcheck shell=bash
# Shared by the project's scripts: where the cache lives, named steps that
# say what they do and which one failed, and idempotent installers for what
# the build and the tests need on a fresh Debian machine with rustup.
# Sourced, not run.
#
# Every step announces itself (`step NAME WHAT`). When a command fails under
# `set -e`, the ERR trap below prints
#     SCRIPT: step 'NAME' failed (exit N): COMMAND
# and the script exits with that status; `die` does the same with a reason.
# A missing tool is a message, never a silent exit.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# One cargo target directory outside the clone, shared by every checkout on
# this machine: a fresh clone (CI) reuses compiled dependencies.
PDU_BRIDGE_CACHE="${PDU_BRIDGE_CACHE:-$HOME/.cache/pdu-bridge}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PDU_BRIDGE_CACHE/target}"
TOOLS="$PDU_BRIDGE_CACHE/tools"
export PATH="$TOOLS/bin:$HOME/.cargo/bin:$PATH"
# shellcheck disable=SC2034 # used by build-site.sh
SITE_DIR="$ROOT/target/site"
# Where the end-to-end tests expect Chromium (end2end/playwright.config.ts);
# Debian's package puts it there.
CHROMIUM="${PDU_BRIDGE_CHROMIUM:-/usr/bin/chromium}"
# Debian packages the test command needs: net-snmp's tools (SNMP
# interoperability), openssl (the MQTT TLS test's certificates), Mosquitto and
# its clients (MQTT interoperability, the MQTT shell test), shellcheck (the
# set-up test), curl and python3 (the MQTT shell test), Prometheus (a real
# one scrapes the bridge's /metrics in server/tests/metrics.rs).
TEST_PACKAGES=(snmp openssl mosquitto mosquitto-clients shellcheck curl python3 systemd prometheus)
# Our own Mosquitto for the tests (scripts/mosquitto/test-brokers.conf), on
# loopback ports clear of the shared peers' brokers (11883 / 11884).
# server/tests/mqtt.rs reads the ports from these variables and logs in with
# this user and password.
TEST_MQTT_PORT="${PDU_BRIDGE_TEST_MQTT_PORT:-12883}"
TEST_MQTT_AUTH_PORT="${PDU_BRIDGE_TEST_MQTT_AUTH_PORT:-12884}"
TEST_MQTT_USER=pdu-bridge
TEST_MQTT_PASSWORD=peer-secret

# --- steps, failures, clean-up ------------------------------------------------

STEP=start
_SCRIPT="${0##*/}"
_REPORTED=""
_AT_EXIT=()

log() { printf '\n==> %s\n' "$*" >&2; }

# step NAME [WHAT]: the step now running, announced. In a function, declare
# `local STEP=$STEP` first: the caller's step comes back when it returns.
step() {
  STEP="$1"
  shift
  log "$STEP${*:+: $*}"
}

# die [STATUS] REASON: report the current step as failed and exit.
die() {
  local rc=1
  if [[ "${1:-}" =~ ^[0-9]+$ ]]; then rc="$1"; shift; fi
  [ "$rc" != 0 ] || rc=1
  printf "\n%s: step '%s' failed (exit %d): %s\n" "$_SCRIPT" "$STEP" "$rc" "$*" >&2
  _REPORTED=1
  exit "$rc"
}

_on_error() {
  local rc="$1" command="$2"
  # Only failures that end the script: under `set +e` the script handles them.
  [[ $- == *e* ]] || return 0
  # Report once, from the script's own shell (a failing subshell is reported
  # by the command that ran it).
  [ "$BASHPID" = "$$" ] || return 0
  [ -z "$_REPORTED" ] || return 0
  printf "\n%s: step '%s' failed (exit %d): %s\n" "$_SCRIPT" "$STEP" "$rc" "$command" >&2
  _REPORTED=1
}

# at_exit COMMAND: run COMMAND when the script exits, however it exits (last
# registered, first run).
at_exit() { _AT_EXIT+=("$1"); }

_on_exit() {
  local rc=$? i
  for ((i = ${#_AT_EXIT[@]} - 1; i >= 0; i--)); do
    eval "${_AT_EXIT[i]}" || true
  done
  if [ "$rc" != 0 ] && [ -z "$_REPORTED" ]; then
    printf "\n%s: step '%s' failed (exit %d)\n" "$_SCRIPT" "$STEP" "$rc" >&2
  fi
  exit "$rc"
}

set -E   # the ERR trap in functions and subshells too
trap '_on_error $? "$BASH_COMMAND"' ERR
trap _on_exit EXIT

# --- installers -----------------------------------------------------------------

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    die 1 "needs root for '$*' and there is no sudo: run it as root"
  fi
}

_installed() { # is the Debian package $1 installed?
  # shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

apt_install() {
  # Install the Debian packages that are missing; `apt-get update` only then.
  local missing=() pkg
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    die 127 "needs the Debian packages $* and this machine has no dpkg-query/apt-get: install them by hand"
  fi
  for pkg in "$@"; do
    _installed "$pkg" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  log "installing Debian packages: ${missing[*]} (apt-get)"
  as_root apt-get update -qq || die $? "apt-get update -qq"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null \
    || die $? "apt-get install -y -qq ${missing[*]}"
  for pkg in "${missing[@]}"; do
    _installed "$pkg" || die 1 "apt-get install finished but the package $pkg is not installed"
  done
}

ensure_test_packages() {
  local STEP=$STEP
  step "test packages" "Debian packages for the tests: ${TEST_PACKAGES[*]}"
  apt_install "${TEST_PACKAGES[@]}"
}

_wasm_bindgen_version() { # the installed wasm-bindgen CLI's version, or nothing
  local out=""
  if command -v wasm-bindgen >/dev/null; then
    out="$(wasm-bindgen --version 2>/dev/null || true)"
  fi
  out="${out#wasm-bindgen }"
  printf '%s' "${out%%[[:space:]]*}"
}

ensure_wasm_toolchain() {
  local STEP=$STEP want have targets
  want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock")"
  step "wasm toolchain" "the wasm32 target and wasm-bindgen-cli ${want:-?} (the version in Cargo.lock)"
  [ -n "$want" ] || die 1 "no wasm-bindgen package in $ROOT/Cargo.lock"
  command -v rustup >/dev/null || die 127 "rustup is not on the PATH: install Rust with rustup, then run this again"
  command -v cargo >/dev/null || die 127 "cargo is not on the PATH (rustup's ~/.cargo/bin)"
  targets="$(rustup target list --installed)" || die $? "rustup target list --installed"
  if ! grep -qx wasm32-unknown-unknown <<<"$targets"; then
    log "adding the wasm32 target (rustup)"
    rustup target add wasm32-unknown-unknown || die $? "rustup target add wasm32-unknown-unknown"
  fi
  # wasm-bindgen's CLI must equal the library version in Cargo.lock exactly.
  have="$(_wasm_bindgen_version)"
  if [ "$have" != "$want" ]; then
    log "installing wasm-bindgen-cli $want${have:+ (found $have)} into $TOOLS (a few minutes, once)"
    cargo install wasm-bindgen-cli --version "=$want" --locked --root "$TOOLS" \
      || cargo install wasm-bindgen-cli --version "=$want" --root "$TOOLS" \
      || die $? "cargo install wasm-bindgen-cli --version =$want --root $TOOLS"
    hash -r
    have="$(_wasm_bindgen_version)"
    [ "$have" = "$want" ] \
      || die 1 "after cargo install, wasm-bindgen on the PATH is '${have:-missing}', not $want ($(command -v wasm-bindgen || echo 'not found'))"
  fi
}

ensure_node_modules() {
  local STEP=$STEP stamp="$ROOT/end2end/node_modules/.installed-lock"
  step "npm packages" "end-to-end test packages in end2end/node_modules (npm ci, as package-lock.json says)"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt_install nodejs npm
    hash -r
    command -v npm >/dev/null || die 127 "npm is still not on the PATH after installing nodejs and npm"
  fi
  if [ ! -f "$stamp" ] || ! cmp -s "$ROOT/end2end/package-lock.json" "$stamp"; then
    log "installing end-to-end test packages (npm ci)"
    (cd "$ROOT/end2end" && npm ci --no-audit --no-fund) || die $? "npm ci --no-audit --no-fund (in end2end)"
    [ -x "$ROOT/end2end/node_modules/.bin/playwright" ] \
      || die 1 "npm ci finished but end2end/node_modules/.bin/playwright is missing"
    cp "$ROOT/end2end/package-lock.json" "$stamp"
  fi
}

ensure_chromium() {
  local STEP=$STEP
  step "chromium" "Debian's Chromium at $CHROMIUM for the end-to-end tests"
  if [ ! -x "$CHROMIUM" ]; then
    apt_install chromium
    [ -x "$CHROMIUM" ] || die 1 "the chromium package is installed but $CHROMIUM is missing"
  fi
}

# schemathesis (PyPI), pinned, in a virtual environment of its own under the
# cache: the API tested against its own OpenAPI description
# (scripts/openapi-test.sh).
SCHEMATHESIS_VERSION=4.32.5
SCHEMATHESIS_VENV="$TOOLS/schemathesis-$SCHEMATHESIS_VERSION"

ensure_schemathesis() {
  local STEP=$STEP
  step "schemathesis" "schemathesis $SCHEMATHESIS_VERSION (PyPI) in $SCHEMATHESIS_VENV"
  [ -x "$SCHEMATHESIS_VENV/bin/schemathesis" ] && return 0
  if ! command -v python3 >/dev/null; then
    apt_install python3
    hash -r
  fi
  # Debian's python3 makes virtual environments only with python3-venv.
  python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
  log "installing schemathesis $SCHEMATHESIS_VERSION into $SCHEMATHESIS_VENV (pip, once)"
  rm -rf "$SCHEMATHESIS_VENV"
  python3 -m venv "$SCHEMATHESIS_VENV" || die $? "python3 -m venv $SCHEMATHESIS_VENV"
  "$SCHEMATHESIS_VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION" \
    || die $? "pip install -q schemathesis==$SCHEMATHESIS_VERSION (in $SCHEMATHESIS_VENV)"
  [ -x "$SCHEMATHESIS_VENV/bin/schemathesis" ] \
    || die 1 "pip install finished but $SCHEMATHESIS_VENV/bin/schemathesis is missing"
}

# --- our Mosquitto for the tests -----------------------------------------------

_port_open() { # does something accept TCP connections on 127.0.0.1:$1?
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

_find_tool() { # the path of tool $1: the PATH, then the sbin folders
  local path
  path="$(command -v "$1" || true)"
  for path in "$path" "/usr/sbin/$1" "/usr/local/sbin/$1"; do
    if [ -n "$path" ] && [ -x "$path" ]; then
      printf '%s' "$path"
      return 0
    fi
  done
  return 1
}

TEST_MOSQUITTO_PID=""
TEST_MOSQUITTO_RUN=""

# Start Mosquitto with scripts/mosquitto/test-brokers.conf from a private
# temporary folder: anonymous on 127.0.0.1:$TEST_MQTT_PORT, user and password
# on 127.0.0.1:$TEST_MQTT_AUTH_PORT. Exports the ports for the Rust tests.
# Stop it with stop_test_mosquitto (e.g. `at_exit stop_test_mosquitto`).
start_test_mosquitto() {
  local STEP=$STEP bin passwd port
  step "mosquitto" "our Mosquitto for the MQTT interoperability tests: anonymous on 127.0.0.1:$TEST_MQTT_PORT, password on 127.0.0.1:$TEST_MQTT_AUTH_PORT"
  bin="$(_find_tool mosquitto)" || die 127 "mosquitto is not installed (Debian package mosquitto)"
  passwd="$(_find_tool mosquitto_passwd)" || die 127 "mosquitto_passwd is not installed (Debian package mosquitto)"
  for port in "$TEST_MQTT_PORT" "$TEST_MQTT_AUTH_PORT"; do
    if _port_open "$port"; then
      die 1 "tcp 127.0.0.1:$port is already in use: stop what listens there or set PDU_BRIDGE_TEST_MQTT_PORT / PDU_BRIDGE_TEST_MQTT_AUTH_PORT"
    fi
  done
  TEST_MOSQUITTO_RUN="$(mktemp -d "${TMPDIR:-/tmp}/pdu-bridge-mosquitto.XXXXXX")"
  sed -e "s|@ANON_PORT@|$TEST_MQTT_PORT|g" -e "s|@AUTH_PORT@|$TEST_MQTT_AUTH_PORT|g" \
    -e "s|@RUN@|$TEST_MOSQUITTO_RUN|g" -e "s|@USER@|$(id -un)|g" \
    "$ROOT/scripts/mosquitto/test-brokers.conf" >"$TEST_MOSQUITTO_RUN/mosquitto.conf"
  "$passwd" -c -b "$TEST_MOSQUITTO_RUN/passwd" "$TEST_MQTT_USER" "$TEST_MQTT_PASSWORD" \
    || die $? "mosquitto_passwd -c -b $TEST_MOSQUITTO_RUN/passwd $TEST_MQTT_USER ***"
  chmod 0600 "$TEST_MOSQUITTO_RUN/passwd"
  "$bin" -c "$TEST_MOSQUITTO_RUN/mosquitto.conf" >"$TEST_MOSQUITTO_RUN/mosquitto.log" 2>&1 </dev/null &
  TEST_MOSQUITTO_PID=$!
  for _ in $(seq 100); do
    if _port_open "$TEST_MQTT_PORT" && _port_open "$TEST_MQTT_AUTH_PORT"; then
      export PDU_BRIDGE_TEST_MQTT_PORT="$TEST_MQTT_PORT" PDU_BRIDGE_TEST_MQTT_AUTH_PORT="$TEST_MQTT_AUTH_PORT"
      log "mosquitto listening (pid $TEST_MOSQUITTO_PID, folder $TEST_MOSQUITTO_RUN)"
      return 0
    fi
    kill -0 "$TEST_MOSQUITTO_PID" 2>/dev/null || break
    sleep 0.1
  done
  printf '%s\n' "--- $TEST_MOSQUITTO_RUN/mosquitto.log" >&2
  cat "$TEST_MOSQUITTO_RUN/mosquitto.log" >&2 || true
  die 1 "mosquitto did not listen on 127.0.0.1:$TEST_MQTT_PORT and :$TEST_MQTT_AUTH_PORT within 10 s (its log is above)"
}

stop_test_mosquitto() {
  if [ -n "$TEST_MOSQUITTO_PID" ]; then
    log "stopping our mosquitto (pid $TEST_MOSQUITTO_PID)"
    kill "$TEST_MOSQUITTO_PID" 2>/dev/null || true
    wait "$TEST_MOSQUITTO_PID" 2>/dev/null || true
    TEST_MOSQUITTO_PID=""
  fi
  if [ -n "$TEST_MOSQUITTO_RUN" ]; then
    rm -rf "$TEST_MOSQUITTO_RUN"
    TEST_MOSQUITTO_RUN=""
  fi
}

# CPU and resident memory of process $1 over $2 seconds (one RSS sample a
# second), printed as "window", "CPU" and "RSS" lines; dies if it exits.
measure_cpu_rss() {
  local pid="$1" seconds="$2" hz start_ticks start_ns end_ticks elapsed_ns r
  local max_rss=0 sum_rss=0 samples=0
  _alive() { kill -0 "$pid" 2>/dev/null || die 1 "the bridge (pid $pid) exited during the measurement"; }
  _ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
  hz=$(getconf CLK_TCK)
  _alive
  start_ticks=$(_ticks)
  start_ns=$(date +%s%N)
  for _ in $(seq "$seconds"); do
    sleep 1
    _alive
    r=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status"); sum_rss=$((sum_rss + r)); samples=$((samples + 1))
    if [ "$r" -gt "$max_rss" ]; then max_rss=$r; fi
  done
  _alive
  end_ticks=$(_ticks)
  elapsed_ns=$(( $(date +%s%N) - start_ns ))
  awk -v t=$((end_ticks - start_ticks)) -v hz="$hz" -v ns="$elapsed_ns" -v max="$max_rss" -v sum="$sum_rss" -v n="$samples" 'BEGIN {
    cpu_s = t / hz; wall = ns / 1e9;
    printf "window: %.1f s\nCPU: %.2f s (%.2f %% of one core)\nRSS: mean %.1f MiB, max %.1f MiB\n", wall, cpu_s, 100 * cpu_s / wall, sum / n / 1024, max / 1024
  }'
}
