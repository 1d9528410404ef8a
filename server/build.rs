//! Builds the site (WASM, JS, CSS, public files) into the binary, so the
//! release binary runs from any directory. The site is produced beforehand by
//! `scripts/build-site.sh` into `target/site` (or `PDU_BRIDGE_SITE_DIR`);
//! without it the binary still builds and says so at start-up.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, root, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push((rel.to_string_lossy().replace('\\', "/"), path));
        }
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=PDU_BRIDGE_SITE_DIR");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let site =
        std::env::var_os("PDU_BRIDGE_SITE_DIR").map(PathBuf::from).unwrap_or_else(|| manifest.join("../target/site"));
    println!("cargo:rerun-if-changed={}", site.display());

    let mut files = Vec::new();
    collect(&site, &site, &mut files);
    files.sort();
    let mut code = String::from("/// Site files built into the binary: (path below the site root, bytes).\npub static SITE_ASSETS: &[(&str, &[u8])] = &[\n");
    for (name, path) in &files {
        let abs = path.canonicalize().unwrap();
        writeln!(code, "    ({name:?}, include_bytes!({:?})),", abs.display().to_string()).unwrap();
    }
    code.push_str("];\n");
    // The content-hashed name of the WASM glue (`pkg/pdu_bridge.HASH.js`), if built.
    let output = files
        .iter()
        .find_map(|(name, _)| name.strip_prefix("pkg/")?.strip_suffix(".js").filter(|n| n.starts_with("pdu_bridge")))
        .unwrap_or("pdu_bridge");
    writeln!(code, "/// The site's output name: its JS, WASM and CSS are `pkg/NAME.js`, `pkg/NAME_bg.wasm`, `pkg/NAME.css`.\npub const SITE_OUTPUT_NAME: &str = {output:?};").unwrap();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("site_assets.rs");
    std::fs::write(out, code).unwrap();
}
