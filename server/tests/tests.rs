//! Integration tests for the bridge, one binary with themed modules.

mod util;

mod api;
mod energy;
mod events;
mod history;
mod hostile;
mod mqtt;
mod peers;
mod poller;
mod process;
mod rules;
mod snmp;
mod socket;
