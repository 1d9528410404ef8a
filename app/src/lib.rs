//! Everything the server and the browser share: the domain model, the
//! dashboard components and the server functions they call.
//!
//! Owns: what a user sees and the types that cross the wire. Does not own:
//! polling, SNMP, MQTT or storage (all in `server`, reached only through the
//! [`backend::Backend`] trait, which exists only with the `ssr` feature so
//! that no server-only code can reach the WASM build).

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod chart;
pub mod components;
pub mod format;
pub mod history;
pub mod live;
pub mod model;
pub mod rules;
pub mod state;
pub mod status;
pub mod wire;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Title};
use state::Dashboard;

/// The HTML document around the app; the server renders it, the browser
/// hydrates `<body>`.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="stylesheet" href=format!("/pkg/{}.css", options.output_name)/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let dash = Dashboard::from_initial(SharedValue::new(api::initial_state).into_inner());
    provide_context(dash);
    live::connect(dash);

    let title = move || {
        dash.current
            .with(|s| s.as_ref().map(|s| format!("{} · pdu-bridge", s.label)))
            .unwrap_or_else(|| "pdu-bridge".to_owned())
    };
    view! {
        <Title text=title/>
        <Meta name="description" content="Live dashboard for CyberPower switched ATS PDUs"/>
        <Meta name="color-scheme" content="light dark"/>
        <Link rel="icon" href="/favicon.svg" type_="image/svg+xml"/>
        <components::DashboardPage/>
    }
}
