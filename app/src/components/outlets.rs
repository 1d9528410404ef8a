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
//! the buttons are off and say why.

use super::dialog::ConfirmDialog;
use super::FreshnessNote;
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
            Err(e) => commands.outcome.set(Some(Outcome::Failed(format!("Command not carried out: {e}")))),
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
    view! {
        <section class="card outlets" id="outlets" aria-labelledby="outlets-title">
            <h2 id="outlets-title">"Outlets"</h2>
            <FreshnessNote/>
            <p class="locked-reason" id="outlets-locked" hidden=move || locked().is_none()>{move || locked().unwrap_or_default()}</p>
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
                aria-describedby=move || frozen().then_some("outlets-locked")
                // Busy stays focusable (focus comes back here after the
                // dialog); unreachable is a real `disabled`, with its reason.
                aria-disabled=move || busy().then_some("true")
                disabled=frozen
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
                <p class="muted small">"After the delay set on the PDU for this outlet."</p>
                {form(&[OutletAction::DelayOn, OutletAction::DelayOff, OutletAction::DelayReboot, OutletAction::Cancel])}
            </details>
        </article>
    }
}

/// "Turn off outlet 3 “NAS”?" — and what that does to its load.
fn question(p: &OutletRequest, name: &str) -> (String, String, String) {
    let who = format!("outlet {} “{name}”", p.outlet);
    let (title, confirm) = match p.action {
        OutletAction::On => (format!("Turn on {who}?"), format!("Turn on “{name}”")),
        OutletAction::Off => (format!("Turn off {who}?"), format!("Turn off “{name}”")),
        OutletAction::Reboot => (format!("Reboot {who}?"), format!("Reboot “{name}”")),
        OutletAction::DelayOn => (format!("Turn on {who} after its delay?"), format!("Turn on “{name}” later")),
        OutletAction::DelayOff => (format!("Turn off {who} after its delay?"), format!("Turn off “{name}” later")),
        OutletAction::DelayReboot => (format!("Reboot {who} after its delay?"), format!("Reboot “{name}” later")),
        OutletAction::Cancel => (format!("Cancel the pending command of {who}?"), "Cancel the command".to_owned()),
    };
    let body = match p.action {
        OutletAction::Off | OutletAction::DelayOff => {
            format!("Everything plugged into outlet {} (“{name}”) will lose power.", p.outlet)
        }
        OutletAction::Reboot | OutletAction::DelayReboot => format!(
            "Everything plugged into outlet {} (“{name}”) will lose power, then get it back after the reboot time set on the PDU.",
            p.outlet
        ),
        OutletAction::On | OutletAction::DelayOn => format!("Outlet {} (“{name}”) will be switched on.", p.outlet),
        OutletAction::Cancel => format!("Outlet {} (“{name}”) stays as it is now.", p.outlet),
    };
    let body = if matches!(p.action, OutletAction::DelayOn | OutletAction::DelayOff | OutletAction::DelayReboot) {
        format!("{body} The delay is the one set on the PDU for this outlet.")
    } else {
        body
    };
    (title, body, confirm)
}

#[component]
fn OutletConfirm() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let commands = expect_context::<Commands>();
    let proposal = commands.proposal;
    let words = move || {
        proposal.with(|p| {
            p.as_ref().map(|p| {
                let name = dash.read(|s| outlet(s, p.outlet).map(|o| o.name.clone())).flatten().unwrap_or_default();
                question(p, &name)
            })
        })
    };
    let title = Signal::derive(move || words().map(|w| w.0).unwrap_or_default());
    let body = Signal::derive(move || words().map(|w| w.1).unwrap_or_default());
    let confirm_label = Signal::derive(move || words().map(|w| w.2).unwrap_or_default());
    let danger = Signal::derive(move || proposal.with(|p| p.as_ref().is_some_and(|p| p.action.cuts_power())));
    let open = Signal::derive(move || proposal.with(Option::is_some));
    let cancel = Callback::new(move |_| {
        proposal.set(None);
        forget_form_url();
    });
    let confirm = Callback::new(move |_| {
        let Some(p) = proposal.get_untracked() else { return };
        proposal.set(None);
        forget_form_url();
        commands.outcome.set(None);
        commands.action.dispatch(OutletCommand {
            device_id: p.device_id.to_string(),
            outlet: p.outlet,
            action: p.action,
        });
    });
    // Before hydration the confirmation is the server's page: its buttons
    // post (confirm) or go back (cancel).
    let server_confirm = dash.confirm.get_value();
    view! {
        {server_confirm.map(|p| {
            let name = dash.read(|s| outlet(s, p.outlet).map(|o| o.name.clone())).flatten().unwrap_or_default();
            let (title, body, label) = question(&p, &name);
            // Once hydrated, the modal dialog takes over.
            let hidden = move || dash.hydrated.get();
            view! {
                <div class="server-confirm" role="alertdialog" aria-labelledby="server-confirm-title" hidden=hidden data-testid="server-confirm">
                    <h2 id="server-confirm-title">{title}</h2>
                    <p>{body}</p>
                    <form class="dialog-actions" method="post" action=OUTLET_FORM_PATH>
                        <input type="hidden" name="device_id" value=p.device_id.to_string()/>
                        <input type="hidden" name="o" value=p.outlet/>
                        <input type="hidden" name="action" value=p.action.as_str()/>
                        <input type="hidden" name="confirmed" value="1"/>
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
        if ["confirm=", "done=", "failed="].iter().any(|k| search.contains(k)) {
            let kept: Vec<&str> = search
                .trim_start_matches('?')
                .split('&')
                .filter(|kv| kv.starts_with("range=") || kv.starts_with("outlet="))
                .collect();
            let url = if kept.is_empty() { "/".to_owned() } else { format!("/?{}", kept.join("&")) };
            if let Ok(history) = window().history() {
                let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
            }
        }
    }
}
