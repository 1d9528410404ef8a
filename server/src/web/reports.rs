//! Energy and reports: `GET /api/energy` (today, this week, this month),
//! `GET /api/energy/daily?days=30`,
//! `GET /api/reports` (the list) and `GET /api/reports/{id}` as JSON, or
//! `{id}.csv`, or `{id}.html` (print-ready). `?device_id=` as everywhere.

use super::api::DeviceQuery;
use super::error::{ApiQuery, HttpError};
use super::AppState;
use crate::history::reports;
use crate::history::store::Store;
use app::model::ApiError;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

fn store(state: &AppState) -> Result<&Store, ApiError> {
    reports::require(state.history.as_deref())
}

pub async fn energy(State(state): State<AppState>, ApiQuery(q): ApiQuery<DeviceQuery>) -> Result<Response, HttpError> {
    let summary = reports::summary(store(&state)?, &state.bridge, q.device_id.as_deref(), &state.reports).await?;
    Ok(Json(summary).into_response())
}

#[derive(Deserialize)]
pub struct DailyQuery {
    device_id: Option<String>,
    days: Option<u32>,
}

/// `GET /api/energy/daily?days=30`: a row per local day, today last.
pub async fn daily(State(state): State<AppState>, ApiQuery(q): ApiQuery<DailyQuery>) -> Result<Response, HttpError> {
    let days =
        reports::daily(store(&state)?, &state.bridge, q.device_id.as_deref(), &state.reports, q.days.unwrap_or(30));
    Ok(Json(days.await?).into_response())
}

async fn device_key(state: &AppState, device_id: Option<&str>) -> Result<i64, ApiError> {
    reports::device_key(store(state)?, &state.bridge, device_id).await
}

pub async fn list(State(state): State<AppState>, ApiQuery(q): ApiQuery<DeviceQuery>) -> Result<Response, HttpError> {
    let key = device_key(&state, q.device_id.as_deref()).await?;
    Ok(Json(reports::list(store(&state)?, key).await?).into_response())
}

pub async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> Result<Response, HttpError> {
    let (id, format) = match id.rsplit_once('.') {
        Some((id, format @ ("csv" | "html" | "json"))) => (id.to_owned(), format),
        _ => (id, "json"),
    };
    let key = device_key(&state, q.device_id.as_deref()).await?;
    let report = reports::fetch(store(&state)?, key, &id).await?;
    Ok(match format {
        "csv" => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], reports::csv(&report)).into_response(),
        "html" => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], reports::html(&report)).into_response(),
        _ => Json(report).into_response(),
    })
}
