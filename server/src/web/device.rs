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
use app::model::ApiError;
use app::settings::{
    AllOutletsAction, AllOutletsRequest, AllOutletsResult, PduSettings, RenameRequest, RenameResult, SettingChange,
    SettingsRequest, SettingsResult,
};
use axum::extract::State;
use axum::Json;
use std::collections::BTreeMap;

pub async fn settings(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> Result<Json<PduSettings>, HttpError> {
    Ok(Json(state.services.settings(q.device_id.as_deref())?))
}

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

pub async fn outlet_names(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> Result<Json<BTreeMap<String, String>>, HttpError> {
    Ok(Json(state.services.outlet_names(q.device_id.as_deref())?))
}

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
