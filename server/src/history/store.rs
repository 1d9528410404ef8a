//! The history store behind one interface (SQLite now; PostgreSQL can
//! implement the same operations): raw 1 Hz samples, one compact row per PDU
//! per second, and 1-minute and 15-minute rollups (count, average, minimum,
//! maximum of every metric).
//!
//! A rollup bucket is always computed by the same function from what lies
//! below it (raw rows for a minute, minute rows for a quarter hour), whether
//! the writer computes it as the minute completes or a test recomputes it
//! later: duplicates, gaps and late samples cannot make them disagree.

use super::sample::Sample;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::time::Duration;

/// Versioned schema: entry `i` upgrades `user_version` `i` to `i + 1`.
const MIGRATIONS: &[&str] = &["CREATE TABLE devices (id INTEGER PRIMARY KEY, device_id TEXT NOT NULL UNIQUE);
     CREATE TABLE samples (device INTEGER NOT NULL, ts INTEGER NOT NULL, data BLOB NOT NULL,
                           PRIMARY KEY (device, ts)) WITHOUT ROWID;
     CREATE TABLE rollup_1m (device INTEGER NOT NULL, ts INTEGER NOT NULL, count INTEGER NOT NULL,
                             avg BLOB NOT NULL, min BLOB NOT NULL, max BLOB NOT NULL,
                             PRIMARY KEY (device, ts)) WITHOUT ROWID;
     CREATE TABLE rollup_15m (device INTEGER NOT NULL, ts INTEGER NOT NULL, count INTEGER NOT NULL,
                              avg BLOB NOT NULL, min BLOB NOT NULL, max BLOB NOT NULL,
                              PRIMARY KEY (device, ts)) WITHOUT ROWID;"];

/// Rows per INSERT statement (three variables each, well under SQLite's limit).
pub const INSERT_ROWS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("history database: {0}")]
    Db(#[from] sqlx::Error),
}

/// Count, average, minimum and maximum of every metric over a bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollup {
    pub count: u32,
    pub avg: Sample,
    pub min: Sample,
    pub max: Sample,
}

/// Aggregate samples (or rollups, weighted by their counts) of one shape:
/// the shape of the last one wins; others are left out.
pub fn aggregate(parts: &[(u32, &Sample, &Sample, &Sample)]) -> Option<Rollup> {
    let shape = parts.last()?.1.shape;
    let n = shape.len();
    let mut sum = vec![(0i128, 0u64); n];
    let mut min = vec![None::<i64>; n];
    let mut max = vec![None::<i64>; n];
    let mut count = 0u32;
    for (weight, avg, lo, hi) in parts.iter().filter(|p| p.1.shape == shape) {
        count += weight;
        for i in 0..n {
            if let Some(v) = avg.values[i] {
                sum[i].0 += i128::from(v) * i128::from(*weight);
                sum[i].1 += u64::from(*weight);
            }
            if let Some(v) = lo.values[i] {
                min[i] = Some(min[i].map_or(v, |m| m.min(v)));
            }
            if let Some(v) = hi.values[i] {
                max[i] = Some(max[i].map_or(v, |m| m.max(v)));
            }
        }
    }
    let avg = sum.iter().map(|(s, c)| (*c > 0).then(|| ((*s as f64) / (*c as f64)).round() as i64)).collect();
    Some(Rollup {
        count,
        avg: Sample { shape, values: avg },
        min: Sample { shape, values: min },
        max: Sample { shape, values: max },
    })
}

pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Open (or create) the store at `path`, in WAL mode, and bring its
    /// schema up to date.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let version: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&self.pool).await?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            // One script on one connection: the step and its version commit together.
            let script = format!("BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;", i + 1);
            sqlx::raw_sql(&script).execute(&self.pool).await?;
        }
        Ok(())
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The store's key for a device id (created on first use).
    pub async fn device(&self, device_id: &str) -> Result<i64, StoreError> {
        sqlx::query("INSERT OR IGNORE INTO devices (device_id) VALUES (?)").bind(device_id).execute(&self.pool).await?;
        Ok(sqlx::query_scalar("SELECT id FROM devices WHERE device_id = ?")
            .bind(device_id)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Write samples; a second sample for the same second replaces the
    /// first. Up to [`INSERT_ROWS`] rows go in one statement, which SQLite
    /// commits atomically (a writer batch is far smaller).
    pub async fn insert(&self, rows: &[(i64, i64, Vec<u8>)]) -> Result<(), StoreError> {
        for chunk in rows.chunks(INSERT_ROWS) {
            let values = vec!["(?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!("INSERT OR REPLACE INTO samples (device, ts, data) VALUES {values}");
            let mut query = sqlx::query(&sql);
            for (device, ts, data) in chunk {
                query = query.bind(device).bind(ts).bind(data.as_slice());
            }
            query.execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Raw samples in `[start, end)`, in time order.
    pub async fn raw(&self, device: i64, start: i64, end: i64) -> Result<Vec<(i64, Sample)>, StoreError> {
        let rows = sqlx::query("SELECT ts, data FROM samples WHERE device = ? AND ts >= ? AND ts < ? ORDER BY ts")
            .bind(device)
            .bind(start)
            .bind(end)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().filter_map(|r| Some((r.get::<i64, _>(0), Sample::decode(r.get::<&[u8], _>(1))?))).collect())
    }

    /// Rollups of `table` (`rollup_1m` or `rollup_15m`) in `[start, end)`.
    pub async fn rollups(
        &self,
        table: Table,
        device: i64,
        start: i64,
        end: i64,
    ) -> Result<Vec<(i64, Rollup)>, StoreError> {
        let sql = format!(
            "SELECT ts, count, avg, min, max FROM {} WHERE device = ? AND ts >= ? AND ts < ? ORDER BY ts",
            table.name()
        );
        let rows = sqlx::query(&sql).bind(device).bind(start).bind(end).fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let rollup = Rollup {
                    count: r.get::<i64, _>(1) as u32,
                    avg: Sample::decode(r.get::<&[u8], _>(2))?,
                    min: Sample::decode(r.get::<&[u8], _>(3))?,
                    max: Sample::decode(r.get::<&[u8], _>(4))?,
                };
                Some((r.get::<i64, _>(0), rollup))
            })
            .collect())
    }

    async fn put(&self, table: Table, device: i64, ts: i64, rollup: Option<Rollup>) -> Result<(), StoreError> {
        match rollup {
            Some(r) => {
                let sql = format!(
                    "INSERT OR REPLACE INTO {} (device, ts, count, avg, min, max) VALUES (?, ?, ?, ?, ?, ?)",
                    table.name()
                );
                sqlx::query(&sql)
                    .bind(device)
                    .bind(ts)
                    .bind(i64::from(r.count))
                    .bind(r.avg.encode())
                    .bind(r.min.encode())
                    .bind(r.max.encode())
                    .execute(&self.pool)
                    .await?;
            }
            None => {
                let sql = format!("DELETE FROM {} WHERE device = ? AND ts = ?", table.name());
                sqlx::query(&sql).bind(device).bind(ts).execute(&self.pool).await?;
            }
        }
        Ok(())
    }

    /// (Re)compute the minute starting at `minute` from the raw samples.
    pub async fn roll_minute(&self, device: i64, minute: i64) -> Result<(), StoreError> {
        let raw = self.raw(device, minute, minute + 60).await?;
        let parts: Vec<_> = raw.iter().map(|(_, s)| (1, s, s, s)).collect();
        self.put(Table::Minute, device, minute, aggregate(&parts)).await
    }

    /// (Re)compute the quarter hour starting at `quarter` from its minutes.
    pub async fn roll_quarter(&self, device: i64, quarter: i64) -> Result<(), StoreError> {
        let minutes = self.rollups(Table::Minute, device, quarter, quarter + 900).await?;
        let parts: Vec<_> = minutes.iter().map(|(_, r)| (r.count, &r.avg, &r.min, &r.max)).collect();
        self.put(Table::Quarter, device, quarter, aggregate(&parts)).await
    }

    /// Delete raw samples older than `cutoff`, at most `chunk` rows at a time
    /// so the writer is never blocked for long, but only where the minute
    /// rollup already exists. Returns the rows deleted.
    pub async fn prune_raw(&self, cutoff: i64, chunk: i64) -> Result<u64, StoreError> {
        let mut deleted = 0;
        loop {
            let done = sqlx::query(
                "DELETE FROM samples WHERE (device, ts) IN (SELECT s.device, s.ts FROM samples s
                     WHERE s.ts < ? AND EXISTS (SELECT 1 FROM rollup_1m r WHERE r.device = s.device AND r.ts = s.ts - s.ts % 60)
                     LIMIT ?)",
            )
            .bind(cutoff)
            .bind(chunk)
            .execute(&self.pool)
            .await?
            .rows_affected();
            deleted += done;
            if done < chunk as u64 {
                return Ok(deleted);
            }
            tokio::task::yield_now().await;
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Minute,
    Quarter,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Minute => "rollup_1m",
            Table::Quarter => "rollup_15m",
        }
    }
}
