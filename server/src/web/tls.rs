//! HTTPS: the certificate and key named by `BRIDGE_TLS_CERT` and
//! `BRIDGE_TLS_KEY`, read at start-up and read again when the files change.
//!
//! Owns: the certificate that new TLS connections are offered, and the task
//! that watches its files. Does not own connections: `serve` runs the
//! handshake (with [`HANDSHAKE`] as its deadline) and everything after it.
//!
//! The one thing to know: a bad pair stops start-up ([`Tls::load`] returns
//! an error naming the setting), but after start-up a bad pair never stops
//! anything. The watcher reads both files every [`RELOAD_EVERY`]; a changed
//! pair is taken once it has stayed the same for one more check, so a
//! certificate written a moment before its key is never loaded alone. A pair
//! that does not load (unreadable, not PEM, key and certificate not
//! matching) is logged once, naming the file, and new connections keep the
//! previous certificate. Open connections keep the one they began with.

use crate::config::WebTls;
use ring::digest;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// How often the watcher reads the certificate and key files.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);
/// A client must finish the TLS handshake within this after connecting;
/// one that connects and says nothing holds nothing longer.
pub const HANDSHAKE: Duration = Duration::from_secs(10);
/// A PEM certificate chain or key is a few kilobytes; a file much larger
/// than this is not one (and is not read whole into memory).
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Why the certificate or key cannot be used. Every message names the
/// setting and the file, never anything read from the key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{setting} {}: cannot read it: {source}", path.display())]
    Unreadable { setting: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{setting} {}: {problem}", path.display())]
    Invalid { setting: &'static str, path: PathBuf, problem: String },
    #[error(
        "BRIDGE_TLS_KEY {} is not the key of the certificate in BRIDGE_TLS_CERT {}",
        key.display(),
        cert.display()
    )]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("cannot set up TLS: {0}")]
    Setup(rustls::Error),
}

/// What serving HTTPS needs: the acceptor for handshakes and the watched
/// certificate behind it.
pub struct Tls {
    /// Runs each connection's handshake; its config asks `certificates`.
    acceptor: TlsAcceptor,
    /// Shared by the acceptor (reads) and the watcher (replaces).
    certificates: Arc<Certificates>,
    /// The files' contents as loaded, so the watcher knows what is new.
    loaded: Stamp,
    /// [`HANDSHAKE`] unless a test chose a shorter one.
    handshake: Duration,
    /// [`RELOAD_EVERY`] unless a test chose a shorter one.
    reload_every: Duration,
}

impl Tls {
    /// Read and check the certificate chain and key. An error names the
    /// setting and the file.
    pub async fn load(files: &WebTls) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (cert, key) = read_pair(files).await?;
        let current = certified_key(files, &cert, &key, &provider)?;
        let loaded = Stamp::of(&cert, &key);
        let certificates =
            Arc::new(Certificates { files: files.clone(), provider: provider.clone(), current: RwLock::new(current) });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Setup)?
            .with_no_client_auth()
            .with_cert_resolver(certificates.clone());
        // HTTP/1.1 only: the server speaks nothing else.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certificates,
            loaded,
            handshake: HANDSHAKE,
            reload_every: RELOAD_EVERY,
        })
    }

    /// The handshake deadline instead of [`HANDSHAKE`] (tests keep it short).
    pub fn handshake_deadline(mut self, deadline: Duration) -> Self {
        self.handshake = deadline;
        self
    }

    /// The file check interval instead of [`RELOAD_EVERY`].
    pub fn reload_every(mut self, every: Duration) -> Self {
        self.reload_every = every;
        self
    }

    /// The acceptor and the handshake deadline, for each connection; the
    /// watcher, to run until `shutdown`.
    pub(super) fn start(
        self,
        shutdown: CancellationToken,
    ) -> ((TlsAcceptor, Duration), impl std::future::Future<Output = ()>) {
        let watcher = watch(self.certificates, self.loaded, self.reload_every, shutdown);
        ((self.acceptor, self.handshake), watcher)
    }
}

/// The certificate offered to new connections.
struct Certificates {
    /// Named in every message about a reload.
    files: WebTls,
    /// Parses keys; the same provider the server's config was built with.
    provider: Arc<CryptoProvider>,
    /// Read by every handshake, replaced whole by the watcher.
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificates").field("files", &self.files).finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(PoisonError::into_inner).clone())
    }
}

/// A digest of both files' contents: a change of either, even one that
/// keeps the size and the modification time, is a different stamp.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp([u8; 32]);

impl Stamp {
    fn of(cert: &[u8], key: &[u8]) -> Self {
        let mut context = digest::Context::new(&digest::SHA256);
        context.update(&(cert.len() as u64).to_be_bytes());
        context.update(cert);
        context.update(key);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(context.finish().as_ref());
        Self(bytes)
    }
}

/// Check the files every `every` until `shutdown`; take a changed pair once
/// it has settled.
async fn watch(certificates: Arc<Certificates>, mut loaded: Stamp, every: Duration, shutdown: CancellationToken) {
    let files = &certificates.files;
    let mut previous = loaded;
    // The last read error logged, so a missing file is reported once, not
    // at every check.
    let mut unreadable: Option<String> = None;
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let (cert, key) = match read_pair(files).await {
            Ok(pair) => pair,
            Err(e) => {
                let message = e.to_string();
                if unreadable.as_ref() != Some(&message) {
                    tracing::error!("{message}; new HTTPS connections keep the previous certificate");
                    unreadable = Some(message);
                }
                continue;
            }
        };
        unreadable = None;
        let now = Stamp::of(&cert, &key);
        let settled = now == previous;
        previous = now;
        if now == loaded || !settled {
            continue;
        }
        // Tried once per change: a broken pair is reported once and not
        // again until the files change.
        loaded = now;
        match certified_key(files, &cert, &key, &certificates.provider) {
            Ok(key) => {
                *certificates.current.write().unwrap_or_else(PoisonError::into_inner) = key;
                tracing::info!("HTTPS: new certificate loaded from BRIDGE_TLS_CERT {}", files.cert.display());
            }
            Err(e) => tracing::error!("{e}; new HTTPS connections keep the previous certificate"),
        }
    }
}

/// Both files' contents, read off the runtime's threads.
async fn read_pair(files: &WebTls) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    Ok((read("BRIDGE_TLS_CERT", &files.cert).await?, read("BRIDGE_TLS_KEY", &files.key).await?))
}

async fn read(setting: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let unreadable = |source| TlsError::Unreadable { setting, path: path.to_owned(), source };
    let file = tokio::fs::File::open(path).await.map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).await.map_err(unreadable)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let problem = format!("larger than {} KiB, so not a PEM certificate or key", MAX_FILE_BYTES / 1024);
        return Err(TlsError::Invalid { setting, path: path.to_owned(), problem });
    }
    Ok(bytes)
}

/// The certificate chain and its key, checked to belong together.
fn certified_key(
    files: &WebTls,
    cert: &[u8],
    key: &[u8],
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let bad_cert =
        |problem: String| TlsError::Invalid { setting: "BRIDGE_TLS_CERT", path: files.cert.clone(), problem };
    let bad_key = |problem: String| TlsError::Invalid { setting: "BRIDGE_TLS_KEY", path: files.key.clone(), problem };
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_cert(format!("not a PEM certificate chain ({e})")))?;
    if chain.is_empty() {
        return Err(bad_cert("no certificate in it (expected -----BEGIN CERTIFICATE-----)".into()));
    }
    // The PEM parser's messages may quote what it read; from the key file
    // that must not reach a log.
    let der = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
        bad_key(match e {
            pem::Error::NoItemsFound => "no unencrypted private key in it (expected -----BEGIN PRIVATE KEY-----, \
                                         RSA PRIVATE KEY or EC PRIVATE KEY)"
                .into(),
            _ => "not a readable PEM private key".into(),
        })
    })?;
    let signing_key = provider.key_provider.load_private_key(der).map_err(|e| bad_key(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(Arc::new(certified)),
        Err(rustls::Error::InconsistentKeys(_)) => {
            Err(TlsError::Mismatch { cert: files.cert.clone(), key: files.key.clone() })
        }
        Err(e) => Err(bad_cert(format!("not a usable certificate ({e})"))),
    }
}
