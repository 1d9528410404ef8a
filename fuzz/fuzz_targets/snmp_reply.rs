//! The whole reply-decoding path of a poll: bytes from the network → SNMP
//! message → CPS-MIB answers → raw readings → the snapshot the bridge shows.
//! Nothing here may panic or allocate without bound, whatever the bytes.
//!
//!     RUSTC_BOOTSTRAP=1 cargo fuzz run snmp_reply --sanitizer none -- -max_total_time=300
#![no_main]

use app::model::DeviceId;
use libfuzzer_sys::fuzz_target;
use server::pdu::scale;
use server::snmp::codec;
use server::snmp::mib::{self, Answers, Layout};
use std::collections::HashMap;

fuzz_target!(|bytes: &[u8]| {
    let Ok(reply) = codec::decode(bytes) else { return };
    let answers: HashMap<_, _> = reply.varbinds.into_iter().collect();
    let a = Answers(&answers);
    let layout = Layout { load_rows: vec![1, 2, 3], outlets: (1..=10).collect(), banks: vec![1, 2], has_ats: true };
    let identity = mib::decode_identity(&a, &layout);
    let names = mib::decode_outlet_names(&a, &layout);
    let raw = mib::decode_poll(&a, &layout, &names);
    let id = DeviceId::parse("fuzz").unwrap();
    let ctx = scale::Context { device_id: &id, label: "fuzz", simulated: false, poll_interval_ms: 1000, ts_ms: 0 };
    let _ = scale::snapshot(&ctx, &identity, &raw);
});
