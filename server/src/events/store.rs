//! Events in the history store: insert, filtered pages newest first with a
//! cursor, retention, and the one-time import of an `events.jsonl`.
//!
//! The one thing to know: every page is read in id order through an index
//! that ends in the id (see the migration in `history::store`), so a page
//! costs its own rows, not the table's; `tests` check each filter's plan.

use crate::history::store::{Store, StoreError};
use app::model::{DeviceId, Event};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::path::PathBuf;

/// The largest page.
pub const MAX_PAGE: u32 = 1000;

/// Which events, newest first. Every field narrows; none = everything.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    pub device_id: Option<String>,
    pub kind: Option<String>,
    pub outlet: Option<u32>,
    /// Unix milliseconds, inclusive.
    pub since_ms: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until_ms: Option<i64>,
    /// Only events older than this id (the previous page's cursor).
    pub before_id: Option<i64>,
    /// Page size, 1 to [`MAX_PAGE`].
    pub limit: u32,
}

/// One page and where the next one starts (`None`: this was the last).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub events: Vec<Event>,
    pub next_before_id: Option<i64>,
}

const COLUMNS: &str = "id, ts, device, kind, rule, outlet, origin, outcome, details";

/// The SQL for `filter` and the values to bind, in order.
pub fn sql(filter: &Filter) -> (String, Vec<SqlValue>) {
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    let mut add = |clause: &str, value: SqlValue| {
        clauses.push(clause.to_owned());
        values.push(value);
    };
    if let Some(d) = &filter.device_id {
        add("device = ?", SqlValue::Text(d.clone()));
    }
    if let Some(k) = &filter.kind {
        add("kind = ?", SqlValue::Text(k.clone()));
    }
    if let Some(o) = filter.outlet {
        add("outlet = ?", SqlValue::Int(i64::from(o)));
    }
    if let Some(s) = filter.since_ms {
        add("ts >= ?", SqlValue::Int(s));
    }
    if let Some(u) = filter.until_ms {
        add("ts < ?", SqlValue::Int(u));
    }
    if let Some(b) = filter.before_id {
        add("id < ?", SqlValue::Int(b));
    }
    let condition = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    // One more row than the page tells whether another page exists.
    let sql = format!(
        "SELECT {COLUMNS} FROM events{condition} ORDER BY id DESC LIMIT {}",
        filter.limit.clamp(1, MAX_PAGE) + 1
    );
    (sql, values)
}

/// A value bound to a query placeholder.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Int(i64),
    Text(String),
}

pub async fn query(store: &Store, filter: &Filter) -> Result<Page, StoreError> {
    let (sql, values) = sql(filter);
    let mut q = sqlx::query(&sql);
    for v in values {
        q = match v {
            SqlValue::Int(i) => q.bind(i),
            SqlValue::Text(t) => q.bind(t),
        };
    }
    let rows = q.fetch_all(store.pool()).await?;
    let limit = filter.limit.clamp(1, MAX_PAGE) as usize;
    let more = rows.len() > limit;
    let events: Vec<Event> = rows.iter().take(limit).filter_map(decode).collect();
    let next_before_id = if more { events.last().and_then(|e| e.id) } else { None };
    Ok(Page { events, next_before_id })
}

fn decode(row: &sqlx::sqlite::SqliteRow) -> Option<Event> {
    Some(Event {
        id: Some(row.get(0)),
        ts: row.get::<i64, _>(1) as f64 / 1000.0,
        device_id: DeviceId::parse(row.get::<&str, _>(2)).ok()?,
        kind: row.get(3),
        rule: row.get(4),
        outlet: row.get::<Option<i64>, _>(5).map(|o| o as u32),
        origin: row.get(6),
        outcome: row.get(7),
        details: row.get(8),
    })
}

/// The newest event's id (0 when there are none).
pub async fn max_id(store: &Store) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(id) FROM events").fetch_one(store.pool()).await?.unwrap_or(0))
}

/// Store `events` in one transaction, with their ids where they have one.
pub async fn insert(store: &Store, events: &[Event]) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    for e in events {
        sqlx::query(
            "INSERT INTO events (id, ts, device, kind, rule, outlet, origin, outcome, details)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(e.id)
        .bind((e.ts * 1000.0).round() as i64)
        .bind(e.device_id.as_str())
        .bind(&e.kind)
        .bind(&e.rule)
        .bind(e.outlet.map(i64::from))
        .bind(&e.origin)
        .bind(&e.outcome)
        .bind(&e.details)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Delete events older than `cutoff_ms`; returns how many.
pub async fn prune(store: &Store, cutoff_ms: i64) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM events WHERE ts < ?").bind(cutoff_ms).execute(store.pool()).await?.rows_affected())
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {error}")]
    File { path: String, error: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Import `path` (one JSON event a line, as earlier versions wrote) once:
/// readable lines go into the store, unreadable ones are kept in
/// `<path>.unreadable`, and the file is renamed `<path>.imported`, so a
/// restart does not import it again. `None` if there is no such file.
pub async fn import_jsonl(store: &Store, path: PathBuf) -> Result<Option<String>, ImportError> {
    let file_error = |path: &PathBuf| {
        let path = path.display().to_string();
        move |error| ImportError::File { path, error }
    };
    let text = match tokio::fs::read_to_string(&path).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(file_error(&path)(e)),
    };
    let mut events = Vec::new();
    let mut unreadable = String::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match serde_json::from_str::<Event>(line) {
            Ok(mut e) => {
                e.id = None;
                events.push(e);
            }
            Err(e) => unreadable.push_str(&format!("# line {}: {e}\n{line}\n", n + 1)),
        }
    }
    insert(store, &events).await?;
    let aside = path.with_extension("jsonl.unreadable");
    if !unreadable.is_empty() {
        use tokio::io::AsyncWriteExt;
        let mut f =
            tokio::fs::OpenOptions::new().create(true).append(true).open(&aside).await.map_err(file_error(&aside))?;
        f.write_all(unreadable.as_bytes()).await.map_err(file_error(&aside))?;
        f.sync_all().await.map_err(file_error(&aside))?;
    }
    let done = path.with_extension("jsonl.imported");
    tokio::fs::rename(&path, &done).await.map_err(file_error(&path))?;
    let kept =
        if unreadable.is_empty() { String::new() } else { format!("; unreadable lines kept in {}", aside.display()) };
    Ok(Some(format!("events: {} events imported from {} (now {}){kept}", events.len(), path.display(), done.display())))
}
