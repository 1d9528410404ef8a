//! Bounded work per request, before any handler runs: a client address has
//! at most [`MAX_PER_CLIENT`] requests in progress, a URI and a request head
//! have a size limit, and a body is read whole — at most
//! [`MAX_BODY_BYTES`], within [`BODY_DEADLINE`] — or refused.
//!
//! Owns: these limits and their answers, all in the one error shape. Does
//! not own: connection timeouts (`serve`), or the size of what handlers
//! answer (each query bounds its own, e.g. `history::query`).

use super::error::error_response;
use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Requests one client address may have in progress at once (until its
/// answer's head is ready; a live stream counts only while it starts). A
/// dashboard needs a handful; all users behind one reverse proxy share this.
pub const MAX_PER_CLIENT: usize = 32;
/// Request bodies are small JSON objects; anything bigger is refused.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// A whole body must arrive within this, however it is dripped: a timeout
/// between reads would let a client hold a request open for hours with a
/// byte every few seconds.
pub const BODY_DEADLINE: Duration = Duration::from_secs(5);
/// Longer URIs are refused (414); the API's longest real URI is far shorter.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Request heads with more header bytes, or more headers, are refused (431).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
pub const MAX_HEADERS: usize = 64;

/// How many requests each client address has in progress.
#[derive(Clone, Default)]
pub struct PerClient {
    in_progress: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One request's place in its address's count, given back when dropped.
struct Place {
    in_progress: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl PerClient {
    fn enter(&self, ip: IpAddr, limit: usize) -> Option<Place> {
        let mut counts = self.in_progress.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(ip).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(Place { in_progress: self.in_progress.clone(), ip })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut counts = self.in_progress.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// At most [`MAX_PER_CLIENT`] requests in progress per client address; more
/// get 429 at once rather than queueing. Requests without a peer address
/// (the router called without a socket, as tests do) are not counted.
pub async fn per_client(State(clients): State<PerClient>, request: Request, next: Next) -> Response {
    let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied() else {
        return next.run(request).await;
    };
    let Some(_place) = clients.enter(peer.ip(), MAX_PER_CLIENT) else {
        let message = format!("{} has {MAX_PER_CLIENT} requests in progress already; retry shortly", peer.ip());
        let mut response = error_response(StatusCode::TOO_MANY_REQUESTS, None, message);
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    next.run(request).await
}

/// Refuse oversized URIs and heads, and read the body whole, in time.
pub async fn bounded_request(request: Request, next: Next) -> Response {
    let uri_bytes = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        let message = format!("the URI has {uri_bytes} bytes; at most {MAX_URI_BYTES}");
        return error_response(StatusCode::URI_TOO_LONG, Some("uri"), message);
    }
    let headers = request.headers();
    let header_bytes: usize = headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if headers.len() > MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
        let message = format!(
            "{} headers of {header_bytes} bytes; at most {MAX_HEADERS} headers of {MAX_HEADER_BYTES} bytes",
            headers.len()
        );
        return error_response(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, Some("headers"), message);
    }
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match tokio::time::timeout(BODY_DEADLINE, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) if is_too_large(&e) => {
            let message = format!("the body is larger than {MAX_BODY_BYTES} bytes");
            return error_response(StatusCode::PAYLOAD_TOO_LARGE, Some("body"), message);
        }
        // The client closed or broke the connection; nobody reads this.
        Ok(Err(e)) => return error_response(StatusCode::BAD_REQUEST, Some("body"), format!("the body: {e}")),
        Err(_) => {
            let message = format!("the body did not arrive within {} s", BODY_DEADLINE.as_secs());
            // Hyper closes the connection: the rest of the body was never read.
            return error_response(StatusCode::REQUEST_TIMEOUT, Some("body"), message).into_response();
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

fn is_too_large(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = source {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use tokio::sync::Semaphore;
    use tower::ServiceExt;

    fn from(ip: [u8; 4]) -> Request {
        let mut request = Request::get("/slow").body(Body::empty()).unwrap();
        request.extensions_mut().insert(ConnectInfo(SocketAddr::from((ip, 40_000))));
        request
    }

    /// One address over its limit gets 429 at once; another address, and
    /// requests without an address, are unaffected; places are given back.
    #[tokio::test]
    async fn a_client_over_its_limit_is_refused_while_others_are_served() {
        let gate = Arc::new(Semaphore::new(0));
        let clients = PerClient::default();
        let router = {
            let gate = gate.clone();
            Router::new()
                .route("/slow", get(move || async move { drop(gate.acquire().await.unwrap()) }))
                .layer(axum::middleware::from_fn_with_state(clients.clone(), per_client))
        };
        let waiting: Vec<_> =
            (0..MAX_PER_CLIENT).map(|_| tokio::spawn(router.clone().oneshot(from([10, 0, 0, 1])))).collect();
        for _ in 0..100 {
            if clients.in_progress.lock().unwrap().get(&IpAddr::from([10, 0, 0, 1])) == Some(&MAX_PER_CLIENT) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let refused = router.clone().oneshot(from([10, 0, 0, 1])).await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        let body = axum::body::to_bytes(refused.into_body(), 1024).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(body["error"].as_str().unwrap().contains("10.0.0.1"), "{body}");

        gate.add_permits(2);
        let other = router.clone().oneshot(from([10, 0, 0, 2])).await.unwrap();
        assert_eq!(other.status(), StatusCode::OK, "another address is served");
        let anonymous = router.clone().oneshot(Request::get("/slow").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::OK, "no address, no limit");

        gate.add_permits(MAX_PER_CLIENT);
        for w in waiting {
            assert_eq!(w.await.unwrap().unwrap().status(), StatusCode::OK);
        }
        assert!(clients.in_progress.lock().unwrap().is_empty(), "every place was given back, no idle address kept");
    }
}
