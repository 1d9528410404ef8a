//! The fleet API: `GET|POST /api/pdus`, `GET|PUT|DELETE /api/pdus/{device_id}`,
//! `POST /api/pdus/discover`. Answers never carry a community. A bad field
//! (or an unknown one) is 422 naming it, bad JSON 400, a device id or address or serial that is
//! taken 409, an unknown PDU 404; changes take effect at once and are
//! written to `pdus.json`.

use super::auth::Who;
use super::error::{ApiJson, ApiPath, HttpError};
use super::AppState;
use app::fleet::{DiscoverRequest, DiscoverResult, PduEntry, PduView};
use app::model::ApiError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

/// `{"pdus": [...]}`, the shape of `pdus.json`.
#[derive(Serialize)]
pub struct PduList {
    pub pdus: Vec<PduView>,
}

pub async fn list(State(state): State<AppState>) -> Json<PduList> {
    Json(PduList { pdus: state.services.pdu_list() })
}

pub async fn one(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> Result<Json<PduView>, HttpError> {
    Ok(Json(state.services.pdu(&id)?))
}

/// A body of PDU settings: every field known (a typo is named, not ignored).
fn entry_of(body: serde_json::Map<String, serde_json::Value>) -> Result<PduEntry, ApiError> {
    if let Some(unknown) = body.keys().find(|k| !PduEntry::FIELDS.contains(&k.as_str())) {
        return Err(ApiError::Invalid {
            field: unknown.clone(),
            message: format!("{unknown:?} is not a PDU setting; known are {}", PduEntry::FIELDS.join(", ")),
        });
    }
    serde_json::from_value(serde_json::Value::Object(body)).map_err(|e| ApiError::bad_request("body", e.to_string()))
}

pub async fn add(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiJson(body): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<(StatusCode, Json<PduView>), HttpError> {
    let added = state.services.save_pdu(&caller, None, entry_of(body)?).await?;
    Ok((StatusCode::CREATED, Json(added)))
}

pub async fn update(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<PduView>, HttpError> {
    Ok(Json(state.services.save_pdu(&caller, Some(&id), entry_of(body)?).await?))
}

pub async fn remove(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, HttpError> {
    state.services.remove_pdu(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn discover(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiJson(request): ApiJson<DiscoverRequest>,
) -> Result<Json<DiscoverResult>, HttpError> {
    Ok(Json(state.services.discover(&caller, request).await?))
}
