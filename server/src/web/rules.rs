//! The rules and events API: `GET|POST /api/rules`, `PUT|DELETE
//! /api/rules/{name}`, `POST /api/rules/{name}/enable|disable`,
//! `GET /api/events`. Validation errors name the field (422), bad JSON is 400,
//! a duplicate name 409, an unknown rule 404.

use super::api::DeviceQuery;
use super::error::{ApiJson, ApiQuery, HttpError};
use super::AppState;
use app::model::{DeviceId, Event};
use app::rules::{Rule, RuleStatus};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

pub async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> Result<Json<Vec<RuleStatus>>, HttpError> {
    Ok(Json(state.automation.engine(q.device_id.as_deref())?.list()))
}

pub async fn create(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
    ApiJson(rule): ApiJson<Rule>,
) -> Result<(StatusCode, Json<RuleStatus>), HttpError> {
    let created = state.automation.engine(q.device_id.as_deref())?.create(rule)?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn update(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
    ApiJson(rule): ApiJson<Rule>,
) -> Result<Json<RuleStatus>, HttpError> {
    Ok(Json(state.automation.engine(q.device_id.as_deref())?.update(&name, rule)?))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> Result<Json<serde_json::Value>, HttpError> {
    state.automation.engine(q.device_id.as_deref())?.delete(&name)?;
    Ok(Json(serde_json::json!({ "deleted": name })))
}

pub async fn enable(
    state: State<AppState>,
    name: Path<String>,
    q: ApiQuery<DeviceQuery>,
) -> Result<Json<RuleStatus>, HttpError> {
    set_enabled(state, name, q, true)
}

pub async fn disable(
    state: State<AppState>,
    name: Path<String>,
    q: ApiQuery<DeviceQuery>,
) -> Result<Json<RuleStatus>, HttpError> {
    set_enabled(state, name, q, false)
}

fn set_enabled(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
    enabled: bool,
) -> Result<Json<RuleStatus>, HttpError> {
    Ok(Json(state.automation.engine(q.device_id.as_deref())?.set_enabled(&name, enabled)?))
}

#[derive(Deserialize)]
pub struct EventsQuery {
    device_id: Option<String>,
    limit: Option<usize>,
}

/// Newest first; `limit` defaults to 100, at most 1000.
pub async fn events(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<Vec<Event>>, HttpError> {
    let device = match q.device_id.as_deref() {
        Some(id) => Some(state.bridge.device(Some(id))?.id().clone()),
        None => None::<DeviceId>,
    };
    Ok(Json(state.automation.events.recent(device.as_ref(), q.limit.unwrap_or(100).min(1000))))
}
