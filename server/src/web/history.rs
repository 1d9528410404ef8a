//! `GET /api/history/{banks,outlets,sources}[.csv]?range=24h` (or
//! `start`/`end` in unix seconds), optional `device_id`, and `outlet` for
//! one outlet: average, minimum and maximum per bucket; gaps are gaps.

use super::error::HttpError;
use super::AppState;
use crate::history::query::{self, named_range};
use crate::history::sample::Sample;
use crate::service::unix_ms;
use app::model::ApiError;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct HistoryQuery {
    device_id: Option<String>,
    range: Option<String>,
    start: Option<i64>,
    end: Option<i64>,
    outlet: Option<u32>,
}

pub async fn series(
    State(state): State<AppState>,
    Path(what): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Response, HttpError> {
    let (kind, as_csv) = match what.strip_suffix(".csv") {
        Some(kind) => (kind.to_owned(), true),
        None => (what, false),
    };
    let store = state.history.as_ref().ok_or_else(|| ApiError::Unavailable("history is off (see the log)".into()))?;
    let device = state.bridge.device(q.device_id.as_deref())?;
    let snapshot =
        device.latest().ok_or_else(|| ApiError::Unavailable(format!("no reading from PDU {} yet", device.id())))?;
    let shape = Sample::from_snapshot(&snapshot).shape;

    let now = (unix_ms() / 1000) as i64;
    let (start, end) = match (q.start, q.end, q.range.as_deref()) {
        (Some(start), Some(end), _) if start < end && end - start <= 400 * 86_400 => (start, end),
        (Some(_), Some(_), _) => {
            return Err(ApiError::bad_request("start", "start must be before end, at most 400 days apart").into())
        }
        (None, None, range) => {
            let span = named_range(range.unwrap_or("24h"))
                .ok_or_else(|| ApiError::bad_request("range", "one of 1h, 6h, 24h, 7d, 30d, 60d"))?;
            (now + 1 - span, now + 1)
        }
        _ => return Err(ApiError::bad_request("start", "give both start and end (unix seconds), or a range").into()),
    };

    let metrics: Vec<String> = match kind.as_str() {
        "banks" => (1..=shape.banks)
            .flat_map(|b| ["power", "current", "voltage"].map(|m| format!("bank.{b}.{m}")))
            .chain(["total.power".to_owned(), "total.current".to_owned()])
            .collect(),
        "outlets" => {
            let outlets: Vec<u32> = match q.outlet {
                Some(n) if n >= 1 && n <= u32::from(shape.outlets) => vec![n],
                Some(n) => return Err(ApiError::not_found("outlet", format!("no outlet {n}")).into()),
                None => (1..=u32::from(shape.outlets)).collect(),
            };
            outlets.into_iter().flat_map(|n| ["power", "current"].map(|m| format!("outlet.{n}.{m}"))).collect()
        }
        "sources" => {
            ["source.a.voltage", "source.b.voltage", "input.voltage", "source.a.frequency", "source.b.frequency"]
                .map(str::to_owned)
                .to_vec()
        }
        other => {
            return Err(
                ApiError::not_found("path", format!("no history of {other:?}; banks, outlets or sources")).into()
            )
        }
    };
    let history = query::query(store, device.id().as_str(), shape, &metrics, start, end)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(if as_csv {
        ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], query::csv(&history)).into_response()
    } else {
        Json(history).into_response()
    })
}
