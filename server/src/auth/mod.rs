//! Access control: who may do what. Users with roles (viewer, operator,
//! admin) sign in with a password and get a browser session; scripts use
//! API tokens; both are checked here and nowhere else. Every change of an
//! account, every sign-in and every switched outlet goes to the audit log.
//!
//! Owns: the access store (`store`), password hashing (`password`), sign-in
//! throttling (`throttle`) and secrets (`secret`). Does not own: HTTP
//! (cookies, the login page and which route needs which role are in
//! `web::auth`). The one thing to know: only digests are stored — a session
//! cookie or token shown once is never seen again, and a copy of `auth.db`
//! signs nobody in.

pub mod password;
pub mod secret;
pub mod store;
pub mod throttle;

use crate::clock::unix_secs;
use crate::config::{AuthConfig, Secret};
use app::access::{
    AuditEntry, AuditPage, AuditQuery, Caller, CallerKind, NewToken, Role, SessionInfo, TokenInfo, UserChange, UserInfo,
};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use store::{AuditFilter, AuthStore};
use throttle::Throttle;

/// The first admin's name.
pub const FIRST_ADMIN: &str = "admin";
/// Where the first admin's random password is kept (in the data folder).
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";
/// Audit lines are kept this long.
pub const AUDIT_RETENTION_DAYS: u32 = 400;
/// `last_seen` and `last_used` are written at most this often per session
/// or token: every request would otherwise be a write.
const TOUCH_EVERY_S: f64 = 60.0;
/// API tokens look like `pdub_<id>_<secret>`.
const TOKEN_PREFIX: &str = "pdub_";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The same words whether the name or the password is wrong.
    #[error("wrong name or password")]
    WrongPassword,
    #[error("too many failed sign-ins; try again in {} min", .0.as_secs().div_ceil(60).max(1))]
    Throttled(Duration),
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("no user {0:?}")]
    NoSuchUser(String),
    #[error("no token {0:?}")]
    NoSuchToken(String),
    #[error("no session {0:?}")]
    NoSuchSession(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("the access store failed: {0}")]
    Store(#[from] sqlx::Error),
    #[error("{0}")]
    Hash(String),
}

/// A caller, and the session they came with (if a browser).
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub caller: Caller,
    pub session: Option<String>,
}

/// What the first start did about the first admin.
#[derive(Debug, PartialEq)]
pub enum FirstAdmin {
    /// Users exist already.
    Exists,
    /// Created with `BRIDGE_ADMIN_PASSWORD`.
    FromSetting,
    /// Created with a random password, written to this file (mode 0600).
    Random { file: PathBuf, password: String },
}

pub struct Auth {
    store: AuthStore,
    throttle: Throttle,
    anonymous_read: bool,
    idle: Duration,
    max: Duration,
    /// The file a random first password was written to; removed once that
    /// admin's password is changed.
    initial_password: PathBuf,
    /// Seconds added to the clock: lets tests see sessions expire.
    skipped: AtomicU64,
}

/// A name for a user or token: what may appear in logs and URLs.
pub fn check_name(field: &'static str, name: &str) -> Result<(), AuthError> {
    let fine = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if fine {
        Ok(())
    } else {
        Err(AuthError::Invalid { field, message: format!("{name:?}: 1 to 64 letters, digits, '.', '_', '-' or '@'") })
    }
}

fn check_password(password: &str) -> Result<(), AuthError> {
    password::check(password).map_err(|message| AuthError::Invalid { field: "password", message })
}

impl Auth {
    pub async fn open(config: &AuthConfig, data_dir: &Path) -> Result<Self, AuthError> {
        let store = AuthStore::open(&config.db).await?;
        Ok(Self {
            store,
            throttle: Throttle::default(),
            anonymous_read: config.anonymous_read,
            idle: config.session_idle,
            max: config.session_max,
            initial_password: data_dir.join(INITIAL_PASSWORD_FILE),
            skipped: AtomicU64::new(0),
        })
    }

    pub async fn close(&self) {
        self.store.close().await;
    }

    fn now(&self) -> f64 {
        unix_secs() + self.skipped.load(Ordering::Relaxed) as f64
    }

    /// Move this store's clock forward (tests of expiry).
    pub fn skip_ahead(&self, by: Duration) {
        self.skipped.fetch_add(by.as_secs(), Ordering::Relaxed);
    }

    pub fn anonymous_read(&self) -> bool {
        self.anonymous_read
    }

    /// The longest a session may last.
    pub fn session_max(&self) -> Duration {
        self.max
    }

    /// On a first start (no user at all), create the admin: with
    /// `password`, or with a random one written to a file only the owner
    /// can read.
    pub async fn first_admin(&self, password: Option<&Secret>) -> Result<FirstAdmin, AuthError> {
        if self.store.user_count().await? > 0 {
            return Ok(FirstAdmin::Exists);
        }
        let (chosen, first) = match password {
            Some(p) => (p.expose().to_owned(), FirstAdmin::FromSetting),
            None => {
                let p = secret::random_password();
                write_private(&self.initial_password, &format!("{p}\n"))
                    .map_err(|e| AuthError::Hash(format!("cannot write {}: {e}", self.initial_password.display())))?;
                (p.clone(), FirstAdmin::Random { file: self.initial_password.clone(), password: p })
            }
        };
        let hash = password::hash(chosen).await.map_err(AuthError::Hash)?;
        self.store.add_user(FIRST_ADMIN, Role::Admin, &hash, self.now()).await?;
        self.record("system", None, "user_change", &format!("user {FIRST_ADMIN}"), "ok", "first admin created").await;
        Ok(first)
    }

    /// Check a password and open a session: the session's secret (for the
    /// cookie) and who signed in. Throttled per name and per address;
    /// every answer but success is the same for unknown names and wrong
    /// passwords, and takes as long.
    pub async fn login(
        &self,
        name: &str,
        password: &str,
        from: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<(String, Caller), AuthError> {
        let addr = from.map(|ip| ip.to_string());
        // What anyone types goes into memory and the audit log: bounded.
        let name: String = name.chars().take(64).filter(|c| !c.is_control()).collect();
        let name = name.as_str();
        if let Some(wait) = self.throttle.locked(name, from) {
            self.record(&format!("user {name}"), addr.as_deref(), "login", "session", "refused", "throttled").await;
            return Err(AuthError::Throttled(wait));
        }
        let row = if check_name("name", name).is_ok() { self.store.user(name).await? } else { None };
        let ok = password::verify(password.to_owned(), row.as_ref().map(|r| r.hash.clone())).await;
        let Some(row) = row.filter(|_| ok) else {
            self.throttle.failed(name, from);
            self.record(
                &format!("user {name}"),
                addr.as_deref(),
                "login",
                "session",
                "refused",
                "wrong name or password",
            )
            .await;
            return Err(AuthError::WrongPassword);
        };
        self.throttle.succeeded(name);
        let secret = secret::random_hex(32);
        let digest = secret::digest(&secret);
        let id = digest[..16].to_owned();
        let now = self.now();
        let agent = user_agent.map(|a| a.chars().take(200).collect::<String>());
        self.store.add_session(&id, &digest, &row.info.name, now, addr.as_deref(), agent.as_deref()).await?;
        self.store.logged_in(&row.info.name, now).await?;
        let caller = Caller { name: row.info.name.clone(), kind: CallerKind::User, role: row.info.role, from: addr };
        self.record(&caller.who(), caller.from.as_deref(), "login", &format!("session {id}"), "ok", "signed in").await;
        Ok((secret, caller))
    }

    /// Who a session cookie belongs to, if it is valid and not expired.
    pub async fn session(&self, secret: &str, from: Option<IpAddr>) -> Result<Option<Authenticated>, AuthError> {
        if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let Some(row) = self.store.session(&secret::digest(secret)).await? else { return Ok(None) };
        let now = self.now();
        if now - row.last_seen >= self.idle.as_secs_f64() || now - row.created >= self.max.as_secs_f64() {
            self.store.remove_session(&row.id).await?;
            return Ok(None);
        }
        if now - row.last_seen >= TOUCH_EVERY_S {
            self.store.touch_session(&row.id, now).await?;
        }
        let caller =
            Caller { name: row.user, kind: CallerKind::User, role: row.role, from: from.map(|ip| ip.to_string()) };
        Ok(Some(Authenticated { caller, session: Some(row.id) }))
    }

    /// Who a bearer token belongs to, if it is valid.
    pub async fn token(&self, bearer: &str, from: Option<IpAddr>) -> Result<Option<Caller>, AuthError> {
        let Some((id, secret)) = bearer.strip_prefix(TOKEN_PREFIX).and_then(|rest| rest.split_once('_')) else {
            return Ok(None);
        };
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let Some(row) = self.store.token(id).await? else { return Ok(None) };
        if !secret::same(&secret::digest(secret), &row.digest) {
            return Ok(None);
        }
        let now = self.now();
        if row.info.last_used.is_none_or(|t| now - t >= TOUCH_EVERY_S) {
            self.store.touch_token(id, now).await?;
        }
        Ok(Some(Caller {
            name: row.info.name,
            kind: CallerKind::Token,
            role: row.info.role,
            from: from.map(|ip| ip.to_string()),
        }))
    }

    /// Whether a session (by its public id) still exists and has not
    /// expired. An open dashboard counts as use: this keeps it from idling
    /// out (the absolute limit still ends it).
    pub async fn session_alive(&self, id: &str) -> bool {
        match self.store.session_times(id).await {
            Ok(Some((created, last_seen))) => {
                let now = self.now();
                let alive = now - last_seen < self.idle.as_secs_f64() && now - created < self.max.as_secs_f64();
                if alive && now - last_seen >= TOUCH_EVERY_S {
                    let _ = self.store.touch_session(id, now).await;
                }
                alive
            }
            Ok(None) => false,
            // Unsure: keep the stream; the next request checks again.
            Err(_) => true,
        }
    }

    /// End one session (sign out).
    pub async fn logout(&self, caller: &Caller, session: &str) -> Result<(), AuthError> {
        self.store.remove_session(session).await?;
        self.record(&caller.who(), caller.from.as_deref(), "logout", &format!("session {session}"), "ok", "signed out")
            .await;
        Ok(())
    }

    pub async fn users(&self) -> Result<Vec<UserInfo>, AuthError> {
        Ok(self.store.users().await?)
    }

    /// Add a user (`by`: who, for the audit log).
    pub async fn add_user(&self, by: &Caller, name: &str, role: Role, password: &str) -> Result<UserInfo, AuthError> {
        check_name("name", name)?;
        check_password(password)?;
        let hash = password::hash(password.to_owned()).await.map_err(AuthError::Hash)?;
        let target = format!("user {name}");
        if !self.store.add_user(name, role, &hash, self.now()).await? {
            self.record(&by.who(), by.from.as_deref(), "user_change", &target, "refused", "name taken").await;
            return Err(AuthError::Conflict(format!("a user named {name:?} exists already")));
        }
        self.record(&by.who(), by.from.as_deref(), "user_change", &target, "ok", &format!("added as {role}")).await;
        self.store.user(name).await?.map(|r| r.info).ok_or_else(|| AuthError::NoSuchUser(name.to_owned()))
    }

    /// Change a user's role and/or password. The last admin cannot lose
    /// the role; a new password signs the user out everywhere.
    pub async fn update_user(&self, by: &Caller, name: &str, change: &UserChange) -> Result<UserInfo, AuthError> {
        let Some(current) = self.store.user(name).await? else { return Err(AuthError::NoSuchUser(name.to_owned())) };
        let name = current.info.name.as_str();
        let target = format!("user {name}");
        if let Some(role) = change.role {
            if current.info.role == Role::Admin && role != Role::Admin && self.store.admin_count().await? <= 1 {
                return Err(AuthError::Conflict(format!("{name} is the last admin; make another admin first")));
            }
            self.store.set_role(name, role).await?;
            self.record(&by.who(), by.from.as_deref(), "user_change", &target, "ok", &format!("role now {role}")).await;
        }
        if let Some(password) = &change.password {
            check_password(password)?;
            let hash = password::hash(password.clone()).await.map_err(AuthError::Hash)?;
            self.store.set_hash(name, &hash).await?;
            if name.eq_ignore_ascii_case(FIRST_ADMIN) {
                // The random first password is no longer the password.
                let _ = std::fs::remove_file(&self.initial_password);
            }
            self.record(
                &by.who(),
                by.from.as_deref(),
                "user_change",
                &target,
                "ok",
                "password changed; signed out everywhere",
            )
            .await;
        }
        self.store.user(name).await?.map(|r| r.info).ok_or_else(|| AuthError::NoSuchUser(name.to_owned()))
    }

    pub async fn remove_user(&self, by: &Caller, name: &str) -> Result<(), AuthError> {
        let Some(current) = self.store.user(name).await? else { return Err(AuthError::NoSuchUser(name.to_owned())) };
        if current.info.role == Role::Admin && self.store.admin_count().await? <= 1 {
            return Err(AuthError::Conflict(format!("{name} is the last admin; make another admin first")));
        }
        self.store.remove_user(&current.info.name).await?;
        self.record(
            &by.who(),
            by.from.as_deref(),
            "user_change",
            &format!("user {}", current.info.name),
            "ok",
            "removed",
        )
        .await;
        Ok(())
    }

    /// A new token: its secret is in the answer and nowhere else, ever.
    pub async fn create_token(&self, by: &Caller, name: &str, role: Role) -> Result<NewToken, AuthError> {
        check_name("name", name)?;
        if role > by.role {
            return Err(AuthError::Forbidden(format!(
                "a {} may not create a token with more rights ({role})",
                by.role
            )));
        }
        let id = secret::random_hex(6);
        let secret = secret::random_hex(24);
        let info = TokenInfo {
            id: id.clone(),
            name: name.to_owned(),
            role,
            created_by: by.who(),
            created: self.now(),
            last_used: None,
        };
        let target = format!("token {name}");
        if !self.store.add_token(&info, &secret::digest(&secret)).await? {
            return Err(AuthError::Conflict(format!("a token named {name:?} exists already")));
        }
        self.record(
            &by.who(),
            by.from.as_deref(),
            "token_change",
            &target,
            "ok",
            &format!("created ({role}, id {id})"),
        )
        .await;
        Ok(NewToken { info, token: format!("{TOKEN_PREFIX}{id}_{secret}") })
    }

    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, AuthError> {
        Ok(self.store.tokens().await?)
    }

    /// Revoke a token by id or name.
    pub async fn revoke_token(&self, by: &Caller, id_or_name: &str) -> Result<(), AuthError> {
        let Some(name) = self.store.remove_token(id_or_name).await? else {
            return Err(AuthError::NoSuchToken(id_or_name.to_owned()));
        };
        self.record(&by.who(), by.from.as_deref(), "token_change", &format!("token {name}"), "ok", "revoked").await;
        Ok(())
    }

    /// Sessions of one user (or of everyone), `current` marked.
    pub async fn sessions(&self, user: Option<&str>, current: Option<&str>) -> Result<Vec<SessionInfo>, AuthError> {
        let mut list = self.store.sessions(user).await?;
        for s in &mut list {
            s.current = current == Some(s.id.as_str());
        }
        Ok(list)
    }

    /// End one session: the caller's own, or anyone's for an admin.
    pub async fn end_session(&self, by: &Caller, id: &str) -> Result<(), AuthError> {
        let owner = self.store.session_user(id).await?;
        let Some(owner) = owner.filter(|o| by.role == Role::Admin || o.eq_ignore_ascii_case(&by.name)) else {
            return Err(AuthError::NoSuchSession(id.to_owned()));
        };
        self.store.remove_session(id).await?;
        self.record(
            &by.who(),
            by.from.as_deref(),
            "session_change",
            &format!("session {id} of {owner}"),
            "ok",
            "signed out",
        )
        .await;
        Ok(())
    }

    /// Sign a user out everywhere; how many sessions ended.
    pub async fn end_sessions_of(&self, by: &Caller, user: &str) -> Result<u64, AuthError> {
        let n = self.store.remove_sessions_of(user).await?;
        let detail = format!("signed out everywhere ({n} sessions)");
        self.record(&by.who(), by.from.as_deref(), "session_change", &format!("user {user}"), "ok", &detail).await;
        Ok(n)
    }

    /// Write one audit line; a failure is logged, never raised: what it
    /// records has happened already.
    pub async fn record(
        &self,
        actor: &str,
        from: Option<&str>,
        action: &str,
        target: &str,
        result: &str,
        detail: &str,
    ) {
        let entry = AuditEntry {
            id: 0,
            ts: self.now(),
            actor: actor.to_owned(),
            from: from.map(str::to_owned),
            action: action.to_owned(),
            target: target.to_owned(),
            result: result.to_owned(),
            detail: detail.to_owned(),
        };
        if let Err(e) = self.store.audit(&entry).await {
            tracing::error!(error = %e, action, target, "cannot write the audit log");
        }
    }

    pub async fn audit(&self, q: &AuditQuery) -> Result<AuditPage, AuthError> {
        let bad = |field: &'static str, message: &str| AuthError::Invalid { field, message: message.to_owned() };
        let secs = |field: &'static str, v: Option<f64>| match v {
            Some(s) if !(s.is_finite() && (0.0..=1e11).contains(&s)) => {
                Err(bad(field, "unix seconds from 0 to 100000000000"))
            }
            other => Ok(other),
        };
        let limit = q.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(bad("limit", "a page size from 1 to 1000"));
        }
        let before_id = match q.cursor.as_deref() {
            Some(c) => Some(
                c.parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("cursor", "the next_cursor of an earlier page"))?,
            ),
            None => None,
        };
        let filter = AuditFilter {
            actor: q.actor.clone(),
            action: q.action.clone(),
            result: q.result.clone(),
            since: secs("since", q.since)?,
            until: secs("until", q.until)?,
            before_id,
            limit,
        };
        let (entries, more) = self.store.audit_page(&filter).await?;
        let next_cursor = if more { entries.last().map(|e| e.id.to_string()) } else { None };
        Ok(AuditPage { entries, next_cursor })
    }

    /// Drop expired sessions and old audit lines.
    pub async fn tidy(&self) -> Result<(), AuthError> {
        let now = self.now();
        self.store.expire_sessions(now - self.idle.as_secs_f64(), now - self.max.as_secs_f64()).await?;
        self.store.prune_audit(now - f64::from(AUDIT_RETENTION_DAYS) * 86400.0).await?;
        Ok(())
    }
}

/// Tidy the store now and every hour until shutdown.
pub async fn housekeeping(auth: std::sync::Arc<Auth>, shutdown: tokio_util::sync::CancellationToken) {
    loop {
        if let Err(e) = auth.tidy().await {
            tracing::warn!(error = %e, "cannot tidy the access store");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}

/// Write `text` to a new file only the owner may read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
