//! The rules panel: every rule with its live state (armed, pending with a
//! countdown, fired, disabled), run count and last run; an editor whose
//! fields fit the chosen condition and which validates as you type with the
//! same code the server runs (`Rule::validate`); enable/disable; delete
//! behind a confirmation. And the event log. Every one of these is a
//! plain HTML form first (the editor posts to `/forms/rule`; "New rule" and
//! "Edit" ask for the page with the editor open), so it works before and
//! without the WASM, which takes the submits over once hydrated. A role that may not change
//! rules (a viewer) sees them without those buttons, and why.

use super::dialog::ConfirmDialog;
use super::When;
use crate::access::Role;
use crate::api::{load_events, RuleDelete, RuleEnable, RuleSave};
use crate::format;
use crate::model::{Event, EventQuery};
use crate::rules::{
    action_from_key, action_key, condition_key, Condition, Rule, RuleAction, RuleDraft, ScheduleType, Threshold,
};
use crate::state::Dashboard;
use crate::wire::RULE_FORM_PATH;
use leptos::prelude::*;

const CONDITIONS: [(Condition, &str, &str); 13] = [
    (Condition::VoltageBelow, "voltage_below", "Voltage below"),
    (Condition::VoltageAbove, "voltage_above", "Voltage above"),
    (Condition::AtsSourceIs, "ats_source_is", "ATS is on source"),
    (Condition::AtsPreferredLost, "ats_preferred_lost", "ATS not on the preferred source"),
    (Condition::RedundancyLost, "redundancy_lost", "Redundancy lost"),
    (Condition::LoadAbove, "load_above", "Load above"),
    (Condition::TimeAfter, "time_after", "Time at or after"),
    (Condition::TimeBefore, "time_before", "Time before"),
    (Condition::TimeBetween, "time_between", "Time between"),
    (Condition::TemperatureAbove, "temperature_above", "Temperature above (°C)"),
    (Condition::HumidityAbove, "humidity_above", "Humidity above (%)"),
    (Condition::ContactOpen, "contact_open", "Probe contact open (number)"),
    (Condition::PsuFailed, "psu_failed", "Power supply failed (0 = any)"),
];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn action_word(a: RuleAction) -> &'static str {
    match a {
        RuleAction::On => "turn on",
        RuleAction::Off => "turn off",
        RuleAction::Reboot => "reboot",
        RuleAction::Notify => "raise an alarm",
    }
}

/// The actions the editor offers: (action, label).
const ACTIONS: [(RuleAction, &str); 4] = [
    (RuleAction::Off, "Turn off"),
    (RuleAction::On, "Turn on"),
    (RuleAction::Reboot, "Reboot"),
    (RuleAction::Notify, "Notify (raise an alarm)"),
];

/// One line a person can read: "Source A voltage below 108 V for 10 s → turn off outlets 5, 9",
/// or "Raise an alarm when temperature above 35 °C for 60 s; it clears when the condition clears".
pub fn describe(rule: &Rule) -> String {
    let watched = match (rule.condition, rule.input) {
        (c, 1) if c.is_voltage() => "Source A voltage".to_owned(),
        (c, 2) if c.is_voltage() => "Source B voltage".to_owned(),
        (c, _) if c.is_voltage() => "Input voltage".to_owned(),
        (Condition::LoadAbove, 0) => "PDU load".to_owned(),
        (Condition::LoadAbove, b) => format!("Bank {b} load"),
        _ => String::new(),
    };
    let threshold = match &rule.threshold {
        Threshold::Number(v) => format!("{v}"),
        Threshold::Text(t) => t.clone(),
    };
    let when = match rule.condition {
        Condition::VoltageBelow => format!("{watched} below {threshold} V"),
        Condition::VoltageAbove => format!("{watched} above {threshold} V"),
        Condition::LoadAbove => format!("{watched} above {threshold} A"),
        Condition::AtsSourceIs => format!("ATS on source {}", if threshold == "2" { "B" } else { "A" }),
        Condition::AtsPreferredLost => "ATS not on the preferred source".to_owned(),
        Condition::RedundancyLost => "redundancy lost".to_owned(),
        Condition::TimeAfter => format!("from {threshold}"),
        Condition::TimeBefore => format!("before {threshold}"),
        Condition::TimeBetween => format!("between {threshold}"),
        Condition::TemperatureAbove => format!("temperature above {threshold} °C"),
        Condition::HumidityAbove => format!("humidity above {threshold} %"),
        Condition::ContactOpen => format!("probe contact {threshold} open"),
        Condition::PsuFailed if threshold == "0" => "a power supply failed".to_owned(),
        Condition::PsuFailed => format!("power supply {threshold} failed"),
    };
    let mut text = if rule.action.switches() {
        let outlets = rule.outlet.list().iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        let mut text = format!("{when} for {} s → {} outlets {outlets}", rule.delay, action_word(rule.action));
        if rule.restore && rule.action != RuleAction::Reboot {
            text.push_str(&format!("; restore after {} s", rule.restore_delay));
        }
        text
    } else {
        // "from 22:00" reads on its own; "Source A voltage below 108 V" after "when".
        let when = match rule.condition.is_time() {
            true => when,
            false => format!("when {}", lower_first(&when)),
        };
        let clears = match rule.restore_delay {
            d if d > 0.0 => format!("once the condition has been clear for {d} s"),
            _ => "when the condition clears".to_owned(),
        };
        format!("Raise an alarm {when} for {} s; it clears {clears}", rule.delay)
    };
    if rule.schedule_type == ScheduleType::Oneshot {
        text.push_str("; once");
    }
    text
}

/// "Source A voltage" → "source A voltage".
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

#[component]
pub fn RulesPanel() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let editing = RwSignal::new(dash.rule_editor.get_value());
    let confirm_delete = RwSignal::new(dash.confirm_rule_delete());
    let outcome = dash.outcome.get_value().filter(|o| o.panel == "rule").map(|o| (!o.ok, o.text));
    let message = RwSignal::new(outcome);
    let save = ServerAction::<RuleSave>::new();
    let enable = ServerAction::<RuleEnable>::new();
    let delete = ServerAction::<RuleDelete>::new();
    // The action's input is gone once it has answered: keep the name.
    let deleting = RwSignal::new(String::new());

    // Answers are applied at once; the next push confirms them. Only the
    // answers are tracked (see the outlet tiles for why).
    Effect::new(move |_| {
        let Some(result) = save.value().get() else { return };
        untrack(move || match result {
            Ok(status) => {
                dash.upsert_rule(status.clone());
                editing.set(None);
                super::outlets::forget_form_url();
                message.set(Some((false, format!("Rule “{}” saved.", status.rule.name))));
            }
            Err(e) => message.set(Some((true, dash.explain(&e)))),
        });
    });
    Effect::new(move |_| {
        let Some(result) = enable.value().get() else { return };
        untrack(move || match result {
            Ok(status) => {
                let word = if status.rule.enabled { "enabled" } else { "disabled" };
                message.set(Some((false, format!("Rule “{}” {word}.", status.rule.name))));
                dash.upsert_rule(status);
            }
            Err(e) => message.set(Some((true, dash.explain(&e)))),
        });
    });
    Effect::new(move |_| {
        let Some(result) = delete.value().get() else { return };
        let name = deleting.get_untracked();
        untrack(move || match result {
            Ok(()) => {
                dash.remove_rule(&name);
                message.set(Some((false, format!("Rule “{name}” deleted."))));
            }
            Err(e) => message.set(Some((true, dash.explain(&e)))),
        });
    });

    provide_context(RowActions { editing, confirm_delete, enable });
    let names = move || dash.current_rules().into_iter().map(|r| r.rule.name).collect::<Vec<_>>();
    let empty = move || names().is_empty() && editing.with(Option::is_none);
    let role_reason = dash.refusal(Role::Operator, "change rules");
    let may_change = role_reason.is_none();
    let can_edit = move || may_change && dash.current.with(Option::is_some);
    let new_rule_why = {
        let role_reason = role_reason.clone();
        move || {
            role_reason.clone().or_else(|| {
                (!can_edit()).then(|| {
                    "Rules can be written once the PDU has answered: its outlets are not known before.".to_owned()
                })
            })
        }
    };
    let new_rule = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        editing.set(Some(RuleDraft::new()));
    };
    let shown_message = move || {
        message.get().map(|(is_error, text)| view! { <span class=if is_error { "error" } else { "ok" }>{text}</span> })
    };
    let form = move || editing.get().map(|draft| view! { <RuleForm draft save editing/> });
    let device = move || dash.current_id.get().map(|d| d.to_string()).unwrap_or_default();
    let question =
        Signal::derive(move || confirm_delete.get().map(|n| format!("Delete rule “{n}”?")).unwrap_or_default());
    let really_delete = Callback::new(move |_| {
        let Some(name) = confirm_delete.get_untracked() else { return };
        confirm_delete.set(None);
        super::outlets::forget_form_url();
        deleting.set(name.clone());
        delete.dispatch(RuleDelete { device_id: device(), name });
    });
    let cancel_delete = Callback::new(move |_| {
        confirm_delete.set(None);
        super::outlets::forget_form_url();
    });
    // Without the WASM, the server's page asks before it deletes.
    let server_confirm = dash.confirm_rule_delete().map(|name| {
        view! {
            <form class="rule-confirm server-confirm" method="post" action=RULE_FORM_PATH hidden=move || dash.hydrated.get()>
                <p>{format!("Delete rule “{name}”? Outlets it switched stay as they are.")}</p>
                <input type="hidden" name="device_id" value=device/>
                <input type="hidden" name="rule" value=name.clone()/>
                <input type="hidden" name="confirmed" value="1"/>
                <a class="button secondary" href="/#rules">"Cancel"</a>
                <button type="submit" class="danger" name="op" value="delete">"Delete"</button>
            </form>
        }
    });
    view! {
        <section class="card rules" id="rules" aria-labelledby="rules-title">
            <div class="card-head">
                <h2 id="rules-title">"Automation rules"</h2>
                // Without the WASM, the button asks the server for the page
                // with the editor open.
                <form class="new-rule" method="get" action="/#rules">
                <button
                    type="submit"
                    name="editor"
                    value="new"
                    class="primary"
                    data-testid="new-rule"
                    disabled=move || !can_edit()
                    title=new_rule_why
                    aria-describedby=(!may_change).then_some("rules-role")
                    on:click=new_rule
                >
                    "New rule"
                </button>
                </form>
            </div>
            {role_reason.map(|why| view! {
                <p class="role-reason" id="rules-role" data-testid="rules-role">
                    <span aria-hidden="true">"ℹ "</span>{why}
                </p>
            })}
            <p class="toast" role="status" aria-live="polite" data-testid="rule-message">{shown_message}</p>
            {move || dash.rules_file_error().map(|e| view! {
                <p class="error banner" role="alert" data-testid="rules-file-error">
                    {format!("The rules file cannot be used: {e}. Edits are refused until it is fixed; nothing is written over it.")}
                </p>
            })}
            {server_confirm}
            {form}
            <Show when=empty>
                <p class="muted">"No rules yet. Rules switch outlets, or raise an alarm, on brownouts, ATS transfers, load, sensors or the clock."</p>
            </Show>
            <ul class="rule-list">
                <For each=names key=|name| name.clone() children=move |name: String| view! { <RuleRow name/> }/>
            </ul>
            <ConfirmDialog
                open=Signal::derive(move || confirm_delete.with(Option::is_some))
                title=question
                body=Signal::derive(|| "Outlets it switched stay as they are.".to_owned())
                confirm_label=Signal::derive(|| "Delete rule".to_owned())
                danger=Signal::derive(|| true)
                on_confirm=really_delete
                on_cancel=cancel_delete
                id="rule-delete"
                testid="rule-delete-dialog"
            />
        </section>
    }
}

/// What a rule row can ask of the panel.
#[derive(Clone, Copy)]
struct RowActions {
    editing: RwSignal<Option<RuleDraft>>,
    confirm_delete: RwSignal<Option<String>>,
    enable: ServerAction<RuleEnable>,
}

#[component]
fn RuleRow(name: String) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let actions = expect_context::<RowActions>();
    let device = move || dash.current_id.get().map(|d| d.to_string()).unwrap_or_default();
    let key = StoredValue::new(name.clone());
    let status = move || key.with_value(|n| dash.current_rules().into_iter().find(|r| &r.rule.name == n));
    let state = move || status().map(|s| (s.state.clone(), s.pending_s)).unwrap_or(("armed".into(), None));
    let state_text = move || match state() {
        (s, Some(left)) if s == "pending" => format!("pending — fires in {} s", left.ceil() as u64),
        (s, _) => s,
    };
    let summary = move || status().map(|s| describe(&s.rule)).unwrap_or_default();
    let runs = move || {
        let now = dash.now_ms.get() as f64 / 1000.0;
        status().map(|s| match s.last_run {
            Some(t) => view! {
                {format!("ran {} times, last at ", s.run_count)}
                <When ms=(t * 1000.0) as u64/>
                {format!(" ({} ago)", format::age((now - t).max(0.0)))}
            }
            .into_any(),
            None => "never ran".into_any(),
        })
    };
    let enabled = move || status().map(|s| s.rule.enabled).unwrap_or(true);
    let edit = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        if let Some(s) = status() {
            actions.editing.set(Some(RuleDraft::from_rule(&s.rule)));
        }
    };
    let toggle = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        let name = key.get_value();
        actions.enable.dispatch(RuleEnable { device_id: device(), name, enabled: !enabled() });
    };
    let ask_delete = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        actions.confirm_delete.set(Some(key.get_value()));
    };
    let may_change = dash.may(Role::Operator);
    let toggle_label = move || if enabled() { "Disable" } else { "Enable" };
    let toggle_op = move || if enabled() { "disable" } else { "enable" };
    let class = move || format!("rule state-{}", state().0);
    let named = |verb: &'static str| {
        let name = name.clone();
        move || format!("{verb} rule {name}")
    };
    let toggle_name = {
        let name = name.clone();
        move || format!("{} rule {name}", toggle_label())
    };
    view! {
        <li class=class data-testid=format!("rule-{name}")>
            <div class="rule-main">
                <strong class="rule-name">{name.clone()}</strong>
                <span class="rule-state" data-testid="rule-state">{state_text}</span>
                <p class="rule-summary">{summary}</p>
                <p class="muted rule-runs">{runs}</p>
            </div>
            // A role that may not change rules sees no buttons for it (the
            // panel says why once).
            {may_change.then(|| view! {
                <form class="rule-actions" method="post" action=RULE_FORM_PATH>
                    <input type="hidden" name="device_id" value=device/>
                    <input type="hidden" name="rule" value=name.clone()/>
                    <button type="submit" formmethod="get" formaction="/#rules" name="editor" value="edit" aria-label=named("Edit") on:click=edit>"Edit"</button>
                    <button type="submit" name="op" value=toggle_op aria-label=toggle_name on:click=toggle>{toggle_label}</button>
                    <button type="submit" name="op" value="delete" class="cmd-off" aria-label=named("Delete") on:click=ask_delete>"Delete"</button>
                </form>
            })}
        </li>
    }
}

#[component]
fn RuleForm(draft: RuleDraft, save: ServerAction<RuleSave>, editing: RwSignal<Option<RuleDraft>>) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    // What the server renders the fields with (the properties below take
    // over once hydrated, and are not part of the server's HTML).
    let start = StoredValue::new(draft.clone());
    let was = move |f: fn(&RuleDraft) -> String| start.with_value(f);
    let show_errors = draft.show_errors;
    let d = RwSignal::new(draft);
    let outlet_count = move || dash.read(|s| s.outlets.len() as u32);
    let outlet_numbers = move || {
        dash.read(|s| s.outlets.iter().map(|o| (o.number, o.name.clone())).collect::<Vec<_>>()).unwrap_or_default()
    };
    let banks = move || dash.read(|s| s.banks.iter().map(|b| b.number).collect::<Vec<_>>()).unwrap_or_default();
    let checked = move || d.with(|d| d.to_rule(outlet_count()));
    // Say what is wrong once the user has started, not on an empty form;
    // a form the server sent back says it at once.
    let touched = RwSignal::new(show_errors);
    Effect::new(move |first: Option<()>| {
        d.track();
        if first.is_some() {
            touched.set(true);
        }
    });
    let error = move || checked().err().filter(|_| touched.get());
    let condition = move || d.with(|d| d.condition);
    let switches = move || d.with(|d| d.action.switches());
    // Without the WASM every field is there, as the condition cannot
    // change what is shown; once hydrated, only those that fit.
    let hide_unless = move |fits: fn(Condition) -> bool| move || dash.hydrated.get() && !fits(condition());
    let text_input = move |label: &'static str,
                           testid: &'static str,
                           name: &'static str,
                           get: fn(&RuleDraft) -> String,
                           set: fn(&mut RuleDraft, String)| {
        view! {
            <label class="field">
                <span>{label}</span>
                <input
                    type="text"
                    name=name
                    data-testid=testid
                    value=was(get)
                    prop:value=move || d.with(get)
                    on:input=move |ev| d.update(|draft| set(draft, event_target_value(&ev)))
                />
            </label>
        }
    };
    let checkbox =
        move |label: &'static str, name: &'static str, get: fn(&RuleDraft) -> bool, set: fn(&mut RuleDraft, bool)| {
            view! {
                <label class="check">
                    <input
                        type="checkbox"
                        name=name
                        value="1"
                        checked=start.with_value(get)
                        prop:checked=move || d.with(get)
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            d.update(|draft| set(draft, on));
                        }
                    />
                    {label}
                </label>
            }
        };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        touched.set(true);
        let Ok(rule) = checked() else { return };
        let Some(device_id) = dash.read(|s| s.device_id.to_string()) else { return };
        let original = d.with_untracked(|d| d.original.clone());
        save.dispatch(RuleSave { device_id, original, rule: serde_json::to_string(&rule).unwrap_or_default() });
    };
    let cancel = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        editing.set(None);
        super::outlets::forget_form_url();
    };
    let title = move || {
        d.with(|d| d.original.as_ref().map(|n| format!("Edit rule “{n}”")).unwrap_or_else(|| "New rule".into()))
    };
    let device = move || dash.current_id.get().map(|d| d.to_string()).unwrap_or_default();
    let original = start.with_value(|d| d.original.clone());
    let input_was = start.with_value(|d| d.input);
    let source_was = start.with_value(|d| d.source);
    let action_was = start.with_value(|d| d.action);
    let condition_was = start.with_value(|d| d.condition);
    let is_level = Condition::is_level;
    view! {
        <form class="rule-form" method="post" action=RULE_FORM_PATH on:submit=submit data-testid="rule-form" aria-label=title>
            <h3>{title}</h3>
            <input type="hidden" name="device_id" value=device/>
            {original.map(|o| view! { <input type="hidden" name="original" value=o/> })}
            <div class="form-grid">
                <label class="field">
                    <span>"Name"</span>
                    <input
                        type="text"
                        name="name"
                        data-testid="rule-name"
                        aria-describedby="rule-name-hint"
                        value=was(|d| d.name.clone())
                        prop:value=move || d.with(|d| d.name.clone())
                        on:input=move |ev| d.update(|draft| draft.name = event_target_value(&ev))
                    />
                    <small id="rule-name-hint">"Up to 64 letters, digits, spaces, - _ and ."</small>
                </label>
                <label class="field">
                    <span>"Condition"</span>
                    <select
                        name="condition"
                        data-testid="rule-condition"
                        prop:value=move || condition_key(condition())
                        on:change=move |ev| {
                            let key = event_target_value(&ev);
                            if let Some((c, _, _)) = CONDITIONS.iter().find(|(_, k, _)| *k == key) {
                                d.update(|d| {
                                    d.condition = *c;
                                    if c.is_voltage() && d.input > 2 { d.input = 1; }
                                });
                            }
                        }
                    >
                        {CONDITIONS.iter().map(|(c, key, label)| view! { <option value=*key selected=*c == condition_was>{*label}</option> }).collect_view()}
                    </select>
                </label>
                <label class="field" hidden=hide_unless(Condition::is_voltage)>
                    <span>"Watch"</span>
                    <select name="input" prop:value=move || d.with(|d| d.input.to_string()) on:change=move |ev| {
                        let v = event_target_value(&ev).parse().unwrap_or(0);
                        d.update(|d| d.input = v);
                    }>
                        <option value="1" selected=input_was == 1>"Source A"</option>
                        <option value="2" selected=input_was == 2>"Source B"</option>
                        <option value="0" selected=input_was == 0>"PDU input (active source)"</option>
                    </select>
                </label>
                <label class="field" hidden=hide_unless(|c| c == Condition::LoadAbove)>
                    <span>"Load of"</span>
                    <select name="bank" prop:value=move || d.with(|d| d.input.to_string()) on:change=move |ev| {
                        let v = event_target_value(&ev).parse().unwrap_or(0);
                        d.update(|d| d.input = v);
                    }>
                        <option value="0" selected=input_was == 0>"The whole PDU"</option>
                        {move || banks().into_iter().map(|b| view! { <option value=b.to_string() selected=input_was == b>{format!("Bank {b}")}</option> }).collect_view()}
                    </select>
                </label>
                <div class="field-slot" hidden=hide_unless(is_level)>
                    {text_input("Threshold (V, A, °C, % or number)", "rule-threshold", "value", |d| d.value.clone(), |d, v| d.value = v)}
                </div>
                <label class="field" hidden=hide_unless(|c| c == Condition::AtsSourceIs)>
                    <span>"Source"</span>
                    <select name="source" prop:value=move || d.with(|d| d.source.to_string()) on:change=move |ev| {
                        let v = event_target_value(&ev).parse().unwrap_or(2);
                        d.update(|d| d.source = v);
                    }>
                        <option value="1" selected=source_was == 1>"A"</option>
                        <option value="2" selected=source_was != 1>"B"</option>
                    </select>
                </label>
                <div class="field-slot" hidden=hide_unless(Condition::is_time)>
                    {text_input("Time (HH:MM)", "rule-time", "at", |d| d.at.clone(), |d, v| d.at = v)}
                </div>
                <div class="field-slot" hidden=hide_unless(|c| c == Condition::TimeBetween)>
                    {text_input("Until (HH:MM)", "rule-until", "until", |d| d.until.clone(), |d, v| d.until = v)}
                </div>
                <label class="field">
                    <span>"Action"</span>
                    <select name="action" data-testid="rule-action" prop:value=move || d.with(|d| action_key(d.action)) on:change=move |ev| {
                        let action = action_from_key(&event_target_value(&ev)).unwrap_or(RuleAction::Off);
                        d.update(|d| d.action = action);
                    }>
                        {ACTIONS.iter().map(|(a, label)| view! { <option value=action_key(*a) selected=*a == action_was>{*label}</option> }).collect_view()}
                    </select>
                </label>
                {text_input("Delay (s)", "rule-delay", "delay", |d| d.delay.clone(), |d, v| d.delay = v)}
                {text_input("Restore delay (s)", "rule-restore-delay", "restore_delay", |d| d.restore_delay.clone(), |d, v| d.restore_delay = v)}
                <div class="field-slot" hidden=hide_unless(is_level)>
                    {text_input("Hysteresis (empty = default)", "rule-hysteresis", "hysteresis", |d| d.hysteresis.clone(), |d, v| d.hysteresis = v)}
                </div>
            </div>
            // A notify rule switches nothing: once hydrated its outlets are
            // disabled; without the WASM they stay usable (the action can
            // change) and are left out of a notify rule (`RuleDraft::to_rule`).
            <fieldset
                class="checks"
                data-testid="rule-outlets"
                aria-describedby=move || (!dash.hydrated.get() || !switches()).then_some("rule-outlets-note")
                disabled=move || dash.hydrated.get() && !switches()
            >
                <legend>"Outlets"</legend>
                {move || outlet_numbers().into_iter().map(|(n, name)| view! {
                    <label class="check">
                        <input
                            type="checkbox"
                            name="outlets"
                            value=n.to_string()
                            data-testid=format!("rule-outlet-{n}")
                            checked=start.with_value(|d| d.outlets.contains(&n))
                            prop:checked=move || d.with(|d| d.outlets.contains(&n))
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                d.update(|d| {
                                    d.outlets.retain(|o| *o != n);
                                    if on { d.outlets.push(n); }
                                });
                            }
                        />
                        {format!("{n} {name}")}
                    </label>
                }).collect_view()}
            </fieldset>
            <p class="muted" id="rule-outlets-note" data-testid="rule-outlets-note" hidden=move || dash.hydrated.get() && switches()>
                "A notify rule switches no outlet, so none are used: it raises an alarm while the condition holds \
                 and clears it once the condition has stayed clear for the restore delay."
            </p>
            {move || {
                let days = days_fieldset(d, start);
                if condition().is_time() {
                    days.into_any()
                } else {
                    // Days gate every rule, but matter mostly for clock rules.
                    let open = d.with_untracked(|d| d.days.len() < 7);
                    view! {
                        <details class="more-days" open=open>
                            <summary>"Only on some days…"</summary>
                            {days}
                        </details>
                    }
                    .into_any()
                }
            }}
            <div class="checks">
                // A notify rule's alarm always clears: nothing to restore.
                <div class="field-slot" hidden=move || dash.hydrated.get() && !switches()>
                    {checkbox("Restore when the condition clears", "restore", |d| d.restore, |d, on| d.restore = on)}
                </div>
                {checkbox("Only once", "oneshot", |d| d.oneshot, |d, on| d.oneshot = on)}
                {checkbox("Enabled", "enabled", |d| d.enabled, |d, on| d.enabled = on)}
            </div>
            <p class="form-error" role="alert" data-testid="rule-error">{move || error().map(|e| e.to_string())}</p>
            <div class="dialog-actions">
                <a class="button secondary" role="button" href="/#rules" on:click=cancel>"Cancel"</a>
                // Without the WASM the server checks what is posted: never
                // disabled before hydration, or a refused form could not be
                // sent again.
                <button
                    type="submit"
                    name="op"
                    value="save"
                    class="primary"
                    data-testid="rule-save"
                    disabled=move || dash.hydrated.get() && (error().is_some() || save.pending().get())
                >
                    "Save rule"
                </button>
            </div>
        </form>
    }
}

/// The weekdays a rule acts on.
fn days_fieldset(d: RwSignal<RuleDraft>, start: StoredValue<RuleDraft>) -> impl IntoView {
    view! {
        <fieldset class="checks">
            <legend>"Days"</legend>
            {DAYS.iter().enumerate().map(|(i, day)| {
                let i = i as u8;
                view! {
                    <label class="check">
                        <input
                            type="checkbox"
                            name="day"
                            value=i.to_string()
                            checked=start.with_value(|d| d.days.contains(&i))
                            prop:checked=move || d.with(|d| d.days.contains(&i))
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                d.update(|d| { d.days.retain(|x| *x != i); if on { d.days.push(i); d.days.sort_unstable(); } });
                            }
                        />
                        {*day}
                    </label>
                }
            }).collect_view()}
        </fieldset>
    }
}

/// The event kinds the list can be narrowed to: (value, label).
const EVENT_KINDS: [(&str, &str); 11] = [
    ("", "All events"),
    ("outlet_command", "Outlet commands"),
    ("ats_transfer", "ATS transfers"),
    ("source_lost", "Source lost"),
    ("source_restored", "Source restored"),
    ("redundancy_lost", "Redundancy lost"),
    ("pdu_unreachable", "PDU unreachable"),
    ("pdu_recovered", "PDU recovered"),
    ("pdu_rebooted", "PDU rebooted"),
    ("triggered", "Rules triggered"),
    ("failed", "Rule failures"),
];

/// Events newest first: the live ones, then older pages from the store
/// ("Show older"); a kind chosen narrows both.
#[component]
pub fn EventList() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let kind = RwSignal::new(String::new());
    // Older pages read from the store, and where the next one starts.
    let older = RwSignal::new(Vec::<Event>::new());
    let cursor = RwSignal::new(None::<String>);
    let exhausted = RwSignal::new(false);
    let loading = RwSignal::new(false);
    let failure = RwSignal::new(None::<String>);
    let shown = Memo::new(move |_| {
        let kind = kind.get();
        // This page's PDU only (the bridge may watch several).
        let device = dash.current_id.get();
        let live: Vec<Event> = dash
            .events
            .get()
            .into_iter()
            .filter(|e| device.as_ref().is_none_or(|d| &e.device_id == d))
            .filter(|e| kind.is_empty() || e.kind == kind)
            .collect();
        let seen: Vec<i64> = live.iter().filter_map(|e| e.id).collect();
        let mut all = live;
        all.extend(older.get().into_iter().filter(|e| e.id.is_none_or(|id| !seen.contains(&id))));
        all
    });
    // One page older than what is shown.
    let load = move |reset: bool| {
        let device_id = dash.read(|s| s.device_id.to_string());
        let kind = kind.get_untracked();
        let before = if reset {
            None
        } else {
            cursor.get_untracked().or_else(|| shown.get_untracked().last().and_then(|e| e.id).map(|id| id.to_string()))
        };
        let query = EventQuery {
            device_id,
            kind: (!kind.is_empty()).then_some(kind),
            limit: Some(crate::wire::EVENTS_SHOWN as u32),
            cursor: before,
            ..Default::default()
        };
        loading.set(true);
        leptos::task::spawn_local(async move {
            match load_events(query).await {
                Ok(page) => {
                    exhausted.set(page.next_cursor.is_none());
                    cursor.set(page.next_cursor);
                    if reset {
                        older.set(page.events);
                    } else {
                        older.update(|all| all.extend(page.events));
                    }
                    failure.set(None);
                }
                Err(e) => failure.set(Some(e.to_string())),
            }
            loading.set(false);
        });
    };
    let choose = move |ev| {
        kind.set(event_target_value(&ev));
        older.set(Vec::new());
        cursor.set(None);
        exhausted.set(false);
        load(true);
    };
    let line = move |e: Event| {
        let now = dash.now_ms.get() as f64 / 1000.0;
        let who = e.rule.clone().map(|r| format!("rule “{r}”: ")).unwrap_or_default();
        let by = e.origin.clone().filter(|o| o != "rule").map(|o| format!(" (from {o})")).unwrap_or_default();
        view! {
            <li class=format!("event event-{}", e.kind)>
                <span class="event-kind">{e.kind.replace('_', " ")}</span>
                <span class="event-text">{format!("{who}{}{by}", e.details)}</span>
                <span class="muted event-age">
                    <When ms=(e.ts * 1000.0) as u64/>
                    {format!(" · {} ago", format::age((now - e.ts).max(0.0)))}
                </span>
            </li>
        }
    };
    view! {
        <section class="card events" id="events" aria-labelledby="events-title">
            <div class="card-head">
                <h2 id="events-title">"Events"</h2>
                <label class="event-filter">
                    <span>"Show"</span>
                    <select data-testid="event-kind" on:change=choose prop:value=move || kind.get()>
                        {EVENT_KINDS.map(|(value, label)| view! { <option value=value>{label}</option> })}
                    </select>
                </label>
            </div>
            <Show when=move || shown.with(Vec::is_empty) && !loading.get()>
                <p class="muted">"Nothing has happened yet."</p>
            </Show>
            <ul class="event-list" data-testid="events">{move || shown.get().into_iter().map(line).collect_view()}</ul>
            <p class="error" role="alert">{move || failure.get()}</p>
            <Show when=move || !exhausted.get() && !shown.with(Vec::is_empty)>
                <button type="button" data-testid="older-events" disabled=move || loading.get() on:click=move |_| load(false)>
                    "Show older events"
                </button>
            </Show>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parse_rules;

    fn rule(json: &str) -> Rule {
        parse_rules(&format!("[{json}]"), Some(10)).unwrap().remove(0)
    }

    #[test]
    fn a_rule_reads_as_what_it_switches_or_the_alarm_it_raises() {
        let shed = rule(
            r#"{"name":"shed","condition":"voltage_below","input":1,"threshold":108,"outlet":[5,9],"action":"off",
                "delay":10,"restore_delay":30}"#,
        );
        assert_eq!(
            describe(&shed),
            "Source A voltage below 108 V for 10 s → turn off outlets 5, 9; restore after 30 s"
        );
        let hot = rule(
            r#"{"name":"hot","condition":"temperature_above","threshold":35,"action":"notify","delay":60,
                "restore_delay":30,"restore":false}"#,
        );
        assert_eq!(
            describe(&hot),
            "Raise an alarm when temperature above 35 °C for 60 s; it clears once the condition has been clear for 30 s"
        );
        let brownout = rule(
            r#"{"name":"low","condition":"voltage_below","input":2,"threshold":100,"action":"notify","delay":0,
                "schedule_type":"oneshot"}"#,
        );
        assert_eq!(
            describe(&brownout),
            "Raise an alarm when source B voltage below 100 V for 0 s; it clears when the condition clears; once"
        );
        let night = rule(r#"{"name":"night","condition":"time_between","threshold":"22:00-06:00","action":"notify"}"#);
        assert_eq!(describe(&night), "Raise an alarm between 22:00-06:00 for 5 s; it clears when the condition clears");
    }
}
