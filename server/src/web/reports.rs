//! Energy and reports: `GET /api/energy` (today, this week, this month),
//! `GET /api/energy/daily?days=30`,
//! `GET /api/reports` (the list) and `GET /api/reports/{id}` as JSON, or
//! `{id}.csv`, or `{id}.html` (print-ready). `?device_id=` as everywhere.
//! The CSV and the `.json` download under `<device>-<id>.csv` / `.json`.

use super::api::DeviceQuery;
use super::error::{ApiPath, ApiQuery, HttpError};
use super::guard::CspNonce;
use super::AppState;
use crate::history::reports;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
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
    nonce: Option<Extension<CspNonce>>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> Result<Response, HttpError> {
    let (id, format) = match id.rsplit_once('.') {
        Some((id, format @ ("csv" | "html" | "json"))) => (id.to_owned(), Some(format)),
        _ => (id, None),
    };
    let report = state.services.report(q.device_id.as_deref(), &id).await?;
    // Device ids and report ids are checked: the name needs no quoting.
    let attachment = |ext: &str| format!("attachment; filename=\"{}-{}.{ext}\"", report.device_id, report.id);
    Ok(match format {
        Some("csv") => {
            let headers = [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, attachment("csv")),
            ];
            (headers, reports::csv(&report)).into_response()
        }
        Some("html") => {
            // The guard puts a nonce on every request; without it (no guard)
            // there is no CSP either, and the script runs as it is.
            let nonce = nonce.map(|Extension(n)| n.0).unwrap_or_default();
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], reports::html(&report, &nonce)).into_response()
        }
        Some(_) => ([(header::CONTENT_DISPOSITION, attachment("json"))], Json(report)).into_response(),
        None => Json(report).into_response(),
    })
}
