//! The identity strip: which PDU this is.

use crate::format;
use crate::state::Dashboard;
use leptos::prelude::*;

fn or_dash(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "—".to_owned())
}

#[component]
pub fn IdentityStrip() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let age = move || {
        let now = dash.now_ms.get();
        dash.read(|s| format::age(s.age_s(now))).unwrap_or_default()
    };
    // The moment itself on hover, in the viewer's zone once hydrated.
    let stamp = move || {
        dash.hydrated.track();
        dash.read(|s| {
            let ts = (s.ts_ms / 1000) as i64;
            format!("read at {} {}", format::stamp(ts), format::zone(ts))
        })
        .unwrap_or_default()
    };
    view! {
        <section class="identity" aria-label="PDU identity">
            <dl>
                <Item label="Name" value=dash.text(|s| or_dash(&s.identity.name))/>
                <Item label="Model" value=dash.text(|s| or_dash(&s.identity.model))/>
                <Item label="Serial" value=dash.text(|s| or_dash(&s.identity.serial))/>
                <Item label="Firmware" value=dash.text(|s| or_dash(&s.identity.firmware))/>
                <Item label="Location" value=dash.text(|s| or_dash(&s.identity.location))/>
                <Item label="Uptime" value=dash.text(|s| s.uptime_s.map(format::duration).unwrap_or_else(|| "—".into()))/>
                <Item label="Rating" value=dash.text(|s| s.identity.rating_amps.map(|a| format!("{a} A")).unwrap_or_else(|| "—".into()))/>
                <div class="id-item">
                    <dt>"Last reading"</dt>
                    <dd data-testid="data-age" title=stamp>{age}" ago"</dd>
                </div>
            </dl>
        </section>
    }
}

#[component]
fn Item(label: &'static str, value: impl Fn() -> String + Send + Sync + 'static) -> impl IntoView {
    view! {
        <div class="id-item">
            <dt>{label}</dt>
            <dd>{value}</dd>
        </div>
    }
}
