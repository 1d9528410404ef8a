//! Integration tests for the bridge, one binary with themed modules.

mod util;

mod access;
mod alarms;
mod api;
mod discovery;
mod energy;
mod events;
mod fleet;
mod guard;
mod history;
mod hostile;
mod limits;
mod lossy;
mod manage;
mod metrics;
mod mqtt;
mod mqtt_accounts;
mod mqtt_alarms;
mod notifications;
mod openapi;
mod peers;
mod poller;
mod process;
mod recovery;
mod reliability;
mod rules;
mod secrets;
mod sensors;
mod snmp;
mod socket;
mod tls;
