//! The history store behind one interface (SQLite now; PostgreSQL can
//! implement the same operations): raw 1 Hz samples, one compact row per PDU
//! per second, and 1-minute and 15-minute rollups (count, average, minimum,
//! maximum of every metric).
//!
//! A rollup bucket is always computed by the same function from what lies
//! below it (raw rows for a minute, minute rows for a quarter hour), whether
//! the writer computes it as the minute completes or a test recomputes it
//! later: duplicates, gaps and late samples cannot make them disagree.

use super::energy::Slot;
use super::sample::Sample;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::time::Duration;

/// Versioned schema: entry `i` upgrades `user_version` `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE devices (id INTEGER PRIMARY KEY, device_id TEXT NOT NULL UNIQUE);
     CREATE TABLE samples (device INTEGER NOT NULL, ts INTEGER NOT NULL, data BLOB NOT NULL,
                           PRIMARY KEY (device, ts)) WITHOUT ROWID;
     CREATE TABLE rollup_1m (device INTEGER NOT NULL, ts INTEGER NOT NULL, count INTEGER NOT NULL,
                             avg BLOB NOT NULL, min BLOB NOT NULL, max BLOB NOT NULL,
                             PRIMARY KEY (device, ts)) WITHOUT ROWID;
     CREATE TABLE rollup_15m (device INTEGER NOT NULL, ts INTEGER NOT NULL, count INTEGER NOT NULL,
                              avg BLOB NOT NULL, min BLOB NOT NULL, max BLOB NOT NULL,
                              PRIMARY KEY (device, ts)) WITHOUT ROWID;",
    // Rollup levels matching every chart bucket, so no range reads more
    // than a few thousand rows.
    "CREATE TABLE rollup_10s (device INTEGER NOT NULL, ts INTEGER NOT NULL, count INTEGER NOT NULL,
                             avg BLOB NOT NULL, min BLOB NOT NULL, max BLOB NOT NULL,
                             PRIMARY KEY (device, ts)) WITHOUT ROWID;
     CREATE TABLE rollup_5m (device INTEGER NOT NULL, ts INTEGER NOT NULL, count INTEGER NOT NULL,
                            avg BLOB NOT NULL, min BLOB NOT NULL, max BLOB NOT NULL,
                            PRIMARY KEY (device, ts)) WITHOUT ROWID;
     CREATE TABLE rollup_30m (device INTEGER NOT NULL, ts INTEGER NOT NULL, count INTEGER NOT NULL,
                             avg BLOB NOT NULL, min BLOB NOT NULL, max BLOB NOT NULL,
                             PRIMARY KEY (device, ts)) WITHOUT ROWID;",
    // Energy per 15-minute slot (JSON of `energy::Slot`), and the weekly and
    // monthly reports made from it; both kept as long as the store.
    "CREATE TABLE energy (device INTEGER NOT NULL, ts INTEGER NOT NULL, data TEXT NOT NULL,
                          PRIMARY KEY (device, ts)) WITHOUT ROWID;
     CREATE TABLE reports (device INTEGER NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL,
                           start INTEGER NOT NULL, end INTEGER NOT NULL, created INTEGER NOT NULL,
                           body TEXT NOT NULL, PRIMARY KEY (device, id)) WITHOUT ROWID;",
    // Events (rule transitions, device events, outlet commands), newest
    // highest id; each filter the API offers has an index ending in the id,
    // so a page is read in id order without sorting.
    "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, device TEXT NOT NULL,
                          kind TEXT NOT NULL, rule TEXT, outlet INTEGER, origin TEXT, outcome TEXT,
                          details TEXT NOT NULL);
     CREATE INDEX events_device ON events (device, id);
     CREATE INDEX events_kind ON events (kind, id);
     CREATE INDEX events_outlet ON events (outlet, id);
     CREATE INDEX events_ts ON events (ts);",
];

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Rows per INSERT statement (three variables each, well under SQLite's limit).
pub const INSERT_ROWS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("history database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("history database damaged and could not be moved aside: {0}")]
    Damaged(String),
    #[error("backup: {0}")]
    Backup(String),
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

const RAW_RANGE: &str = "SELECT ts, data FROM samples WHERE device = ? AND ts >= ? AND ts < ? ORDER BY ts";
const ENERGY_RANGE: &str = "SELECT ts, data FROM energy WHERE device = ? AND ts >= ? AND ts < ? ORDER BY ts";

fn rollup_range(table: Table) -> String {
    format!("SELECT ts, count, avg, min, max FROM {} WHERE device = ? AND ts >= ? AND ts < ? ORDER BY ts", table.name())
}

/// Every range query the store runs (charts, rollups, energy and
/// reports) as `(table, sql)` with parameters `(device, start, end)`, so
/// tests can check each one's query plan.
pub fn range_queries() -> Vec<(&'static str, String)> {
    let mut all = vec![("samples", RAW_RANGE.to_owned()), ("energy", ENERGY_RANGE.to_owned())];
    all.extend(Table::ALL.map(|t| (t.name(), rollup_range(t))));
    all
}

pub struct Store {
    pool: SqlitePool,
    /// Whether writes are failing now (disk full, damage), for `/api/health`.
    writes: std::sync::Mutex<WriteHealth>,
}

/// The state of the store's writes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteHealth {
    /// Since when samples cannot be written (unix ms), and why.
    pub failing: Option<(u64, String)>,
    /// Samples written since the store was opened (`/metrics`).
    pub samples_written: u64,
    /// The newest second a written sample is of (`/metrics`: the writer's lag).
    pub newest_sample_s: Option<i64>,
}

/// What [`Store::open_checked`] found.
#[derive(Debug)]
pub struct Opened {
    pub store: Store,
    /// The damaged file's new name and what the check said, when the store
    /// at the path was damaged and a new one was started in its place.
    pub replaced: Option<(std::path::PathBuf, String)>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Open the store at `path` after checking it (`PRAGMA quick_check`): a
    /// damaged one is renamed aside (`history.db.damaged-<UTC time>`, with its
    /// `-wal` and `-shm`), never deleted, and a new one is started in its
    /// place, so history goes on and the old file can be rescued.
    pub async fn open_checked(path: &Path) -> Result<Opened, StoreError> {
        let problem = if path.exists() {
            match Self::open(path).await {
                Ok(store) => match store.quick_check().await {
                    Ok(()) => return Ok(Opened { store, replaced: None }),
                    Err(why) => {
                        store.pool.close().await;
                        why
                    }
                },
                Err(e) => e.to_string(),
            }
        } else {
            return Ok(Opened { store: Self::open(path).await?, replaced: None });
        };
        let stamp = jiff::Timestamp::now().strftime("%Y-%m-%dT%H-%M-%SZ").to_string();
        let aside = |p: &Path| {
            let mut name = p.file_name().map(|n| n.to_os_string()).unwrap_or_default();
            name.push(format!(".damaged-{stamp}"));
            p.with_file_name(name)
        };
        let moved = aside(path);
        std::fs::rename(path, &moved).map_err(|e| StoreError::Damaged(format!("{}: {e}", path.display())))?;
        for suffix in ["-wal", "-shm"] {
            let mut side = path.as_os_str().to_os_string();
            side.push(suffix);
            let side = std::path::PathBuf::from(side);
            if side.exists() {
                let _ = std::fs::rename(&side, aside(&side));
            }
        }
        Ok(Opened { store: Self::open(path).await?, replaced: Some((moved, problem)) })
    }

    /// Copy the whole store to `target` (which must not exist) while it is
    /// in use: `VACUUM INTO` reads one consistent snapshot, so writers go on
    /// and the copy is a sound, compact store of that moment.
    pub async fn backup_to(&self, target: &Path) -> Result<(), StoreError> {
        if target.exists() {
            return Err(StoreError::Backup(format!("{} exists already; nothing was written", target.display())));
        }
        let name =
            target.to_str().ok_or_else(|| StoreError::Backup(format!("{}: not a UTF-8 path", target.display())))?;
        sqlx::query("VACUUM INTO ?").bind(name).execute(&self.pool).await?;
        Ok(())
    }

    /// Look at the store at `path` without changing anything: its schema
    /// version (against [`SCHEMA_VERSION`]) and `quick_check`.
    pub async fn inspect(path: &Path) -> Result<(i64, Result<(), String>), StoreError> {
        let options = SqliteConnectOptions::new().filename(path).read_only(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&pool).await?;
        let store = Self { pool, writes: Default::default() };
        let check = store.quick_check().await;
        store.pool.close().await;
        Ok((version, check))
    }

    /// `PRAGMA quick_check`: `Err` with what it found unless the file is sound.
    pub async fn quick_check(&self) -> Result<(), String> {
        let rows: Result<Vec<String>, _> = sqlx::query_scalar("PRAGMA quick_check").fetch_all(&self.pool).await;
        match rows {
            Ok(rows) if rows.len() == 1 && rows[0] == "ok" => Ok(()),
            Ok(rows) => Err(format!("quick_check: {}", rows.into_iter().take(5).collect::<Vec<_>>().join("; "))),
            Err(e) => Err(format!("quick_check: {e}")),
        }
    }

    pub fn write_health(&self) -> WriteHealth {
        self.writes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Remember how the last write went.
    fn wrote<T>(&self, result: Result<T, sqlx::Error>) -> Result<T, StoreError> {
        let mut writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        match &result {
            Ok(_) => writes.failing = None,
            Err(e) => {
                if writes.failing.is_none() {
                    writes.failing = Some((crate::clock::unix_ms(), e.to_string()));
                }
            }
        }
        Ok(result?)
    }

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
        let store = Self { pool, writes: Default::default() };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.migrate_to(SCHEMA_VERSION).await
    }

    /// A new store at `path` with the schema of an earlier version (`version`
    /// steps of the frozen migrations): how an older bridge left its file,
    /// for the upgrade tests.
    #[doc(hidden)]
    pub async fn create_at_version(path: &Path, version: i64) -> Result<(), StoreError> {
        let options = SqliteConnectOptions::new().filename(path).create_if_missing(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        let store = Self { pool, writes: Default::default() };
        store.migrate_to(version).await?;
        store.pool.close().await;
        Ok(())
    }

    async fn migrate_to(&self, target: i64) -> Result<(), StoreError> {
        let version: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&self.pool).await?;
        let steps = MIGRATIONS.iter().enumerate().take(target.max(0) as usize);
        for (i, sql) in steps.skip(version.max(0) as usize) {
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
            self.wrote(query.execute(&self.pool).await)?;
            let mut writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
            writes.samples_written += chunk.len() as u64;
            writes.newest_sample_s = chunk.iter().map(|(_, ts, _)| *ts).chain(writes.newest_sample_s).max();
        }
        Ok(())
    }

    /// Raw samples in `[start, end)`, in time order.
    pub async fn raw(&self, device: i64, start: i64, end: i64) -> Result<Vec<(i64, Sample)>, StoreError> {
        let rows = sqlx::query(RAW_RANGE).bind(device).bind(start).bind(end).fetch_all(&self.pool).await?;
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
        let rows = sqlx::query(&rollup_range(table)).bind(device).bind(start).bind(end).fetch_all(&self.pool).await?;
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

    /// (Re)compute the bucket of `table` starting at `ts` from the level
    /// below it (raw samples for the 10-second level).
    pub async fn roll(&self, table: Table, device: i64, ts: i64) -> Result<(), StoreError> {
        let rows = self.level(table.below(), device, ts, ts + table.seconds()).await?;
        let parts: Vec<_> =
            rows.parts().into_iter().map(|(_, weight, avg, min, max)| (weight, avg, min, max)).collect();
        self.put(table, device, ts, aggregate(&parts)).await
    }

    /// The rows of one level in `[start, end)`: raw samples (`None`) or a
    /// rollup level.
    pub async fn level(&self, level: Option<Table>, device: i64, start: i64, end: i64) -> Result<Rows, StoreError> {
        Ok(match level {
            None => Rows::Raw(self.raw(device, start, end).await?),
            Some(table) => Rows::Rolled(self.rollups(table, device, start, end).await?),
        })
    }

    /// Delete raw samples and 10-second rollups older than `cutoff`, at most
    /// `chunk` rows at a time so the writer is never blocked for long, but
    /// only where the minute above them is rolled up. Returns the raw rows
    /// deleted.
    pub async fn prune_raw(&self, cutoff: i64, chunk: i64) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for (table, counts) in [("samples", true), ("rollup_10s", false)] {
            let sql = format!(
                "DELETE FROM {table} WHERE (device, ts) IN (SELECT s.device, s.ts FROM {table} s
                     WHERE s.ts < ? AND EXISTS (SELECT 1 FROM rollup_1m r WHERE r.device = s.device AND r.ts = s.ts - s.ts % 60)
                     LIMIT ?)"
            );
            loop {
                let done = sqlx::query(&sql).bind(cutoff).bind(chunk).execute(&self.pool).await?.rows_affected();
                if counts {
                    deleted += done;
                }
                if done < chunk as u64 {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        Ok(deleted)
    }
}

/// Energy slots and reports.
impl Store {
    /// The energy slots of a device in `[start, end)`, in time order.
    pub async fn energy(&self, device: i64, start: i64, end: i64) -> Result<Vec<(i64, Slot)>, StoreError> {
        let rows = sqlx::query(ENERGY_RANGE).bind(device).bind(start).bind(end).fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((r.get::<i64, _>(0), serde_json::from_str(r.get::<&str, _>(1)).ok()?)))
            .collect())
    }

    /// Write (replace) energy slots: `(device, ts, slot)`.
    pub async fn put_energy(&self, slots: &[(i64, i64, &Slot)]) -> Result<(), StoreError> {
        for chunk in slots.chunks(INSERT_ROWS) {
            let values = vec!["(?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!("INSERT OR REPLACE INTO energy (device, ts, data) VALUES {values}");
            let mut query = sqlx::query(&sql);
            for (device, ts, slot) in chunk {
                query = query.bind(device).bind(ts).bind(serde_json::to_string(slot).unwrap_or_default());
            }
            query.execute(&self.pool).await?;
        }
        Ok(())
    }

    /// The first energy slot of a device, if any.
    pub async fn first_energy(&self, device: i64) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT min(ts) FROM energy WHERE device = ?").bind(device).fetch_one(&self.pool).await?)
    }

    /// The newest raw sample of a device.
    pub async fn latest(&self, device: i64) -> Result<Option<(i64, Sample)>, StoreError> {
        let row = sqlx::query("SELECT ts, data FROM samples WHERE device = ? ORDER BY ts DESC LIMIT 1")
            .bind(device)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|r| Some((r.get::<i64, _>(0), Sample::decode(r.get::<&[u8], _>(1))?))))
    }

    /// Every device the store knows: `(key, device_id)`.
    pub async fn devices(&self) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(sqlx::query_as("SELECT id, device_id FROM devices ORDER BY id").fetch_all(&self.pool).await?)
    }

    pub async fn put_report(&self, device: i64, report: &StoredReport) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT OR REPLACE INTO reports (device, id, kind, start, end, created, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(device)
        .bind(&report.id)
        .bind(&report.kind)
        .bind(report.start)
        .bind(report.end)
        .bind(report.created)
        .bind(&report.body)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A device's report ids with kind and period, newest first (no bodies).
    pub async fn report_ids(&self, device: i64) -> Result<Vec<(String, String, i64, i64)>, StoreError> {
        Ok(sqlx::query_as("SELECT id, kind, start, end FROM reports WHERE device = ? ORDER BY start DESC, kind")
            .bind(device)
            .fetch_all(&self.pool)
            .await?)
    }

    /// One report's body (JSON).
    pub async fn report(&self, device: i64, id: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT body FROM reports WHERE device = ? AND id = ?")
            .bind(device)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }
}

/// A report as stored: its id (`week-2026-11-16`, `month-2026-11`), kind,
/// period and JSON body.
#[derive(Clone, Debug)]
pub struct StoredReport {
    pub id: String,
    pub kind: String,
    pub start: i64,
    pub end: i64,
    pub created: i64,
    pub body: String,
}

/// The rows of one level, raw or rolled up.
pub enum Rows {
    Raw(Vec<(i64, Sample)>),
    Rolled(Vec<(i64, Rollup)>),
}

impl Rows {
    /// Every row as `(ts, weight, avg, min, max)`: a raw sample weighs 1
    /// and is its own minimum and maximum.
    pub fn parts(&self) -> Vec<(i64, u32, &Sample, &Sample, &Sample)> {
        match self {
            Rows::Raw(rows) => rows.iter().map(|(ts, s)| (*ts, 1, s, s, s)).collect(),
            Rows::Rolled(rows) => rows.iter().map(|(ts, r)| (*ts, r.count, &r.avg, &r.min, &r.max)).collect(),
        }
    }
}

/// The rollup levels, each rolled from the one below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    TenSeconds,
    Minute,
    FiveMinutes,
    Quarter,
    HalfHour,
}

impl Table {
    pub const ALL: [Table; 5] = [Table::TenSeconds, Table::Minute, Table::FiveMinutes, Table::Quarter, Table::HalfHour];

    fn name(self) -> &'static str {
        match self {
            Table::TenSeconds => "rollup_10s",
            Table::Minute => "rollup_1m",
            Table::FiveMinutes => "rollup_5m",
            Table::Quarter => "rollup_15m",
            Table::HalfHour => "rollup_30m",
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Table::TenSeconds => 10,
            Table::Minute => 60,
            Table::FiveMinutes => 300,
            Table::Quarter => 900,
            Table::HalfHour => 1800,
        }
    }

    /// The level this one is rolled from; `None` = raw samples.
    pub fn below(self) -> Option<Table> {
        match self {
            Table::TenSeconds => None,
            Table::Minute => Some(Table::TenSeconds),
            Table::FiveMinutes => Some(Table::Minute),
            Table::Quarter => Some(Table::FiveMinutes),
            Table::HalfHour => Some(Table::Quarter),
        }
    }

    pub fn above(self) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.below() == Some(self))
    }
}
