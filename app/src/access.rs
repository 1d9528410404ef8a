//! Who is asking and what they may do: roles, the signed-in caller, and the
//! shapes of users, tokens, sessions and the audit log as the API and the
//! dashboard show them.
//!
//! Owns: the role ladder (viewer < operator < admin) and the words for it.
//! The server decides who a caller is and enforces every role; the
//! dashboard only uses these to hide or disable what a role may not do.
//! The one thing to know: nothing here carries a secret — hashes, tokens
//! and passwords never leave the server's `auth` module except the one
//! time a new token is shown.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a user or token may do. Each role may do everything the one
/// before it may.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Look at everything but change nothing.
    Viewer,
    /// Also switch outlets and change rules.
    Operator,
    /// Also manage users, tokens, PDUs and settings; read the audit log.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn label(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// What the role may do, in words, for forms and refusals.
    pub fn describe(self) -> &'static str {
        match self {
            Role::Viewer => "may look at everything but change nothing",
            Role::Operator => "may also switch outlets and change rules",
            Role::Admin => "may also manage users, tokens and settings",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("{s:?} is not a role: viewer, operator or admin")),
        }
    }
}

/// How a caller proved who they are.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallerKind {
    /// A signed-in user (browser session).
    User,
    /// An API token.
    Token,
    /// Nobody signed in, and anonymous viewing is on.
    Anonymous,
}

/// Who a request comes from, as the server established it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The user's name, the token's name, or `anonymous`.
    pub name: String,
    pub kind: CallerKind,
    pub role: Role,
    /// The client's address, as the server saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

impl Caller {
    pub fn may(&self, role: Role) -> bool {
        self.role >= role
    }

    /// How the audit log and events name this caller: `user alice`,
    /// `token backup-script`, `anonymous`.
    pub fn who(&self) -> String {
        match self.kind {
            CallerKind::User => format!("user {}", self.name),
            CallerKind::Token => format!("token {}", self.name),
            CallerKind::Anonymous => "anonymous".to_owned(),
        }
    }
}

/// A user as listed (`GET /api/users`): never the password or its hash.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub role: Role,
    /// Unix seconds.
    pub created: f64,
    /// The last successful sign-in, unix seconds.
    pub last_login: Option<f64>,
}

/// A new user, or a user's new role or password (`POST /api/users`,
/// `PUT /api/users/{name}`).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserChange {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub password: Option<String>,
}

/// An API token as listed: its public id and name, never the secret.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The public part, shown so a token can be told apart and revoked.
    pub id: String,
    pub name: String,
    pub role: Role,
    /// Who created it.
    pub created_by: String,
    pub created: f64,
    pub last_used: Option<f64>,
}

/// A token just created: the only time its secret is shown.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    /// `Authorization: Bearer <token>`.
    pub token: String,
}

/// A new token (`POST /api/tokens`).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenRequest {
    pub name: String,
    pub role: Role,
}

/// A browser session as listed: where and when, never its cookie.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The public id, to sign one session out.
    pub id: String,
    pub user: String,
    pub created: f64,
    pub last_seen: f64,
    pub from: Option<String>,
    pub user_agent: Option<String>,
    /// The session this request came with.
    pub current: bool,
}

/// One line of the audit log: who did what, from where, and how it ended.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    /// Unix seconds.
    pub ts: f64,
    /// `user alice`, `token backup`, `rule night-off`, `mqtt operator`, …
    pub actor: String,
    /// The client's address, when there is one.
    pub from: Option<String>,
    /// `outlet_command`, `rule_change`, `user_change`, `token_change`,
    /// `login`, `logout`, `session_change`, `mqtt_command`, `mqtt_login`.
    pub action: String,
    /// What it was done to: `pdu44001 outlet 7`, `rule night-off`, `user bob`.
    pub target: String,
    /// `ok`, `refused` or `failed`.
    pub result: String,
    pub detail: String,
}

/// Which audit lines to read, newest first (`GET /api/audit`).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditQuery {
    /// Exactly this actor (`user alice`), or a prefix ending in a space
    /// (`user `) for every user.
    pub actor: Option<String>,
    pub action: Option<String>,
    pub result: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<f64>,
    /// Unix seconds, exclusive.
    pub until: Option<f64>,
    /// 1 to 1000 (default 100).
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_climb_and_parse() {
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
        for role in Role::ALL {
            assert_eq!(role.label().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().unwrap_err().contains("viewer, operator or admin"));
        let caller = Caller { name: "ann".into(), kind: CallerKind::User, role: Role::Operator, from: None };
        assert!(caller.may(Role::Viewer) && caller.may(Role::Operator) && !caller.may(Role::Admin));
        assert_eq!(caller.who(), "user ann");
    }
}
