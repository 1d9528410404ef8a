//! Shared helpers: configurations, a started bridge, requests through the
//! router (`oneshot`) and over a real socket.

#![allow(dead_code)]

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
        let running = server::start(&config, bridge.clone(), &shutdown).await;
        let services = running.services;
        let history = services.history.clone().expect("the history store opens");
        let automation = services.automation.clone();
        let started = Self { bridge, services, automation, history, shutdown, config, _dir: dir };
        started.wait_for(|b| b.snapshots().len() == 1).await;
        started
    }

    pub fn router(&self) -> Router {
        web::router(AppState {
            services: self.services.clone(),
            shutdown: self.shutdown.clone(),
            site_root: None,
            allowed_hosts: self.config.allowed_hosts.clone(),
        })
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

    pub fn sim(&self) -> &server::pdu::sim::SimulatedPdu {
        self.bridge.devices()[0].simulator().expect("a simulated PDU")
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
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
    use tower::ServiceExt;
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .body(body.map(|b| Body::from(b.to_owned())).unwrap_or_default())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The bridge served on 127.0.0.1, port 0.
pub struct Served {
    pub addr: SocketAddr,
    pub bridge: Arc<Bridge>,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

pub async fn serve(pairs: &[(&str, &str)]) -> Served {
    // The embedded broker on a port of its own unless the test chooses: two
    // tests (or another bridge) on 1883 would take each other's port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let mut with_port = vec![("MQTT_PORT", port.as_str())];
    with_port.extend_from_slice(pairs);
    let (config, dir) = config(&with_port);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let bridge = Arc::new(Bridge::new(&config));
    let shutdown = CancellationToken::new();
    let task = {
        let (bridge, shutdown) = (bridge.clone(), shutdown.clone());
        tokio::spawn(async move { server::serve_bridge(bridge, &config, listener, shutdown).await })
    };
    Served { addr, bridge, shutdown, task, _dir: dir }
}

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
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status code");
    (status, body.to_owned())
}

/// An empty history store in a temporary folder.
pub async fn store() -> (Arc<server::history::store::Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Arc::new(server::history::store::Store::open(&dir.path().join("history.db")).await.unwrap()), dir)
}
