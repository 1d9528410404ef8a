//! JSON endpoints for alarms: the list (`GET /api/alarms`), acknowledging
//! one (`POST /api/alarms/{id}/acknowledge`, operators) and a test
//! notification to the configured channels (`POST /api/alarms/test`,
//! admins). Thin: each calls one service method.

use super::auth::Who;
use super::error::{ApiPath, HttpError};
use super::AppState;
use app::alarms::{Alarm, AlarmList};
use app::model::{ApiError, ErrorBody};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

#[utoipa::path(get, path = "/api/alarms", tag = "alarms",
    responses((status = 200, description = "active alarms (most severe first) and recent past ones", body = AlarmList)))]
pub async fn list(State(state): State<AppState>) -> Json<AlarmList> {
    Json(state.services.alarms())
}

#[utoipa::path(post, path = "/api/alarms/{id}/acknowledge", tag = "alarms",
    params(("id" = u64, Path, description = "the alarm's id")),
    responses(
        (status = 200, description = "the alarm, with who acknowledged it and when (the first acknowledgement stays)", body = Alarm),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 403, description = "the role is not enough", body = ErrorBody),
        (status = 404, description = "no such alarm", body = ErrorBody),
        (status = 409, description = "the alarm has already cleared", body = ErrorBody),
    ))]
pub async fn acknowledge(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Alarm>, HttpError> {
    let id: u64 =
        id.parse().map_err(|_| ApiError::bad_request("id", format!("{id:?} is not an alarm id (a number)")))?;
    Ok(Json(state.services.acknowledge_alarm(&caller, id).await?))
}

#[utoipa::path(post, path = "/api/alarms/test", tag = "alarms",
    responses(
        (status = 204, description = "delivered to every configured channel"),
        (status = 403, description = "the role is not enough", body = ErrorBody),
        (status = 409, description = "no notification channel is configured", body = ErrorBody),
        (status = 502, description = "a channel failed, named with why", body = ErrorBody),
    ))]
pub async fn test(State(state): State<AppState>, Who(caller): Who) -> Result<StatusCode, HttpError> {
    state.services.test_notification(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}
