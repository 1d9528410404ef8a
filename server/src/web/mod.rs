//! HTTP: the dashboard (server-rendered Leptos, then hydrated), the JSON
//! API, the live stream and the site's static files.
//!
//! Owns: routes, request validation at the edge and the error shape. The
//! handlers and the dashboard's server functions are thin adapters over one
//! service layer ([`Services`]). The one thing to know: `router(state)`
//! builds everything, so tests call it with `oneshot` or serve it on port 0
//! with [`run`].

mod api;
mod assets;
mod backend;
mod error;
mod history;
mod reports;
mod rules;

use app::backend::BackendHandle;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::{provide_context, LeptosOptions};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use assets::embedded_site;

/// The content-hashed name of the built-in site's files (`pkg/NAME.js`, …).
pub fn site_output_name() -> String {
    assets::output_name(None)
}
pub use backend::Services;
pub use error::HttpError;

/// Request bodies are small JSON objects; anything bigger is refused.
const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Clone)]
pub struct AppState {
    /// What every handler and server function calls.
    pub services: Services,
    /// Ends live streams so graceful shutdown does not wait on them.
    pub shutdown: CancellationToken,
    /// Serve the site from disk instead of the embedded copy.
    pub site_root: Option<PathBuf>,
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
    let context = move || provide_context(backend.clone());
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
        .route("/fn/{*name}", post(server_fns))
        .fallback(assets::serve)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // gzip for browsers that ask (the WASM shrinks to about 40 %); never
        // for the live stream, which must not be buffered.
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(state)
}

/// Serve until `shutdown` fires, then finish in-flight requests.
pub async fn run(listener: TcpListener, router: Router, shutdown: CancellationToken) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned()).await
}
