//! The dashboard's forms, for a page the WASM has not hydrated (yet, or at
//! all): outlet commands, rule enable / disable / delete, the rule
//! editor's save (`op=save`) and acknowledging an alarm, posted as plain
//! HTML forms to `/forms/{outlet,rule,alarm}`. Each is carried out through the one
//! service layer (the same checks as the JSON API and the server functions)
//! and answered with a 303 back to the dashboard that says what happened, so
//! a reload never posts twice.
//!
//! A command that cuts power, or a deletion, is never done on the first post:
//! the answer is the dashboard with the confirmation open, whose button posts
//! again with `confirmed=1`. Same-origin only: a form posted from another
//! site is refused (by `Sec-Fetch-Site`, else `Origin` against `Host`).

use super::auth::Who;
use super::AppState;
use crate::bridge::Origin;
use app::access::Caller;
use app::model::ApiError;
use app::model::{DeviceId, OutletAction};
use app::rules::RuleDraft;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

/// The fields the outlet and rule forms carry; the rule editor's own
/// fields are read by `app::rules::RuleDraft` from all the pairs.
#[derive(Default)]
pub struct FormBody {
    device_id: Option<String>,
    /// The outlet's number (`o`, as `outlet` in the page's URL is the chart's).
    o: Option<String>,
    action: Option<String>,
    rule: Option<String>,
    op: Option<String>,
    confirmed: Option<String>,
    /// `1`: switch a protected outlet off (admins only).
    confirm_protected: Option<String>,
    original: Option<String>,
    /// The alarm to acknowledge.
    id: Option<String>,
    /// The page an alarm form was on (the banner is on every page).
    back: Option<String>,
    /// Every field as posted (the editor's outlets and days come once per box).
    pairs: Vec<(String, String)>,
}

impl FormBody {
    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        Self {
            device_id: get("device_id"),
            o: get("o"),
            action: get("action"),
            rule: get("rule"),
            op: get("op"),
            confirmed: get("confirmed"),
            confirm_protected: get("confirm_protected"),
            original: get("original").filter(|o| !o.is_empty()),
            id: get("id"),
            back: get("back"),
            pairs,
        }
    }
}

/// Whether the post comes from a page of this bridge.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return site == "same-origin";
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(_, h)| h == host),
        (Some(_), None) => false,
        // Not a browser: nothing to forge.
        (None, _) => true,
    }
}

/// Back to the page the form was on: the PDU's own page when the bridge
/// has several, else the dashboard's address.
fn back(page: &str, query: String, anchor: &str) -> Response {
    Redirect::to(&format!("{page}?{query}#{anchor}")).into_response()
}

/// The page a form about `device_id` came from.
fn page_of(state: &AppState, device_id: Option<&str>) -> String {
    match device_id.and_then(|d| DeviceId::parse(d).ok()) {
        Some(id) if state.services.bridge.devices().len() > 1 => app::state::View::pdu_path(&id),
        _ => "/".to_owned(),
    }
}

/// `pairs` as a query string, each value encoded (a rule name may hold
/// spaces; nothing a user typed goes into the address unencoded).
fn query(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

pub async fn post(
    State(state): State<AppState>,
    Who(caller): Who,
    Path(what): Path<String>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let body = FormBody::from_pairs(pairs);
    let page = match what.as_str() {
        "alarm" => alarm_page(body.back.as_deref()),
        _ => page_of(&state, body.device_id.as_deref()),
    };
    match what.as_str() {
        _ if !same_origin(&headers) => {
            let panel = match what.as_str() {
                "rule" => "rule",
                "alarm" => "alarm",
                _ => "outlet",
            };
            back(&page, format!("failed={panel}&code=403"), "content")
        }
        "outlet" => outlet(&state, &caller, body, &page).await,
        "rule" => rule(&state, &caller, body, &page).await,
        "alarm" => alarm(&state, &caller, &body, &page).await,
        _ => Redirect::to("/").into_response(),
    }
}

async fn outlet(state: &AppState, caller: &Caller, body: FormBody, page: &str) -> Response {
    let device = body.device_id.as_deref().filter(|d| !d.is_empty()).map(DeviceId::parse);
    let outlet = body.o.as_deref().and_then(|o| o.parse::<u32>().ok()).filter(|n| *n > 0);
    let action = body.action.as_deref().and_then(|a| a.parse::<OutletAction>().ok());
    let (Some(n), Some(action), None | Some(Ok(_))) = (outlet, action, &device) else {
        return back(page, "failed=outlet&code=400".into(), "outlets");
    };
    let device = device.and_then(Result::ok);
    let device_q = device.as_ref().map(|d| format!("&device_id={d}")).unwrap_or_default();
    let what = format!("o={n}&action={action}{device_q}");
    if body.confirmed.as_deref() != Some("1") {
        return back(page, format!("confirm=outlet&{what}"), &format!("outlet-{n}"));
    }
    let device_id = device.as_ref().map(DeviceId::as_str);
    let protected = body.confirm_protected.as_deref() == Some("1");
    match state.services.outlet_command(caller, Origin::Dashboard, device_id, n, action, protected).await {
        Ok(r) => back(
            page,
            format!("done=outlet&{what}&state={}&pending={}", r.state.label(), u8::from(r.pending)),
            &format!("outlet-{n}"),
        ),
        Err(e) => back(page, format!("failed=outlet&{what}&code={}", e.status_code()), &format!("outlet-{n}")),
    }
}

async fn rule(state: &AppState, caller: &Caller, body: FormBody, page: &str) -> Response {
    let device = body.device_id.as_deref().filter(|d| !d.is_empty());
    if body.op.as_deref() == Some("save") {
        return save(state, caller, device, &body, page).await;
    }
    // Only a valid rule name goes back into the address, encoded.
    let Some(name) = body.rule.filter(|r| app::rules::valid_name(r)) else {
        return back(page, "failed=rule&code=400".into(), "rules");
    };
    let services = &state.services;
    let done = |what: &str| back(page, query(&[("done", "rule"), ("rule", &name), ("what", what)]), "rules");
    let failed =
        |code: u16| back(page, query(&[("failed", "rule"), ("rule", &name), ("code", &code.to_string())]), "rules");
    match body.op.as_deref() {
        Some(op @ ("enable" | "disable")) => {
            match services.set_rule_enabled(caller, device, &name, op == "enable").await {
                Ok(_) => done(if op == "enable" { "enabled" } else { "disabled" }),
                Err(e) => failed(e.status_code()),
            }
        }
        Some("delete") if body.confirmed.as_deref() == Some("1") => {
            match services.delete_rule(caller, device, &name).await {
                Ok(()) => done("deleted"),
                Err(e) => failed(e.status_code()),
            }
        }
        Some("delete") => back(page, query(&[("confirm", "rule-delete"), ("rule", &name)]), "rules"),
        _ => failed(400),
    }
}

/// Where an alarm form goes back to: the page it was on (a path on this
/// site, without its query), else the alarm list.
fn alarm_page(posted: Option<&str>) -> String {
    match posted {
        Some(p) if !p.is_empty() => {
            let path = super::auth::safe_next(Some(p));
            path.split(['?', '#']).next().unwrap_or("/").to_owned()
        }
        _ => app::state::View::ALARMS_PATH.to_owned(),
    }
}

/// Acknowledge one alarm: the same service call (role, audit line) as the
/// API's; the answer goes back to the top of the page (`#content`), where
/// the banner or the alarm list says what happened.
async fn alarm(state: &AppState, caller: &Caller, body: &FormBody, page: &str) -> Response {
    let Some(id) = body.id.as_deref().and_then(|i| i.parse::<u64>().ok()) else {
        return back(page, "failed=alarm&code=400".into(), "content");
    };
    match state.services.acknowledge_alarm(caller, id).await {
        Ok(_) => back(page, format!("done=alarm&id={id}"), "content"),
        Err(e) => back(page, format!("failed=alarm&id={id}&code={}", e.status_code()), "content"),
    }
}

/// The rule editor's post: the same checks as the editor in the browser
/// (`RuleDraft::to_rule`), then the service's (role, the PDU's outlets,
/// names used twice). Refused, the answer is the editor again with what was
/// typed, the field at fault named in the address and on the page.
async fn save(state: &AppState, caller: &Caller, device: Option<&str>, body: &FormBody, page: &str) -> Response {
    let draft = RuleDraft::from_pairs(&body.pairs);
    let original = body.original.as_deref();
    let result = match draft.to_rule(None) {
        Ok(rule) => state.services.save_rule(caller, device, original, rule).await,
        Err(e) => Err(ApiError::Invalid { field: e.field, message: e.message }),
    };
    let name = draft.name.trim();
    let field = match &result {
        Err(ApiError::Invalid { field, .. } | ApiError::BadRequest { field: Some(field), .. }) => Some(field.clone()),
        Err(ApiError::Conflict(_)) => Some("name".to_owned()),
        _ => None,
    };
    match (result, field) {
        (Ok(status), _) => {
            let what = if original.is_some() { "updated" } else { "created" };
            back(page, query(&[("done", "rule"), ("rule", &status.rule.name), ("what", what)]), "rules")
        }
        // Something to type again: the editor, as it was, says what.
        (Err(e), Some(field)) => {
            let code = e.status_code().to_string();
            let mut pairs = vec![("editor", "check"), ("failed", "rule"), ("code", &code), ("field", &field)];
            if let Some(d) = device {
                pairs.push(("device_id", d));
            }
            let fields = draft.to_pairs();
            pairs.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
            back(page, query(&pairs), "rules")
        }
        // A refused role, an unknown PDU: nothing to type again.
        (Err(e), None) => {
            let code = e.status_code().to_string();
            let mut pairs = vec![("failed", "rule"), ("code", &code)];
            if app::rules::valid_name(name) {
                pairs.push(("rule", name));
            }
            back(page, query(&pairs), "rules")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_posts_from_this_bridge_are_taken() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site"), ("origin", "http://a:1"), ("host", "a:1")])));
        assert!(same_origin(&headers(&[("origin", "http://127.0.0.1:8080"), ("host", "127.0.0.1:8080")])));
        assert!(!same_origin(&headers(&[("origin", "http://evil.example"), ("host", "127.0.0.1:8080")])));
        assert!(same_origin(&headers(&[])), "curl and scripts carry no Origin");
    }

    #[test]
    fn an_alarm_form_goes_back_only_to_a_page_of_this_site() {
        assert_eq!(alarm_page(Some("/fleet")), "/fleet");
        assert_eq!(alarm_page(Some("/pdu/lab/settings?done=outlet#x")), "/pdu/lab/settings");
        assert_eq!(alarm_page(Some("//evil.example/x")), "/");
        assert_eq!(alarm_page(Some("https://evil.example/")), "/");
        assert_eq!(alarm_page(None), "/alarms");
    }

    #[test]
    fn a_rule_name_with_spaces_is_encoded_in_the_redirect() {
        assert_eq!(query(&[("done", "rule"), ("rule", "Night shed 2")]), "done=rule&rule=Night+shed+2");
    }
}
