//! The SNMP v2c client for one PDU: GET of many varbinds in chunks, GETNEXT
//! walks, SET — one request outstanding at a time.
//!
//! Owns: the device's UDP socket, request ids, timeouts and retries, and the
//! varbinds-per-request limit it has learnt. Embedded agents are fragile:
//! some CyberPower firmware fails a GET with 13 or more varbinds and some
//! network cards time out on any multi-varbind GET, so requests start at the
//! configured limit (10 by default) and halve, down to 1, on a timeout or
//! `tooBig`, and the smaller size is remembered for this device.
//!
//! The agent answers one request at a time and drops replies when several
//! collectors poll it at once, so every request holds the session lock for
//! its whole exchange. The lock is fair (FIFO), so a SET queued behind a
//! poll's current request goes next, before the poll's following request.
//! Replies that do not match (late answers to an earlier request, foreign
//! request ids, malformed datagrams) are discarded, never taken as answers;
//! the socket is connected, so datagrams from other addresses never arrive.

use super::codec::{self, status, Message, Oid, PduKind, VarValue};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// GETNEXT steps at most in one walk: no PDU table is anywhere near this.
const MAX_WALK: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnmpError {
    #[error("no answer within {:.1} s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("the agent answered {} for {}", status::name(*.status), .oid)]
    Status { status: u32, oid: String },
    #[error("network error: {0}")]
    Io(String),
}

struct Session {
    socket: UdpSocket,
    next_id: i32,
    buf: Vec<u8>,
}

pub struct SnmpClient {
    /// `host:port`, resolved when a session opens (DNS may be down at start).
    target: String,
    read_community: Vec<u8>,
    write_community: Vec<u8>,
    timeout: Duration,
    retries: u32,
    /// Varbinds per GET: starts at the configured maximum, shrinks on
    /// timeouts and `tooBig`, never grows back (the device is what it is).
    max_varbinds: AtomicUsize,
    /// Requests sent (each try counts): for benchmarks and metrics.
    requests: AtomicU64,
    session: Mutex<Option<Session>>,
}

impl SnmpClient {
    pub fn new(target: String, read: &str, write: &str, timeout: Duration, retries: u32, max_varbinds: usize) -> Self {
        Self {
            target,
            read_community: read.as_bytes().to_vec(),
            write_community: write.as_bytes().to_vec(),
            timeout,
            retries,
            max_varbinds: AtomicUsize::new(max_varbinds.max(1)),
            requests: AtomicU64::new(0),
            session: Mutex::new(None),
        }
    }

    /// How many varbinds a GET carries now.
    pub fn max_varbinds(&self) -> usize {
        self.max_varbinds.load(Ordering::Relaxed)
    }

    /// Requests sent so far, retries included.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// One exchange: send, wait for the matching answer, retry on silence.
    async fn request(
        &self,
        kind: PduKind,
        community: &[u8],
        varbinds: Vec<(Oid, VarValue)>,
    ) -> Result<Message, SnmpError> {
        let mut guard = self.session.lock().await;
        if guard.is_none() {
            let target: SocketAddr = tokio::net::lookup_host(&self.target)
                .await
                .ok()
                .and_then(|mut addrs| addrs.next())
                .ok_or_else(|| SnmpError::Io(format!("cannot resolve {}", self.target)))?;
            let bind: SocketAddr =
                if target.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
            let socket = UdpSocket::bind(bind).await.map_err(|e| SnmpError::Io(e.to_string()))?;
            socket.connect(target).await.map_err(|e| SnmpError::Io(e.to_string()))?;
            // Start request ids somewhere unpredictable-ish per session.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(1);
            let seed = (nanos ^ std::process::id()) as i32 & 0x3fff_ffff;
            *guard = Some(Session { socket, next_id: seed.max(1), buf: vec![0; 65_535] });
        }
        let session = guard.as_mut().expect("session opened above");
        let request_id = session.next_id;
        session.next_id = session.next_id.checked_add(1).filter(|i| *i > 0).unwrap_or(1);
        let message =
            Message { community: community.to_vec(), kind, request_id, error_status: 0, error_index: 0, varbinds };
        let bytes = codec::encode(&message).ok_or_else(|| SnmpError::Io("an OID that cannot be encoded".into()))?;

        for _attempt in 0..=self.retries {
            self.requests.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = session.socket.send(&bytes).await {
                // An ICMP port unreachable from an earlier send surfaces here:
                // it means nobody is listening, which is a timeout to us.
                tracing::trace!(error = %e, "SNMP send failed");
            }
            let deadline = Instant::now() + self.timeout;
            loop {
                let received = tokio::time::timeout_at(deadline, session.socket.recv(&mut session.buf)).await;
                let Ok(received) = received else { break };
                let Ok(len) = received else { continue };
                match codec::decode(&session.buf[..len]) {
                    Ok(reply) if reply.request_id == request_id && reply.kind == PduKind::Response => return Ok(reply),
                    Ok(_) => tracing::debug!("discarded an SNMP reply for another request"),
                    Err(e) => tracing::debug!(error = %e, "discarded a malformed SNMP reply"),
                }
            }
        }
        Err(SnmpError::Timeout(self.timeout))
    }

    fn check(reply: &Message) -> Result<(), SnmpError> {
        if reply.error_status == status::NO_ERROR {
            return Ok(());
        }
        let oid = reply
            .varbinds
            .get(reply.error_index.saturating_sub(1) as usize)
            .map(|(o, _)| codec::format_oid(o))
            .unwrap_or_default();
        Err(SnmpError::Status { status: reply.error_status, oid })
    }

    /// GET every OID, in as few requests as the device tolerates. Objects the
    /// device lacks come back as exception values.
    pub async fn get(&self, oids: &[Oid]) -> Result<HashMap<Oid, VarValue>, SnmpError> {
        let mut answers = HashMap::with_capacity(oids.len());
        let mut rest = oids;
        while !rest.is_empty() {
            let size = self.max_varbinds().min(rest.len());
            let chunk: Vec<(Oid, VarValue)> = rest[..size].iter().map(|o| (o.clone(), VarValue::Null)).collect();
            let read = self.read_community.clone();
            match self.request(PduKind::Get, &read, chunk).await {
                Ok(reply) if reply.error_status == status::TOO_BIG && size > 1 => self.shrink(size, "tooBig"),
                Ok(reply) => {
                    Self::check(&reply)?;
                    answers.extend(reply.varbinds);
                    rest = &rest[size..];
                }
                Err(SnmpError::Timeout(_)) if size > 1 => self.shrink(size, "a timeout"),
                Err(e) => return Err(e),
            }
        }
        Ok(answers)
    }

    fn shrink(&self, size: usize, why: &str) {
        let smaller = (size / 2).max(1);
        self.max_varbinds.fetch_min(smaller, Ordering::Relaxed);
        tracing::info!(target = %self.target, varbinds = smaller, "the agent failed a {size}-varbind GET with {why}; using smaller requests");
    }

    /// Every instance under `column`, by GETNEXT.
    pub async fn walk(&self, column: &Oid) -> Result<Vec<(Oid, VarValue)>, SnmpError> {
        let mut found = Vec::new();
        let mut cursor = column.clone();
        let read = self.read_community.clone();
        for _ in 0..MAX_WALK {
            let reply = self.request(PduKind::GetNext, &read, vec![(cursor.clone(), VarValue::Null)]).await?;
            Self::check(&reply)?;
            let Some((oid, value)) = reply.varbinds.into_iter().next() else { break };
            // Only strictly increasing OIDs under the column: a broken agent
            // must not make the walk loop.
            if !oid.starts_with(column) || value == VarValue::EndOfMibView || oid <= cursor {
                break;
            }
            cursor.clone_from(&oid);
            found.push((oid, value));
        }
        Ok(found)
    }

    /// SET with the write community; refused writes are errors naming why.
    pub async fn set(&self, oid: &Oid, value: VarValue) -> Result<(), SnmpError> {
        let write = self.write_community.clone();
        let reply = self.request(PduKind::Set, &write, vec![(oid.clone(), value)]).await?;
        Self::check(&reply)
    }
}
