//! HTTP: the dashboard (server-rendered Leptos, then hydrated), the JSON
//! API, the live stream and the site's static files.
//!
//! Owns: routes, request validation at the edge and the error shape. The
//! handlers and the dashboard's server functions are thin adapters over one
//! service layer ([`Services`]). The one thing to know: `router(state)`
//! builds everything, so tests call it with `oneshot` or serve it on port 0
//! with [`run`].
//!
//! Every route under `/api` is added in `openapi::api_routes`, the list the
//! OpenAPI description (`GET /api/openapi.json`) is built from.
//!
//! Every request is bounded before a handler sees it (`limits`: per-client
//! concurrency, URI, head and body size, body deadline), every connection by
//! timeouts (`serve`), and every error under `/api` and `/fn` is JSON
//! (`error`).

mod alarms;
mod api;
mod assets;
pub mod auth;
mod backend;
mod device;
mod error;
mod forms;
mod guard;
mod history;
mod limits;
mod metrics;
mod openapi;
mod pdus;
mod reports;
mod rules;
mod serve;
mod tls;

use app::access::Role;
use app::backend::BackendHandle;
use axum::body::Body;
use axum::http::Request;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use leptos::prelude::{provide_context, use_context, LeptosOptions};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub use assets::embedded_site;

/// The content-hashed name of the built-in site's files (`pkg/NAME.js`, …).
pub fn site_output_name() -> String {
    assets::output_name(None)
}
pub use api::SESSION_RECHECK;
pub use backend::Services;
pub use error::HttpError;
pub use limits::{BODY_DEADLINE, MAX_BODY_BYTES, MAX_HEADERS, MAX_PER_CLIENT};
pub use serve::{run, HEADER_READ, WRITE_STALL};
pub use tls::{Tls, TlsError};

#[derive(Clone)]
pub struct AppState {
    /// What every handler and server function calls.
    pub services: Services,
    /// Ends live streams so graceful shutdown does not wait on them.
    pub shutdown: CancellationToken,
    /// Serve the site from disk instead of the embedded copy.
    pub site_root: Option<PathBuf>,
    /// Host names besides `localhost`, this machine's and IP literals that
    /// the bridge answers to (`BRIDGE_ALLOWED_HOSTS`).
    pub allowed_hosts: Vec<String>,
    /// Session cookies only over HTTPS (`Secure`): on when the bridge serves TLS.
    pub secure_cookies: bool,
    /// Other sites whose pages may call the API with a token; empty = CORS closed.
    pub cors_origins: Vec<String>,
    /// The session cookie's name ([`auth::cookie_name`] of the listening port).
    pub cookie_name: String,
}

/// `methods`, reachable only by a caller with at least `role`.
fn gate(role: Role, methods: MethodRouter<AppState>) -> MethodRouter<AppState> {
    methods.route_layer(axum::middleware::from_fn_with_state(role, auth::require))
}

/// CORS for the configured origins only (tokens, no cookies); none = closed.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{header, HeaderValue, Method};
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
}

pub fn router(state: AppState) -> Router {
    // Leptos needs an executor for rendering; generate_route_list would set
    // it up, but this app has no client-side router.
    let _ = any_spawner::Executor::init_tokio();

    let options = LeptosOptions::builder()
        .output_name(assets::output_name(state.site_root.as_deref()))
        .site_pkg_dir("pkg")
        .site_root(state.site_root.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "site".into()))
        .build();
    let backend = BackendHandle(Arc::new(state.services.clone()));
    let context = move || {
        provide_context(backend.clone());
        // The page's inline script carries the nonce the guard put in the CSP.
        let nonce = use_context::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<guard::CspNonce>().map(|n| n.0.clone()));
        if let Some(nonce) = nonce {
            provide_context(leptos::nonce::Nonce::from_value(nonce));
        }
    };
    let page = leptos_axum::render_app_to_stream_with_context(context.clone(), move || app::shell(options.clone()));
    let server_fns = move |req: Request<Body>| {
        let answer = leptos_axum::handle_server_fns_with_context(context.clone(), req);
        async move { with_error_status(axum::response::IntoResponse::into_response(answer.await)).await }
    };

    // Every route under /api, with its role, from the one list that the
    // OpenAPI description is built from too.
    let (api, _) = openapi::api_routes().split_for_parts();
    use Role::{Operator, Viewer};
    Router::new()
        // Public: signing in, the site's static files (the fallback).
        .route("/login", get(auth::login_form))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        // Everyone signed in (or anonymous viewers, when that is on).
        .route("/", gate(Viewer, get(page.clone())))
        // The access page: one's own account for everyone; users, tokens and
        // the audit log for admins (the server functions check each).
        .route("/access", gate(Viewer, get(page.clone())))
        // The fleet, and one PDU's dashboard at its own address.
        .route("/fleet", gate(Viewer, get(page.clone())))
        // Every PDU's alarms, active and past (acknowledging needs an
        // operator: the server function and the form check).
        .route("/alarms", gate(Viewer, get(page.clone())))
        .route("/pdu/{device_id}", gate(Viewer, get(page.clone())))
        // A PDU's settings: anyone who may look reads them; admins change
        // them (the server functions check).
        .route("/settings", gate(Viewer, get(page.clone())))
        .route("/pdu/{device_id}/settings", gate(Viewer, get(page)))
        // Prometheus scrapes with a viewer's API token.
        .route("/metrics", gate(Viewer, metrics::route()))
        .route("/forms/{what}", gate(Operator, post(forms::post)))
        .merge(api)
        // Server functions: the role by the function's name.
        .route("/fn/{*name}", post(server_fns).route_layer(axum::middleware::from_fn(auth::require_for_server_fn)))
        .fallback(assets::serve)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .layer(axum::middleware::from_fn(error::json_errors))
        // gzip for browsers that ask (the WASM shrinks to about 40 %); never
        // for the live stream, which must not be buffered.
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::middleware::from_fn(limits::bounded_request))
        .layer(axum::middleware::from_fn_with_state(limits::PerClient::default(), limits::per_client))
        .layer(cors(&state.cors_origins))
        .layer(axum::middleware::from_fn_with_state(guard::Hosts::new(&state.allowed_hosts), guard::check))
        .with_state(state)
}

/// A server function's error travels as its `ApiError` with status 500;
/// answer with the error's own status instead (409 for a conflict, 422 for
/// a bad field), as the JSON API does.
async fn with_error_status(response: axum::response::Response) -> axum::response::Response {
    if response.status() != axum::http::StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return axum::response::Response::from_parts(parts, Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<app::model::ApiError>(&bytes) {
        if let Ok(status) = axum::http::StatusCode::from_u16(error.status_code()) {
            parts.status = status;
        }
    }
    axum::response::Response::from_parts(parts, Body::from(bytes))
}
