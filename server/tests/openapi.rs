//! The OpenAPI description (`GET /api/openapi.json`): who may read it, and
//! that it and the router agree on every route under `/api` — the router
//! is asked what it serves (its paths, then each path's methods from the
//! `Allow` header of a 405), the description what it lists. Also the
//! regression tests of what schemathesis found against the description.

use crate::util::{call, call_with, Started};
use app::access::Role;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::collections::BTreeSet;
use tower::ServiceExt;

#[tokio::test]
async fn the_description_is_served_to_viewers_and_refused_to_anonymous() {
    let started = Started::new(&[]).await;
    let router = started.bare_router();
    let (code, body) = call(&router, "GET", "/api/openapi.json", None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["error"].is_string(), "the one error shape: {body}");

    let viewer = started.token_for("wall", Role::Viewer).await;
    let bearer = format!("Bearer {viewer}");
    let (code, text) = call_with(&router, "GET", "/api/openapi.json", None, &[("authorization", &bearer)]).await;
    assert_eq!(code, StatusCode::OK, "{text}");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["token"]["scheme"], "bearer", "{schemes}");
    assert_eq!(schemes["session"]["in"], "cookie", "{schemes}");
    assert_eq!(schemes["session"]["name"], "pdu_session_8080", "the cookie of this bridge's port: {schemes}");
    // The health probe needs nobody; the rest name the role they need.
    assert_eq!(doc["paths"]["/api/health"]["get"]["security"], serde_json::json!([{}]));
    assert_eq!(doc["paths"]["/api/outlets/{outlet}/command"]["post"]["x-role"], "operator");
    assert_eq!(doc["paths"]["/api/users"]["post"]["x-role"], "admin");
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], serde_json::json!(["error"]), "{error}");
}

/// Every path the router has a route for, from its `Debug` output (axum
/// offers no other way to list them).
fn routed_paths(router: &axum::Router) -> BTreeSet<String> {
    let text = format!("{router:?}");
    let mut paths = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("RouteId(") {
        rest = &rest[at..];
        let Some(close) = rest.find("): \"") else { break };
        let after = &rest[close + 4..];
        let Some(end) = after.find('"') else { break };
        paths.insert(after[..end].to_owned());
        rest = &after[end..];
    }
    assert!(
        paths.contains("/api/health") && paths.contains("/login"),
        "the router's paths could not be read from its Debug output (did axum change it?): {paths:?}"
    );
    paths
}

/// The methods `path` is served with: the `Allow` header of the 405 that a
/// method no route uses (PATCH) gets.
async fn served_methods(router: &axum::Router, path: &str) -> BTreeSet<String> {
    let uri: String = path
        .split('/')
        .map(|segment| if segment.starts_with('{') { "1" } else { segment })
        .collect::<Vec<_>>()
        .join("/");
    let request = Request::builder().method("PATCH").uri(&uri).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "PATCH {uri} is routed: probe with another method");
    let allow = response.headers().get("allow").expect("a 405 says what is allowed").to_str().unwrap();
    allow.split(',').map(|m| m.trim().to_owned()).filter(|m| !m.is_empty() && m != "HEAD").collect()
}

#[tokio::test]
async fn every_api_route_is_described_and_every_described_route_is_served() {
    let started = Started::new(&[]).await;
    let router = started.router();
    let (code, doc) = call(&router, "GET", "/api/openapi.json", None).await;
    assert_eq!(code, StatusCode::OK);
    let described: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "put", "post", "delete", "patch"].contains(&k.as_str()))
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();

    let mut served = BTreeSet::new();
    for path in routed_paths(&router).into_iter().filter(|p| p == "/api" || p.starts_with("/api/")) {
        for method in served_methods(&router, &path).await {
            served.insert((method, path.clone()));
        }
    }
    for path in described.iter().map(|(_, p)| p).collect::<BTreeSet<_>>() {
        for method in served_methods(&router, path).await {
            served.insert((method, path.clone()));
        }
    }

    let mut problems = Vec::new();
    for (method, path) in served.difference(&described) {
        problems.push(format!(
            "{method} {path} is served but not in /api/openapi.json: add it in web::openapi::api_routes \
             (with #[utoipa::path] on its handler), not with Router::route"
        ));
    }
    for (method, path) in described.difference(&served) {
        problems.push(format!("{method} {path} is in /api/openapi.json but the router does not serve it"));
    }
    assert!(problems.is_empty(), "the router and the description disagree:\n{}", problems.join("\n"));
    assert!(served.len() >= 30, "every route was found: {served:?}");
}

/// Found by schemathesis: the statuses that the layers in front of every
/// route answer (a body that is not JSON: 415; a revoked token: 401) were
/// missing, because utoipa runs `#[openapi(modifiers)]` before any route is in.
#[tokio::test]
async fn the_answers_of_the_layers_in_front_of_every_route_are_described() {
    let started = Started::new(&[]).await;
    let router = started.router();
    let (_, doc) = call(&router, "GET", "/api/openapi.json", None).await;
    let responses = |method: &str, path: &str| doc["paths"][path][method]["responses"].clone();
    for (method, path) in
        [("post", "/api/rules"), ("put", "/api/users/{name}"), ("post", "/api/outlets/{outlet}/command")]
    {
        for status in ["401", "403", "408", "413", "415", "429"] {
            let answer = &responses(method, path)[status];
            assert_eq!(
                answer["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                "{method} {path} {status}: {answer}"
            );
        }
    }
    let health = responses("get", "/api/health");
    assert!(health["415"].is_null(), "no body, no 415: {health}");
    // And the router answers so.
    let (code, e) = crate::util::call_text(&router, "POST", "/api/rules", Some("{}"), "text/plain").await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{e}");
}

/// Found by schemathesis: maps keyed by outlet or bank number were
/// described with integer keys (JSON's are strings), and a history point
/// (`[ts, avg, min, max]`) as an array of objects.
#[tokio::test]
async fn numbered_maps_and_history_points_are_described_as_they_are_sent() {
    let started = Started::new(&[]).await;
    let router = started.router();
    let (_, doc) = call(&router, "GET", "/api/openapi.json", None).await;
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("EnergySummary", "outlet_names"),
        ("Report", "outlet_names"),
        ("EnergyTotals", "outlets"),
        ("EnergyTotals", "banks"),
    ] {
        let map = &schemas[schema]["properties"][field];
        assert_eq!(map["type"], "object", "{schema}.{field}: {map}");
        assert_ne!(map["propertyNames"]["type"], "integer", "{schema}.{field}: {map}");
    }
    let point = &schemas["Point"];
    assert_eq!(point["type"], "array", "{point}");
    let kinds: Vec<&str> =
        point["prefixItems"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["integer", "number", "number", "number"], "{point}");
    assert_eq!(point["items"], false, "{point}");
    // What the bridge sends fits: a real point from the history.
    let (code, history) = call(&router, "GET", "/api/history/banks?range=1h", None).await;
    assert_eq!(code, StatusCode::OK, "{history}");
    if let Some(p) = history["series"][0]["points"].get(0) {
        let p = p.as_array().expect("a point is an array");
        assert!(p.len() == 4 && p[0].is_i64() && p[1..].iter().all(|v| v.is_number()), "{p:?}");
    }
}
