//! The HTTP API and the dashboard through the router (`oneshot`).

use crate::util::{call, call_text, Started};
use axum::http::StatusCode;
use serde_json::Value;

fn outlet(status: &Value, n: u64) -> &Value {
    status["outlets"].as_array().unwrap().iter().find(|o| o["number"] == n).unwrap()
}

fn sum(items: &Value, key: &str) -> f64 {
    items.as_array().unwrap().iter().map(|i| i[key].as_f64().unwrap()).sum()
}

#[tokio::test]
async fn status_shows_the_simulated_pdu_with_identity_ats_banks_and_outlets() {
    let bridge = Started::new(&[]).await;
    let (code, s) = call(&bridge.router(), "GET", "/api/status", None).await;
    assert_eq!(code, StatusCode::OK, "{s}");
    assert_eq!(s["device_id"], "pdu44001");
    assert_eq!(s["simulated"], true);
    assert_eq!(s["connection"]["state"], "online");
    assert_eq!(s["identity"]["model"], "PDU44001");
    assert_eq!(s["identity"]["outlet_count"], 10);
    assert!(s["identity"]["serial"].as_str().unwrap().starts_with("SIM"));
    assert!(s["data_age_s"].as_f64().unwrap() < 5.0);
    assert!(s["ts"].as_f64().unwrap() > 1.7e9);

    let ats = &s["ats"];
    assert_eq!(
        (ats["selected"].as_str(), ats["preferred"].as_str(), ats["redundancy"].as_str()),
        (Some("A"), Some("A"), Some("ok"))
    );
    let a_volts = ats["sources"][0]["voltage"].as_f64().unwrap();
    assert!((110.0..130.0).contains(&a_volts), "{a_volts}");
    assert_eq!(s["input"]["voltage"].as_f64(), Some(a_volts), "the input is the selected source");

    // Banks are the sums of their outlets, after the metering floor.
    let banks = s["banks"].as_array().unwrap();
    assert_eq!(banks.len(), 2);
    for bank in banks {
        let members = Value::Array(
            s["outlets"].as_array().unwrap().iter().filter(|o| o["bank"] == bank["number"]).cloned().collect(),
        );
        assert_eq!(bank["power"].as_f64().unwrap(), sum(&members, "power"), "bank {}", bank["number"]);
        assert!((bank["current"].as_f64().unwrap() - sum(&members, "current")).abs() < 0.05);
        assert_eq!(bank["max_load_amps"], 12.0);
    }
    assert_eq!(s["totals"]["power"].as_f64().unwrap(), sum(&s["banks"], "power"));

    // Outlet 10 is off: the meter noise on it is floored away; its energy is not.
    let spare = outlet(&s, 10);
    assert_eq!(
        (spare["state"].as_str(), spare["current"].as_f64(), spare["power"].as_f64()),
        (Some("off"), Some(0.0), Some(0.0))
    );
    assert!(spare["energy_kwh"].as_f64().unwrap() > 0.0);
    assert_eq!(outlet(&s, 4)["name"], "Server-1");
}

#[tokio::test]
async fn an_outlet_command_answers_with_the_confirmed_state_and_the_next_status_shows_it() {
    let bridge = Started::new(&[]).await;
    let router = bridge.router();
    let (code, r) = call(&router, "POST", "/api/outlets/3/command", Some(r#"{"action": "off"}"#)).await;
    assert_eq!(code, StatusCode::OK, "{r}");
    assert_eq!((r["success"].as_bool(), r["outlet"].as_u64(), r["state"].as_str()), (Some(true), Some(3), Some("off")));
    assert_eq!((r["command"].as_str(), r["pending"].as_bool(), r["error"].is_null()), (Some("off"), Some(false), true));
    bridge.wait_for(|b| b.snapshots()[0].outlet(3).map(|o| o.state) == Some(app::model::OutletState::Off)).await;

    let (_, r) = call(&router, "POST", "/api/outlets/3/command", Some(r#"{"action": "reboot"}"#)).await;
    assert_eq!(
        (r["state"].as_str(), r["pending"].as_bool()),
        (Some("off"), Some(true)),
        "a reboot is off, then on: {r}"
    );
}

#[tokio::test]
async fn bad_outlets_actions_devices_and_bodies_get_json_errors_and_switch_nothing() {
    let bridge = Started::new(&[]).await;
    let router = bridge.router();
    let before = bridge.sim().model().outlet_state(1, tokio::time::Instant::now()).unwrap();
    let cases: [(&str, &str, StatusCode, Option<&str>, &str); 8] = [
        ("/api/outlets/11/command", r#"{"action":"off"}"#, StatusCode::NOT_FOUND, Some("outlet"), "no outlet 11"),
        (
            "/api/outlets/0/command",
            r#"{"action":"off"}"#,
            StatusCode::BAD_REQUEST,
            Some("outlet"),
            "not an outlet number",
        ),
        (
            "/api/outlets/one/command",
            r#"{"action":"off"}"#,
            StatusCode::BAD_REQUEST,
            Some("outlet"),
            "not an outlet number",
        ),
        (
            "/api/outlets/1/command",
            r#"{"action":"explode"}"#,
            StatusCode::BAD_REQUEST,
            Some("action"),
            "unknown action",
        ),
        ("/api/outlets/1/command", r#"{"verb":"off"}"#, StatusCode::BAD_REQUEST, Some("body"), "action"),
        ("/api/outlets/1/command", r#"{"action":"off""#, StatusCode::BAD_REQUEST, Some("body"), "JSON"),
        (
            "/api/outlets/1/command?device_id=rack9",
            r#"{"action":"off"}"#,
            StatusCode::NOT_FOUND,
            Some("device_id"),
            "rack9",
        ),
        ("/api/status?device_id=rack9", "", StatusCode::NOT_FOUND, Some("device_id"), "rack9"),
    ];
    for (uri, body, status, field, words) in cases {
        let method = if uri.starts_with("/api/status") { "GET" } else { "POST" };
        let (code, e) = call(&router, method, uri, Some(body)).await;
        assert_eq!(code, status, "{uri} {body}: {e}");
        assert_eq!(e["field"].as_str(), field, "{uri} {body}: {e}");
        assert!(e["error"].as_str().unwrap().contains(words), "{uri} {body}: {e}");
    }
    let huge = format!(r#"{{"action":"off","pad":"{}"}}"#, "x".repeat(20_000));
    let (code, _) = call(&router, "POST", "/api/outlets/1/command", Some(&huge)).await;
    assert!(code.is_client_error(), "an oversized body is refused, got {code}");
    let (code, e) = call(&router, "GET", "/api/nothing-here", None).await;
    assert_eq!((code, e["error"].as_str().is_some()), (StatusCode::NOT_FOUND, true));

    assert_eq!(bridge.sim().model().outlet_state(1, tokio::time::Instant::now()).unwrap(), before, "nothing switched");
}

#[tokio::test]
async fn an_unreachable_pdu_refuses_commands_with_503_and_health_says_why() {
    let fast = [("BRIDGE_POLL_INTERVAL", "0.1"), ("BRIDGE_SNMP_TIMEOUT", "0.1"), ("BRIDGE_SNMP_RETRIES", "0")];
    let bridge = Started::new(&fast).await;
    let router = bridge.router();
    let (code, h) = call(&router, "GET", "/api/health", None).await;
    assert_eq!((code, h["status"].as_str()), (StatusCode::OK, Some("ok")), "{h}");

    bridge.sim().set_faults(server::pdu::sim::Faults { drop_replies: true, ..Default::default() });
    bridge.wait_for(|b| matches!(b.snapshots()[0].connection, app::model::Connection::Unreachable { .. })).await;
    let (code, e) = call(&router, "POST", "/api/outlets/2/command", Some(r#"{"action":"off"}"#)).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert!(e["error"].as_str().unwrap().contains("unreachable"), "{e}");
    let (code, h) = call(&router, "GET", "/api/health", None).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h["devices"][0]["state"], "unreachable");
    assert!(h["reasons"][0].as_str().unwrap().contains("unreachable"), "{h}");
    let (_, s) = call(&router, "GET", "/api/status", None).await;
    assert_eq!(s["connection"]["state"], "unreachable", "the last values are never presented as fresh");

    bridge.sim().set_faults(Default::default());
    let now = tokio::time::Instant::now();
    assert_eq!(bridge.sim().model().outlet_state(2, now).unwrap().0, app::model::OutletState::On, "nothing switched");
    bridge.wait_for(|b| b.snapshots()[0].connection.is_online()).await;
    let (code, _) = call(&router, "GET", "/api/health", None).await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test]
async fn the_server_rendered_page_already_shows_real_values() {
    let bridge = Started::new(&[]).await;
    let (code, html) = call_text(&bridge.router(), "GET", "/", None, "text/html").await;
    assert_eq!(code, StatusCode::OK);
    let name = server::web::site_output_name();
    for needle in [
        "Server-1",
        "Power inputs",
        "Demo mode",
        &format!("/pkg/{name}.js"),
        &format!("/pkg/{name}.css"),
        "Transfer switch: the load is fed from source A",
    ] {
        assert!(html.contains(needle), "missing {needle:?}");
    }
    let snapshot = bridge.bridge.snapshots()[0].clone();
    let serial = snapshot.identity.serial.clone().unwrap();
    assert!(html.contains(&serial));
    // The outlet tiles carry the snapshot's own formatted power readings.
    let power = app::format::reading(snapshot.outlet(4).unwrap().power, 0, "W");
    assert!(power.ends_with(" W") && power != "0 W");
}

/// The site's files have content-hashed names, are cached for a year and
/// come precompressed in the encoding the browser takes best.
#[tokio::test]
async fn site_files_are_hashed_cached_and_sent_precompressed() {
    use tower::ServiceExt;
    let bridge = Started::new(&[]).await;
    if !server::web::embedded_site() {
        eprintln!("skipped: no site built into this binary (scripts/build-site.sh)");
        return;
    }
    let name = server::web::site_output_name();
    assert!(name.len() == "pdu_bridge.".len() + 16, "a content hash in {name}");
    let get = |path: String, accept: &'static str| {
        let router = bridge.router();
        async move {
            let request = axum::http::Request::get(path)
                .header("accept-encoding", accept)
                .body(axum::body::Body::empty())
                .unwrap();
            let response = router.oneshot(request).await.unwrap();
            let header = |h: &str| response.headers().get(h).map(|v| v.to_str().unwrap().to_owned());
            let answer =
                (response.status(), header("content-encoding"), header("cache-control"), header("content-type"));
            let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
            (answer, body.len())
        }
    };
    let wasm = format!("/pkg/{name}_bg.wasm");
    let ((code, encoding, cache, kind), br) = get(wasm.clone(), "gzip, deflate, br").await;
    assert_eq!((code, encoding.as_deref(), kind.as_deref()), (StatusCode::OK, Some("br"), Some("application/wasm")));
    assert_eq!(cache.as_deref(), Some("public, max-age=31536000, immutable"));
    let ((_, encoding, _, _), gz) = get(wasm.clone(), "gzip").await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    let ((_, encoding, _, _), raw) = get(wasm.clone(), "identity").await;
    assert_eq!(encoding, None);
    assert!(br < gz && gz < raw, "brotli {br} < gzip {gz} < raw {raw}");
    let ((_, encoding, _, _), _) = get(wasm, "br;q=0, gzip").await;
    assert_eq!(encoding.as_deref(), Some("gzip"), "a refused encoding is not sent");
    let ((code, _, cache, _), _) = get("/favicon.svg".into(), "br").await;
    assert_eq!((code, cache.as_deref()), (StatusCode::OK, Some("no-cache")), "unhashed files are revalidated");
}

#[tokio::test]
async fn the_dashboards_server_function_switches_through_the_same_service_path() {
    let bridge = Started::new(&[]).await;
    let body = "device_id=pdu44001&outlet=7&action=off";
    let (code, text) =
        call_text(&bridge.router(), "POST", "/fn/outlet_command", Some(body), "application/x-www-form-urlencoded")
            .await;
    assert_eq!(code, StatusCode::OK, "{text}");
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((r["outlet"].as_u64(), r["state"].as_str()), (Some(7), Some("off")));

    let body = "device_id=pdu44001&outlet=70&action=off";
    let (code, text) =
        call_text(&bridge.router(), "POST", "/fn/outlet_command", Some(body), "application/x-www-form-urlencoded")
            .await;
    assert!(code.is_server_error() || code.is_client_error(), "{code}");
    assert!(text.contains("no outlet 70"), "{text}");
}

/// Browsers that ask get gzip (the dashboard's page and data); the live
/// stream is never compressed, so no event waits in a compressor's buffer.
#[tokio::test]
async fn responses_are_gzipped_on_request_but_the_live_stream_is_not() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    let bridge = Started::new(&[]).await;
    let router = bridge.router();
    let get = |uri: &str, gzip: bool| {
        let mut request = Request::builder().uri(uri);
        if gzip {
            request = request.header("accept-encoding", "gzip");
        }
        router.clone().oneshot(request.body(Body::empty()).unwrap())
    };
    let encoding =
        |r: &axum::response::Response| r.headers().get("content-encoding").map(|v| v.to_str().unwrap().to_owned());
    let page = get("/", true).await.unwrap();
    assert_eq!((page.status(), encoding(&page)), (StatusCode::OK, Some("gzip".to_owned())));
    let plain = get("/api/status", false).await.unwrap();
    assert_eq!(encoding(&plain), None, "only when asked");
    let stream = get(app::wire::STREAM_PATH, true).await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    assert_eq!(encoding(&stream), None);
}
