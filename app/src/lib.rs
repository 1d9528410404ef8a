//! Everything the server and the browser share: the domain model, the
//! dashboard components and the server functions they call.
//!
//! Owns: what a user sees and the types that cross the wire. Does not own:
//! polling, SNMP, MQTT or storage (all in `server`, reached only through the
//! [`backend::Backend`] trait, which exists only with the `ssr` feature so
//! that no server-only code can reach the WASM build).

// The page's view types nest deeply (Leptos builds them statically).
#![recursion_limit = "256"]

pub mod access;
pub mod alarms;
pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod chart;
pub mod components;
pub mod fleet;
pub mod format;
pub mod history;
pub mod live;
pub mod model;
pub mod rules;
pub mod settings;
pub mod state;
pub mod status;
pub mod wire;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Title};
use state::{AddressedPdu, Dashboard, View};

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

    let path = current_path();
    let view = View::from_path(&path);
    provide_context(view);
    let addressed = AddressedPdu::from_path(&path);
    dash.select(&addressed);
    provide_context(addressed.clone());
    let title = move || {
        let page = match view {
            View::Access => "Access · ",
            View::Fleet => return "Fleet · pdu-bridge".to_owned(),
            View::Alarms => return "Alarms · pdu-bridge".to_owned(),
            View::Dashboard | View::Settings if dash.unknown(&addressed).is_some() => {
                return "No such PDU · pdu-bridge".to_owned()
            }
            View::Settings => "Settings · ",
            View::Dashboard => "",
        };
        dash.current
            .with(|s| s.as_ref().map(|s| format!("{page}{} · pdu-bridge", s.label)))
            .unwrap_or_else(|| format!("{page}pdu-bridge"))
    };
    view! {
        <Title text=title/>
        <Meta name="description" content="Live dashboard for CyberPower switched ATS PDUs"/>
        <Meta name="color-scheme" content="light dark"/>
        <Link rel="icon" href="/favicon.svg" type_="image/svg+xml"/>
        {match view {
            View::Dashboard => view! { <components::DashboardPage/> }.into_any(),
            View::Settings => view! { <components::settings::SettingsPage/> }.into_any(),
            View::Fleet => view! { <components::fleet::FleetPage/> }.into_any(),
            View::Access => view! { <components::access::AccessPage/> }.into_any(),
            View::Alarms => view! { <components::alarms::AlarmsPage/> }.into_any(),
        }}
    }
}

/// The address's path: the request's on the server, the window's in the
/// browser (both render the same view, so hydration lines up).
pub fn current_path() -> String {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>().map(|parts| parts.uri.path().to_owned()).unwrap_or_else(|| "/".into())
    }
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        window().location().pathname().unwrap_or_else(|_| "/".into())
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        "/".to_owned()
    }
}

/// The address's query string, without the `?`: the request's on the
/// server, the window's in the browser.
pub fn current_query() -> String {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>().and_then(|parts| parts.uri.query().map(str::to_owned)).unwrap_or_default()
    }
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        window().location().search().unwrap_or_default().trim_start_matches('?').to_owned()
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        String::new()
    }
}

/// The address's path and query, for "sign in again and come back here".
pub fn current_address() -> String {
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        let location = window().location();
        format!("{}{}", location.pathname().unwrap_or_default(), location.search().unwrap_or_default())
    }
    #[cfg(not(all(feature = "hydrate", not(feature = "ssr"))))]
    {
        current_path()
    }
}
