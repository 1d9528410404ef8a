#!/usr/bin/env bash
# The set-up steps of scripts/lib.sh (and the scripts that run them) on a bare
# machine: a sandbox whose PATH and HOME have no wasm-bindgen, no node, npm or
# node modules, no Chromium, no net-snmp tools, no Mosquitto. The long
# installs are stand-ins placed first on the PATH (apt-get, dpkg-query, cargo,
# rustup, sudo, and npm once "installed"): they record their arguments in a
# log and pretend to install, so a second run can show that nothing is
# installed twice. Asserts that each step reaches its install step with the
# right arguments, and that a failing install stops the script with a
# non-zero exit and a message naming the step. Then shellcheck over
# scripts/*.sh, when shellcheck is installed (scripts/test.sh installs it).
#
# Touches nothing outside its temporary folder: no real apt-get, cargo, rustup
# or npm runs, and the scripts run from a copy of the project's files.
#
#   bash scripts/test-setup.sh       last line: setup: N passed, M failed
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

if [ -n "${FAKE_ROOT:-}" ]; then
  die 1 "test-setup.sh must not run inside its own sandbox"
fi
step "set-up test" "the set-up steps on a bare sandbox, installs stubbed"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/pdu-bridge-setup-test.XXXXXX")"
remove_tmp() { rm -rf "$tmp"; }
at_exit remove_tmp
want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock")"
[ -n "$want" ] || die 1 "no wasm-bindgen version in Cargo.lock"

# The system tools the scripts use, and nothing else: no node, npm, chromium,
# snmp*, mosquitto*, wasm-bindgen, cargo, rustup, apt-get, dpkg, curl.
mkdir -p "$tmp/sys"
for tool in bash sh env awk sed grep cmp cp mv rm mkdir cat chmod ln ls id dirname basename \
  head tail tr sort wc cut tee touch mktemp sleep seq date du readlink kill; do
  path="$(command -v "$tool" || true)"
  if [ -n "$path" ] && [ "${path#/}" != "$path" ]; then ln -s "$path" "$tmp/sys/$tool"; fi
done

# One stand-in for every installer and every "installed" tool, by its name.
cat >"$tmp/fakebin" <<EOF
#!$BASH
EOF
cat >>"$tmp/fakebin" <<'EOF'
# A stand-in in the set-up test's sandbox (scripts/test-setup.sh).
set -u
name="${0##*/}"
printf '%s\n' "$name${*:+ $*}" >>"$FAKE_LOG"
if [ -n "${FAKE_FAIL:-}" ] && [[ "$name $*" == "$FAKE_FAIL"* ]]; then
  echo "$name: failing, as the test asked" >&2
  exit 1
fi
commands_of() { # the commands a Debian package puts on the PATH
  case "$1" in
    snmp) echo snmpget snmpwalk snmpset ;;
    mosquitto) echo mosquitto mosquitto_passwd ;;
    mosquitto-clients) echo mosquitto_sub mosquitto_pub ;;
    nodejs) echo node ;;
    *) echo "$1" ;;
  esac
}
case "$name" in
  sudo) exec "$@" ;;
  apt-get)
    [ "${1:-}" = install ] || exit 0
    [ "${DEBIAN_FRONTEND:-}" = noninteractive ] || { echo "apt-get: DEBIAN_FRONTEND is not noninteractive: would prompt" >&2; exit 1; }
    shift
    while [ $# -gt 0 ]; do
      case "$1" in
        -o) shift ;;
        -*) ;;
        *)
          echo "$1" >>"$FAKE_ROOT/state/dpkg"
          for c in $(commands_of "$1"); do ln -sf "$FAKE_BIN" "$FAKE_ROOT/usr/bin/$c"; done ;;
      esac
      shift
    done ;;
  dpkg-query)
    pkg="${!#}"
    if grep -qx -- "$pkg" "$FAKE_ROOT/state/dpkg" 2>/dev/null; then printf installed; exit 0; fi
    echo "dpkg-query: no packages found matching $pkg" >&2
    exit 1 ;;
  rustup)
    case "$*" in
      "target list --installed") cat "$FAKE_ROOT/state/rustup-targets" 2>/dev/null || true ;;
      "target add "*) echo "$3" >>"$FAKE_ROOT/state/rustup-targets" ;;
    esac ;;
  cargo)
    [ "${1:-}" = install ] || exit 0
    version="" root=""
    while [ $# -gt 0 ]; do
      case "$1" in
        --version) version="${2#=}"; shift ;;
        --root) root="$2"; shift ;;
      esac
      shift
    done
    mkdir -p "$root/bin"
    printf '#!%s\necho "wasm-bindgen %s"\n' "$BASH" "$version" >"$root/bin/wasm-bindgen"
    chmod +x "$root/bin/wasm-bindgen" ;;
  python3)
    case "${1:-}" in
      # Debian's python3 makes virtual environments only with python3-venv.
      -c) grep -qx python3-venv "$FAKE_ROOT/state/dpkg" 2>/dev/null || exit 1 ;;
      -m) mkdir -p "$3/bin" && ln -sf "$FAKE_BIN" "$3/bin/pip" ;;
    esac ;;
  pip)
    if [ "${1:-}" = install ]; then
      last="${!#}"
      printf '#!%s\necho "schemathesis, version %s"\n' "$BASH" "${last##*==}" >"$(dirname "$0")/schemathesis"
      chmod +x "$(dirname "$0")/schemathesis"
    fi ;;
  npm)
    if [ "${1:-}" = ci ]; then
      mkdir -p node_modules/.bin
      ln -sf "$FAKE_BIN" node_modules/.bin/playwright
    fi ;;
esac
exit 0
EOF
chmod +x "$tmp/fakebin"

n=0
# new_sandbox: a fresh machine in $SB: a copy of the project's set-up files,
# an empty HOME, the stand-ins first on the PATH, nothing installed.
new_sandbox() {
  n=$((n + 1))
  SB="$tmp/sandbox$n"
  mkdir -p "$SB/clone/end2end" "$SB/home" "$SB/stubs" "$SB/usr/bin" "$SB/state" "$SB/tmp"
  cp -R "$ROOT/scripts" "$SB/clone/"
  cp "$ROOT/Cargo.lock" "$SB/clone/"
  cp "$ROOT/end2end/package.json" "$ROOT/end2end/package-lock.json" "$SB/clone/end2end/"
  for stub in apt-get dpkg-query cargo rustup sudo; do ln -s "$tmp/fakebin" "$SB/stubs/$stub"; done
  : >"$SB/calls.log"
}

# in_sandbox [FAIL-PREFIX] SNIPPET: run SNIPPET with bash in the sandbox (from
# its clone, scripts/lib.sh sourced, `set -euo pipefail`); a stand-in whose
# "name args" starts with FAIL-PREFIX exits 1. Sets $out and $rc; the calls of
# this run alone are in $SB/calls.log.
in_sandbox() {
  local fail=""
  if [ $# -gt 1 ]; then fail="$1"; shift; fi
  : >"$SB/calls.log"
  rc=0
  out="$(cd "$SB/clone" && env -i HOME="$SB/home" PATH="$SB/stubs:$SB/usr/bin:$tmp/sys" \
    TMPDIR="$SB/tmp" LANG=C.UTF-8 PDU_BRIDGE_CHROMIUM="$SB/usr/bin/chromium" \
    FAKE_LOG="$SB/calls.log" FAKE_ROOT="$SB" FAKE_BIN="$tmp/fakebin" FAKE_FAIL="$fail" \
    bash -c "set -euo pipefail; $1" 2>&1)" || rc=$?
}

passed=0 failed=0
ok() { passed=$((passed + 1)); printf '  ok   %s\n' "$1"; }
bad() {
  failed=$((failed + 1))
  printf '  FAIL %s: %s\n' "$1" "$2"
  printf '       exit %s; output (last lines):\n' "$rc"
  tail -n 12 <<<"$out" | sed 's/^/         | /'
  printf '       stand-ins called:\n'
  sed 's/^/         > /' "$SB/calls.log"
}
# expect_exit NAME 0|nonzero
expect_exit() {
  if { [ "$2" = 0 ] && [ "$rc" = 0 ]; } || { [ "$2" = nonzero ] && [ "$rc" != 0 ]; }; then ok "$1"
  else bad "$1" "expected exit $2"; fi
}
# expect_called NAME LINE: a stand-in was called exactly so
expect_called() {
  if grep -qxF -- "$2" "$SB/calls.log"; then ok "$1"; else bad "$1" "no call '$2'"; fi
}
# expect_no_call NAME PREFIX: no stand-in call starts with PREFIX
expect_no_call() {
  if grep -q "^$2" "$SB/calls.log"; then bad "$1" "unexpected call '$(grep "^$2" "$SB/calls.log" | head -n 1)'"; else ok "$1"; fi
}
# expect_said NAME TEXT: the output says TEXT
expect_said() {
  if grep -qF -- "$2" <<<"$out"; then ok "$1"; else bad "$1" "the output does not say '$2'"; fi
}
# expect_apt NAME PACKAGES...: one apt-get install of exactly these packages
expect_apt() {
  local name="$1" got
  shift
  got="$(awk '$1 == "apt-get" && $2 == "install" {
      line = ""
      for (i = 3; i <= NF; i++) { if ($i == "-o") { i++; continue } if ($i !~ /^-/) line = line (line == "" ? "" : " ") $i }
      print line }' "$SB/calls.log")"
  if [ "$got" = "$*" ] && grep -q '^apt-get install .*-y' "$SB/calls.log"; then ok "$name"
  else bad "$name" "expected one 'apt-get install -y … $*', got '${got//$'\n'/ | }'"; fi
}

step "wasm toolchain" "on a bare machine, then again"
new_sandbox
in_sandbox 'source scripts/lib.sh; ensure_wasm_toolchain'
expect_exit "wasm toolchain: succeeds" 0
expect_called "wasm toolchain: asks rustup for the installed targets" "rustup target list --installed"
expect_called "wasm toolchain: adds the wasm32 target" "rustup target add wasm32-unknown-unknown"
expect_called "wasm toolchain: installs wasm-bindgen-cli =$want (Cargo.lock), locked, into the cache" \
  "cargo install wasm-bindgen-cli --version =$want --locked --root $SB/home/.cache/pdu-bridge/tools"
expect_said "wasm toolchain: says what it installs" "installing wasm-bindgen-cli $want"
in_sandbox 'source scripts/lib.sh; ensure_wasm_toolchain'
expect_exit "wasm toolchain, second run: succeeds" 0
expect_no_call "wasm toolchain, second run: installs nothing" "cargo install\|rustup target add"
printf '#!%s\necho "wasm-bindgen 0.1.0"\n' "$BASH" >"$SB/usr/bin/wasm-bindgen"
chmod +x "$SB/usr/bin/wasm-bindgen"
rm -rf "$SB/home/.cache/pdu-bridge/tools"
in_sandbox 'source scripts/lib.sh; ensure_wasm_toolchain'
expect_called "wasm toolchain: another wasm-bindgen version is replaced" \
  "cargo install wasm-bindgen-cli --version =$want --locked --root $SB/home/.cache/pdu-bridge/tools"
expect_said "wasm toolchain: says which version it found" "(found 0.1.0)"

step "npm packages" "no node, no npm, no node modules"
new_sandbox
in_sandbox 'source scripts/lib.sh; ensure_node_modules'
expect_exit "npm packages: succeed" 0
expect_apt "npm packages: install Debian's nodejs and npm" nodejs npm
expect_called "npm packages: run npm ci" "npm ci --no-audit --no-fund"
if cmp -s "$SB/clone/end2end/package-lock.json" "$SB/clone/end2end/node_modules/.installed-lock"; then
  ok "npm packages: npm ci ran in end2end and the lock file is stamped"
else bad "npm packages: npm ci ran in end2end and the lock file is stamped" "no end2end/node_modules/.installed-lock"; fi
in_sandbox 'source scripts/lib.sh; ensure_node_modules'
expect_exit "npm packages, second run: succeed" 0
expect_no_call "npm packages, second run: install nothing" "npm ci\|apt-get"

step "schemathesis" "no python3, no venv module, no schemathesis"
new_sandbox
venv="$SB/home/.cache/pdu-bridge/tools/schemathesis-$SCHEMATHESIS_VERSION"
in_sandbox 'source scripts/lib.sh; ensure_schemathesis'
expect_exit "schemathesis: succeeds" 0
expect_called "schemathesis: installs Debian's python3" "apt-get install -y -qq -o DPkg::Lock::Timeout=300 python3"
expect_called "schemathesis: installs python3-venv" "apt-get install -y -qq -o DPkg::Lock::Timeout=300 python3-venv"
expect_called "schemathesis: makes its venv in the cache" "python3 -m venv $venv"
expect_called "schemathesis: pip installs the pinned version" "pip install -q schemathesis==$SCHEMATHESIS_VERSION"
in_sandbox 'source scripts/lib.sh; ensure_schemathesis'
expect_exit "schemathesis, second run: succeeds" 0
expect_no_call "schemathesis, second run: installs nothing" "apt-get\|python3 -m\|pip"
new_sandbox
in_sandbox "pip install" 'source scripts/lib.sh; ensure_schemathesis'
expect_exit "pip install fails: non-zero exit" nonzero
expect_said "pip install fails: names the step and the command" \
  "step 'schemathesis' failed (exit 1): pip install -q schemathesis==$SCHEMATHESIS_VERSION"

step "chromium" "no Chromium"
new_sandbox
in_sandbox 'source scripts/lib.sh; ensure_chromium'
expect_exit "chromium: succeeds" 0
expect_called "chromium: apt-get update first" "apt-get update -qq"
expect_apt "chromium: installs Debian's chromium" chromium
in_sandbox 'source scripts/lib.sh; ensure_chromium'
expect_no_call "chromium, second run: installs nothing" "apt-get"

step "net-snmp tools" "no snmpget"
new_sandbox
in_sandbox 'source scripts/lib.sh; apt_install snmp; command -v snmpget'
expect_exit "net-snmp tools: succeed" 0
expect_apt "net-snmp tools: install the snmp package" snmp
expect_said "net-snmp tools: snmpget is on the PATH afterwards" "$SB/usr/bin/snmpget"
in_sandbox 'source scripts/lib.sh; apt_install snmp'
expect_no_call "net-snmp tools, second run: install nothing" "apt-get"

step "mosquitto" "no Mosquitto"
new_sandbox
in_sandbox 'source scripts/lib.sh; apt_install mosquitto mosquitto-clients'
expect_exit "mosquitto: succeeds" 0
expect_apt "mosquitto: installs mosquitto and its clients" mosquitto mosquitto-clients

step "test packages" "everything scripts/test.sh installs, snmp already there"
new_sandbox
echo snmp >"$SB/state/dpkg"
in_sandbox 'source scripts/lib.sh; ensure_test_packages'
expect_exit "test packages: succeed" 0
expect_apt "test packages: one apt-get install of the missing ones" openssl mosquitto mosquitto-clients shellcheck curl python3 systemd prometheus

step "failures" "a failing or missing installer stops the script and names the step"
new_sandbox
in_sandbox "cargo install" 'source scripts/lib.sh; ensure_wasm_toolchain'
expect_exit "cargo install fails: non-zero exit" nonzero
expect_said "cargo install fails: names the step and the command" \
  "step 'wasm toolchain' failed (exit 1): cargo install wasm-bindgen-cli --version =$want"
in_sandbox "cargo install" 'bash scripts/build-site.sh'
expect_exit "build-site.sh, cargo install fails: non-zero exit" nonzero
expect_said "build-site.sh, cargo install fails: names the step" "build-site.sh: step 'wasm toolchain' failed"
expect_no_call "build-site.sh, cargo install fails: builds nothing" "cargo build"
in_sandbox "cargo install" 'bash scripts/run.sh'
expect_exit "run.sh, cargo install fails: non-zero exit" nonzero
expect_said "run.sh, cargo install fails: names the step" "run.sh: step 'wasm toolchain' failed"
in_sandbox "apt-get install" 'bash scripts/test.sh'
expect_exit "test.sh, apt-get install fails: non-zero exit" nonzero
expect_said "test.sh, apt-get install fails: names the step and the command" "test.sh: step 'test packages' failed (exit 1): apt-get install"
in_sandbox "apt-get install" 'source scripts/lib.sh; ensure_chromium'
expect_said "chromium, apt-get install fails: names the step" "step 'chromium' failed (exit 1): apt-get install"
in_sandbox "npm ci" 'source scripts/lib.sh; ensure_node_modules'
expect_exit "npm ci fails: non-zero exit" nonzero
expect_said "npm ci fails: names the step and the command" "step 'npm packages' failed (exit 1): npm ci"
rm "$SB/stubs/rustup"
in_sandbox 'source scripts/lib.sh; ensure_wasm_toolchain'
expect_exit "no rustup: non-zero exit" nonzero
expect_said "no rustup: says so" "step 'wasm toolchain' failed (exit 127): rustup is not on the PATH"
rm "$SB/stubs/apt-get" "$SB/stubs/dpkg-query"
in_sandbox 'source scripts/lib.sh; apt_install snmp'
expect_exit "no apt-get: non-zero exit" nonzero
expect_said "no apt-get: says to install by hand" "install them by hand"
in_sandbox 'source scripts/lib.sh; step demo "a failing command"; false; echo not reached'
expect_said "a failing command: the ERR trap names step and command" "step 'demo' failed (exit 1): false"
# shellcheck disable=SC2016 # expanded in the sandbox
in_sandbox 'source scripts/lib.sh; step demo "an unset variable"; echo "$not_set"'
expect_exit "an unset variable: non-zero exit" nonzero
expect_said "an unset variable: names the step" "step 'demo' failed"
# shellcheck disable=SC2016 # expanded in the sandbox
in_sandbox 'bash scripts/mqtt-shell-test.sh "$FAKE_BIN"'
expect_said "mqtt-shell-test.sh without mosquitto_sub: says so" "step 'mqtt shell' failed (exit 127): mosquitto_sub is not on the PATH"
# shellcheck disable=SC2016 # expanded in the sandbox
in_sandbox 'bash scripts/openapi-test.sh "$FAKE_BIN"'
expect_exit "openapi-test.sh on a bare machine: non-zero exit" nonzero
expect_said "openapi-test.sh without curl: says so" "openapi-test.sh: step 'start' failed (exit 127): curl is not on the PATH"
in_sandbox 'bash scripts/bench-resources.sh 5'
expect_exit "bench-resources.sh on a bare machine: non-zero exit" nonzero
expect_said "bench-resources.sh on a bare machine: says what is missing" "bench-resources.sh: step 'start' failed (exit 127): curl is not on the PATH"

if command -v shellcheck >/dev/null; then
  step "shellcheck" "scripts/*.sh, docker/*.sh, deploy/*.sh"
  rc=0
  out="$(cd "$ROOT" && shellcheck -x scripts/*.sh docker/*.sh docker/mosquitto/*.sh deploy/*.sh 2>&1)" || rc=$?
  if [ "$rc" = 0 ]; then ok "shellcheck: the project's shell scripts are clean"
  else failed=$((failed + 1)); printf '  FAIL shellcheck: scripts/*.sh\n%s\n' "$out"; fi
else
  log "shellcheck is not installed: not run (scripts/test.sh installs it)"
fi

echo "setup: $passed passed, $failed failed"
_REPORTED=1  # the counted line says it
[ "$failed" = 0 ]
