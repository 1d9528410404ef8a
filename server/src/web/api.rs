//! JSON endpoints (paths of the Python bridge kept) and the live stream.

use super::auth::Who;
use super::error::{ApiJson, ApiPath, ApiQuery, HttpError};
use super::AppState;
use crate::bridge::Origin;
use crate::clock::unix_ms;
use crate::health::Health;
use app::model::{ApiError, ErrorBody, OutletAction, OutletCommandResult, PduSnapshot};
use app::wire::{LOG_EVENT, MQTT_EVENT, RULES_EVENT, SNAPSHOT_EVENT};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

/// How often a live stream checks that its session still exists.
pub const SESSION_RECHECK: std::time::Duration = std::time::Duration::from_secs(15);

/// `?device_id=`: which PDU (optional while there is one).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceQuery {
    /// The PDU's id (`[a-z0-9_-]`, 1–64 characters); optional while the
    /// bridge has one PDU.
    pub device_id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct StatusBody<'a> {
    #[serde(flatten)]
    snapshot: &'a PduSnapshot,
    /// When the values were read, unix seconds.
    ts: f64,
    /// Seconds since then, at the time of this response.
    data_age_s: f64,
}

/// The latest snapshot of one PDU.
#[utoipa::path(get, path = "/api/status", tag = "readings", params(DeviceQuery),
    responses(
        (status = 200, description = "the latest snapshot, with when it was read", body = StatusBody),
        (status = 400, description = "a bad query, or several PDUs and no `device_id`", body = ErrorBody),
        (status = 404, description = "no such PDU", body = ErrorBody),
        (status = 503, description = "no reading from the PDU yet", body = ErrorBody),
    ))]
pub async fn status(State(state): State<AppState>, ApiQuery(q): ApiQuery<DeviceQuery>) -> Result<Response, HttpError> {
    let snapshot = state.services.status(q.device_id.as_deref())?;
    let body =
        StatusBody { snapshot: &snapshot, ts: snapshot.ts_ms as f64 / 1000.0, data_age_s: snapshot.age_s(unix_ms()) };
    Ok(Json(body).into_response())
}

/// Whether every PDU answers with fresh data and no durable queue is
/// losing items. Public: no readings, only states and reasons.
#[utoipa::path(get, path = "/api/health", tag = "bridge", security(()),
    responses(
        (status = 200, description = "everything is well", body = Health),
        (status = 503, description = "degraded: `reasons` says why", body = Health),
    ))]
pub async fn health(State(state): State<AppState>) -> Response {
    let health = state.services.health();
    let code = if health.status == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(health)).into_response()
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CommandBody {
    /// Trimmed and case-insensitive.
    #[schema(value_type = OutletAction)]
    action: String,
    /// Switch a protected outlet off (admins only).
    #[serde(default)]
    confirm_protected: bool,
}

/// Switch an outlet; answers with the state read back from the PDU.
#[utoipa::path(post, path = "/api/outlets/{outlet}/command", tag = "outlets",
    params(("outlet" = u32, Path, description = "the outlet's number, from 1", minimum = 1), DeviceQuery),
    request_body = CommandBody,
    responses(
        (status = 200, description = "the state read back from the PDU", body = OutletCommandResult),
        (status = 400, description = "not an outlet number, an unknown action, or bad JSON", body = ErrorBody),
        (status = 403, description = "the role is not enough, or a protected outlet without `confirm_protected` (admins)", body = ErrorBody),
        (status = 404, description = "no such PDU or outlet", body = ErrorBody),
        (status = 409, description = "a different PDU answers at this PDU's address", body = ErrorBody),
        (status = 502, description = "the PDU refused or failed the command", body = ErrorBody),
        (status = 503, description = "the PDU cannot be reached", body = ErrorBody),
    ))]
pub async fn outlet_command(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiPath(outlet): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
    ApiJson(body): ApiJson<CommandBody>,
) -> Result<Json<OutletCommandResult>, HttpError> {
    let outlet = outlet_number(&outlet)?;
    let action: OutletAction = body.action.parse().map_err(|why| ApiError::bad_request("action", why))?;
    let device = q.device_id.as_deref();
    Ok(Json(state.services.outlet_command(&caller, Origin::Api, device, outlet, action, body.confirm_protected).await?))
}

/// An outlet number from a path.
pub fn outlet_number(outlet: &str) -> Result<u32, ApiError> {
    outlet
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::bad_request("outlet", format!("outlet {outlet:?} is not an outlet number (1, 2, …)")))
}

fn snapshot_event(snapshot: &PduSnapshot) -> Option<Event> {
    match Event::default().event(SNAPSHOT_EVENT).json_data(snapshot) {
        Ok(event) => Some(event),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a snapshot for the live stream");
            None
        }
    }
}

/// Server-sent events: every PDU's current snapshot at once, then each new
/// one as it is published. Ends at shutdown so the server can stop.
#[utoipa::path(get, path = "/api/stream", tag = "readings",
    responses(
        (status = 200, content_type = "text/event-stream", body = String,
         description = "endless: events `snapshot` (as `/api/status`), `rules`, `event`, `mqtt` and `pdus`, each a JSON `data:` line"),
    ))]
pub async fn stream(
    State(state): State<AppState>,
    session: Option<axum::Extension<app::wire::SessionMark>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // Subscribe before reading the current values so nothing falls between.
    let receiver = state.services.bridge.bus().live();
    let current: Vec<Arc<PduSnapshot>> = state.services.bridge.snapshots();
    let live = futures::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(snapshot) => return Some((snapshot, receiver)),
                // Too slow to keep up: the next snapshot supersedes the lost ones.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    // After each snapshot, that PDU's rules with their live state.
    let services = state.services.clone();
    let snapshots = futures::stream::iter(current).chain(live).flat_map(move |s| {
        let rules = services.rules(Some(s.device_id.as_str())).ok();
        let rules = rules.and_then(|update| Event::default().event(RULES_EVENT).json_data(update).ok());
        futures::stream::iter([snapshot_event(&s), rules].into_iter().flatten())
    });
    let log = futures::stream::unfold(state.services.bridge.events().subscribe(), |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(e) => return Some((e, rx)),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .filter_map(|e| async move { Event::default().event(LOG_EVENT).json_data(&e).ok() });
    // The MQTT link's state now, then whenever it changes.
    let mqtt = futures::stream::unfold((state.services.mqtt.clone(), true), |(mut rx, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let status = rx.borrow_and_update().clone();
        Some((status, (rx, false)))
    })
    .filter_map(|m| async move { Event::default().event(MQTT_EVENT).json_data(&m).ok() });
    // The PDU list whenever a PDU is added, changed or removed.
    let services = state.services.clone();
    let pdus = futures::stream::unfold(state.services.bridge.changes(), |mut rx| async move {
        rx.changed().await.ok()?;
        Some(((), rx))
    })
    .filter_map(move |()| {
        let list = app::backend::Backend::pdus(&services);
        async move { Event::default().event(app::wire::PDUS_EVENT).json_data(&list).ok() }
    });
    // Every alarm now, then whenever one changes.
    let alarm_book = state.services.bridge.alarms().clone();
    let alarms = futures::stream::unfold((alarm_book.changes(), true), |(mut rx, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        rx.borrow_and_update();
        Some(((), (rx, false)))
    })
    .filter_map(move |()| {
        let list = alarm_book.list();
        async move { Event::default().event(app::wire::ALARMS_EVENT).json_data(&list).ok() }
    });
    // A browser's stream ends soon after its session does (signed out
    // elsewhere, expired): what it shows is not for someone signed out.
    let auth = state.services.auth.clone();
    let session_over = async move {
        let Some(axum::Extension(app::wire::SessionMark(id))) = session else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(SESSION_RECHECK).await;
            if !auth.session_alive(&id).await {
                return;
            }
        }
    };
    let stop = futures::future::select(Box::pin(state.shutdown.cancelled_owned()), Box::pin(session_over));
    let events = futures::stream::select(futures::stream::select(snapshots, mqtt), futures::stream::select(log, pdus));
    let events = futures::stream::select(events, alarms).map(Ok).take_until(stop);
    Sse::new(events).keep_alive(KeepAlive::default())
}
