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
use app::model::{ApiError, ErrorBody, Event, EventQuery};
use app::rules::{Rule, RuleStatus};
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// A PDU's rules with their live state.
#[utoipa::path(get, path = "/api/rules", tag = "rules", operation_id = "rules_list", params(DeviceQuery),
    responses(
        (status = 200, description = "every rule with its live state", body = Vec<RuleStatus>),
        (status = 400, description = "a bad query, or several PDUs and no `device_id`", body = ErrorBody),
        (status = 404, description = "no such PDU", body = ErrorBody),
        (status = 503, description = "the rules file cannot be read; edits are refused until it is fixed", body = ErrorBody),
    ))]
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
#[utoipa::path(put, path = "/api/rules", tag = "rules", operation_id = "rules_replace", params(DeviceQuery),
    request_body = Vec<Rule>,
    responses(
        (status = 200, description = "the new rules with their live state", body = Vec<RuleStatus>),
        (status = 400, description = "bad JSON, a bad query, or several PDUs and no `device_id`", body = ErrorBody),
        (status = 404, description = "no such PDU", body = ErrorBody),
        (status = 409, description = "two rules with one name", body = ErrorBody),
        (status = 422, description = "a rule is invalid: `field` names what", body = ErrorBody),
    ))]
pub async fn replace(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiQuery(q): ApiQuery<DeviceQuery>,
    ApiJson(rules): ApiJson<Vec<Rule>>,
) -> Result<Json<Vec<RuleStatus>>, HttpError> {
    Ok(Json(state.services.replace_rules(&caller, q.device_id.as_deref(), rules).await?))
}

/// Add a rule.
#[utoipa::path(post, path = "/api/rules", tag = "rules", operation_id = "rules_create", params(DeviceQuery),
    request_body = Rule,
    responses(
        (status = 201, description = "the new rule with its live state", body = RuleStatus),
        (status = 400, description = "bad JSON, a bad query, or several PDUs and no `device_id`", body = ErrorBody),
        (status = 404, description = "no such PDU", body = ErrorBody),
        (status = 409, description = "a rule of that name exists, or the rules file cannot be read", body = ErrorBody),
        (status = 422, description = "the rule is invalid: `field` names what", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiQuery(q): ApiQuery<DeviceQuery>,
    ApiJson(rule): ApiJson<Rule>,
) -> Result<(StatusCode, Json<RuleStatus>), HttpError> {
    let created = state.services.save_rule(&caller, q.device_id.as_deref(), None, rule).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Change a rule (a new name in the body renames it).
#[utoipa::path(put, path = "/api/rules/{name}", tag = "rules", operation_id = "rules_update",
    params(("name" = String, Path, description = "the rule's name, URL-encoded"), DeviceQuery),
    request_body = Rule,
    responses(
        (status = 200, description = "the changed rule with its live state", body = RuleStatus),
        (status = 400, description = "bad JSON, a bad query, or several PDUs and no `device_id`", body = ErrorBody),
        (status = 404, description = "no such PDU or rule", body = ErrorBody),
        (status = 409, description = "the new name is taken, or the rules file cannot be read", body = ErrorBody),
        (status = 422, description = "the rule is invalid: `field` names what", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
    ApiJson(rule): ApiJson<Rule>,
) -> Result<Json<RuleStatus>, HttpError> {
    Ok(Json(state.services.save_rule(&caller, q.device_id.as_deref(), Some(&name), rule).await?))
}

/// What `DELETE /api/rules/{name}` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Deleted {
    /// The rule's name.
    deleted: String,
}

#[utoipa::path(delete, path = "/api/rules/{name}", tag = "rules", operation_id = "rules_delete",
    params(("name" = String, Path, description = "the rule's name, URL-encoded"), DeviceQuery),
    responses(
        (status = 200, description = "the rule is gone", body = Deleted),
        (status = 400, description = "a bad query, or several PDUs and no `device_id`", body = ErrorBody),
        (status = 404, description = "no such PDU or rule", body = ErrorBody),
        (status = 409, description = "the rules file cannot be read", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> Result<Json<Deleted>, HttpError> {
    state.services.delete_rule(&caller, q.device_id.as_deref(), &name).await?;
    Ok(Json(Deleted { deleted: name }))
}

#[utoipa::path(post, path = "/api/rules/{name}/enable", tag = "rules", operation_id = "rules_enable",
    params(("name" = String, Path, description = "the rule's name, URL-encoded"), DeviceQuery),
    responses(
        (status = 200, description = "the rule with its live state", body = RuleStatus),
        (status = 400, description = "a bad query, or several PDUs and no `device_id`", body = ErrorBody),
        (status = 404, description = "no such PDU or rule", body = ErrorBody),
        (status = 409, description = "the rules file cannot be read", body = ErrorBody),
    ))]
pub async fn enable(
    state: State<AppState>,
    who: Who,
    name: ApiPath<String>,
    q: ApiQuery<DeviceQuery>,
) -> Result<Json<RuleStatus>, HttpError> {
    set_enabled(state, who, name, q, true).await
}

#[utoipa::path(post, path = "/api/rules/{name}/disable", tag = "rules", operation_id = "rules_disable",
    params(("name" = String, Path, description = "the rule's name, URL-encoded"), DeviceQuery),
    responses(
        (status = 200, description = "the rule with its live state", body = RuleStatus),
        (status = 400, description = "a bad query, or several PDUs and no `device_id`", body = ErrorBody),
        (status = 404, description = "no such PDU or rule", body = ErrorBody),
        (status = 409, description = "the rules file cannot be read", body = ErrorBody),
    ))]
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
#[utoipa::path(get, path = "/api/events", tag = "events", params(EventQuery),
    responses(
        (status = 200, description = "events, newest first", body = Vec<Event>,
         headers(("x-next-cursor" = String, description = "the next page's `cursor`, when there is one"))),
        (status = 400, description = "a bad filter: `field` names it", body = ErrorBody),
        (status = 404, description = "no such PDU", body = ErrorBody),
    ))]
pub async fn events(State(state): State<AppState>, ApiQuery(q): ApiQuery<EventQuery>) -> Result<Response, HttpError> {
    let page = state.services.events(q).await?;
    let mut response = Json::<Vec<Event>>(page.events).into_response();
    if let Some(cursor) = page.next_cursor.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(HeaderName::from_static(NEXT_CURSOR), cursor);
    }
    Ok(response)
}
