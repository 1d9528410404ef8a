//! Outlet tiles and the confirmation that stands between a click and a
//! switched server.
//!
//! A click never switches anything by itself: it opens a confirmation that
//! names the outlet and what happens to its load. The tile shows "pending"
//! while the command is under way or the PDU reports one, and afterwards the
//! state the PDU confirmed.

use crate::api::OutletCommand;
use crate::format;
use crate::model::{Outlet, OutletAction, OutletState, PduSnapshot};
use crate::state::Dashboard;
use leptos::prelude::*;

fn outlet(s: &PduSnapshot, number: u32) -> Option<&Outlet> {
    s.outlet(number)
}

/// A command the user has asked for but not yet confirmed.
#[derive(Clone, Debug, PartialEq)]
struct Proposal {
    outlet: u32,
    name: String,
    action: OutletAction,
}

/// Shared by the tiles and the dialog.
#[derive(Clone, Copy)]
struct Commands {
    proposal: RwSignal<Option<Proposal>>,
    action: ServerAction<OutletCommand>,
    /// The last outcome in words; `true` for an error.
    message: RwSignal<Option<(bool, String)>>,
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

#[component]
pub fn OutletGrid() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let commands = Commands {
        proposal: RwSignal::new(None),
        action: ServerAction::<OutletCommand>::new(),
        message: RwSignal::new(None),
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
                let name = dash.read(|s| outlet(s, done.outlet).map(|o| o.name.clone())).flatten().unwrap_or_default();
                let pending = if done.pending { ", command pending" } else { "" };
                commands.message.set(Some((
                    false,
                    format!(
                        "Outlet {} “{name}” is {}{pending} (confirmed by the PDU).",
                        done.outlet,
                        done.state.label()
                    ),
                )));
            }
            Err(e) => commands.message.set(Some((true, format!("Command failed: {e}")))),
        });
    });

    let numbers = move || dash.read(|s| s.outlets.iter().map(|o| o.number).collect::<Vec<_>>()).unwrap_or_default();
    view! {
        <section class="card outlets" aria-labelledby="outlets-title">
            <h2 id="outlets-title">"Outlets"</h2>
            <p class="toast" role="status" aria-live="polite" data-testid="command-message">
                {move || commands.message.get().map(|(is_error, text)| {
                    view! { <span class=if is_error { "error" } else { "ok" }>{text}</span> }
                })}
            </p>
            <div class="outlet-grid">
                <For each=numbers key=|n| *n children=move |n| view! { <OutletTile number=n/> }/>
            </div>
            <ConfirmDialog/>
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
    let pending = move || busy() || dash.read(|s| outlet(s, number).map(|o| o.pending)).flatten().unwrap_or(false);
    let class = move || {
        format!(
            "tile {}{}",
            state().map(OutletState::label).unwrap_or("unknown"),
            if pending() { " pending" } else { "" }
        )
    };
    let state_text = move || match state() {
        Some(OutletState::On) => "● ON",
        Some(OutletState::Off) => "○ OFF",
        None => "? unknown",
    };
    let propose = move |action: OutletAction| {
        commands.proposal.set(Some(Proposal { outlet: number, name: name(), action }));
    };
    let button = move |action: OutletAction, label: &'static str| {
        view! {
            <button
                type="button"
                class=format!("cmd cmd-{}", action.as_str())
                disabled=busy
                on:click=move |_| propose(action)
            >
                {label}
            </button>
        }
    };
    view! {
        <article class=class data-testid=format!("outlet-{number}") aria-labelledby=format!("outlet-{number}-name")>
            <header class="tile-head">
                <span class="outlet-no" aria-hidden="true">{number}</span>
                <h3 id=format!("outlet-{number}-name")>
                    <span class="visually-hidden">"Outlet " {number} ": "</span>
                    {name}
                </h3>
                <span class="state-badge" data-testid="state">{state_text}</span>
            </header>
            <p class="pending-note" hidden=move || !pending()>"pending…"</p>
            <dl class="readings">
                <dt>"Current"</dt>
                <dd data-testid="current">{field(|o| format::reading(o.current, 1, "A"))}</dd>
                <dt>"Power"</dt>
                <dd data-testid="power">{field(|o| format::reading(o.power, 0, "W"))}</dd>
                <dt>"Energy"</dt>
                <dd>{field(|o| format::reading(o.energy_kwh, 1, "kWh"))}</dd>
            </dl>
            <div class="tile-actions">
                {button(OutletAction::On, "On")}
                {button(OutletAction::Off, "Off")}
                {button(OutletAction::Reboot, "Reboot")}
            </div>
            <details class="more">
                <summary>"Delayed…"</summary>
                <div class="tile-actions">
                    {button(OutletAction::DelayOn, "Delayed on")}
                    {button(OutletAction::DelayOff, "Delayed off")}
                    {button(OutletAction::DelayReboot, "Delayed reboot")}
                    {button(OutletAction::Cancel, "Cancel pending")}
                </div>
            </details>
        </article>
    }
}

#[component]
fn ConfirmDialog() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let commands = expect_context::<Commands>();
    let proposal = commands.proposal;
    let read = move |f: fn(&Proposal) -> String| move || proposal.with(|p| p.as_ref().map(f).unwrap_or_default());
    let title = read(|p| format!("{} outlet {} “{}”?", capitalise(p.action.verb()), p.outlet, p.name));
    let body = read(|p| {
        if p.action.cuts_power() {
            format!("Everything plugged into outlet {} (“{}”) will lose power.", p.outlet, p.name)
        } else {
            format!("Outlet {} (“{}”) will {}.", p.outlet, p.name, p.action.as_str())
        }
    });
    let confirm_label = read(|p| format!("{} “{}”", capitalise(p.action.verb()), p.name));
    let confirm_class = move || {
        if proposal.with(|p| p.as_ref().is_some_and(|p| p.action.cuts_power())) {
            "danger"
        } else {
            "primary"
        }
    };
    let cancel = move || proposal.set(None);
    let confirm = move || {
        let Some(p) = proposal.get_untracked() else { return };
        let Some(device_id) = dash.read(|s| s.device_id.to_string()) else { return };
        proposal.set(None);
        commands.message.set(None);
        commands.action.dispatch(OutletCommand { device_id, outlet: p.outlet, action: p.action });
    };
    let cancel_button = NodeRef::<leptos::html::Button>::new();
    // Keyboard users land on the safe choice.
    Effect::new(move |_| {
        if proposal.with(Option::is_some) {
            if let Some(button) = cancel_button.get() {
                let _ = button.focus();
            }
        }
    });
    view! {
        <Show when=move || proposal.with(Option::is_some)>
            <div class="dialog-backdrop">
                <div
                    class="dialog"
                    role="alertdialog"
                    aria-modal="true"
                    aria-labelledby="confirm-title"
                    aria-describedby="confirm-body"
                    data-testid="confirm-dialog"
                    on:keydown=move |ev| {
                        if ev.key() == "Escape" {
                            cancel();
                        }
                    }
                >
                    <h2 id="confirm-title">{title}</h2>
                    <p id="confirm-body">{body}</p>
                    <div class="dialog-actions">
                        <button type="button" class="secondary" node_ref=cancel_button on:click=move |_| cancel()>
                            "Cancel"
                        </button>
                        <button type="button" class=confirm_class data-testid="confirm" on:click=move |_| confirm()>
                            {confirm_label}
                        </button>
                    </div>
                </div>
            </div>
        </Show>
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
