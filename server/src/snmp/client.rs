//! The SNMP v2c client for one PDU: GET of many varbinds in chunks, GETNEXT
//! walks, SET — one request outstanding at a time.
//!
//! Owns: the device's UDP socket, request ids, the round-trip estimate that
//! paces resends, and the varbinds-per-request size it has learnt.
//!
//! A lost datagram is not a size limit. A read that is not answered is sent
//! again (with a new request id, so each answer says which send it answers)
//! after about four measured round trips, doubling each time, up to the
//! configured timeout per try; it fails only when `timeout × (retries + 1)`
//! passes without any answer. A SET is sent again only after a whole timeout. A chunk that fails is read again in
//! halves. Requests shrink for good only when the learnt size failed
//! [`STRIKES_BEFORE_SHRINK`] times in a row, each time with a smaller
//! request answered right after it and with no answer at that size in
//! between — an agent that times out above N varbinds (some CyberPower
//! network cards do) — or when the agent answers `tooBig`. An outage (where
//! nothing is answered) never shrinks them, and a larger size is tried
//! again later ([`PROBE_UP_FIRST`], doubling up to [`PROBE_UP_MAX`]).
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// GETNEXT steps at most in one walk: no PDU table is anywhere near this.
const MAX_WALK: usize = 1024;
/// The shortest wait before a request is sent again, however fast the
/// agent usually answers: scheduling jitter on either side must not look
/// like a loss.
pub const MIN_RESEND: Duration = Duration::from_millis(100);
/// Failures of the learnt size in a row (each followed by a smaller request
/// that was answered) before requests shrink: at 10 % random loss, with
/// resends, three in a row without one success in between does not happen;
/// an agent with a real limit fails every time.
pub const STRIKES_BEFORE_SHRINK: u32 = 3;
/// After requests shrank, a larger size is tried this long later; each try
/// that fails doubles the wait, up to [`PROBE_UP_MAX`].
pub const PROBE_UP_FIRST: Duration = Duration::from_secs(60);
pub const PROBE_UP_MAX: Duration = Duration::from_secs(3_600);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnmpError {
    #[error("no answer within {:.1} s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("the agent answered {} for {}", status::name(*.status), .oid)]
    Status { status: u32, oid: String },
    #[error("network error: {0}")]
    Io(String),
}

/// The smoothed round trip and its variation (RFC 6298), from answers
/// whose send is known exactly (each send has its own request id).
#[derive(Debug, Default)]
struct RoundTrip {
    smoothed: Option<Duration>,
    variation: Duration,
}

impl RoundTrip {
    fn sample(&mut self, rtt: Duration) {
        match self.smoothed {
            None => {
                self.smoothed = Some(rtt);
                self.variation = rtt / 2;
            }
            Some(s) => {
                let difference = s.abs_diff(rtt);
                self.variation = (self.variation * 3 + difference) / 4;
                self.smoothed = Some((s * 7 + rtt) / 8);
            }
        }
    }

    /// How long to wait for an answer before sending again: the configured
    /// timeout until a round trip has been measured.
    fn resend_after(&self, timeout: Duration) -> Duration {
        match self.smoothed {
            None => timeout,
            Some(s) => (s + self.variation * 4).max(MIN_RESEND).min(timeout.max(MIN_RESEND)),
        }
    }
}

struct Session {
    socket: UdpSocket,
    next_id: i32,
    buf: Vec<u8>,
    round_trip: RoundTrip,
}

impl Session {
    fn take_id(&mut self) -> i32 {
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).filter(|i| *i > 0).unwrap_or(1);
        id
    }
}

/// What the client has learnt about the request sizes the agent answers.
#[derive(Debug)]
struct Sizes {
    /// The configured maximum, never exceeded.
    cap: usize,
    /// Varbinds per GET now: `cap` until the agent shows a limit.
    now: usize,
    /// Failures at `now` in a row, each followed by a smaller request that
    /// was answered.
    strikes: u32,
    /// When a larger size is tried again (only while `now < cap`).
    probe_at: Option<Instant>,
    /// The wait after the next failed try of a larger size.
    probe_every: Duration,
}

impl Sizes {
    fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        Self { cap, now: cap, strikes: 0, probe_at: None, probe_every: PROBE_UP_FIRST }
    }

    /// A larger size to try now, if one is due and `available` objects fill it.
    fn probe(&self, available: usize) -> Option<usize> {
        let due = self.probe_at.is_some_and(|at| Instant::now() >= at);
        let larger = (self.now + (self.now / 2).max(1)).min(self.cap);
        (due && self.now < self.cap && available >= larger).then_some(larger)
    }

    fn probe_answered(&mut self, size: usize) {
        self.now = size;
        self.strikes = 0;
        self.probe_every = PROBE_UP_FIRST;
        // Keep climbing at the next GET until the cap or a failure.
        self.probe_at = (self.now < self.cap).then(Instant::now);
    }

    fn probe_failed(&mut self) {
        self.probe_at = Some(Instant::now() + self.probe_every);
        self.probe_every = (self.probe_every * 2).min(PROBE_UP_MAX);
    }

    fn shrink_to(&mut self, size: usize) {
        self.now = size.clamp(1, self.now);
        self.strikes = 0;
        self.probe_every = PROBE_UP_FIRST;
        self.probe_at = Some(Instant::now() + PROBE_UP_FIRST);
    }

    /// A GET of `size` varbinds was answered; `failed` is the largest size
    /// that failed on the same objects just before. Returns the new size
    /// when this was the strike that shrinks requests.
    fn answered(&mut self, size: usize, failed: Option<usize>) -> Option<usize> {
        if size >= self.now {
            self.strikes = 0;
            return None;
        }
        if failed.is_some_and(|f| f >= self.now) {
            self.strikes += 1;
            if self.strikes >= STRIKES_BEFORE_SHRINK {
                self.shrink_to(size);
                return Some(size);
            }
        }
        None
    }
}

/// How long an exchange waits for an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// `timeout × (retries + 1)`, sending again on silence.
    Budget,
    /// One send and one resend interval: trying a larger size must not
    /// cost a poll.
    OneSend,
}

/// What a GET of many objects brought back: every answer received, and, when
/// it stopped before the end, why (the objects not in `answers` were not read).
#[derive(Debug, Default)]
pub struct Got {
    pub answers: HashMap<Oid, VarValue>,
    pub stopped: Option<SnmpError>,
}

pub struct SnmpClient {
    /// `host:port`, resolved when a session opens (DNS may be down at start).
    target: String,
    read_community: Vec<u8>,
    write_community: Vec<u8>,
    /// The longest wait for an answer to one send.
    timeout: Duration,
    /// Sends beyond the first that a timeout-long silence allows: a request
    /// fails after `timeout × (retries + 1)` without an answer.
    retries: u32,
    /// Varbinds per GET, learnt from the agent's answers.
    sizes: std::sync::Mutex<Sizes>,
    /// Requests sent (each send counts): for benchmarks and metrics.
    requests: AtomicU64,
    /// Answers received: the poller tells a slow poll that is still being
    /// answered from a PDU that has gone silent.
    answers: AtomicU64,
    /// Sends of a request after its first (`/metrics`).
    resends: AtomicU64,
    /// Requests given up unanswered (`/metrics`).
    timeouts: AtomicU64,
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
            sizes: std::sync::Mutex::new(Sizes::new(max_varbinds)),
            requests: AtomicU64::new(0),
            answers: AtomicU64::new(0),
            resends: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            session: Mutex::new(None),
        }
    }

    fn sizes(&self) -> std::sync::MutexGuard<'_, Sizes> {
        self.sizes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many varbinds a GET carries now.
    pub fn max_varbinds(&self) -> usize {
        self.sizes().now
    }

    /// Requests sent so far, every resend included.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Answers received so far.
    pub fn answers(&self) -> u64 {
        self.answers.load(Ordering::Relaxed)
    }

    /// Sends of a request after its first, so far.
    pub fn resends(&self) -> u64 {
        self.resends.load(Ordering::Relaxed)
    }

    /// Requests that failed unanswered so far.
    pub fn timeouts(&self) -> u64 {
        self.timeouts.load(Ordering::Relaxed)
    }

    /// How long one request may go unanswered before it fails.
    fn budget(&self) -> Duration {
        self.timeout * (self.retries + 1)
    }

    async fn open(&self) -> Result<Session, SnmpError> {
        let target: SocketAddr = tokio::net::lookup_host(&self.target)
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| SnmpError::Io(format!("cannot resolve {}", self.target)))?;
        let bind: SocketAddr = if target.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
        let socket = UdpSocket::bind(bind).await.map_err(|e| SnmpError::Io(e.to_string()))?;
        socket.connect(target).await.map_err(|e| SnmpError::Io(e.to_string()))?;
        // Start request ids somewhere unpredictable-ish per session.
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(1);
        let seed = (nanos ^ std::process::id()) as i32 & 0x3fff_ffff;
        Ok(Session { socket, next_id: seed.max(1), buf: vec![0; 65_535], round_trip: RoundTrip::default() })
    }

    /// One exchange with the full budget.
    async fn request(
        &self,
        kind: PduKind,
        community: &[u8],
        varbinds: Vec<(Oid, VarValue)>,
    ) -> Result<Message, SnmpError> {
        self.exchange(kind, community, varbinds, Wait::Budget).await
    }

    /// One exchange: send, wait for an answer to any of its sends, send
    /// again on silence, give up after `wait`.
    async fn exchange(
        &self,
        kind: PduKind,
        community: &[u8],
        varbinds: Vec<(Oid, VarValue)>,
        wait: Wait,
    ) -> Result<Message, SnmpError> {
        let mut guard = self.session.lock().await;
        if guard.is_none() {
            *guard = Some(self.open().await?);
        }
        let session = guard.as_mut().expect("session opened above");
        let mut message =
            Message { community: community.to_vec(), kind, request_id: 0, error_status: 0, error_index: 0, varbinds };
        let started = Instant::now();
        // A SET is not idempotent (a reboot sent twice reboots twice, and
        // the agent may take longer to switch a relay than to read): it is
        // sent again only after a whole timeout of silence.
        let mut resend =
            if kind == PduKind::Set { self.timeout } else { session.round_trip.resend_after(self.timeout) };
        let give_up = started
            + match wait {
                Wait::Budget => self.budget(),
                Wait::OneSend => resend,
            };
        // Every send of this request: its id and when it left.
        let mut sends: Vec<(i32, Instant)> = Vec::new();
        loop {
            message.request_id = session.take_id();
            let bytes = codec::encode(&message).ok_or_else(|| SnmpError::Io("an OID that cannot be encoded".into()))?;
            self.requests.fetch_add(1, Ordering::Relaxed);
            if !sends.is_empty() {
                self.resends.fetch_add(1, Ordering::Relaxed);
            }
            let sent_at = Instant::now();
            if let Err(e) = session.socket.send(&bytes).await {
                // An ICMP port unreachable from an earlier send surfaces here:
                // it means nobody is listening, which is a timeout to us.
                tracing::trace!(error = %e, "SNMP send failed");
            }
            sends.push((message.request_id, sent_at));
            let resend_at = (sent_at + resend).min(give_up);
            loop {
                let received = tokio::time::timeout_at(resend_at, session.socket.recv(&mut session.buf)).await;
                let Ok(received) = received else { break };
                let Ok(len) = received else { continue };
                match codec::decode(&session.buf[..len]) {
                    Ok(reply) if reply.kind == PduKind::Response => {
                        match sends.iter().find(|(id, _)| *id == reply.request_id) {
                            Some((_, at)) => {
                                session.round_trip.sample(at.elapsed());
                                self.answers.fetch_add(1, Ordering::Relaxed);
                                return Ok(reply);
                            }
                            None => tracing::debug!("discarded an SNMP reply for another request"),
                        }
                    }
                    Ok(_) => tracing::debug!("discarded an SNMP message that is not a response"),
                    Err(e) => tracing::debug!(error = %e, "discarded a malformed SNMP reply"),
                }
            }
            if Instant::now() >= give_up {
                self.timeouts.fetch_add(1, Ordering::Relaxed);
                return Err(SnmpError::Timeout(self.timeout));
            }
            resend = (resend * 2).min(self.timeout.max(MIN_RESEND));
        }
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
    /// device lacks come back as exception values. Fails when any object
    /// could not be read.
    pub async fn get(&self, oids: &[Oid]) -> Result<HashMap<Oid, VarValue>, SnmpError> {
        let got = self.get_all(oids).await;
        match got.stopped {
            Some(e) => Err(e),
            None => Ok(got.answers),
        }
    }

    /// GET every OID it can: chunks of the learnt size, a chunk that is not
    /// answered read again in halves, down to one object; it stops at an
    /// error status or when even one object is not answered, and returns
    /// what it read until then.
    pub async fn get_all(&self, oids: &[Oid]) -> Got {
        let mut got = Got { answers: HashMap::with_capacity(oids.len()), stopped: None };
        let read = self.read_community.clone();
        let mut rest = oids;
        // A larger size to try on the first chunk, when one is due.
        let mut probing = self.sizes().probe(rest.len());
        let mut size = probing.unwrap_or_else(|| self.max_varbinds());
        // The largest size that failed on the objects now being read.
        let mut failed: Option<usize> = None;
        while !rest.is_empty() {
            let n = size.min(rest.len());
            let chunk: Vec<(Oid, VarValue)> = rest[..n].iter().map(|o| (o.clone(), VarValue::Null)).collect();
            let wait = if probing.is_some() { Wait::OneSend } else { Wait::Budget };
            let outcome = self.exchange(PduKind::Get, &read, chunk, wait).await;
            if probing.take().is_some() {
                match outcome {
                    Ok(reply) if reply.error_status == status::NO_ERROR => {
                        self.sizes().probe_answered(n);
                        tracing::info!(target = %self.target, varbinds = n, "the agent answers larger GETs again; using them");
                        got.answers.extend(reply.varbinds);
                        rest = &rest[n..];
                    }
                    // Not yet: these objects are read again at the learnt size.
                    _ => self.sizes().probe_failed(),
                }
                size = self.max_varbinds();
                continue;
            }
            match outcome {
                Ok(reply) if reply.error_status == status::TOO_BIG && n > 1 => {
                    self.sizes().shrink_to(n / 2);
                    tracing::info!(target = %self.target, varbinds = n / 2, "the agent answered tooBig to a {n}-varbind GET; using smaller requests");
                    size = self.max_varbinds();
                }
                Ok(reply) => {
                    if let Err(e) = Self::check(&reply) {
                        got.stopped = Some(e);
                        break;
                    }
                    got.answers.extend(reply.varbinds);
                    rest = &rest[n..];
                    if let Some(smaller) = self.sizes().answered(n, failed.take()) {
                        tracing::info!(
                            target = %self.target,
                            varbinds = smaller,
                            "the agent failed GETs of more varbinds {STRIKES_BEFORE_SHRINK} times in a row while smaller ones were answered; using smaller requests"
                        );
                    }
                    size = self.max_varbinds();
                }
                Err(SnmpError::Timeout(_)) if n > 1 => {
                    failed = Some(failed.map_or(n, |f| f.max(n)));
                    size = n / 2;
                }
                Err(e) => {
                    got.stopped = Some(e);
                    break;
                }
            }
        }
        got
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
        self.set_all(vec![(oid.clone(), value)]).await
    }

    /// One SET of several objects, which the agent applies together or not
    /// at all.
    pub async fn set_all(&self, varbinds: Vec<(Oid, VarValue)>) -> Result<(), SnmpError> {
        let write = self.write_community.clone();
        let reply = self.request(PduKind::Set, &write, varbinds).await?;
        Self::check(&reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_shrinks_only_after_failing_three_times_in_a_row_while_smaller_ones_are_answered() {
        let mut sizes = Sizes::new(12);
        // Random loss: a failed 12 and an answered 6 now and then, with
        // answered 12s in between, never shrinks.
        for _ in 0..100 {
            assert_eq!(sizes.answered(6, Some(12)), None);
            assert_eq!(sizes.answered(12, None), None);
        }
        // Nothing answered at any size (an outage) is no evidence either.
        assert_eq!(sizes.now, 12);
        // A limit: 12 fails every time, 6 is answered every time.
        assert_eq!(sizes.answered(6, Some(12)), None);
        assert_eq!(sizes.answered(6, Some(12)), None);
        assert_eq!(sizes.answered(6, Some(12)), Some(6));
        assert_eq!(sizes.now, 6);
        // The remainder of a poll (fewer objects than the size) answered
        // after no failure is neither.
        assert_eq!(sizes.answered(2, None), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_larger_size_is_tried_again_later_and_kept_when_answered() {
        let mut sizes = Sizes::new(12);
        sizes.shrink_to(4);
        assert_eq!(sizes.probe(100), None, "not yet");
        tokio::time::advance(PROBE_UP_FIRST).await;
        assert_eq!(sizes.probe(3), None, "too few objects to tell");
        assert_eq!(sizes.probe(100), Some(6));
        sizes.probe_failed();
        assert_eq!(sizes.probe(100), None);
        tokio::time::advance(PROBE_UP_FIRST).await;
        assert_eq!(sizes.probe(100), Some(6), "tried again after the wait");
        sizes.probe_answered(6);
        assert_eq!((sizes.now, sizes.probe(100)), (6, Some(9)), "and climbs at once");
        sizes.probe_answered(9);
        sizes.probe_answered(sizes.probe(100).unwrap());
        assert_eq!((sizes.now, sizes.probe(100)), (12, None), "up to the configured cap");
    }

    #[test]
    fn resends_follow_the_measured_round_trip_within_the_floor_and_the_timeout() {
        let timeout = Duration::from_secs(2);
        let mut rtt = RoundTrip::default();
        assert_eq!(rtt.resend_after(timeout), timeout, "nothing measured yet");
        for _ in 0..20 {
            rtt.sample(Duration::from_millis(20));
        }
        assert_eq!(rtt.resend_after(timeout), MIN_RESEND);
        for _ in 0..20 {
            rtt.sample(Duration::from_millis(400));
        }
        let slow = rtt.resend_after(timeout);
        assert!(slow > Duration::from_millis(400) && slow < timeout, "{slow:?}");
        for _ in 0..20 {
            rtt.sample(Duration::from_secs(5));
        }
        assert_eq!(rtt.resend_after(timeout), timeout);
    }
}
