//! The embedded broker's front door: every MQTT client connects here, never
//! to the broker itself. It signs clients in (`viewer`, `operator`, or
//! anonymous where that is allowed), serves TLS when a certificate is set,
//! keeps the read-only account from publishing, and writes command
//! publishes and refused sign-ins to the audit log.
//!
//! Owns: the listening socket, the accounts check and the relay. Does not
//! own: the broker (`broker`), nor carrying out commands (the link does, in
//! `mqtt`). The one thing to know: rumqttd has no per-topic rights and does
//! not tell a subscriber who published, so both are done here — the front
//! reads the client's CONNECT (MQTT 3.1.1, the broker's only version),
//! rewrites it to the bridge's internal account, then passes bytes on,
//! parsing what the client sends just enough to see each PUBLISH. A
//! refused publish ends the connection: MQTT 3.1.1 cannot refuse one
//! publish. Who sent a command is handed to the link through
//! [`Attribution`], so the outlet command's audit line names the account.

use super::broker::{Internal, MAX_PACKET};
use super::topics::command_target;
use crate::auth::secret::{digest, same};
use crate::auth::throttle::Throttle;
use crate::auth::Auth;
use crate::config::{BrokerSecurity, Secret};
use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::{self, v4, PacketType, Protocol};
use rumqttc::ConnectReturnCode;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// A client has this long for its TLS handshake and its CONNECT: idle
/// sockets must not pile up.
const CONNECT_WAIT: Duration = Duration::from_secs(10);
/// Clients at once; the broker takes 1024 connections in all, the bridge's
/// own among them.
const MAX_CLIENTS: usize = 1000;
/// The largest CONNECT taken from a client not yet signed in (a last will
/// included): a thousand strangers must not hold 256 KiB each.
const MAX_CONNECT: usize = 16 * 1024;
/// Client ids are given this prefix on the way to the broker, so no client
/// can take over the id of one of the bridge's own connections
/// (`pdu-bridge-<device>`): the broker drops the older of two.
const CLIENT_ID_PREFIX: &str = "client-";
/// Commands wait this long for the link to pick up who sent them.
const ATTRIBUTION_TTL: Duration = Duration::from_secs(30);
/// Commands remembered at most; a flood forgets the oldest.
const ATTRIBUTION_MAX: usize = 1024;
/// Longer payloads are no outlet action, so the link never acts on them.
const ATTRIBUTION_MAX_PAYLOAD: usize = 64;

/// Who a client is signed in as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Account {
    /// No user name (or, on loopback, one that is no account): allowed
    /// only where accounts are not required, with today's full rights.
    Anonymous,
    /// Subscribe only.
    Viewer,
    /// Subscribe and publish, outlet commands included.
    Operator,
}

impl Account {
    pub fn name(self) -> &'static str {
        match self {
            Account::Anonymous => "anonymous",
            Account::Viewer => "viewer",
            Account::Operator => "operator",
        }
    }
}

/// The accounts and whether signing in is required.
pub struct Accounts {
    viewer: Option<Secret>,
    operator: Option<Secret>,
    required: bool,
}

impl Accounts {
    pub fn new(security: &BrokerSecurity, bind: &SocketAddr) -> Self {
        Self {
            viewer: security.viewer_password.clone(),
            operator: security.operator_password.clone(),
            required: security.accounts_required(bind),
        }
    }

    pub fn required(&self) -> bool {
        self.required
    }

    /// The account names that have a password.
    pub fn configured(&self) -> Vec<&'static str> {
        [("viewer", &self.viewer), ("operator", &self.operator)]
            .into_iter()
            .filter_map(|(name, p)| p.as_ref().map(|_| name))
            .collect()
    }

    /// Who `login` signs in as, or the refusal and why.
    pub fn check(&self, login: Option<&v4::Login>) -> Result<Account, (ConnectReturnCode, &'static str)> {
        let Some(login) = login else {
            return if self.required {
                Err((ConnectReturnCode::NotAuthorized, "anonymous clients are refused: sign in as viewer or operator"))
            } else {
                Ok(Account::Anonymous)
            };
        };
        let expected = match login.username.as_str() {
            "viewer" => self.viewer.as_ref().map(|p| (Account::Viewer, p)),
            "operator" => self.operator.as_ref().map(|p| (Account::Operator, p)),
            _ => None,
        };
        match expected {
            // Digests are compared, so the time taken says nothing about
            // the password's length or its first right characters.
            Some((account, password)) if same(&digest(&login.password), &digest(password.expose())) => Ok(account),
            Some(_) => Err((ConnectReturnCode::BadUserNamePassword, "wrong user name or password")),
            None if self.required => Err((ConnectReturnCode::BadUserNamePassword, "wrong user name or password")),
            // On loopback without required accounts, credentials that are
            // no account are ignored, as the broker always did.
            None => Ok(Account::Anonymous),
        }
    }
}

/// Who sent a command, as the audit log names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sender {
    /// `operator` or `anonymous`.
    pub account: &'static str,
    pub from: IpAddr,
}

struct Pending {
    topic: String,
    payload: Bytes,
    sender: Sender,
    at: Instant,
}

/// Commands that went through the front door, waiting for the link to ask
/// who sent them. Matched by topic and payload: the broker passes a publish
/// on unchanged and in order, so the oldest match is the one.
#[derive(Default)]
pub struct Attribution {
    pending: Mutex<VecDeque<Pending>>,
}

impl Attribution {
    fn note(&self, topic: &str, payload: &Bytes, sender: Sender) {
        if payload.len() > ATTRIBUTION_MAX_PAYLOAD {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        while pending.front().is_some_and(|p| now.duration_since(p.at) > ATTRIBUTION_TTL)
            || pending.len() >= ATTRIBUTION_MAX
        {
            pending.pop_front();
        }
        pending.push_back(Pending { topic: topic.to_owned(), payload: payload.clone(), sender, at: now });
    }

    /// Who sent this command through the front door, if anyone did.
    pub fn take(&self, topic: &str, payload: &[u8]) -> Option<Sender> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let i = pending.iter().position(|p| {
            p.topic == topic && p.payload.as_ref() == payload && now.duration_since(p.at) <= ATTRIBUTION_TTL
        })?;
        pending.remove(i).map(|p| p.sender)
    }
}

/// Read the certificate chain and key (PEM) for MQTT over TLS.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs =
        CertificateDer::pem_file_iter(cert).and_then(|certs| certs.collect::<Result<Vec<_>, _>>()).map_err(|e| {
            format!("cannot read the certificates in {} (BRIDGE_MQTT_BROKER_CERT_FILE): {e}", cert.display())
        })?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate (BRIDGE_MQTT_BROKER_CERT_FILE)", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the private key in {} (BRIDGE_MQTT_BROKER_KEY_FILE): {e}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!("BRIDGE_MQTT_BROKER_CERT_FILE and BRIDGE_MQTT_BROKER_KEY_FILE are not a usable pair: {e}")
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Everything a client connection needs.
pub struct Door {
    pub accounts: Accounts,
    /// The broker behind the door, and the account the front signs in with.
    pub broker: Internal,
    /// Topic base, to tell command topics.
    pub base: String,
    pub attribution: Arc<Attribution>,
    pub audit: Arc<Auth>,
    /// Failed sign-ins per account and address, and per address.
    pub throttle: Throttle,
}

/// Accept clients on `listener` until `shutdown`. Connections already in
/// place are left to run, so the bridge's last `offline` still reaches them.
pub async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, door: Arc<Door>, shutdown: CancellationToken) {
    let permits = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: wait, don't spin.
                    tracing::warn!(error = %e, "the MQTT front door cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "too many MQTT clients; a connection was closed");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (door, tls) = (door.clone(), tls.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                Some(acceptor) => match tokio::time::timeout(CONNECT_WAIT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => door.client(stream, peer.ip()).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "MQTT TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "MQTT TLS handshake timed out"),
                },
                None => door.client(stream, peer.ip()).await,
            }
        });
    }
}

/// The first whole packet in `buf`, taken out of it: `Ok(None)` while more
/// bytes are needed, an error when the bytes are no MQTT (or too large).
fn take_packet(buf: &mut BytesMut, max: usize) -> Result<Option<(mqttbytes::FixedHeader, Bytes)>, mqttbytes::Error> {
    match mqttbytes::check(buf.iter(), max) {
        Ok(header) => Ok(Some((header, buf.split_to(header.frame_length()).freeze()))),
        Err(mqttbytes::Error::InsufficientBytes(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The next whole packet in `buf` (at most `max` bytes), reading from
/// `stream` as needed; `None` when the stream ends or breaks the protocol.
async fn next_packet<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    max: usize,
) -> Option<(mqttbytes::FixedHeader, Bytes)> {
    loop {
        if let Some(packet) = take_packet(buf, max).ok()? {
            return Some(packet);
        }
        if stream.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

async fn connack<S: AsyncWrite + Unpin>(stream: &mut S, code: ConnectReturnCode) {
    let mut out = BytesMut::new();
    if v4::ConnAck::new(code, false).write(&mut out).is_ok() {
        let _ = stream.write_all(&out).await;
        let _ = stream.flush().await;
        let _ = stream.shutdown().await;
    }
}

/// A user name as it may appear in the audit log: what a client sends is
/// not to be trusted with length or control characters.
fn shown(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

impl Door {
    /// One client: sign in, then relay until either side closes.
    async fn client<S: AsyncRead + AsyncWrite + Unpin>(&self, mut stream: S, from: IpAddr) {
        let mut buf = BytesMut::with_capacity(4096);
        let Ok(Some((header, frame))) =
            tokio::time::timeout(CONNECT_WAIT, next_packet(&mut stream, &mut buf, MAX_CONNECT)).await
        else {
            return;
        };
        if !matches!(header.packet_type(), Ok(PacketType::Connect)) {
            return;
        }
        let mut connect = match v4::Connect::read(header, frame) {
            Ok(c) if c.protocol == Protocol::V4 => c,
            // MQTT 5, or 3.1 (`MQIsdp`): the broker speaks 3.1.1 only.
            Ok(_) | Err(mqttbytes::Error::InvalidProtocolLevel(_) | mqttbytes::Error::InvalidProtocol) => {
                return connack(&mut stream, ConnectReturnCode::RefusedProtocolVersion).await;
            }
            Err(_) => return,
        };
        let account = match self.sign_in(&connect, from).await {
            Ok(account) => account,
            Err(code) => return connack(&mut stream, code).await,
        };
        if !connect.client_id.is_empty() {
            connect.client_id = format!("{CLIENT_ID_PREFIX}{}", connect.client_id);
        }
        connect.login = Some(v4::Login::new(self.broker.username.clone(), self.broker.password.clone()));
        let mut upstream = match TcpStream::connect(self.broker.addr).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "the embedded MQTT broker does not answer its front door");
                return connack(&mut stream, ConnectReturnCode::ServiceUnavailable).await;
            }
        };
        let _ = upstream.set_nodelay(true);
        let mut out = BytesMut::new();
        if connect.write(&mut out).is_err() || upstream.write_all(&out).await.is_err() {
            return;
        }
        let (mut client_in, mut client_out) = tokio::io::split(stream);
        let (mut broker_in, mut broker_out) = upstream.into_split();
        // The broker's side goes to the client unchanged; dropping both
        // halves when either direction ends closes both connections.
        tokio::select! {
            _ = tokio::io::copy(&mut broker_in, &mut client_out) => {}
            _ = self.forward(&mut client_in, &mut broker_out, buf, account, from) => {}
        }
    }

    /// Check the client's credentials; refusals are audited and throttled.
    /// Throttled per account *and address*: the two account names are known
    /// to all, and a lock on the name alone would let anyone who reaches
    /// the port lock Home Assistant out by failing five times.
    async fn sign_in(&self, connect: &v4::Connect, from: IpAddr) -> Result<Account, ConnectReturnCode> {
        let name = connect.login.as_ref().map(|l| shown(&l.username));
        let key = name.as_ref().map(|n| format!("{n}@{from}"));
        let actor = format!("mqtt {}", name.as_deref().unwrap_or("anonymous"));
        let refuse = |why: String| async move {
            tracing::warn!(%from, who = %actor, %why, "MQTT sign-in refused");
            self.audit.record(&actor, Some(&from.to_string()), "mqtt_login", "broker", "refused", &why).await;
        };
        if let Some(wait) = key.as_deref().and_then(|k| self.throttle.locked(k, Some(from))) {
            refuse(format!("too many failed sign-ins; try again in {} min", wait.as_secs().div_ceil(60).max(1))).await;
            return Err(ConnectReturnCode::NotAuthorized);
        }
        match self.accounts.check(connect.login.as_ref()) {
            Ok(Account::Viewer) if connect.last_will.is_some() => {
                // The broker publishes a last will for the client: a
                // read-only account may not publish, not even that way.
                refuse("the viewer account may not leave a last will (it may only subscribe)".into()).await;
                Err(ConnectReturnCode::NotAuthorized)
            }
            Ok(account) => {
                if let (Some(key), Account::Viewer | Account::Operator) = (&key, account) {
                    self.throttle.succeeded(key);
                }
                tracing::debug!(%from, account = account.name(), "MQTT client signed in");
                Ok(account)
            }
            Err((code, why)) => {
                if let Some(key) = &key {
                    self.throttle.failed(key, Some(from));
                }
                refuse(why.to_owned()).await;
                Err(code)
            }
        }
    }

    /// Pass the client's packets on, whole, until it closes or sends a
    /// publish its account may not send.
    async fn forward<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
        &self,
        client: &mut R,
        broker: &mut W,
        mut buf: BytesMut,
        account: Account,
        from: IpAddr,
    ) {
        let mut out = BytesMut::new();
        loop {
            loop {
                let (header, frame) = match take_packet(&mut buf, MAX_PACKET) {
                    Ok(Some(packet)) => packet,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(%from, error = %e, "an MQTT client broke the protocol; disconnected");
                        return;
                    }
                };
                match header.packet_type() {
                    Ok(PacketType::Publish) => {
                        let Ok(publish) = v4::Publish::read(header, frame.clone()) else { return };
                        if !self.may_publish(&publish, account, from).await {
                            return;
                        }
                    }
                    // A second CONNECT is a protocol error; it would also
                    // carry the client's own credentials to the broker.
                    Ok(PacketType::Connect) | Err(_) => return,
                    Ok(_) => {}
                }
                out.extend_from_slice(&frame);
            }
            if !out.is_empty() {
                if broker.write_all(&out).await.is_err() {
                    return;
                }
                out.clear();
            }
            match client.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// Whether `account` may send this publish; commands are audited either
    /// way, and noted for the link so the outlet command names its sender.
    async fn may_publish(&self, publish: &v4::Publish, account: Account, from: IpAddr) -> bool {
        let command = command_target(&self.base, &publish.topic).is_some();
        let actor = format!("mqtt {}", account.name());
        let addr = from.to_string();
        if account == Account::Viewer {
            let action = if command { "mqtt_command" } else { "mqtt_publish" };
            tracing::warn!(%from, topic = %publish.topic, "the read-only MQTT account published; disconnected");
            let why = "the viewer account may only subscribe; disconnected";
            self.audit.record(&actor, Some(&addr), action, &publish.topic, "refused", why).await;
            return false;
        }
        if command {
            let payload: String = String::from_utf8_lossy(&publish.payload).chars().take(32).collect();
            let detail = if publish.retain {
                format!("{:?}, retained: the bridge ignores retained commands", payload.trim())
            } else if publish.dup && publish.qos == mqttbytes::QoS::ExactlyOnce {
                // The broker passes a QoS 2 resend on only if it never had
                // the first: noting it again could name this client for a
                // later command of someone else.
                format!("{:?}, resent", payload.trim())
            } else {
                self.attribution.note(&publish.topic, &publish.payload, Sender { account: account.name(), from });
                format!("{:?}", payload.trim())
            };
            self.audit.record(&actor, Some(&addr), "mqtt_command", &publish.topic, "ok", &detail).await;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, MqttMode, RawSettings};

    /// The viewer and operator accounts, from settings as a user writes them.
    fn accounts(bind: &str, require: bool) -> Accounts {
        let dir = tempfile::tempdir().unwrap();
        let raw = RawSettings::new()
            .set("BRIDGE_DATA_DIR", dir.path().to_str().unwrap())
            .set("BRIDGE_MQTT_BIND", bind)
            .set("BRIDGE_MQTT_REQUIRE_ACCOUNTS", if require { "true" } else { "false" })
            .set("BRIDGE_MQTT_VIEWER_PASSWORD", "look-s3cret")
            .set("BRIDGE_MQTT_OPERATOR_PASSWORD", "switch-s3cret");
        let MqttMode::Embedded { bind, broker } = Config::validate(&raw).unwrap().mqtt.mode else { panic!() };
        Accounts::new(&broker, &bind)
    }

    proptest::proptest! {
        /// The bytes a client sends, cut anywhere by the network, come out
        /// as the same whole packets, in order; garbage is refused, never a panic.
        #[test]
        fn packets_come_out_whole_however_the_bytes_arrive(
            cuts in proptest::collection::vec(1usize..64, 1..40),
            garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let mut command = v4::Publish::new("pdu/a/outlet/1/command", mqttbytes::QoS::AtLeastOnce, "off");
            command.pkid = 1;
            let mut subscribe = v4::Subscribe::new("pdu/#", mqttbytes::QoS::AtMostOnce);
            subscribe.pkid = 2;
            let packets = [
                v4::Packet::Publish(command),
                v4::Packet::Subscribe(subscribe),
                v4::Packet::PingReq,
                v4::Packet::Publish(v4::Publish::new("pdu/a/status", mqttbytes::QoS::AtMostOnce, vec![7u8; 300])),
                v4::Packet::Disconnect,
            ];
            let mut wire = BytesMut::new();
            let mut expected = Vec::new();
            for p in &packets {
                let before = wire.len();
                p.write(&mut wire, MAX_PACKET).unwrap();
                expected.push(wire[before..].to_vec());
            }
            let wire = wire.freeze();
            let (mut buf, mut got, mut at) = (BytesMut::new(), Vec::new(), 0);
            for cut in cuts.iter().cycle() {
                if at >= wire.len() {
                    break;
                }
                let end = (at + cut).min(wire.len());
                buf.extend_from_slice(&wire[at..end]);
                at = end;
                while let Some((_, frame)) = take_packet(&mut buf, MAX_PACKET).unwrap() {
                    got.push(frame.to_vec());
                }
            }
            proptest::prop_assert_eq!(got, expected);
            proptest::prop_assert!(buf.is_empty());

            let mut buf = BytesMut::from(&garbage[..]);
            while let Ok(Some(_)) = take_packet(&mut buf, MAX_PACKET) {}
        }
    }

    fn login(name: &str, password: &str) -> Option<v4::Login> {
        Some(v4::Login::new(name, password))
    }

    #[test]
    fn beyond_loopback_only_the_accounts_sign_in() {
        let accounts = accounts("0.0.0.0", false);
        assert!(accounts.required());
        assert_eq!(accounts.configured(), ["viewer", "operator"]);
        assert_eq!(accounts.check(login("viewer", "look-s3cret").as_ref()), Ok(Account::Viewer));
        assert_eq!(accounts.check(login("operator", "switch-s3cret").as_ref()), Ok(Account::Operator));
        let refused = |l: Option<v4::Login>| accounts.check(l.as_ref()).unwrap_err().0;
        assert_eq!(refused(None), ConnectReturnCode::NotAuthorized);
        assert_eq!(refused(login("viewer", "switch-s3cret")), ConnectReturnCode::BadUserNamePassword);
        assert_eq!(refused(login("operator", "switch-s3cre")), ConnectReturnCode::BadUserNamePassword);
        assert_eq!(refused(login("admin", "switch-s3cret")), ConnectReturnCode::BadUserNamePassword);
    }

    #[test]
    fn on_loopback_anonymous_clients_keep_working_but_a_wrong_account_password_is_refused() {
        let accounts = accounts("127.0.0.1", false);
        assert!(!accounts.required());
        assert_eq!(accounts.check(None), Ok(Account::Anonymous));
        assert_eq!(accounts.check(login("homeassistant", "anything").as_ref()), Ok(Account::Anonymous));
        assert_eq!(accounts.check(login("viewer", "look-s3cret").as_ref()), Ok(Account::Viewer));
        assert!(accounts.check(login("operator", "look-s3cret").as_ref()).is_err());
        assert!(self::accounts("127.0.0.1", true).check(None).is_err(), "BRIDGE_MQTT_REQUIRE_ACCOUNTS");
    }

    #[test]
    fn a_command_is_attributed_once_to_whoever_sent_it() {
        let attribution = Attribution::default();
        let ann = Sender { account: "operator", from: "192.0.2.7".parse().unwrap() };
        let bob = Sender { account: "anonymous", from: "127.0.0.1".parse().unwrap() };
        attribution.note("pdu/a/outlet/1/command", &Bytes::from_static(b"off"), ann.clone());
        attribution.note("pdu/a/outlet/1/command", &Bytes::from_static(b"on"), bob.clone());
        assert_eq!(attribution.take("pdu/a/outlet/1/command", b"on"), Some(bob));
        assert_eq!(attribution.take("pdu/a/outlet/2/command", b"off"), None);
        assert_eq!(attribution.take("pdu/a/outlet/1/command", b"off"), Some(ann));
        assert_eq!(attribution.take("pdu/a/outlet/1/command", b"off"), None, "taken once");
        let long = Bytes::from(vec![b'x'; ATTRIBUTION_MAX_PAYLOAD + 1]);
        attribution.note("pdu/a/outlet/1/command", &long, Sender { account: "operator", from: [127, 0, 0, 1].into() });
        assert_eq!(attribution.take("pdu/a/outlet/1/command", &long), None, "no action is that long");
        for n in 0..ATTRIBUTION_MAX + 10 {
            attribution.note(
                &format!("t/{n}"),
                &Bytes::new(),
                Sender { account: "operator", from: [127, 0, 0, 1].into() },
            );
        }
        assert_eq!(attribution.pending.lock().unwrap().len(), ATTRIBUTION_MAX, "bounded");
    }
}
