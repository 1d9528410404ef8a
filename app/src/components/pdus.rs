//! Managing the fleet (admins): every PDU with its settings and state, a
//! form to add or change one, removal that asks first, and discovery on a
//! subnet with "add" for each PDU found.
//!
//! Owns: what the admin sees and types. Does not own who may do it (the
//! server refuses every change but an admin's, whatever this shows) or the
//! settings' rules (`crate::fleet::PduEntry::validate`, checked here as you
//! type and again by the server). Lists load in the browser, so this needs
//! the WASM; the fleet table above it works without.

use super::access::{said, Said};
use super::dialog::ConfirmDialog;
use crate::access::Role;
use crate::api::{load_fleet, pdu_remove, pdu_save, pdus_discover};
use crate::fleet::{DiscoverRequest, Discovered, Feed, PduEntry, PduView};
use crate::model::ApiError;
use crate::state::Dashboard;
use leptos::prelude::*;

/// A device id from a PDU's own name: `Rack 1 PDU-A` → `rack-1-pdu-a`.
pub fn id_from_name(name: &str) -> String {
    let mut id = String::new();
    for c in name.trim().chars() {
        match c {
            'a'..='z' | '0'..='9' | '_' | '-' => id.push(c),
            'A'..='Z' => id.push(c.to_ascii_lowercase()),
            _ if !id.ends_with('-') && !id.is_empty() => id.push('-'),
            _ => {}
        }
    }
    let id: String = id.trim_end_matches('-').chars().take(64).collect();
    if id.is_empty() {
        "pdu".to_owned()
    } else {
        id
    }
}

/// What the form holds, as text the way it is typed.
#[derive(Clone, Debug, Default, PartialEq)]
struct Draft {
    /// `Some(id)` while changing that PDU; `None` adds one.
    original: Option<String>,
    /// The settings being changed (or found), so what the form does not
    /// show is kept as it was.
    base: Option<PduEntry>,
    device_id: String,
    host: String,
    port: String,
    community_read: String,
    community_write: String,
    label: String,
    rack: String,
    feed: String,
    poll_interval: String,
}

impl Draft {
    fn new() -> Self {
        Self { port: "161".into(), ..Self::default() }
    }

    fn of(view: &PduView) -> Self {
        let s = &view.settings;
        Self {
            original: Some(s.device_id.clone()),
            base: Some(s.clone()),
            device_id: s.device_id.clone(),
            host: s.host.clone(),
            port: s.snmp_port.to_string(),
            community_read: String::new(),
            community_write: String::new(),
            label: s.label.clone().unwrap_or_default(),
            rack: s.rack.clone().unwrap_or_default(),
            feed: match s.feed {
                Some(Feed::A) => "A".into(),
                Some(Feed::B) => "B".into(),
                None => String::new(),
            },
            poll_interval: s.poll_interval.map(|p| p.to_string()).unwrap_or_default(),
        }
    }

    fn found(found: &Discovered) -> Self {
        // Every unit leaves the factory named after its model: the serial
        // tells them apart.
        let named = !found.name.trim().is_empty() && found.name.trim() != found.model.trim();
        let id = match (named, found.serial.trim()) {
            (true, _) => id_from_name(&found.name),
            (false, "") => id_from_name(&found.host),
            (false, serial) => id_from_name(&format!("pdu-{serial}")),
        };
        let label =
            if named { found.name.clone() } else { format!("{} {}", found.model, found.serial).trim().to_owned() };
        let mut base = PduEntry::simulated("");
        base.simulated = false;
        base.serial = Some(found.serial.clone()).filter(|s| !s.is_empty());
        Self {
            base: Some(base),
            device_id: id,
            host: found.host.clone(),
            port: found.port.to_string(),
            label,
            ..Self::new()
        }
    }

    fn simulated(&self) -> bool {
        self.base.as_ref().is_some_and(|b| b.simulated)
    }

    /// The entry to send, or what is wrong with a field. Fields the form
    /// does not show keep the values they had; empty communities keep
    /// theirs on the bridge.
    fn entry(&self) -> Result<PduEntry, String> {
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let port = self.port.trim().parse::<u16>().map_err(|_| "SNMP port: a number from 1 to 65535".to_owned())?;
        let poll_interval = match text(&self.poll_interval) {
            Some(p) => Some(p.parse::<f64>().map_err(|_| "Poll interval: seconds, such as 1 or 0.5".to_owned())?),
            None => None,
        };
        let mut entry = self.base.clone().unwrap_or_else(|| PduEntry { simulated: false, ..PduEntry::simulated("") });
        entry.device_id = self.device_id.trim().to_owned();
        entry.host = self.host.trim().to_owned();
        entry.snmp_port = port;
        entry.community_read = text(&self.community_read);
        entry.community_write = text(&self.community_write);
        entry.label = text(&self.label);
        entry.poll_interval = poll_interval;
        entry.rack = text(&self.rack);
        entry.feed = match self.feed.as_str() {
            "A" => Some(Feed::A),
            "B" => Some(Feed::B),
            _ => None,
        };
        entry.validate().map_err(|e| {
            let field = e.field.replace('_', " ");
            if e.message.starts_with(&field) {
                e.message
            } else {
                format!("{field}: {}", e.message)
            }
        })?;
        Ok(entry)
    }
}

/// The admin's fleet panel; nothing for other roles (they see the fleet table).
#[component]
pub fn ManagePdus() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let admin = dash.caller.with_value(|c| c.as_ref().is_some_and(|c| c.may(Role::Admin)));
    admin.then(|| view! { <PduAdmin/> })
}

#[component]
fn PduAdmin() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let fleet = LocalResource::new(load_fleet);
    // Added, changed or removed anywhere: the list follows.
    Effect::new(move |seen: Option<()>| {
        dash.pdus.track();
        if seen.is_some() {
            fleet.refetch();
        }
    });
    let message: Said = RwSignal::new(None);
    // What the add/change form did, said beside its button.
    let form_said: Said = RwSignal::new(None);
    let id_input_ref = NodeRef::<leptos::html::Input>::new();
    let draft = RwSignal::new(Draft::new());
    let removing = RwSignal::new(None::<String>);
    // Another unit answering at a PDU's address, to take for it (asked first).
    let accepting = RwSignal::new(None::<PduEntry>);
    let saving = RwSignal::new(false);
    let done = move |result: Result<String, ApiError>| match result {
        Ok(text) => {
            message.set(Some((false, text)));
            fleet.refetch();
        }
        Err(e) => message.set(Some((true, dash.explain(&e)))),
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let d = draft.get_untracked();
        let entry = match d.entry() {
            Ok(entry) => entry,
            Err(why) => {
                form_said.set(Some((true, why)));
                return;
            }
        };
        saving.set(true);
        leptos::task::spawn_local(async move {
            let adding = d.original.is_none();
            match pdu_save(d.original.clone(), entry).await {
                Ok(p) => {
                    draft.set(Draft::new());
                    let what = if adding { "added; polling started" } else { "changed" };
                    form_said.set(Some((false, format!("PDU “{}” {what}.", p.settings.device_id))));
                    fleet.refetch();
                }
                Err(e) => form_said.set(Some((true, dash.explain(&e)))),
            }
            saving.set(false);
        });
    };
    let accept = Callback::new(move |_| {
        let Some(entry) = accepting.get_untracked() else { return };
        accepting.set(None);
        leptos::task::spawn_local(async move {
            let id = entry.device_id.clone();
            let result = pdu_save(Some(id.clone()), entry)
                .await
                .map(|_| format!("PDU “{id}” is now the unit answering at its address."));
            done(result);
        });
    });
    let remove = Callback::new(move |_| {
        let Some(id) = removing.get_untracked() else { return };
        removing.set(None);
        leptos::task::spawn_local(async move {
            let result = pdu_remove(id.clone()).await.map(|()| format!("PDU “{id}” removed; its history is kept."));
            done(result);
        });
    });
    let list = move || match fleet.get() {
        None => view! { <p class="muted">"Loading PDUs…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error-note">{dash.explain(&e)}</p> }.into_any(),
        Some(Ok(pdus)) => view! {
            <div class="table-wrap">
                <table class="access-table" data-testid="pdu-settings">
                    <caption class="visually-hidden">"PDUs and their settings"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Device id"</th>
                            <th scope="col">"Label"</th>
                            <th scope="col">"Address"</th>
                            <th scope="col">"Serial"</th>
                            <th scope="col">"State"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        {pdus.into_iter().map(|p| {
                            let id = p.settings.device_id.clone();
                            let (edit_id, remove_id) = (id.clone(), id.clone());
                            let for_edit = p.clone();
                            let address = p.settings.address().unwrap_or_else(|| "simulated".into());
                            let state = match &p.identity_mismatch {
                                Some(why) => format!("refused: {why}"),
                                None => p.state.clone(),
                            };
                            // Another PDU answers at its address: take it for this one, on purpose.
                            let accept = p.answering_serial.clone().map(|serial| {
                                let mut settings = p.settings.clone();
                                settings.serial = Some(serial.clone());
                                let label = format!("Accept the PDU with serial {serial} as {id}");
                                view! {
                                    <button type="button" aria-label=label disabled=move || !dash.hydrated.get()
                                        on:click=move |_| accepting.set(Some(settings.clone()))>"Accept"</button>
                                }
                            });
                            view! {
                                <tr data-testid=format!("pdu-row-{id}")>
                                    <th scope="row">{id.clone()}</th>
                                    <td>{p.settings.label.clone().unwrap_or_default()}</td>
                                    <td>{address}</td>
                                    <td>{p.settings.serial.clone().unwrap_or_else(|| "not yet known".into())}</td>
                                    <td>{state}</td>
                                    <td class="actions">
                                        {accept}
                                        <button type="button" aria-label=format!("Edit {edit_id}")
                                            disabled=move || !dash.hydrated.get()
                                            on:click=move |_| draft.set(Draft::of(&for_edit))>"Edit"</button>
                                        <button type="button" class="danger" aria-label=format!("Remove {remove_id}")
                                            disabled=move || !dash.hydrated.get()
                                            on:click=move |_| removing.set(Some(remove_id.clone()))>"Remove"</button>
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
        .into_any(),
    };
    let editing = move || draft.with(|d| d.original.clone());
    let field = |get: fn(&Draft) -> String, set: fn(&mut Draft, String)| {
        (move || draft.with(get), move |ev: leptos::ev::Event| draft.update(|d| set(d, event_target_value(&ev))))
    };
    let (id_value, id_input) = field(|d| d.device_id.clone(), |d, v| d.device_id = v);
    let (host_value, host_input) = field(|d| d.host.clone(), |d, v| d.host = v);
    let (port_value, port_input) = field(|d| d.port.clone(), |d, v| d.port = v);
    let (read_value, read_input) = field(|d| d.community_read.clone(), |d, v| d.community_read = v);
    let (write_value, write_input) = field(|d| d.community_write.clone(), |d, v| d.community_write = v);
    let (label_value, label_input) = field(|d| d.label.clone(), |d, v| d.label = v);
    let (rack_value, rack_input) = field(|d| d.rack.clone(), |d, v| d.rack = v);
    let (feed_value, feed_input) = field(|d| d.feed.clone(), |d, v| d.feed = v);
    let (poll_value, poll_input) = field(|d| d.poll_interval.clone(), |d, v| d.poll_interval = v);
    let problem = move || draft.with(|d| if d.device_id.is_empty() { None } else { d.entry().err() });
    let secret_hint = move || {
        if editing().is_some() {
            "Leave empty to keep the one set."
        } else {
            "Empty: “public” / “private”."
        }
    };
    let question = Signal::derive(move || removing.get().map(|n| format!("Remove PDU “{n}”?")).unwrap_or_default());
    let body = Signal::derive(move || {
        removing
            .get()
            .map(|n| {
                format!(
                    "“{n}” is no longer polled, its rules stop, and its MQTT topics and Home Assistant entities are \
                     removed. Its history is kept; add it again under the same id to see it."
                )
            })
            .unwrap_or_default()
    });
    let label = Signal::derive(move || removing.get().map(|n| format!("Remove “{n}”")).unwrap_or_default());
    view! {
        <section class="card" id="manage-pdus" aria-labelledby="manage-pdus-title">
            <h2 id="manage-pdus-title">"Manage PDUs"</h2>
            {said(message)}
            {list}
            <form class="access-form" method="post" on:submit=save aria-labelledby="pdu-form-title" data-testid="pdu-form">
                <h3 id="pdu-form-title">
                    {move || match editing() {
                        Some(id) => format!("Change PDU “{id}”"),
                        None => "Add a PDU".to_owned(),
                    }}
                </h3>
                <div class="form-grid">
                    <label class="field">
                        "Device id"
                        <input autocomplete="off" required prop:value=id_value on:input=id_input node_ref=id_input_ref
                            readonly=move || editing().is_some() data-testid="pdu-id"/>
                        <small>"In URLs and MQTT topics: a–z, 0–9, “-” and “_”."</small>
                    </label>
                    <label class="field">
                        "Host"
                        <input autocomplete="off" required=move || !draft.with(Draft::simulated)
                            placeholder=move || if draft.with(Draft::simulated) { "simulated" } else { "" }
                            prop:value=host_value on:input=host_input data-testid="pdu-host"/>
                    </label>
                    <label class="field">
                        "SNMP port"
                        <input inputmode="numeric" prop:value=port_value on:input=port_input data-testid="pdu-port"/>
                    </label>
                    <label class="field">
                        "Label"
                        <input autocomplete="off" prop:value=label_value on:input=label_input data-testid="pdu-label"/>
                    </label>
                    <label class="field">
                        "Read community"
                        <input type="password" autocomplete="off" prop:value=read_value on:input=read_input/>
                        <small>{secret_hint}</small>
                    </label>
                    <label class="field">
                        "Write community"
                        <input type="password" autocomplete="off" prop:value=write_value on:input=write_input/>
                        <small>{secret_hint}</small>
                    </label>
                    <label class="field">
                        "Rack"
                        <input autocomplete="off" prop:value=rack_value on:input=rack_input data-testid="pdu-rack"/>
                        <small>"Two PDUs of one rack are its A and B feeds."</small>
                    </label>
                    <label class="field">
                        "Feed"
                        <select prop:value=feed_value on:change=feed_input>
                            <option value="">"—"</option>
                            <option value="A">"A"</option>
                            <option value="B">"B"</option>
                        </select>
                    </label>
                    <label class="field">
                        "Poll interval (s)"
                        <input inputmode="decimal" placeholder="default: 1" prop:value=poll_value on:input=poll_input/>
                    </label>
                </div>
                <p class="error-note" role="alert" data-testid="pdu-problem">{problem}</p>
                <div class="form-actions">
                    <button type="submit" class="primary" data-testid="pdu-save"
                        disabled=move || !dash.hydrated.get() || saving.get() || problem().is_some()>
                        {move || if editing().is_some() { "Save changes" } else { "Add PDU" }}
                    </button>
                    {move || editing().is_some().then(|| view! {
                        <button type="button" on:click=move |_| draft.set(Draft::new())>"Cancel"</button>
                    })}
                </div>
                <div data-testid="pdu-form-said">{said(form_said)}</div>
            </form>
            <Discover draft focus=id_input_ref/>
            <ConfirmDialog
                open=Signal::derive(move || accepting.with(Option::is_some))
                title=Signal::derive(move || {
                    accepting.get().map(|e| format!("Take the unit answering there as “{}”?", e.device_id)).unwrap_or_default()
                })
                body=Signal::derive(move || {
                    accepting
                        .get()
                        .map(|e| {
                            format!(
                                "From now on the unit with serial {} is PDU “{}”: its readings go into this PDU's history \
                                 and its rules and commands switch that unit's outlets. Do this only if the unit was \
                                 replaced on purpose.",
                                e.serial.unwrap_or_default(),
                                e.device_id
                            )
                        })
                        .unwrap_or_default()
                })
                confirm_label=Signal::derive(|| "Accept this unit".to_owned())
                danger=Signal::derive(|| true)
                on_confirm=accept
                on_cancel=Callback::new(move |_| accepting.set(None))
                id="pdu-accept"
                testid="pdu-accept-dialog"
            />
            <ConfirmDialog
                open=Signal::derive(move || removing.with(Option::is_some))
                title=question
                body
                confirm_label=label
                danger=Signal::derive(|| true)
                on_confirm=remove
                on_cancel=Callback::new(move |_| removing.set(None))
                id="pdu-remove"
                testid="pdu-remove-dialog"
            />
        </section>
    }
}

/// Discovery on a subnet; "Add" puts a found PDU into the form.
#[component]
fn Discover(draft: RwSignal<Draft>, focus: NodeRef<leptos::html::Input>) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    // What the scan did wrong, said beside its button.
    let message: Said = RwSignal::new(None);
    let cidr = RwSignal::new(String::new());
    let port = RwSignal::new("161".to_owned());
    let community = RwSignal::new(String::new());
    let scanning = RwSignal::new(false);
    let found = RwSignal::new(None::<(u32, Vec<Discovered>)>);
    let scan = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Ok(port) = port.get_untracked().trim().parse::<u16>() else {
            message.set(Some((true, "SNMP port: a number from 1 to 65535".into())));
            return;
        };
        let community = Some(community.get_untracked()).filter(|c| !c.is_empty());
        let request = DiscoverRequest { cidr: cidr.get_untracked().trim().to_owned(), port, community };
        scanning.set(true);
        found.set(None);
        message.set(None);
        leptos::task::spawn_local(async move {
            match pdus_discover(request).await {
                Ok(result) => found.set(Some((result.scanned, result.found))),
                Err(e) => message.set(Some((true, dash.explain(&e)))),
            }
            scanning.set(false);
        });
    };
    let results = move || {
        found.get().map(|(scanned, list)| {
            let summary = format!("{} CyberPower PDU(s) found among {scanned} addresses.", list.len());
            view! {
                <p role="status" data-testid="discover-summary">{summary}</p>
                {(!list.is_empty()).then(|| view! {
                    <div class="table-wrap">
                        <table class="access-table" data-testid="discover-results">
                            <caption class="visually-hidden">"PDUs found"</caption>
                            <thead>
                                <tr>
                                    <th scope="col">"Address"</th>
                                    <th scope="col">"Name"</th>
                                    <th scope="col">"Model"</th>
                                    <th scope="col">"Serial"</th>
                                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                </tr>
                            </thead>
                            <tbody>
                                {list.into_iter().map(|f| {
                                    let address = format!("{}:{}", f.host, f.port);
                                    let action = match f.known_as.clone() {
                                        Some(id) => view! { <span class="muted">{format!("watched as {id}")}</span> }.into_any(),
                                        None => {
                                            let add = f.clone();
                                            let label = format!("Add {address}");
                                            view! {
                                                <button type="button" aria-label=label
                                                    on:click=move |_| {
                                                        draft.set(Draft::found(&add));
                                                        // The form, filled in, where the eye goes next.
                                                        if let Some(input) = focus.get() {
                                                            let _ = input.focus();
                                                        }
                                                    }>"Add"</button>
                                            }
                                            .into_any()
                                        }
                                    };
                                    view! {
                                        <tr>
                                            <th scope="row">{address.clone()}</th>
                                            <td>{f.name.clone()}</td>
                                            <td>{f.model.clone()}</td>
                                            <td>{f.serial.clone()}</td>
                                            <td>{action}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                })}
            }
        })
    };
    view! {
        <form class="access-form" method="post" on:submit=scan aria-labelledby="discover-title" data-testid="discover-form">
            <h3 id="discover-title">"Discover PDUs on a network"</h3>
            <div class="form-grid">
                <label class="field">
                    "Network"
                    <input autocomplete="off" required placeholder="10.0.20.0/24" bind:value=cidr data-testid="discover-cidr"/>
                    <small>"At most a /22 (1024 addresses), or one address."</small>
                </label>
                <label class="field">
                    "SNMP port"
                    <input inputmode="numeric" bind:value=port data-testid="discover-port"/>
                </label>
                <label class="field">
                    "Read community"
                    <input type="password" autocomplete="off" bind:value=community/>
                    <small>"Empty: “public”."</small>
                </label>
            </div>
            <button type="submit" disabled=move || !dash.hydrated.get() || scanning.get() data-testid="discover-run">
                {move || if scanning.get() { "Scanning…" } else { "Scan" }}
            </button>
            <div data-testid="discover-said">{said(message)}</div>
            {results}
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_names() {
        assert_eq!(id_from_name("Rack 1 PDU-A"), "rack-1-pdu-a");
        assert_eq!(id_from_name("  ***  "), "pdu");
        assert!(crate::model::DeviceId::parse(&id_from_name("Ünïcode Näme (2)")).is_ok());
    }

    #[test]
    fn a_found_pdu_fills_the_form_and_a_bad_field_is_named() {
        let found = Discovered {
            host: "127.0.0.2".into(),
            port: 1161,
            model: "PDU44001".into(),
            serial: "SIM1".into(),
            name: "Lab PDU".into(),
            firmware: String::new(),
            known_as: None,
        };
        let mut draft = Draft::found(&found);
        let entry = draft.entry().unwrap();
        assert_eq!(
            (entry.device_id.as_str(), entry.snmp_port, entry.serial.as_deref()),
            ("lab-pdu", 1161, Some("SIM1"))
        );
        assert!(!entry.simulated);
        draft.port = "x".into();
        assert!(draft.entry().unwrap_err().starts_with("SNMP port"));
        draft.port = "161".into();
        draft.feed = "A".into();
        assert!(draft.entry().unwrap_err().starts_with("feed"), "a feed needs a rack");
    }

    #[test]
    fn changing_a_pdu_keeps_what_the_form_does_not_show() {
        let mut settings = PduEntry::simulated("lab");
        settings.simulated = false;
        settings.host = "10.0.0.9".into();
        settings.max_varbinds = Some(4);
        settings.timeout = Some(0.5);
        settings.serial = Some("S1".into());
        let view = PduView {
            settings,
            state: "online".into(),
            last_error: None,
            identity_mismatch: None,
            answering_serial: None,
        };
        let mut draft = Draft::of(&view);
        draft.label = "Lab".into();
        let entry = draft.entry().unwrap();
        assert_eq!((entry.max_varbinds, entry.timeout, entry.serial.as_deref()), (Some(4), Some(0.5), Some("S1")));
        assert_eq!(entry.label.as_deref(), Some("Lab"));
        assert_eq!(entry.community_write, None, "left empty: the bridge keeps the one it has");
    }
}
