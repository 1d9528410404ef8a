//! `GET /api/history/{banks,outlets,sources,environment}[.csv]?range=24h` (or
//! `start`/`end` in unix seconds), optional `device_id`, and `outlet` for
//! one outlet: average, minimum and maximum per bucket; gaps are gaps.
//! CSV is streamed in pieces as it is written, its times in the bridge's
//! time zone, and downloads under a name that says device, series and range.

use super::error::{ApiPath, ApiQuery, HttpError};
use super::AppState;
use crate::history::query::{self, Window};
use app::history::History;
use app::history::HistoryKind;
use app::model::{ApiError, ErrorBody};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The PDU's id; optional while the bridge has one PDU.
    device_id: Option<String>,
    // Not `#[serde(flatten)]`: query strings then lose their numbers.
    /// `1h`, `6h`, `24h`, `7d`, `30d` or `60d` back from now (default 24h).
    range: Option<String>,
    /// Instead of `range`: the window's start, unix seconds (with `end`).
    start: Option<i64>,
    /// The window's end, unix seconds.
    end: Option<i64>,
    /// One outlet only (`outlets`).
    outlet: Option<u32>,
}

#[utoipa::path(get, path = "/api/history/{what}", tag = "history",
    params(("what" = String, Path,
            description = "`banks`, `outlets`, `sources` or `environment` (the probe's temperature and humidity, \
                           empty series for a PDU that never had one), with `.csv` for CSV",
            pattern = "^(banks|outlets|sources|environment)(\\.csv)?$"), HistoryQuery),
    responses(
        (status = 200, description = "average, minimum and maximum per bucket; gaps are gaps",
         content((History = "application/json"), (String = "text/csv"))),
        (status = 400, description = "a bad window or query: `field` names it", body = ErrorBody),
        (status = 404, description = "no such series, PDU or outlet", body = ErrorBody),
        (status = 503, description = "history is switched off", body = ErrorBody),
    ))]
pub async fn series(
    State(state): State<AppState>,
    ApiPath(what): ApiPath<String>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Response, HttpError> {
    let (name, as_csv) = match what.strip_suffix(".csv") {
        Some(name) => (name, true),
        None => (what.as_str(), false),
    };
    let kind = HistoryKind::parse(name).ok_or_else(|| {
        ApiError::not_found("path", format!("no history of {name:?}; banks, outlets, sources or environment"))
    })?;
    let window = Window { range: q.range, start: q.start, end: q.end };
    let history = state.services.history(q.device_id.as_deref(), kind, &window, q.outlet).await?;
    Ok(if as_csv {
        let zone = state.services.reports.zone.clone();
        let disposition =
            format!("attachment; filename=\"{}\"", query::file_name(&history, kind, q.outlet, &window, &zone));
        let pieces = query::csv(history, zone).map(|piece| Ok::<_, std::convert::Infallible>(Bytes::from(piece)));
        let headers =
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)];
        (headers, Body::from_stream(futures::stream::iter(pieces))).into_response()
    } else {
        Json(history).into_response()
    })
}
