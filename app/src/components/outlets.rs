//! Outlet tiles and the confirmation that stands between a click and a
//! switched server.
//!
//! A click never switches anything by itself: it opens a confirmation that
//! names the outlet and what happens to its load. Every button is a real
//! form button: before the WASM has hydrated the page (or without it), the
//! click posts to the server, which answers with the same confirmation
//! rendered on the page, so no click is lost. Once hydrated, the page
//! handles the click itself. The tile shows "pending" while the command is
//! under way or the PDU reports one, and afterwards the state the PDU
//! confirmed. While the PDU is unreachable, or the page has lost the bridge,
//! the buttons are off and say why; so they are for a role that may not
//! switch (a viewer). A protected outlet goes off only for an admin, who is
//! asked a second time, with the outlet's load, before `confirm_protected`
//! is sent; the server refuses everyone else whatever the page shows.

use super::dialog::ConfirmDialog;
use super::FreshnessNote;
use crate::access::Role;
use crate::api::OutletCommand;
use crate::format;
use crate::model::{Outlet, OutletAction, OutletState, PduSnapshot};
use crate::state::{outlet_outcome, Dashboard, Trust};
use crate::wire::{OutletRequest, OUTLET_FORM_PATH};
use leptos::prelude::*;

fn outlet(s: &PduSnapshot, number: u32) -> Option<&Outlet> {
    s.outlet(number)
}

/// What the last command did, kept as facts so the words follow the live
/// state (a reboot's "comes back on" turns into "on again" when it has).
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Done {
        outlet: u32,
        action: OutletAction,
        state: OutletState,
        pending: bool,
    },
    Failed(String),
    /// Words a form post's redirect brought.
    Said {
        ok: bool,
        text: String,
    },
}

/// Shared by the tiles and the dialog.
#[derive(Clone, Copy)]
struct Commands {
    proposal: RwSignal<Option<OutletRequest>>,
    /// The proposal is for a protected outlet and the admin has said yes
    /// once: the dialog now asks the second time.
    second_step: RwSignal<bool>,
    action: ServerAction<OutletCommand>,
    outcome: RwSignal<Option<Outcome>>,
}

impl Commands {
    /// The outlet whose command is on its way to the PDU.
    fn in_flight(&self) -> Option<u32> {
        if self.action.pending().get() {
            self.action.input().with(|i| i.as_ref().map(|c| c.outlet))
        } else {
            None
        }
    }
}

/// Whether outlet `n` of the PDU on screen is protected.
fn is_protected(dash: &Dashboard, n: u32) -> bool {
    dash.current_id.get().and_then(|id| dash.info(&id)).is_some_and(|p| p.protected.contains(&n))
}

/// Why a protected outlet's power-cutting buttons are off for this caller.
const PROTECTED_REASON: &str = "Protected: only an admin may switch it off.";

/// Why the buttons are off, if they are.
fn locked_reason(trust: &Trust) -> Option<&'static str> {
    match trust {
        Trust::NoLink { .. } => Some("Switching is off: this page has lost its link to the bridge."),
        Trust::Unreachable { .. } => Some("Switching is off: the PDU does not answer."),
        _ => None,
    }
}

/// The button's visible word and its full name for assistive technology
/// ("Switch off outlet 7 Modem").
fn words(action: OutletAction) -> (&'static str, &'static str) {
    match action {
        OutletAction::On => ("On", "Switch on"),
        OutletAction::Off => ("Off", "Switch off"),
        OutletAction::Reboot => ("Reboot", "Reboot"),
        OutletAction::DelayOn => ("Delayed on", "Delayed on:"),
        OutletAction::DelayOff => ("Delayed off", "Delayed off:"),
        OutletAction::DelayReboot => ("Delayed reboot", "Delayed reboot:"),
        OutletAction::Cancel => ("Cancel pending", "Cancel the pending command of"),
    }
}

#[component]
pub fn OutletGrid() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let outcome =
        dash.outcome.get_value().filter(|o| o.panel == "outlet").map(|o| Outcome::Said { ok: o.ok, text: o.text });
    let commands = Commands {
        proposal: RwSignal::new(dash.confirm.get_value()),
        second_step: RwSignal::new(false),
        action: ServerAction::<OutletCommand>::new(),
        outcome: RwSignal::new(outcome),
    };
    provide_context(commands);

    // The answer carries the confirmed state: show it at once rather than
    // waiting for the next pushed snapshot. Only the answer is tracked: were
    // the snapshot tracked too, every pushed snapshot would re-apply this
    // (by then old) answer and pin the tile to it.
    Effect::new(move |_| {
        let Some(result) = commands.action.value().get() else { return };
        untrack(move || match result {
            Ok(done) => {
                dash.snapshots.update(|all| {
                    if let Some(o) = all
                        .iter_mut()
                        .find(|s| s.device_id == done.device_id)
                        .and_then(|s| s.outlets.iter_mut().find(|o| o.number == done.outlet))
                    {
                        o.state = done.state;
                        o.pending = done.pending;
                    }
                });
                commands.outcome.set(Some(Outcome::Done {
                    outlet: done.outlet,
                    action: done.command,
                    state: done.state,
                    pending: done.pending,
                }));
            }
            Err(e) => {
                commands.outcome.set(Some(Outcome::Failed(format!("Command not carried out: {}", dash.explain(&e)))))
            }
        });
    });

    let message = move || {
        let outcome = commands.outcome.get()?;
        Some(match outcome {
            Outcome::Done { outlet: n, action, state, pending } => {
                let live = dash.read(|s| outlet(s, n).map(|o| (o.name.clone(), o.state, o.pending))).flatten();
                let (name, now_state, now_pending) = live.unwrap_or((String::new(), state, pending));
                let text = if pending && !now_pending {
                    // The PDU has finished what was pending: say how it ended.
                    match action {
                        OutletAction::Reboot | OutletAction::DelayReboot => {
                            format!("Outlet {n} “{name}” has rebooted and is {} again.", now_state.label())
                        }
                        _ => format!("Outlet {n} “{name}” is {} now.", now_state.label()),
                    }
                } else {
                    outlet_outcome(n, &name, action, state, pending)
                };
                (false, format!("{text} Confirmed by the PDU."))
            }
            Outcome::Failed(text) => (true, text),
            Outcome::Said { ok, text } => (!ok, text),
        })
    };
    let numbers = move || dash.read(|s| s.outlets.iter().map(|o| o.number).collect::<Vec<_>>()).unwrap_or_default();
    let locked = move || locked_reason(&dash.trust());
    let role_reason = dash.refusal(Role::Operator, "switch outlets");
    view! {
        <section class="card outlets" id="outlets" aria-labelledby="outlets-title">
            <h2 id="outlets-title">"Outlets"</h2>
            <FreshnessNote/>
            <p class="locked-reason" id="outlets-locked" hidden=move || locked().is_none()>{move || locked().unwrap_or_default()}</p>
            {role_reason.map(|why| view! {
                <p class="role-reason" id="outlets-role" data-testid="outlets-role">
                    <span aria-hidden="true">"ℹ "</span>{why}
                </p>
            })}
            <p class="toast" role="status" aria-live="polite" data-testid="command-message">
                {move || message().map(|(is_error, text)| {
                    view! { <span class=if is_error { "error" } else { "ok" }>{text}</span> }
                })}
            </p>
            <div class="outlet-grid">
                <For each=numbers key=|n| *n children=move |n| view! { <OutletTile number=n/> }/>
            </div>
            <OutletConfirm/>
        </section>
    }
}

#[component]
fn OutletTile(number: u32) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let commands = expect_context::<Commands>();
    let field =
        move |f: fn(&Outlet) -> String| dash.text(move |s| outlet(s, number).map(f).unwrap_or_else(|| "—".to_owned()));
    let name = field(|o| o.name.clone());
    let state = move || dash.read(|s| outlet(s, number).map(|o| o.state)).flatten();
    let busy = move || commands.in_flight() == Some(number);
    let frozen = move || dash.trust().frozen();
    let may_switch = dash.may(Role::Operator);
    let admin = dash.may(Role::Admin);
    let protected = move || is_protected(&dash, number);
    // Why a button is off for this caller, as the id of the words that say so.
    let refused = move |action: OutletAction| {
        if !may_switch {
            Some("outlets-role".to_owned())
        } else if action.cuts_power() && !admin && protected() {
            Some(format!("outlet-{number}-protected"))
        } else {
            None
        }
    };
    let pending = move || busy() || dash.read(|s| outlet(s, number).map(|o| o.pending)).flatten().unwrap_or(false);
    let class = move || {
        format!(
            "tile {}{}{}",
            state().map(OutletState::label).unwrap_or("unknown"),
            if pending() { " pending" } else { "" },
            if frozen() { " frozen" } else { "" }
        )
    };
    let state_text = move || match state() {
        Some(OutletState::On) => "● ON",
        Some(OutletState::Off) => "○ OFF",
        None => "? unknown",
    };
    let device = move || dash.current_id.get().map(|d| d.to_string()).unwrap_or_default();
    let propose = move |action: OutletAction| {
        if let Some(device_id) = dash.current_id.get_untracked() {
            commands.proposal.set(Some(OutletRequest { device_id, outlet: number, action }));
        }
    };
    let button = move |action: OutletAction| {
        let (word, verb) = words(action);
        let label = move || format!("{verb} outlet {number} {}", name());
        view! {
            <button
                type="submit"
                name="action"
                value=action.as_str()
                class=format!("cmd cmd-{}", action.as_str())
                aria-label=label
                aria-describedby=move || refused(action).or_else(|| frozen().then(|| "outlets-locked".to_owned()))
                // Busy stays focusable (focus comes back here after the
                // dialog); unreachable is a real `disabled`, with its reason.
                aria-disabled=move || busy().then_some("true")
                disabled=move || frozen() || refused(action).is_some()
                on:click=move |ev| {
                    ev.prevent_default();
                    if !busy() {
                        propose(action);
                    }
                }
            >
                {word}
            </button>
        }
    };
    // The same form before hydration (the server asks to confirm) and after.
    let form = move |actions: &[OutletAction]| {
        let buttons = actions.iter().map(|a| button(*a)).collect_view();
        view! {
            <form class="tile-actions" method="post" action=OUTLET_FORM_PATH>
                <input type="hidden" name="device_id" value=device/>
                <input type="hidden" name="o" value=number/>
                {buttons}
            </form>
        }
    };
    view! {
        <article class=class data-testid=format!("outlet-{number}") aria-labelledby=format!("outlet-{number}-name") id=format!("outlet-{number}")>
            <header class="tile-head">
                <span class="outlet-no" aria-hidden="true">{number}</span>
                <h3 id=format!("outlet-{number}-name")>
                    <span class="visually-hidden">"Outlet " {number} ": "</span>
                    {name}
                </h3>
                <span class="state-badge" data-testid="state">{state_text}</span>
            </header>
            {may_switch.then(|| view! {
                <super::rename::OutletRename
                    number
                    name=Signal::derive(name)
                    on_done=Callback::new(move |text| commands.outcome.set(Some(Outcome::Said { ok: true, text })))
                />
            })}
            <Show when=protected>
                <p class="protected-badge" data-testid="protected">
                    <span aria-hidden="true">"⚑ "</span>
                    "Protected"
                </p>
                {(!admin && may_switch).then(|| view! {
                    <p class="protected-note" id=format!("outlet-{number}-protected")>{PROTECTED_REASON}</p>
                })}
            </Show>
            <p class="last-known" data-testid="last-known" hidden=move || !frozen()>"Last known state"</p>
            <p class="pending-note" hidden=move || !pending()>"pending…"</p>
            <dl class="readings">
                <dt>"Current"</dt>
                <dd data-testid="current">{field(|o| format::reading(o.current, 1, "A"))}</dd>
                <dt>"Power"</dt>
                <dd data-testid="power">{field(|o| format::reading(o.power, 0, "W"))}</dd>
                <dt>"Energy"</dt>
                <dd>{field(|o| format::reading(o.energy_kwh, 1, "kWh"))}</dd>
            </dl>
            {form(&[OutletAction::On, OutletAction::Off, OutletAction::Reboot])}
            <details class="more">
                <summary>"Delayed…"</summary>
                <p class="muted small" data-testid="delays">{field(delays_note)}</p>
                {form(&[OutletAction::DelayOn, OutletAction::DelayOff, OutletAction::DelayReboot, OutletAction::Cancel])}
            </details>
        </article>
    }
}

/// An outlet's delays as the PDU reported them (seconds; `None` unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Delays {
    on: Option<u32>,
    off: Option<u32>,
    reboot: Option<u32>,
}

impl Delays {
    fn of(o: &Outlet) -> Self {
        Self { on: o.on_delay_s, off: o.off_delay_s, reboot: o.reboot_s }
    }
}

/// Where the PDU keeps the delay, for when it did not tell us.
const SET_ON_THE_PDU: &str = "the delay set on the PDU";

/// `15` → `"15 s"`, `120` → `"2 min"`, `7200` → `"2 h"`.
fn seconds(s: u32) -> String {
    match s {
        s if s >= 3600 && s % 3600 == 0 => format!("{} h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// "after its 15 s delay", or "after the delay set on the PDU".
fn after_its(delay: Option<u32>) -> String {
    delay.map(|s| format!("after its {} delay", seconds(s))).unwrap_or_else(|| format!("after {SET_ON_THE_PDU}"))
}

/// "after 10 s", or "after the delay set on the PDU".
fn after(delay: Option<u32>) -> String {
    format!("after {}", delay.map(seconds).unwrap_or_else(|| SET_ON_THE_PDU.to_owned()))
}

/// The tile's note under "Delayed…": what each delayed button waits.
fn delays_note(o: &Outlet) -> String {
    let d = Delays::of(o);
    if d == Delays::default() {
        return "After the delays set on the PDU for this outlet.".to_owned();
    }
    let known = |v: Option<u32>| v.map(seconds).unwrap_or_else(|| "the PDU's delay".to_owned());
    format!("On after {}, off after {}; a reboot is off for {}.", known(d.on), known(d.off), known(d.reboot))
}

/// "Turn off outlet 7 “Modem” after its 15 s delay?" — and what that does
/// to its load, with the delays the PDU reported for the outlet.
fn question(p: &OutletRequest, name: &str, delays: Delays) -> (String, String, String) {
    let who = format!("outlet {} “{name}”", p.outlet);
    let (title, confirm) = match p.action {
        OutletAction::On => (format!("Turn on {who}?"), format!("Turn on “{name}”")),
        OutletAction::Off => (format!("Turn off {who}?"), format!("Turn off “{name}”")),
        OutletAction::Reboot => {
            (format!("Reboot {who}: off now, on again {}?", after(delays.reboot)), format!("Reboot “{name}”"))
        }
        OutletAction::DelayOn => {
            (format!("Turn on {who} {}?", after_its(delays.on)), format!("Turn on “{name}” later"))
        }
        OutletAction::DelayOff => {
            (format!("Turn off {who} {}?", after_its(delays.off)), format!("Turn off “{name}” later"))
        }
        OutletAction::DelayReboot => {
            let on_again = match delays.reboot {
                Some(s) => format!("{} later", seconds(s)),
                None => after(None),
            };
            (
                format!("Reboot {who}: off {}, on again {on_again}?", after_its(delays.off)),
                format!("Reboot “{name}” later"),
            )
        }
        OutletAction::Cancel => (format!("Cancel the pending command of {who}?"), "Cancel the command".to_owned()),
    };
    let body = match p.action {
        OutletAction::Off | OutletAction::DelayOff => {
            format!("Everything plugged into outlet {} (“{name}”) will lose power.", p.outlet)
        }
        OutletAction::Reboot | OutletAction::DelayReboot => format!(
            "Everything plugged into outlet {} (“{name}”) will lose power, then get it back {}.",
            p.outlet,
            after(delays.reboot)
        ),
        OutletAction::On | OutletAction::DelayOn => format!("Outlet {} (“{name}”) will be switched on.", p.outlet),
        OutletAction::Cancel => format!("Outlet {} (“{name}”) stays as it is now.", p.outlet),
    };
    (title, body, confirm)
}

/// The second question for a protected outlet, naming it and its load:
/// "Outlet 3 “Router” is protected and draws 45 W. Switch it off anyway?"
fn protected_question(p: &OutletRequest, name: &str, load: &str) -> (String, String, String) {
    let draws = if load == "—" { "its load is not known".to_owned() } else { format!("draws {load}") };
    let (ask, label) = match p.action {
        OutletAction::Reboot => ("Reboot it anyway?", format!("Reboot “{name}” anyway")),
        OutletAction::DelayReboot => ("Reboot it after its delay anyway?", format!("Reboot “{name}” later anyway")),
        OutletAction::DelayOff => ("Switch it off after its delay anyway?", format!("Turn off “{name}” later anyway")),
        _ => ("Switch it off anyway?", format!("Turn off “{name}” anyway")),
    };
    let title = format!("Outlet {} “{name}” is protected and {draws}. {ask}", p.outlet);
    let body =
        "It is protected so that it is not switched off by mistake: what it feeds may keep other things running."
            .to_owned();
    (title, body, label)
}

#[component]
fn OutletConfirm() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let commands = expect_context::<Commands>();
    let proposal = commands.proposal;
    let second = commands.second_step;
    let facts = move |p: &OutletRequest| {
        dash.read(|s| outlet(s, p.outlet).map(|o| (o.name.clone(), format::reading(o.power, 0, "W"), Delays::of(o))))
            .flatten()
            .unwrap_or_else(|| (String::new(), "—".to_owned(), Delays::default()))
    };
    // Only an admin is asked the second time: for anyone else the buttons
    // are off, and the server refuses without `confirm_protected`.
    let needs_second = move |p: &OutletRequest| {
        p.action.cuts_power()
            && dash.may(Role::Admin)
            && dash.info(&p.device_id).is_some_and(|i| i.protected.contains(&p.outlet))
    };
    let words = move || {
        proposal.with(|p| {
            p.as_ref().map(|p| {
                let (name, load, delays) = facts(p);
                if second.get() {
                    protected_question(p, &name, &load)
                } else {
                    question(p, &name, delays)
                }
            })
        })
    };
    let title = Signal::derive(move || words().map(|w| w.0).unwrap_or_default());
    let body = Signal::derive(move || words().map(|w| w.1).unwrap_or_default());
    let confirm_label = Signal::derive(move || words().map(|w| w.2).unwrap_or_default());
    let danger = Signal::derive(move || proposal.with(|p| p.as_ref().is_some_and(|p| p.action.cuts_power())));
    let open = Signal::derive(move || proposal.with(Option::is_some));
    let step = Signal::derive(move || u8::from(second.get()));
    let cancel = Callback::new(move |_| {
        proposal.set(None);
        second.set(false);
        forget_form_url();
    });
    let confirm = Callback::new(move |_| {
        let Some(p) = proposal.get_untracked() else { return };
        if needs_second(&p) && !second.get_untracked() {
            second.set(true);
            return;
        }
        let confirm_protected = second.get_untracked();
        proposal.set(None);
        second.set(false);
        forget_form_url();
        commands.outcome.set(None);
        commands.action.dispatch(OutletCommand {
            device_id: p.device_id.to_string(),
            outlet: p.outlet,
            action: p.action,
            confirm_protected,
        });
    });
    // Before hydration the confirmation is the server's page: its buttons
    // post (confirm) or go back (cancel). A protected outlet's asks both
    // questions at once, and only an admin's form says `confirm_protected`.
    let server_confirm = dash.confirm.get_value();
    view! {
        {server_confirm.map(|p| {
            let (name, load, delays) = facts(&p);
            let (title, body, label) = question(&p, &name, delays);
            let protected = needs_second(&p).then(|| protected_question(&p, &name, &load));
            let label = protected.as_ref().map(|q| q.2.clone()).unwrap_or(label);
            // Once hydrated, the modal dialog takes over.
            let hidden = move || dash.hydrated.get();
            view! {
                <div class="server-confirm" role="alertdialog" aria-labelledby="server-confirm-title" aria-describedby="server-confirm-body" hidden=hidden data-testid="server-confirm">
                    <h2 id="server-confirm-title">{title}</h2>
                    <div id="server-confirm-body">
                        <p>{body}</p>
                        {protected.as_ref().map(|q| view! {
                            <p class="protected-question" data-testid="protected-question">
                                <span aria-hidden="true">"⚑ "</span>
                                <strong>{q.0.clone()}</strong>
                                " "
                                {q.1.clone()}
                            </p>
                        })}
                    </div>
                    <form class="dialog-actions" method="post" action=OUTLET_FORM_PATH>
                        <input type="hidden" name="device_id" value=p.device_id.to_string()/>
                        <input type="hidden" name="o" value=p.outlet/>
                        <input type="hidden" name="action" value=p.action.as_str()/>
                        <input type="hidden" name="confirmed" value="1"/>
                        {protected.is_some().then(|| view! { <input type="hidden" name="confirm_protected" value="1"/> })}
                        <a class="button secondary" href=format!("/#outlet-{}", p.outlet)>"Cancel"</a>
                        <button type="submit" class=if p.action.cuts_power() { "danger" } else { "primary" }>{label}</button>
                    </form>
                </div>
            }
        })}
        <ConfirmDialog
            open
            title
            body
            confirm_label
            danger
            step
            on_confirm=confirm
            on_cancel=cancel
            id="confirm"
            testid="confirm-dialog"
        />
    }
}

/// Drop `?confirm=…` / `?done=…` from the address once the page has dealt
/// with it, so a reload does not ask again.
pub(super) fn forget_form_url() {
    #[cfg(feature = "hydrate")]
    {
        let location = window().location();
        let search = location.search().unwrap_or_default();
        if ["confirm=", "done=", "failed=", "editor="].iter().any(|k| search.contains(k)) {
            let kept: Vec<&str> = search
                .trim_start_matches('?')
                .split('&')
                .filter(|kv| kv.starts_with("range=") || kv.starts_with("outlet="))
                .collect();
            // The page stays the one it is (a PDU's own page, or `/`).
            let path = location.pathname().unwrap_or_else(|_| "/".into());
            let url = if kept.is_empty() { path } else { format!("{path}?{}", kept.join("&")) };
            if let Ok(history) = window().history() {
                let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DeviceId;

    #[test]
    fn a_protected_outlet_is_named_with_its_load_the_second_time() {
        let p = OutletRequest { device_id: DeviceId::parse("pdu44001").unwrap(), outlet: 3, action: OutletAction::Off };
        let (title, _, label) = protected_question(&p, "Router", "45 W");
        assert_eq!(title, "Outlet 3 “Router” is protected and draws 45 W. Switch it off anyway?");
        assert_eq!(label, "Turn off “Router” anyway");
        let reboot = OutletRequest { action: OutletAction::Reboot, ..p };
        assert!(protected_question(&reboot, "Router", "—").0.contains("its load is not known. Reboot it anyway?"));
    }

    #[test]
    fn the_confirmation_names_the_delays_the_pdu_reported() {
        let p = OutletRequest {
            device_id: DeviceId::parse("pdu44001").unwrap(),
            outlet: 7,
            action: OutletAction::DelayOff,
        };
        let known = Delays { on: Some(120), off: Some(15), reboot: Some(10) };
        let ask = |action, delays| question(&OutletRequest { action, ..p.clone() }, "Modem", delays);
        assert_eq!(ask(OutletAction::DelayOff, known).0, "Turn off outlet 7 “Modem” after its 15 s delay?");
        assert_eq!(ask(OutletAction::DelayOn, known).0, "Turn on outlet 7 “Modem” after its 2 min delay?");
        let (title, body, _) = ask(OutletAction::Reboot, known);
        assert_eq!(title, "Reboot outlet 7 “Modem”: off now, on again after 10 s?");
        assert!(body.ends_with("will lose power, then get it back after 10 s."), "{body}");
        assert_eq!(
            ask(OutletAction::DelayReboot, known).0,
            "Reboot outlet 7 “Modem”: off after its 15 s delay, on again 10 s later?"
        );
        assert_eq!(ask(OutletAction::Off, known).0, "Turn off outlet 7 “Modem”?");

        let unknown = Delays::default();
        assert_eq!(ask(OutletAction::DelayOff, unknown).0, "Turn off outlet 7 “Modem” after the delay set on the PDU?");
        assert_eq!(
            ask(OutletAction::Reboot, unknown).0,
            "Reboot outlet 7 “Modem”: off now, on again after the delay set on the PDU?"
        );
        assert_eq!(
            ask(OutletAction::DelayReboot, unknown).0,
            "Reboot outlet 7 “Modem”: off after the delay set on the PDU, on again after the delay set on the PDU?"
        );
    }
}
