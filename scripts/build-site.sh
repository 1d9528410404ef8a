#!/usr/bin/env bash
# Build the dashboard's browser side into target/site: the WASM and its JS
# glue under pkg/, the stylesheet, and public/. The server embeds this folder
# when it is built afterwards (server/build.rs).
#
#   scripts/build-site.sh            debug WASM (tests, development)
#   scripts/build-site.sh --release  size-optimised WASM (the run command)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

profile=dev out=debug
case "${1:-}" in
  "") ;;
  --release) profile=wasm-release out=wasm-release ;;
  *) die 2 "unknown argument '$1' (usage: scripts/build-site.sh [--release])" ;;
esac

ensure_wasm_toolchain

step "wasm build" "the WASM front end (cargo build -p frontend, profile $profile)"
cargo build -p frontend --lib --target wasm32-unknown-unknown --profile "$profile"

step "wasm-bindgen" "the JS glue for the WASM into $SITE_DIR/pkg"
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/$out/frontend.wasm"
[ -f "$wasm" ] || die 1 "cargo build finished but $wasm is missing"
next="$SITE_DIR.next"
rm -rf "$next"
mkdir -p "$next/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$next/pkg" --out-name pdu_bridge "$wasm"

if [ "$profile" = wasm-release ]; then
  # binaryen from npm (v132); Debian's older wasm-opt produces WASM that fails
  # to hydrate, so it is never used.
  wasm_opt="$ROOT/end2end/node_modules/.bin/wasm-opt"
  if [ -x "$wasm_opt" ]; then
    step "wasm-opt" "optimising the WASM for size (binaryen from end2end/node_modules)"
    "$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-reference-types --enable-multivalue --enable-mutable-globals \
      -o "$next/pkg/pdu_bridge_bg.wasm" "$next/pkg/pdu_bridge_bg.wasm"
  else
    log "no $wasm_opt (npm packages not installed): the WASM is not size-optimised"
  fi
fi

step "content hash" "pkg/ files named after their content, so browsers may cache them for a year"
cp style/main.css "$next/pkg/pdu_bridge.css"
hash="$(cat "$next/pkg/pdu_bridge.js" "$next/pkg/pdu_bridge_bg.wasm" "$next/pkg/pdu_bridge.css" | sha256sum | cut -c1-16)"
[ "${#hash}" = 16 ] || die 1 "sha256sum gave no hash"
name="pdu_bridge.$hash"
mv "$next/pkg/pdu_bridge.js" "$next/pkg/$name.js"
mv "$next/pkg/pdu_bridge_bg.wasm" "$next/pkg/${name}_bg.wasm"
mv "$next/pkg/pdu_bridge.css" "$next/pkg/$name.css"

step "precompress" "brotli and gzip copies of the site's files (scripts/precompress.mjs)"
command -v node >/dev/null || die 127 "node is needed to precompress the site (apt-get install nodejs)"
best=""
if [ "$profile" = wasm-release ]; then best="--best"; fi
cp -R public/. "$next/"
node scripts/precompress.mjs "$next" $best

step "site" "$SITE_DIR replaced"
rm -rf "$SITE_DIR"
mv "$next" "$SITE_DIR"
size="$(du -sh "$SITE_DIR/pkg/${name}_bg.wasm" | cut -f1)"
br="$(du -sh "$SITE_DIR/pkg/${name}_bg.wasm.br" | cut -f1)"
log "site ready in $SITE_DIR ($size of WASM, $br with brotli; pkg/$name.*)"
