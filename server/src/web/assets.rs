//! The site's static files (`pkg/` from the WASM build, `public/`, the
//! stylesheet): built into the binary by `build.rs` so it runs from any
//! directory, or read from `BRIDGE_SITE_ROOT` when that is set.

use super::AppState;
use app::model::ApiError;
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::path::{Component, Path};

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
    if path.starts_with("api/") {
        super::HttpError(ApiError::not_found("path", format!("no endpoint /{path}"))).into_response()
    } else {
        (StatusCode::NOT_FOUND, "not found").into_response()
    }
}

pub async fn serve(State(state): State<AppState>, uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let body: Option<Vec<u8>> = match &state.site_root {
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
    };
    match body {
        Some(bytes) => {
            ([(header::CONTENT_TYPE, content_type(path)), (header::CACHE_CONTROL, "no-cache")], bytes).into_response()
        }
        None => not_found(path),
    }
}
