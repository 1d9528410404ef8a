//! The site's static files (`pkg/` from the WASM build, `public/`, the
//! stylesheet): built into the binary by `build.rs` so it runs from any
//! directory, or read from `BRIDGE_SITE_ROOT` when that is set.
//!
//! Files under `pkg/` carry a hash of their content in their name
//! (`scripts/build-site.sh`), so they are cached for a year; each comes
//! precompressed (`.br`, `.gz`) and is sent in the best encoding the browser
//! accepts, never compressed again per request.

use super::AppState;
use app::model::ApiError;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::path::{Component, Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/site_assets.rs"));

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "js" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "webmanifest" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Whether the site's WASM is built into this binary.
pub fn embedded_site() -> bool {
    SITE_ASSETS.iter().any(|(path, _)| path.ends_with(".wasm"))
}

fn not_found(path: &str) -> Response {
    if super::error::is_api(path) {
        super::HttpError(ApiError::not_found("path", format!("no endpoint /{path}"))).into_response()
    } else {
        (StatusCode::NOT_FOUND, "not found").into_response()
    }
}

/// The site's output name (see [`SITE_OUTPUT_NAME`]), from `root` when the
/// site is served from disk.
pub fn output_name(root: Option<&Path>) -> String {
    let Some(root) = root else { return SITE_OUTPUT_NAME.to_owned() };
    let names = std::fs::read_dir(root.join("pkg")).into_iter().flatten().flatten();
    names
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".js").map(str::to_owned))
        .find(|n| n.starts_with("pdu_bridge"))
        .unwrap_or_else(|| "pdu_bridge".to_owned())
}

/// The encodings a request accepts that we keep copies in, best first.
fn encodings(headers: &HeaderMap) -> Vec<(&'static str, &'static str)> {
    let accepted = headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let takes = |name: &str| {
        accepted.split(',').any(|part| {
            let mut bits = part.split(';');
            let coding = bits.next().unwrap_or_default().trim();
            let refused = bits.any(|q| q.trim().replace(' ', "") == "q=0");
            coding.eq_ignore_ascii_case(name) && !refused
        })
    };
    [("br", ".br"), ("gzip", ".gz")].into_iter().filter(|(name, _)| takes(name)).collect()
}

async fn read(root: Option<&PathBuf>, path: &str) -> Option<Vec<u8>> {
    match root {
        Some(root) => {
            // Only plain names below the root: no `..`, no absolute paths.
            let safe = !path.is_empty() && Path::new(path).components().all(|c| matches!(c, Component::Normal(_)));
            if safe {
                tokio::fs::read(root.join(path)).await.ok()
            } else {
                None
            }
        }
        None => SITE_ASSETS.iter().find(|(name, _)| *name == path).map(|(_, bytes)| bytes.to_vec()),
    }
}

pub async fn serve(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let root = state.site_root.as_ref();
    let mut found = None;
    for (coding, suffix) in encodings(&headers) {
        if let Some(bytes) = read(root, &format!("{path}{suffix}")).await {
            found = Some((bytes, Some(coding)));
            break;
        }
    }
    if found.is_none() {
        found = read(root, path).await.map(|bytes| (bytes, None));
    }
    let Some((bytes, coding)) = found else { return not_found(path) };
    // Hashed names never change content: cache them for a year.
    let cache = if path.starts_with("pkg/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mut response =
        ([(header::CONTENT_TYPE, content_type(path)), (header::CACHE_CONTROL, cache)], bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(coding) = coding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    response
}
