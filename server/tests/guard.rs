//! Requests from elsewhere are refused (issue 12, item 4): a cross-site form
//! post or JSON write changes nothing, a foreign `Host` is refused, and every
//! answer carries the security headers, the page's inline script its nonce.

use crate::util::Started;
use app::access::Role;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use std::sync::atomic::{AtomicU32, Ordering};
use tower::ServiceExt;

static COUNT: AtomicU32 = AtomicU32::new(0);

/// Sent as a signed-in admin's browser would (a session cookie, never a
/// bearer token: scripts' tokens are not forgeable by another site).
async fn send(bridge: &Started, mut request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let cookie = bridge.browser_cookie(&format!("b{}", COUNT.fetch_add(1, Ordering::Relaxed)), Role::Admin).await;
    request.headers_mut().insert("cookie", cookie.parse().unwrap());
    let response = bridge.bare_router().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn outlet_state(bridge: &Started, n: u32) -> app::model::OutletState {
    bridge.sim().model().outlet_state(n, tokio::time::Instant::now()).unwrap().0
}

/// The attack from the issue: a page on another site posts the dashboard's
/// server function as a form. Refused with 403, and the outlet stays on.
#[tokio::test]
async fn a_cross_site_form_post_is_refused_and_switches_nothing() {
    let bridge = Started::new(&[]).await;
    assert_eq!(outlet_state(&bridge, 4), app::model::OutletState::On);
    let form = |origin: Option<&str>, site: Option<&str>| {
        let mut r = Request::post("/fn/outlet_command")
            .header("host", "127.0.0.1:8080")
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(s) = site {
            r = r.header("sec-fetch-site", s);
        }
        r.body(Body::from("device_id=pdu44001&outlet=4&action=off")).unwrap()
    };
    for (origin, site) in [
        (Some("https://evil.example"), None),
        (Some("https://evil.example"), Some("cross-site")),
        (None, Some("cross-site")),
        (None, Some("same-site")),
        (Some("null"), None),
        (Some("http://127.0.0.1:9999"), None),
    ] {
        let (code, _, body) = send(&bridge, form(origin, site)).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{origin:?} {site:?}: {body}");
        let e: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(e["field"], "origin", "{body}");
    }
    // And the JSON API the same.
    let json = Request::post("/api/outlets/4/command")
        .header("host", "127.0.0.1:8080")
        .header("origin", "https://evil.example")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"action":"off"}"#))
        .unwrap();
    assert_eq!(send(&bridge, json).await.0, StatusCode::FORBIDDEN);
    assert_eq!(outlet_state(&bridge, 4), app::model::OutletState::On, "nothing was switched");

    // The dashboard's own page, and a script that says nothing about origins, still work.
    let (code, _, body) = send(&bridge, form(Some("http://127.0.0.1:8080"), Some("same-origin"))).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(outlet_state(&bridge, 4), app::model::OutletState::Off);
    let script = Request::post("/api/outlets/4/command")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"action":"on"}"#))
        .unwrap();
    assert_eq!(send(&bridge, script).await.0, StatusCode::OK);
}

/// DNS rebinding: a name that only resolves here is not answered.
#[tokio::test]
async fn a_foreign_host_is_refused_and_known_names_and_addresses_are_served() {
    let bridge = Started::new(&[("BRIDGE_ALLOWED_HOSTS", "pdu.example.net")]).await;
    let get = |host: &str| Request::get("/api/status").header("host", host).body(Body::empty()).unwrap();
    let (code, _, body) = send(&bridge, get("attacker.example")).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("BRIDGE_ALLOWED_HOSTS") && body.contains("\"field\":\"host\""), "{body}");
    let (code, _, _) = send(&bridge, get("attacker.example:8080")).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    for fine in ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "pdu.example.net", "PDU.example.net:443"] {
        assert_eq!(send(&bridge, get(fine)).await.0, StatusCode::OK, "{fine}");
    }
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_the_page_script_its_nonce() {
    let bridge = Started::new(&[]).await;
    let page = Request::get("/").header("host", "127.0.0.1:8080").body(Body::empty()).unwrap();
    let (code, headers, html) = send(&bridge, page).await;
    assert_eq!(code, StatusCode::OK);
    let csp = headers["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"), "{csp}");
    assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "no inline script but the page's own: {csp}");
    let nonce = csp.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).unwrap();
    assert!(nonce.len() >= 16, "{nonce}");
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the hydration script carries the nonce");
    for (name, value) in
        [("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"), ("referrer-policy", "same-origin")]
    {
        assert_eq!(headers[name], value, "{name}");
    }
    let api = Request::get("/api/status").body(Body::empty()).unwrap();
    let (_, headers, _) = send(&bridge, api).await;
    assert!(headers.contains_key("content-security-policy") && headers["x-content-type-options"] == "nosniff");
    // A second page gets a new nonce.
    let again = Request::get("/").header("host", "127.0.0.1:8080").body(Body::empty()).unwrap();
    let (_, headers, _) = send(&bridge, again).await;
    assert!(!headers["content-security-policy"].to_str().unwrap().contains(nonce));
}

#[test]
fn allowed_hosts_must_be_host_names() {
    let raw = server::config::RawSettings::new().set("BRIDGE_ALLOWED_HOSTS", "pdu example, <script>");
    let e = server::config::Config::validate(&raw).unwrap_err().to_string();
    assert!(e.contains("BRIDGE_ALLOWED_HOSTS"), "{e}");
}
