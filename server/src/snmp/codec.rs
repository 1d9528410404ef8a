//! SNMP v2c messages on the wire, encoded and decoded with the maintained
//! `rasn-snmp` BER codec; both the client and the simulator agent go through
//! here, so there is one codec.
//!
//! Everything decoded is hostile input: the result is owned and bounded
//! (varbind count, OID length, string length) and every failure is a
//! [`DecodeError`], never a panic. (snmp2 was the planned codec, but its BER
//! writer is private, so it cannot encode an agent's responses.)

use rasn::types::{Integer, ObjectIdentifier, OctetString};
use rasn_smi::v1::{Counter, Gauge, IpAddress, TimeTicks};
use rasn_smi::v2::{ApplicationSyntax, Counter64, ObjectSyntax, SimpleSyntax};
use rasn_snmp::v2::{
    BulkPdu, GetBulkRequest, GetNextRequest, GetRequest, Pdu, Pdus, Response, SetRequest, VarBind, VarBindValue,
};
use rasn_snmp::v2c;

/// An object identifier as its arcs.
pub type Oid = Vec<u32>;

/// Limits on what a decoded message may hold. A PDU44001 poll needs tens of
/// varbinds and OIDs of about 15 arcs; anything far beyond is refused.
pub const MAX_VARBINDS: usize = 256;
pub const MAX_OID_ARCS: usize = 128;
pub const MAX_OCTETS: usize = 4096;
/// The largest message this side sends; GETBULK answers stop before it.
pub const MAX_MESSAGE: usize = 16 * 1024;

/// SNMP v2c's version field.
const VERSION_2C: i64 = 1;

/// Error statuses of RFC 3416.
pub mod status {
    pub const NO_ERROR: u32 = 0;
    pub const TOO_BIG: u32 = 1;
    pub const NO_SUCH_NAME: u32 = 2;
    pub const BAD_VALUE: u32 = 3;
    pub const READ_ONLY: u32 = 4;
    pub const GEN_ERR: u32 = 5;
    pub const NO_ACCESS: u32 = 6;
    pub const WRONG_TYPE: u32 = 7;
    pub const WRONG_LENGTH: u32 = 8;
    pub const WRONG_VALUE: u32 = 10;
    pub const NOT_WRITABLE: u32 = 17;

    pub fn name(status: u32) -> &'static str {
        match status {
            NO_ERROR => "noError",
            TOO_BIG => "tooBig",
            NO_SUCH_NAME => "noSuchName",
            BAD_VALUE => "badValue",
            READ_ONLY => "readOnly",
            GEN_ERR => "genErr",
            NO_ACCESS => "noAccess",
            WRONG_TYPE => "wrongType",
            WRONG_LENGTH => "wrongLength",
            WRONG_VALUE => "wrongValue",
            NOT_WRITABLE => "notWritable",
            _ => "error",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VarValue {
    Integer(i64),
    OctetString(Vec<u8>),
    ObjectId(Oid),
    Null,
    Counter32(u32),
    Gauge32(u32),
    TimeTicks(u32),
    Counter64(u64),
    IpAddress([u8; 4]),
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
}

impl VarValue {
    /// The three v2c exception values: the object is not there.
    pub fn is_exception(&self) -> bool {
        matches!(self, VarValue::NoSuchObject | VarValue::NoSuchInstance | VarValue::EndOfMibView)
    }

    /// Integer-like values (INTEGER, Gauge32, Counter32, TimeTicks).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            VarValue::Integer(v) => Some(v),
            VarValue::Counter32(v) | VarValue::Gauge32(v) | VarValue::TimeTicks(v) => Some(v.into()),
            VarValue::Counter64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Printable text of an OCTET STRING (lossy: names are for people).
    pub fn as_text(&self) -> Option<String> {
        match self {
            VarValue::OctetString(bytes) => Some(String::from_utf8_lossy(bytes).trim_end_matches('\0').to_owned()),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PduKind {
    Get,
    GetNext,
    GetBulk { non_repeaters: u32, max_repetitions: u32 },
    Set,
    Response,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub community: Vec<u8>,
    pub kind: PduKind,
    pub request_id: i32,
    pub error_status: u32,
    pub error_index: u32,
    pub varbinds: Vec<(Oid, VarValue)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("not SNMP v2c")]
    Version,
    #[error("unsupported PDU type")]
    PduType,
    #[error("more than {MAX_VARBINDS} varbinds")]
    TooManyVarbinds,
    #[error("an OID longer than {MAX_OID_ARCS} arcs or with an arc beyond 32 bits")]
    Oid,
    #[error("a string longer than {MAX_OCTETS} bytes")]
    TooLong,
    #[error("an unsupported value type")]
    ValueType,
}

fn oid_arcs(oid: &ObjectIdentifier) -> Result<Oid, DecodeError> {
    if oid.len() > MAX_OID_ARCS {
        return Err(DecodeError::Oid);
    }
    Ok(oid.to_vec())
}

fn value(v: &VarBindValue) -> Result<VarValue, DecodeError> {
    Ok(match v {
        VarBindValue::Unspecified => VarValue::Null,
        VarBindValue::NoSuchObject => VarValue::NoSuchObject,
        VarBindValue::NoSuchInstance => VarValue::NoSuchInstance,
        VarBindValue::EndOfMibView => VarValue::EndOfMibView,
        VarBindValue::Value(ObjectSyntax::Simple(simple)) => match simple {
            SimpleSyntax::Integer(i) => VarValue::Integer(i64::try_from(i).map_err(|_| DecodeError::ValueType)?),
            SimpleSyntax::String(s) if s.len() > MAX_OCTETS => return Err(DecodeError::TooLong),
            SimpleSyntax::String(s) => VarValue::OctetString(s.to_vec()),
            SimpleSyntax::ObjectId(o) => VarValue::ObjectId(oid_arcs(o)?),
        },
        VarBindValue::Value(ObjectSyntax::ApplicationWide(app)) => match app {
            ApplicationSyntax::Counter(c) => VarValue::Counter32(c.0),
            ApplicationSyntax::Unsigned(g) => VarValue::Gauge32(g.0),
            ApplicationSyntax::Ticks(t) => VarValue::TimeTicks(t.0),
            ApplicationSyntax::BigCounter(c) => VarValue::Counter64(c.0),
            ApplicationSyntax::Address(ip) => VarValue::IpAddress(*ip.0),
            ApplicationSyntax::Arbitrary(_) => return Err(DecodeError::ValueType),
        },
    })
}

fn varbinds(list: &[VarBind]) -> Result<Vec<(Oid, VarValue)>, DecodeError> {
    if list.len() > MAX_VARBINDS {
        return Err(DecodeError::TooManyVarbinds);
    }
    list.iter().map(|vb| Ok((oid_arcs(&vb.name)?, value(&vb.value)?))).collect()
}

pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    let msg: v2c::Message<Pdus> = rasn::ber::decode(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if msg.version != Integer::from(VERSION_2C) {
        return Err(DecodeError::Version);
    }
    if msg.community.len() > MAX_OCTETS {
        return Err(DecodeError::TooLong);
    }
    let (kind, pdu) = match &msg.data {
        Pdus::GetRequest(GetRequest(p)) => (PduKind::Get, p),
        Pdus::GetNextRequest(GetNextRequest(p)) => (PduKind::GetNext, p),
        Pdus::SetRequest(SetRequest(p)) => (PduKind::Set, p),
        Pdus::Response(Response(p)) => (PduKind::Response, p),
        Pdus::GetBulkRequest(GetBulkRequest(b)) => {
            return Ok(Message {
                community: msg.community.to_vec(),
                kind: PduKind::GetBulk { non_repeaters: b.non_repeaters, max_repetitions: b.max_repetitions },
                request_id: b.request_id,
                error_status: 0,
                error_index: 0,
                varbinds: varbinds(&b.variable_bindings)?,
            })
        }
        _ => return Err(DecodeError::PduType),
    };
    Ok(Message {
        community: msg.community.to_vec(),
        kind,
        request_id: pdu.request_id,
        error_status: pdu.error_status,
        error_index: pdu.error_index,
        varbinds: varbinds(&pdu.variable_bindings)?,
    })
}

fn object_id(oid: &[u32]) -> Option<ObjectIdentifier> {
    ObjectIdentifier::new(oid.to_vec())
}

fn syntax(v: &VarValue) -> Option<VarBindValue> {
    let simple = |s| Some(VarBindValue::Value(ObjectSyntax::Simple(s)));
    let app = |a| Some(VarBindValue::Value(ObjectSyntax::ApplicationWide(a)));
    match v {
        VarValue::Integer(i) => simple(SimpleSyntax::Integer(Integer::from(*i))),
        VarValue::OctetString(s) => simple(SimpleSyntax::String(OctetString::from(s.clone()))),
        VarValue::ObjectId(o) => simple(SimpleSyntax::ObjectId(object_id(o)?)),
        VarValue::Null => Some(VarBindValue::Unspecified),
        VarValue::Counter32(c) => app(ApplicationSyntax::Counter(Counter(*c))),
        VarValue::Gauge32(g) => app(ApplicationSyntax::Unsigned(Gauge(*g))),
        VarValue::TimeTicks(t) => app(ApplicationSyntax::Ticks(TimeTicks(*t))),
        VarValue::Counter64(c) => app(ApplicationSyntax::BigCounter(Counter64(*c))),
        VarValue::IpAddress(ip) => app(ApplicationSyntax::Address(IpAddress((*ip).into()))),
        VarValue::NoSuchObject => Some(VarBindValue::NoSuchObject),
        VarValue::NoSuchInstance => Some(VarBindValue::NoSuchInstance),
        VarValue::EndOfMibView => Some(VarBindValue::EndOfMibView),
    }
}

/// The encoded size of a message is at most this many bytes more than the
/// sum of its parts; used to keep answers under [`MAX_MESSAGE`].
pub fn varbind_size(oid: &Oid, v: &VarValue) -> usize {
    let value = match v {
        VarValue::OctetString(s) => s.len(),
        VarValue::ObjectId(o) => o.len() * 5,
        _ => 9,
    };
    oid.len() * 5 + value + 12
}

/// Encode a message; `None` if it holds an OID BER cannot carry (fewer
/// than two arcs, or a first arc above 2), which no valid request produces.
pub fn encode(msg: &Message) -> Option<Vec<u8>> {
    let list = msg
        .varbinds
        .iter()
        .map(|(oid, v)| Some(VarBind { name: object_id(oid)?, value: syntax(v)? }))
        .collect::<Option<Vec<_>>>()?;
    let pdu = || Pdu {
        request_id: msg.request_id,
        error_status: msg.error_status,
        error_index: msg.error_index,
        variable_bindings: list.clone(),
    };
    let data = match msg.kind {
        PduKind::Get => Pdus::GetRequest(GetRequest(pdu())),
        PduKind::GetNext => Pdus::GetNextRequest(GetNextRequest(pdu())),
        PduKind::Set => Pdus::SetRequest(SetRequest(pdu())),
        PduKind::Response => Pdus::Response(Response(pdu())),
        PduKind::GetBulk { non_repeaters, max_repetitions } => Pdus::GetBulkRequest(GetBulkRequest(BulkPdu {
            request_id: msg.request_id,
            non_repeaters,
            max_repetitions,
            variable_bindings: list.clone(),
        })),
    };
    let message =
        v2c::Message { version: Integer::from(VERSION_2C), community: OctetString::from(msg.community.clone()), data };
    rasn::ber::encode(&message).ok()
}

/// Parse dotted text (`1.3.6.1.2.1.1.3.0`) into arcs.
pub fn parse_oid(text: &str) -> Option<Oid> {
    let arcs: Option<Oid> = text.trim_start_matches('.').split('.').map(|a| a.parse().ok()).collect();
    arcs.filter(|a| a.len() >= 2 && a.len() <= MAX_OID_ARCS)
}

pub fn format_oid(oid: &[u32]) -> String {
    oid.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: PduKind, varbinds: Vec<(Oid, VarValue)>) -> Message {
        Message { community: b"public".to_vec(), kind, request_id: 4242, error_status: 0, error_index: 0, varbinds }
    }

    #[test]
    fn every_value_type_round_trips() {
        let oid = parse_oid("1.3.6.1.4.1.3808.1.1.3.3.5.1.1.2.1").unwrap();
        let values = vec![
            VarValue::Integer(-5),
            VarValue::Integer(1_234_567),
            VarValue::OctetString(b"Router".to_vec()),
            VarValue::ObjectId(parse_oid("1.3.6.1.4.1.3808").unwrap()),
            VarValue::Null,
            VarValue::Counter32(7),
            VarValue::Gauge32(4_000_000_000),
            VarValue::TimeTicks(36_512_345),
            VarValue::Counter64(u64::MAX / 3),
            VarValue::IpAddress([127, 0, 0, 1]),
            VarValue::NoSuchObject,
            VarValue::NoSuchInstance,
            VarValue::EndOfMibView,
        ];
        let msg = message(PduKind::Response, values.into_iter().map(|v| (oid.clone(), v)).collect());
        assert_eq!(decode(&encode(&msg).unwrap()).unwrap(), msg);
    }

    #[test]
    fn getbulk_carries_its_repetition_fields() {
        let msg = message(
            PduKind::GetBulk { non_repeaters: 1, max_repetitions: 20 },
            vec![(parse_oid("1.3.6.1").unwrap(), VarValue::Null)],
        );
        assert_eq!(decode(&encode(&msg).unwrap()).unwrap(), msg);
    }

    #[test]
    fn truncated_and_garbage_input_is_an_error_not_a_panic() {
        let good =
            encode(&message(PduKind::Get, vec![(parse_oid("1.3.6.1.2.1.1.3.0").unwrap(), VarValue::Null)])).unwrap();
        for cut in 0..good.len() {
            let _ = decode(&good[..cut]);
        }
        assert!(decode(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode(b"").is_err());
    }

    #[test]
    fn v1_messages_are_refused() {
        let mut bytes = encode(&message(PduKind::Get, vec![(parse_oid("1.3.6.1").unwrap(), VarValue::Null)])).unwrap();
        // The version INTEGER is the first element: 30 LL 02 01 <version>.
        let at = bytes.windows(3).position(|w| w == [0x02, 0x01, 0x01]).unwrap();
        bytes[at + 2] = 0;
        assert_eq!(decode(&bytes), Err(DecodeError::Version));
    }

    #[test]
    fn oids_parse_and_print() {
        assert_eq!(parse_oid(".1.3.6.1.2.1.1.5.0"), Some(vec![1, 3, 6, 1, 2, 1, 1, 5, 0]));
        assert_eq!(parse_oid("1.x"), None);
        assert_eq!(format_oid(&[1, 3, 6]), "1.3.6");
    }
}
