//! A webhook receiver on 127.0.0.1:0 that answers from a script and keeps
//! every request it saw.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// What the receiver saw: path and query, headers, body.
#[derive(Clone, Debug)]
pub struct Request {
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Default)]
struct Script {
    /// Statuses for the first requests, then 200.
    replies: VecDeque<(StatusCode, &'static str)>,
    seen: Vec<Request>,
}

/// A webhook receiver on 127.0.0.1:0 that answers from a script.
pub struct Receiver {
    pub addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(script): State<Arc<Mutex<Script>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let mut script = script.lock().unwrap();
    script.seen.push(Request { uri: uri.to_string(), headers, body });
    script.replies.pop_front().unwrap_or((StatusCode::OK, "ok"))
}

impl Receiver {
    pub async fn start(replies: &[(StatusCode, &'static str)]) -> Receiver {
        let script = Arc::new(Mutex::new(Script { replies: replies.iter().copied().collect(), seen: Vec::new() }));
        let router = axum::Router::new().fallback(record).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Receiver { addr, script, task }
    }

    /// `http://addr{path_and_query}`.
    pub fn url_at(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    pub fn seen(&self) -> Vec<Request> {
        self.script.lock().unwrap().seen.clone()
    }
}

impl Request {
    /// Check the `X-Pdu-Bridge-Signature` (HMAC-SHA256 of `{timestamp}.{body}`
    /// under `secret`) and that the timestamp is now; panics naming what is wrong.
    pub fn verify_signature(&self, secret: &str) {
        let timestamp = self.headers["x-pdu-bridge-timestamp"].to_str().unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert!(timestamp.parse::<u64>().unwrap().abs_diff(now) < 60, "timestamp {timestamp} is now, in unix seconds");
        let signature = self.headers["x-pdu-bridge-signature"].to_str().unwrap();
        let hex = signature.strip_prefix("sha256=").expect("the signature starts with sha256=");
        let mac: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        let mut signed = format!("{timestamp}.").into_bytes();
        signed.extend_from_slice(&self.body);
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        ring::hmac::verify(&key, &signed, &mac).expect("the signature verifies under the shared secret");
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}
