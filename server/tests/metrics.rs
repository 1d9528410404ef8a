//! `/metrics` from the outside: who may read it, a PDU going silent and
//! coming back over real SNMP, a real Prometheus scraping a bridge that polls
//! the simulator agent, and the Grafana dashboard in docker/grafana asking
//! only for families the bridge exposes.
//!
//! The Prometheus test needs Debian's `prometheus` binary (installed by
//! `scripts/test.sh`, which sets `PDU_BRIDGE_NEED_PROMETHEUS=1` so that there
//! it must run); a clone without it says that the test cannot run.

use crate::mqtt::free_port;
use crate::snmp::agent;
use crate::util::{call_with, http, http_raw, serve, Started};
use app::access::Role;
use axum::http::StatusCode;
use server::pdu::sim::Faults;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Every family `/metrics` declares (`# TYPE` lines) with its type, and the
/// names of the samples it has values for.
fn families(text: &str) -> (HashMap<String, String>, BTreeSet<String>) {
    let kinds = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
        .collect();
    let sampled = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect();
    (kinds, sampled)
}

#[tokio::test]
async fn metrics_refuse_anonymous_callers_and_answer_a_viewer_token_in_the_text_format() {
    let bridge = Started::new(&[]).await;
    let router = bridge.bare_router();
    let (code, body) = call_with(&router, "GET", "/metrics", None, &[]).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "anonymous: {body}");
    assert!(!body.contains("pdu_outlet_watts"), "{body}");
    let (code, _) = call_with(&router, "GET", "/metrics", None, &[("authorization", "Bearer not-a-token")]).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "a wrong token");

    let token = bridge.token_for("prometheus", Role::Viewer).await;
    let bearer = format!("Bearer {token}");
    let (code, body) = call_with(&router, "GET", "/metrics", None, &[("authorization", &bearer)]).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (kinds, sampled) = families(&body);
    assert_eq!(kinds.get("pdu_outlet_watts").map(String::as_str), Some("gauge"));
    assert_eq!(kinds.get("pdu_outlet_energy_kilowatt_hours_total").map(String::as_str), Some("counter"));
    assert_eq!(kinds.get("pdu_bridge_poll_duration_seconds").map(String::as_str), Some("histogram"));
    assert!(sampled.contains("pdu_outlet_watts") && sampled.contains("pdu_bridge_poll_duration_seconds_bucket"));
    assert!(!body.contains(&token), "the token is never shown");

    // The same through a real socket, with the media type Prometheus reads.
    let served = serve(&[("BRIDGE_POLL_INTERVAL", "0.5")]).await;
    let viewer = viewer_token(served.addr).await;
    let (status, head, body) = crate::util::http_full(
        served.addr,
        "GET",
        "/metrics",
        None,
        &format!("Authorization: Bearer {viewer}\r\nAccept: text/plain\r\n"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{head}");
    let (status, body) = http_raw(served.addr, "GET", "/metrics", None, "").await;
    assert_eq!(status, 401, "anonymous over a socket: {body}");
    served.shutdown.cancel();
}

/// A viewer's API token, made through the API with the served bridge's admin token.
async fn viewer_token(addr: SocketAddr) -> String {
    let (status, body) = http(addr, "POST", "/api/tokens", Some(r#"{"name":"prometheus","role":"viewer"}"#)).await;
    assert_eq!(status, 201, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).unwrap();
    created["token"].as_str().expect("the new token").to_owned()
}

/// The value of the first sample of `name` whose labels include `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with(['{', ' '])))
        .find(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// `/metrics` of the bridge at `addr` as `token` sees it.
async fn scrape(addr: SocketAddr, token: &str) -> String {
    let (status, body) = http_raw(addr, "GET", "/metrics", None, &format!("Authorization: Bearer {token}\r\n")).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Scrape until `done` (at most 30 s); the last scrape.
async fn scrape_until(addr: SocketAddr, token: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    for _ in 0..150 {
        text = scrape(addr, token).await;
        if done(&text) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("not within 30 s: {what}\n{text}");
}

#[tokio::test]
async fn a_silent_pdu_shows_down_without_its_old_readings_and_its_retries_and_timeouts_are_counted() {
    let agent = agent(Faults::default()).await;
    let port = agent.addr.port().to_string();
    let bridge = serve(&[
        ("PDU_HOST", "127.0.0.1"),
        ("PDU_SNMP_PORT", &port),
        ("BRIDGE_POLL_INTERVAL", "0.3"),
        ("BRIDGE_SNMP_TIMEOUT", "0.3"),
        ("BRIDGE_SNMP_RETRIES", "1"),
    ])
    .await;
    let token = viewer_token(bridge.addr).await;
    let d = [("device_id", "pdu44001")];
    let before = scrape_until(bridge.addr, &token, "the PDU up with readings", |t| {
        value(t, "pdu_up", &d) == Some(1.0) && value(t, "pdu_outlet_watts", &d).is_some()
    })
    .await;
    let counter = |t: &str, name: &str| value(t, name, &d).unwrap_or_else(|| panic!("{name} missing:\n{t}"));

    agent.sim.set_faults(Faults { drop_replies: true, ..Default::default() });
    let silent = scrape_until(bridge.addr, &token, "the PDU unreachable", |t| {
        value(t, "pdu_connection_state", &[("device_id", "pdu44001"), ("state", "unreachable")]) == Some(1.0)
    })
    .await;
    assert_eq!(value(&silent, "pdu_up", &d), Some(0.0));
    assert!(value(&silent, "pdu_data_age_seconds", &d).is_some_and(|age| age > 0.5), "{silent}");
    for family in ["pdu_outlet_watts", "pdu_source_volts", "pdu_watts", "pdu_outlet_energy_kilowatt_hours_total"] {
        assert_eq!(value(&silent, family, &d), None, "{family}: no old readings shown as current");
    }
    for name in ["pdu_bridge_snmp_timeouts_total", "pdu_bridge_snmp_retries_total"] {
        assert!(counter(&silent, name) > counter(&before, name), "{name} counts the silence");
    }
    // The poll under way is counted when it gives up, after its requests
    // were read again in halves: later than the misses that made the PDU
    // unreachable.
    let failed_before = counter(&before, "pdu_bridge_polls_failed_total");
    scrape_until(bridge.addr, &token, "a failed poll counted", |t| {
        value(t, "pdu_bridge_polls_failed_total", &d).is_some_and(|n| n > failed_before)
    })
    .await;
    assert_eq!(
        counter(&silent, "pdu_bridge_snmp_answers_total"),
        counter(&scrape(bridge.addr, &token).await, "pdu_bridge_snmp_answers_total"),
        "no answers while silent"
    );

    // Back: readings again, and no counter went down.
    agent.sim.set_faults(Faults::default());
    let back = scrape_until(bridge.addr, &token, "the PDU back", |t| {
        value(t, "pdu_up", &d) == Some(1.0) && value(t, "pdu_outlet_watts", &d).is_some()
    })
    .await;
    for name in [
        "pdu_bridge_snmp_requests_total",
        "pdu_bridge_snmp_answers_total",
        "pdu_bridge_snmp_timeouts_total",
        "pdu_bridge_snmp_retries_total",
        "pdu_bridge_poll_duration_seconds_count",
    ] {
        assert!(counter(&back, name) >= counter(&silent, name), "{name}");
    }
    assert!(counter(&back, "pdu_bridge_snmp_answers_total") > counter(&silent, "pdu_bridge_snmp_answers_total"));
    bridge.shutdown.cancel();
}

/// Where the `prometheus` binary is, if installed.
fn prometheus_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("prometheus"))
        .find(|p| p.is_file())
}

/// A Prometheus server on a loopback port, stopped (and its folder removed) when dropped.
struct Prometheus {
    addr: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Scraping `target`'s `/metrics` every second with `token`.
    fn start(binary: &Path, target: SocketAddr, token: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, token).unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: pdu-bridge\n    scrape_interval: 1s\n    scrape_timeout: 1s\n\
             \x20   metrics_path: /metrics\n    authorization:\n      type: Bearer\n      credentials_file: {}\n\
             \x20   static_configs:\n      - targets: ['{target}']\n",
            token_file.display()
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        Self { addr, child, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The instant vector `query` evaluates to now: (labels, value) per series;
    /// `None` while Prometheus does not answer yet.
    async fn query(&self, query: &str) -> Option<Vec<(serde_json::Value, f64)>> {
        let q: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
        let connected = tokio::net::TcpStream::connect(self.addr).await;
        if connected.is_err() {
            return None;
        }
        drop(connected);
        let (status, body) = http_raw(self.addr, "GET", &format!("/api/v1/query?query={q}"), None, "").await;
        if status != 200 {
            return None;
        }
        let answer: serde_json::Value = serde_json::from_str(&body).ok()?;
        assert_eq!(answer["status"], "success", "{body}");
        let result = answer["data"]["result"].as_array()?;
        Some(
            result
                .iter()
                .map(|r| (r["metric"].clone(), r["value"][1].as_str().unwrap().parse::<f64>().unwrap()))
                .collect(),
        )
    }

    /// Wait (at most 60 s) until `query` returns a series satisfying `done`.
    async fn wait_for(
        &self,
        query: &str,
        done: impl Fn(&[(serde_json::Value, f64)]) -> bool,
    ) -> Vec<(serde_json::Value, f64)> {
        for _ in 0..240 {
            if let Some(result) = self.query(query).await {
                if done(&result) {
                    return result;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let targets = http_raw(self.addr, "GET", "/api/v1/targets", None, "").await.1;
        panic!("Prometheus: {query} not as expected within 60 s; targets: {targets}\nlog: {}", self.log());
    }
}

/// Whether the test can run here: the `prometheus` binary, or a clear word
/// that it cannot (a failure where `scripts/test.sh` promised it).
fn prometheus_or_say_why() -> Option<PathBuf> {
    let found = prometheus_binary();
    if found.is_none() {
        let need = std::env::var("PDU_BRIDGE_NEED_PROMETHEUS").is_ok_and(|v| v == "1");
        assert!(!need, "PDU_BRIDGE_NEED_PROMETHEUS=1 but there is no `prometheus` binary (Debian package prometheus)");
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "cannot run: the real-Prometheus test (no `prometheus` binary on the PATH; install Debian's package \
             prometheus, as scripts/test.sh does)"
        );
    }
    found
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_bridge_with_a_viewer_token_and_promql_returns_the_outlet_power_of_api_status() {
    let Some(binary) = prometheus_or_say_why() else { return };
    let agent = agent(Faults::default()).await;
    let port = agent.addr.port().to_string();
    // One poll at start and then none for minutes unless something asks:
    // /api/status and every scrape show the same snapshot, so the values
    // compare exactly.
    let bridge = serve(&[("PDU_HOST", "127.0.0.1"), ("PDU_SNMP_PORT", &port), ("BRIDGE_POLL_INTERVAL", "300")]).await;
    let status = loop {
        let (code, body) = http(bridge.addr, "GET", "/api/status", None).await;
        if code == 200 {
            break serde_json::from_str::<serde_json::Value>(&body).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let device = status["device_id"].as_str().unwrap().to_owned();
    let outlet = status["outlets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["power"].as_f64().is_some_and(|w| w > 0.0))
        .expect("an outlet that draws power");
    let (n, watts) = (outlet["number"].as_u64().unwrap(), outlet["power"].as_f64().unwrap());

    let viewer = viewer_token(bridge.addr).await;
    let prometheus = Prometheus::start(&binary, bridge.addr, &viewer);
    let up = prometheus.wait_for(r#"up{job="pdu-bridge"}"#, |r| r.len() == 1 && r[0].1 == 1.0).await;
    assert_eq!(up[0].0["instance"], bridge.addr.to_string());

    let query = format!(r#"pdu_outlet_watts{{device_id="{device}",outlet="{n}"}}"#);
    let series = prometheus.wait_for(&query, |r| !r.is_empty()).await;
    assert_eq!(series.len(), 1, "{series:?}");
    assert_eq!(series[0].1, watts, "Prometheus has outlet {n}'s power as /api/status shows it");
    assert_eq!(series[0].0["serial"], status["identity"]["serial"]);
    // A PromQL join on the info family names the outlet.
    let joined = prometheus
        .wait_for(&format!("{query} * on (device_id, outlet) group_left (name) pdu_outlet_info"), |r| !r.is_empty())
        .await;
    assert_eq!(joined[0].0["name"], outlet["name"]);
    assert_eq!(joined[0].1, watts);
    let total = prometheus.wait_for(&format!(r#"pdu_watts{{device_id="{device}"}}"#), |r| !r.is_empty()).await;
    assert_eq!(total[0].1, status["totals"]["power"].as_f64().unwrap());

    // Switched off through the API, the outlet reads 0 W in the bridge at
    // once (the command's read-back polls) and in Prometheus a scrape later.
    let (code, body) =
        http(bridge.addr, "POST", &format!("/api/outlets/{n}/command"), Some(r#"{"action":"off"}"#)).await;
    assert_eq!(code, 200, "{body}");
    let off = prometheus.wait_for(&query, |r| r.first().is_some_and(|s| s.1 == 0.0)).await;
    let (_, body) = http(bridge.addr, "GET", "/api/status", None).await;
    let now: serde_json::Value = serde_json::from_str(&body).unwrap();
    let shown = now["outlets"].as_array().unwrap().iter().find(|o| o["number"].as_u64() == Some(n)).unwrap();
    assert_eq!((shown["state"].as_str(), shown["power"].as_f64()), (Some("off"), Some(off[0].1)));
    let on =
        prometheus.wait_for(&format!(r#"pdu_outlet_on{{device_id="{device}",outlet="{n}"}}"#), |r| !r.is_empty()).await;
    assert_eq!(on[0].1, 0.0);
    // The bridge's own health made it too: SNMP requests to this PDU.
    let requests = prometheus
        .wait_for(&format!(r#"pdu_bridge_snmp_requests_total{{device_id="{device}"}}"#), |r| !r.is_empty())
        .await;
    assert!(requests[0].1 > 0.0, "{requests:?}");
    // What Prometheus read carries no secret: not the token, not the
    // communities (the agent's `public` and `private`).
    let (_, scraped) =
        http_raw(bridge.addr, "GET", "/metrics", None, &format!("Authorization: Bearer {viewer}\r\n")).await;
    assert!(scraped.contains("pdu_outlet_watts"));
    for secret in [viewer.as_str(), "public", "private"] {
        assert!(!scraped.contains(secret), "{secret} in /metrics");
    }
    // Prometheus's own linter (same package) finds nothing but the unit
    // asked for on purpose: kilowatt-hours, as PDUs count them, not joules.
    let mut lint = Command::new(binary.with_file_name("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    std::io::Write::write_all(&mut lint.stdin.take().unwrap(), scraped.as_bytes()).unwrap();
    let linted = lint.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&linted.stdout).to_string() + &String::from_utf8_lossy(&linted.stderr);
    let problems: Vec<&str> = said
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !(l.contains("_kilowatt_hours_total") && l.contains("use base unit")))
        .collect();
    assert!(problems.is_empty(), "promtool check metrics: {problems:?}");
    assert_eq!(said.lines().filter(|l| l.contains("use base unit")).count(), 3, "{said}");
    bridge.shutdown.cancel();
}

/// Every metric name a PromQL expression uses: identifiers outside strings,
/// label matchers and ranges that are not functions, keywords, grouping
/// clauses' label lists or Grafana variables.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const GROUPING: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];
    const KEYWORDS: [&str; 7] = ["bool", "and", "or", "unless", "offset", "inf", "nan"];
    // Strings, label matchers and ranges hold label names and values: out first.
    let mut plain = String::new();
    let mut chars = expr.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                while let Some(d) = chars.next() {
                    if d == '\\' {
                        chars.next();
                    } else if d == c {
                        break;
                    }
                }
                plain.push(' ');
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                chars.by_ref().find(|d| *d == close);
                plain.push(' ');
            }
            c => plain.push(c),
        }
    }
    let word_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '$';
    let mut names = BTreeSet::new();
    let mut rest = plain.as_str();
    while let Some(start) = rest.find(|c: char| word_char(c) && !c.is_ascii_digit()) {
        let preceded_by_number = rest[..start].ends_with(|c: char| c.is_ascii_digit() || c == '.');
        let tail = &rest[start..];
        let len = tail.find(|c: char| !word_char(c)).unwrap_or(tail.len());
        let (word, next) = (&tail[..len], tail[len..].trim_start());
        if GROUPING.contains(&word) {
            // `by (a, b)`: label names up to the closing parenthesis.
            rest = match next.strip_prefix('(') {
                Some(inside) => inside.split_once(')').map_or("", |(_, after)| after),
                None => next,
            };
            continue;
        }
        // A function's call, or an aggregation with its grouping first (`sum by (a) (…)`).
        let next_word = next.split(|c: char| !word_char(c)).next().unwrap_or("");
        let function = next.starts_with('(') || GROUPING.contains(&next_word);
        if !function && !preceded_by_number && !KEYWORDS.contains(&word) && !word.starts_with('$') {
            names.insert(word.to_owned());
        }
        rest = &tail[len..];
    }
    names
}

#[test]
fn the_promql_reader_finds_metric_names_and_nothing_else() {
    let expr = r#"sum by (device_id) (rate(pdu_bridge_snmp_timeouts_total{device_id=~"$device", x="a b"}[$__rate_interval])) * on (device_id, outlet) group_left (name) pdu_outlet_info / 2e3 > bool 1"#;
    let names: Vec<String> = metric_names(expr).into_iter().collect();
    assert_eq!(names, ["pdu_bridge_snmp_timeouts_total", "pdu_outlet_info"]);
    assert_eq!(
        metric_names("histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))").into_iter().collect::<Vec<_>>(),
        ["x_bucket"]
    );
}

/// Every PromQL expression of the dashboard: each `expr` (panel targets,
/// rows included) and each query variable's query.
fn expressions(dashboard: &serde_json::Value) -> Vec<String> {
    fn exprs(node: &serde_json::Value, found: &mut Vec<String>) {
        match node {
            serde_json::Value::Object(map) => map.iter().for_each(|(key, value)| match value {
                serde_json::Value::String(e) if key == "expr" => found.push(e.clone()),
                _ => exprs(value, found),
            }),
            serde_json::Value::Array(items) => items.iter().for_each(|i| exprs(i, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    exprs(&dashboard["panels"], &mut found);
    for variable in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        if variable["type"] == "query" {
            let query = variable["query"].get("query").unwrap_or(&variable["query"]);
            found.push(query.as_str().expect("a query variable's query").to_owned());
        }
    }
    found
}

#[tokio::test]
async fn the_grafana_dashboard_asks_only_for_families_a_bridge_polling_over_snmp_exposes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker/grafana/pdu-bridge.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let targets = panel["targets"].as_array().map(Vec::len).unwrap_or(0);
        assert!(targets > 0, "panel {} has no query", panel["title"]);
    }
    let found = expressions(&dashboard);
    // Template queries such as label_values(pdu_info, device_id) name a metric too.
    let used: BTreeSet<String> = found
        .iter()
        .flat_map(|e| match e.strip_prefix("label_values(") {
            Some(args) => BTreeSet::from([args.split([',', ')']).next().unwrap_or("").trim().to_owned()]),
            None => metric_names(e),
        })
        .collect();
    assert!(used.len() >= 8, "{used:?}");

    // A bridge polling the simulator agent over SNMP, as in a rack.
    let agent = agent(Faults::default()).await;
    let port = agent.addr.port().to_string();
    let bridge = serve(&[("PDU_HOST", "127.0.0.1"), ("PDU_SNMP_PORT", &port), ("BRIDGE_POLL_INTERVAL", "0.5")]).await;
    let viewer = viewer_token(bridge.addr).await;
    let headers = format!("Authorization: Bearer {viewer}\r\n");
    let mut missing = used.clone();
    let mut last = String::new();
    // History commits every 10 samples: a few seconds until every family has values.
    for _ in 0..150 {
        let (status, body) = http_raw(bridge.addr, "GET", "/metrics", None, &headers).await;
        assert_eq!(status, 200, "{body}");
        let (kinds, sampled) = families(&body);
        for name in &used {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .filter_map(|s| name.strip_suffix(s))
                .find(|f| kinds.get(*f).is_some_and(|k| k == "histogram"))
                .unwrap_or(name);
            assert!(kinds.contains_key(family), "the dashboard uses {name}, which the bridge does not expose");
        }
        missing.retain(|name| !sampled.contains(name));
        last = body;
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(missing.is_empty(), "the dashboard uses {missing:?}, which have no values:\n{last}");
    bridge.shutdown.cancel();
}
