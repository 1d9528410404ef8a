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
use app::history::{EnergyDay, EnergySummary, Report, ReportSummary};
use app::model::ErrorBody;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde::Deserialize;

/// Today, this week and this month (local time), and the reports made.
#[utoipa::path(get, path = "/api/energy", tag = "energy", params(DeviceQuery),
    responses(
        (status = 200, description = "energy so far", body = EnergySummary),
        (status = 400, description = "a bad query, or several PDUs and no `device_id`", body = ErrorBody), (status = 404, description = "no such PDU", body = ErrorBody), (status = 503, description = "history is switched off", body = ErrorBody),
    ))]
pub async fn energy(State(state): State<AppState>, ApiQuery(q): ApiQuery<DeviceQuery>) -> Result<Response, HttpError> {
    Ok(Json(state.services.energy(q.device_id.as_deref()).await?).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DailyQuery {
    /// The PDU's id; optional while the bridge has one PDU.
    device_id: Option<String>,
    /// How many local days, today last (1–400, default 30).
    #[param(minimum = 1, maximum = 400)]
    days: Option<u32>,
}

/// `GET /api/energy/daily?days=30`: a row per local day, today last.
#[utoipa::path(get, path = "/api/energy/daily", tag = "energy", params(DailyQuery),
    responses(
        (status = 200, description = "a row per local day, today last", body = Vec<EnergyDay>),
        (status = 400, description = "a bad query, or several PDUs and no `device_id`", body = ErrorBody), (status = 404, description = "no such PDU", body = ErrorBody), (status = 503, description = "history is switched off", body = ErrorBody),
    ))]
pub async fn daily(State(state): State<AppState>, ApiQuery(q): ApiQuery<DailyQuery>) -> Result<Response, HttpError> {
    Ok(Json(state.services.daily(q.device_id.as_deref(), q.days.unwrap_or(30)).await?).into_response())
}

/// The weekly and monthly reports made so far, newest first.
#[utoipa::path(get, path = "/api/reports", tag = "energy", operation_id = "reports_list", params(DeviceQuery),
    responses(
        (status = 200, description = "the reports, newest first", body = Vec<ReportSummary>),
        (status = 400, description = "a bad query, or several PDUs and no `device_id`", body = ErrorBody), (status = 404, description = "no such PDU", body = ErrorBody), (status = 503, description = "history is switched off", body = ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>, ApiQuery(q): ApiQuery<DeviceQuery>) -> Result<Response, HttpError> {
    Ok(Json(state.services.reports(q.device_id.as_deref()).await?).into_response())
}

/// One report as JSON, or `{id}.csv`, `{id}.html` (print-ready), `{id}.json` (a download).
#[utoipa::path(get, path = "/api/reports/{id}", tag = "energy", operation_id = "reports_one",
    params(("id" = String, Path, description = "`week-2026-11-16` or `month-2026-11`, optionally with `.csv`, `.html` or `.json`"),
           DeviceQuery),
    responses(
        (status = 200, description = "the report",
         content((Report = "application/json"), (String = "text/csv"), (String = "text/html"))),
        (status = 400, description = "a bad report id or query", body = ErrorBody),
        (status = 404, description = "no such report or PDU", body = ErrorBody),
        (status = 503, description = "history is switched off", body = ErrorBody),
    ))]
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
