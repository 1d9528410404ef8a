//! Access control from the outside: who may do what over HTTP, sign-in and
//! sessions, tokens, throttling, protected outlets and the audit log.

use crate::util::{self, call, call_with, http_full, http_raw, serve, Started};
use app::access::Role;
use app::model::{OutletAction, OutletState};
use axum::http::StatusCode;
use server::bridge::{CommandError, Requester};

fn outlet_state(started: &Started, n: u32) -> OutletState {
    started.bridge.devices()[0].latest().unwrap().outlet(n).unwrap().state
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn nothing_but_health_and_the_login_page_answers_without_signing_in() {
    let started = Started::new(&[]).await;
    let router = started.bare_router();
    let (code, body) = call(&router, "GET", "/api/status", None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["error"].as_str().unwrap().contains("sign in"), "{body}");
    let (code, _) = call(&router, "POST", "/api/outlets/3/command", Some(r#"{"action":"off"}"#)).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, _) = call_with(
        &router,
        "POST",
        "/fn/outlet_command",
        Some("device_id=pdu44001&outlet=3&action=off"),
        &[("content-type", "application/x-www-form-urlencoded")],
    )
    .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(outlet_state(&started, 3), OutletState::On, "nothing was switched");
    // A person's browser is sent to sign in, and comes back where it was.
    let (code, _) = call_with(&router, "GET", "/?range=7d", None, &[]).await;
    assert_eq!(code, StatusCode::SEE_OTHER);
    let (code, page) = call_with(&router, "GET", "/login?next=%2F%3Frange%3D7d", None, &[]).await;
    assert_eq!(code, StatusCode::OK);
    assert!(page.contains(r#"name="next" value="/?range=7d""#), "{page}");
    assert!(!page.contains("<script"), "the login page runs no script");
    // A PDU's settings are a page like the others.
    for path in ["/settings", "/pdu/pdu44001/settings"] {
        let (code, _) = call_with(&router, "GET", path, None, &[]).await;
        assert_eq!(code, StatusCode::SEE_OTHER, "{path} asks to sign in first");
    }
    let (code, health) = call(&router, "GET", "/api/health", None).await;
    assert!(code == StatusCode::OK || code == StatusCode::SERVICE_UNAVAILABLE, "{health}");
    // A token that does not check out is refused, not served as nobody.
    let (code, _) =
        call_with(&router, "GET", "/api/status", None, &[("authorization", "Bearer pdub_0123456789ab_nope")]).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn each_role_may_do_its_own_and_no_more() {
    let started = Started::new(&[]).await;
    let router = started.bare_router();
    let viewer = started.token_for("wall", Role::Viewer).await;
    let operator = started.token_for("ops", Role::Operator).await;
    let as_ = |token: &str| bearer(token);
    let json = [("content-type", "application/json")];

    let (code, _) = call_with(&router, "GET", "/api/status", None, &[("authorization", &as_(&viewer))]).await;
    assert_eq!(code, StatusCode::OK, "a viewer reads");
    let off = Some(r#"{"action":"off"}"#);
    let (code, body) =
        call_with(&router, "POST", "/api/outlets/3/command", off, &[json[0], ("authorization", &as_(&viewer))]).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "a viewer may not switch: {body}");
    assert!(body.contains("viewer") && body.contains("operator"), "{body}");
    assert_eq!(outlet_state(&started, 3), OutletState::On);
    let rule =
        r#"{"name":"r1","outlet":3,"condition":{"type":"voltage_below","source":"a","volts":100},"action":"off"}"#;
    let (code, _) =
        call_with(&router, "POST", "/api/rules", Some(rule), &[json[0], ("authorization", &as_(&viewer))]).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "a viewer may not change rules");

    let (code, body) =
        call_with(&router, "POST", "/api/outlets/3/command", off, &[json[0], ("authorization", &as_(&operator))]).await;
    assert_eq!(code, StatusCode::OK, "an operator switches: {body}");
    assert_eq!(outlet_state(&started, 3), OutletState::Off);
    for (method, path) in [("GET", "/api/users"), ("GET", "/api/tokens"), ("GET", "/api/audit"), ("POST", "/fn/users")]
    {
        let (code, body) = call_with(&router, method, path, None, &[("authorization", &as_(&operator))]).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{method} {path} is for admins: {body}");
    }
    // A server function nobody listed needs an admin.
    let (code, _) =
        call_with(&router, "POST", "/fn/some_future_function", None, &[("authorization", &as_(&operator))]).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    // Nobody creates a token with more rights than their own.
    let (code, body) = call_with(
        &router,
        "POST",
        "/api/tokens",
        Some(r#"{"name":"x","role":"admin"}"#),
        &[json[0], ("authorization", &as_(&operator))],
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test]
async fn anonymous_viewing_reads_but_never_switches() {
    let started = Started::new(&[("BRIDGE_ANONYMOUS_READ", "true")]).await;
    let router = started.bare_router();
    let (code, _) = call(&router, "GET", "/api/status", None).await;
    assert_eq!(code, StatusCode::OK);
    let (code, body) = call(&router, "POST", "/api/outlets/3/command", Some(r#"{"action":"off"}"#)).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"].as_str().unwrap().contains("anonymous"), "{body}");
    assert_eq!(outlet_state(&started, 3), OutletState::On);
}

/// The cross-site form post of issue 12, from a page on another site in a
/// signed-in operator's browser.
#[tokio::test]
async fn a_cross_site_form_post_is_refused_even_with_a_session_and_nothing_switches() {
    let served = serve(&[("MQTT_BROKER", "none"), ("BRIDGE_ADMIN_PASSWORD", "first-admin-pw")]).await;
    let cookie = sign_in(served.addr, "admin", "first-admin-pw").await;
    let form = "device_id=pdu44001&outlet=3&action=off";
    let headers = format!(
        "Origin: https://evil.example\r\nContent-Type: application/x-www-form-urlencoded\r\nCookie: {cookie}\r\n"
    );
    let (code, body) = http_raw(served.addr, "POST", "/fn/outlet_command", Some(form), &headers).await;
    assert_eq!(code, 403, "{body}");
    let (code, _) = http_raw(served.addr, "POST", "/forms/outlet", Some("o=3&action=off&confirmed=1"), &headers).await;
    assert_eq!(code, 403);
    let state = served.bridge.devices()[0].latest().unwrap().outlet(3).unwrap().state;
    assert_eq!(state, OutletState::On, "the outlet did not change");
    // The same post from the bridge's own page works.
    let own = format!(
        "Origin: http://{}\r\nContent-Type: application/x-www-form-urlencoded\r\nCookie: {cookie}\r\n",
        served.addr
    );
    let (code, body) = http_raw(served.addr, "POST", "/fn/outlet_command", Some(form), &own).await;
    assert_eq!(code, 200, "{body}");
    // A foreign Host (DNS rebinding) is refused before anything else.
    let mut stream = tokio::net::TcpStream::connect(served.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request =
        format!("GET /api/status HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    served.shutdown.cancel();
}

/// Sign in through the form; the session cookie's value.
async fn sign_in(addr: std::net::SocketAddr, name: &str, password: &str) -> String {
    let (code, head, body) = try_sign_in(addr, name, password).await;
    assert_eq!(code, 303, "{head}\n{body}");
    let name = format!("pdu_session_{}=", addr.port());
    let cookie = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().starts_with("set-cookie:").then(|| l[11..].trim()))
        .and_then(|c| c.strip_prefix(name.as_str()))
        .expect("a session cookie named after the port");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    format!("{name}{}", cookie.split(';').next().unwrap())
}

async fn try_sign_in(addr: std::net::SocketAddr, name: &str, password: &str) -> (u16, String, String) {
    let form = format!("name={name}&password={password}&next=%2F");
    let headers = format!("Origin: http://{addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n");
    http_full(addr, "POST", "/auth/login", Some(&form), &headers).await
}

#[tokio::test]
async fn signing_in_out_and_everywhere_with_sessions_that_survive_a_restart() {
    let (config, _dir) = util::config(&[("MQTT_BROKER", "none"), ("BRIDGE_ADMIN_PASSWORD", "first-admin-pw")]);
    let auth = server::open_auth(&config).await.unwrap();
    let (secret, caller) = auth.login("ADMIN", "first-admin-pw", None, Some("test")).await.unwrap();
    assert_eq!((caller.name.as_str(), caller.role), ("admin", Role::Admin));
    auth.close().await;
    drop(auth);
    // A restart: the same store, opened again.
    let auth = server::open_auth(&config).await.unwrap();
    let found = auth.session(&secret, None).await.unwrap().expect("the session survived the restart");
    assert_eq!(found.caller.name, "admin");
    // Idle too long: gone.
    auth.skip_ahead(std::time::Duration::from_secs(25 * 3600));
    assert!(auth.session(&secret, None).await.unwrap().is_none(), "idle expiry");

    // Sign out everywhere ends every session of the user.
    let (a, _) = auth.login("admin", "first-admin-pw", None, None).await.unwrap();
    let (b, caller) = auth.login("admin", "first-admin-pw", None, None).await.unwrap();
    assert_eq!(auth.sessions(Some("admin"), None).await.unwrap().len(), 2);
    assert_eq!(auth.end_sessions_of(&caller, "admin").await.unwrap(), 2);
    assert!(auth.session(&a, None).await.unwrap().is_none() && auth.session(&b, None).await.unwrap().is_none());
}

#[tokio::test]
async fn sessions_end_at_their_absolute_limit_however_busy() {
    let (config, _dir) = util::config(&[
        ("MQTT_BROKER", "none"),
        ("BRIDGE_ADMIN_PASSWORD", "first-admin-pw"),
        ("BRIDGE_SESSION_MAX_DAYS", "1"),
    ]);
    let auth = server::open_auth(&config).await.unwrap();
    let (secret, _) = auth.login("admin", "first-admin-pw", None, None).await.unwrap();
    for _ in 0..4 {
        auth.skip_ahead(std::time::Duration::from_secs(5 * 3600));
        assert!(auth.session(&secret, None).await.unwrap().is_some(), "in use, within a day");
    }
    auth.skip_ahead(std::time::Duration::from_secs(5 * 3600));
    assert!(auth.session(&secret, None).await.unwrap().is_none(), "25 h after sign-in: over");
}

#[tokio::test]
async fn the_browser_session_works_and_logout_ends_it() {
    let served = serve(&[("MQTT_BROKER", "none"), ("BRIDGE_ADMIN_PASSWORD", "first-admin-pw")]).await;
    let cookie = sign_in(served.addr, "admin", "first-admin-pw").await;
    let with_cookie = format!("Cookie: {cookie}\r\n");
    let (code, me) = http_raw(served.addr, "GET", "/api/auth/me", None, &with_cookie).await;
    assert_eq!(code, 200, "{me}");
    let me: serde_json::Value = serde_json::from_str(&me).unwrap();
    assert_eq!(
        (me["name"].as_str(), me["role"].as_str(), me["kind"].as_str()),
        (Some("admin"), Some("admin"), Some("user"))
    );
    let (code, page) = http_raw(served.addr, "GET", "/", None, &with_cookie).await;
    assert_eq!(code, 200);
    assert!(page.contains("admin"), "the page says who is signed in");
    let logout = format!("Origin: http://{}\r\n{with_cookie}", served.addr);
    let (code, head, _) = http_full(served.addr, "POST", "/auth/logout", None, &logout).await;
    assert_eq!(code, 303);
    assert!(head.to_ascii_lowercase().contains(&format!("set-cookie: pdu_session_{}=;", served.addr.port())), "{head}");
    let (code, _) = http_raw(served.addr, "GET", "/api/auth/me", None, &with_cookie).await;
    assert_eq!(code, 401, "the old cookie signs nobody in");
    served.shutdown.cancel();
}

#[tokio::test]
async fn a_wrong_name_and_a_wrong_password_answer_alike_and_throttling_kicks_in() {
    let served = serve(&[("MQTT_BROKER", "none"), ("BRIDGE_ADMIN_PASSWORD", "first-admin-pw")]).await;
    let (code_a, _, body_a) = try_sign_in(served.addr, "admin", "not-the-password").await;
    let (code_b, _, body_b) = try_sign_in(served.addr, "nobody", "not-the-password").await;
    assert_eq!((code_a, code_b), (401, 401));
    assert_eq!(
        body_a.replace("\"admin\"", "\"X\""),
        body_b.replace("\"nobody\"", "\"X\""),
        "the same page but for the name typed"
    );
    assert!(body_a.contains("Wrong name or password."));
    // Four more wrong tries for admin: now even the right password waits.
    for _ in 0..4 {
        let (code, _, _) = try_sign_in(served.addr, "admin", "not-the-password").await;
        assert_eq!(code, 401);
    }
    let (code, _, body) = try_sign_in(served.addr, "admin", "first-admin-pw").await;
    assert_eq!(code, 429, "{body}");
    assert!(body.contains("Too many failed sign-ins"), "{body}");
    // A name that does not exist locks the same way: no telling them apart.
    for _ in 0..5 {
        try_sign_in(served.addr, "nobody", "x-x-x-x-x").await;
    }
    let (code, _, _) = try_sign_in(served.addr, "nobody", "x-x-x-x-x").await;
    assert_eq!(code, 429);
    // The shell tool is never locked out: it works on the store directly.
    served.shutdown.cancel();
}

#[tokio::test]
async fn a_protected_outlet_goes_off_only_for_an_admin_who_says_so() {
    let started = Started::new(&[("BRIDGE_PROTECTED_OUTLETS", "3")]).await;
    let router = started.bare_router();
    let operator = started.token_for("ops", Role::Operator).await;
    let json = ("content-type", "application/json");
    let off = Some(r#"{"action":"off","confirm_protected":true}"#);
    let (code, body) =
        call_with(&router, "POST", "/api/outlets/3/command", off, &[json, ("authorization", &bearer(&operator))]).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "an operator may not, even saying so: {body}");
    assert!(body.contains("confirm_protected"), "{body}");
    let (code, body) = call(&started.router(), "POST", "/api/outlets/3/command", Some(r#"{"action":"reboot"}"#)).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "an admin must say so: {body}");
    assert_eq!(body["field"], "confirm_protected");
    assert_eq!(outlet_state(&started, 3), OutletState::On);
    // Switching it on needs nothing special.
    let (code, _) = call(&started.router(), "POST", "/api/outlets/3/command", Some(r#"{"action":"on"}"#)).await;
    assert_eq!(code, StatusCode::OK);
    // MQTT and rules never switch it off.
    let device = &started.bridge.devices()[0];
    for requester in [Requester::mqtt(Some("operator")), Requester::rule("night")] {
        let e = started.bridge.outlet_command(device, 3, OutletAction::Off, requester).await.unwrap_err();
        assert!(matches!(e, CommandError::Protected { outlet: 3, .. }), "{e}");
    }
    let (code, body) = call(&started.router(), "POST", "/api/outlets/3/command", off).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(outlet_state(&started, 3), OutletState::Off);
    // Other outlets are as before.
    let (code, _) = call_with(
        &router,
        "POST",
        "/api/outlets/4/command",
        Some(r#"{"action":"off"}"#),
        &[json, ("authorization", &bearer(&operator))],
    )
    .await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test]
async fn the_audit_log_says_who_did_what_from_where_and_how_it_ended() {
    let started = Started::new(&[("BRIDGE_PROTECTED_OUTLETS", "3")]).await;
    let router = started.bare_router();
    let operator = started.token_for("ops", Role::Operator).await;
    let json = ("content-type", "application/json");
    let auth = ("authorization", bearer(&operator));
    call_with(&router, "POST", "/api/outlets/5/command", Some(r#"{"action":"off"}"#), &[json, (auth.0, &auth.1)]).await;
    call_with(&router, "POST", "/api/outlets/3/command", Some(r#"{"action":"off"}"#), &[json, (auth.0, &auth.1)]).await;
    let (code, page) = call(&started.router(), "GET", "/api/audit?action=outlet_command", None).await;
    assert_eq!(code, StatusCode::OK, "{page}");
    let entries = page["entries"].as_array().unwrap();
    let seen: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["target"].as_str().unwrap(), e["result"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, vec![("token ops", "pdu44001 outlet 3", "refused"), ("token ops", "pdu44001 outlet 5", "ok")]);
    // Token creation is there too, by who made it.
    let (_, page) = call(&started.router(), "GET", "/api/audit?action=token_change", None).await;
    assert!(page["entries"].as_array().unwrap().iter().any(|e| e["target"] == "token ops"), "{page}");
    // Bad filters name the field.
    let (code, e) = call(&started.router(), "GET", "/api/audit?limit=0", None).await;
    assert_eq!((code, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("limit")));
}

#[tokio::test]
async fn admins_manage_users_and_tokens_and_the_last_admin_stays() {
    let started = Started::new(&[]).await;
    let admin = started.router();
    let (code, user) =
        call(&admin, "POST", "/api/users", Some(r#"{"name":"bob","role":"viewer","password":"bobs-password"}"#)).await;
    assert_eq!(code, StatusCode::CREATED, "{user}");
    assert!(user.get("hash").is_none() && user.get("password").is_none(), "{user}");
    let (code, e) =
        call(&admin, "POST", "/api/users", Some(r#"{"name":"bob","role":"viewer","password":"bobs-password"}"#)).await;
    assert_eq!(code, StatusCode::CONFLICT, "{e}");
    let (code, e) =
        call(&admin, "POST", "/api/users", Some(r#"{"name":"eve","role":"viewer","password":"short"}"#)).await;
    assert_eq!((code, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("password")));
    let (code, e) =
        call(&admin, "POST", "/api/users", Some(r#"{"name":"a b","role":"viewer","password":"long-enough"}"#)).await;
    assert_eq!((code, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("name")));
    let (code, _) = call(&admin, "PUT", "/api/users/bob", Some(r#"{"role":"operator"}"#)).await;
    assert_eq!(code, StatusCode::OK);
    // A change that changes nothing is not answered as done.
    for empty in ["{}", "[null, null]", r#"{"name":"bob"}"#] {
        let (code, e) = call(&admin, "PUT", "/api/users/bob", Some(empty)).await;
        assert_eq!((code, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("role")), "{empty}: {e}");
    }
    let (code, e) = call(&admin, "PUT", "/api/users/admin", Some(r#"{"role":"viewer"}"#)).await;
    assert_eq!(code, StatusCode::CONFLICT, "the last admin keeps the role: {e}");
    let (code, _) = call(&admin, "DELETE", "/api/users/admin", None).await;
    assert_eq!(code, StatusCode::CONFLICT);

    let (code, created) = call(&admin, "POST", "/api/tokens", Some(r#"{"name":"backup","role":"viewer"}"#)).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    let (_, list) = call(&admin, "GET", "/api/tokens", None).await;
    assert!(!list.to_string().contains(&token[18..]), "the secret is shown once only: {list}");
    let entry = list.as_array().unwrap().iter().find(|t| t["name"] == "backup").unwrap().clone();
    let router = started.bare_router();
    let (code, _) = call_with(&router, "GET", "/api/status", None, &[("authorization", &bearer(&token))]).await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = call(&admin, "DELETE", &format!("/api/tokens/{}", entry["id"].as_str().unwrap()), None).await;
    assert_eq!(code, StatusCode::NO_CONTENT);
    let (code, _) = call_with(&router, "GET", "/api/status", None, &[("authorization", &bearer(&token))]).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "revoked");
}

#[tokio::test]
async fn a_user_changes_their_own_password_only_and_it_signs_them_out() {
    let (config, _dir) = util::config(&[("MQTT_BROKER", "none"), ("BRIDGE_ADMIN_PASSWORD", "first-admin-pw")]);
    let auth = server::open_auth(&config).await.unwrap();
    let admin = util::shell_admin();
    auth.add_user(&admin, "bob", Role::Viewer, "bobs-password").await.unwrap();
    let (secret, bob) = auth.login("bob", "bobs-password", None, None).await.unwrap();
    let change = app::access::UserChange { password: Some("bobs-new-password".into()), ..Default::default() };
    auth.update_user(&bob, "bob", &change).await.unwrap();
    assert!(auth.session(&secret, None).await.unwrap().is_none(), "a new password ends the old sessions");
    assert!(auth.login("bob", "bobs-password", None, None).await.is_err());
    assert!(auth.login("bob", "bobs-new-password", None, None).await.is_ok());
}

/// The shell tool, on the store of a running bridge: a user from standard
/// input, a token printed once on the last line, both work at once over
/// HTTP; revoking from the shell ends the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shell_tool_adds_users_and_tokens_a_running_bridge_honours() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let served = serve(&[("MQTT_BROKER", "none")]).await;
    let data = served.data_dir().to_owned();
    let tool = |args: &[&str], stdin: Option<&str>| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pdu-bridge"))
            .args(args)
            .env_clear()
            .env("BRIDGE_DATA_DIR", &data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(text) = stdin {
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = tool(&["user", "add", "carol", "--role", "operator"], Some("carols-password\n"));
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!out.contains("carols-password"), "a password typed in is not echoed: {out}");
    let cookie = sign_in(served.addr, "carol", "carols-password").await;
    let (code, me) = http_raw(served.addr, "GET", "/api/auth/me", None, &format!("Cookie: {cookie}\r\n")).await;
    assert_eq!(code, 200);
    assert!(me.contains(r#""role":"operator""#), "{me}");

    let (code, out, err) = tool(&["token", "create", "cron", "--role", "viewer"], None);
    assert_eq!(code, Some(0), "{err}");
    let token = out.lines().last().unwrap().trim().to_owned();
    assert!(token.starts_with("pdub_"), "the token is the last line: {out}");
    let auth = format!("Authorization: Bearer {token}\r\n");
    assert_eq!(http_raw(served.addr, "GET", "/api/status", None, &auth).await.0, 200);
    let (code, list, _) = tool(&["token", "list"], None);
    assert_eq!(code, Some(0));
    assert!(list.contains("cron") && !list.contains(&token), "{list}");

    let (code, text, _) = tool(&["check", "--set", "MQTT_BROKER=none"], None);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("2 user(s), 1 admin(s), 2 API token(s)"), "check counts who may sign in: {text}");
    let (code, _, err) = tool(&["token", "revoke", "cron"], None);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(http_raw(served.addr, "GET", "/api/status", None, &auth).await.0, 401);
    // Mistakes are named.
    let (code, _, err) = tool(&["user", "add", "dave"], None);
    assert_eq!(code, Some(2));
    assert!(err.contains("--role"), "{err}");
    let (code, _, err) = tool(&["user", "remove", "admin"], None);
    assert_eq!(code, Some(1));
    assert!(err.contains("last admin"), "{err}");
    served.shutdown.cancel();
}

#[tokio::test]
async fn cors_is_closed_unless_an_origin_is_configured() {
    let preflight = [
        ("origin", "https://grafana.example.net"),
        ("access-control-request-method", "GET"),
        ("access-control-request-headers", "authorization"),
    ];
    let closed = Started::new(&[]).await;
    let router = closed.bare_router();
    let response = tower::ServiceExt::oneshot(router, preflight_request(&preflight)).await.unwrap();
    assert!(response.headers().get("access-control-allow-origin").is_none(), "{:?}", response.headers());

    let open = Started::new(&[("BRIDGE_CORS_ORIGINS", "https://grafana.example.net")]).await;
    let response = tower::ServiceExt::oneshot(open.bare_router(), preflight_request(&preflight)).await.unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "https://grafana.example.net");
    assert!(response.headers().get("access-control-allow-credentials").is_none(), "tokens only, never cookies");
    let other = [("origin", "https://evil.example"), ("access-control-request-method", "GET")];
    let response = tower::ServiceExt::oneshot(open.bare_router(), preflight_request(&other)).await.unwrap();
    assert!(response.headers().get("access-control-allow-origin").is_none());
}

fn preflight_request(headers: &[(&str, &str)]) -> axum::http::Request<axum::body::Body> {
    let mut request =
        axum::http::Request::builder().method("OPTIONS").uri("/api/status").header("host", "127.0.0.1:8080");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.body(axum::body::Body::empty()).unwrap()
}

/// A browser's live stream ends once its session is signed out elsewhere
/// (within the recheck period), so a signed-out page stops updating.
#[tokio::test]
async fn the_live_stream_ends_when_its_session_is_signed_out_everywhere() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let served = serve(&[("MQTT_BROKER", "none"), ("BRIDGE_ADMIN_PASSWORD", "first-admin-pw")]).await;
    let cookie = sign_in(served.addr, "admin", "first-admin-pw").await;
    let mut stream = tokio::net::TcpStream::connect(served.addr).await.unwrap();
    let request = format!("GET /api/stream HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n\r\n", served.addr);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let (code, body) = http_raw(served.addr, "DELETE", "/api/sessions", None, &format!("Cookie: {cookie}\r\n")).await;
    assert_eq!(code, 200, "{body}");
    let deadline = server::web::SESSION_RECHECK + std::time::Duration::from_secs(10);
    let ended = tokio::time::timeout(deadline, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream still runs {deadline:?} after sign-out everywhere");
    served.shutdown.cancel();
}

/// Regression: a refused server function answered without the `status` the
/// dashboard decodes, so it showed "internal error" instead of "your session
/// ended" or the role's refusal.
#[tokio::test]
async fn a_refused_server_function_says_why_in_the_shape_the_dashboard_reads() {
    let started = Started::new(&[]).await;
    let router = started.bare_router();
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let body = Some("device_id=pdu44001&outlet=3&action=off");
    let (code, text) = call_with(&router, "POST", "/fn/outlet_command", body, &form).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let e: app::model::ApiError = serde_json::from_str(&text).unwrap();
    assert!(matches!(e, app::model::ApiError::Unauthorized(_)), "{text}");
    let viewer = started.token_for("wall", Role::Viewer).await;
    let auth = bearer(&viewer);
    let (code, text) =
        call_with(&router, "POST", "/fn/outlet_command", body, &[form[0], ("authorization", &auth)]).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let e: app::model::ApiError = serde_json::from_str(&text).unwrap();
    assert!(matches!(e, app::model::ApiError::Forbidden { .. }), "{text}");
}

/// A plain form (no WASM) is answered as a page: sign in first, or back to
/// the dashboard saying it was refused; never a JSON body in the browser.
#[tokio::test]
async fn a_refused_plain_form_goes_back_to_a_page() {
    let started = Started::new(&[]).await;
    let router = started.bare_router();
    let form = ("content-type", "application/x-www-form-urlencoded");
    let body = "o=3&action=off&confirmed=1";
    let response = tower::ServiceExt::oneshot(
        router.clone(),
        axum::http::Request::post("/forms/outlet").header(form.0, form.1).body(axum::body::Body::from(body)).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/login?next=%2F");
    let cookie = started.browser_cookie("vic", Role::Viewer).await;
    let response = tower::ServiceExt::oneshot(
        router,
        axum::http::Request::post("/forms/outlet")
            .header(form.0, form.1)
            .header("cookie", cookie)
            .body(axum::body::Body::from(body))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/?failed=outlet&code=403#content");
    assert_eq!(outlet_state(&started, 3), OutletState::On);
}

/// The banner's Acknowledge button without the WASM: a plain form that
/// acknowledges as the signed-in operator and goes back to the page it was
/// on; a viewer or an unknown alarm are told so there, another site is refused.
#[tokio::test]
async fn a_plain_alarm_form_acknowledges_as_the_operator_and_goes_back_to_its_page() {
    let started = Started::new(&[]).await;
    started.sim().model().set_psu_failed(1, true);
    started.wait_for(|b| !b.alarms().list().active.is_empty()).await;
    let alarm = started.bridge.alarms().list().active[0].clone();
    assert_eq!(alarm.title, "Power supply 1 failed");
    let router = started.bare_router();
    let post = |cookie: String, site: &'static str, body: String| {
        let router = router.clone();
        async move {
            let request = axum::http::Request::post("/forms/alarm")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("sec-fetch-site", site)
                .header("cookie", cookie)
                .body(axum::body::Body::from(body))
                .unwrap();
            let response = tower::ServiceExt::oneshot(router, request).await.unwrap();
            let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
            match response.status() {
                StatusCode::SEE_OTHER => location.unwrap(),
                other => other.to_string(),
            }
        }
    };
    let id = alarm.id;
    let viewer = started.browser_cookie("vic", Role::Viewer).await;
    let operator = started.browser_cookie("otto", Role::Operator).await;
    let body = format!("id={id}&back=%2Ffleet");
    assert_eq!(post(viewer, "same-origin", body.clone()).await, "/alarms?failed=alarm&code=403#content");
    // Another site's page is stopped before the form (`guard`).
    assert_eq!(post(operator.clone(), "cross-site", body.clone()).await, "403 Forbidden");
    assert_eq!(started.bridge.alarms().list().active[0].acknowledged, None, "refused posts acknowledge nothing");

    assert_eq!(post(operator.clone(), "same-origin", body).await, format!("/fleet?done=alarm&id={id}#content"));
    let acknowledged = started.bridge.alarms().list().active[0].acknowledged.clone().expect("acknowledged");
    assert_eq!(acknowledged.by, "user otto");
    // Only a path of this site is gone back to.
    let elsewhere = format!("id={id}&back=https%3A%2F%2Fevil.example%2F");
    assert_eq!(post(operator.clone(), "same-origin", elsewhere).await, format!("/?done=alarm&id={id}#content"));
    assert_eq!(
        post(operator.clone(), "same-origin", "id=12345".into()).await,
        "/alarms?failed=alarm&id=12345&code=404#content"
    );
    assert_eq!(post(operator, "same-origin", "id=x".into()).await, "/alarms?failed=alarm&code=400#content");
}
