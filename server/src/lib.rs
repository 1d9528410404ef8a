//! pdu-bridge: polls CyberPower switched ATS PDUs, corrects and names their
//! readings, and serves a live dashboard and a JSON API.
//!
//! One folder or file per subsystem, each owning its data; ARCHITECTURE.md
//! draws them and the channels between their tasks. Leaves first: `clock`
//! (unix time), `config` (settings), `pdu` (device readings, scaling,
//! corrections, the simulated PDU), `snmp` (codec, MIB map, client,
//! simulator agent), `device` (one PDU at run time), `queue` and `bus`
//! (fan-out), `events`, `alarms` and `notifications`, `bridge` (devices and the one outlet command path),
//! `poller`, `history`, `rules`, `mqtt`, and `web` (HTTP, the dashboard, the
//! stream, and the one service layer both the API and the dashboard call).

pub mod alarms;
pub mod auth;
pub mod bridge;
pub mod bus;
pub mod check;
pub mod clock;
pub mod config;
pub mod device;
pub mod discover;
pub mod events;
pub mod fleet;
mod fsutil;
pub mod health;
pub mod history;
pub mod manage;
pub mod mqtt;
pub mod notifications;
pub mod notify;
pub mod pdu;
pub mod poller;
pub mod queue;
pub mod rules;
pub mod snmp;
pub mod stats;
pub mod web;

use bridge::Bridge;
use config::{Config, DeviceKind};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long pollers get to finish after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Run the bridge on `listener` until `shutdown` fires: pollers, web server,
/// then an orderly stop.
pub async fn serve(config: &Config, listener: TcpListener, shutdown: CancellationToken) -> std::io::Result<()> {
    let bridge = Arc::new(Bridge::new(config));
    serve_bridge(bridge, config, listener, shutdown).await
}

/// Every task of a running bridge, and the services the web calls.
pub struct Running {
    pub services: web::Services,
    pub tasks: Vec<JoinHandle<()>>,
}

/// Open the access store and, on a first start, create the admin.
/// Without it nobody could sign in, so a failure stops start-up.
pub async fn open_auth(config: &Config) -> Result<Arc<auth::Auth>, auth::AuthError> {
    let access = auth::Auth::open(&config.auth, &config.data_dir).await?;
    match access.first_admin(config.auth.admin_password.as_ref()).await? {
        auth::FirstAdmin::Exists => {
            if config.auth.admin_password.is_some() {
                tracing::info!("BRIDGE_ADMIN_PASSWORD is used only on a first start; users exist, so it was ignored");
            }
        }
        auth::FirstAdmin::FromSetting => {
            tracing::info!("first start: user {:?} created with BRIDGE_ADMIN_PASSWORD", auth::FIRST_ADMIN)
        }
        auth::FirstAdmin::Random { file, password } => {
            tracing::warn!(
                "first start: user {:?} created with a random password, saved in {} (readable by this user only); \
                 sign in and change it",
                auth::FIRST_ADMIN,
                file.display()
            );
            // Shown once to a person at a terminal; never to a log file.
            use std::io::IsTerminal;
            if std::io::stdout().is_terminal() {
                println!("\n  Sign in as {:?} with password: {password}\n", auth::FIRST_ADMIN);
            }
        }
    }
    Ok(Arc::new(access))
}

/// Start everything but the web server: history and events (if the store
/// opens), rules, MQTT, and last the pollers, so every consumer is
/// subscribed before the first snapshot.
pub async fn start(
    config: &Config,
    bridge: Arc<Bridge>,
    shutdown: &CancellationToken,
) -> Result<Running, auth::AuthError> {
    let mut tasks = Vec::new();
    let access = open_auth(config).await?;
    bridge.set_audit(access.clone());
    tasks.push(tokio::spawn(auth::housekeeping(access.clone(), shutdown.clone())));
    let automation = rules::Automation::new(config, &bridge);
    let reports = history::reports::Settings::from_config(config);
    // History is not essential to switching outlets: without it the bridge runs.
    let mut history_note = None;
    let history = match history::store::Store::open_checked(&config.history_db).await {
        Ok(opened) => {
            let store = Arc::new(opened.store);
            if let Some((moved, why)) = &opened.replaced {
                let note = format!(
                    "the history store was damaged ({why}); it was moved to {} and a new one started",
                    moved.display()
                );
                tracing::error!("{note}");
                history_note = Some(note);
            }
            let snapshots = bridge.bus().durable("history", history::queue_capacity(bridge.devices().len()), None);
            let demo: Vec<_> = config
                .devices
                .iter()
                .filter_map(|d| match d.kind {
                    DeviceKind::Simulated { seed, probe } => Some(history::DemoPdu { id: d.id.clone(), seed, probe }),
                    DeviceKind::Snmp { .. } => None,
                })
                .collect();
            let writer = history::serve(
                store.clone(),
                snapshots,
                {
                    let bridge = bridge.clone();
                    Arc::new(move |id: &str| {
                        bridge.device(Some(id)).map(|d| history::reports::outlet_names(&d)).unwrap_or_default()
                    })
                },
                (demo, config.demo_history_days),
                reports.clone(),
                shutdown.clone(),
            );
            tasks.push(tokio::spawn(writer));
            tasks.push(tokio::spawn(history::retention(store.clone(), config.retention_days, shutdown.clone())));
            events::prepare(&store, bridge.events(), Some(config.data_dir.join("events.jsonl"))).await;
            if let Some(note) = &history_note {
                // An alarm everyone sees: the dashboard's events and MQTT.
                for device in bridge.devices() {
                    let event =
                        app::model::Event::new(clock::unix_secs(), device.id().clone(), "history_replaced", note);
                    bridge.events().record(event);
                }
            }
            let (sink, days) = (bridge.events().clone(), config.events_retention_days);
            tasks.push(tokio::spawn(events::run(store.clone(), sink, days, shutdown.clone())));
            Some(store)
        }
        Err(e) => {
            tracing::error!(path = %config.history_db.display(), error = %e, "history is off");
            history_note = Some(format!("{}: {e}", config.history_db.display()));
            None
        }
    };
    // Alarms: notifications to the configured channels, and the task that
    // looks at every snapshot and at the history store.
    bridge.alarms().set_notifier(notifications::Notifier::start(config.notify.clone(), shutdown.clone()));
    let alarms_file = config.data_dir.join("alarms.json");
    let restored = bridge.alarms().restore_from(&alarms_file);
    if restored > 0 {
        tracing::info!(alarms = restored, "alarms kept before the restart taken back");
    }
    tasks.push(tokio::spawn(alarms::keep(bridge.alarms().clone(), alarms_file, shutdown.clone())));
    let history_off = history.is_none().then(|| history_note.clone()).flatten();
    tasks.push(tokio::spawn(alarms::run(
        bridge.alarms().clone(),
        bridge.bus().live(),
        {
            let bridge = bridge.clone();
            move || {
                let never_answered = |d: &device::Device| {
                    let missed = d.polls.failed() >= u64::from(poller::MISSES_BEFORE_UNREACHABLE);
                    (d.latest().is_none() && missed).then(|| d.last_error()).flatten()
                };
                let watched =
                    |d: &Arc<device::Device>| alarms::Watched { id: d.id().clone(), never_answered: never_answered(d) };
                bridge.devices().iter().map(watched).collect()
            }
        },
        history.clone(),
        history_off,
        shutdown.clone(),
    )));
    let (mqtt, mqtt_tasks) = mqtt::start(&config.mqtt, &bridge, &automation, &access, shutdown);
    tasks.extend(mqtt_tasks);
    // Every PDU's rule runner and poller, last.
    let fleet = fleet::Fleet::new(config, bridge.clone(), automation.clone(), shutdown.clone());
    tasks.push(fleet.start());
    let services = web::Services { bridge, automation, history, reports, mqtt, history_note, auth: access, fleet };
    Ok(Running { services, tasks })
}

/// As [`serve`], with a bridge the caller keeps (tests inject faults into it).
pub async fn serve_bridge(
    bridge: Arc<Bridge>,
    config: &Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    // A certificate or key that cannot be used stops start-up before
    // anything runs, naming the setting.
    let tls = match &config.tls {
        Some(files) => Some(web::Tls::load(files).await.map_err(std::io::Error::other)?),
        None => None,
    };
    let Running { services, mut tasks } =
        start(config, bridge, &shutdown).await.map_err(|e| std::io::Error::other(format!("access control: {e}")))?;
    // Listening and every task started: ready (for systemd's Type=notify).
    notify::notify("READY=1");
    tasks.push(tokio::spawn(notify::watchdog(shutdown.clone())));
    let state_fleet = services.fleet.clone();
    let state = web::AppState {
        services,
        shutdown: shutdown.clone(),
        site_root: config.site_root.clone(),
        allowed_hosts: config.allowed_hosts.clone(),
        secure_cookies: config.tls.is_some(),
        cors_origins: config.auth.cors_origins.clone(),
        cookie_name: web::auth::cookie_name(listener.local_addr().map(|a| a.port()).unwrap_or(config.web_addr.port())),
    };
    let served = web::run(listener, web::router(state), tls, shutdown.clone()).await;
    // However the server stopped, stop the pollers and MQTT too (MQTT says
    // `offline` on its way out).
    notify::notify("STOPPING=1");
    shutdown.cancel();
    let fleet = state_fleet.stopped(SHUTDOWN_GRACE);
    if tokio::time::timeout(SHUTDOWN_GRACE, futures::future::join(futures::future::join_all(tasks), fleet))
        .await
        .is_err()
    {
        tracing::warn!("background tasks did not stop within {SHUTDOWN_GRACE:?}");
    }
    served
}
