//! Renaming an outlet where its name is shown: the tile's "Rename" turns
//! the name into a text field with "Also store on the PDU", Save and
//! Cancel (Enter saves, Escape cancels).
//!
//! Owns: the field, what is wrong with the name as it is typed (the PDU's
//! limits from `crate::settings::check_pdu_text`, the same check the
//! server makes; the bridge's own limit otherwise) and the call to
//! `outlet_rename`. Does not own who may rename (operators and admins: the
//! tile leaves this out for viewers, and the server refuses them anyway)
//! or the name shown (the snapshot's, which the live stream also brings:
//! the bridge publishes a rename at once). An empty name gives the outlet
//! back the name stored on the PDU.

use crate::api::outlet_rename;
use crate::model::ApiError;
use crate::settings::{check_pdu_text, RenameResult, PDU_NAME_MAX};
use crate::state::Dashboard;
use leptos::prelude::*;

/// The longest name the bridge keeps for an outlet (its names file).
pub const BRIDGE_NAME_MAX: usize = 64;

/// What is wrong with `name` (as typed) for where it is to be stored, in
/// words; `None` when it can be saved.
pub fn name_problem(name: &str, on_pdu: bool) -> Option<String> {
    let name = name.trim();
    let count = name.chars().count();
    if on_pdu {
        if name.is_empty() {
            return Some("The PDU cannot store an empty name: type one, or untick “Also store on the PDU”.".into());
        }
        if count > PDU_NAME_MAX {
            return Some(format!("The PDU stores at most {PDU_NAME_MAX} characters; this name has {count}."));
        }
        return check_pdu_text("name", name, PDU_NAME_MAX).err().map(|e| match e {
            ApiError::Invalid { message, .. } => capitalised(&message),
            other => other.to_string(),
        });
    }
    if count > BRIDGE_NAME_MAX {
        return Some(format!("At most {BRIDGE_NAME_MAX} characters; this name has {count}."));
    }
    name.chars().any(char::is_control).then(|| "A name cannot hold control characters.".to_owned())
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// What a rename did, in words: "Outlet 3 is now “NAS”, on the PDU too."
pub fn renamed(result: &RenameResult, cleared: bool) -> String {
    let n = result.outlet;
    match (&result.name_on_pdu, cleared) {
        (Some(on_pdu), _) => format!("Outlet {n} is now “{}”; the PDU reads back “{on_pdu}”.", result.name),
        (None, true) => format!("Outlet {n} shows the name stored on the PDU again: “{}”.", result.name),
        (None, false) => format!("Outlet {n} is now “{}” (in the bridge; the PDU keeps its own name).", result.name),
    }
}

/// The tile's "Rename" and, once pressed, the form that takes its place.
#[component]
pub fn OutletRename(
    number: u32,
    /// The name shown now.
    #[prop(into)]
    name: Signal<String>,
    /// Called with what the rename did, in words.
    on_done: Callback<String>,
) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let editing = RwSignal::new(false);
    let draft = RwSignal::new(String::new());
    let on_pdu = RwSignal::new(false);
    let saving = RwSignal::new(false);
    // What the bridge answered when it refused.
    let refused = RwSignal::new(None::<String>);
    let button_ref = NodeRef::<leptos::html::Button>::new();
    let input_ref = NodeRef::<leptos::html::Input>::new();
    // After Save or Cancel focus goes back to "Rename".
    let refocus = RwSignal::new(false);
    Effect::new(move |_| {
        if editing.get() {
            if let Some(input) = input_ref.get() {
                let _ = input.focus();
                input.select();
            }
        } else if refocus.get() {
            if let Some(button) = button_ref.get() {
                let _ = button.focus();
                refocus.set(false);
            }
        }
    });
    let problem = move || name_problem(&draft.get(), on_pdu.get());
    let open = move |_| {
        draft.set(name.get_untracked());
        on_pdu.set(false);
        refused.set(None);
        editing.set(true);
    };
    let close = move || {
        editing.set(false);
        refocus.set(true);
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(device_id) = dash.current_id.get_untracked() else { return };
        if saving.get_untracked() || name_problem(&draft.get_untracked(), on_pdu.get_untracked()).is_some() {
            return;
        }
        let typed = draft.get_untracked().trim().to_owned();
        saving.set(true);
        refused.set(None);
        leptos::task::spawn_local(async move {
            match outlet_rename(device_id.to_string(), number, typed.clone(), on_pdu.get_untracked()).await {
                Ok(result) => {
                    // The live stream brings it too; show it now.
                    dash.snapshots.update(|all| {
                        if let Some(o) = all
                            .iter_mut()
                            .find(|s| s.device_id == device_id)
                            .and_then(|s| s.outlets.iter_mut().find(|o| o.number == number))
                        {
                            o.name = result.name.clone();
                        }
                    });
                    on_done.run(renamed(&result, typed.is_empty()));
                    close();
                }
                Err(e) => refused.set(Some(dash.explain(&e))),
            }
            saving.set(false);
        });
    };
    let keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            ev.prevent_default();
            close();
        }
    };
    let id = move |what: &str| format!("outlet-{number}-rename-{what}");
    let said = move || refused.get().or_else(problem);
    view! {
        <Show
            when=move || editing.get()
            fallback=move || view! {
                <button
                    type="button"
                    class="rename-button"
                    node_ref=button_ref
                    aria-label=move || format!("Rename outlet {number} {}", name.get())
                    disabled=move || !dash.hydrated.get()
                    on:click=open
                    data-testid="rename"
                >
                    "Rename"
                </button>
            }
        >
            <form class="rename-form" on:submit=save on:keydown=keydown data-testid="rename-form">
                <label class="field" for=id("name")>{format!("New name for outlet {number}")}</label>
                <input
                    id=id("name")
                    type="text"
                    autocomplete="off"
                    node_ref=input_ref
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                    aria-invalid=move || said().is_some().then_some("true")
                    aria-describedby=format!("{} {}", id("hint"), id("problem"))
                    data-testid="rename-input"
                />
                <small class="muted" id=id("hint")>"Empty: the name stored on the PDU shows again."</small>
                <label class="check">
                    <input
                        type="checkbox"
                        prop:checked=move || on_pdu.get()
                        on:change=move |ev| on_pdu.set(event_target_checked(&ev))
                        data-testid="rename-on-pdu"
                    />
                    "Also store on the PDU (max 31 characters, ASCII)"
                </label>
                <p class="error-note" id=id("problem") aria-live="polite" data-testid="rename-problem">{said}</p>
                <div class="form-actions">
                    <button type="submit" class="primary" disabled=move || saving.get() || problem().is_some() data-testid="rename-save">
                        {move || if saving.get() { "Saving…" } else { "Save" }}
                    </button>
                    <button type="button" on:click=move |_| close() data-testid="rename-cancel">"Cancel"</button>
                </div>
            </form>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_for_the_pdu_is_checked_as_the_pdu_would() {
        assert_eq!(name_problem("Core switch", true), None);
        assert!(name_problem("", true).unwrap().contains("cannot store an empty name"));
        assert_eq!(
            name_problem(&"x".repeat(32), true).as_deref(),
            Some("The PDU stores at most 31 characters; this name has 32.")
        );
        assert!(name_problem("Café", true).unwrap().contains("printable ASCII"), "{:?}", name_problem("Café", true));
    }

    #[test]
    fn a_name_for_the_bridge_only_may_be_longer_and_empty() {
        assert_eq!(name_problem("", false), None, "empty: the PDU's own name again");
        assert_eq!(name_problem("Café – rack 3", false), None);
        assert_eq!(name_problem(&"x".repeat(64), false), None);
        assert!(name_problem(&"x".repeat(65), false).unwrap().starts_with("At most 64 characters"));
    }

    #[test]
    fn a_rename_says_where_the_name_went() {
        let on_pdu = RenameResult { outlet: 3, name: "NAS".into(), name_on_pdu: Some("NAS".into()) };
        assert_eq!(renamed(&on_pdu, false), "Outlet 3 is now “NAS”; the PDU reads back “NAS”.");
        let cleared = RenameResult { outlet: 3, name: "Outlet3".into(), name_on_pdu: None };
        assert!(renamed(&cleared, true).contains("name stored on the PDU again"));
    }
}
