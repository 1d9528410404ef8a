//! Discovery: find CyberPower PDUs on an IPv4 network over SNMP v2c.
//!
//! Owns: reading the range to scan (`cidr`), pacing the scan (how many hosts
//! at once, how many started per second, how long each may take) and telling
//! a CyberPower PDU from anything else that answers. Does not own: the HTTP
//! endpoint, or matching what it finds with the PDUs the bridge already
//! watches (`known_as` is left empty for the caller).
//!
//! A host is a PDU when its sysObjectID is under CyberPower's enterprise
//! *and* it answers the CPS-MIB ePDU identity with a model number: a
//! CyberPower UPS card shares the enterprise but has no ePDU identity.
//! Whatever does not answer, answers otherwise or fails half-way is left out
//! and logged at debug. The community is a secret: it goes on the wire and
//! nowhere else — not in an error, a log line or the result.

use crate::snmp::client::SnmpClient;
use crate::snmp::codec::{format_oid, VarValue};
use crate::snmp::mib::{self, Answers, Layout};
use app::fleet::{DiscoverRequest, DiscoverResult, Discovered};
use futures::StreamExt;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// CyberPower Systems' enterprise (CPS-MIB `cps`): every PDU's sysObjectID
/// is under it (ePDU 1.3808.1.1.3, ePDU2 1.3808.1.1.6).
const CYBERPOWER: [u32; 7] = [1, 3, 6, 1, 4, 1, 3808];

/// The largest network scanned at once is a /22 (1024 addresses): at the
/// default limits a /22 of silent addresses takes about half a minute, and
/// no rack network worth scanning in one request is larger.
const MIN_PREFIX: u8 = 22;

/// Varbinds per GET: some CyberPower network cards stay silent on larger
/// requests (the bridge's own default, `BRIDGE_SNMP_MAX_VARBINDS`).
const MAX_VARBINDS: usize = 10;

const DEFAULT_COMMUNITY: &str = "public";

/// How hard one scan may push the network and how long it may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Hosts asked at once (at least 1): each holds a UDP socket until it
    /// answers or its time is up, so silent addresses are waited on side by
    /// side instead of one after another.
    pub concurrency: usize,
    /// How long one host may take from its first GET to its identity,
    /// resends included: what a silent address costs.
    pub per_host_timeout: Duration,
    /// Hosts started per second at most (at least 1): a burst of a thousand
    /// datagrams (and as many ARP requests) is what flood protection on
    /// switches and firewalls is made to notice.
    pub per_second: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { concurrency: 32, per_host_timeout: Duration::from_secs(1), per_second: 200 }
    }
}

/// A discovery request that cannot be scanned, worded for the user. No
/// variant carries the community.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiscoverError {
    #[error("{cidr:?} is not an IPv4 network: {why}")]
    BadRange { cidr: String, why: &'static str },
    #[error("{cidr} has {addresses} addresses; at most a /22 (1024) is scanned at once")]
    TooBig { cidr: String, prefix: u8, addresses: u64 },
    #[error("{cidr} is in {block}; PDUs have unicast addresses")]
    NotUnicast { cidr: String, block: &'static str },
    #[error("port 0 is not a port: use 1 to 65535 (SNMP's is 161)")]
    BadPort,
    #[error("the community must not be empty (leave it out for \"public\")")]
    EmptyCommunity,
}

impl DiscoverError {
    /// The request field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::BadRange { .. } | Self::TooBig { .. } | Self::NotUnicast { .. } => "cidr",
            Self::BadPort => "port",
            Self::EmptyCommunity => "community",
        }
    }
}

/// Scan `request.cidr` for CyberPower PDUs within `limits`. Errors are only
/// about the request; hosts that fail are simply not found.
pub async fn scan(request: &DiscoverRequest, limits: &Limits) -> Result<DiscoverResult, DiscoverError> {
    let hosts = addresses(&request.cidr)?;
    if request.port == 0 {
        return Err(DiscoverError::BadPort);
    }
    let community = request.community.as_deref().unwrap_or(DEFAULT_COMMUNITY);
    if community.is_empty() {
        return Err(DiscoverError::EmptyCommunity);
    }
    let scanned = u32::try_from(hosts.len()).expect("at most 1024 addresses");
    let (cidr, port, started) = (request.cidr.trim(), request.port, Instant::now());
    tracing::debug!(cidr, port, hosts = scanned, "discovery scan started");
    let found =
        sweep(hosts, limits, |ip| identify(SocketAddrV4::new(ip, port), community, limits.per_host_timeout)).await;
    tracing::info!(
        cidr,
        port,
        scanned,
        found = found.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "discovery scan finished"
    );
    Ok(DiscoverResult { scanned, found })
}

/// The addresses a scan of `cidr` tries: every address of a /31 or /32 (and
/// of one plain address), otherwise every address but the network and
/// broadcast ones. Host bits after the network are ignored
/// (`10.0.20.7/24` is `10.0.20.0/24`), as `ip` and nmap do.
fn addresses(cidr: &str) -> Result<Vec<Ipv4Addr>, DiscoverError> {
    let text = cidr.trim();
    let bad = |why| DiscoverError::BadRange { cidr: shown(text), why };
    if text.contains(':') {
        return Err(bad("only IPv4 networks are scanned"));
    }
    let (address, prefix) = match text.split_once('/') {
        Some((address, bits)) => (address, bits.parse::<u8>().ok().filter(|p| *p <= 32)),
        None => (text, Some(32)),
    };
    let address: Ipv4Addr =
        address.parse().map_err(|_| bad("expected a.b.c.d/nn (nn from 22 to 32) or one address"))?;
    let prefix = prefix.ok_or_else(|| bad("the prefix after / is a number of bits from 22 to 32"))?;
    if prefix < MIN_PREFIX {
        return Err(DiscoverError::TooBig { cidr: shown(text), prefix, addresses: 1u64 << (32 - prefix) });
    }
    let mask = u32::MAX << (32 - prefix);
    let first = u32::from(address) & mask;
    let block = match first >> 24 {
        0 => Some("0.0.0.0/8 (this network)"),
        224..=239 => Some("224.0.0.0/4 (multicast)"),
        240..=255 => Some("240.0.0.0/4 (reserved and broadcast)"),
        _ => None,
    };
    if let Some(block) = block {
        return Err(DiscoverError::NotUnicast { cidr: shown(text), block });
    }
    let last = first | !mask;
    let hosts = if prefix >= 31 { first..=last } else { first + 1..=last - 1 };
    Ok(hosts.map(Ipv4Addr::from).collect())
}

/// The user's `cidr` as errors quote it: whole when short, cut otherwise
/// (it is whatever the request body held).
fn shown(cidr: &str) -> String {
    const MAX: usize = 48;
    match cidr.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &cidr[..cut]),
        None => cidr.to_owned(),
    }
}

/// Run `probe` on every host: at most `concurrency` at once, at most
/// `per_second` started per second, each cut off after `per_host_timeout`.
/// What the probes found, by address.
async fn sweep<F, Fut>(hosts: Vec<Ipv4Addr>, limits: &Limits, probe: F) -> Vec<Discovered>
where
    F: Fn(Ipv4Addr) -> Fut,
    Fut: Future<Output = Option<Discovered>>,
{
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / limits.per_second.max(1));
    // After a wait for a free slot, the next start is a whole period later,
    // never a burst that catches up.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let paced = futures::stream::unfold((hosts.into_iter(), ticker), |(mut hosts, mut ticker)| async move {
        let host = hosts.next()?;
        ticker.tick().await;
        Some((host, (hosts, ticker)))
    });
    let per_host = limits.per_host_timeout;
    let mut found: Vec<(Ipv4Addr, Discovered)> = paced
        .map(|host| {
            let attempt = tokio::time::timeout(per_host, probe(host));
            async move {
                match attempt.await {
                    Ok(found) => found.map(|d| (host, d)),
                    Err(_) => {
                        tracing::debug!(%host, "discovery: no identity within the per-host timeout");
                        None
                    }
                }
            }
        })
        .buffer_unordered(limits.concurrency.max(1))
        .filter_map(std::future::ready)
        .collect()
        .await;
    found.sort_by_key(|(host, _)| *host);
    found.into_iter().map(|(_, d)| d).collect()
}

/// Who answers at `target`, if it is a CyberPower PDU.
///
/// The identity is one GET of the CPS-MIB identity objects (two requests),
/// decoded by the MIB map the poller uses, not `SnmpPdu::identity`: that
/// first discovers the PDU's whole layout (walks of the outlet, load and
/// bank tables, some 25 round trips), which a slow network card does not
/// finish within a scan's per-host time.
async fn identify(target: SocketAddrV4, community: &str, per_host: Duration) -> Option<Discovered> {
    // Two tries within the host's time: a datagram lost on the way is sent
    // again. Discovery never writes: no write community.
    let client = SnmpClient::new(target.to_string(), community, "", per_host / 2, 1, MAX_VARBINDS);
    let system = client
        .get(&[mib::sys_object_id()])
        .await
        .map_err(|e| tracing::debug!(host = %target, error = %e, "discovery: no SNMP answer"))
        .ok()?;
    match system.get(&mib::sys_object_id()) {
        Some(VarValue::ObjectId(oid)) if oid.starts_with(&CYBERPOWER) => {}
        Some(VarValue::ObjectId(oid)) => {
            tracing::debug!(host = %target, sys_object_id = %format_oid(oid), "discovery: not a CyberPower device");
            return None;
        }
        other => {
            tracing::debug!(host = %target, sys_object_id = ?other, "discovery: no sysObjectID");
            return None;
        }
    }
    let answers = client
        .get(&mib::identity_oids())
        .await
        .map_err(|e| tracing::debug!(host = %target, error = %e, "discovery: the CPS-MIB identity could not be read"))
        .ok()?;
    let identity = mib::decode_identity(&Answers(&answers), &Layout::default());
    let given = |text: Option<String>| text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let Some(model) = given(identity.model) else {
        tracing::debug!(host = %target, "discovery: a CyberPower device without an ePDU identity (not a PDU)");
        return None;
    };
    Some(Discovered {
        host: target.ip().to_string(),
        port: target.port(),
        model,
        serial: given(identity.serial).unwrap_or_default(),
        name: given(identity.name).or_else(|| given(identity.sys_name)).unwrap_or_default(),
        firmware: given(identity.firmware).unwrap_or_default(),
        known_as: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    fn ip(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    #[test]
    fn a_network_is_scanned_without_its_network_and_broadcast_addresses() {
        let hosts = addresses("10.0.20.0/24").unwrap();
        assert_eq!((hosts.len(), hosts[0], hosts[253]), (254, ip("10.0.20.1"), ip("10.0.20.254")));
        let hosts = addresses("10.0.20.0/22").unwrap();
        assert_eq!((hosts.len(), hosts[0], hosts[1021]), (1022, ip("10.0.20.1"), ip("10.0.23.254")));
        assert_eq!(addresses("192.168.1.8/30").unwrap(), [ip("192.168.1.9"), ip("192.168.1.10")]);
    }

    #[test]
    fn a_slash_31_a_slash_32_and_one_address_are_scanned_whole() {
        assert_eq!(addresses("10.0.0.6/31").unwrap(), [ip("10.0.0.6"), ip("10.0.0.7")]);
        assert_eq!(addresses("10.0.0.7/32").unwrap(), [ip("10.0.0.7")]);
        assert_eq!(addresses(" 10.0.20.177 ").unwrap(), [ip("10.0.20.177")]);
    }

    #[test]
    fn host_bits_after_the_network_are_ignored() {
        assert_eq!(addresses("10.0.20.77/24").unwrap(), addresses("10.0.20.0/24").unwrap());
    }

    #[test]
    fn more_than_a_slash_22_is_refused_with_its_size() {
        let e = addresses("10.0.0.0/21").unwrap_err();
        assert_eq!(e.to_string(), "10.0.0.0/21 has 2048 addresses; at most a /22 (1024) is scanned at once");
        assert_eq!(e.field(), "cidr");
        assert!(addresses("0.0.0.0/0").unwrap_err().to_string().contains("4294967296 addresses"));
    }

    #[test]
    fn what_is_not_an_ipv4_network_is_refused_naming_it() {
        for (cidr, says) in [
            ("10.0.20/24", "expected a.b.c.d/nn"),
            ("10.0.20.300", "expected a.b.c.d/nn"),
            ("", "expected a.b.c.d/nn"),
            ("rack-1", "expected a.b.c.d/nn"),
            ("10.0.20.0/33", "from 22 to 32"),
            ("10.0.20.0/", "from 22 to 32"),
            ("10.0.20.0/24/24", "from 22 to 32"),
            ("fd00::/120", "only IPv4"),
        ] {
            let e = addresses(cidr).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(&format!("{cidr:?}")) && text.contains(says), "{cidr}: {text}");
            assert_eq!(e.field(), "cidr");
        }
        let long = "1".repeat(500);
        assert!(addresses(&long).unwrap_err().to_string().len() < 200, "a long input is cut");
    }

    #[test]
    fn multicast_reserved_and_this_network_ranges_are_refused() {
        for (cidr, block) in [("224.0.0.0/24", "multicast"), ("255.255.255.255", "broadcast"), ("0.0.0.0/32", "this")] {
            let text = addresses(cidr).unwrap_err().to_string();
            assert!(text.contains(cidr) && text.contains(block), "{text}");
        }
    }

    #[tokio::test]
    async fn a_bad_port_or_an_empty_community_is_named_and_nothing_is_scanned() {
        let request = |port, community: Option<&str>| DiscoverRequest {
            cidr: "127.0.0.1".into(),
            port,
            community: community.map(str::to_owned),
        };
        let e = scan(&request(0, None), &Limits::default()).await.unwrap_err();
        assert_eq!(e.field(), "port", "{e}");
        let e = scan(&request(161, Some("")), &Limits::default()).await.unwrap_err();
        assert_eq!(e.field(), "community", "{e}");
    }

    fn found(host: Ipv4Addr) -> Option<Discovered> {
        Some(Discovered {
            host: host.to_string(),
            port: 161,
            model: "PDU44001".into(),
            serial: format!("S{}", host.octets()[3]),
            name: String::new(),
            firmware: String::new(),
            known_as: None,
        })
    }

    fn hosts(n: u8) -> Vec<Ipv4Addr> {
        (1..=n).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn hosts_are_started_at_most_per_second_times_a_second() {
        let limits = Limits { per_second: 10, ..Limits::default() };
        let t0 = Instant::now();
        let starts = Mutex::new(Vec::new());
        sweep(hosts(5), &limits, |_| {
            starts.lock().unwrap().push(t0.elapsed());
            std::future::ready(None)
        })
        .await;
        let ms: Vec<u128> = starts.into_inner().unwrap().iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 100, 200, 300, 400]);
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_hosts_than_the_concurrency_are_asked_at_once_and_none_waits_idle() {
        let limits = Limits { concurrency: 3, per_second: 1000, per_host_timeout: Duration::from_secs(5) };
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let t0 = Instant::now();
        let found = sweep(hosts(9), &limits, |host| {
            let (now, most) = (&now, &most);
            async move {
                most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(1)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                found(host)
            }
        })
        .await;
        assert_eq!((found.len(), most.into_inner()), (9, 3));
        // Three rounds of one second each, the starts a millisecond apart.
        let took = t0.elapsed();
        assert!(took >= Duration::from_secs(3) && took < Duration::from_millis(3_100), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_that_never_answers_costs_its_per_host_timeout() {
        let limits = Limits { concurrency: 10, per_second: 1000, per_host_timeout: Duration::from_secs(2) };
        let t0 = Instant::now();
        let found = sweep(hosts(5), &limits, |host| async move {
            if host.octets()[3] == 3 {
                return found(host);
            }
            std::future::pending().await
        })
        .await;
        assert_eq!(found.len(), 1);
        let took = t0.elapsed();
        assert!(took >= Duration::from_secs(2) && took < Duration::from_millis(2_100), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn what_is_found_is_sorted_by_address_not_by_when_it_answered() {
        let limits = Limits { concurrency: 300, per_second: 1000, ..Limits::default() };
        let many: Vec<Ipv4Addr> = (1..=12).map(|i| Ipv4Addr::new(10, 0, 0, i * 20)).collect();
        let found = sweep(many.clone(), &limits, |host| async move {
            tokio::time::sleep(Duration::from_millis(300 - u64::from(host.octets()[3]))).await;
            found(host)
        })
        .await;
        let order: Vec<String> = found.into_iter().map(|d| d.host).collect();
        assert_eq!(order, many.iter().map(Ipv4Addr::to_string).collect::<Vec<_>>(), "10.0.0.100 after 10.0.0.20");
    }
}
