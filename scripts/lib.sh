# Shared by the project's scripts: where the cache lives, and idempotent
# installers for what the build and the tests need on a fresh Debian machine
# with rustup. Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# One cargo target directory outside the clone, shared by every checkout on
# this machine: a fresh clone (CI) reuses compiled dependencies.
PDU_BRIDGE_CACHE="${PDU_BRIDGE_CACHE:-$HOME/.cache/pdu-bridge}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PDU_BRIDGE_CACHE/target}"
TOOLS="$PDU_BRIDGE_CACHE/tools"
export PATH="$TOOLS/bin:$HOME/.cargo/bin:$PATH"
SITE_DIR="$ROOT/target/site"

log() { printf '\n==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  # Install Debian packages that are missing; `apt-get update` only when needed.
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_wasm_toolchain() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32 target"
    rustup target add wasm32-unknown-unknown
  fi
  # wasm-bindgen's CLI must equal the library version in Cargo.lock exactly.
  local want have
  want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock")"
  have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')"
  if [ "$have" != "$want" ]; then
    log "installing wasm-bindgen-cli $want (a few minutes, once)"
    cargo install wasm-bindgen-cli --version "=$want" --locked --root "$TOOLS" \
      || cargo install wasm-bindgen-cli --version "=$want" --root "$TOOLS"
  fi
}

ensure_node_modules() {
  command -v npm >/dev/null || apt_install nodejs npm
  local stamp="$ROOT/end2end/node_modules/.installed-lock"
  if [ ! -f "$stamp" ] || ! cmp -s "$ROOT/end2end/package-lock.json" "$stamp"; then
    log "installing end-to-end test packages (npm ci)"
    (cd "$ROOT/end2end" && npm ci --no-audit --no-fund)
    cp "$ROOT/end2end/package-lock.json" "$stamp"
  fi
}

ensure_chromium() {
  [ -x /usr/bin/chromium ] || apt_install chromium
}
