//! Automation rules end to end: the simulated PDU, the poller and the rule
//! runner, under paused Tokio time; the rules file; the HTTP API.

use crate::util::{call, config, http, serve, Started};
use app::access::Role;
use app::alarms::{Alarm, AlarmKind, Severity};
use app::model::{OutletState, Source};
use app::rules::{Rule, RuleAction};
use axum::http::StatusCode;
use server::bridge::Bridge;
use server::pdu::sim::{Faults, SimulatedPdu};
use server::rules::Automation;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const BROWNOUT: &str = r#"[{"name":"shed","condition":"voltage_below","input":1,"threshold":108,
    "outlet":[5,9],"action":"off","delay":10,"restore_delay":30}]"#;

/// Bridge and rules on the simulated PDU, with `rules` as the rules file.
struct Rig {
    bridge: Arc<Bridge>,
    automation: Arc<Automation>,
    sim: SimulatedPdu,
    config: server::config::Config,
    shutdown: CancellationToken,
    rules_shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn start(rules: &str, extra: &[(&str, &str)]) -> Self {
        let (config, dir) = config(extra);
        std::fs::create_dir_all(&config.data_dir).unwrap();
        std::fs::write(config.data_dir.join("rules.json"), rules).unwrap();
        let bridge = Arc::new(Bridge::new(&config));
        let sim = bridge.devices()[0].simulator().unwrap().clone();
        let shutdown = CancellationToken::new();
        // Rules subscribe before the pollers start, or the first snapshots go by.
        let automation = Automation::new(&config, &bridge);
        let rules_shutdown = CancellationToken::new();
        automation.spawn(&rules_shutdown);
        server::poller::spawn(&bridge, &shutdown);
        Self { bridge, automation, sim, config, shutdown, rules_shutdown, _dir: dir }
    }

    fn outlet(&self, n: u32) -> OutletState {
        self.sim.model().outlet_state(n, Instant::now()).unwrap().0
    }

    fn volts_a(&self, v: f64) {
        self.sim.model().pin_source_voltage(Source::A, Some(v), Instant::now());
    }

    fn events(&self) -> Vec<String> {
        self.bridge.events().recent(100).into_iter().rev().map(|e| e.kind).collect()
    }

    /// Every outlet's state, in order.
    fn outlets(&self) -> Vec<OutletState> {
        let count = self.sim.model().outlet_count();
        (1..=count).map(|n| self.outlet(n)).collect()
    }

    /// The rules' alarms: (active, past).
    fn rule_alarms(&self) -> (Vec<Alarm>, Vec<Alarm>) {
        let list = self.bridge.alarms().list();
        let rule = |a: &Alarm| a.kind == AlarmKind::Rule;
        (list.active.into_iter().filter(rule).collect(), list.past.into_iter().filter(rule).collect())
    }

    /// The details of the newest event of `kind`.
    fn last(&self, kind: &str) -> String {
        self.bridge.events().recent(100).into_iter().find(|e| e.kind == kind).map(|e| e.details).unwrap_or_default()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.rules_shutdown.cancel();
        self.shutdown.cancel();
    }
}

async fn wait(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

#[tokio::test(start_paused = true)]
async fn a_brownout_longer_than_the_delay_sheds_and_recovery_restores_after_the_restore_delay() {
    let rig = Rig::start(BROWNOUT, &[]);
    wait(2).await;
    rig.volts_a(100.0);
    wait(8).await;
    assert_eq!((rig.outlet(5), rig.outlet(9)), (OutletState::On, OutletState::On), "not before the delay");
    wait(4).await;
    assert_eq!((rig.outlet(5), rig.outlet(9)), (OutletState::Off, OutletState::Off), "shed after 10 s below 108 V");
    assert_eq!(rig.outlet(4), OutletState::On, "only the listed outlets");

    rig.volts_a(108.5); // above the threshold, not above threshold + hysteresis
    wait(60).await;
    assert_eq!(rig.outlet(5), OutletState::Off);
    rig.volts_a(118.0);
    wait(25).await;
    assert_eq!(rig.outlet(5), OutletState::Off, "not before the restore delay");
    wait(8).await;
    assert_eq!((rig.outlet(5), rig.outlet(9)), (OutletState::On, OutletState::On));
    let events = rig.events();
    assert!(events.contains(&"triggered".to_owned()) && events.contains(&"restored".to_owned()), "{events:?}");
    let status = rig.automation.engines()[0].list();
    assert_eq!((status[0].state.as_str(), status[0].run_count), ("armed", 1));
}

#[tokio::test(start_paused = true)]
async fn a_dip_shorter_than_the_delay_does_nothing() {
    let rig = Rig::start(BROWNOUT, &[]);
    wait(2).await;
    rig.volts_a(100.0);
    wait(5).await;
    rig.volts_a(118.0);
    wait(30).await;
    assert_eq!((rig.outlet(5), rig.outlet(9)), (OutletState::On, OutletState::On));
    assert!(!rig.events().contains(&"triggered".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_pdu_in_between_changes_nothing_until_it_answers_again() {
    let rig = Rig::start(BROWNOUT, &[]);
    wait(2).await;
    rig.volts_a(100.0);
    wait(15).await;
    assert_eq!(rig.outlet(5), OutletState::Off);
    // The PDU stops answering; the voltage recovers meanwhile.
    rig.sim.set_faults(Faults { drop_replies: true, ..Faults::default() });
    rig.volts_a(118.0);
    wait(300).await;
    assert_eq!(rig.outlet(5), OutletState::Off, "no restore on missing data");
    assert!(rig.events().contains(&"pdu_unreachable".to_owned()));
    rig.sim.set_faults(Faults::default());
    wait(120).await;
    assert_eq!(rig.outlet(5), OutletState::On, "restored once the PDU answers and the restore delay passed");
}

#[tokio::test(start_paused = true)]
async fn a_restart_in_between_still_restores_the_shed_outlets() {
    let rig = Rig::start(BROWNOUT, &[]);
    wait(2).await;
    rig.volts_a(100.0);
    wait(15).await;
    assert_eq!(rig.outlet(5), OutletState::Off);
    // Stop the rules (as a restart would) and start them again from their files.
    rig.rules_shutdown.cancel();
    wait(1).await;
    let again = Automation::new(&rig.config, &rig.bridge);
    let stop = CancellationToken::new();
    again.spawn(&stop);
    assert_eq!(again.engines()[0].list()[0].state, "fired", "the fired state survived");
    rig.volts_a(118.0);
    wait(40).await;
    assert_eq!((rig.outlet(5), rig.outlet(9)), (OutletState::On, OutletState::On));
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn protected_outlets_are_never_switched_off_and_one_shots_disable_themselves() {
    let rules = r#"[{"name":"on-b","condition":"ats_source_is","threshold":2,"outlet":[1,3],"action":"off",
                     "delay":0,"schedule_type":"oneshot","restore":false}]"#;
    let rig = Rig::start(rules, &[("BRIDGE_PROTECTED_OUTLETS", "1")]);
    wait(2).await;
    rig.sim.model().set_source_failed(Source::A, true, Instant::now());
    wait(3).await;
    assert_eq!(rig.outlet(1), OutletState::On, "protected");
    assert_eq!(rig.outlet(3), OutletState::Off);
    let events = rig.events();
    for kind in ["ats_transfer", "source_lost", "redundancy_lost", "failed", "triggered", "disabled"] {
        assert!(events.contains(&kind.to_owned()), "{kind} missing from {events:?}");
    }
    let status = &rig.automation.engines()[0].list()[0];
    assert_eq!((status.rule.enabled, status.state.as_str()), (false, "disabled"));
    let file = std::fs::read_to_string(rig.config.data_dir.join("rules.json")).unwrap();
    assert!(file.contains("\"enabled\": false"), "the one-shot is disabled in the file too: {file}");
}

#[tokio::test(start_paused = true)]
async fn an_invalid_rules_file_is_refused_and_the_previous_rules_stay() {
    let rig = Rig::start(BROWNOUT, &[]);
    wait(3).await;
    let path = rig.config.data_dir.join("rules.json");
    // Make sure the modification time moves on filesystems with coarse timestamps.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&path, r#"[{"name":"x","condition":"voltage_below","threshold":"low","outlet":1,"action":"off"}]"#)
        .unwrap();
    wait(5).await;
    let engine = &rig.automation.engines()[0];
    let error = engine.file_error().expect("the file was refused");
    assert!(error.contains("threshold") && error.contains("previous rules stay"), "{error}");
    assert_eq!(engine.list()[0].rule.name, "shed");
}

#[tokio::test]
async fn the_rules_api_creates_edits_disables_and_deletes_with_field_errors() {
    let bridge = Started::new(&[]).await;
    let router = bridge.router();
    let rule = r#"{"name":"night","condition":"time_between","threshold":"22:00-06:00","outlet":[7],"action":"off"}"#;
    let (code, r) = call(&router, "POST", "/api/rules", Some(rule)).await;
    assert_eq!(code, StatusCode::CREATED, "{r}");
    assert_eq!(
        (r["name"].as_str(), r["delay"].as_f64(), r["restore"].as_bool()),
        (Some("night"), Some(5.0), Some(true))
    );
    assert!(["armed", "pending", "fired"].contains(&r["state"].as_str().unwrap()), "{r}");

    let (code, e) = call(&router, "POST", "/api/rules", Some(rule)).await;
    assert_eq!(code, StatusCode::CONFLICT, "{e}");
    let bad = r#"{"name":"x","condition":"voltage_below","threshold":108,"outlet":[12],"action":"off"}"#;
    let (code, e) = call(&router, "POST", "/api/rules", Some(bad)).await;
    assert_eq!((code, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("outlet")), "{e}");
    let (code, e) = call(&router, "POST", "/api/rules", Some(r#"{"name":"x"}"#)).await;
    assert_eq!((code, e["field"].as_str()), (StatusCode::BAD_REQUEST, Some("body")), "{e}");

    let edited =
        r#"{"name":"night","condition":"time_between","threshold":"23:00-06:00","outlet":[7,8],"action":"off"}"#;
    let (code, r) = call(&router, "PUT", "/api/rules/night", Some(edited)).await;
    assert_eq!((code, r["threshold"].as_str()), (StatusCode::OK, Some("23:00-06:00")), "{r}");
    let (code, r) = call(&router, "POST", "/api/rules/night/disable", None).await;
    assert_eq!((code, r["state"].as_str(), r["enabled"].as_bool()), (StatusCode::OK, Some("disabled"), Some(false)));
    let (code, _) = call(&router, "PUT", "/api/rules/nope", Some(edited)).await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    let (_, list) = call(&router, "GET", "/api/rules", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let file = std::fs::read_to_string(bridge.config.devices[0].rules_file.clone()).unwrap();
    assert!(file.contains("23:00-06:00"), "written to the rules file");

    let (code, _) = call(&router, "DELETE", "/api/rules/night", None).await;
    assert_eq!(code, StatusCode::OK);
    let (_, list) = call(&router, "GET", "/api/rules", None).await;
    assert_eq!(list, serde_json::json!([]));
    let (code, events) = call(&router, "GET", "/api/events?limit=10", None).await;
    assert_eq!(code, StatusCode::OK);
    let kinds: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["deleted", "disabled", "updated", "created"], "newest first");
}

#[tokio::test]
async fn a_refused_command_is_reported_retried_and_never_counted_as_success() {
    let agent = crate::snmp::agent(Faults::default()).await;
    // The PDU refuses writes with this community (noAccess).
    let bridge = crate::snmp::snmp_bridge(&agent, &[("PDU_COMMUNITY_WRITE", "public")]).await;
    let router = bridge.router();
    let always =
        r#"{"name":"always","condition":"time_after","threshold":"00:00","outlet":6,"action":"off","delay":0}"#;
    let (code, r) = call(&router, "POST", "/api/rules", Some(always)).await;
    assert_eq!(code, StatusCode::CREATED, "{r}");
    bridge.wait_for(|_| bridge.bridge.events().recent(50).iter().filter(|e| e.kind == "failed").count() >= 2).await;
    let failed: Vec<_> = bridge.bridge.events().recent(50).into_iter().filter(|e| e.kind == "failed").collect();
    assert!(failed[0].details.contains("noAccess") && failed[0].details.contains("retrying"), "{failed:?}");
    let status = &bridge.automation.engines()[0].list()[0];
    assert_eq!(status.run_count, 0, "a failed command is not a run");
    assert_eq!(agent.sim.model().outlet_state(6, Instant::now()).unwrap().0, OutletState::On);
}

#[tokio::test(start_paused = true)]
async fn two_rules_on_one_outlet_the_later_one_wins_and_the_log_says_so() {
    let rules = r#"[{"name":"first","condition":"time_after","threshold":"00:00","outlet":2,"action":"off","delay":0,"restore":false},
                    {"name":"second","condition":"time_after","threshold":"00:00","outlet":2,"action":"on","delay":3,"restore":false}]"#;
    let rig = Rig::start(rules, &[]);
    wait(2).await;
    assert_eq!(rig.outlet(2), OutletState::Off, "the first fired");
    wait(5).await;
    assert_eq!(rig.outlet(2), OutletState::On, "the later one wins");
    let second = rig.bridge.events().recent(50).into_iter().find(|e| e.rule.as_deref() == Some("second")).unwrap();
    assert!(second.details.contains("also switched by first") && second.details.contains("wins"), "{}", second.details);
}

#[tokio::test]
async fn a_rule_named_with_spaces_round_trips_through_the_api_by_its_encoded_path() {
    let bridge = Started::new(&[]).await;
    let router = bridge.router();
    let rule =
        r#"{"name":"Night shed 2","condition":"time_between","threshold":"22:00-06:00","outlet":[7],"action":"off"}"#;
    let (code, r) = call(&router, "POST", "/api/rules", Some(rule)).await;
    assert_eq!((code, r["name"].as_str()), (StatusCode::CREATED, Some("Night shed 2")), "{r}");

    let edited =
        r#"{"name":"Night shed 2","condition":"time_between","threshold":"23:00-06:00","outlet":[7],"action":"off"}"#;
    let (code, r) = call(&router, "PUT", "/api/rules/Night%20shed%202", Some(edited)).await;
    assert_eq!((code, r["threshold"].as_str()), (StatusCode::OK, Some("23:00-06:00")), "{r}");
    let (code, r) = call(&router, "POST", "/api/rules/Night%20shed%202/disable", None).await;
    assert_eq!((code, r["enabled"].as_bool()), (StatusCode::OK, Some(false)), "{r}");
    let (code, r) = call(&router, "POST", "/api/rules/Night%20shed%202/enable", None).await;
    assert_eq!((code, r["enabled"].as_bool()), (StatusCode::OK, Some(true)), "{r}");
    let file = std::fs::read_to_string(bridge.config.devices[0].rules_file.clone()).unwrap();
    assert!(file.contains("\"Night shed 2\""), "the rules file keeps the name as typed: {file}");

    let (code, r) = call(&router, "DELETE", "/api/rules/Night%20shed%202", None).await;
    assert_eq!((code, r["deleted"].as_str()), (StatusCode::OK, Some("Night shed 2")), "{r}");
    let (_, events) = call(&router, "GET", "/api/events?limit=10", None).await;
    let named = events.as_array().unwrap().iter().filter(|e| e["rule"] == "Night shed 2").count();
    assert_eq!(named, 5, "created, updated, disabled, enabled, deleted: {events}");

    let padded = r#"{"name":" Night","condition":"redundancy_lost","threshold":0,"outlet":[7],"action":"off"}"#;
    let (code, e) = call(&router, "POST", "/api/rules", Some(padded)).await;
    assert_eq!((code, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("name")), "{e}");
    assert!(e["error"].as_str().unwrap().contains("spaces"), "the message says what is allowed: {e}");
}

/// A plain HTML form post to `/forms/rule`: (status, `Location`).
async fn form_post(router: &axum::Router, body: &str) -> (StatusCode, String) {
    use tower::ServiceExt;
    let request = axum::http::Request::post("/forms/rule")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(body.to_owned()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (response.status(), location)
}

#[tokio::test]
async fn the_no_script_rule_form_takes_a_name_with_spaces_and_encodes_it_in_the_redirect() {
    let bridge = Started::new(&[]).await;
    let router = bridge.router();
    let rule = r#"{"name":"Night shed 2","condition":"redundancy_lost","threshold":0,"outlet":[7],"action":"off"}"#;
    let (code, r) = call(&router, "POST", "/api/rules", Some(rule)).await;
    assert_eq!(code, StatusCode::CREATED, "{r}");

    let (code, to) = form_post(&router, "rule=Night+shed+2&op=disable").await;
    assert_eq!((code, to.as_str()), (StatusCode::SEE_OTHER, "/?done=rule&rule=Night+shed+2&what=disabled#rules"));
    assert!(!bridge.automation.engines()[0].list()[0].rule.enabled);

    let (_, to) = form_post(&router, "rule=Night%20shed%202&op=delete").await;
    assert_eq!(to, "/?confirm=rule-delete&rule=Night+shed+2#rules", "asked first");
    let (_, to) = form_post(&router, "rule=Night+shed+2&op=delete&confirmed=1").await;
    assert_eq!(to, "/?done=rule&rule=Night+shed+2&what=deleted#rules");
    assert!(bridge.automation.engines()[0].list().is_empty());

    let (_, to) = form_post(&router, "rule=Night+shed+2&op=enable").await;
    assert_eq!(to, "/?failed=rule&rule=Night+shed+2&code=404#rules");
    let (_, to) = form_post(&router, "rule=a%26b%3Dc&op=enable").await;
    assert_eq!(to, "/?failed=rule&code=400#rules", "not a rule name: nothing of it goes back");
}

/// A plain HTML form post to `/forms/rule` from a signed-in browser: (status, `Location`).
async fn form_post_as(router: &axum::Router, cookie: &str, body: &str) -> (StatusCode, String) {
    use tower::ServiceExt;
    let request = axum::http::Request::post("/forms/rule")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie)
        .body(axum::body::Body::from(body.to_owned()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (response.status(), location)
}

/// The editor's fields as a browser without the WASM posts them.
const EDITOR_FORM: &str = "op=save&name=Shed+NAS&condition=voltage_below&input=1&bank=1&value=95&source=2\
    &at=22%3A00&until=06%3A00&action=off&delay=5&restore_delay=0&hysteresis=&outlets=3&outlets=5\
    &day=0&day=1&day=2&day=3&day=4&day=5&day=6&restore=1&enabled=1";

#[tokio::test]
async fn the_rule_editor_works_as_a_plain_form_create_update_and_refuse() {
    let started = Started::new(&[]).await;
    let router = started.bare_router();
    let operator = started.browser_cookie("olga", Role::Operator).await;
    let rules = || started.automation.engines()[0].list().into_iter().map(|s| s.rule).collect::<Vec<_>>();

    let (code, to) = form_post_as(&router, &operator, EDITOR_FORM).await;
    assert_eq!((code, to.as_str()), (StatusCode::SEE_OTHER, "/?done=rule&rule=Shed+NAS&what=created#rules"));
    let created = rules();
    assert_eq!(created.len(), 1);
    let rule = &created[0];
    assert_eq!((rule.name.as_str(), rule.input, rule.outlet.list()), ("Shed NAS", 1, vec![3, 5]));
    assert_eq!(rule.threshold, app::rules::Threshold::Number(95.0));
    assert_eq!((rule.days_of_week.as_ref(), rule.restore, rule.enabled), (None, true, true), "every day, as ticked");

    let update = EDITOR_FORM.replace("value=95", "value=100").replace("&enabled=1", "") + "&original=Shed+NAS";
    let (_, to) = form_post_as(&router, &operator, &update).await;
    assert_eq!(to, "/?done=rule&rule=Shed+NAS&what=updated#rules");
    let updated = rules();
    assert_eq!(updated.len(), 1, "replaced, not added");
    assert_eq!(updated[0].threshold, app::rules::Threshold::Number(100.0));
    assert!(!updated[0].enabled, "an unticked box is false");

    // A bad threshold: back to the editor with what was typed and the field named; nothing changes.
    let bad = EDITOR_FORM.replace("value=95", "value=900") + "&original=Shed+NAS";
    let (code, to) = form_post_as(&router, &operator, &bad).await;
    assert_eq!(code, StatusCode::SEE_OTHER);
    assert!(to.starts_with("/?editor=check&failed=rule&code=422&field=threshold&"), "{to}");
    assert!(to.contains("&name=Shed+NAS&") && to.contains("&value=900&") && to.contains("&original=Shed+NAS"), "{to}");
    assert!(to.ends_with("#rules"), "{to}");
    assert_eq!(rules(), updated, "nothing changed");

    // The page that address opens has the editor, the values and what is wrong.
    let (code, page) =
        crate::util::call_with(&router, "GET", to.trim_end_matches("#rules"), None, &[("cookie", &operator)]).await;
    assert_eq!(code, StatusCode::OK);
    assert!(page.contains("data-testid=\"rule-form\""), "the editor is open");
    assert!(page.contains("value=\"900\""), "what was typed is kept");
    assert!(page.contains("threshold: a voltage from 0 to 500 V"), "the field and what is allowed");

    // A viewer's post is refused and changes nothing.
    let viewer = started.browser_cookie("vic", Role::Viewer).await;
    let (code, to) = form_post_as(&router, &viewer, &EDITOR_FORM.replace("Shed+NAS", "Viewer+rule")).await;
    assert!(code == StatusCode::FORBIDDEN || to.contains("code=403"), "{code} {to}");
    assert_eq!(rules(), updated);
}

/// A notify rule: an alarm when a power supply fails, nothing switched.
const PSU_WATCH: &str = r#"[{"name":"psu-watch","condition":"psu_failed","threshold":0,"action":"notify",
    "delay":10,"restore_delay":30}]"#;

/// The kinds of the rule's and its alarm's events, oldest first.
fn notify_events(rig: &Rig) -> Vec<String> {
    let kinds = ["triggered", "alarm_raised", "restored", "alarm_cleared", "outlet_command"];
    rig.events().into_iter().filter(|k| kinds.contains(&k.as_str())).collect()
}

#[tokio::test(start_paused = true)]
async fn a_notify_rule_raises_an_alarm_after_the_delay_and_clears_it_after_the_restore_delay_switching_nothing() {
    let rig = Rig::start(PSU_WATCH, &[]);
    wait(2).await;
    let outlets = rig.outlets();
    rig.sim.model().set_psu_failed(2, true);
    wait(8).await;
    assert_eq!(rig.rule_alarms(), (vec![], vec![]), "not before the delay");
    wait(4).await;
    let (active, _) = rig.rule_alarms();
    assert_eq!(active.len(), 1, "{active:?}");
    let alarm = &active[0];
    assert_eq!(
        (alarm.rule.as_deref(), alarm.title.as_str(), alarm.severity, alarm.details.as_str()),
        (Some("psu-watch"), "Rule psu-watch", Severity::Warning, "power supply 2 failed for 10 s")
    );
    assert_eq!(alarm.device_id.as_ref(), Some(rig.bridge.devices()[0].id()));
    assert_eq!(rig.automation.engines()[0].list()[0].state, "fired");
    assert_eq!(rig.last("triggered"), "alarm raised: power supply 2 failed for 10 s");

    rig.sim.model().set_psu_failed(2, false);
    wait(25).await;
    assert_eq!(rig.rule_alarms().0.len(), 1, "not before the restore delay");
    wait(8).await;
    let (active, past) = rig.rule_alarms();
    assert_eq!(active, vec![]);
    assert_eq!((past.len(), past[0].id), (1, alarm.id));
    assert!(past[0].cleared_at.is_some());
    assert_eq!(rig.last("restored"), "alarm cleared: the condition has been clear for 30 s");

    assert_eq!(rig.outlets(), outlets, "nothing was switched");
    assert_eq!(notify_events(&rig), ["triggered", "alarm_raised", "restored", "alarm_cleared"], "no outlet_command");
    let status = &rig.automation.engines()[0].list()[0];
    assert_eq!((status.state.as_str(), status.run_count), ("armed", 1));
    assert!(status.last_run.is_some());
}

#[tokio::test(start_paused = true)]
async fn a_supply_failing_for_less_than_the_delay_raises_no_alarm() {
    let rig = Rig::start(PSU_WATCH, &[]);
    wait(2).await;
    rig.sim.model().set_psu_failed(1, true);
    wait(5).await;
    rig.sim.model().set_psu_failed(1, false);
    wait(60).await;
    assert_eq!(rig.rule_alarms(), (vec![], vec![]));
    assert_eq!(notify_events(&rig), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn a_fired_notify_rule_raises_its_alarm_again_after_a_restart_and_clears_it_when_over() {
    let rig = Rig::start(PSU_WATCH, &[]);
    wait(2).await;
    rig.sim.model().set_psu_failed(2, true);
    wait(15).await;
    assert_eq!(rig.rule_alarms().0.len(), 1);
    // Stop the rules as a restart would; the alarm model keeps nothing across one.
    rig.rules_shutdown.cancel();
    wait(1).await;
    rig.bridge.alarms().clear_rule(rig.bridge.devices()[0].id(), "psu-watch");
    assert_eq!(rig.rule_alarms().0, vec![]);

    let again = Automation::new(&rig.config, &rig.bridge);
    let stop = CancellationToken::new();
    again.spawn(&stop);
    wait(1).await;
    let (active, _) = rig.rule_alarms();
    assert_eq!(active.len(), 1, "raised again");
    assert_eq!(active[0].details, "power supply 2 failed for 10 s (seen before the bridge restarted)");
    assert_eq!(again.engines()[0].list()[0].state, "fired");

    rig.sim.model().set_psu_failed(2, false);
    wait(40).await;
    assert_eq!(rig.rule_alarms().0, vec![], "cleared once the condition cleared");
    assert_eq!(again.engines()[0].list()[0].state, "armed");
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn disabling_editing_deleting_or_dropping_a_fired_notify_rule_from_the_file_clears_its_alarm() {
    let watch = r#"[{"name":"psu-watch","condition":"psu_failed","threshold":0,"action":"notify","delay":0}]"#;
    let rig = Rig::start(watch, &[]);
    wait(2).await;
    let outlets = rig.outlets();
    rig.sim.model().set_psu_failed(1, true);
    wait(2).await;
    let engine = rig.automation.engines()[0].clone();
    let active = || rig.rule_alarms().0;
    assert_eq!(active().len(), 1);

    // Disabled: cleared at once; a disabled rule raises nothing.
    let status = engine.set_enabled("psu-watch", false).await.unwrap();
    assert_eq!((status.state.as_str(), active()), ("disabled", vec![]));
    assert_eq!(rig.last("disabled"), "rule disabled while fired; its alarm was cleared");
    assert!(rig.events().ends_with(&["disabled".to_owned(), "alarm_cleared".to_owned()]), "{:?}", rig.events());
    wait(5).await;
    assert_eq!(active(), vec![]);
    // Enabled with the supply still failed: it starts over and raises again.
    engine.set_enabled("psu-watch", true).await.unwrap();
    wait(2).await;
    assert_eq!(active().len(), 1);

    // Saved as it was: nothing changes, the alarm stays.
    let same: Rule = serde_json::from_str(&watch[1..watch.len() - 1]).unwrap();
    engine.update("psu-watch", same).await.unwrap();
    assert_eq!((active().len(), rig.last("updated")), (1, "rule updated".to_owned()));
    // Edited: cleared, and raised again after the new delay.
    let edited = r#"{"name":"psu-watch","condition":"psu_failed","threshold":1,"action":"notify","delay":10}"#;
    engine.update("psu-watch", serde_json::from_str(edited).unwrap()).await.unwrap();
    assert_eq!(active(), vec![]);
    assert_eq!(rig.last("updated"), "rule updated while fired; its alarm was cleared");
    wait(5).await;
    assert_eq!(active(), vec![], "the new delay runs");
    wait(8).await;
    assert_eq!(active().len(), 1);
    assert_eq!(active()[0].details, "power supply 1 failed for 10 s");

    // Deleted: cleared.
    engine.delete("psu-watch").await.unwrap();
    assert_eq!(active(), vec![]);
    assert_eq!(rig.last("deleted"), "rule deleted while fired; its alarm was cleared");

    // In the rules file again, then left out of it: cleared.
    let path = rig.config.data_dir.join("rules.json");
    // Make sure the modification time moves on filesystems with coarse timestamps.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&path, watch).unwrap();
    wait(5).await;
    assert_eq!(active().len(), 1, "the file's rule fired");
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&path, "[]").unwrap();
    wait(5).await;
    assert_eq!(engine.list(), vec![]);
    assert_eq!(active(), vec![], "gone from the file: its alarm cleared");

    assert_eq!(rig.outlets(), outlets, "nothing was ever switched");
    assert!(!rig.events().contains(&"outlet_command".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn a_rules_file_written_by_the_python_bridge_still_runs() {
    // As the Python bridge writes it: integer and string thresholds, one
    // outlet or a list, fields left out.
    let python = r#"[
      {"name": "brownout-shed", "condition": "voltage_below", "input": 1, "threshold": 108,
       "outlet": [5, 9], "action": "off", "restore": true, "delay": 10, "restore_delay": 30},
      {"name": "on_battery", "condition": "ats_source_is", "threshold": 2, "outlet": 10, "action": "off"},
      {"name": "night", "condition": "time_between", "threshold": "22:00-06:30", "outlet": [7],
       "action": "off", "days_of_week": [0, 1, 2, 3, 4], "schedule_type": "continuous", "enabled": false},
      {"name": "modem-kick", "condition": "time_after", "threshold": "05:00", "outlet": 7,
       "action": "reboot", "schedule_type": "oneshot", "restore": false}
    ]"#;
    let rig = Rig::start(python, &[]);
    wait(2).await;
    let engine = &rig.automation.engines()[0];
    assert_eq!(engine.file_error(), None);
    let rules: Vec<(String, Vec<u32>)> =
        engine.list().into_iter().map(|s| (s.rule.name, s.rule.outlet.list())).collect();
    assert_eq!(
        rules,
        [("brownout-shed", vec![5, 9]), ("on_battery", vec![10]), ("night", vec![7]), ("modem-kick", vec![7])]
            .map(|(n, o)| (n.to_owned(), o))
    );
    // The brownout rule acts as before.
    rig.volts_a(100.0);
    wait(12).await;
    assert_eq!((rig.outlet(5), rig.outlet(9)), (OutletState::Off, OutletState::Off));
}

/// Until `ok` holds for `GET /api/alarms` over the socket (at most 10 s).
async fn alarms_until(served: &crate::util::Served, ok: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    for _ in 0..100 {
        let (_, body) = http(served.addr, "GET", "/api/alarms", None).await;
        let list: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if ok(&list) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the alarms never got there");
}

/// The rule alarms of `list` named `rule`, active or past.
fn rule_alarm<'a>(list: &'a serde_json::Value, which: &str, rule: &str) -> Option<&'a serde_json::Value> {
    list[which].as_array()?.iter().find(|a| a["kind"] == "rule" && a["rule"] == rule)
}

#[tokio::test]
async fn a_notify_rule_shows_its_alarm_in_the_api_and_its_events_on_mqtt_and_refuses_outlets() {
    let port = crate::mqtt::free_port();
    let served =
        serve(&[("MQTT_PORT", &port.to_string()), ("BRIDGE_MQTT_BASE", "t-notify"), ("BRIDGE_HA_DISCOVERY", "false")])
            .await;
    let mut sub = crate::mqtt::Sub::connect(port, "test-t-notify", &["t-notify/pdu44001/automation/#"]).await;
    sub.wait("t-notify/pdu44001/automation/status", |p, _| p == "[]", 10).await;
    let status = |served: &crate::util::Served| {
        let addr = served.addr;
        async move { serde_json::from_str::<serde_json::Value>(&http(addr, "GET", "/api/status", None).await.1).unwrap() }
    };
    let states = |s: &serde_json::Value| -> Vec<String> {
        s["outlets"].as_array().unwrap().iter().map(|o| o["state"].as_str().unwrap().to_owned()).collect()
    };
    let before = states(&status(&served).await);

    // Outlets are refused for a notify rule, and required for the others, by name.
    let with_outlet = r#"{"name":"psu watch","condition":"psu_failed","threshold":0,"action":"notify","outlet":[3]}"#;
    let (code, e) = http(served.addr, "POST", "/api/rules", Some(with_outlet)).await;
    let e: serde_json::Value = serde_json::from_str(&e).unwrap();
    assert_eq!((code, e["field"].as_str()), (422, Some("outlet")), "{e}");
    assert!(e["error"].as_str().unwrap().contains("notify rule switches no outlet"), "{e}");
    let without = r#"{"name":"psu off","condition":"psu_failed","threshold":0,"action":"off"}"#;
    let (code, e) = http(served.addr, "POST", "/api/rules", Some(without)).await;
    let e: serde_json::Value = serde_json::from_str(&e).unwrap();
    assert_eq!((code, e["field"].as_str()), (422, Some("outlet")), "{e}");
    assert!(e["error"].as_str().unwrap().contains("at least one outlet"), "{e}");

    let rule = r#"{"name":"psu watch","condition":"psu_failed","threshold":0,"action":"notify","delay":0}"#;
    let (code, body) = http(served.addr, "POST", "/api/rules", Some(rule)).await;
    assert_eq!(code, 201, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((created["action"].as_str(), &created["outlet"]), (Some("notify"), &serde_json::json!([])));

    let sim = served.bridge.devices()[0].simulator().unwrap().clone();
    sim.model().set_psu_failed(2, true);
    let list = alarms_until(&served, |l| rule_alarm(l, "active", "psu watch").is_some()).await;
    let alarm = rule_alarm(&list, "active", "psu watch").unwrap();
    assert_eq!(
        (&alarm["device_id"], &alarm["severity"], &alarm["title"], &alarm["details"]),
        (
            &serde_json::json!("pdu44001"),
            &serde_json::json!("warning"),
            &serde_json::json!("Rule psu watch"),
            &serde_json::json!("power supply 2 failed")
        ),
        "{alarm}"
    );
    let event = sub.wait("t-notify/pdu44001/automation/event", |p, _| p.contains("triggered"), 10).await;
    let event: serde_json::Value = serde_json::from_str(&event).unwrap();
    assert_eq!(
        (event["rule"].as_str(), event["details"].as_str()),
        (Some("psu watch"), Some("alarm raised: power supply 2 failed")),
        "{event}"
    );
    let published = sub.wait("t-notify/pdu44001/automation/status", |p, _| p.contains("\"fired\""), 10).await;
    let published: serde_json::Value = serde_json::from_str(&published).unwrap();
    assert_eq!(
        (&published[0]["name"], &published[0]["outlet"]),
        (&serde_json::json!("psu watch"), &serde_json::json!([]))
    );

    sim.model().set_psu_failed(2, false);
    let list = alarms_until(&served, |l| rule_alarm(l, "past", "psu watch").is_some()).await;
    assert!(rule_alarm(&list, "active", "psu watch").is_none(), "{list}");
    assert!(rule_alarm(&list, "past", "psu watch").unwrap()["cleared_at"].is_f64());
    let event = sub.wait("t-notify/pdu44001/automation/event", |p, _| p.contains("restored"), 10).await;
    assert!(event.contains("alarm cleared: the condition has cleared"), "{event}");

    assert_eq!(states(&status(&served).await), before, "nothing was switched");
    let (_, events) = http(served.addr, "GET", "/api/events?limit=100", None).await;
    let events: serde_json::Value = serde_json::from_str(&events).unwrap();
    let kinds: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(!kinds.contains(&"outlet_command"), "{kinds:?}");
    assert!(kinds.contains(&"alarm_raised") && kinds.contains(&"alarm_cleared"), "{kinds:?}");
}

#[tokio::test]
async fn the_plain_rule_form_makes_a_notify_rule_without_the_ticked_outlets() {
    let started = Started::new(&[]).await;
    let router = started.bare_router();
    let operator = started.browser_cookie("olga", Role::Operator).await;
    let form = EDITOR_FORM.replace("Shed+NAS", "Low+B").replace("action=off", "action=notify");
    let (code, to) = form_post_as(&router, &operator, &form).await;
    assert_eq!((code, to.as_str()), (StatusCode::SEE_OTHER, "/?done=rule&rule=Low+B&what=created#rules"));
    let rule = started.automation.engines()[0].list().remove(0).rule;
    assert_eq!((rule.name.as_str(), rule.action, rule.outlet.list()), ("Low B", RuleAction::Notify, vec![]));

    // The page with the editor open on it offers the action, says why the
    // outlets are not used, and lists the rule as the alarm it raises.
    let (code, page) =
        crate::util::call_with(&router, "GET", "/?editor=edit&rule=Low+B", None, &[("cookie", &operator)]).await;
    assert_eq!(code, StatusCode::OK);
    assert!(page.contains("data-testid=\"rule-form\""), "the editor is open");
    assert!(page.contains(r#"<option value="notify" selected"#), "notify is chosen");
    assert!(page.contains("Notify (raise an alarm)"));
    assert!(page.contains("A notify rule switches no outlet"), "the outlets note");
    assert!(page.contains("Raise an alarm when source A voltage below 95 V for 5 s"), "the list's words");
}

#[tokio::test]
async fn the_api_description_offers_notify_and_needs_outlets_only_as_validation_does() {
    let started = Started::new(&[]).await;
    let (code, doc) = call(&started.router(), "GET", "/api/openapi.json", None).await;
    assert_eq!(code, StatusCode::OK);
    let schemas = &doc["components"]["schemas"];
    let actions: Vec<&str> =
        schemas["RuleAction"]["enum"].as_array().unwrap().iter().filter_map(|a| a.as_str()).collect();
    assert_eq!(actions, ["on", "off", "reboot", "notify"], "{}", schemas["RuleAction"]);
    let required: Vec<&str> =
        schemas["Rule"]["required"].as_array().unwrap().iter().filter_map(|f| f.as_str()).collect();
    assert!(required.contains(&"action") && required.contains(&"threshold"), "{required:?}");
    assert!(!required.contains(&"outlet"), "a notify rule has none: {required:?}");
    assert!(schemas["Rule"]["properties"]["outlet"].is_object(), "{}", schemas["Rule"]);
}
