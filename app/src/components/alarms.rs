//! Alarms on the dashboard: the banner at the top of every page while an
//! alarm waits for someone to acknowledge it, the header's link to the
//! alarm list with how many are active, and the alarm list (`/alarms`):
//! active alarms with who acknowledged them, and past ones with when they
//! cleared.
//!
//! Owns: how alarms are shown and the Acknowledge button (a plain form to
//! `/forms/alarm`, so it works before and without the WASM; once hydrated
//! the page calls `alarm_acknowledge` itself). Does not own the alarms: the
//! bridge raises, clears and records them, and the page's state follows its
//! `alarms` stream event (`crate::live`). The one thing to know: every text
//! here is drawn from the page's state and its `now_ms`, which starts at the
//! server's render time, so the server's HTML and the hydrated page agree
//! ("raised 12:03:04 UTC (2 min ago)" becomes the viewer's own zone after).

use super::{account, Header, When};
use crate::access::Role;
use crate::alarms::{Alarm, AlarmList, Severity};
use crate::api::alarm_acknowledge;
use crate::format;
use crate::model::PduSnapshot;
use crate::state::{Dashboard, View};
use crate::wire::{PduInfo, ALARM_FORM_PATH};
use leptos::prelude::*;

/// Unacknowledged alarms the banner lists; the rest are counted, with the
/// way to the alarm list (a storm of alarms must not push the page away).
const BANNER_LINES: usize = 5;

/// How bad, in the word the reader sees beside the colour.
fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "Critical",
        Severity::Warning => "Warning",
        Severity::Info => "Info",
    }
}

/// A symbol beside the word, the same as the status strip's.
fn severity_symbol(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "✖",
        Severity::Warning => "▲",
        Severity::Info => "●",
    }
}

/// What an alarm is about, as the reader knows it: the PDU's label, else
/// its id; "Bridge" for the bridge's own alarms.
fn subject_name(alarm: &Alarm, pdus: &[PduInfo], snapshots: &[PduSnapshot]) -> String {
    let Some(id) = &alarm.device_id else { return "Bridge".to_owned() };
    pdus.iter()
        .find(|p| &p.device_id == id)
        .map(|p| p.label.clone())
        .or_else(|| snapshots.iter().find(|s| &s.device_id == id).map(|s| s.label.clone()))
        .filter(|label| !label.is_empty())
        .unwrap_or_else(|| id.to_string())
}

/// `1 acknowledged alarm`, `3 acknowledged alarms`.
fn counted(n: usize, what: &str) -> String {
    format!("{n} {what} alarm{}", if n == 1 { "" } else { "s" })
}

/// How long ago a moment (unix seconds) was, for a reader at `now_ms`: `2 min ago`.
fn ago(at_s: f64, now_ms: u64) -> String {
    let seconds = (now_ms as f64 / 1000.0 - at_s).max(0.0);
    format!("{} ago", format::duration(seconds as u64))
}

/// What the banner's live region says: every unacknowledged alarm in a few
/// words (not its details, which change while it is active and would be
/// read out again each time), and how many are acknowledged but active.
fn announcement(list: &AlarmList, name: impl Fn(&Alarm) -> String) -> String {
    let waiting: Vec<String> =
        list.unacknowledged().map(|a| format!("{}: {} ({})", severity_word(a.severity), a.title, name(a))).collect();
    let acknowledged = list.active.len() - waiting.len();
    match (waiting.is_empty(), acknowledged) {
        (true, 0) => String::new(),
        (true, n) => format!("No unacknowledged alarms; {} still active.", counted(n, "acknowledged")),
        (false, 0) => format!("{}: {}.", counted(waiting.len(), "unacknowledged"), waiting.join("; ")),
        (false, n) => format!(
            "{}: {}. {} still active.",
            counted(waiting.len(), "unacknowledged"),
            waiting.join("; "),
            counted(n, "acknowledged")
        ),
    }
}

/// The name of an alarm's subject, drawn from the page's state (reactive).
fn name_in(dash: Dashboard) -> impl Fn(&Alarm) -> String + Copy {
    move |alarm| dash.pdus.with(|pdus| dash.snapshots.with(|snapshots| subject_name(alarm, pdus, snapshots)))
}

/// One alarm of the page's state by id (reactive); `None` once it is gone.
fn alarm_by_id(dash: Dashboard, id: u64) -> Memo<Option<Alarm>> {
    Memo::new(move |_| dash.alarms.with(|l| l.active.iter().chain(&l.past).find(|a| a.id == id).cloned()))
}

/// An acknowledgement under way and what the last one did, for one list of
/// Acknowledge buttons (the banner's, or the alarm list's).
#[derive(Clone, Copy)]
struct Acknowledging {
    /// The alarm being acknowledged (its button says so and waits).
    busy: RwSignal<Option<u64>>,
    /// What the last acknowledgement did: (is an error, words). Starts with
    /// a plain form's outcome, when the address carries one.
    message: RwSignal<Option<(bool, String)>>,
}

impl Acknowledging {
    fn new(dash: Dashboard) -> Self {
        let said = dash.outcome.get_value().filter(|o| o.panel == "alarm").map(|o| (!o.ok, o.text));
        Self { busy: RwSignal::new(None), message: RwSignal::new(said) }
    }

    /// Acknowledge `id`; on success show it at once (the stream brings it
    /// too) and move focus to the first of `focus_next` that exists, since
    /// the button pressed may be gone.
    fn acknowledge(self, dash: Dashboard, id: u64, focus_next: Vec<String>) {
        if self.busy.get_untracked().is_some() {
            return;
        }
        self.busy.set(Some(id));
        self.message.set(None);
        super::outlets::forget_form_url();
        leptos::task::spawn_local(async move {
            let result = alarm_acknowledge(id).await;
            self.busy.set(None);
            match result {
                Ok(alarm) => {
                    let text = format!("Acknowledged: {} ({}).", alarm.title, name_in(dash)(&alarm));
                    dash.alarms.update(|list| {
                        if let Some(slot) = list.active.iter_mut().find(|a| a.id == alarm.id) {
                            *slot = alarm;
                        }
                    });
                    self.message.set(Some((false, text)));
                    focus_first(focus_next);
                }
                Err(e) => self.message.set(Some((true, format!("Not acknowledged: {}", dash.explain(&e))))),
            }
        });
    }

    fn shown(self) -> impl IntoView {
        move || {
            self.message.get().map(|(is_error, text)| {
                view! { <span class=if is_error { "error" } else { "ok" }>{text}</span> }
            })
        }
    }
}

/// Focus the first element matching one of `selectors`, once the page has
/// redrawn.
fn focus_first(selectors: Vec<String>) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        request_animation_frame(move || {
            let Some(document) = window().document() else { return };
            let found = selectors.iter().find_map(|s| {
                document.query_selector(s).ok().flatten().and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
            });
            if let Some(element) = found {
                let _ = element.focus();
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = selectors;
}

/// The Acknowledge button: a form that posts without the WASM, handled by
/// the page once hydrated.
#[component]
fn AckButton(id: u64, label: String, ack: Acknowledging, focus_next: Vec<String>) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let focus_next = StoredValue::new(focus_next);
    let busy = move || ack.busy.get() == Some(id);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        ack.acknowledge(dash, id, focus_next.get_value());
    };
    view! {
        <form class="ack-form" method="post" action=ALARM_FORM_PATH on:submit=submit>
            <input type="hidden" name="id" value=id.to_string()/>
            <input type="hidden" name="back" value=crate::current_path()/>
            <button
                type="submit"
                class="ack"
                aria-label=label
                aria-disabled=move || busy().then_some("true")
                data-testid="acknowledge"
            >
                "Acknowledge"
            </button>
        </form>
    }
}

/// The moment an alarm was raised (or cleared, or acknowledged) and how long
/// ago: `12:03:04 (2 min ago)`.
#[component]
fn Moment(at: f64) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let ms = (at * 1000.0).max(0.0) as u64;
    view! { <When ms/> " (" {move || ago(at, dash.now_ms.get())} ")" }
}

/// The severity in words, with its symbol.
#[component]
fn SeverityTag(severity: Severity) -> impl IntoView {
    view! {
        <span class="sev-tag" data-testid="alarm-severity">
            <span aria-hidden="true">{severity_symbol(severity)} " "</span>
            {severity_word(severity)}
        </span>
    }
}

/// A live region that reads out the alarms waiting to be acknowledged when
/// they change (visually hidden: the banner or the list shows them).
#[component]
pub fn AlarmAnnouncer() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let name = name_in(dash);
    let text = Memo::new(move |_| dash.alarms.with(|list| announcement(list, name)));
    view! { <p class="visually-hidden" role="status" data-testid="alarm-announcement">{move || text.get()}</p> }
}

/// At the top of every page while an alarm is active: each unacknowledged
/// one in words, with the Acknowledge button for those who may; then how
/// many acknowledged ones are still active, with the way to the list.
#[component]
pub fn AlarmBanner() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let ack = Acknowledging::new(dash);
    let waiting = Memo::new(move |_| dash.alarms.with(|l| l.unacknowledged().map(|a| a.id).collect::<Vec<_>>()));
    let acknowledged = Memo::new(move |_| dash.alarms.with(|l| l.active.len()) - waiting.with(Vec::len));
    let worst = Memo::new(move |_| {
        dash.alarms.with(|l| l.unacknowledged().map(|a| a.severity).max().map(Severity::label).unwrap_or("none"))
    });
    let visible = move || !waiting.with(Vec::is_empty) || acknowledged.get() > 0 || ack.message.with(Option::is_some);
    let heading = move || match waiting.with(Vec::len) {
        0 => "No unacknowledged alarms".to_owned(),
        n => counted(n, "unacknowledged"),
    };
    let lines = move || waiting.with(|ids| ids.iter().take(BANNER_LINES).copied().collect::<Vec<_>>());
    let more = move || {
        let n = waiting.with(Vec::len).saturating_sub(BANNER_LINES);
        (n > 0).then(|| {
            view! {
                <p class="alarm-more">
                    <a href=View::ALARMS_PATH>{format!("{} more on the alarm list", counted(n, "unacknowledged"))}</a>
                </p>
            }
        })
    };
    let still_active = move || {
        let n = acknowledged.get();
        (n > 0).then(|| {
            view! {
                <p class="alarm-more" data-testid="alarm-banner-acknowledged">
                    <a href=View::ALARMS_PATH id="alarm-banner-more">
                        {format!("{} still active: see the alarm list", counted(n, "acknowledged"))}
                    </a>
                </p>
            }
        })
    };
    let refusal = StoredValue::new(dash.refusal(Role::Operator, "acknowledge alarms"));
    let may = refusal.with_value(Option::is_none);
    let refusal = move || {
        let why = refusal.get_value()?;
        (!waiting.with(Vec::is_empty)).then(|| view! { <p class="alarm-role" data-testid="alarm-role">{why}</p> })
    };
    view! {
        <AlarmAnnouncer/>
        <Show when=visible>
            <section
                class=move || format!("alarm-banner sev-{}", worst.get())
                aria-labelledby="alarm-banner-title"
                data-testid="alarm-banner"
            >
                <h2 id="alarm-banner-title" class="alarm-banner-title">{heading}</h2>
                <ul class="alarm-lines">
                    <For each=lines key=|id| *id children=move |id| view! { <BannerLine id ack may/> }/>
                </ul>
                {more}
                {refusal}
                <p class="alarm-message" data-testid="alarm-message">{ack.shown()}</p>
                {still_active}
            </section>
        </Show>
    }
}

/// One unacknowledged alarm in the banner. Its details are read from the
/// page's state, so a changing measurement updates the line in place.
#[component]
fn BannerLine(id: u64, ack: Acknowledging, may: bool) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let alarm = alarm_by_id(dash, id);
    let Some(first) = alarm.get_untracked() else { return ().into_any() };
    let name = name_in(dash);
    let title_id = format!("banner-alarm-{id}-title");
    let details = move || alarm.with(|a| a.as_ref().map(|a| a.details.clone())).unwrap_or_default();
    let title = move || alarm.with(|a| a.as_ref().map(|a| a.title.clone())).unwrap_or_default();
    let subject = move || alarm.with(|a| a.as_ref().map(name)).unwrap_or_default();
    let label = format!("Acknowledge {} ({})", first.title, name(&first));
    // The next button, else the line that counts the acknowledged ones.
    let focus_next = vec![
        "[data-testid=alarm-banner] button.ack".to_owned(),
        "#alarm-banner-more".to_owned(),
        "#content".to_owned(),
    ];
    view! {
        <li class=format!("alarm-line sev-{}", first.severity.label()) data-testid="banner-alarm" data-alarm-id=id.to_string()>
            <div class="alarm-text">
                <p class="alarm-head">
                    <SeverityTag severity=first.severity/>
                    <span class="alarm-subject" data-testid="alarm-subject">{subject}</span>
                    <strong class="alarm-title" id=title_id data-testid="alarm-title">{title}</strong>
                </p>
                <p class="alarm-details" data-testid="alarm-details">{details}</p>
                <p class="alarm-when" data-testid="alarm-raised">"raised " <Moment at=first.raised_at/></p>
            </div>
            {may.then(|| view! { <AckButton id label ack focus_next/> })}
        </li>
    }
    .into_any()
}

/// The header's way to the alarm list, from every page, with how many
/// alarms are active (marked when one is not acknowledged yet).
#[component]
pub fn AlarmsLink() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let view = use_context::<View>().unwrap_or(View::Dashboard);
    let current = (view == View::Alarms).then_some("page");
    let counts = Memo::new(move |_| dash.alarms.with(|l| (l.active.len(), l.unacknowledged().count())));
    let class = move || match counts.get() {
        (_, 0) => "alarms-link",
        _ => "alarms-link has-new",
    };
    let count = move || match counts.get() {
        (0, _) => None,
        (n, 0) => Some(format!("{n} active")),
        (n, w) => Some(format!("{n} active, {w} new")),
    };
    view! {
        <a class=class href=View::ALARMS_PATH aria-current=current data-testid="alarms-link">
            "Alarms"
            {move || count().map(|c| view! { " " <span class="alarms-count" data-testid="alarms-count">{c}</span> })}
        </a>
    }
}

/// The alarm list: active alarms (most severe first) with who acknowledged
/// them or the button to, and past ones, newest cleared first.
#[component]
pub fn AlarmsPage() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let ack = Acknowledging::new(dash);
    let active = Memo::new(move |_| dash.alarms.with(|l| l.active.iter().map(|a| a.id).collect::<Vec<_>>()));
    let past = Memo::new(move |_| dash.alarms.with(|l| l.past.clone()));
    let refusal = dash.refusal(Role::Operator, "acknowledge alarms");
    let may = refusal.is_none();
    view! {
        <a class="skip-link" href="#content">"Skip to the alarms"</a>
        <Header/>
        <main id="content" tabindex="-1" class="page alarms-page">
            <account::SessionEnded/>
            <AlarmAnnouncer/>
            <section class="card" id="active-alarms" aria-labelledby="active-alarms-title" data-testid="active-alarms">
                <h2 id="active-alarms-title">"Active alarms"</h2>
                {refusal.map(|why| view! {
                    <p class="role-reason" data-testid="alarm-role"><span aria-hidden="true">"ℹ "</span>{why}</p>
                })}
                <p class="toast" role="status" data-testid="alarm-message">{ack.shown()}</p>
                <Show when=move || active.with(Vec::is_empty)>
                    <p class="muted" data-testid="no-active-alarms">"No active alarms."</p>
                </Show>
                <ul class="alarm-list">
                    <For each=move || active.get() key=|id| *id children=move |id| view! { <ActiveAlarm id ack may/> }/>
                </ul>
            </section>
            <section class="card" id="past-alarms" aria-labelledby="past-alarms-title" data-testid="past-alarms">
                <h2 id="past-alarms-title">"Past alarms"</h2>
                <p class="muted small">"The most recent ones, newest cleared first; older ones are in the event history."</p>
                <Show when=move || past.with(Vec::is_empty)>
                    <p class="muted" data-testid="no-past-alarms">"No past alarms."</p>
                </Show>
                <ul class="alarm-list">
                    <For each=move || past.get() key=|a| a.id children=move |alarm| view! { <PastAlarm alarm/> }/>
                </ul>
            </section>
        </main>
    }
}

/// Who acknowledged an alarm and when, or that nobody has.
#[component]
fn Acknowledged(alarm: Memo<Option<Alarm>>) -> impl IntoView {
    move || match alarm.with(|a| a.as_ref().and_then(|a| a.acknowledged.clone())) {
        Some(ack) => view! { "by " {ack.by} " at " <Moment at=ack.at/> }.into_any(),
        None => "not acknowledged".into_any(),
    }
}

/// An active alarm on the list, its acknowledgement updated in place.
#[component]
fn ActiveAlarm(id: u64, ack: Acknowledging, may: bool) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let alarm = alarm_by_id(dash, id);
    let Some(first) = alarm.get_untracked() else { return ().into_any() };
    let name = name_in(dash);
    let details = move || alarm.with(|a| a.as_ref().map(|a| a.details.clone())).unwrap_or_default();
    let subject = move || alarm.with(|a| a.as_ref().map(name)).unwrap_or_default();
    let acknowledged = move || alarm.with(|a| a.as_ref().is_some_and(|a| a.acknowledged.is_some()));
    let class = move || {
        let state = if acknowledged() { " acknowledged" } else { "" };
        format!("alarm-item sev-{}{state}", first.severity.label())
    };
    let label = format!("Acknowledge {} ({})", first.title, name(&first));
    // Focus stays on this alarm, which now says who acknowledged it.
    let item_id = format!("alarm-{id}");
    let focus_next = vec![format!("#{item_id}")];
    view! {
        <li class=class id=item_id tabindex="-1" data-testid="alarm" data-alarm-id=id.to_string()>
            <p class="alarm-head">
                <SeverityTag severity=first.severity/>
                <span class="alarm-subject" data-testid="alarm-subject">{subject}</span>
                <strong class="alarm-title" data-testid="alarm-title">{first.title.clone()}</strong>
            </p>
            <p class="alarm-details" data-testid="alarm-details">{details}</p>
            <dl class="alarm-facts">
                <dt>"Raised"</dt>
                <dd data-testid="alarm-raised"><Moment at=first.raised_at/></dd>
                <dt>"Acknowledged"</dt>
                <dd data-testid="alarm-acknowledged">
                    <Show
                        when=move || !acknowledged() && may
                        fallback=move || view! { <Acknowledged alarm/> }
                    >
                        "not yet "
                        <AckButton id label=label.clone() ack focus_next=focus_next.clone()/>
                    </Show>
                </dd>
            </dl>
        </li>
    }
    .into_any()
}

/// A cleared alarm: what it was, when it was raised and cleared, and who
/// acknowledged it, if anyone did.
#[component]
fn PastAlarm(alarm: Alarm) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let subject = name_in(dash)(&alarm);
    let cleared = alarm.cleared_at.map(|at| view! { <Moment at/> });
    let acknowledged = match alarm.acknowledged.clone() {
        Some(ack) => view! { "by " {ack.by} " at " <Moment at=ack.at/> }.into_any(),
        None => "not acknowledged".into_any(),
    };
    view! {
        <li class=format!("alarm-item past sev-{}", alarm.severity.label()) data-testid="past-alarm" data-alarm-id=alarm.id.to_string()>
            <p class="alarm-head">
                <SeverityTag severity=alarm.severity/>
                <span class="alarm-subject" data-testid="alarm-subject">{subject}</span>
                <strong class="alarm-title" data-testid="alarm-title">{alarm.title.clone()}</strong>
            </p>
            <p class="alarm-details" data-testid="alarm-details">{alarm.details.clone()}</p>
            <dl class="alarm-facts">
                <dt>"Raised"</dt>
                <dd data-testid="alarm-raised"><Moment at=alarm.raised_at/></dd>
                <dt>"Cleared"</dt>
                <dd data-testid="alarm-cleared">{cleared}</dd>
                <dt>"Acknowledged"</dt>
                <dd data-testid="alarm-acknowledged">{acknowledged}</dd>
            </dl>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarms::{Acknowledgement, AlarmKind};
    use crate::model::DeviceId;

    fn alarm(id: u64, device: Option<&str>, severity: Severity, title: &str) -> Alarm {
        Alarm {
            id,
            device_id: device.map(|d| DeviceId::parse(d).unwrap()),
            kind: AlarmKind::PduUnreachable,
            subject: None,
            rule: None,
            severity,
            title: title.into(),
            details: "changes every poll".into(),
            raised_at: 1_000.0,
            acknowledged: None,
            cleared_at: None,
        }
    }

    fn info(id: &str, label: &str) -> PduInfo {
        PduInfo {
            device_id: DeviceId::parse(id).unwrap(),
            label: label.into(),
            address: None,
            simulated: true,
            last_error: None,
            protected: vec![],
            rack: None,
            feed: None,
            disabled: false,
        }
    }

    #[test]
    fn an_alarm_names_its_pdu_by_label_else_id_and_the_bridge_by_name() {
        let pdus = [info("rack-a", "Main rack"), info("rack-b", "")];
        assert_eq!(subject_name(&alarm(1, Some("rack-a"), Severity::Info, "x"), &pdus, &[]), "Main rack");
        assert_eq!(subject_name(&alarm(1, Some("rack-b"), Severity::Info, "x"), &pdus, &[]), "rack-b");
        assert_eq!(subject_name(&alarm(1, Some("gone"), Severity::Info, "x"), &pdus, &[]), "gone");
        assert_eq!(subject_name(&alarm(1, None, Severity::Critical, "x"), &pdus, &[]), "Bridge");
    }

    #[test]
    fn ages_and_counts_read_as_words() {
        assert_eq!(ago(1_000.0, 1_000_000 + 125_000), "2 min ago");
        assert_eq!(ago(1_000.0, 1_000_000 + 4_000), "4 s ago");
        assert_eq!(ago(1_000.0, 999_000), "0 s ago", "a browser clock behind the bridge's is not negative");
        assert_eq!(counted(1, "acknowledged"), "1 acknowledged alarm");
        assert_eq!(counted(3, "unacknowledged"), "3 unacknowledged alarms");
        assert_eq!(severity_word(Severity::Critical), "Critical");
    }

    #[test]
    fn the_announcement_names_what_waits_and_not_its_changing_details() {
        let name = |a: &Alarm| subject_name(a, &[info("lab", "Lab")], &[]);
        let mut list = AlarmList::default();
        assert_eq!(announcement(&list, name), "");
        list.active.push(alarm(1, Some("lab"), Severity::Critical, "PDU unreachable"));
        list.active.push(alarm(2, None, Severity::Warning, "History writes failing"));
        assert_eq!(
            announcement(&list, name),
            "2 unacknowledged alarms: Critical: PDU unreachable (Lab); Warning: History writes failing (Bridge)."
        );
        list.active[1].acknowledged = Some(Acknowledgement { by: "user ann".into(), at: 1_010.0 });
        assert_eq!(
            announcement(&list, name),
            "1 unacknowledged alarm: Critical: PDU unreachable (Lab). 1 acknowledged alarm still active."
        );
        list.active[0].acknowledged = Some(Acknowledgement { by: "user ann".into(), at: 1_020.0 });
        assert_eq!(announcement(&list, name), "No unacknowledged alarms; 2 acknowledged alarms still active.");
    }
}
