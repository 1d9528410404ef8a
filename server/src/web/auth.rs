//! Signing in and who may call what: the session cookie and bearer tokens
//! are read once per request (`authenticate`), each route group states the
//! role it needs (`require`), and the server functions by name
//! (`server_fn_role`). Also the login page, sign-out and the JSON API for
//! users, tokens, sessions and the audit log.
//!
//! Owns: cookies, the login page, the route → role table. Does not own:
//! passwords, sessions, tokens or the audit log (`crate::auth`), nor the
//! same-origin rule (`guard`). The one thing to know: a route is reachable
//! only through one of the groups in `web::router`; nothing is public by
//! accident, and the service layer checks the role again.

use super::error::{ApiJson, ApiPath, ApiQuery, HttpError};
use super::AppState;
use app::access::{
    AuditPage, AuditQuery, Caller, CallerKind, NewToken, Role, SessionInfo, TokenInfo, TokenRequest, UserChange,
    UserInfo,
};
use app::model::{ApiError, ErrorBody};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};

/// The session cookie's name, before the port: `pdu_session_8080`. Cookies
/// are not kept apart by port, so two bridges on one machine would sign
/// each other's users out with one name.
pub const COOKIE: &str = "pdu_session";

/// The session cookie's name for a bridge listening on `port`.
pub fn cookie_name(port: u16) -> String {
    format!("{COOKIE}_{port}")
}

use app::wire::SessionMark as SessionId;

fn client_ip(request_extensions: &axum::http::Extensions) -> Option<IpAddr> {
    request_extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

fn auth_error(e: crate::auth::AuthError) -> Response {
    HttpError(ApiError::from(e)).into_response()
}

/// Who is calling: a bearer token (scripts), else the session cookie
/// (browsers), else anonymous if that is on. A token that does not check
/// out is refused outright — a script with a stale token should hear so,
/// not be served as nobody.
pub async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let auth = state.services.auth.clone();
    let ip = client_ip(request.extensions());
    let headers = request.headers();
    let (caller, session) = if let Some(token) = bearer(headers) {
        match auth.token(token, ip).await {
            Ok(Some(caller)) => (Some(caller), None),
            Ok(None) => {
                return HttpError(ApiError::Unauthorized(
                    "the bearer token is not valid (mistyped, or revoked); nothing was done".into(),
                ))
                .into_response()
            }
            Err(e) => return auth_error(e),
        }
    } else if let Some(secret) = cookie(headers, &state.cookie_name) {
        match auth.session(secret, ip).await {
            Ok(Some(found)) => (Some(found.caller), found.session),
            Ok(None) => (None, None),
            Err(e) => return auth_error(e),
        }
    } else {
        (None, None)
    };
    let caller = caller.or_else(|| {
        auth.anonymous_read().then(|| Caller {
            name: "anonymous".into(),
            kind: CallerKind::Anonymous,
            role: Role::Viewer,
            from: ip.map(|ip| ip.to_string()),
        })
    });
    if let Some(caller) = caller {
        request.extensions_mut().insert(caller);
    }
    if let Some(id) = session {
        request.extensions_mut().insert(SessionId(id));
    }
    next.run(request).await
}

/// Whether a path is answered to a person's browser (a page) rather than
/// to a script.
fn is_page(path: &str) -> bool {
    !(super::error::is_api(path) || path.starts_with("/forms/") || path.starts_with("/auth/") || path == "/metrics")
}

/// The answer that refuses a request whose caller lacks `needed`, if it must.
fn refuse(caller: Option<&Caller>, needed: Role, path: &str, query: Option<&str>) -> Option<Response> {
    // A page's plain form (no WASM) is answered as a page: back to sign in,
    // or back to the dashboard (the alarm list, for an alarm) saying it was
    // refused.
    if let Some(form) = path.strip_prefix("/forms/") {
        let (panel, page) = match form {
            "rule" => ("rule", "/"),
            "alarm" => ("alarm", app::state::View::ALARMS_PATH),
            _ => ("outlet", "/"),
        };
        return match caller {
            None => Some(Redirect::to("/login?next=%2F").into_response()),
            Some(c) if !c.may(needed) => {
                Some(Redirect::to(&format!("{page}?failed={panel}&code=403#content")).into_response())
            }
            Some(_) => None,
        };
    }
    let refused = match caller {
        None if is_page(path) => {
            let next = match query {
                Some(q) => format!("{path}?{q}"),
                None => path.to_owned(),
            };
            let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
            Redirect::to(&format!("/login?next={next}")).into_response()
        }
        None => HttpError(ApiError::Unauthorized(
            "sign in first (or send an API token: Authorization: Bearer …); nothing was done".into(),
        ))
        .into_response(),
        Some(c) if !c.may(needed) => HttpError(refusal(c, needed)).into_response(),
        Some(_) => return None,
    };
    Some(refused)
}

/// The 403 for a caller whose role is not enough.
pub fn refusal(caller: &Caller, needed: Role) -> ApiError {
    ApiError::Forbidden {
        field: Some("role".into()),
        message: format!(
            "{} is a {}, which {}; this needs an {needed}{}; nothing was done",
            caller.who(),
            caller.role,
            caller.role.describe(),
            if needed == Role::Admin { "" } else { " or admin" },
        )
        .replace("an viewer", "a viewer"),
    }
}

/// A route group's gate: the caller must have at least this role.
pub async fn require(State(needed): State<Role>, request: Request, next: Next) -> Response {
    let caller = request.extensions().get::<Caller>();
    match refuse(caller, needed, request.uri().path(), request.uri().query()) {
        None => next.run(request).await,
        Some(refused) => refused,
    }
}

/// The role each server function needs; any not listed needs an admin.
pub fn server_fn_role(name: &str) -> Role {
    match name {
        "events" | "history" | "history_between" | "energy" | "report" | "pdus" | "fleet" | "sessions" | "settings"
        | "session_end" | "sessions_end_all" | "password_change" | "alarms" => Role::Viewer,
        "outlet_command" | "rule_save" | "rule_delete" | "rule_enable" | "outlet_rename" | "all_outlets"
        | "alarm_acknowledge" => Role::Operator,
        _ => Role::Admin,
    }
}

/// The gate of `/fn/{name}`, by the function's name.
/// Refusals carry their status in the body, the server functions' own
/// error encoding, so the dashboard reads them back as the same `ApiError`
/// (a 401 as "session ended", a 403 as the role's refusal).
pub async fn require_for_server_fn(request: Request, next: Next) -> Response {
    let name = request.uri().path().trim_start_matches("/fn/").to_owned();
    let needed = server_fn_role(&name);
    let refused = match request.extensions().get::<Caller>() {
        Some(c) if c.may(needed) => return next.run(request).await,
        Some(c) => refusal(c, needed),
        None => ApiError::Unauthorized(
            "sign in first (or send an API token: Authorization: Bearer …); nothing was done".into(),
        ),
    };
    let status = StatusCode::from_u16(refused.status_code()).unwrap_or(StatusCode::FORBIDDEN);
    (status, Json(refused)).into_response()
}

/// The caller, for handlers behind a `require` gate.
pub struct Who(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Who {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .map(Who)
            .ok_or_else(|| HttpError(ApiError::Unauthorized("sign in first".into())))
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Only a path on this site, never `//elsewhere` or a scheme.
pub(super) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains(['\\', '\r', '\n'])
                && !n.starts_with("/login") =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn login_page(state: &AppState, next: &str, message: Option<&str>, name: &str) -> String {
    let css = super::assets::output_name(state.site_root.as_deref());
    let message = message
        .map(|m| format!(r#"<p class="login-error" role="alert" id="login-error">{}</p>"#, escape(m)))
        .unwrap_or_default();
    let described = if message.is_empty() { "" } else { r#" aria-describedby="login-error""# };
    let anonymous = if state.services.auth.anonymous_read() {
        r#"<p class="login-hint"><a href="/">Look without signing in</a> (read only).</p>"#
    } else {
        ""
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Sign in · pdu-bridge</title>
<link rel="stylesheet" href="/pkg/{css}.css">
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
</head>
<body>
<main class="login" id="content">
<h1>pdu-bridge</h1>
<form class="login-form" method="post" action="/auth/login"{described}>
<h2>Sign in</h2>
{message}
<label for="login-name">Name</label>
<input id="login-name" name="name" autocomplete="username" required autofocus value="{name}">
<label for="login-password">Password</label>
<input id="login-password" name="password" type="password" autocomplete="current-password" required>
<input type="hidden" name="next" value="{next}">
<button type="submit" class="primary">Sign in</button>
</form>
{anonymous}
<p class="login-hint">On a first start the user is <code>admin</code>; its password is
<code>BRIDGE_ADMIN_PASSWORD</code> if that was set, or in the file
<code>initial-admin-password</code> in the bridge's data folder.</p>
</main>
</body>
</html>
"#,
        next = escape(next),
        name = escape(name),
    )
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, Html(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /login`: the sign-in form (plain HTML: works before and without the WASM).
pub async fn login_form(
    State(state): State<AppState>,
    caller: Option<axum::Extension<Caller>>,
    ApiQuery(q): ApiQuery<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    match caller {
        Some(c) if c.kind != CallerKind::Anonymous => Redirect::to(&next).into_response(),
        _ => html(StatusCode::OK, login_page(&state, &next, None, "")),
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

fn session_cookie(state: &AppState, value: &str, max_age: Option<u64>) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let age = match max_age {
        Some(s) => format!("; Max-Age={s}"),
        None => "; Max-Age=0".to_owned(),
    };
    let name = &state.cookie_name;
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}"))
        .unwrap_or_else(|_| HeaderValue::from_static("pdu_session=; Max-Age=0"))
}

/// `POST /auth/login`: check the password, set the session cookie, go on
/// to where the user was headed.
pub async fn login(
    State(state): State<AppState>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let name = form.name.trim();
    let ip = peer.map(|p| p.0 .0.ip());
    let from = ip.map(|ip| ip.to_string()).unwrap_or_else(|| "?".into());
    match state.services.auth.login(name, &form.password, ip, agent).await {
        Ok((secret, caller)) => {
            tracing::info!(user = %caller.name, from, "signed in");
            let max = state.services.session_max_secs();
            let mut response = Redirect::to(&next).into_response();
            response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state, &secret, Some(max)));
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(crate::auth::AuthError::WrongPassword) => {
            tracing::warn!(from, "a sign-in failed: wrong name or password");
            html(StatusCode::UNAUTHORIZED, login_page(&state, &next, Some("Wrong name or password."), name))
        }
        Err(e @ crate::auth::AuthError::Throttled(_)) => {
            tracing::warn!(from, "a sign-in was refused: {e}");
            let message = format!("{}{}.", e.to_string()[..1].to_uppercase(), &e.to_string()[1..]);
            html(StatusCode::TOO_MANY_REQUESTS, login_page(&state, &next, Some(&message), name))
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                login_page(&state, &next, Some("Signing in failed on the bridge; see its log."), name),
            )
        }
    }
}

/// `POST /auth/logout`: end this session (if it is still one), forget the
/// cookie. Public: signing out after the session expired must not fail.
pub async fn logout(
    State(state): State<AppState>,
    caller: Option<axum::Extension<Caller>>,
    session: Option<axum::Extension<SessionId>>,
) -> Response {
    if let (Some(caller), Some(session)) = (caller, session) {
        if let Err(e) = state.services.auth.logout(&caller, &session.0 .0).await {
            tracing::error!(error = %e, "cannot end a session");
        }
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state, "", None));
    response
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Me {
    #[serde(flatten)]
    caller: Caller,
    /// The session's public id, for a browser.
    session: Option<String>,
}

/// `GET /api/auth/me`: who this request is from.
#[utoipa::path(get, path = "/api/auth/me", tag = "access",
    responses((status = 200, description = "the caller", body = Me)))]
pub async fn me(Who(caller): Who, session: Option<axum::Extension<SessionId>>) -> Json<Me> {
    Json(Me { caller, session: session.map(|s| s.0 .0) })
}

#[utoipa::path(get, path = "/api/users", tag = "access",
    responses((status = 200, description = "every user", body = Vec<UserInfo>)))]
pub async fn users(State(state): State<AppState>, Who(caller): Who) -> Result<Json<Vec<UserInfo>>, HttpError> {
    Ok(Json(state.services.users(&caller).await?))
}

/// Add a user: `name`, `role` and `password` are needed.
#[utoipa::path(post, path = "/api/users", tag = "access", request_body = UserChange,
    responses(
        (status = 201, description = "the user added", body = UserInfo),
        (status = 400, description = "bad JSON, or a field missing: `field` names it", body = ErrorBody),
        (status = 409, description = "a user of that name exists", body = ErrorBody),
        (status = 422, description = "a bad field: `field` names it", body = ErrorBody),
    ))]
pub async fn add_user(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiJson(change): ApiJson<UserChange>,
) -> Result<(StatusCode, Json<UserInfo>), HttpError> {
    Ok((StatusCode::CREATED, Json(state.services.add_user(&caller, change).await?)))
}

/// Change a user's role (admins) or password (admins, or the user).
#[utoipa::path(put, path = "/api/users/{name}", tag = "access", params(("name" = String, Path, description = "the user's name")), request_body = UserChange,
    responses(
        (status = 200, description = "the user as changed", body = UserInfo),
        (status = 400, description = "bad JSON, or a rename", body = ErrorBody),
        (status = 404, description = "no such user", body = ErrorBody),
        (status = 409, description = "the last admin would be gone", body = ErrorBody),
        (status = 422, description = "a bad field: `field` names it", body = ErrorBody),
    ))]
pub async fn update_user(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiPath(name): ApiPath<String>,
    ApiJson(change): ApiJson<UserChange>,
) -> Result<Json<UserInfo>, HttpError> {
    Ok(Json(state.services.update_user(&caller, &name, change).await?))
}

#[utoipa::path(delete, path = "/api/users/{name}", tag = "access", params(("name" = String, Path, description = "the user's name")),
    responses(
        (status = 204, description = "removed, and signed out"),
        (status = 404, description = "no such user", body = ErrorBody),
        (status = 409, description = "the last admin", body = ErrorBody),
    ))]
pub async fn remove_user(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, HttpError> {
    state.services.remove_user(&caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/tokens", tag = "access",
    responses((status = 200, description = "every API token, never its secret", body = Vec<TokenInfo>)))]
pub async fn tokens(State(state): State<AppState>, Who(caller): Who) -> Result<Json<Vec<TokenInfo>>, HttpError> {
    Ok(Json(state.services.tokens(&caller).await?))
}

/// A new API token: its secret is in this answer only.
#[utoipa::path(post, path = "/api/tokens", tag = "access", request_body = TokenRequest,
    responses(
        (status = 201, description = "the token, with its secret", body = NewToken),
        (status = 400, description = "bad JSON", body = ErrorBody),
        (status = 409, description = "a token of that name exists", body = ErrorBody),
        (status = 422, description = "a bad field: `field` names it", body = ErrorBody),
    ))]
pub async fn create_token(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<NewToken>), HttpError> {
    Ok((StatusCode::CREATED, Json(state.services.create_token(&caller, request).await?)))
}

#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "access", params(("id" = String, Path, description = "the token's public id")),
    responses(
        (status = 204, description = "revoked"),
        (status = 404, description = "no such token", body = ErrorBody),
    ))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, HttpError> {
    state.services.revoke_token(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionsQuery {
    /// An admin's view of every user's sessions.
    all: Option<bool>,
}

/// Your sessions; every user's with `all=true` (admins).
#[utoipa::path(get, path = "/api/sessions", tag = "access", params(SessionsQuery),
    responses(
        (status = 200, description = "browser sessions", body = Vec<SessionInfo>),
        (status = 400, description = "a bad query", body = ErrorBody),
    ))]
pub async fn sessions(
    State(state): State<AppState>,
    Who(caller): Who,
    session: Option<axum::Extension<SessionId>>,
    ApiQuery(q): ApiQuery<SessionsQuery>,
) -> Result<Json<Vec<SessionInfo>>, HttpError> {
    let current = session.map(|s| s.0 .0);
    Ok(Json(state.services.sessions(&caller, q.all.unwrap_or(false), current.as_deref()).await?))
}

/// What `DELETE /api/sessions` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Ended {
    /// How many sessions ended.
    ended: u64,
}

/// `DELETE /api/sessions`: sign out everywhere (this session too).
#[utoipa::path(delete, path = "/api/sessions", tag = "access",
    responses(
        (status = 200, description = "every session of the caller ended; the cookie is cleared", body = Ended),
        (status = 400, description = "the caller is not a signed-in user (a token has no sessions)", body = ErrorBody),
    ))]
pub async fn end_all_sessions(State(state): State<AppState>, Who(caller): Who) -> Result<Response, HttpError> {
    let ended = state.services.end_all_sessions(&caller).await?;
    let mut response = Json(Ended { ended }).into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state, "", None));
    Ok(response)
}

#[utoipa::path(delete, path = "/api/sessions/{id}", tag = "access", params(("id" = String, Path, description = "the session's public id")),
    responses(
        (status = 204, description = "signed out"),
        (status = 404, description = "no such session (or not yours)", body = ErrorBody),
    ))]
pub async fn end_session(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, HttpError> {
    state.services.end_session(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/audit", tag = "access", params(AuditQuery),
    responses(
        (status = 200, description = "a page of the audit log", body = AuditPage),
        (status = 400, description = "a bad filter: `field` names it", body = ErrorBody),
    ))]
pub async fn audit(
    State(state): State<AppState>,
    Who(caller): Who,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, HttpError> {
    Ok(Json(state.services.audit(&caller, q).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_bearers_are_read_and_next_stays_on_this_site() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; pdu_session_8080=abc ; b=2".parse().unwrap());
        headers.insert(header::AUTHORIZATION, "bearer pdub_x_y".parse().unwrap());
        assert_eq!(cookie(&headers, &cookie_name(8080)), Some("abc"));
        assert_eq!(cookie(&headers, &cookie_name(8081)), None, "another bridge's session");
        assert_eq!(bearer(&headers), Some("pdub_x_y"));
        assert_eq!(safe_next(Some("/?outlet=3")), "/?outlet=3");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "/login?next=/"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(escape("<a href=\"x\">'"), "&lt;a href=&quot;x&quot;&gt;&#39;");
    }

    #[test]
    fn every_server_function_has_a_role_and_unknown_ones_need_an_admin() {
        assert_eq!(server_fn_role("outlet_command"), Role::Operator);
        assert_eq!(server_fn_role("history"), Role::Viewer);
        assert_eq!(server_fn_role("something_new"), Role::Admin);
    }
}
