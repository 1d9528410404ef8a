//! The e-mail channel: a plain-text mail per notification, its title as the
//! subject, sent through one SMTP server (lettre, async on Tokio, rustls on
//! ring with compiled-in roots).
//!
//! Owns: the SMTP and address settings, the message's text and one
//! attempt's outcome. Not: retries, the overall time limit or counting
//! (`super` does those around [`Mailer::send`]).
//!
//! The one thing to know: `BRIDGE_SMTP_TLS=none` sends the password and the
//! mail in clear text, so it is allowed only to a loopback host (a local
//! relay) or with `BRIDGE_SMTP_ALLOW_PLAINTEXT=true`; the default is
//! STARTTLS, which lettre requires (no silent fall-back to plain text).

use super::{Cause, Notification, Redacted};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// How the connection to the mail server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connect, then STARTTLS, which must succeed (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS at all (port 25): loopback or an explicit opt-in only.
    None,
}

impl SmtpTls {
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// With `password`: AUTH PLAIN or LOGIN, whichever the server offers.
    pub username: Option<String>,
    pub password: Option<Redacted>,
    pub from: Mailbox,
    /// At least one.
    pub to: Vec<Mailbox>,
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A host name or an IP address (no scheme, port or path).
fn valid_host(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok()
        || (host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            }))
}

fn mailbox(name: &str, text: &str) -> Result<Mailbox, String> {
    text.trim().parse::<Mailbox>().map_err(|e| {
        format!("{name}={text:?} is not valid: an e-mail address like alerts@example.net or \"PDU bridge <alerts@example.net>\" ({e})")
    })
}

impl EmailConfig {
    /// `BRIDGE_SMTP_HOST` (unset: no e-mail) and the rest of `BRIDGE_SMTP_*`,
    /// `BRIDGE_NOTIFY_EMAIL_FROM` and `BRIDGE_NOTIFY_EMAIL_TO`.
    pub(super) fn from_vars(get: &impl Fn(&str) -> Option<String>) -> Result<Option<EmailConfig>, String> {
        const OTHERS: [&str; 7] = [
            "BRIDGE_SMTP_PORT",
            "BRIDGE_SMTP_TLS",
            "BRIDGE_SMTP_USERNAME",
            "BRIDGE_SMTP_PASSWORD",
            "BRIDGE_SMTP_ALLOW_PLAINTEXT",
            "BRIDGE_NOTIFY_EMAIL_FROM",
            "BRIDGE_NOTIFY_EMAIL_TO",
        ];
        let Some(host) = get("BRIDGE_SMTP_HOST") else {
            return match OTHERS.iter().find(|name| get(name).is_some()) {
                Some(name) => Err(format!(
                    "{name} is set but BRIDGE_SMTP_HOST is not: set the mail server's host name to send e-mail"
                )),
                None => Ok(None),
            };
        };
        if !valid_host(&host) {
            return Err(format!(
                "BRIDGE_SMTP_HOST={host:?} is not valid: a host name or IP address, without scheme or port \
                 (the port goes in BRIDGE_SMTP_PORT)"
            ));
        }
        let tls = match get("BRIDGE_SMTP_TLS").map(|t| t.to_ascii_lowercase()).as_deref() {
            None | Some("starttls") => SmtpTls::StartTls,
            Some("tls") => SmtpTls::Tls,
            Some("none") => SmtpTls::None,
            Some(other) => {
                return Err(format!("BRIDGE_SMTP_TLS={other:?} is not valid: starttls (the default), tls or none"))
            }
        };
        let allow_plaintext = match get("BRIDGE_SMTP_ALLOW_PLAINTEXT").map(|t| t.to_ascii_lowercase()).as_deref() {
            None | Some("false" | "0" | "no" | "off") => false,
            Some("true" | "1" | "yes" | "on") => true,
            Some(other) => return Err(format!("BRIDGE_SMTP_ALLOW_PLAINTEXT={other:?} is not valid: true or false")),
        };
        if tls == SmtpTls::None && !is_loopback(&host) && !allow_plaintext {
            return Err(format!(
                "BRIDGE_SMTP_TLS=none is allowed only for a loopback host (localhost, 127.0.0.1, ::1), not {host:?}: \
                 use starttls or tls, or set BRIDGE_SMTP_ALLOW_PLAINTEXT=true to send mail and password unencrypted"
            ));
        }
        if tls != SmtpTls::None {
            TlsParameters::new(host.clone()).map_err(|e| {
                format!(
                    "BRIDGE_SMTP_HOST={host:?} is not valid for TLS: a name or address a certificate can carry ({e})"
                )
            })?;
        }
        let port = match get("BRIDGE_SMTP_PORT") {
            None => tls.default_port(),
            Some(text) => text.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                format!(
                    "BRIDGE_SMTP_PORT={text:?} is not valid: a port from 1 to 65535 (default {} for BRIDGE_SMTP_TLS)",
                    tls.default_port()
                )
            })?,
        };
        let username = get("BRIDGE_SMTP_USERNAME");
        let password = get("BRIDGE_SMTP_PASSWORD").map(Redacted::new);
        match (&username, &password) {
            (Some(_), None) => return Err("BRIDGE_SMTP_USERNAME is set but BRIDGE_SMTP_PASSWORD is not: set both, or neither to send without signing in".into()),
            (None, Some(_)) => return Err("BRIDGE_SMTP_PASSWORD is set but BRIDGE_SMTP_USERNAME is not: set both, or neither to send without signing in".into()),
            _ => {}
        }
        let from = get("BRIDGE_NOTIFY_EMAIL_FROM")
            .ok_or("BRIDGE_NOTIFY_EMAIL_FROM is required with BRIDGE_SMTP_HOST: the sender's address, e.g. pdu-bridge@example.net")?;
        let from = mailbox("BRIDGE_NOTIFY_EMAIL_FROM", &from)?;
        let to_text = get("BRIDGE_NOTIFY_EMAIL_TO").ok_or(
            "BRIDGE_NOTIFY_EMAIL_TO is required with BRIDGE_SMTP_HOST: one or more addresses separated by commas",
        )?;
        let to = to_text
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| mailbox("BRIDGE_NOTIFY_EMAIL_TO", t))
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err("BRIDGE_NOTIFY_EMAIL_TO has no address: one or more addresses separated by commas".into());
        }
        Ok(Some(EmailConfig { host, port, tls, username, password, from, to }))
    }
}

/// The mail's text: the message, then the facts a reader filters on.
pub fn body(n: &Notification) -> String {
    let time = jiff::Timestamp::from_millisecond(n.ts).map(|t| t.to_string()).unwrap_or_else(|_| n.ts.to_string());
    let pdu = n.device_id.as_deref().unwrap_or("(the bridge itself)");
    format!(
        "{message}\n\nAlarm:    {alarm}\nState:    {state}\nSeverity: {severity}\nPDU:      {pdu}\nTime:     {time}\nAlarm id: {id}\n\n-- \nSent by pdu-bridge {version}\n",
        message = n.message,
        alarm = n.alarm,
        state = n.state,
        severity = n.severity,
        id = n.id,
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// A configured mail server, ready to send.
pub(super) struct Mailer {
    config: EmailConfig,
    target: String,
    /// lettre's limit per SMTP command; the caller bounds the whole attempt.
    timeout: Duration,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer").field("target", &self.target).finish()
    }
}

impl Mailer {
    pub(super) fn new(config: EmailConfig, timeout: Duration) -> Mailer {
        let (scheme, how) = match config.tls {
            SmtpTls::StartTls => ("smtp", " (STARTTLS)"),
            SmtpTls::Tls => ("smtps", ""),
            SmtpTls::None => ("smtp", " (no TLS)"),
        };
        let host = if config.host.contains(':') { format!("[{}]", config.host) } else { config.host.clone() };
        let target = format!("{scheme}://{host}:{}{how}", config.port);
        Mailer { config, target, timeout }
    }

    pub(super) fn target(&self) -> &str {
        &self.target
    }

    fn message(&self, n: &Notification) -> Result<Message, Cause> {
        let mut builder = Message::builder().from(self.config.from.clone()).subject(n.title.clone());
        for to in &self.config.to {
            builder = builder.to(to.clone());
        }
        builder
            .header(ContentType::TEXT_PLAIN)
            .body(body(n))
            .map_err(|e| Cause::Protocol(format!("building the mail: {e}")))
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, Cause> {
        let c = &self.config;
        let tls = match c.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls | SmtpTls::Tls => {
                let parameters = TlsParameters::new(c.host.clone()).map_err(|e| Cause::Tls(e.to_string()))?;
                if c.tls == SmtpTls::Tls {
                    Tls::Wrapper(parameters)
                } else {
                    Tls::Required(parameters)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(c.host.as_str())
            .port(c.port)
            .tls(tls)
            .timeout(Some(self.timeout));
        if let (Some(username), Some(password)) = (&c.username, &c.password) {
            builder = builder
                .credentials(Credentials::new(username.clone(), password.expose().to_owned()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(builder.build())
    }

    /// One attempt: connect, sign in if configured, send. Ok when the
    /// server accepted the mail for every recipient.
    pub(super) async fn send(&self, n: &Notification) -> Result<(), Cause> {
        let message = self.message(n)?;
        let transport = self.transport()?;
        transport.send(message).await.map(drop).map_err(|e| self.cause(&e))
    }

    /// A lettre error as a [`Cause`], with the password scrubbed should a
    /// server echo it back.
    fn cause(&self, e: &lettre::transport::smtp::Error) -> Cause {
        let scrub = |text: String| match &self.config.password {
            Some(password) => text.replace(password.expose(), "***"),
            None => text,
        };
        let text = scrub(e.to_string());
        if let Some(code) = e.status().and_then(|c| c.to_string().parse::<u16>().ok()) {
            // The server's own words; lettre's text repeats the code.
            let reply = std::error::Error::source(e).map(|s| scrub(s.to_string())).unwrap_or(text);
            Cause::Smtp { code, text: reply }
        } else if e.is_timeout() {
            Cause::Timeout(self.timeout)
        } else if e.is_tls() {
            Cause::Tls(text)
        } else if e.is_client() || e.is_response() {
            Cause::Protocol(text)
        } else {
            Cause::Network(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifications::{NotificationState, Severity};

    #[test]
    fn loopback_hosts_are_known() {
        for host in ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["mail.example.net", "10.0.0.1", "localhost.example.net"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn host_names_and_addresses_are_valid_hosts() {
        for host in ["mail.example.net", "localhost", "127.0.0.1", "::1", "smtp-1.example.net"] {
            assert!(valid_host(host), "{host}");
        }
        for host in ["smtp://mail.example.net", "mail.example.net:587", "mail..example.net", "-bad.example.net", "a b"]
        {
            assert!(!valid_host(host), "{host}");
        }
    }

    #[test]
    fn the_body_carries_the_message_and_the_facts() {
        let n = Notification {
            device_id: None,
            alarm: "pdu_unreachable".into(),
            severity: Severity::Warning,
            state: NotificationState::Cleared,
            title: "rack-b is back".into(),
            message: "rack-b answers again.".into(),
            ts: 0,
            id: 3,
        };
        let text = body(&n);
        assert!(text.starts_with("rack-b answers again.\n"), "{text}");
        for line in [
            "Alarm:    pdu_unreachable",
            "State:    cleared",
            "Severity: warning",
            "PDU:      (the bridge itself)",
            "Time:     1970-01-01T00:00:00Z",
            "Alarm id: 3",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
