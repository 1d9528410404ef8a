//! Discovery over real UDP sockets on loopback: simulator agents and fakes
//! on different 127.x.y.z addresses with one port, scanned as a network.
//!
//! Linux routes all of 127.0.0.0/8 to `lo`, so each test takes its own small
//! network there and binds a socket on every address it scans (and on the
//! network and broadcast addresses, to see they are left alone): nothing
//! outside the test can answer in its range, and nothing outside 127/8 is
//! ever contacted.

use app::fleet::{DiscoverRequest, DiscoverResult, Discovered};
use server::discover::{scan, Limits};
use server::pdu::sim::{SimModel, SimulatedPdu};
use server::snmp::agent::{self, Communities};
use server::snmp::codec::{self, Oid, PduKind, VarValue};
use server::snmp::mib;
use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// net-snmp's sysObjectID for Linux: an SNMP agent that is not a PDU.
const NET_SNMP_LINUX: [u32; 10] = [1, 3, 6, 1, 4, 1, 8072, 3, 2, 10];
/// A CyberPower UPS network card: the enterprise, but no ePDU identity.
const CYBERPOWER_UPS: [u32; 10] = [1, 3, 6, 1, 4, 1, 3808, 1, 1, 1];

/// What listens at one address of a test network.
#[derive(Clone, Copy)]
enum Host {
    /// The simulated PDU44001 with this seed (each seed its own serial).
    Pdu(u64),
    /// Reads and never answers.
    Silent,
    /// Answers every datagram with bytes that are not SNMP.
    Garbage,
    /// An SNMP agent answering this sysObjectID and nothing else.
    Agent(&'static [u32]),
    /// Like `Agent`, holding each request this long before answering.
    SlowAgent(&'static [u32], Duration),
}

/// A test network `net`/`prefix` on one UDP port: a socket on every address
/// (network and broadcast included), served until dropped.
struct Lab {
    port: u16,
    /// Datagrams received, by the address's last octet.
    received: Vec<Arc<AtomicUsize>>,
    /// Slow agents holding a request right now, and the most at once.
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
    stop: CancellationToken,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Lab {
    /// `hosts[i]` listens at `net + 1 + i`; every other address of the
    /// network is `Silent`.
    async fn start(net: Ipv4Addr, prefix: u8, hosts: &[Host], read_community: &str) -> Self {
        let size = 1u32 << (32 - prefix);
        let addresses: Vec<Ipv4Addr> = (0..size).map(|i| Ipv4Addr::from(u32::from(net) + i)).collect();
        let sockets = bind_on_one_port(&addresses).await;
        let port = sockets[0].local_addr().unwrap().port();
        let lab = Self {
            port,
            received: (0..size).map(|_| Arc::new(AtomicUsize::new(0))).collect(),
            in_flight: Arc::new(AtomicUsize::new(0)),
            most_in_flight: Arc::new(AtomicUsize::new(0)),
            stop: CancellationToken::new(),
        };
        for (i, socket) in sockets.into_iter().enumerate() {
            let host = i.checked_sub(1).and_then(|h| hosts.get(h)).copied().unwrap_or(Host::Silent);
            let communities = Communities { read: read_community.into(), write: "private-write".into() };
            let stop = lab.stop.clone();
            match host {
                Host::Pdu(seed) => {
                    let sim = SimulatedPdu::new(seed, Duration::from_secs(2));
                    tokio::spawn(agent::serve(socket, sim, communities, stop));
                }
                other => {
                    let counters = (lab.received[i].clone(), lab.in_flight.clone(), lab.most_in_flight.clone());
                    tokio::spawn(fake(socket, other, read_community.to_owned(), counters, stop));
                }
            }
        }
        lab
    }

    fn request(&self, cidr: &str, community: Option<&str>) -> DiscoverRequest {
        DiscoverRequest { cidr: cidr.into(), port: self.port, community: community.map(str::to_owned) }
    }

    fn received(&self, last_octet: usize) -> usize {
        self.received[last_octet].load(Ordering::SeqCst)
    }
}

/// One UDP socket on each address, all on the same free port.
async fn bind_on_one_port(addresses: &[Ipv4Addr]) -> Vec<UdpSocket> {
    'port: for _ in 0..50 {
        let first = UdpSocket::bind((addresses[0], 0)).await.unwrap();
        let port = first.local_addr().unwrap().port();
        let mut sockets = vec![first];
        for &address in &addresses[1..] {
            match UdpSocket::bind((address, port)).await {
                Ok(socket) => sockets.push(socket),
                // Someone has this port on one of the addresses: another.
                Err(_) => continue 'port,
            }
        }
        return sockets;
    }
    panic!("no UDP port free on all of {addresses:?}");
}

/// Everything that is not the simulator: see [`Host`]. Requests are handled
/// one at a time, as a PDU's agent does.
async fn fake(
    socket: UdpSocket,
    host: Host,
    community: String,
    (received, in_flight, most): (Arc<AtomicUsize>, Arc<AtomicUsize>, Arc<AtomicUsize>),
    stop: CancellationToken,
) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (len, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            got = socket.recv_from(&mut buf) => got.unwrap(),
        };
        received.fetch_add(1, Ordering::SeqCst);
        let (sys_object_id, hold) = match host {
            Host::Agent(oid) => (oid, None),
            Host::SlowAgent(oid, hold) => (oid, Some(hold)),
            Host::Garbage => {
                socket.send_to(b"\x30\x03\x02\x01\x07 not SNMP", peer).await.unwrap();
                continue;
            }
            Host::Silent | Host::Pdu(_) => continue,
        };
        let Ok(request) = codec::decode(&buf[..len]) else { continue };
        if request.community != community.as_bytes() {
            continue;
        }
        if let Some(hold) = hold {
            most.fetch_max(in_flight.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            tokio::time::sleep(hold).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        let answer = |oid: &Oid| {
            if *oid == mib::sys_object_id() {
                VarValue::ObjectId(sys_object_id.to_vec())
            } else {
                VarValue::NoSuchObject
            }
        };
        let mut response = request.clone();
        response.kind = PduKind::Response;
        response.varbinds = request.varbinds.iter().map(|(oid, _)| (oid.clone(), answer(oid))).collect();
        if let Some(bytes) = codec::encode(&response) {
            let _ = socket.send_to(&bytes, peer).await;
        }
    }
}

fn limits(per_host_ms: u64) -> Limits {
    Limits { per_host_timeout: Duration::from_millis(per_host_ms), ..Limits::default() }
}

/// What discovery should report for the simulated PDU with `seed`.
fn pdu(host: &str, port: u16, seed: u64) -> Discovered {
    let identity = SimModel::new(seed, Instant::now()).identity();
    Discovered {
        host: host.into(),
        port,
        model: identity.model.unwrap(),
        serial: identity.serial.unwrap(),
        name: identity.name.unwrap(),
        firmware: identity.firmware.unwrap(),
        known_as: None,
    }
}

#[tokio::test]
async fn a_scan_finds_exactly_the_simulated_pdus_with_their_identities() {
    let hosts =
        [Host::Silent, Host::Pdu(101), Host::Pdu(102), Host::Pdu(103), Host::Garbage, Host::Agent(&NET_SNMP_LINUX)];
    let lab = Lab::start(Ipv4Addr::new(127, 51, 0, 0), 29, &hosts, "public").await;
    let result = scan(&lab.request("127.51.0.0/29", None), &limits(500)).await.unwrap();
    let port = lab.port;
    let expected = vec![pdu("127.51.0.2", port, 101), pdu("127.51.0.3", port, 102), pdu("127.51.0.4", port, 103)];
    assert_eq!(result, DiscoverResult { scanned: 6, found: expected });
    assert!(lab.received(1) >= 1 && lab.received(5) >= 1 && lab.received(6) >= 1, "every host was asked");
    assert_eq!((lab.received(0), lab.received(7)), (0, 0), "the network and broadcast addresses are left alone");
}

#[tokio::test]
async fn only_cyberpower_pdus_are_asked_for_their_identity_and_found() {
    let hosts = [Host::Agent(&NET_SNMP_LINUX), Host::Agent(&CYBERPOWER_UPS)];
    let lab = Lab::start(Ipv4Addr::new(127, 52, 0, 0), 30, &hosts, "public").await;
    let result = scan(&lab.request("127.52.0.0/30", None), &limits(2_000)).await.unwrap();
    assert_eq!(result, DiscoverResult { scanned: 2, found: vec![] });
    assert_eq!(lab.received(1), 1, "another vendor's agent is asked for its sysObjectID only");
    assert!(lab.received(2) >= 2, "a CyberPower device is asked for the CPS-MIB identity too");
}

#[tokio::test]
async fn one_address_is_scanned_alone() {
    let lab = Lab::start(Ipv4Addr::new(127, 53, 0, 0), 30, &[Host::Pdu(7), Host::Pdu(8)], "public").await;
    let result = scan(&lab.request("127.53.0.2", None), &limits(1_000)).await.unwrap();
    assert_eq!(result, DiscoverResult { scanned: 1, found: vec![pdu("127.53.0.2", lab.port, 8)] });
    assert_eq!(lab.received(1), 0);
}

#[tokio::test]
async fn a_network_larger_than_a_slash_22_is_refused_naming_the_cidr() {
    let request = DiscoverRequest { cidr: "127.0.0.0/21".into(), port: 161, community: None };
    let e = scan(&request, &Limits::default()).await.unwrap_err();
    assert_eq!(e.field(), "cidr");
    assert_eq!(e.to_string(), "127.0.0.0/21 has 2048 addresses; at most a /22 (1024) is scanned at once");
}

/// Log lines of everything on this thread (the test's runtime is
/// single-threaded, so the scan and the agents log here).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Capture every level on this thread while the guards live.
    fn capture() -> (Self, (tracing::dispatcher::DefaultGuard, tracing::Dispatch)) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        // With only one subscriber registered, tracing-core decides whether a
        // log line is wanted by asking the subscriber of the thread that
        // reaches it first, and keeps that answer: a line first reached by
        // another test's thread (no subscriber) would never be captured here.
        // A second, silent subscriber makes it ask each line's own thread.
        let second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
        (logs, (guard, second))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn a_wrong_community_finds_nothing_and_no_community_is_ever_echoed() {
    let (logs, _capturing) = Logs::capture();
    let (right, wrong) = ("rack-secret-91", "wrong-secret-47");
    let hosts = [Host::Pdu(1), Host::Pdu(2), Host::Agent(&CYBERPOWER_UPS)];
    let lab = Lab::start(Ipv4Addr::new(127, 54, 0, 0), 29, &hosts, right).await;

    let with_right = scan(&lab.request("127.54.0.0/29", Some(right)), &limits(500)).await.unwrap();
    assert_eq!(with_right.found.len(), 2, "{with_right:?}");
    let with_wrong = scan(&lab.request("127.54.0.0/29", Some(wrong)), &limits(500)).await.unwrap();
    assert_eq!(with_wrong, DiscoverResult { scanned: 6, found: vec![] });
    let refused = scan(&lab.request("127.54.0.0/21", Some(wrong)), &limits(500)).await.unwrap_err();

    let results = serde_json::to_string(&(&with_right, &with_wrong)).unwrap();
    let error = format!("{refused} {refused:?}");
    let logs = logs.text();
    assert_eq!(logs.matches("discovery scan finished").count(), 2, "both scans' lines were captured: {logs}");
    for secret in [right, wrong] {
        assert!(!results.contains(secret), "{results}");
        assert!(!error.contains(secret), "{error}");
        assert!(!logs.contains(secret), "{logs}");
    }
}

#[tokio::test]
async fn silent_hosts_cost_each_at_most_their_per_host_timeout() {
    let lab = Lab::start(Ipv4Addr::new(127, 55, 0, 0), 29, &[], "public").await;
    let one_at_a_time = Limits { concurrency: 1, per_host_timeout: Duration::from_millis(250), per_second: 1000 };
    let started = Instant::now();
    let result = scan(&lab.request("127.55.0.0/29", None), &one_at_a_time).await.unwrap();
    let took = started.elapsed();
    assert_eq!(result, DiscoverResult { scanned: 6, found: vec![] });
    // Six silent hosts one after another: each waited for, none much longer
    // than 250 ms (generous bounds: this machine is shared and small).
    assert!(took >= Duration::from_millis(1_400), "{took:?}");
    assert!(took < Duration::from_millis(4_500), "{took:?}");
}

#[tokio::test]
async fn no_more_hosts_are_asked_at_once_than_the_concurrency_limit() {
    let slow = Host::SlowAgent(&NET_SNMP_LINUX, Duration::from_millis(100));
    let lab = Lab::start(Ipv4Addr::new(127, 56, 0, 0), 27, &[slow; 30], "public").await;
    let four = Limits { concurrency: 4, per_host_timeout: Duration::from_secs(3), per_second: 1000 };
    let result = scan(&lab.request("127.56.0.0/27", None), &four).await.unwrap();
    assert_eq!(result, DiscoverResult { scanned: 30, found: vec![] });
    assert!((1..=30).all(|h| lab.received(h) >= 1), "every host was asked");
    let most = lab.most_in_flight.load(Ordering::SeqCst);
    assert!((2..=4).contains(&most), "{most} hosts were asked at once");
}
