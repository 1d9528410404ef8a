//! Live values by push: the browser subscribes to the bridge's server-sent
//! events (`/api/stream`) and feeds each one into the page's state:
//! snapshots, rules, events, the MQTT link, alarms, and the list of PDUs
//! when one is added, changed or removed.
//! `EventSource` reconnects by itself after a drop or a bridge restart; the
//! header says whether the link is up, and a stream refused because the
//! session ended says that. Browser only: what travels, and its
//! names, are in `crate::wire`.

use crate::state::Dashboard;
#[cfg(feature = "hydrate")]
use crate::wire::{
    PduInfo, RulesUpdate, ALARMS_EVENT, LOG_EVENT, MQTT_EVENT, PDUS_EVENT, RULES_EVENT, SNAPSHOT_EVENT, STREAM_PATH,
};

#[cfg(feature = "hydrate")]
pub fn connect(dash: Dashboard) {
    use crate::model::PduSnapshot;
    use crate::state::LinkState;
    use leptos::prelude::*;
    use wasm_bindgen::{prelude::Closure, JsCast};

    // Effects run only in the browser, once the page is hydrated.
    Effect::new(move |_| {
        let Ok(source) = web_sys::EventSource::new(STREAM_PATH) else {
            dash.link.set(LinkState::Reconnecting);
            return;
        };
        let on_snapshot = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let Some(text) = ev.data().as_string() else { return };
            match serde_json::from_str::<PduSnapshot>(&text) {
                Ok(snapshot) => {
                    // A PDU just removed may still send its last reading:
                    // it is not brought back.
                    let listed = dash
                        .pdus
                        .with_untracked(|all| all.is_empty() || all.iter().any(|p| p.device_id == snapshot.device_id));
                    if listed {
                        dash.upsert(snapshot);
                    }
                }
                Err(e) => leptos::logging::warn!("ignoring a malformed snapshot: {e}"),
            }
        });
        let on_mqtt = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let Some(text) = ev.data().as_string() else { return };
            if let Ok(status) = serde_json::from_str::<crate::model::MqttStatus>(&text) {
                dash.mqtt.set(status);
            }
        });
        let on_rules = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let Some(text) = ev.data().as_string() else { return };
            if let Ok(update) = serde_json::from_str::<RulesUpdate>(&text) {
                dash.set_rules(update);
            }
        });
        let on_log = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let Some(text) = ev.data().as_string() else { return };
            if let Ok(event) = serde_json::from_str::<crate::model::Event>(&text) {
                dash.push_event(event);
            }
        });
        // A PDU added, changed or removed: the switcher, the fleet and the
        // status strip follow without a reload.
        let on_pdus = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let Some(text) = ev.data().as_string() else { return };
            match serde_json::from_str::<Vec<PduInfo>>(&text) {
                Ok(pdus) => dash.set_pdus(pdus),
                Err(e) => leptos::logging::warn!("ignoring a malformed PDU list: {e}"),
            }
        });
        let on_alarms = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let Some(text) = ev.data().as_string() else { return };
            match serde_json::from_str::<crate::alarms::AlarmList>(&text) {
                Ok(alarms) => dash.alarms.set(alarms),
                Err(e) => leptos::logging::warn!("ignoring a malformed alarm list: {e}"),
            }
        });
        let on_open = Closure::<dyn FnMut()>::new(move || {
            // Back after a drop: PDUs may have come or gone meanwhile.
            if dash.link.get_untracked() == LinkState::Reconnecting {
                leptos::task::spawn_local(async move {
                    if let Ok(pdus) = crate::api::load_pdus().await {
                        dash.set_pdus(pdus);
                    }
                });
            }
            dash.link.set(LinkState::Live);
            dash.link_down_since.set(None);
        });
        let watched = source.clone();
        let on_error = Closure::<dyn FnMut()>::new(move || {
            dash.link.set(LinkState::Reconnecting);
            if dash.link_down_since.get_untracked().is_none() {
                dash.link_down_since.set(Some(js_sys::Date::now() as u64));
            }
            // A refused stream (not a dropped one) is not retried by the
            // browser: ask why, and say so if the session ended.
            if watched.ready_state() == web_sys::EventSource::CLOSED {
                leptos::task::spawn_local(async move {
                    if let Err(e @ crate::model::ApiError::Unauthorized(_)) = crate::api::load_pdus().await {
                        dash.explain(&e);
                    }
                });
            }
        });
        let _ = source.add_event_listener_with_callback(SNAPSHOT_EVENT, on_snapshot.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback(MQTT_EVENT, on_mqtt.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback(RULES_EVENT, on_rules.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback(LOG_EVENT, on_log.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback(PDUS_EVENT, on_pdus.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback(ALARMS_EVENT, on_alarms.as_ref().unchecked_ref());
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        // The page holds one stream for its whole life: the callbacks must
        // outlive this scope, and leaking these closures once is the price.
        on_snapshot.forget();
        on_mqtt.forget();
        on_rules.forget();
        on_log.forget();
        on_pdus.forget();
        on_alarms.forget();
        on_open.forget();
        on_error.forget();

        dash.now_ms.set(js_sys::Date::now() as u64);
        dash.hydrated.set(true);
        set_interval(move || dash.now_ms.set(js_sys::Date::now() as u64), std::time::Duration::from_secs(1));
        // A PDU that has never answered sends no snapshots: ask now and then
        // why its polls fail, until every PDU has answered.
        set_interval(
            move || {
                let silent = dash.pdus.with_untracked(|pdus| {
                    dash.snapshots
                        .with_untracked(|all| pdus.iter().any(|p| all.iter().all(|s| s.device_id != p.device_id)))
                });
                if silent && dash.link.get_untracked() == LinkState::Live {
                    leptos::task::spawn_local(async move {
                        if let Ok(pdus) = crate::api::load_pdus().await {
                            dash.set_pdus(pdus);
                        }
                    });
                }
            },
            std::time::Duration::from_secs(3),
        );
    });
}

#[cfg(not(feature = "hydrate"))]
pub fn connect(_dash: Dashboard) {}
