//! HTTPS (`BRIDGE_TLS_CERT`, `BRIDGE_TLS_KEY`) on real sockets: the API over
//! TLS, certificates replaced without a restart, and the connection limits
//! (handshake deadline, header-read timeout, shutdown) over TLS.
//!
//! Certificates are self-signed, made with openssl; the client trusts
//! exactly the ones a test made.

use crate::util::serve;
use axum::routing::get;
use axum::Router;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use server::config::WebTls;
use server::web::{self, Tls};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

/// A self-signed certificate for `localhost` and 127.0.0.1 with its key.
struct Pair {
    cert: PathBuf,
    key: PathBuf,
}

impl Pair {
    fn new(dir: &Path, name: &str) -> Self {
        let (cert, key) = crate::util::self_signed(dir, name);
        Self { cert, key }
    }

    fn der(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(&self.cert).unwrap()
    }
}

/// Replace `to` with `from`'s contents whole (written beside, then
/// renamed), as certificate tools do.
fn replace(from: &Path, to: &Path) {
    let beside = to.with_extension("new");
    std::fs::copy(from, &beside).unwrap();
    std::fs::rename(&beside, to).unwrap();
}

/// The files the server reads, holding `pair` to begin with.
fn files(dir: &Path, pair: &Pair) -> WebTls {
    let files = WebTls { cert: dir.join("server.crt"), key: dir.join("server.key") };
    replace(&pair.cert, &files.cert);
    replace(&pair.key, &files.key);
    files
}

/// `BRIDGE_TLS_CERT` and `BRIDGE_TLS_KEY` naming `files`.
fn settings(files: &WebTls) -> [(&'static str, &str); 2] {
    [("BRIDGE_TLS_CERT", files.cert.to_str().unwrap()), ("BRIDGE_TLS_KEY", files.key.to_str().unwrap())]
}

/// A client trusting exactly `roots`, speaking HTTP/1.1.
fn client(roots: &[&Pair]) -> TlsConnector {
    let mut store = rustls::RootCertStore::empty();
    for pair in roots {
        store.add(pair.der()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

async fn connect(addr: SocketAddr, client: &TlsConnector) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(Duration::from_secs(10), client.connect(name, tcp))
        .await
        .expect("the handshake ends")
        .expect("the server's certificate is trusted")
}

/// The certificate the server offers a new connection.
async fn offered(addr: SocketAddr, client: &TlsConnector) -> CertificateDer<'static> {
    let tls = connect(addr, client).await;
    tls.get_ref().1.peer_certificates().expect("a certificate")[0].clone().into_owned()
}

/// Wait (at most 10 s) until new connections are offered `pair`.
async fn wait_until_offered(addr: SocketAddr, client: &TlsConnector, pair: &Pair) {
    let wanted = pair.der();
    for _ in 0..200 {
        if offered(addr, client).await == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not take the new certificate within 10 s");
}

/// One request on `stream`, which is then closed by the server: (status, body).
async fn request(mut stream: impl AsyncRead + AsyncWrite + Unpin, addr: SocketAddr, path: &str) -> (u16, String) {
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n", addr.port());
    stream.write_all(head.as_bytes()).await.unwrap();
    let text = read_all(&mut stream).await;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("an HTTP response: {text:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status code");
    (status, body.to_owned())
}

/// Everything until the server closes (a close without TLS's close_notify
/// ends it too), within 10 s.
async fn read_all(stream: &mut (impl AsyncRead + Unpin)) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await.expect("the server answers") {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// `web::run` over TLS with a router of one route, `/api/health`.
struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

async fn serve_tls(tls: Tls) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route("/api/health", get(|| async { "fine" }));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(web::run(listener, router, Some(tls), shutdown.clone()));
    Server { addr, shutdown, task }
}

/// Until the client gives up or the server closes: true if it closed.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // A TLS alert before the close.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn the_api_answers_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::new(dir.path(), "first");
    let files = files(dir.path(), &pair);
    let served = serve(&settings(&files)).await;
    let client = client(&[&pair]);
    let mut answer = (0, String::new());
    for _ in 0..100 {
        answer = request(connect(served.addr, &client).await, served.addr, "/api/health").await;
        if answer.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer.0, 200, "{}", answer.1);
    let health: serde_json::Value = serde_json::from_str(&answer.1).unwrap();
    assert!(health["status"].is_string(), "{health}");
    assert_eq!(connect(served.addr, &client).await.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    served.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), served.task).await.expect("the server stops").unwrap().unwrap();
}

#[tokio::test]
async fn plain_http_to_the_https_port_gets_no_page() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::new(dir.path(), "first");
    let server = serve_tls(Tls::load(&files(dir.path(), &pair)).await.unwrap()).await;
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain.write_all(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let answer = read_all(&mut plain).await;
    assert!(!answer.starts_with("HTTP/") && !answer.contains("fine"), "{answer:?}");
    // The port still serves HTTPS.
    assert_eq!(request(connect(server.addr, &client(&[&pair])).await, server.addr, "/api/health").await.0, 200);
}

#[tokio::test]
async fn a_replaced_certificate_is_offered_to_new_connections_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (Pair::new(dir.path(), "first"), Pair::new(dir.path(), "second"));
    let files = files(dir.path(), &first);
    let tls = Tls::load(&files).await.unwrap().reload_every(Duration::from_millis(100));
    let server = serve_tls(tls).await;
    let client = client(&[&first, &second]);
    assert_eq!(offered(server.addr, &client).await, first.der());
    let opened_before = connect(server.addr, &client).await;

    replace(&second.cert, &files.cert);
    replace(&second.key, &files.key);
    wait_until_offered(server.addr, &client, &second).await;
    assert_eq!(request(connect(server.addr, &client).await, server.addr, "/api/health").await.0, 200);
    // A connection made before the change goes on with the old one.
    assert_eq!(opened_before.get_ref().1.peer_certificates().unwrap()[0], first.der());
    assert_eq!(request(opened_before, server.addr, "/api/health").await.0, 200);
}

#[tokio::test]
async fn a_broken_replacement_keeps_the_previous_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (Pair::new(dir.path(), "first"), Pair::new(dir.path(), "second"));
    let files = files(dir.path(), &first);
    let every = Duration::from_millis(100);
    let server = serve_tls(Tls::load(&files).await.unwrap().reload_every(every)).await;
    let client = client(&[&first, &second]);

    // Not PEM; then gone; then a certificate without its key.
    std::fs::write(&files.cert, "this is not a certificate").unwrap();
    tokio::time::sleep(every * 10).await;
    assert_eq!(offered(server.addr, &client).await, first.der());
    std::fs::remove_file(&files.cert).unwrap();
    tokio::time::sleep(every * 10).await;
    assert_eq!(offered(server.addr, &client).await, first.der());
    replace(&second.cert, &files.cert);
    tokio::time::sleep(every * 10).await;
    assert_eq!(offered(server.addr, &client).await, first.der());

    // Its key arrives: the pair is whole and is taken.
    replace(&second.key, &files.key);
    wait_until_offered(server.addr, &client, &second).await;
}

#[tokio::test]
async fn a_bad_certificate_or_key_stops_start_up_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (Pair::new(dir.path(), "first"), Pair::new(dir.path(), "second"));
    let files = files(dir.path(), &first);
    let message = |files: WebTls| async move { Tls::load(&files).await.err().expect("refused").to_string() };

    std::fs::write(&files.cert, "not a certificate").unwrap();
    let e = message(files.clone()).await;
    assert!(e.contains("BRIDGE_TLS_CERT") && e.contains(files.cert.to_str().unwrap()), "{e}");

    replace(&first.cert, &files.cert);
    let key_text = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n";
    std::fs::write(&files.key, key_text).unwrap();
    let e = message(files.clone()).await;
    assert!(e.contains("BRIDGE_TLS_KEY") && e.contains(files.key.to_str().unwrap()), "{e}");
    assert!(!e.contains("c2VjcmV0") && !e.contains("secret"), "the key's contents are never shown: {e}");

    replace(&second.key, &files.key);
    let e = message(files.clone()).await;
    assert!(e.contains("BRIDGE_TLS_KEY") && e.contains("BRIDGE_TLS_CERT") && e.contains("not the key"), "{e}");

    // The bridge does not start serving with it.
    let served = serve(&settings(&files)).await;
    let stopped = tokio::time::timeout(Duration::from_secs(15), served.task).await.expect("start-up stops").unwrap();
    let e = stopped.expect_err("start-up fails").to_string();
    assert!(e.contains("BRIDGE_TLS_KEY"), "{e}");
}

#[tokio::test]
async fn a_client_that_never_says_hello_is_dropped_at_the_handshake_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::new(dir.path(), "first");
    let deadline = Duration::from_millis(500);
    let server = serve_tls(Tls::load(&files(dir.path(), &pair)).await.unwrap().handshake_deadline(deadline)).await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut half_hello = TcpStream::connect(server.addr).await.unwrap();
    half_hello.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await.unwrap();

    // Meanwhile others are served: accepting never waits on a handshake.
    assert_eq!(request(connect(server.addr, &client(&[&pair])).await, server.addr, "/api/health").await.0, 200);

    assert!(closed_within(&mut silent, Duration::from_secs(5)).await, "a silent client is dropped");
    assert!(closed_within(&mut half_hello, Duration::from_secs(5)).await, "a half hello is dropped");
    let waited = started.elapsed();
    assert!(waited >= deadline - Duration::from_millis(50) && waited < Duration::from_secs(4), "{waited:?}");
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_pending_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::new(dir.path(), "first");
    let tls = Tls::load(&files(dir.path(), &pair)).await.unwrap().handshake_deadline(Duration::from_secs(60));
    let server = serve_tls(tls).await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(3), server.task).await.expect("the server stops").unwrap().unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(1)).await);
}

#[tokio::test]
async fn a_tls_client_that_sends_no_request_is_closed_after_the_header_read_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::new(dir.path(), "first");
    let server = serve_tls(Tls::load(&files(dir.path(), &pair)).await.unwrap()).await;
    let mut idle = connect(server.addr, &client(&[&pair])).await;
    let started = Instant::now();
    let answer = read_all(&mut idle).await;
    let waited = started.elapsed();
    assert!(!answer.contains("fine"), "{answer:?}");
    assert!(waited >= web::HEADER_READ - Duration::from_millis(100), "closed after {waited:?}");
    assert!(waited < web::HEADER_READ + Duration::from_secs(3), "closed after {waited:?}");
}
