//! HTTP: the dashboard (server-rendered Leptos, then hydrated), the JSON
//! API, the live stream and the site's static files.
//!
//! Owns: routes, request validation at the edge and the error shape. The
//! handlers and the dashboard's server functions are thin adapters over one
//! service layer ([`Services`]). The one thing to know: `router(state)`
//! builds everything, so tests call it with `oneshot` or serve it on port 0
//! with [`run`].
//!
//! Every request is bounded before a handler sees it (`limits`: per-client
//! concurrency, URI, head and body size, body deadline), every connection by
//! timeouts (`serve`), and every error under `/api` and `/fn` is JSON
//! (`error`).

mod api;
mod assets;
mod backend;
mod error;
mod forms;
mod guard;
mod history;
mod limits;
mod reports;
mod rules;
mod serve;

use app::backend::BackendHandle;
use axum::body::Body;
use axum::http::Request;
use axum::routing::{get, post};
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
pub use backend::Services;
pub use error::HttpError;
pub use limits::{BODY_DEADLINE, MAX_BODY_BYTES, MAX_HEADERS, MAX_PER_CLIENT};
pub use serve::{run, HEADER_READ, WRITE_STALL};

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
    let server_fns = move |req: Request<Body>| leptos_axum::handle_server_fns_with_context(context.clone(), req);

    Router::new()
        .route("/", get(page))
        .route("/api/status", get(api::status))
        .route("/api/health", get(api::health))
        .route("/api/outlets/{outlet}/command", post(api::outlet_command))
        .route("/api/rules", get(rules::list).post(rules::create).put(rules::replace))
        .route("/api/rules/{name}", axum::routing::put(rules::update).delete(rules::delete))
        .route("/api/rules/{name}/enable", post(rules::enable))
        .route("/api/rules/{name}/disable", post(rules::disable))
        .route("/api/events", get(rules::events))
        .route("/api/history/{what}", get(history::series))
        .route("/api/energy", get(reports::energy))
        .route("/api/energy/daily", get(reports::daily))
        .route("/api/reports", get(reports::list))
        .route("/api/reports/{id}", get(reports::one))
        .route(app::wire::STREAM_PATH, get(api::stream))
        .route("/forms/{what}", post(forms::post))
        .route("/fn/{*name}", post(server_fns))
        .fallback(assets::serve)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn(error::json_errors))
        // gzip for browsers that ask (the WASM shrinks to about 40 %); never
        // for the live stream, which must not be buffered.
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::middleware::from_fn(limits::bounded_request))
        .layer(axum::middleware::from_fn_with_state(limits::PerClient::default(), limits::per_client))
        .layer(axum::middleware::from_fn_with_state(guard::Hosts::new(&state.allowed_hosts), guard::check))
        .with_state(state)
}
