//! The fleet API: `GET|POST /api/pdus`, `GET|PUT|DELETE /api/pdus/{device_id}`,
//! `POST /api/pdus/discover`. Answers never carry a community. A bad field
//! (or an unknown one) is 422 naming it, bad JSON 400, a device id or address or serial that is
//! taken 409, an unknown PDU 404; changes take effect at once and are
//! written to `pdus.json`.

use super::auth::Who;
use super::error::{ApiJson, ApiPath, HttpError};
use super::AppState;
use app::fleet::{DiscoverRequest, DiscoverResult, PduEntry, PduView};
use app::model::{ApiError, ErrorBody};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

/// `{"pdus": [...]}`, the shape of `pdus.json`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PduList {
    pub pdus: Vec<PduView>,
}

/// Every PDU, as `pdus.json` has it but never with its communities.
#[utoipa::path(get, path = "/api/pdus", tag = "fleet", operation_id = "pdus_list",
    responses((status = 200, description = "every PDU and how it is doing", body = PduList)))]
pub async fn list(State(state): State<AppState>) -> Json<PduList> {
    Json(PduList { pdus: state.services.pdu_list() })
}

#[utoipa::path(get, path = "/api/pdus/{device_id}", tag = "fleet", operation_id = "pdus_one",
    params(("device_id" = String, Path, description = "the PDU's id")),
    responses(
        (status = 200, description = "the PDU and how it is doing", body = PduView),
        (status = 404, description = "no such PDU", body = ErrorBody),
    ))]
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

/// Add a PDU: polled at once, written to `pdus.json`.
#[utoipa::path(post, path = "/api/pdus", tag = "fleet", operation_id = "pdus_add", request_body = PduEntry,
    responses(
        (status = 201, description = "the PDU added", body = PduView),
        (status = 400, description = "bad JSON", body = ErrorBody),
        (status = 409, description = "the device id, address or serial is taken", body = ErrorBody),
        (status = 422, description = "a bad or unknown field: `field` names it", body = ErrorBody),
    ))]
pub async fn add(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiJson(body): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<(StatusCode, Json<PduView>), HttpError> {
    let added = state.services.save_pdu(&caller, None, entry_of(body)?).await?;
    Ok((StatusCode::CREATED, Json(added)))
}

/// Change a PDU (without communities it keeps the ones it had).
#[utoipa::path(put, path = "/api/pdus/{device_id}", tag = "fleet", operation_id = "pdus_update",
    params(("device_id" = String, Path, description = "the PDU's id")), request_body = PduEntry,
    responses(
        (status = 200, description = "the PDU as changed", body = PduView),
        (status = 400, description = "bad JSON", body = ErrorBody),
        (status = 404, description = "no such PDU", body = ErrorBody),
        (status = 409, description = "the new device id, address or serial is taken", body = ErrorBody),
        (status = 422, description = "a bad or unknown field: `field` names it", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<PduView>, HttpError> {
    Ok(Json(state.services.save_pdu(&caller, Some(&id), entry_of(body)?).await?))
}

/// Stop polling a PDU and forget its settings; its history stays.
#[utoipa::path(delete, path = "/api/pdus/{device_id}", tag = "fleet", operation_id = "pdus_remove",
    params(("device_id" = String, Path, description = "the PDU's id")),
    responses((status = 204, description = "removed"), (status = 404, description = "no such PDU", body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, HttpError> {
    state.services.remove_pdu(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Look for CyberPower PDUs on at most a /22 (by sysObjectID and the CPS-MIB identity).
#[utoipa::path(post, path = "/api/pdus/discover", tag = "fleet", request_body = DiscoverRequest,
    responses(
        (status = 200, description = "what answered", body = DiscoverResult),
        (status = 400, description = "bad JSON or an unknown field", body = ErrorBody),
        (status = 409, description = "a scan is running already", body = ErrorBody),
        (status = 422, description = "a bad network or port: `field` names it", body = ErrorBody),
    ))]
pub async fn discover(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiJson(request): ApiJson<DiscoverRequest>,
) -> Result<Json<DiscoverResult>, HttpError> {
    Ok(Json(state.services.discover(&caller, request).await?))
}
