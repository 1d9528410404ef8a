//! pdu-bridge: polls CyberPower switched ATS PDUs, corrects and names their
//! readings, and serves a live dashboard and a JSON API.
//!
//! One folder or file per subsystem, each owning its data: `config`
//! (settings), `pdu` (device readings, scaling, corrections, the simulated
//! PDU), `poller` (cadence and connection state), `snmp` (codec, MIB map,
//! client, simulator agent), `service` (the one path
//! for every state-changing action), `web` (HTTP, the dashboard, the stream).

pub mod config;
pub mod events;
mod fsutil;
pub mod history;
pub mod mqtt;
pub mod pdu;
pub mod poller;
pub mod rules;
pub mod service;
pub mod snmp;
pub mod web;

use config::Config;
use service::Bridge;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long pollers get to finish after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Run the bridge on `listener` until `shutdown` fires: pollers, web server,
/// then an orderly stop.
pub async fn serve(config: &Config, listener: TcpListener, shutdown: CancellationToken) -> std::io::Result<()> {
    let bridge = Arc::new(Bridge::new(config));
    serve_bridge(bridge, config, listener, shutdown).await
}

/// As [`serve`], with a bridge the caller keeps (tests inject faults into it).
pub async fn serve_bridge(
    bridge: Arc<Bridge>,
    config: &Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut tasks = bridge.spawn_pollers(&shutdown);
    let automation = rules::Automation::new(config, &bridge);
    tasks.extend(automation.spawn(&shutdown));
    let (mqtt, mqtt_tasks) = mqtt::start(&config.mqtt, &bridge, &automation, &shutdown);
    tasks.extend(mqtt_tasks);
    let report_settings = history::reports::Settings::from_config(config);
    // History is not essential to switching outlets: without it the bridge runs.
    let history = match history::store::Store::open(&config.history_db).await {
        Ok(store) => {
            let store = Arc::new(store);
            let demo: Vec<_> = config.devices.iter().filter(|d| d.is_simulated()).map(|d| d.id.clone()).collect();
            let writer = history::serve(
                store.clone(),
                bridge.clone(),
                (demo, config.demo_history_days),
                report_settings.clone(),
                shutdown.clone(),
            );
            tasks.push(tokio::spawn(writer));
            tasks.push(tokio::spawn(history::retention(store.clone(), config.retention_days, shutdown.clone())));
            Some(store)
        }
        Err(e) => {
            tracing::error!(path = %config.history_db.display(), error = %e, "history is off");
            None
        }
    };
    let state = web::AppState {
        bridge,
        automation,
        history,
        reports: report_settings,
        mqtt,
        shutdown: shutdown.clone(),
        site_root: config.site_root.clone(),
    };
    let served = web::run(listener, web::router(state), shutdown.clone()).await;
    // However the server stopped, stop the pollers and MQTT too (MQTT says
    // `offline` on its way out).
    shutdown.cancel();
    if tokio::time::timeout(SHUTDOWN_GRACE, futures::future::join_all(tasks)).await.is_err() {
        tracing::warn!("background tasks did not stop within {SHUTDOWN_GRACE:?}");
    }
    served
}
