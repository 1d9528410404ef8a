//! Bounded work per request, connection timeouts, and errors in one shape
//! (issue 17): hostile or nonsensical requests get a small 4xx naming what
//! is wrong, never a 5xx, a huge answer or a connection held open.

use crate::util::{call, call_text, serve, Started};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use server::history::query::{LATEST, MAX_POINTS, MAX_POINTS_PER_SERIES, MAX_SPAN};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

/// Served bridges here need no broker (and must not take port 1883 from
/// the tests that do).
const NO_MQTT: &[(&str, &str)] = &[("MQTT_BROKER", "none")];

/// Wait for the served bridge's first reading.
async fn ready(addr: SocketAddr) {
    for _ in 0..200 {
        if crate::util::http(addr, "GET", "/api/status", None).await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no reading within 10 s");
}

/// Read until the server closes the connection (or `within` passes):
/// what it sent, and when it closed.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&seen).into_owned(), Some(started.elapsed())),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), None),
        }
    }
}

/// Issue 17: `end - start` wrapped in release builds, skipped the 400-day
/// limit and picked 1-second buckets — a 96 MB answer from one GET.
#[tokio::test]
async fn the_overflow_get_is_refused_without_allocating() {
    let bridge = Started::new(&[]).await;
    let router = bridge.router();
    let started = Instant::now();
    for uri in [
        "/api/history/outlets?start=-9223372036854775808&end=9223372036854775807",
        "/api/history/outlets.csv?start=-9223372036854775808&end=9223372036854775807",
        "/api/history/banks?start=0&end=9223372036854775807",
        "/api/history/sources?start=-1&end=3600",
    ] {
        let (code, text) = call_text(&router, "GET", uri, None, "application/json").await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{uri}: {text}");
        let e: Value = serde_json::from_str(&text).unwrap();
        assert!(["start", "end"].contains(&e["field"].as_str().unwrap()), "{uri}: {e}");
        assert!(e["error"].as_str().unwrap().contains("4102444800"), "says what is allowed: {e}");
        assert!(text.len() < 300, "{uri}: a short answer, {} bytes", text.len());
    }
    assert!(started.elapsed() < Duration::from_secs(2), "refused before any work: {:?}", started.elapsed());
}

/// The widest window that is allowed (400 days, ending in 2100) answers
/// with coarser buckets, never more points than the cap.
#[tokio::test]
async fn the_largest_allowed_window_is_answered_in_at_most_4000_points_a_series() {
    let bridge = Started::new(&[]).await;
    let router = bridge.router();
    for (from, to) in [(LATEST - MAX_SPAN, LATEST), (1_700_000_000, 1_700_000_000 + MAX_SPAN)] {
        let (code, h) = call(&router, "GET", &format!("/api/history/outlets?start={from}&end={to}"), None).await;
        assert_eq!(code, StatusCode::OK, "{h}");
        let bucket = h["bucket_s"].as_i64().unwrap();
        assert_eq!(bucket, 3 * 3_600, "400 days of 30-minute buckets would be 19,200 points a series");
        let series = h["series"].as_array().unwrap();
        assert_eq!(series.len(), 20);
        let points: i64 = series.iter().map(|s| s["points"].as_array().unwrap().len() as i64).sum();
        assert!(points <= MAX_POINTS && series.len() as i64 * (MAX_SPAN / bucket + 1) <= MAX_POINTS);
        assert!(MAX_SPAN / bucket < MAX_POINTS_PER_SERIES);
    }
    let (code, e) = call(&router, "GET", &format!("/api/history/banks?start=0&end={}", MAX_SPAN + 1), None).await;
    assert_eq!((code, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("start")), "{e}");
}

/// CSV goes out as it is written: no length known up front.
#[tokio::test]
async fn history_csv_is_streamed() {
    let bridge = Started::new(&[]).await;
    let request = Request::get("/api/history/banks.csv?range=1h").body(Body::empty()).unwrap();
    let response = bridge.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(response.headers().get("content-length").is_none(), "streamed: {:?}", response.headers());
    let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    assert!(body.starts_with(b"time,metric,unit,avg,min,max\n"));
}

/// Issue 17: a request with half its headers was held open for more than
/// 70 s. The head must arrive whole within `HEADER_READ`.
#[tokio::test]
async fn half_sent_headers_are_closed() {
    let served = serve(NO_MQTT).await;
    ready(served.addr).await;
    let mut stream = TcpStream::connect(served.addr).await.unwrap();
    stream.write_all(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: appl").await.unwrap();
    let limit = server::web::HEADER_READ + Duration::from_secs(3);
    let (_, closed) = until_closed(&mut stream, limit).await;
    let closed = closed.unwrap_or_else(|| panic!("still open after {limit:?}"));
    assert!(closed >= server::web::HEADER_READ - Duration::from_millis(500), "closed after {closed:?}");

    // A connection that sends nothing at all, and one left idle after an
    // answer (keep-alive), are closed the same way.
    let mut silent = TcpStream::connect(served.addr).await.unwrap();
    let mut idle = TcpStream::connect(served.addr).await.unwrap();
    idle.write_all(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let (answered, closed) = until_closed(&mut idle, limit).await;
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(closed.is_some(), "an idle keep-alive connection is closed");
    assert!(until_closed(&mut silent, limit).await.1.is_some(), "a silent connection is closed");
}

/// Issue 17: a body shorter than its Content-Length was waited for
/// indefinitely. It must arrive within `BODY_DEADLINE`; then 408 and close.
#[tokio::test]
async fn a_lying_content_length_is_answered_408_and_closed() {
    let served = serve(NO_MQTT).await;
    ready(served.addr).await;
    let mut stream = TcpStream::connect(served.addr).await.unwrap();
    let head = "POST /api/outlets/1/command HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n";
    stream.write_all(format!("{head}{{\"action\":").as_bytes()).await.unwrap();
    let (answer, closed) = until_closed(&mut stream, server::web::BODY_DEADLINE + Duration::from_secs(3)).await;
    assert!(closed.is_some(), "still open: {answer}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["field"], "body", "{body}");

    // A GET that announces a body it never sends is no different.
    let mut stream = TcpStream::connect(served.addr).await.unwrap();
    stream.write_all(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n").await.unwrap();
    let (answer, closed) = until_closed(&mut stream, server::web::BODY_DEADLINE + Duration::from_secs(3)).await;
    assert!(closed.is_some() && answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// One address may have `MAX_PER_CLIENT` requests in progress; the next is
/// refused at once with 429, and served again once those end.
#[tokio::test]
async fn a_client_with_too_many_requests_in_progress_gets_429() {
    let served = serve(NO_MQTT).await;
    ready(served.addr).await;
    let mut stalled = Vec::new();
    // Each holds its place while the server waits for a body it never gets.
    for _ in 0..server::web::MAX_PER_CLIENT {
        let mut stream = TcpStream::connect(served.addr).await.unwrap();
        let head = "POST /api/outlets/1/command HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n";
        stream.write_all(head.as_bytes()).await.unwrap();
        stalled.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (code, body) = crate::util::http(served.addr, "GET", "/api/status", None).await;
    assert_eq!(code, 429, "{body}");
    let e: Value = serde_json::from_str(&body).unwrap();
    assert!(e["error"].as_str().unwrap().contains("127.0.0.1"), "{e}");
    for mut stream in stalled {
        let (answer, _) = until_closed(&mut stream, server::web::BODY_DEADLINE + Duration::from_secs(3)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    assert_eq!(crate::util::http(served.addr, "GET", "/api/status", None).await.0, 200);
    served.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), served.task).await.unwrap().unwrap().unwrap();
}

/// Issue 17: a static 404 in text, an empty 405, a plain-text "Invalid
/// URL", and nonsense accepted silently. Every error under `/api` and `/fn`
/// is `{"error", "field"}`, and nonsense is refused naming the field.
#[tokio::test]
async fn every_error_under_api_is_json_naming_its_field() {
    let bridge = Started::new(&[]).await;
    let router = bridge.router();
    let long = format!("/api/status?pad={}", "x".repeat(9_000));
    // (method, URI, body, status, field)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, StatusCode, Option<&'a str>);
    let cases: &[Case] = &[
        ("GET", "/api/nothing-here", None, StatusCode::NOT_FOUND, Some("path")),
        ("GET", "/api", None, StatusCode::NOT_FOUND, Some("path")),
        ("PATCH", "/api/status", None, StatusCode::METHOD_NOT_ALLOWED, Some("method")),
        ("DELETE", "/api/history/banks", None, StatusCode::METHOD_NOT_ALLOWED, Some("method")),
        ("GET", "/fn/outlet_command", None, StatusCode::METHOD_NOT_ALLOWED, Some("method")),
        ("POST", "/fn/no_such_function", Some(""), StatusCode::BAD_REQUEST, None),
        ("POST", "/api/rules/%FF%FE/enable", None, StatusCode::BAD_REQUEST, Some("name")),
        ("GET", "/api/reports/%C3%28", None, StatusCode::BAD_REQUEST, Some("id")),
        ("GET", "/api/history/banks?outlet=99", None, StatusCode::BAD_REQUEST, Some("outlet")),
        ("GET", "/api/history/sources.csv?outlet=1", None, StatusCode::BAD_REQUEST, Some("outlet")),
        ("GET", "/api/history/banks?start=-5&end=10", None, StatusCode::BAD_REQUEST, Some("start")),
        ("GET", "/api/history/banks?start=0&end=4102444801", None, StatusCode::BAD_REQUEST, Some("end")),
        ("GET", "/api/history/banks?start=yesterday&end=1", None, StatusCode::BAD_REQUEST, Some("start")),
        ("GET", "/api/history/banks?outlet=-1", None, StatusCode::BAD_REQUEST, Some("outlet")),
        ("GET", "/api/energy/daily?days=99999999999", None, StatusCode::BAD_REQUEST, Some("days")),
        ("GET", "/api/events?limit=0", None, StatusCode::BAD_REQUEST, Some("limit")),
        ("GET", "/api/events?since=NaN", None, StatusCode::BAD_REQUEST, Some("since")),
        ("GET", &long, None, StatusCode::URI_TOO_LONG, Some("uri")),
        (
            "POST",
            "/api/rules",
            Some(r#"{"name":"twice","condition":"redundancy_lost","threshold":0,"outlet":[9,9,9],"action":"off"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("outlet"),
        ),
    ];
    for (method, uri, body, status, field) in cases {
        let (code, text) = call_text(&router, method, uri, *body, "application/json").await;
        let e: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {uri}: not JSON: {text:?}"));
        assert_eq!((code, e["field"].as_str()), (*status, *field), "{method} {uri}: {e}");
        assert!(!e["error"].as_str().unwrap().is_empty(), "{method} {uri}: {e}");
    }
    let (code, rules) = call(&router, "GET", "/api/rules", None).await;
    assert_eq!((code, rules.as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "the [9,9,9] rule was not saved");

    // Too many headers, and a body over the limit.
    let mut request = Request::get("/api/status");
    for i in 0..server::web::MAX_HEADERS + 1 {
        request = request.header(format!("x-pad-{i}"), "1");
    }
    let response = router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let huge = format!(r#"{{"action":"off","pad":"{}"}}"#, "x".repeat(server::web::MAX_BODY_BYTES));
    let (code, e) = call(&router, "POST", "/api/outlets/1/command", Some(&huge)).await;
    assert_eq!((code, e["field"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("body")), "{e}");

    // 405 keeps its Allow header.
    let request = Request::patch("/api/rules").body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST") && allow.contains("PUT"), "{allow}");

    // The site's own paths answer browsers in text.
    let (code, text) = call_text(&router, "GET", "/no-such-page", None, "text/html").await;
    assert_eq!((code, text.as_str()), (StatusCode::NOT_FOUND, "not found"));
}

/// Every GET endpoint, with any parameter set to any value (numbers at and
/// past every limit, text, nothing): never a 5xx, never a panic, always a
/// bounded answer.
#[test]
fn any_query_parameters_on_any_get_endpoint_are_answered_below_500_and_bounded() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bridge = runtime.block_on(Started::new(&[]));
    let router = bridge.router();
    let endpoints = [
        "/api/status",
        "/api/history/banks",
        "/api/history/outlets",
        "/api/history/sources",
        "/api/history/banks.csv",
        "/api/history/outlets.csv",
        "/api/history/sources.csv",
        "/api/energy",
        "/api/energy/daily",
        "/api/reports",
        "/api/reports/week-2026-11-16",
        "/api/reports/month-2026-11.csv",
        "/api/events",
    ];
    let names =
        ["device_id", "range", "start", "end", "outlet", "days", "kind", "since", "until", "limit", "cursor", "x"];
    let number = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        (-3i64..3).prop_map(|n| n.to_string()),
        (LATEST - MAX_SPAN - 2..LATEST + 2).prop_map(|n| n.to_string()),
        Just(i64::MIN.to_string()),
        Just(i64::MAX.to_string()),
        Just("1e308".to_owned()),
        Just("NaN".to_owned()),
        Just("-inf".to_owned()),
    ];
    let text = prop_oneof![
        Just(String::new()),
        Just("1h".to_owned()),
        Just("60d".to_owned()),
        Just("pdu44001".to_owned()),
        "\\PC{0,24}",
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ];
    let value = prop_oneof![3 => number, 2 => text];
    let params = proptest::collection::vec((proptest::sample::select(names.to_vec()), value), 0..5);
    let id = prop_oneof![Just(None), "\\PC{0,40}".prop_map(Some)];
    let strategy = (proptest::sample::select(endpoints.to_vec()), params, id);
    let mut runner = TestRunner::new(Config { cases: 400, failure_persistence: None, ..Config::default() });
    runner
        .run(&strategy, |(endpoint, params, id)| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (name, value) in &params {
                query.append_pair(name, value);
            }
            let path = match (endpoint, id) {
                ("/api/reports/week-2026-11-16", Some(id)) => {
                    format!("/api/reports/{}", form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>())
                }
                (endpoint, _) => endpoint.to_owned(),
            };
            let uri = format!("{path}?{}", query.finish());
            let (code, body) = runtime.block_on(call_text(&router, "GET", &uri, None, "application/json"));
            prop_assert!(code.as_u16() < 500, "{uri}: {code} {body}");
            prop_assert!(body.len() < 8 << 20, "{uri}: {} bytes", body.len());
            if !code.is_success() {
                let e: Value =
                    serde_json::from_str(&body).map_err(|_| TestCaseError::fail(format!("{uri}: {body}")))?;
                prop_assert!(e["error"].is_string(), "{uri}: {e}");
            }
            Ok(())
        })
        .unwrap();
    drop(bridge);
}
