//! Replies are hostile input: decoded without panics and with bounded memory;
//! mismatched, malformed and mistyped replies never pass as answers.

use proptest::prelude::*;
use server::snmp::client::SnmpClient;
use server::snmp::codec::{self, decode, encode, parse_oid, DecodeError, Message, PduKind, VarValue};
use server::snmp::mib::{self, Answers};
use std::time::Duration;

fn response(varbinds: Vec<(Vec<u32>, VarValue)>) -> Message {
    Message {
        community: b"public".to_vec(),
        kind: PduKind::Response,
        request_id: 7,
        error_status: 0,
        error_index: 0,
        varbinds,
    }
}

fn valid_reply() -> Vec<u8> {
    encode(&response(vec![
        (mib::outlet_status(4, 1), VarValue::Integer(1)),
        (mib::outlet_status(2, 1), VarValue::OctetString(b"Router".to_vec())),
        (mib::sys_uptime(), VarValue::TimeTicks(12345)),
    ]))
    .unwrap()
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn corrupted_replies_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let mut bytes = valid_reply();
        for (at, byte) in flips {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        let cut = cut % (bytes.len() + 1);
        let _ = decode(&bytes[..cut]);
        let _ = decode(&bytes);
    }

    #[test]
    fn claimed_lengths_larger_than_the_datagram_are_refused(len in 0x80u32..u32::MAX) {
        // SEQUENCE with a four-byte length far beyond the input.
        let mut bytes = vec![0x30, 0x84];
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(&[0x02, 0x01, 0x01]);
        prop_assert!(decode(&bytes).is_err());
    }
}

#[test]
fn huge_oids_strings_and_varbind_lists_are_refused() {
    let long_oid: Vec<u32> = std::iter::once(1).chain(std::iter::repeat_n(3, 200)).collect();
    let bytes = encode(&response(vec![(long_oid, VarValue::Null)])).unwrap();
    assert_eq!(decode(&bytes), Err(DecodeError::Oid));

    let oid = parse_oid("1.3.6.1.2.1.1.1.0").unwrap();
    let bytes =
        encode(&response(vec![(oid.clone(), VarValue::OctetString(vec![b'x'; codec::MAX_OCTETS + 1]))])).unwrap();
    assert_eq!(decode(&bytes), Err(DecodeError::TooLong));

    let many = vec![(oid, VarValue::Null); codec::MAX_VARBINDS + 1];
    assert_eq!(decode(&encode(&response(many)).unwrap()), Err(DecodeError::TooManyVarbinds));
}

#[test]
fn wrong_types_and_exception_values_read_as_absent() {
    let mut answers = std::collections::HashMap::new();
    answers.insert(mib::input_voltage(), VarValue::OctetString(b"1204".to_vec()));
    answers.insert(mib::input_frequency(), VarValue::EndOfMibView);
    answers.insert(mib::sys_uptime(), VarValue::Integer(5));
    let layout = mib::Layout { outlets: vec![1], ..Default::default() };
    answers.insert(mib::outlet_status(4, 1), VarValue::NoSuchInstance);
    let poll = mib::decode_poll(&Answers(&answers), &layout, &[]);
    assert_eq!((poll.input_voltage, poll.input_frequency, poll.uptime_ticks), (None, None, None));
    assert_eq!(poll.outlets[0].state, None);
}

/// A fake agent that answers every request with garbage, then a reply to
/// another request, then the real answer with the wrong types.
#[tokio::test]
async fn the_client_discards_garbage_and_mismatched_replies() {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        loop {
            let Ok((len, peer)) = socket.recv_from(&mut buf).await else { return };
            let Ok(request) = decode(&buf[..len]) else { continue };
            let _ = socket.send_to(b"\x30\x03\x02\x01", peer).await;
            let mut other = response(vec![(mib::sys_uptime(), VarValue::TimeTicks(1))]);
            other.request_id = request.request_id.wrapping_add(1);
            let _ = socket.send_to(&encode(&other).unwrap(), peer).await;
            let mut real = response(
                request.varbinds.iter().map(|(o, _)| (o.clone(), VarValue::OctetString(b"?".to_vec()))).collect(),
            );
            real.request_id = request.request_id;
            let _ = socket.send_to(&encode(&real).unwrap(), peer).await;
        }
    });
    let client = SnmpClient::new(addr.to_string(), "public", "private", Duration::from_secs(1), 0, 10);
    let answers = client.get(&[mib::sys_uptime(), mib::input_voltage()]).await.unwrap();
    assert_eq!(answers[&mib::sys_uptime()], VarValue::OctetString(b"?".to_vec()), "only the matching reply counts");
    assert_eq!(Answers(&answers).int(&mib::input_voltage()), None, "a string is not a voltage");
}
