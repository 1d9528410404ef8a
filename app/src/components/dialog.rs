//! A modal confirmation: the native `<dialog>` opened with `showModal()`, so
//! the rest of the page is inert while it is open (focus cannot leave it),
//! Escape cancels, the safe choice has focus, and focus goes back to the
//! control that opened it when it closes.

use leptos::prelude::*;

#[component]
pub fn ConfirmDialog(
    /// Whether it is open; it closes by `on_cancel` or `on_confirm`.
    #[prop(into)]
    open: Signal<bool>,
    #[prop(into)] title: Signal<String>,
    #[prop(into)] body: Signal<String>,
    #[prop(into)] confirm_label: Signal<String>,
    /// The confirm button says "this cuts power / deletes".
    #[prop(into)]
    danger: Signal<bool>,
    on_confirm: Callback<()>,
    on_cancel: Callback<()>,
    /// Changes when the open dialog asks a further question (a protected
    /// outlet's second step): focus goes back to the safe choice.
    #[prop(optional)]
    step: Option<Signal<u8>>,
    /// Prefix of the element ids (`{id}-title`, `{id}-body`).
    id: &'static str,
    testid: &'static str,
    /// The confirm button is off (a required box is not ticked yet).
    #[prop(optional, into)]
    confirm_disabled: Option<Signal<bool>>,
    /// More to say or ask before the buttons (a box to tick).
    #[prop(optional)]
    children: Option<ChildrenFn>,
) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    let cancel_button = NodeRef::<leptos::html::Button>::new();
    keep_focus(open, dialog, cancel_button);
    refocus_on_step(step, cancel_button);
    let confirm_class = move || if danger.get() { "danger" } else { "primary" };
    view! {
        <dialog
            node_ref=dialog
            class="dialog"
            role="alertdialog"
            aria-modal="true"
            aria-labelledby=format!("{id}-title")
            aria-describedby=format!("{id}-body")
            data-testid=testid
            on:close=move |_| {
                if open.get_untracked() {
                    on_cancel.run(());
                }
            }
        >
            <h2 id=format!("{id}-title")>{title}</h2>
            <p id=format!("{id}-body")>{body}</p>
            {children.map(|extra| extra())}
            <div class="dialog-actions">
                <button type="button" class="secondary" node_ref=cancel_button on:click=move |_| on_cancel.run(())>
                    "Cancel"
                </button>
                <button
                    type="button"
                    class=confirm_class
                    data-testid="confirm"
                    disabled=move || confirm_disabled.is_some_and(|d| d.get())
                    on:click=move |_| on_confirm.run(())
                >
                    {confirm_label}
                </button>
            </div>
        </dialog>
    }
}

/// A new question in the open dialog: the safe choice has focus again.
fn refocus_on_step(step: Option<Signal<u8>>, first: NodeRef<leptos::html::Button>) {
    #[cfg(feature = "hydrate")]
    if let Some(step) = step {
        Effect::new(move |previous: Option<u8>| {
            let now = step.get();
            if previous.is_some_and(|p| p != now) {
                if let Some(button) = first.get_untracked() {
                    let _ = button.focus();
                }
            }
            now
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (step, first);
}

/// Open and close the dialog with `open`; remember what had focus and give
/// it back.
fn keep_focus(open: Signal<bool>, dialog: NodeRef<leptos::html::Dialog>, first: NodeRef<leptos::html::Button>) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let opener = StoredValue::new_local(None::<web_sys::HtmlElement>);
        Effect::new(move |_| {
            let want = open.get();
            let Some(dialog) = dialog.get() else { return };
            if want && !dialog.open() {
                let active = document().active_element().and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
                opener.set_value(active);
                let _ = dialog.show_modal();
                if let Some(button) = first.get_untracked() {
                    let _ = button.focus();
                }
            } else if !want {
                // Escape has closed it already; a button has not.
                if dialog.open() {
                    dialog.close();
                }
                if let Some(el) = opener.get_value() {
                    opener.set_value(None);
                    let _ = el.focus();
                }
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (open, dialog, first);
}
