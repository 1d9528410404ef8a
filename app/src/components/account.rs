//! Who is signed in, in the header of every page, with the way out (a real
//! form: signing out works before and without the WASM) and the way to the
//! access page; and the alert that a session has ended.
//!
//! Owns: the words for the caller. Does not own sessions or roles: the
//! server decides who a request comes from (`InitialState::caller`) and
//! refuses what a role may not do whatever the page shows.

use crate::access::CallerKind;
use crate::state::{login_url, Dashboard, View};
use leptos::prelude::*;

/// Where the sign-out form posts (the server's `auth::logout`).
const LOGOUT_PATH: &str = "/auth/logout";

/// "Signed in as alice · operator", Access, Sign out; or, for an anonymous
/// viewer, that they look without signing in and a link to sign in.
#[component]
pub fn AccountBar() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let view = use_context::<View>().unwrap_or(View::Dashboard);
    // Signing in comes back to this page (a PDU's, the fleet, access).
    let here = crate::current_path();
    let caller = dash.caller.get_value();
    let on_access = (view == View::Access).then_some("page");
    let body = match caller {
        Some(c) if c.kind != CallerKind::Anonymous => {
            let how = if c.kind == CallerKind::Token { "Using the token " } else { "Signed in as " };
            view! {
                <p class="account-who" data-testid="signed-in">
                    {how} <strong>{c.name.clone()}</strong> " · " <span class="account-role">{c.role.label()}</span>
                </p>
                <a class="account-link" href=View::ACCESS_PATH aria-current=on_access>"Access"</a>
                <form class="account-out" method="post" action=LOGOUT_PATH>
                    <button type="submit" data-testid="sign-out">"Sign out"</button>
                </form>
            }
            .into_any()
        }
        _ => view! {
            <p class="account-who" data-testid="signed-in">"Viewing without signing in (read only)"</p>
            <a class="account-link" href=login_url(&here) data-testid="sign-in">"Sign in"</a>
        }
        .into_any(),
    };
    view! { <div class="account" role="group" aria-label="Your account">{body}</div> }
}

/// The bridge answered 401: say so where it cannot be missed, with the way
/// back in to this very page.
#[component]
pub fn SessionEnded() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    move || {
        dash.session_ended.get().then(|| {
            let href = login_url(&crate::current_address());
            view! {
                <p class="banner alert" role="alert" data-testid="session-ended">
                    "Your session ended — "
                    <a href=href>"sign in again"</a>
                    ". Nothing more was done."
                </p>
            }
        })
    }
}
