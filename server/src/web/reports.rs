//! Energy and reports: `GET /api/energy` (today, this week, this month),
//! `GET /api/energy/daily?days=30`,
//! `GET /api/reports` (the list) and `GET /api/reports/{id}` as JSON, or
//! `{id}.csv`, or `{id}.html` (print-ready). `?device_id=` as everywhere.

use super::api::DeviceQuery;
use super::error::{ApiPath, ApiQuery, HttpError};
use super::AppState;
use crate::history::reports;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

pub async fn energy(State(state): State<AppState>, ApiQuery(q): ApiQuery<DeviceQuery>) -> Result<Response, HttpError> {
    Ok(Json(state.services.energy(q.device_id.as_deref()).await?).into_response())
}

#[derive(Deserialize)]
pub struct DailyQuery {
    device_id: Option<String>,
    days: Option<u32>,
}

/// `GET /api/energy/daily?days=30`: a row per local day, today last.
pub async fn daily(State(state): State<AppState>, ApiQuery(q): ApiQuery<DailyQuery>) -> Result<Response, HttpError> {
    Ok(Json(state.services.daily(q.device_id.as_deref(), q.days.unwrap_or(30)).await?).into_response())
}

pub async fn list(State(state): State<AppState>, ApiQuery(q): ApiQuery<DeviceQuery>) -> Result<Response, HttpError> {
    Ok(Json(state.services.reports(q.device_id.as_deref()).await?).into_response())
}

pub async fn one(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> Result<Response, HttpError> {
    let (id, format) = match id.rsplit_once('.') {
        Some((id, format @ ("csv" | "html" | "json"))) => (id.to_owned(), format),
        _ => (id, "json"),
    };
    let report = state.services.report(q.device_id.as_deref(), &id).await?;
    Ok(match format {
        "csv" => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], reports::csv(&report)).into_response(),
        "html" => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], reports::html(&report)).into_response(),
        _ => Json(report).into_response(),
    })
}
