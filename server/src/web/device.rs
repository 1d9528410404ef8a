//! JSON endpoints for running a PDU: its settings (`GET|PUT /api/config`),
//! outlet names (`PUT /api/outlets/{n}/name`, `GET /api/outlet-names`), the
//! device's name, location and contact (`PUT /api/device/{what}`) and every
//! outlet at once (`POST /api/outlets/command`). Thin: each calls one
//! service method; `?device_id=` picks the PDU as everywhere.

use super::api::DeviceQuery;
use super::auth::Who;
use super::error::{ApiJson, ApiPath, ApiQuery, HttpError};
use super::AppState;
use crate::bridge::Origin;
use app::model::{ApiError, ErrorBody};
use app::settings::{
    AllOutletsAction, AllOutletsRequest, AllOutletsResult, PduSettings, RenameRequest, RenameResult, SettingChange,
    SettingsRequest, SettingsResult,
};
use axum::extract::State;
use axum::Json;
use std::collections::BTreeMap;

#[utoipa::path(get, path = "/api/config", tag = "device",
    params(DeviceQuery),
    responses(
        (status = 200, description = "the settings as last read (`read_at_ms` absent: not read yet)", body = PduSettings),
        (status = 404, description = "no such PDU", body = ErrorBody),
    ))]
pub async fn settings(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> Result<Json<PduSettings>, HttpError> {
    Ok(Json(state.services.settings(q.device_id.as_deref())?))
}

#[utoipa::path(put, path = "/api/config", tag = "device",
    params(DeviceQuery),
    request_body = SettingsRequest,
    responses(
        (status = 200, description = "each change as read back from the PDU", body = SettingsResult),
        (status = 400, description = "bad JSON or an unknown field", body = ErrorBody),
        (status = 403, description = "the role is not enough", body = ErrorBody),
        (status = 404, description = "no such PDU, outlet or setting", body = ErrorBody),
        (status = 409, description = "a different PDU answers at this PDU's address", body = ErrorBody),
        (status = 422, description = "a value out of the MIB's range, naming the field", body = ErrorBody),
        (status = 502, description = "the PDU refused the SET or read back another value", body = ErrorBody),
        (status = 503, description = "the PDU cannot be reached", body = ErrorBody),
    ))]
pub async fn change_settings(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiQuery(q): ApiQuery<DeviceQuery>,
    ApiJson(body): ApiJson<SettingsRequest>,
) -> Result<Json<SettingsResult>, HttpError> {
    let device = q.device_id.as_deref();
    Ok(Json(state.services.change_settings(&caller, Origin::Api, device, body.changes).await?))
}

/// `PUT /api/device/name` `{"name": …}`, `/location` `{"location": …}`,
/// `/contact` `{"contact": …}`: written to the PDU and read back.
#[utoipa::path(put, path = "/api/device/{what}", tag = "device",
    params(("what" = String, Path, description = "name, location or contact"), DeviceQuery),
    request_body = BTreeMap<String, String>,
    responses(
        (status = 200, description = "the change as read back from the PDU", body = SettingsResult),
        (status = 400, description = "bad JSON or an unknown field", body = ErrorBody),
        (status = 403, description = "the role is not enough", body = ErrorBody),
        (status = 404, description = "no such PDU, outlet or setting", body = ErrorBody),
        (status = 409, description = "a different PDU answers at this PDU's address", body = ErrorBody),
        (status = 422, description = "a value out of the MIB's range, naming the field", body = ErrorBody),
        (status = 502, description = "the PDU refused the SET or read back another value", body = ErrorBody),
        (status = 503, description = "the PDU cannot be reached", body = ErrorBody),
    ))]
pub async fn device_text(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiPath(what): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
    ApiJson(body): ApiJson<BTreeMap<String, String>>,
) -> Result<Json<SettingsResult>, HttpError> {
    let make: fn(String) -> SettingChange = match what.as_str() {
        "name" => |value| SettingChange::DeviceName { value },
        "location" => |value| SettingChange::Location { value },
        "contact" => |value| SettingChange::Contact { value },
        _ => {
            return Err(
                ApiError::not_found("what", format!("no device setting {what:?}: name, location or contact")).into()
            )
        }
    };
    if let Some(other) = body.keys().find(|k| **k != what) {
        return Err(
            ApiError::bad_request(other, format!("unknown field {other:?}; expected {{\"{what}\": \"…\"}}")).into()
        );
    }
    let value =
        body.get(&what).cloned().ok_or_else(|| ApiError::bad_request(&what, format!("missing field {what:?}")))?;
    let device = q.device_id.as_deref();
    Ok(Json(state.services.change_settings(&caller, Origin::Api, device, vec![make(value)]).await?))
}

#[utoipa::path(put, path = "/api/outlets/{outlet}/name", tag = "device",
    params(("outlet" = u32, Path, description = "the outlet's number, from 1", minimum = 1), DeviceQuery),
    request_body = RenameRequest,
    responses(
        (status = 200, description = "the name shown now, and on the PDU when written there", body = RenameResult),
        (status = 400, description = "bad JSON or an unknown field", body = ErrorBody),
        (status = 403, description = "the role is not enough", body = ErrorBody),
        (status = 404, description = "no such PDU, outlet or setting", body = ErrorBody),
        (status = 409, description = "a different PDU answers at this PDU's address", body = ErrorBody),
        (status = 422, description = "a value out of the MIB's range, naming the field", body = ErrorBody),
        (status = 502, description = "the PDU refused the SET or read back another value", body = ErrorBody),
        (status = 503, description = "the PDU cannot be reached", body = ErrorBody),
        (status = 500, description = "the names file could not be written", body = ErrorBody),
    ))]
pub async fn rename_outlet(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiPath(outlet): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
    ApiJson(body): ApiJson<RenameRequest>,
) -> Result<Json<RenameResult>, HttpError> {
    let outlet = super::api::outlet_number(&outlet)?;
    let device = q.device_id.as_deref();
    Ok(Json(state.services.rename_outlet(&caller, Origin::Api, device, outlet, body).await?))
}

#[utoipa::path(get, path = "/api/outlet-names", tag = "device",
    params(DeviceQuery),
    responses(
        (status = 200, description = "the name each outlet is shown with, by number", body = BTreeMap<String, String>),
        (status = 404, description = "no such PDU", body = ErrorBody),
        (status = 503, description = "the PDU cannot be reached or has not answered yet", body = ErrorBody),
    ))]
pub async fn outlet_names(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> Result<Json<BTreeMap<String, String>>, HttpError> {
    Ok(Json(state.services.outlet_names(q.device_id.as_deref())?))
}

#[utoipa::path(post, path = "/api/outlets/command", tag = "device",
    params(DeviceQuery),
    request_body = AllOutletsRequest,
    responses(
        (status = 200, description = "each outlet's state read back", body = AllOutletsResult),
        (status = 400, description = "an unknown action or bad JSON", body = ErrorBody),
        (status = 403, description = "the role is not enough, or protected outlets without an admin's `confirm_protected`", body = ErrorBody),
        (status = 404, description = "no such PDU", body = ErrorBody),
        (status = 409, description = "a different PDU answers at this PDU's address", body = ErrorBody),
        (status = 502, description = "the PDU refused the command", body = ErrorBody),
        (status = 503, description = "the PDU cannot be reached", body = ErrorBody),
    ))]
pub async fn all_outlets(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiQuery(q): ApiQuery<DeviceQuery>,
    ApiJson(body): ApiJson<AllOutletsRequest>,
) -> Result<Json<AllOutletsResult>, HttpError> {
    let action = AllOutletsAction::parse(&body.action).ok_or_else(|| {
        ApiError::bad_request(
            "action",
            format!("{:?} is not an action for every outlet: delayon, delayoff or cancel", body.action),
        )
    })?;
    let device = q.device_id.as_deref();
    Ok(Json(state.services.all_outlets(&caller, Origin::Api, device, action, body.confirm_protected).await?))
}
