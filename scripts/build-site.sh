#!/usr/bin/env bash
# Build the dashboard's browser side into target/site: the WASM and its JS
# glue under pkg/, the stylesheet, and public/. The server embeds this folder
# when it is built afterwards (server/build.rs).
#
#   scripts/build-site.sh            debug WASM (tests, development)
#   scripts/build-site.sh --release  size-optimised WASM (the run command)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

profile=dev out=debug
if [ "${1:-}" = "--release" ]; then profile=wasm-release out=wasm-release; fi

ensure_wasm_toolchain
log "building the WASM front end ($profile)"
cargo build -p frontend --lib --target wasm32-unknown-unknown --profile "$profile"

next="$SITE_DIR.next"
rm -rf "$next"
mkdir -p "$next/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$next/pkg" --out-name pdu_bridge \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/$out/frontend.wasm"

if [ "$profile" = wasm-release ]; then
  # binaryen from npm (v132); Debian's older wasm-opt produces WASM that fails
  # to hydrate, so it is never used.
  wasm_opt="$ROOT/end2end/node_modules/.bin/wasm-opt"
  if [ -x "$wasm_opt" ]; then
    log "optimising the WASM with wasm-opt"
    "$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-reference-types --enable-multivalue --enable-mutable-globals \
      -o "$next/pkg/pdu_bridge_bg.wasm" "$next/pkg/pdu_bridge_bg.wasm"
  fi
fi

cp style/main.css "$next/pkg/pdu_bridge.css"
cp -R public/. "$next/"
rm -rf "$SITE_DIR"
mv "$next" "$SITE_DIR"
log "site ready in $SITE_DIR ($(du -sh "$SITE_DIR/pkg/pdu_bridge_bg.wasm" | cut -f1) of WASM)"
