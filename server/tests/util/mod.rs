//! Shared helpers: configurations, a started bridge, requests through the
//! router (`oneshot`) and over a real socket.

#![allow(dead_code)]

pub mod smtp_sink;
pub mod webhook_sink;

use app::access::{Caller, CallerKind, Role};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use server::bridge::Bridge;
use server::config::{Config, RawSettings};
use server::web::{self, AppState, Services};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A validated configuration with a private data folder, plus overrides.
pub fn config(pairs: &[(&str, &str)]) -> (Config, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = RawSettings::new().set("BRIDGE_DATA_DIR", dir.path().to_str().unwrap());
    for (k, v) in pairs {
        raw = raw.set(k, v);
    }
    (Config::validate(&raw).expect("valid test configuration"), dir)
}

/// A bridge with everything running (history, events, rules, pollers; MQTT
/// as configured) and a first snapshot published.
pub struct Started {
    /// An admin API token: [`Started::router`] sends it with every request
    /// that brings no credentials of its own.
    pub token: String,
    pub bridge: Arc<Bridge>,
    pub services: Services,
    pub automation: Arc<server::rules::Automation>,
    pub history: Arc<server::history::store::Store>,
    pub shutdown: CancellationToken,
    pub config: Config,
    _dir: tempfile::TempDir,
}

impl Started {
    pub async fn new(pairs: &[(&str, &str)]) -> Self {
        let mut with_mqtt_off = vec![("MQTT_BROKER", "none")];
        with_mqtt_off.extend_from_slice(pairs);
        let (config, dir) = config(&with_mqtt_off);
        let bridge = Arc::new(Bridge::new(&config));
        let shutdown = CancellationToken::new();
        let running = server::start(&config, bridge.clone(), &shutdown).await.expect("access control opens");
        let services = running.services;
        let history = services.history.clone().expect("the history store opens");
        let automation = services.automation.clone();
        let token = admin_token(&services.auth, "tests").await;
        let started = Self { token, bridge, services, automation, history, shutdown, config, _dir: dir };
        started.wait_for(|b| b.snapshots().len() == 1).await;
        started
    }

    /// The router as a signed-in admin sees it (requests without an
    /// `Authorization` or `Cookie` header get the admin token).
    pub fn router(&self) -> Router {
        with_default_token(self.bare_router(), &self.token)
    }

    /// The router as anyone sees it: credentials only as the request brings them.
    pub fn bare_router(&self) -> Router {
        web::router(AppState {
            services: self.services.clone(),
            shutdown: self.shutdown.clone(),
            site_root: None,
            allowed_hosts: self.config.allowed_hosts.clone(),
            secure_cookies: false,
            cors_origins: self.config.auth.cors_origins.clone(),
            cookie_name: web::auth::cookie_name(8080),
        })
    }

    /// A signed-in browser's `Cookie` header value for a new user `name`
    /// with `role` (for [`Started::bare_router`]).
    pub async fn browser_cookie(&self, name: &str, role: Role) -> String {
        let auth = &self.services.auth;
        auth.add_user(&shell_admin(), name, role, "browser-password").await.expect("a user");
        let (secret, _) = auth.login(name, "browser-password", None, Some("test")).await.expect("signed in");
        format!("{}={secret}", web::auth::cookie_name(8080))
    }

    /// A token with `role`, named `name`.
    pub async fn token_for(&self, name: &str, role: Role) -> String {
        let admin = shell_admin();
        self.services.auth.create_token(&admin, name, role).await.expect("a token").token
    }

    /// Wait (at most 10 s) until the bridge satisfies `done`.
    pub async fn wait_for(&self, done: impl Fn(&Bridge) -> bool) {
        for _ in 0..200 {
            if done(&self.bridge) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("condition not reached within 10 s");
    }

    pub fn sim(&self) -> server::pdu::sim::SimulatedPdu {
        self.bridge.devices()[0].simulator().expect("a simulated PDU").clone()
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The caller the tests act as when they set up users and tokens.
pub fn shell_admin() -> Caller {
    Caller { name: "tests".into(), kind: CallerKind::User, role: Role::Admin, from: None }
}

/// A new admin token in `auth` (one of that name made by an earlier bridge
/// on the same data folder is replaced).
pub async fn admin_token(auth: &server::auth::Auth, name: &str) -> String {
    if auth.tokens().await.expect("the tokens").iter().any(|t| t.name == name) {
        auth.revoke_token(&shell_admin(), name).await.expect("the earlier token revoked");
    }
    auth.create_token(&shell_admin(), name, Role::Admin).await.expect("an admin token").token
}

/// `router`, sending `token` with requests that bring no credentials.
pub fn with_default_token(router: Router, token: &str) -> Router {
    let bearer = axum::http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    router.layer(axum::middleware::map_request(move |mut request: Request<Body>| {
        let bearer = bearer.clone();
        async move {
            let headers = request.headers_mut();
            if !headers.contains_key("authorization") && !headers.contains_key("cookie") {
                headers.insert("authorization", bearer);
            }
            request
        }
    }))
}

/// A request through the router without a socket; JSON bodies are parsed.
pub async fn call(router: &Router, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, serde_json::Value) {
    let (status, text) = call_text(router, method, uri, body, "application/json").await;
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, json)
}

/// Each GET answers with its status and an error naming its field.
pub async fn assert_errors(router: &Router, cases: &[(&str, StatusCode, &str)]) {
    for (uri, status, field) in cases {
        let (code, e) = call(router, "GET", uri, None).await;
        assert_eq!((code, e["field"].as_str()), (*status, Some(*field)), "{uri}: {e}");
    }
}

pub async fn call_text(
    router: &Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
    content_type: &str,
) -> (StatusCode, String) {
    call_with(router, method, uri, body, &[("content-type", content_type)]).await
}

/// A request with these headers through the router: (status, body text).
pub async fn call_with(
    router: &Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, String) {
    use tower::ServiceExt;
    let mut request = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request.body(body.map(|b| Body::from(b.to_owned())).unwrap_or_default()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The bridge served on 127.0.0.1, port 0.
pub struct Served {
    pub addr: SocketAddr,
    /// An admin API token; [`http`] sends it to this address by default.
    pub token: String,
    pub bridge: Arc<Bridge>,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

pub async fn serve(pairs: &[(&str, &str)]) -> Served {
    // The embedded broker on a port of its own unless the test chooses: two
    // tests (or another bridge) on 1883 would take each other's port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Bridges sharing a broker need names of their own (client id, last will).
    let bridge_id = format!("test-{}", addr.port());
    let mut with_port = vec![("MQTT_PORT", port.as_str()), ("BRIDGE_ID", bridge_id.as_str())];
    with_port.extend_from_slice(pairs);
    let (config, dir) = config(&with_port);
    let bridge = Arc::new(Bridge::new(&config));
    let shutdown = CancellationToken::new();
    // The same access store the bridge opens (SQLite allows both).
    let auth = server::auth::Auth::open(&config.auth, &config.data_dir).await.expect("the access store opens");
    let token = admin_token(&auth, "tests").await;
    auth.close().await;
    TOKENS.lock().unwrap().insert(addr, token.clone());
    let task = {
        let (bridge, shutdown) = (bridge.clone(), shutdown.clone());
        tokio::spawn(async move { server::serve_bridge(bridge, &config, listener, shutdown).await })
    };
    Served { addr, token, bridge, shutdown, task, _dir: dir }
}

impl Served {
    /// The bridge's data folder.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }
}

/// The admin token of each bridge [`serve`] started, by address.
static TOKENS: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<SocketAddr, String>>> =
    std::sync::LazyLock::new(Default::default);

/// A plain HTTP/1.1 request over a real socket with a JSON body: (status, body).
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    http_as(addr, method, path, body, "application/json").await
}

/// A plain HTTP/1.1 request over a real socket whose body is `content_type`.
pub async fn http_as(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    content_type: &str,
) -> (u16, String) {
    let token = TOKENS.lock().unwrap().get(&addr).cloned();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    http_raw(addr, method, path, body, &format!("Content-Type: {content_type}\r\n{auth}")).await
}

/// A plain HTTP/1.1 request over a real socket with exactly these extra
/// header lines (each ending in CRLF): (status, body).
pub async fn http_raw(addr: SocketAddr, method: &str, path: &str, body: Option<&str>, headers: &str) -> (u16, String) {
    let (status, _, body) = http_full(addr, method, path, body, headers).await;
    (status, body)
}

/// As [`http_raw`], with the response's head too: (status, head, body).
pub async fn http_full(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status code");
    (status, head.to_owned(), body.to_owned())
}

/// An empty history store in a temporary folder.
pub async fn store() -> (Arc<server::history::store::Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Arc::new(server::history::store::Store::open(&dir.path().join("history.db")).await.unwrap()), dir)
}

/// A self-signed certificate for `localhost` and 127.0.0.1 and its key,
/// made with openssl as `dir/NAME.crt` and `dir/NAME.key`: (certificate, key).
pub fn self_signed(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-days", "2", "-subj", &format!("/CN={name}")])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl installed");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    (cert, key)
}

/// A simulated PDU44001 served over SNMP on a loopback port (communities
/// `public`/`private`), stopped on drop.
pub struct Agent {
    pub addr: SocketAddr,
    pub sim: server::pdu::sim::SimulatedPdu,
    pub stop: CancellationToken,
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// [`Agent`] with 10 outlets, as the PDU44001 has.
pub async fn agent(seed: u64) -> Agent {
    serve_sim(server::pdu::sim::SimulatedPdu::new(seed, Duration::from_secs(2))).await
}

/// [`Agent`] with `outlets` outlets.
pub async fn sized_agent(seed: u64, outlets: usize) -> Agent {
    serve_sim(server::pdu::sim::SimulatedPdu::sized(seed, Duration::from_secs(2), outlets)).await
}

/// Serve `sim` over SNMP on a loopback port.
pub async fn serve_sim(sim: server::pdu::sim::SimulatedPdu) -> Agent {
    use server::snmp::agent::{self, Communities};
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let stop = CancellationToken::new();
    let communities = Communities { read: "public".into(), write: "private".into() };
    tokio::spawn(agent::serve(socket, sim.clone(), communities, stop.clone()));
    Agent { addr, sim, stop }
}
