//! A PDU's settings page (`/pdu/{id}/settings`; `/settings` shows the
//! first PDU, as `/` does): the device's name, location and contact, the
//! transfer switch's configuration, what the outlets do when power comes
//! back, each outlet's name on the PDU and its delays, the load thresholds
//! of banks and phases, and every outlet switched at once.
//!
//! Owns: how each setting reads in words ("at once", "as before",
//! "Source A"), the admins' forms (a section's Edit turns its values into
//! fields, checked as they are typed with `SettingChange::validate` against
//! the settings as loaded, the same check the server makes before any SET)
//! and the "Every outlet" box. Does not own the settings (read by the
//! server every few minutes and after each change; a Save shows what the
//! PDU read back, never what was asked) or who may change them: the page
//! leaves the forms out for all but admins and the switching for viewers,
//! and the server refuses them regardless. The server renders the page
//! with the values (they come with the page's first state); the browser
//! asks for them again every minute.

use super::dialog::ConfirmDialog;
use super::{account, every_minute, Header};
use crate::access::Role;
use crate::api::{all_outlets, load_settings, settings_change};
use crate::format;
use crate::model::ApiError;
use crate::settings::{
    AllOutletsAction, AllOutletsResult, AppliedChange, LoadThresholds, PduSettings, SettingChange, PDU_NAME_MAX,
    PDU_TEXT_MAX,
};
use crate::state::{AddressedPdu, Dashboard};
use leptos::prelude::*;
use std::collections::BTreeMap;

/// "—" for a setting the PDU does not have.
const ABSENT: &str = "—";

pub fn source_words(v: i64) -> String {
    match v {
        1 => "Source A".into(),
        2 => "Source B".into(),
        3 => "none".into(),
        v => format!("unknown ({v})"),
    }
}

pub fn sensitivity_words(v: i64) -> String {
    match v {
        1 => "high".into(),
        2 => "medium".into(),
        3 => "low".into(),
        v => format!("unknown ({v})"),
    }
}

pub fn range_words(v: i64) -> String {
    match v {
        1 => "wide".into(),
        2 => "medium".into(),
        3 => "narrow".into(),
        v => format!("unknown ({v})"),
    }
}

pub fn coldstart_delay_words(v: i64) -> String {
    match v {
        -1 => "never".into(),
        0 => "at once".into(),
        v => format!("{v} s"),
    }
}

pub fn coldstart_state_words(v: i64) -> String {
    match v {
        1 => "all outlets on".into(),
        2 => "as before".into(),
        v => format!("unknown ({v})"),
    }
}

/// An outlet's delay: -1 is "never".
pub fn delay_words(v: i64) -> String {
    if v < 0 {
        "never".into()
    } else {
        format!("{v} s")
    }
}

fn amps(v: i64) -> String {
    format!("{v} A")
}

fn shown(v: Option<i64>, words: fn(i64) -> String) -> String {
    v.map(words).unwrap_or_else(|| ABSENT.to_owned())
}

fn text_or_absent(v: &Option<String>) -> String {
    v.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| ABSENT.to_owned())
}

/// A setting's name as it reads in a sentence: `outlet.3.on_delay` →
/// "outlet 3 on delay".
pub fn setting_words(field: &str) -> String {
    field.replace(['.', '_'], " ")
}

/// How a field is typed.
#[derive(Clone, Debug, PartialEq)]
enum Kind {
    /// Printable ASCII up to this many characters.
    Text,
    /// A whole number (seconds or amps).
    Number,
    /// One of these values, in words.
    Choice(Vec<(i64, String)>),
}

/// One field of a section's form.
#[derive(Clone, Debug, PartialEq)]
struct Input {
    /// The setting it changes (`SettingChange::field`), or for a
    /// threshold `bank.1.low`: also the draft's key and the element id.
    key: String,
    label: String,
    /// The value as loaded, as text: a field still holding it is not sent.
    now: String,
    kind: Kind,
    hint: Option<String>,
}

/// Fields shown together; a row of thresholds is one change.
#[derive(Clone, Debug, PartialEq)]
struct Group {
    legend: Option<String>,
    inputs: Vec<Input>,
    /// `bank.1` / `phase.2`: the three fields make one change, and its
    /// error is said once, under them.
    row: Option<String>,
}

/// What a form would send, and what is wrong, by field key (or row).
#[derive(Clone, Debug, Default, PartialEq)]
struct Plan {
    changes: Vec<SettingChange>,
    errors: BTreeMap<String, String>,
}

fn error_words(e: ApiError) -> String {
    match e {
        ApiError::Invalid { message, .. } => message,
        other => other.to_string(),
    }
}

fn whole(text: &str) -> Result<i64, String> {
    text.trim().parse::<i64>().map_err(|_| "Type a whole number.".to_owned())
}

/// The change a field asks for, from its key and the text typed.
fn change_for(key: &str, text: &str) -> Result<SettingChange, String> {
    use SettingChange::*;
    let value = text.trim().to_owned();
    let parts: Vec<&str> = key.split('.').collect();
    Ok(match parts.as_slice() {
        ["device_name"] => DeviceName { value },
        ["location"] => Location { value },
        ["contact"] => Contact { value },
        ["preferred_source"] => PreferredSource { value: whole(text)? },
        ["voltage_sensitivity"] => VoltageSensitivity { value: whole(text)? },
        ["transfer_range"] => TransferRange { value: whole(text)? },
        ["coldstart_delay"] => ColdstartDelay { value: whole(text)? },
        ["coldstart_state"] => ColdstartState { value: whole(text)? },
        ["outlet", n, what] => {
            let outlet = n.parse().map_err(|_| format!("no outlet {n}"))?;
            match *what {
                "name" => OutletName { outlet, value },
                "on_delay" => OutletOnDelay { outlet, value: whole(text)? },
                "off_delay" => OutletOffDelay { outlet, value: whole(text)? },
                "reboot_duration" => OutletRebootDuration { outlet, value: whole(text)? },
                _ => return Err(format!("unknown setting {key}")),
            }
        }
        _ => return Err(format!("unknown setting {key}")),
    })
}

/// A row of thresholds (`bank.1`, `phase.2`) from its three fields.
fn thresholds_for(row: &str, low: i64, near_overload: i64, overload: i64) -> Result<SettingChange, String> {
    let (what, index) = row.split_once('.').ok_or_else(|| format!("unknown row {row}"))?;
    let index = index.parse().map_err(|_| format!("unknown row {row}"))?;
    match what {
        "bank" => Ok(SettingChange::BankThresholds { bank: index, low, near_overload, overload }),
        "phase" => Ok(SettingChange::PhaseThresholds { phase: index, low, near_overload, overload }),
        _ => Err(format!("unknown row {row}")),
    }
}

/// What the form sends: only fields that differ from the values loaded,
/// each checked against `settings` as the server will check it.
fn plan(groups: &[Group], draft: &BTreeMap<String, String>, settings: &PduSettings) -> Plan {
    let mut out = Plan::default();
    let typed = |i: &Input| draft.get(&i.key).cloned().unwrap_or_else(|| i.now.clone());
    let check = |key: &str, change: SettingChange, out: &mut Plan| match change.validate(settings) {
        Ok(()) => out.changes.push(change),
        Err(e) => {
            out.errors.insert(key.to_owned(), error_words(e));
        }
    };
    for group in groups {
        let changed: Vec<&Input> = group.inputs.iter().filter(|i| typed(i).trim() != i.now.trim()).collect();
        if changed.is_empty() {
            continue;
        }
        match &group.row {
            Some(row) => {
                let mut values = Vec::new();
                for input in &group.inputs {
                    match whole(&typed(input)) {
                        Ok(v) => values.push(v),
                        Err(why) => {
                            out.errors.insert(input.key.clone(), why);
                        }
                    }
                }
                if let [low, near, over] = values[..] {
                    match thresholds_for(row, low, near, over) {
                        Ok(change) => check(row, change, &mut out),
                        Err(why) => {
                            out.errors.insert(row.clone(), why);
                        }
                    }
                }
            }
            None => {
                for input in changed {
                    match change_for(&input.key, &typed(input)) {
                        Ok(change) => check(&input.key, change, &mut out),
                        Err(why) => {
                            out.errors.insert(input.key.clone(), why);
                        }
                    }
                }
            }
        }
    }
    out
}

fn number(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn choices(options: &[(i64, &str)]) -> Kind {
    Kind::Choice(options.iter().map(|(v, w)| (*v, (*w).to_owned())).collect())
}

fn device_groups(s: &PduSettings) -> Vec<Group> {
    let text = |key: &str, label: &str, now: &Option<String>, max: usize| Input {
        key: key.into(),
        label: label.into(),
        now: now.clone().unwrap_or_default(),
        kind: Kind::Text,
        hint: Some(format!("Up to {max} characters of plain ASCII.")),
    };
    vec![Group {
        legend: None,
        inputs: vec![
            text("device_name", "Name", &s.device_name, PDU_NAME_MAX),
            text("location", "Location", &s.location, PDU_TEXT_MAX),
            text("contact", "Contact", &s.contact, PDU_TEXT_MAX),
        ],
        row: None,
    }]
}

fn ats_groups(s: &PduSettings) -> Vec<Group> {
    let Some(source) = &s.source else { return Vec::new() };
    let mut inputs = vec![Input {
        key: "preferred_source".into(),
        label: "Preferred source".into(),
        now: number(source.preferred),
        kind: choices(&[(1, "Source A"), (2, "Source B")]),
        hint: None,
    }];
    if source.voltage_sensitivity.is_some() {
        inputs.push(Input {
            key: "voltage_sensitivity".into(),
            label: "Voltage sensitivity".into(),
            now: number(source.voltage_sensitivity),
            kind: choices(&[(1, "high"), (2, "medium"), (3, "low")]),
            hint: Some("High: transfers at the smallest disturbance.".into()),
        });
    }
    if source.transfer_range.is_some() {
        inputs.push(Input {
            key: "transfer_range".into(),
            label: "Transfer range".into(),
            now: number(source.transfer_range),
            kind: choices(&[(1, "wide"), (2, "medium"), (3, "narrow")]),
            hint: Some("Narrow: transfers at a smaller voltage deviation.".into()),
        });
    }
    vec![Group { legend: None, inputs, row: None }]
}

fn power_up_groups(s: &PduSettings) -> Vec<Group> {
    let mut inputs = Vec::new();
    if s.coldstart_delay.is_some() {
        inputs.push(Input {
            key: "coldstart_delay".into(),
            label: "Coldstart delay (s)".into(),
            now: number(s.coldstart_delay),
            kind: Kind::Number,
            hint: Some("-1: never; 0: at once; 1 to 300 seconds.".into()),
        });
    }
    if s.coldstart_state.is_some() {
        inputs.push(Input {
            key: "coldstart_state".into(),
            label: "Outlets after a power loss".into(),
            now: number(s.coldstart_state),
            kind: choices(&[(1, "all outlets on"), (2, "as before")]),
            hint: None,
        });
    }
    vec![Group { legend: None, inputs, row: None }]
}

fn outlet_groups(s: &PduSettings) -> Vec<Group> {
    s.outlets
        .iter()
        .map(|o| {
            let n = o.number;
            let seconds = |what: &str, label: &str, now: Option<i64>, hint: &str| Input {
                key: format!("outlet.{n}.{what}"),
                label: label.into(),
                now: number(now),
                kind: Kind::Number,
                hint: Some(hint.into()),
            };
            Group {
                legend: Some(format!("Outlet {n}")),
                inputs: vec![
                    Input {
                        key: format!("outlet.{n}.name"),
                        label: "Name on the PDU".into(),
                        now: o.name.clone().unwrap_or_default(),
                        kind: Kind::Text,
                        hint: None,
                    },
                    seconds("on_delay", "On delay (s)", o.on_delay, "-1: never; up to 7200."),
                    seconds("off_delay", "Off delay (s)", o.off_delay, "-1: never; up to 7200."),
                    seconds("reboot_duration", "Reboot duration (s)", o.reboot_duration, "5 to 60."),
                ],
                row: None,
            }
        })
        .collect()
}

fn threshold_groups(s: &PduSettings) -> Vec<Group> {
    let rows = |what: &str, title: &str, rows: &[LoadThresholds]| -> Vec<Group> {
        rows.iter()
            .map(|r| {
                let amps = |field: &str, label: &str, now: Option<i64>| Input {
                    key: format!("{what}.{}.{field}", r.index),
                    label: label.into(),
                    now: number(now),
                    kind: Kind::Number,
                    hint: None,
                };
                let limit = r.max.map(|m| format!(" (limit {m} A)")).unwrap_or_default();
                Group {
                    legend: Some(format!("{title} {}{limit}", r.index)),
                    inputs: vec![
                        amps("low", "Low (A)", r.low),
                        amps("near_overload", "Near overload (A)", r.near_overload),
                        amps("overload", "Overload (A)", r.overload),
                    ],
                    row: Some(format!("{what}.{}", r.index)),
                }
            })
            .collect()
    };
    let mut all = rows("bank", "Bank", &s.banks);
    all.extend(rows("phase", "Phase", &s.phases));
    all
}

/// The page's copy of the settings, and the PDU they belong to.
#[derive(Clone, Copy)]
struct Loaded {
    settings: RwSignal<Option<PduSettings>>,
    /// Why they could not be had, if so.
    error: RwSignal<Option<String>>,
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let addressed = use_context::<AddressedPdu>().unwrap_or_default();
    let unknown = Memo::new(move |_| dash.unknown(&addressed));
    let (settings, error) = match dash.settings.get_value() {
        Some(Ok(s)) => (Some(s), None),
        Some(Err(e)) => (None, Some(e.to_string())),
        None => (None, None),
    };
    let loaded = Loaded { settings: RwSignal::new(settings), error: RwSignal::new(error) };
    provide_context(loaded);
    // Read again every minute (the bridge reads the PDU every five).
    let tick = every_minute();
    Effect::new(move |seen: Option<()>| {
        tick.track();
        if seen.is_none() {
            return;
        }
        let Some(id) = dash.current_id.get_untracked() else { return };
        leptos::task::spawn_local(async move {
            match load_settings(id.to_string()).await {
                Ok(s) => {
                    loaded.settings.set(Some(s));
                    loaded.error.set(None);
                }
                Err(e) => loaded.error.set(Some(dash.explain(&e))),
            }
        });
    });
    let has = move || loaded.settings.with(Option::is_some);
    view! {
        <a class="skip-link" href="#content">"Skip to the settings"</a>
        <Header/>
        <main id="content" tabindex="-1" class="page settings-page">
            <account::SessionEnded/>
            <super::alarms::AlarmBanner/>
            <Show
                when=move || unknown.with(Option::is_none)
                fallback=move || view! { <super::NoSuchPdu asked=unknown.get().unwrap_or_default()/> }
            >
                <ReadNote/>
                <Show when=has>
                    <DeviceSection/>
                    <AtsSection/>
                    <PowerUpSection/>
                    <OutletSection/>
                    <ThresholdSection/>
                </Show>
                <EveryOutlet/>
            </Show>
        </main>
    }
}

/// When the settings were read, what went wrong, and who may change them.
#[component]
fn ReadNote() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let loaded = expect_context::<Loaded>();
    let read = move || {
        let now = dash.now_ms.get();
        loaded.settings.with(|s| match s.as_ref().and_then(|s| s.read_at_ms) {
            Some(at) => {
                let ago = now.saturating_sub(at.max(0) as u64) as f64 / 1000.0;
                format!("Read from the PDU {} ago.", format::age(ago))
            }
            None if s.is_some() => {
                "Not read from the PDU yet: the bridge reads them at start and every 5 minutes.".to_owned()
            }
            None => String::new(),
        })
    };
    let read_error = move || loaded.settings.with(|s| s.as_ref().and_then(|s| s.error.clone()));
    let refusal = dash.refusal(Role::Admin, "change settings");
    view! {
        <section class="card settings-intro" aria-labelledby="settings-title">
            <h2 id="settings-title">"Settings of the PDU"</h2>
            <p data-testid="settings-read">{read}</p>
            {move || read_error().map(|e| view! {
                <p class="banner warn" data-testid="settings-read-error">
                    <span aria-hidden="true">"▲ "</span>
                    "The last read failed: " {e} ". The values below are older."
                </p>
            })}
            {move || loaded.error.get().map(|e| view! {
                <p class="error-note" data-testid="settings-error">"Settings could not be loaded: " {e}</p>
            })}
            {refusal.map(|why| view! {
                <p class="role-reason" data-testid="settings-role">
                    <span aria-hidden="true">"ℹ "</span>
                    {why} " Admins change these settings."
                </p>
            })}
        </section>
    }
}

/// One section: its values in words, and for admins Edit, a form with the
/// values as fields, and what the last Save did.
#[component]
fn Section(
    id: &'static str,
    title: &'static str,
    /// The section's fields, from the settings as loaded.
    groups: fn(&PduSettings) -> Vec<Group>,
    /// The values in words.
    children: ChildrenFn,
) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let loaded = expect_context::<Loaded>();
    let admin = dash.may(Role::Admin);
    // The fields while editing, as they were when Edit was pressed.
    let editing = RwSignal::new(None::<Vec<Group>>);
    let draft = RwSignal::new(BTreeMap::<String, String>::new());
    let saving = RwSignal::new(false);
    let outcome = RwSignal::new(None::<Result<Vec<AppliedChange>, String>>);
    let edit_ref = NodeRef::<leptos::html::Button>::new();
    let refocus = RwSignal::new(false);
    Effect::new(move |_| {
        if editing.with(Option::is_none) && refocus.get() {
            if let Some(button) = edit_ref.get() {
                let _ = button.focus();
                refocus.set(false);
            }
        }
    });
    let current_plan = Memo::new(move |_| {
        editing.with(|g| {
            g.as_ref().map(|groups| {
                draft.with(|d| loaded.settings.with(|s| s.as_ref().map(|s| plan(groups, d, s)).unwrap_or_default()))
            })
        })
    });
    let error_of = move |key: &str| current_plan.with(|p| p.as_ref().and_then(|p| p.errors.get(key).cloned()));
    let nothing_to_send = move || current_plan.with(|p| p.as_ref().is_none_or(|p| p.changes.is_empty()));
    let has_errors = move || current_plan.with(|p| p.as_ref().is_some_and(|p| !p.errors.is_empty()));
    let open = move |_| {
        let Some(groups) = loaded.settings.with_untracked(|s| s.as_ref().map(groups)) else { return };
        draft.set(groups.iter().flat_map(|g| g.inputs.iter().map(|i| (i.key.clone(), i.now.clone()))).collect());
        outcome.set(None);
        editing.set(Some(groups));
    };
    let close = move || {
        editing.set(None);
        refocus.set(true);
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(plan) = current_plan.get_untracked() else { return };
        if saving.get_untracked() || !plan.errors.is_empty() || plan.changes.is_empty() {
            return;
        }
        let Some(device_id) = dash.current_id.get_untracked() else { return };
        saving.set(true);
        outcome.set(None);
        leptos::task::spawn_local(async move {
            match settings_change(device_id.to_string(), plan.changes).await {
                Ok(result) => {
                    loaded.settings.set(Some(result.settings));
                    outcome.set(Some(Ok(result.applied)));
                    close();
                }
                Err(e) => outcome.set(Some(Err(dash.explain(&e)))),
            }
            saving.set(false);
        });
    };
    let field = move |input: Input, row: Option<String>| {
        let key = input.key.clone();
        let element_id = format!("set-{}", key.replace('.', "-"));
        let hint_id = format!("{element_id}-hint");
        let error_id = format!("{element_id}-error");
        // A threshold's error is its row's, said under the row.
        let described = match &row {
            Some(row) => format!("{hint_id} {error_id} set-{}-error", row.replace('.', "-")),
            None => format!("{hint_id} {error_id}"),
        };
        let (k1, k2, k3) = (key.clone(), key.clone(), key.clone());
        let value = move || draft.with(|d| d.get(&k1).cloned().unwrap_or_default());
        let on_input = move |ev: leptos::ev::Event| {
            let text = event_target_value(&ev);
            draft.update(|d| {
                d.insert(k2.clone(), text);
            });
        };
        let invalid = {
            let row = row.clone();
            move || (error_of(&k3).is_some() || row.as_deref().is_some_and(|r| error_of(r).is_some())).then_some("true")
        };
        let control = match input.kind {
            Kind::Text => view! {
                <input id=element_id.clone() type="text" autocomplete="off" prop:value=value on:input=on_input
                    aria-invalid=invalid aria-describedby=described data-testid=element_id.clone()/>
            }
            .into_any(),
            Kind::Number => view! {
                <input id=element_id.clone() type="number" step="1" prop:value=value on:input=on_input
                    aria-invalid=invalid aria-describedby=described data-testid=element_id.clone()/>
            }
            .into_any(),
            Kind::Choice(options) => {
                // A value the form does not offer (the PDU's own) stays choosable.
                let mut options = options;
                if let Ok(now) = input.now.parse::<i64>() {
                    if !options.iter().any(|(v, _)| *v == now) {
                        options.push((now, format!("as now ({now})")));
                    }
                }
                let selected = Signal::derive(value);
                view! {
                    <select id=element_id.clone() on:change=on_input aria-invalid=invalid aria-describedby=described
                        data-testid=element_id.clone()>
                        {options
                            .into_iter()
                            .map(|(v, words)| {
                                let v = v.to_string();
                                let is = v.clone();
                                view! { <option value=v selected=move || selected.get() == is>{words}</option> }
                            })
                            .collect_view()}
                    </select>
                }
                .into_any()
            }
        };
        let error_key = key.clone();
        view! {
            <div class="field">
                <label for=element_id.clone()>{input.label}</label>
                {control}
                <small id=hint_id>{input.hint.unwrap_or_default()}</small>
                <small class="error-note" id=error_id aria-live="polite">{move || error_of(&error_key)}</small>
            </div>
        }
    };
    let form = move || {
        editing.get().map(|groups| {
            let fields = groups
                .into_iter()
                .map(|g| {
                    let row_error = g.row.clone().map(|row| {
                        let id = format!("set-{}-error", row.replace('.', "-"));
                        view! { <p class="error-note" id=id aria-live="polite">{move || error_of(&row)}</p> }
                    });
                    let inputs = g.inputs.into_iter().map(|i| field(i, g.row.clone())).collect_view();
                    match g.legend {
                        Some(legend) => view! {
                            <fieldset class="setting-group">
                                <legend>{legend}</legend>
                                <div class="form-grid">{inputs}</div>
                                {row_error}
                            </fieldset>
                        }
                        .into_any(),
                        None => view! { <div class="form-grid">{inputs}{row_error}</div> }.into_any(),
                    }
                })
                .collect_view();
            view! {
                <form class="settings-form" on:submit=save data-testid=format!("{id}-form")
                    on:keydown=move |ev: leptos::ev::KeyboardEvent| if ev.key() == "Escape" { close() }>
                    {fields}
                    <div class="form-actions">
                        <button type="submit" class="primary" data-testid=format!("{id}-save")
                            disabled=move || saving.get() || has_errors() || nothing_to_send()>
                            {move || if saving.get() { "Saving…" } else { "Save" }}
                        </button>
                        <button type="button" on:click=move |_| close()>"Cancel"</button>
                        <span class="muted small">
                            {move || if has_errors() {
                                "Correct the fields marked first.".to_owned()
                            } else {
                                current_plan.with(|p| match p.as_ref().map(|p| p.changes.len()).unwrap_or(0) {
                                    0 => "Nothing changed yet.".to_owned(),
                                    1 => "1 change to send.".to_owned(),
                                    n => format!("{n} changes to send."),
                                })
                            }}
                        </span>
                    </div>
                </form>
            }
        })
    };
    let said = move || {
        outcome.get().map(|o| match o {
            Ok(applied) => view! {
                <div class="applied">
                    <p class="ok">"Applied; as the PDU reads it back:"</p>
                    <ul>
                        {applied.into_iter().map(|a| view! {
                            <li>{setting_words(&a.setting)} ": " {a.before} " → " <strong>{a.after}</strong></li>
                        }).collect_view()}
                    </ul>
                </div>
            }
            .into_any(),
            Err(text) => view! { <p class="error">{text}</p> }.into_any(),
        })
    };
    let heading = format!("{id}-title");
    view! {
        <section class="card settings-section" id=id aria-labelledby=heading.clone() data-testid=format!("settings-{id}")>
            <div class="section-head">
                <h2 id=heading.clone()>{title}</h2>
                {admin.then(|| view! {
                    <button type="button" node_ref=edit_ref aria-label=format!("Edit {}", title.to_lowercase())
                        hidden=move || editing.with(Option::is_some)
                        disabled=move || !dash.hydrated.get()
                        on:click=open data-testid=format!("{id}-edit")>
                        "Edit"
                    </button>
                })}
            </div>
            <div hidden=move || editing.with(Option::is_some)>{children()}</div>
            {form}
            <div class="toast" role="status" aria-live="polite" data-testid=format!("{id}-said")>{said}</div>
        </section>
    }
}

/// A reactive text from the settings.
fn from_settings(loaded: Loaded, f: fn(&PduSettings) -> String) -> impl Fn() -> String + Copy + Send + Sync {
    move || loaded.settings.with(|s| s.as_ref().map(f).unwrap_or_default())
}

#[component]
fn DeviceSection() -> impl IntoView {
    let loaded = expect_context::<Loaded>();
    let text = move |f| from_settings(loaded, f);
    view! {
        <Section id="device" title="Device" groups=device_groups>
            <dl class="facts">
                <dt>"Name"</dt>
                <dd data-testid="set-device-name-value">{text(|s| text_or_absent(&s.device_name))}</dd>
                <dt>"Location"</dt>
                <dd data-testid="set-location-value">{text(|s| text_or_absent(&s.location))}</dd>
                <dt>"Contact"</dt>
                <dd data-testid="set-contact-value">{text(|s| text_or_absent(&s.contact))}</dd>
            </dl>
        </Section>
    }
}

#[component]
fn AtsSection() -> impl IntoView {
    let loaded = expect_context::<Loaded>();
    let text = move |f| from_settings(loaded, f);
    let has = move || loaded.settings.with(|s| s.as_ref().is_some_and(|s| s.source.is_some()));
    view! {
        <Show
            when=has
            fallback=|| view! {
                <section class="card settings-section" id="ats" aria-labelledby="ats-title">
                    <h2 id="ats-title">"Transfer switch (ATS)"</h2>
                    <p class="muted">"This PDU reports no transfer switch settings."</p>
                </section>
            }
        >
            <Section id="ats" title="Transfer switch (ATS)" groups=ats_groups>
                <dl class="facts">
                    <dt>"Preferred source"</dt>
                    <dd data-testid="set-preferred-value">{text(|s| shown(s.source.as_ref().and_then(|s| s.preferred), source_words))}</dd>
                    <dt>"Voltage sensitivity"</dt>
                    <dd>{text(|s| shown(s.source.as_ref().and_then(|s| s.voltage_sensitivity), sensitivity_words))}</dd>
                    <dt>"Transfer range"</dt>
                    <dd>{text(|s| shown(s.source.as_ref().and_then(|s| s.transfer_range), range_words))}</dd>
                    <dt>"Nominal voltage"</dt>
                    <dd>
                        {text(|s| shown(s.source.as_ref().and_then(|s| s.nominal_voltage), |v| format!("{v} V")))}
                        <span class="muted small">" (set by the PDU)"</span>
                    </dd>
                </dl>
            </Section>
        </Show>
    }
}

#[component]
fn PowerUpSection() -> impl IntoView {
    let loaded = expect_context::<Loaded>();
    let text = move |f| from_settings(loaded, f);
    view! {
        <Section id="power-up" title="When power comes back" groups=power_up_groups>
            <dl class="facts">
                <dt>"Coldstart delay"</dt>
                <dd data-testid="set-coldstart-delay-value">{text(|s| shown(s.coldstart_delay, coldstart_delay_words))}</dd>
                <dt>"Outlets after a power loss"</dt>
                <dd data-testid="set-coldstart-state-value">{text(|s| shown(s.coldstart_state, coldstart_state_words))}</dd>
            </dl>
        </Section>
    }
}

#[component]
fn OutletSection() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let loaded = expect_context::<Loaded>();
    let numbers =
        move || loaded.settings.with(|s| s.iter().flat_map(|s| s.outlets.iter().map(|o| o.number)).collect::<Vec<_>>());
    let row = move |n: u32| {
        let cell = move |f: fn(&crate::settings::OutletSettings) -> String| {
            move || {
                loaded.settings.with(|s| {
                    s.as_ref().and_then(|s| s.outlets.iter().find(|o| o.number == n)).map(f).unwrap_or_default()
                })
            }
        };
        let bridge_name = move || dash.read(|s| s.outlet(n).map(|o| o.name.clone())).flatten().unwrap_or_default();
        view! {
            <tr data-testid=format!("outlet-settings-{n}")>
                <th scope="row">{n}</th>
                <td data-col="bridge-name">{bridge_name}</td>
                <td data-col="pdu-name">{cell(|o| text_or_absent(&o.name))}</td>
                <td data-col="on-delay" class="num">{cell(|o| shown(o.on_delay, delay_words))}</td>
                <td data-col="off-delay" class="num">{cell(|o| shown(o.off_delay, delay_words))}</td>
                <td data-col="reboot" class="num">{cell(|o| shown(o.reboot_duration, |v| format!("{v} s")))}</td>
            </tr>
        }
    };
    view! {
        <Section id="outlet-settings" title="Outlets" groups=outlet_groups>
            <div class="table-wrap" role="region" aria-label="Outlet settings (scrolls sideways)" tabindex="0">
                <table class="access-table settings-table" data-testid="outlet-settings">
                    <caption class="visually-hidden">"Each outlet's names and delays"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Outlet"</th>
                            <th scope="col">"Name in the bridge"</th>
                            <th scope="col">"Name on the PDU"</th>
                            <th scope="col" class="num">"On delay"</th>
                            <th scope="col" class="num">"Off delay"</th>
                            <th scope="col" class="num">"Reboot duration"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=numbers key=|n| *n children=row/>
                    </tbody>
                </table>
            </div>
            <p class="muted small">
                "A delayed on or off, and every outlet at once, wait the outlet's delay; “never” leaves it as it is."
            </p>
        </Section>
    }
}

#[component]
fn ThresholdSection() -> impl IntoView {
    let loaded = expect_context::<Loaded>();
    let rows = move || {
        loaded.settings.with(|s| {
            s.as_ref()
                .map(|s| {
                    let banks = s.banks.iter().map(|r| (format!("Bank {}", r.index), r.clone()));
                    banks.chain(s.phases.iter().map(|r| (format!("Phase {}", r.index), r.clone()))).collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    let none = move || rows().is_empty();
    view! {
        <Section id="thresholds" title="Load thresholds" groups=threshold_groups>
            <Show when=move || !none() fallback=|| view! { <p class="muted">"This PDU reports no load thresholds."</p> }>
                <div class="table-wrap" role="region" aria-label="Load thresholds (scrolls sideways)" tabindex="0">
                    <table class="access-table settings-table" data-testid="thresholds">
                        <caption class="visually-hidden">"Load thresholds of each bank and phase, in amps"</caption>
                        <thead>
                            <tr>
                                <th scope="col">"Bank or phase"</th>
                                <th scope="col" class="num">"Low"</th>
                                <th scope="col" class="num">"Near overload"</th>
                                <th scope="col" class="num">"Overload"</th>
                                <th scope="col" class="num">"Limit"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {move || rows().into_iter().map(|(name, r)| view! {
                                <tr>
                                    <th scope="row">{name}</th>
                                    <td class="num">{shown(r.low, amps)}</td>
                                    <td class="num">{shown(r.near_overload, amps)}</td>
                                    <td class="num">{shown(r.overload, amps)}</td>
                                    <td class="num">{shown(r.max, amps)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            </Show>
        </Section>
    }
}

/// What every outlet at once will do, in words: (title, body, confirm).
fn every_outlet_question(action: AllOutletsAction, pdu: &str, protected: &str) -> (String, String, String) {
    match action {
        AllOutletsAction::DelayOn => (
            format!("Turn on every outlet of “{pdu}”?"),
            "Each outlet that is off turns on after its own on delay (see Outlets above); one whose on delay is \
             “never” stays off."
                .to_owned(),
            "Turn all on".to_owned(),
        ),
        AllOutletsAction::DelayOff => {
            let protected = if protected.is_empty() {
                String::new()
            } else {
                format!(" The protected outlets turn off too: {protected}.")
            };
            (
                format!("Turn off every outlet of “{pdu}”?"),
                format!(
                    "Everything plugged into this PDU loses power: each outlet turns off after its own off delay \
                     (see Outlets above); one whose off delay is “never” stays on.{protected}"
                ),
                "Turn all off".to_owned(),
            )
        }
        AllOutletsAction::Cancel => (
            format!("Cancel every pending command of “{pdu}”?"),
            "Delayed commands still waiting on the PDU are dropped; every outlet stays as it is now.".to_owned(),
            "Cancel pending commands".to_owned(),
        ),
    }
}

/// What an all-outlets command did, read back from the PDU.
fn every_outlet_outcome(result: &AllOutletsResult) -> String {
    use crate::model::OutletState;
    let count = |state| result.outlets.iter().filter(|o| o.state == Some(state)).count();
    let pending = result.outlets.iter().filter(|o| o.pending).count();
    let what = match result.action {
        AllOutletsAction::DelayOn => "Every outlet turns on after its delay",
        AllOutletsAction::DelayOff => "Every outlet turns off after its delay",
        AllOutletsAction::Cancel => "Pending commands cancelled",
    };
    let waiting = if pending > 0 { format!("; {pending} still waiting for their delay") } else { String::new() };
    format!("{what}. Now {} on, {} off{waiting}.", count(OutletState::On), count(OutletState::Off))
}

/// Every outlet at once (operators), each after its own delay.
#[component]
fn EveryOutlet() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let refusal = dash.refusal(Role::Operator, "switch outlets");
    let admin = dash.may(Role::Admin);
    let asking = RwSignal::new(None::<AllOutletsAction>);
    let ticked = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let outcome = RwSignal::new(None::<(bool, String)>);
    // "3 “NAS”, 7 “Modem”": the protected outlets of this PDU, named.
    let protected = move || {
        let numbers = dash.current_id.get().and_then(|id| dash.info(&id)).map(|p| p.protected).unwrap_or_default();
        numbers
            .iter()
            .map(|n| {
                let name = dash.read(|s| s.outlet(*n).map(|o| o.name.clone())).flatten().unwrap_or_default();
                format!("{n} “{name}”")
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let off_refused = move || !admin && !protected().is_empty();
    let label = move || {
        dash.read(|s| s.label.clone())
            .or_else(|| dash.current_id.get().and_then(|id| dash.info(&id)).map(|p| p.label))
            .unwrap_or_default()
    };
    let words = move || asking.get().map(|a| every_outlet_question(a, &label(), &protected()));
    let needs_tick = move || asking.get() == Some(AllOutletsAction::DelayOff) && !protected().is_empty();
    let confirm = Callback::new(move |_| {
        let Some(action) = asking.get_untracked() else { return };
        let Some(device_id) = dash.current_id.get_untracked() else { return };
        let confirm_protected = action == AllOutletsAction::DelayOff && ticked.get_untracked();
        asking.set(None);
        busy.set(true);
        outcome.set(None);
        leptos::task::spawn_local(async move {
            match all_outlets(device_id.to_string(), action, confirm_protected).await {
                Ok(result) => outcome.set(Some((false, every_outlet_outcome(&result)))),
                Err(e) => outcome.set(Some((true, format!("Not done: {}", dash.explain(&e))))),
            }
            busy.set(false);
        });
    });
    let button = move |action: AllOutletsAction, text: &'static str, class: &'static str| {
        let refused = move || action == AllOutletsAction::DelayOff && off_refused();
        view! {
            <button type="button" class=class
                disabled=move || !dash.hydrated.get() || busy.get() || refused()
                aria-describedby=move || refused().then_some("every-outlet-protected")
                on:click=move |_| {
                    ticked.set(false);
                    asking.set(Some(action));
                }
                data-testid=format!("every-{}", action.code())>
                {text}
            </button>
        }
    };
    view! {
        <section class="card settings-section" id="every-outlet" aria-labelledby="every-outlet-title" data-testid="every-outlet">
            <h2 id="every-outlet-title">"Every outlet"</h2>
            {match refusal {
                Some(why) => view! {
                    <p class="role-reason"><span aria-hidden="true">"ℹ "</span>{why}</p>
                }
                .into_any(),
                None => view! {
                    <p class="muted small">"The PDU carries these out itself, each outlet after its own delay."</p>
                    <div class="every-actions">
                        {button(AllOutletsAction::DelayOn, "Turn all on (each after its delay)", "cmd-on")}
                        {button(AllOutletsAction::DelayOff, "Turn all off (each after its delay)", "cmd-off")}
                        {button(AllOutletsAction::Cancel, "Cancel pending commands", "")}
                    </div>
                    <Show when=off_refused>
                        <p class="protected-note" id="every-outlet-protected">
                            <span aria-hidden="true">"⚑ "</span>
                            "Turning every outlet off is refused: this PDU has protected outlets ("
                            {protected} "), and only an admin may switch them off."
                        </p>
                    </Show>
                    <div class="toast" role="status" aria-live="polite" data-testid="every-outlet-said">
                        {move || outcome.get().map(|(is_error, text)| view! {
                            <span class=if is_error { "error" } else { "ok" }>{text}</span>
                        })}
                    </div>
                }
                .into_any(),
            }}
            <ConfirmDialog
                open=Signal::derive(move || asking.with(Option::is_some))
                title=Signal::derive(move || words().map(|w| w.0).unwrap_or_default())
                body=Signal::derive(move || words().map(|w| w.1).unwrap_or_default())
                confirm_label=Signal::derive(move || words().map(|w| w.2).unwrap_or_default())
                danger=Signal::derive(move || asking.get() == Some(AllOutletsAction::DelayOff))
                confirm_disabled=Signal::derive(move || needs_tick() && !ticked.get())
                on_confirm=confirm
                on_cancel=Callback::new(move |_| asking.set(None))
                id="every-outlet-confirm"
                testid="every-outlet-dialog"
            >
                <Show when=needs_tick>
                    <label class="check protected-question">
                        <input type="checkbox" prop:checked=move || ticked.get()
                            on:change=move |ev| ticked.set(event_target_checked(&ev)) data-testid="confirm-protected"/>
                        "Yes, turn off the protected outlets too (" {protected} ")"
                    </label>
                </Show>
            </ConfirmDialog>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{OutletSettings, SourceSettings};

    fn settings() -> PduSettings {
        PduSettings {
            source: Some(SourceSettings {
                preferred: Some(1),
                voltage_sensitivity: Some(2),
                transfer_range: Some(1),
                nominal_voltage: Some(120),
            }),
            coldstart_delay: Some(0),
            coldstart_state: Some(2),
            outlets: vec![OutletSettings {
                number: 1,
                name: Some("Server-1".into()),
                on_delay: Some(0),
                off_delay: Some(-1),
                reboot_duration: Some(10),
            }],
            banks: vec![LoadThresholds {
                index: 1,
                low: Some(0),
                near_overload: Some(10),
                overload: Some(12),
                max: Some(12),
            }],
            ..Default::default()
        }
    }

    fn draft(groups: &[Group], typed: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut d: BTreeMap<String, String> =
            groups.iter().flat_map(|g| g.inputs.iter().map(|i| (i.key.clone(), i.now.clone()))).collect();
        for (k, v) in typed {
            d.insert((*k).into(), (*v).into());
        }
        d
    }

    #[test]
    fn settings_read_in_words() {
        assert_eq!(coldstart_delay_words(-1), "never");
        assert_eq!(coldstart_delay_words(0), "at once");
        assert_eq!(coldstart_delay_words(15), "15 s");
        assert_eq!(coldstart_state_words(1), "all outlets on");
        assert_eq!(coldstart_state_words(2), "as before");
        assert_eq!(source_words(2), "Source B");
        assert_eq!((sensitivity_words(1), range_words(3)), ("high".into(), "narrow".into()));
        assert_eq!(delay_words(-1), "never");
        assert_eq!(shown(None, delay_words), "—");
        assert_eq!(setting_words("outlet.3.reboot_duration"), "outlet 3 reboot duration");
    }

    #[test]
    fn only_what_changed_is_sent_and_each_change_is_checked_as_typed() {
        let s = settings();
        let groups = power_up_groups(&s);
        assert_eq!(plan(&groups, &draft(&groups, &[]), &s), Plan::default(), "nothing typed, nothing sent");
        let p = plan(&groups, &draft(&groups, &[("coldstart_delay", "15")]), &s);
        assert_eq!(p.changes, vec![SettingChange::ColdstartDelay { value: 15 }]);
        let p = plan(&groups, &draft(&groups, &[("coldstart_delay", "301")]), &s);
        assert!(p.errors["coldstart_delay"].starts_with("301 is out of range"), "{p:?}");
        let p = plan(&groups, &draft(&groups, &[("coldstart_delay", "soon")]), &s);
        assert_eq!(p.errors["coldstart_delay"], "Type a whole number.");

        let groups = outlet_groups(&s);
        let p = plan(&groups, &draft(&groups, &[("outlet.1.reboot_duration", "20"), ("outlet.1.name", "Web")]), &s);
        assert_eq!(
            p.changes,
            vec![
                SettingChange::OutletName { outlet: 1, value: "Web".into() },
                SettingChange::OutletRebootDuration { outlet: 1, value: 20 }
            ]
        );
        let p = plan(&groups, &draft(&groups, &[("outlet.1.reboot_duration", "4")]), &s);
        assert!(p.errors.contains_key("outlet.1.reboot_duration"));
    }

    #[test]
    fn a_row_of_thresholds_is_one_change_with_one_error() {
        let s = settings();
        let groups = threshold_groups(&s);
        let p = plan(&groups, &draft(&groups, &[("bank.1.near_overload", "11")]), &s);
        assert_eq!(p.changes, vec![SettingChange::BankThresholds { bank: 1, low: 0, near_overload: 11, overload: 12 }]);
        let p = plan(&groups, &draft(&groups, &[("bank.1.overload", "13")]), &s);
        assert!(p.errors["bank.1"].contains("limit of 12 A"), "{p:?}");
    }

    #[test]
    fn every_outlet_off_names_the_protected_outlets() {
        let (_, body, label) = every_outlet_question(AllOutletsAction::DelayOff, "Lab", "3 “NAS”");
        assert!(body.ends_with("The protected outlets turn off too: 3 “NAS”."), "{body}");
        assert_eq!(label, "Turn all off");
        let (_, body, _) = every_outlet_question(AllOutletsAction::DelayOff, "Lab", "");
        assert!(!body.contains("protected"));
    }
}
