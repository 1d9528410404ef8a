//! The access-control store (`auth.db`): users, sessions, API tokens and
//! the audit log, in SQLite beside the history store but apart from it,
//! so replacing a damaged history store never loses an account.
//!
//! Owns: the schema and every query. Holds digests, never secrets:
//! argon2id hashes of passwords, SHA-256 of session and token secrets.

use app::access::{AuditEntry, Role, SessionInfo, TokenInfo, UserInfo};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::Row;
use std::path::Path;
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    role TEXT NOT NULL,
    hash TEXT NOT NULL,
    created REAL NOT NULL,
    last_login REAL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    created REAL NOT NULL,
    last_seen REAL NOT NULL,
    from_addr TEXT,
    user_agent TEXT
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created REAL NOT NULL,
    last_used REAL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    actor TEXT NOT NULL,
    from_addr TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    result TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_ts ON audit(ts);
";

#[derive(Clone)]
pub struct AuthStore {
    pool: SqlitePool,
}

/// A user row with its hash, for sign-in only.
pub struct UserRow {
    pub info: UserInfo,
    pub hash: String,
}

/// A session row, looked up by its digest.
pub struct SessionRow {
    pub id: String,
    pub user: String,
    pub role: Role,
    pub created: f64,
    pub last_seen: f64,
}

pub struct TokenRow {
    pub info: TokenInfo,
    pub digest: String,
}

fn role(row: &SqliteRow, column: &str) -> Role {
    // Only this module writes roles; an unknown one gives the least power.
    row.get::<String, _>(column).parse().unwrap_or(Role::Viewer)
}

fn user(row: &SqliteRow) -> UserInfo {
    UserInfo {
        name: row.get("name"),
        role: role(row, "role"),
        created: row.get("created"),
        last_login: row.get("last_login"),
    }
}

fn token(row: &SqliteRow) -> TokenInfo {
    TokenInfo {
        id: row.get("id"),
        name: row.get("name"),
        role: role(row, "role"),
        created_by: row.get("created_by"),
        created: row.get("created"),
        last_used: row.get("last_used"),
    }
}

/// Which audit lines to read, validated.
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub result: Option<String>,
    pub since: Option<f64>,
    pub until: Option<f64>,
    pub before_id: Option<i64>,
    pub limit: u32,
}

impl AuthStore {
    pub async fn open(path: &Path) -> Result<Self, sqlx::Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        restrict(path);
        Ok(Self { pool })
    }

    /// How many users, admins and tokens a store holds, read without
    /// writing anything (for `pdu-bridge check`).
    pub async fn census(path: &Path) -> Result<(i64, i64, i64), sqlx::Error> {
        let options = SqliteConnectOptions::new().filename(path).read_only(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        let counted = async {
            let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&pool).await?;
            let admins: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'").fetch_one(&pool).await?;
            let tokens: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens").fetch_one(&pool).await?;
            Ok::<_, sqlx::Error>((users, admins, tokens))
        }
        .await;
        pool.close().await;
        counted
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn user_count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await
    }

    pub async fn admin_count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'").fetch_one(&self.pool).await
    }

    pub async fn users(&self) -> Result<Vec<UserInfo>, sqlx::Error> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY name").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(user).collect())
    }

    pub async fn user(&self, name: &str) -> Result<Option<UserRow>, sqlx::Error> {
        let row = sqlx::query("SELECT * FROM users WHERE name = ?").bind(name).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| UserRow { info: user(&r), hash: r.get("hash") }))
    }

    /// `false` if the name is taken.
    pub async fn add_user(&self, name: &str, role: Role, hash: &str, now: f64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("INSERT OR IGNORE INTO users (name, role, hash, created) VALUES (?, ?, ?, ?)")
            .bind(name)
            .bind(role.label())
            .bind(hash)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_role(&self, name: &str, role: Role) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("UPDATE users SET role = ? WHERE name = ?")
            .bind(role.label())
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A new password also ends every session of the user.
    pub async fn set_hash(&self, name: &str, hash: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let done =
            sqlx::query("UPDATE users SET hash = ? WHERE name = ?").bind(hash).bind(name).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM sessions WHERE user = ?").bind(name).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn remove_user(&self, name: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM users WHERE name = ?").bind(name).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn logged_in(&self, name: &str, now: f64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE users SET last_login = ? WHERE name = ?").bind(now).bind(name).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn add_session(
        &self,
        id: &str,
        digest: &str,
        user: &str,
        now: f64,
        from: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO sessions (id, digest, user, created, last_seen, from_addr, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(digest)
        .bind(user)
        .bind(now)
        .bind(now)
        .bind(from)
        .bind(user_agent)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn session(&self, digest: &str) -> Result<Option<SessionRow>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT s.id, s.user, s.created, s.last_seen, u.role FROM sessions s JOIN users u ON u.name = s.user \
             WHERE s.digest = ?",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| SessionRow {
            id: r.get("id"),
            user: r.get("user"),
            role: role(&r, "role"),
            created: r.get("created"),
            last_seen: r.get("last_seen"),
        }))
    }

    pub async fn touch_session(&self, id: &str, now: f64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE sessions SET last_seen = ? WHERE id = ?").bind(now).bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Sessions of `user` (every user's with `None`), newest first.
    pub async fn sessions(&self, user: Option<&str>) -> Result<Vec<SessionInfo>, sqlx::Error> {
        let rows = sqlx::query("SELECT * FROM sessions WHERE ?1 IS NULL OR user = ?1 ORDER BY last_seen DESC")
            .bind(user)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| SessionInfo {
                id: r.get("id"),
                user: r.get("user"),
                created: r.get("created"),
                last_seen: r.get("last_seen"),
                from: r.get("from_addr"),
                user_agent: r.get("user_agent"),
                current: false,
            })
            .collect())
    }

    /// When a session began and was last used, if it exists.
    pub async fn session_times(&self, id: &str) -> Result<Option<(f64, f64)>, sqlx::Error> {
        let row = sqlx::query("SELECT created, last_seen FROM sessions WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get("created"), r.get("last_seen"))))
    }

    /// The user a session belongs to, if it exists.
    pub async fn session_user(&self, id: &str) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT user FROM sessions WHERE id = ?").bind(id).fetch_optional(&self.pool).await
    }

    pub async fn remove_session(&self, id: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = ?").bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn remove_sessions_of(&self, user: &str) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM sessions WHERE user = ?").bind(user).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    /// Drop sessions idle since `idle_before` or created before `created_before`.
    pub async fn expire_sessions(&self, idle_before: f64, created_before: f64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM sessions WHERE last_seen < ? OR created < ?")
            .bind(idle_before)
            .bind(created_before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// `false` if the name is taken.
    pub async fn add_token(&self, info: &TokenInfo, digest: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT OR IGNORE INTO tokens (id, digest, name, role, created_by, created) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&info.id)
        .bind(digest)
        .bind(&info.name)
        .bind(info.role.label())
        .bind(&info.created_by)
        .bind(info.created)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn token(&self, id: &str) -> Result<Option<TokenRow>, sqlx::Error> {
        let row = sqlx::query("SELECT * FROM tokens WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| TokenRow { info: token(&r), digest: r.get("digest") }))
    }

    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, sqlx::Error> {
        let rows = sqlx::query("SELECT * FROM tokens ORDER BY created DESC").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(token).collect())
    }

    pub async fn touch_token(&self, id: &str, now: f64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE tokens SET last_used = ? WHERE id = ?").bind(now).bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Revoke by id or by name; the revoked token's name.
    pub async fn remove_token(&self, id_or_name: &str) -> Result<Option<String>, sqlx::Error> {
        let name: Option<String> = sqlx::query_scalar("DELETE FROM tokens WHERE id = ?1 OR name = ?1 RETURNING name")
            .bind(id_or_name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(name)
    }

    pub async fn audit(&self, e: &AuditEntry) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO audit (ts, actor, from_addr, action, target, result, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(e.ts)
        .bind(&e.actor)
        .bind(&e.from)
        .bind(&e.action)
        .bind(&e.target)
        .bind(&e.result)
        .bind(&e.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A page of the audit log, newest first, and whether there is more.
    pub async fn audit_page(&self, f: &AuditFilter) -> Result<(Vec<AuditEntry>, bool), sqlx::Error> {
        let actor_prefix = f.actor.as_deref().filter(|a| a.ends_with(' ')).map(|a| format!("{}%", a.replace('%', "")));
        let actor_exact = f.actor.as_deref().filter(|a| !a.ends_with(' '));
        let rows = sqlx::query(
            "SELECT * FROM audit WHERE (?1 IS NULL OR actor = ?1) AND (?2 IS NULL OR actor LIKE ?2) \
             AND (?3 IS NULL OR action = ?3) AND (?4 IS NULL OR result = ?4) AND (?5 IS NULL OR ts >= ?5) \
             AND (?6 IS NULL OR ts < ?6) AND (?7 IS NULL OR id < ?7) ORDER BY id DESC LIMIT ?8",
        )
        .bind(actor_exact)
        .bind(actor_prefix)
        .bind(&f.action)
        .bind(&f.result)
        .bind(f.since)
        .bind(f.until)
        .bind(f.before_id)
        .bind(i64::from(f.limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let more = rows.len() > f.limit as usize;
        let entries = rows
            .iter()
            .take(f.limit as usize)
            .map(|r| AuditEntry {
                id: r.get("id"),
                ts: r.get("ts"),
                actor: r.get("actor"),
                from: r.get("from_addr"),
                action: r.get("action"),
                target: r.get("target"),
                result: r.get("result"),
                detail: r.get("detail"),
            })
            .collect();
        Ok((entries, more))
    }

    pub async fn prune_audit(&self, before: f64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM audit WHERE ts < ?").bind(before).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}

/// The store holds password hashes: readable by the owner only.
fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600));
        }
    }
}
