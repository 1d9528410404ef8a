//! The webhook channel: a JSON POST of the [`Notification`](super::Notification)
//! to one URL, signed with HMAC-SHA256 when a secret is set.
//!
//! Owns: the URL and secret settings, the request, the signature and one
//! attempt's outcome. Not: retries, timeouts or counting (`super` does
//! those around [`Webhook::post`]).
//!
//! The one thing to know: the URL's path and query often carry a token, so
//! [`WebhookUrl`] shows only `scheme://host:port` in `Debug`, `Display`,
//! errors and logs. Receivers verify `X-Pdu-Bridge-Signature: sha256=<hex>`,
//! the HMAC-SHA256 of `<X-Pdu-Bridge-Timestamp> "." <body>` under the
//! secret, and should refuse old timestamps (each attempt signs anew).
//!
//! The client is hyper's own HTTP/1 connection API over a Tokio socket (and
//! tokio-rustls for https), one connection per attempt: all of it already in
//! the tree, and a notification every few minutes needs no pool.

use super::{Cause, Redacted};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use ring::hmac;
use rustls::pki_types::ServerName;
use std::fmt;
use std::sync::Arc;
use tokio::net::TcpStream;

pub const SIGNATURE_HEADER: &str = "x-pdu-bridge-signature";
pub const TIMESTAMP_HEADER: &str = "x-pdu-bridge-timestamp";
const AGENT: &str = concat!("pdu-bridge/", env!("CARGO_PKG_VERSION"));
/// How much of a refusal's body goes into the error: enough for a
/// receiver's "invalid signature", not a whole error page.
const BODY_IN_ERROR: usize = 200;

/// Where to POST, validated. Shows only `scheme://host:port`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    uri: Uri,
    https: bool,
    /// Without IPv6 brackets, for connecting and TLS.
    host: String,
    port: u16,
}

impl WebhookUrl {
    /// `http://` or `https://`, a host, an optional port, path and query. The
    /// error never repeats the URL (it may hold a token).
    pub fn parse(text: &str) -> Result<WebhookUrl, String> {
        const NAME: &str = "BRIDGE_NOTIFY_WEBHOOK_URL";
        const ALLOWED: &str =
            "an http:// or https:// URL, e.g. https://hooks.example.net/pdu (value not shown: it may hold a token)";
        let uri: Uri = text.parse().map_err(|_| format!("{NAME} is not a URL; expected {ALLOWED}"))?;
        let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("{NAME} must start with http:// or https://; expected {ALLOWED}")),
        };
        let Some(authority) = uri.authority() else {
            return Err(format!("{NAME} has no host; expected {ALLOWED}"));
        };
        if authority.as_str().contains('@') {
            return Err(format!(
                "{NAME} must not carry a user or password before the host; put a token in the path or query, \
                 or sign with BRIDGE_NOTIFY_WEBHOOK_SECRET"
            ));
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        if host.is_empty() {
            return Err(format!("{NAME} has no host; expected {ALLOWED}"));
        }
        let port = match authority.port_u16() {
            Some(0) => return Err(format!("{NAME} has port 0; expected a port from 1 to 65535")),
            Some(port) => port,
            None if https => 443,
            None => 80,
        };
        Ok(WebhookUrl { uri, https, host, port })
    }

    /// `scheme://host:port`: what may be shown and logged.
    pub fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }

    fn path_and_query(&self) -> &str {
        self.uri.path_and_query().map(|p| p.as_str()).filter(|p| !p.is_empty()).unwrap_or("/")
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({}/***)", self.origin())
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: WebhookUrl,
    /// The HMAC-SHA256 key; None: requests are not signed.
    pub secret: Option<Redacted>,
}

impl WebhookConfig {
    /// `BRIDGE_NOTIFY_WEBHOOK_URL` (unset: no webhook) and
    /// `BRIDGE_NOTIFY_WEBHOOK_SECRET`.
    pub(super) fn from_vars(get: &impl Fn(&str) -> Option<String>) -> Result<Option<WebhookConfig>, String> {
        let secret = get("BRIDGE_NOTIFY_WEBHOOK_SECRET").map(Redacted::new);
        let Some(url) = get("BRIDGE_NOTIFY_WEBHOOK_URL") else {
            if secret.is_some() {
                return Err("BRIDGE_NOTIFY_WEBHOOK_SECRET is set but BRIDGE_NOTIFY_WEBHOOK_URL is not: \
                            set the URL to send signed webhooks, or remove the secret"
                    .into());
            }
            return Ok(None);
        };
        if let Some(secret) = &secret {
            if secret.expose().len() < 16 {
                return Err("BRIDGE_NOTIFY_WEBHOOK_SECRET is too short: use at least 16 characters \
                            (value not shown)"
                    .into());
            }
        }
        Ok(Some(WebhookConfig { url: WebhookUrl::parse(&url)?, secret }))
    }
}

/// The signature header's value for `body` sent at `timestamp` (unix
/// seconds): `sha256=` and the hex HMAC-SHA256 of `timestamp "." body`.
pub fn signature(key: &hmac::Key, timestamp: u64, body: &[u8]) -> String {
    let mut signing = hmac::Context::with_key(key);
    signing.update(timestamp.to_string().as_bytes());
    signing.update(b".");
    signing.update(body);
    format!("sha256={}", crate::auth::secret::hex(signing.sign().as_ref()))
}

/// A configured webhook, ready to post.
pub(super) struct Webhook {
    url: WebhookUrl,
    origin: String,
    key: Option<hmac::Key>,
    /// For https URLs: rustls on ring with the compiled-in roots.
    tls: Option<tokio_rustls::TlsConnector>,
}

impl Webhook {
    pub(super) fn new(config: WebhookConfig) -> Webhook {
        let key = config.secret.map(|s| hmac::Key::new(hmac::HMAC_SHA256, s.expose().as_bytes()));
        let tls = config.url.https.then(|| {
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            let mut tls =
                rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                    .with_safe_default_protocol_versions()
                    .expect("ring supports TLS 1.2 and 1.3")
                    .with_root_certificates(roots)
                    .with_no_client_auth();
            tls.alpn_protocols = vec![b"http/1.1".to_vec()];
            tokio_rustls::TlsConnector::from(Arc::new(tls))
        });
        Webhook { origin: config.url.origin(), url: config.url, key, tls }
    }

    pub(super) fn target(&self) -> &str {
        &self.origin
    }

    /// One attempt: connect, POST `body`, read the status. Ok for 2xx. The
    /// caller bounds its time.
    pub(super) async fn post(&self, body: Bytes) -> Result<(), Cause> {
        let mut request = Request::post(self.url.path_and_query())
            .header(HOST, self.url.uri.authority().map(|a| a.as_str()).unwrap_or(&self.url.host))
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, AGENT)
            .header(CONNECTION, "close");
        if let Some(key) = &self.key {
            let timestamp = crate::clock::unix_ms() / 1000;
            request = request
                .header(TIMESTAMP_HEADER, timestamp.to_string())
                .header(SIGNATURE_HEADER, signature(key, timestamp, &body));
        }
        let request =
            request.body(Full::new(body)).map_err(|e| Cause::Protocol(format!("building the request: {e}")))?;
        let tcp = TcpStream::connect((self.url.host.as_str(), self.url.port))
            .await
            .map_err(|e| Cause::Network(format!("could not connect: {e}")))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => exchange(TokioIo::new(tcp), request).await,
            Some(connector) => {
                let name = ServerName::try_from(self.url.host.clone())
                    .map_err(|e| Cause::Tls(format!("{} is not a name a certificate can carry: {e}", self.url.host)))?;
                let tls = connector.connect(name, tcp).await.map_err(|e| tls_cause(&e))?;
                exchange(TokioIo::new(tls), request).await
            }
        }
    }
}

/// A TLS handshake error: a certificate problem is TLS, a broken
/// connection during the handshake is network (and retried).
fn tls_cause(e: &std::io::Error) -> Cause {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(tls) => Cause::Tls(tls.to_string()),
        None => Cause::Network(format!("during the TLS handshake: {e}")),
    }
}

/// Aborts the connection's driver when the attempt ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn exchange<I>(io: I, request: Request<Full<Bytes>>) -> Result<(), Cause>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(io).await.map_err(|e| Cause::Network(e.to_string()))?;
    let _driver = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let response = sender.send_request(request).await.map_err(|e| {
        if e.is_parse() || e.is_user() {
            Cause::Protocol(format!("the receiver's answer: {e}"))
        } else {
            Cause::Network(e.to_string())
        }
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    // The start of the body says why (a receiver's "invalid signature"); a
    // body that does not arrive is no reason to hide the status.
    let body = match Limited::new(response.into_body(), 16 * 1024).collect().await {
        Ok(collected) => printable(&collected.to_bytes()),
        Err(_) => String::new(),
    };
    Err(Cause::Http { status: status.as_u16(), body })
}

/// The first [`BODY_IN_ERROR`] characters, one line, no control characters.
fn printable(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut line: String =
        text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(BODY_IN_ERROR).collect::<String>();
    line = line.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() > BODY_IN_ERROR {
        line.push('…');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_shows_only_its_origin() {
        let url = WebhookUrl::parse("https://hooks.example.net/services/T0K3N?key=s3cret").unwrap();
        assert_eq!(url.origin(), "https://hooks.example.net:443");
        assert_eq!(url.to_string(), "https://hooks.example.net:443");
        assert!(!format!("{url:?}").contains("T0K3N") && !format!("{url:?}").contains("s3cret"));
        assert_eq!(url.path_and_query(), "/services/T0K3N?key=s3cret");
        let v6 = WebhookUrl::parse("http://[::1]:8080").unwrap();
        assert_eq!((v6.host.as_str(), v6.port, v6.origin().as_str()), ("::1", 8080, "http://[::1]:8080"));
        assert_eq!(v6.path_and_query(), "/");
    }

    #[test]
    fn bad_urls_are_refused_without_repeating_them() {
        for bad in [
            "ftp://example.net/T0K3N",
            "example.net/T0K3N",
            "https://user:T0K3N@example.net/",
            "http://:80/T0K3N",
            "http://h:0/T0K3N",
            "not a url T0K3N",
        ] {
            let e = WebhookUrl::parse(bad).unwrap_err();
            assert!(e.starts_with("BRIDGE_NOTIFY_WEBHOOK_URL"), "{bad}: {e}");
            assert!(!e.contains("T0K3N"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 style check against an independent computation.
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"0123456789abcdef");
        let expected = hmac::sign(&key, b"1700000000.{\"a\":1}");
        assert_eq!(
            signature(&key, 1_700_000_000, b"{\"a\":1}"),
            format!("sha256={}", crate::auth::secret::hex(expected.as_ref()))
        );
    }

    #[test]
    fn a_refusals_body_is_shortened_to_one_line() {
        assert_eq!(printable(b"bad\r\n  signature"), "bad signature");
        assert_eq!(printable("x".repeat(500).as_bytes()).chars().count(), BODY_IN_ERROR + 1);
    }
}
