//! Requests from elsewhere are refused: a page on another site cannot make
//! the user's browser switch an outlet, and a DNS-rebinding page cannot read
//! or write through a name that merely resolves to this bridge.
//!
//! Owns: the `Host` allow-list, the same-origin rule for state-changing
//! requests, and the security headers (a CSP whose only inline script is the
//! page's own, by nonce). The one thing to know: a browser always says where
//! a request comes from (`Origin`, `Sec-Fetch-Site`); scripts and tools that
//! send neither are not browsers and are not refused here — access control
//! decides what they may do.

use app::model::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::Arc;

/// The host names (beyond IP literals, which cannot be rebound) this
/// bridge answers to.
#[derive(Clone, Debug)]
pub struct Hosts(Arc<Vec<String>>);

impl Hosts {
    /// `localhost`, this machine's name, and `extra` (`BRIDGE_ALLOWED_HOSTS`).
    pub fn new(extra: &[String]) -> Self {
        let mut names = vec!["localhost".to_owned()];
        if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            let name = name.trim().to_ascii_lowercase();
            if !name.is_empty() {
                names.push(format!("{name}.local"));
                names.push(name);
            }
        }
        names.extend(extra.iter().map(|n| n.to_ascii_lowercase()));
        Self(Arc::new(names))
    }

    /// Whether `host` (a `Host` header's name, without the port) may be used.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        literal.parse::<IpAddr>().is_ok() || self.0.contains(&host)
    }
}

/// The CSP nonce of one page, for the page's own inline script.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

/// `host:port` → `host` (IPv6 literals keep their brackets).
fn host_name(authority: &str) -> &str {
    match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => &authority[..i],
        _ => authority,
    }
}

fn refused(field: &str, message: String) -> Response {
    super::HttpError(ApiError::Forbidden { field: Some(field.to_owned()), message }).into_response()
}

/// Why a state-changing request must be refused, if it must.
fn cross_site(method: &Method, headers: &HeaderMap) -> Option<(&'static str, String)> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    // A bearer token is never sent by a browser on its own: no CSRF.
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("Bearer "));
    if bearer {
        return None;
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return Some((
                "origin",
                format!("a {site} request may not change anything here; use this bridge's own page"),
            ));
        }
    }
    if let Some(origin) = text("origin") {
        let host = text("host").unwrap_or_default();
        let authority = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
        if origin == "null" || authority.is_empty() || !authority.eq_ignore_ascii_case(host) {
            return Some(("origin", format!("a request from {origin} may not change anything on {host}")));
        }
    }
    None
}

const CSP: &str = "default-src 'self'; script-src 'self' 'nonce-NONCE' 'wasm-unsafe-eval'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The guard in front of every route.
pub async fn check(State(hosts): State<Hosts>, mut request: Request, next: Next) -> Response {
    if let Some(host) = request.headers().get(header::HOST).and_then(|v| v.to_str().ok()) {
        let name = host_name(host);
        if !hosts.allows(name) {
            return refused(
                "host",
                format!(
                    "this bridge does not answer to the name {name:?}; add it to BRIDGE_ALLOWED_HOSTS if it is yours"
                ),
            );
        }
    }
    if let Some((field, why)) = cross_site(request.method(), request.headers()) {
        tracing::warn!(method = %request.method(), path = %request.uri().path(), "refused: {why}");
        return refused(field, format!("{why}; nothing was changed"));
    }
    let nonce = leptos::nonce::Nonce::new().to_string();
    request.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&CSP.replace("NONCE", &nonce)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_localhost_and_listed_names_are_allowed_other_names_not() {
        let hosts = Hosts::new(&["pdu.example.net".into()]);
        for ok in ["127.0.0.1", "[::1]", "10.1.2.3", "localhost", "LOCALHOST", "pdu.example.net", "pdu.example.net."] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in ["attacker.example", "localhost.attacker.example", "example.net"] {
            assert!(!hosts.allows(bad), "{bad}");
        }
        assert_eq!(host_name("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_name("[::1]:8080"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
        assert_eq!(host_name("localhost"), "localhost");
    }
}
