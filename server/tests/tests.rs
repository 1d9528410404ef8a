//! Integration tests for the bridge, one binary with themed modules.

mod util;

mod api;
mod poller;
mod process;
mod socket;
