//! Energy and reports: `GET /api/energy` (today, this week, this month),
//! `GET /api/reports` (the list) and `GET /api/reports/{id}` as JSON, or
//! `{id}.csv`, or `{id}.html` (print-ready). `?device_id=` as everywhere.

use super::error::HttpError;
use super::AppState;
use crate::history::reports;
use crate::history::store::Store;
use app::model::ApiError;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct DeviceQuery {
    device_id: Option<String>,
}

fn store(state: &AppState) -> Result<&Store, ApiError> {
    reports::require(state.history.as_deref())
}

pub async fn energy(State(state): State<AppState>, Query(q): Query<DeviceQuery>) -> Result<Response, HttpError> {
    let summary = reports::summary(store(&state)?, &state.bridge, q.device_id.as_deref(), &state.reports).await?;
    Ok(Json(summary).into_response())
}

async fn device_key(state: &AppState, device_id: Option<&str>) -> Result<i64, ApiError> {
    reports::device_key(store(state)?, &state.bridge, device_id).await
}

pub async fn list(State(state): State<AppState>, Query(q): Query<DeviceQuery>) -> Result<Response, HttpError> {
    let key = device_key(&state, q.device_id.as_deref()).await?;
    Ok(Json(reports::list(store(&state)?, key).await?).into_response())
}

pub async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<DeviceQuery>,
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
