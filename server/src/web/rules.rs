//! The rules and events API: `GET|POST|PUT /api/rules`, `PUT|DELETE
//! /api/rules/{name}`, `POST /api/rules/{name}/enable|disable`,
//! `GET /api/events`. Validation errors name the field (422), bad JSON is 400,
//! a duplicate name 409, an unknown rule 404; while the rules file cannot
//! be read, listing answers 503 and edits 409 (nothing is written over it)
//! until it is fixed or `PUT /api/rules` replaces every rule.

use super::api::DeviceQuery;
use super::auth::Who;
use super::error::{ApiJson, ApiPath, ApiQuery, HttpError};
use super::AppState;
use app::model::{ApiError, Event, EventQuery};
use app::rules::{Rule, RuleStatus};
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

pub async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> Result<Json<Vec<RuleStatus>>, HttpError> {
    let update = state.services.rules(q.device_id.as_deref())?;
    match update.file_error {
        Some(e) => Err(ApiError::Unavailable(format!("{e}; edits are refused until it is fixed")).into()),
        None => Ok(Json(update.rules)),
    }
}

/// `PUT /api/rules`: every rule at once, also over an unreadable file (kept
/// as a timestamped backup).
pub async fn replace(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiQuery(q): ApiQuery<DeviceQuery>,
    ApiJson(rules): ApiJson<Vec<Rule>>,
) -> Result<Json<Vec<RuleStatus>>, HttpError> {
    Ok(Json(state.services.replace_rules(&caller, q.device_id.as_deref(), rules).await?))
}

pub async fn create(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiQuery(q): ApiQuery<DeviceQuery>,
    ApiJson(rule): ApiJson<Rule>,
) -> Result<(StatusCode, Json<RuleStatus>), HttpError> {
    let created = state.services.save_rule(&caller, q.device_id.as_deref(), None, rule).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn update(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
    ApiJson(rule): ApiJson<Rule>,
) -> Result<Json<RuleStatus>, HttpError> {
    Ok(Json(state.services.save_rule(&caller, q.device_id.as_deref(), Some(&name), rule).await?))
}

pub async fn delete(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> Result<Json<serde_json::Value>, HttpError> {
    state.services.delete_rule(&caller, q.device_id.as_deref(), &name).await?;
    Ok(Json(serde_json::json!({ "deleted": name })))
}

pub async fn enable(
    state: State<AppState>,
    who: Who,
    name: ApiPath<String>,
    q: ApiQuery<DeviceQuery>,
) -> Result<Json<RuleStatus>, HttpError> {
    set_enabled(state, who, name, q, true).await
}

pub async fn disable(
    state: State<AppState>,
    who: Who,
    name: ApiPath<String>,
    q: ApiQuery<DeviceQuery>,
) -> Result<Json<RuleStatus>, HttpError> {
    set_enabled(state, who, name, q, false).await
}

async fn set_enabled(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
    enabled: bool,
) -> Result<Json<RuleStatus>, HttpError> {
    Ok(Json(state.services.set_rule_enabled(&caller, q.device_id.as_deref(), &name, enabled).await?))
}

/// The header that carries the next page's cursor (the body stays a plain
/// array, as scripts written for the Python bridge expect).
pub const NEXT_CURSOR: &str = "x-next-cursor";

/// Newest first, filtered by `device_id`, `kind`, `outlet`, `since` and
/// `until` (unix seconds); `limit` per page (default 100, at most 1000);
/// the next page's `cursor` is in the `X-Next-Cursor` header.
pub async fn events(State(state): State<AppState>, ApiQuery(q): ApiQuery<EventQuery>) -> Result<Response, HttpError> {
    let page = state.services.events(q).await?;
    let mut response = Json::<Vec<Event>>(page.events).into_response();
    if let Some(cursor) = page.next_cursor.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(HeaderName::from_static(NEXT_CURSOR), cursor);
    }
    Ok(response)
}
