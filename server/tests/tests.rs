//! Integration tests for the bridge, one binary with themed modules.

mod util;

mod api;
mod energy;
mod events;
mod guard;
mod history;
mod hostile;
mod limits;
mod lossy;
mod mqtt;
mod peers;
mod poller;
mod process;
mod recovery;
mod reliability;
mod rules;
mod snmp;
mod socket;
