//! Alarm notifications over real sockets on loopback: a webhook receiver
//! (axum on 127.0.0.1:0) and an SMTP sink (tests/util/smtp_sink.rs), both
//! scripted to fail first. Backoff is shortened to milliseconds here (real
//! sockets and paused time mix badly); the real 1-2-4-8 s schedule is tested
//! under paused time in the module's unit tests.

use crate::util::smtp_sink::SmtpSink;
use crate::util::webhook_sink::{Receiver, Request};
use axum::http::StatusCode;
use server::notifications::{
    Cause, Channel, ChannelStats, DeliveryError, Notification, NotificationState, Notifier, NotifyConfig, RetryPolicy,
    Severity,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "hook-S3cret-7f8e9d0c1b2a";
const URL_TOKEN: &str = "T0K3N-4c5d6e";
const URL_QUERY: &str = "qk-S3cret-1a2b3c";
const SMTP_PASSWORD: &str = "smtp-S3cret-4d5e6f";

fn notification(id: u64) -> Notification {
    Notification {
        device_id: Some("rack-a".into()),
        alarm: "bank_overload".into(),
        severity: Severity::Critical,
        state: NotificationState::Raised,
        title: "rack-a: bank 1 overload".into(),
        message: "Bank 1 draws 16.2 A, over its 16 A limit.".into(),
        ts: 1_764_662_400_123,
        id,
    }
}

/// Five attempts as in production, milliseconds apart.
fn fast() -> RetryPolicy {
    RetryPolicy { attempts: 5, first_backoff: Duration::from_millis(10), attempt_timeout: Duration::from_secs(5) }
}

fn settings(vars: &[(&str, &str)]) -> Result<NotifyConfig, String> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    NotifyConfig::from_vars(|name| vars.get(name).cloned())
}

fn config(vars: &[(&str, &str)], retry: RetryPolicy) -> NotifyConfig {
    NotifyConfig { retry, ..settings(vars).expect("valid notification settings") }
}

/// The receiver's address for these tests: a token in the path and the query.
trait HookUrl {
    fn url(&self) -> String;
}

impl HookUrl for Receiver {
    fn url(&self) -> String {
        self.url_at(&format!("/hooks/{URL_TOKEN}?key={URL_QUERY}"))
    }
}

/// Wait (real time, at most 10 s) until `done`.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn verify_signature(request: &Request) {
    request.verify_signature(SECRET);
}

#[tokio::test]
async fn webhook_failing_twice_with_503_delivers_once_signed() {
    let receiver = Receiver::start(&[
        (StatusCode::SERVICE_UNAVAILABLE, "restarting"),
        (StatusCode::SERVICE_UNAVAILABLE, "restarting"),
    ])
    .await;
    let shutdown = CancellationToken::new();
    let vars = [("BRIDGE_NOTIFY_WEBHOOK_URL", receiver.url()), ("BRIDGE_NOTIFY_WEBHOOK_SECRET", SECRET.into())];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let notifier = Notifier::start(config(&vars, fast()), shutdown.clone());
    notifier.send(notification(42));
    eventually("delivery", || notifier.stats().webhook.unwrap().sent == 1).await;
    // Nothing more arrives: accepted exactly once.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen = receiver.seen();
    assert_eq!(seen.len(), 3, "two refusals, then one delivery");
    assert_eq!(notifier.stats().webhook, Some(ChannelStats { sent: 1, failed: 0, dropped: 0 }));
    let delivered = &seen[2];
    assert_eq!(delivered.uri, format!("/hooks/{URL_TOKEN}?key={URL_QUERY}"));
    assert_eq!(delivered.headers["content-type"], "application/json");
    assert_eq!(delivered.headers["user-agent"], concat!("pdu-bridge/", env!("CARGO_PKG_VERSION")));
    let json: serde_json::Value = serde_json::from_slice(&delivered.body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "device_id": "rack-a",
            "alarm": "bank_overload",
            "severity": "critical",
            "state": "raised",
            "title": "rack-a: bank 1 overload",
            "message": "Bank 1 draws 16.2 A, over its 16 A limit.",
            "ts": 1_764_662_400_123_i64,
            "id": 42,
        })
    );
    // Every attempt is signed anew, and each signature verifies.
    for request in &seen {
        verify_signature(request);
        assert_eq!(request.body, delivered.body);
    }
    shutdown.cancel();
}

#[tokio::test]
async fn webhook_answered_400_is_not_retried_and_the_error_says_why() {
    let receiver = Receiver::start(&[(StatusCode::BAD_REQUEST, "unknown alarm kind")]).await;
    let notifier =
        Notifier::start(config(&[("BRIDGE_NOTIFY_WEBHOOK_URL", &receiver.url())], fast()), CancellationToken::new());
    let error = notifier.deliver_now(&notification(1)).await.unwrap_err();
    let DeliveryError::Failed(failures) = &error else { panic!("{error:?}") };
    assert_eq!(failures.len(), 1);
    assert_eq!((failures[0].channel, failures[0].attempts), (Channel::Webhook, 1));
    assert_eq!(failures[0].cause, Cause::Http { status: 400, body: "unknown alarm kind".into() });
    assert_eq!(
        error.to_string(),
        format!("webhook to http://{}: HTTP 400: unknown alarm kind (after 1 attempt)", receiver.addr)
    );
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1, "a 400 is not retried");
    // No secret configured: not signed.
    assert!(!seen[0].headers.contains_key("x-pdu-bridge-signature"));
    assert!(!seen[0].headers.contains_key("x-pdu-bridge-timestamp"));
    assert_eq!(notifier.stats().webhook, Some(ChannelStats { sent: 0, failed: 1, dropped: 0 }));
}

#[tokio::test]
async fn unreachable_webhook_gives_a_clear_error_after_every_attempt() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/hooks/{URL_TOKEN}");
    let retry = RetryPolicy { attempts: 3, ..fast() };
    let notifier = Notifier::start(config(&[("BRIDGE_NOTIFY_WEBHOOK_URL", &url)], retry), CancellationToken::new());
    let error = notifier.deliver_now(&notification(1)).await.unwrap_err();
    let DeliveryError::Failed(failures) = &error else { panic!("{error:?}") };
    assert_eq!((failures[0].channel, failures[0].attempts), (Channel::Webhook, 3));
    assert!(matches!(&failures[0].cause, Cause::Network(e) if e.contains("could not connect")), "{error:?}");
    let text = error.to_string();
    assert!(text.starts_with(&format!("webhook to http://127.0.0.1:{port}: network: could not connect")), "{text}");
    assert!(text.ends_with("(after 3 attempts)"), "{text}");
    assert!(!text.contains(URL_TOKEN), "{text}");
}

#[tokio::test]
async fn webhook_that_never_answers_times_out_each_attempt() {
    // Accepts connections (the kernel does) but never reads or answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let retry = RetryPolicy {
        attempts: 2,
        first_backoff: Duration::from_millis(10),
        attempt_timeout: Duration::from_millis(200),
    };
    let notifier = Notifier::start(config(&[("BRIDGE_NOTIFY_WEBHOOK_URL", &url)], retry), CancellationToken::new());
    let started = std::time::Instant::now();
    let error = notifier.deliver_now(&notification(1)).await.unwrap_err();
    let DeliveryError::Failed(failures) = &error else { panic!("{error:?}") };
    assert_eq!(failures[0].cause, Cause::Timeout(Duration::from_millis(200)));
    assert_eq!(failures[0].attempts, 2);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    drop(listener);
}

#[tokio::test]
async fn shutdown_stops_a_webhook_retrying_at_once() {
    let receiver = Receiver::start(&[(StatusCode::SERVICE_UNAVAILABLE, "down"); 9]).await;
    let shutdown = CancellationToken::new();
    // The next attempt would be 30 s away: only cancelling ends it sooner.
    let retry = RetryPolicy { first_backoff: Duration::from_secs(30), ..RetryPolicy::default() };
    let notifier = Notifier::start(config(&[("BRIDGE_NOTIFY_WEBHOOK_URL", &receiver.url())], retry), shutdown.clone());
    notifier.send(notification(1));
    notifier.send(notification(2));
    eventually("the first attempt", || receiver.seen().len() == 1).await;
    let stopping = std::time::Instant::now();
    shutdown.cancel();
    eventually("both counted as dropped", || notifier.stats().webhook.unwrap().dropped == 2).await;
    assert!(stopping.elapsed() < Duration::from_secs(5), "{:?}", stopping.elapsed());
    assert_eq!(receiver.seen().len(), 1);
    assert_eq!(notifier.stats().webhook, Some(ChannelStats { sent: 0, failed: 0, dropped: 2 }));
    // After shutdown, send still neither waits nor fails.
    notifier.send(notification(3));
    assert_eq!(notifier.stats().webhook.unwrap().dropped, 3);
}

#[tokio::test]
async fn https_webhook_to_a_plain_http_server_fails_as_tls_without_retrying() {
    let receiver = Receiver::start(&[]).await;
    let url = format!("https://{}/hooks/{URL_TOKEN}", receiver.addr);
    let notifier = Notifier::start(config(&[("BRIDGE_NOTIFY_WEBHOOK_URL", &url)], fast()), CancellationToken::new());
    let error = notifier.deliver_now(&notification(1)).await.unwrap_err();
    let DeliveryError::Failed(failures) = &error else { panic!("{error:?}") };
    assert!(matches!(failures[0].cause, Cause::Tls(_)), "{error:?}");
    assert_eq!(failures[0].attempts, 1, "a TLS failure is not retried");
    assert!(error.to_string().starts_with(&format!("webhook to https://{}: TLS: ", receiver.addr)), "{error}");
    assert!(receiver.seen().is_empty(), "nothing was posted in clear text");
}

fn smtp_vars(sink: &SmtpSink) -> Vec<(&'static str, String)> {
    vec![
        ("BRIDGE_SMTP_HOST", "127.0.0.1".into()),
        ("BRIDGE_SMTP_PORT", sink.addr.port().to_string()),
        ("BRIDGE_SMTP_TLS", "none".into()),
        ("BRIDGE_SMTP_USERNAME", "alerts@example.net".into()),
        ("BRIDGE_SMTP_PASSWORD", SMTP_PASSWORD.into()),
        ("BRIDGE_NOTIFY_EMAIL_FROM", "PDU bridge <alerts@example.net>".into()),
        ("BRIDGE_NOTIFY_EMAIL_TO", "ops@example.net, oncall@example.org".into()),
    ]
}

fn borrowed<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn email_refused_451_once_is_sent_on_the_second_attempt() {
    let sink = SmtpSink::start("PLAIN LOGIN", &[451]).await;
    let shutdown = CancellationToken::new();
    let vars = smtp_vars(&sink);
    let notifier = Notifier::start(config(&borrowed(&vars), fast()), shutdown.clone());
    notifier.send(notification(7));
    eventually("the mail", || notifier.stats().email.unwrap().sent == 1).await;
    assert_eq!(sink.sessions(), 2, "one refused session, one accepted");
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.header("Subject").as_deref(), Some("rack-a: bank 1 overload"));
    assert_eq!(mail.from, "alerts@example.net");
    assert_eq!(mail.to, ["ops@example.net", "oncall@example.org"]);
    assert!(mail.header("Content-Type").unwrap().starts_with("text/plain"), "{:?}", mail.header("Content-Type"));
    let body = mail.body();
    assert!(body.starts_with("Bank 1 draws 16.2 A, over its 16 A limit.\n"), "{body}");
    assert!(body.contains("Severity: critical") && body.contains("Alarm id: 7"), "{body}");
    // Both sessions signed in with the configured account.
    let sign_ins = sink.sign_ins();
    assert_eq!(sign_ins.len(), 2);
    for s in &sign_ins {
        assert_eq!(
            (s.mechanism.as_str(), s.username.as_str(), s.password.as_str()),
            ("PLAIN", "alerts@example.net", SMTP_PASSWORD)
        );
    }
    assert_eq!(mail.sign_in.as_ref(), Some(&sign_ins[1]));
    assert_eq!(notifier.stats().email, Some(ChannelStats { sent: 1, failed: 0, dropped: 0 }));
    shutdown.cancel();
}

#[tokio::test]
async fn email_signs_in_with_login_when_that_is_all_the_server_offers() {
    let sink = SmtpSink::start("LOGIN", &[]).await;
    let vars = smtp_vars(&sink);
    let notifier = Notifier::start(config(&borrowed(&vars), fast()), CancellationToken::new());
    notifier.deliver_now(&notification(1)).await.unwrap();
    let sign_ins = sink.sign_ins();
    assert_eq!(sign_ins.len(), 1);
    assert_eq!(
        (sign_ins[0].mechanism.as_str(), sign_ins[0].username.as_str(), sign_ins[0].password.as_str()),
        ("LOGIN", "alerts@example.net", SMTP_PASSWORD)
    );
    assert_eq!(sink.mails().len(), 1);
}

#[tokio::test]
async fn email_refused_550_is_not_retried() {
    let sink = SmtpSink::start("", &[550]).await;
    let vars: Vec<_> = smtp_vars(&sink)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("BRIDGE_SMTP_USER") && !k.starts_with("BRIDGE_SMTP_PASS"))
        .collect();
    let notifier = Notifier::start(config(&borrowed(&vars), fast()), CancellationToken::new());
    let error = notifier.deliver_now(&notification(1)).await.unwrap_err();
    let DeliveryError::Failed(failures) = &error else { panic!("{error:?}") };
    assert_eq!((failures[0].channel, failures[0].attempts), (Channel::Email, 1));
    assert!(matches!(&failures[0].cause, Cause::Smtp { code: 550, .. }), "{error:?}");
    let text = error.to_string();
    assert_eq!(
        text,
        format!(
            "e-mail to smtp://127.0.0.1:{} (no TLS): SMTP 550: 5.7.1 refused for good (after 1 attempt)",
            sink.addr.port()
        )
    );
    assert_eq!(sink.sessions(), 1);
    assert!(sink.sign_ins().is_empty(), "no account configured: no AUTH");
    assert_eq!(notifier.stats().email, Some(ChannelStats { sent: 0, failed: 1, dropped: 0 }));
}

#[tokio::test]
async fn starttls_is_required_so_a_server_without_it_gets_no_password() {
    let sink = SmtpSink::start("PLAIN LOGIN", &[]).await;
    let mut vars = smtp_vars(&sink);
    vars.retain(|(k, _)| *k != "BRIDGE_SMTP_TLS");
    let settings = config(&borrowed(&vars), fast());
    assert_eq!(settings.email.as_ref().unwrap().tls, server::notifications::SmtpTls::StartTls, "the default");
    let notifier = Notifier::start(settings, CancellationToken::new());
    let error = notifier.deliver_now(&notification(1)).await.unwrap_err();
    let DeliveryError::Failed(failures) = &error else { panic!("{error:?}") };
    assert_eq!((failures[0].channel, failures[0].attempts), (Channel::Email, 1), "{error}");
    let text = error.to_string();
    assert!(text.starts_with(&format!("e-mail to smtp://127.0.0.1:{} (STARTTLS): ", sink.addr.port())), "{text}");
    assert!(text.contains("STARTTLS"), "{text}");
    assert!(sink.sign_ins().is_empty() && sink.mails().is_empty(), "no password and no mail in clear text");
}

#[tokio::test]
async fn one_channel_failing_does_not_stop_the_other_and_is_named() {
    let receiver = Receiver::start(&[(StatusCode::FORBIDDEN, "")]).await;
    let sink = SmtpSink::start("", &[]).await;
    let mut vars: Vec<_> =
        smtp_vars(&sink).into_iter().filter(|(k, _)| !k.contains("USER") && !k.contains("PASS")).collect();
    vars.push(("BRIDGE_NOTIFY_WEBHOOK_URL", receiver.url()));
    let notifier = Notifier::start(config(&borrowed(&vars), fast()), CancellationToken::new());
    let error = notifier.deliver_now(&notification(1)).await.unwrap_err();
    let DeliveryError::Failed(failures) = &error else { panic!("{error:?}") };
    assert_eq!(failures.len(), 1, "{error}");
    assert_eq!(failures[0].channel, Channel::Webhook);
    assert_eq!(sink.mails().len(), 1);
    let stats = notifier.stats();
    assert_eq!(stats.webhook, Some(ChannelStats { sent: 0, failed: 1, dropped: 0 }));
    assert_eq!(stats.email, Some(ChannelStats { sent: 1, failed: 0, dropped: 0 }));
}

#[test]
fn settings_errors_name_the_variable_and_what_is_allowed() {
    let mail = [
        ("BRIDGE_SMTP_HOST", "mail.example.net"),
        ("BRIDGE_NOTIFY_EMAIL_FROM", "pdu@example.net"),
        ("BRIDGE_NOTIFY_EMAIL_TO", "ops@example.net"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut vars: Vec<(&str, &str)> = mail.to_vec();
        vars.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        vars.extend(extra.iter().filter(|(_, v)| !v.is_empty()));
        settings(&vars)
    };
    // (settings changed or added, how the error starts, what it says is allowed)
    type Case = (&'static [(&'static str, &'static str)], &'static str, &'static str);
    let cases: &[Case] = &[
        (&[("BRIDGE_SMTP_TLS", "ssl")], "BRIDGE_SMTP_TLS=\"ssl\" is not valid", "starttls (the default), tls or none"),
        (
            &[("BRIDGE_SMTP_TLS", "none")],
            "BRIDGE_SMTP_TLS=none is allowed only for a loopback host",
            "BRIDGE_SMTP_ALLOW_PLAINTEXT=true",
        ),
        (&[("BRIDGE_SMTP_PORT", "70000")], "BRIDGE_SMTP_PORT=\"70000\" is not valid", "1 to 65535"),
        (&[("BRIDGE_SMTP_HOST", "smtp://mail.example.net")], "BRIDGE_SMTP_HOST=", "without scheme or port"),
        (
            &[("BRIDGE_NOTIFY_EMAIL_FROM", "not an address")],
            "BRIDGE_NOTIFY_EMAIL_FROM=\"not an address\" is not valid",
            "e-mail address",
        ),
        (
            &[("BRIDGE_NOTIFY_EMAIL_TO", "ops@example.net, nope")],
            "BRIDGE_NOTIFY_EMAIL_TO=\"nope\" is not valid",
            "e-mail address",
        ),
        (&[("BRIDGE_NOTIFY_EMAIL_TO", "")], "BRIDGE_NOTIFY_EMAIL_TO is required", "separated by commas"),
        (&[("BRIDGE_NOTIFY_EMAIL_FROM", "")], "BRIDGE_NOTIFY_EMAIL_FROM is required", "sender"),
        (&[("BRIDGE_SMTP_USERNAME", "pdu")], "BRIDGE_SMTP_USERNAME is set but BRIDGE_SMTP_PASSWORD is not", "both"),
        (
            &[("BRIDGE_SMTP_PASSWORD", SMTP_PASSWORD)],
            "BRIDGE_SMTP_PASSWORD is set but BRIDGE_SMTP_USERNAME is not",
            "both",
        ),
        (
            &[("BRIDGE_SMTP_ALLOW_PLAINTEXT", "maybe")],
            "BRIDGE_SMTP_ALLOW_PLAINTEXT=\"maybe\" is not valid",
            "true or false",
        ),
        (
            &[("BRIDGE_NOTIFY_WEBHOOK_URL", "ftp://hooks.example.net/T0K3N")],
            "BRIDGE_NOTIFY_WEBHOOK_URL must start with http:// or https://",
            "value not shown",
        ),
        (
            &[("BRIDGE_NOTIFY_WEBHOOK_URL", "https://hooks.example.net/x"), ("BRIDGE_NOTIFY_WEBHOOK_SECRET", "short")],
            "BRIDGE_NOTIFY_WEBHOOK_SECRET is too short",
            "at least 16",
        ),
        (
            &[("BRIDGE_NOTIFY_WEBHOOK_SECRET", SECRET)],
            "BRIDGE_NOTIFY_WEBHOOK_SECRET is set but BRIDGE_NOTIFY_WEBHOOK_URL is not",
            "set the URL",
        ),
    ];
    for (extra, start, allowed) in cases {
        let error = with(extra).expect_err(start);
        assert!(error.starts_with(start), "{error:?} should start with {start:?}");
        assert!(error.contains(allowed), "{error:?} should say {allowed:?}");
        assert!(!error.contains(SMTP_PASSWORD) && !error.contains(SECRET) && !error.contains("T0K3N"), "{error}");
    }
    // Mail settings without a host name the variable that is set.
    let error = settings(&[("BRIDGE_NOTIFY_EMAIL_TO", "ops@example.net")]).unwrap_err();
    assert!(error.starts_with("BRIDGE_NOTIFY_EMAIL_TO is set but BRIDGE_SMTP_HOST is not"), "{error}");

    // What is accepted: defaults by TLS mode, plain text to loopback or by opt-in, empty values unset.
    let ok = with(&[]).unwrap().email.unwrap();
    assert_eq!((ok.port, ok.tls), (587, server::notifications::SmtpTls::StartTls));
    assert_eq!(with(&[("BRIDGE_SMTP_TLS", "TLS")]).unwrap().email.unwrap().port, 465);
    let plain = with(&[("BRIDGE_SMTP_TLS", "none"), ("BRIDGE_SMTP_ALLOW_PLAINTEXT", "true")]).unwrap().email.unwrap();
    assert_eq!((plain.port, plain.tls), (25, server::notifications::SmtpTls::None));
    for host in ["localhost", "127.0.0.1", "::1"] {
        let local = settings(&[("BRIDGE_SMTP_HOST", host), ("BRIDGE_SMTP_TLS", "none"), mail[1], mail[2]]).unwrap();
        assert_eq!(local.email.unwrap().tls, server::notifications::SmtpTls::None, "{host}");
    }
    let nothing = settings(&[("BRIDGE_NOTIFY_WEBHOOK_URL", "  "), ("BRIDGE_SMTP_HOST", "")]).unwrap();
    assert!(!nothing.is_enabled());
}

/// Log lines written while a guard lives, for searching.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

// The default (current-thread) runtime: the delivery task runs on this
// thread, so the thread's log subscriber sees its lines too.
#[tokio::test]
async fn no_secret_shows_in_debug_errors_or_logs() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // As in discovery.rs: a second, silent dispatcher makes tracing-core ask
    // each log line's own thread whether it is wanted, instead of keeping the
    // answer of whichever test's thread (without a subscriber) reached it first.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());

    let receiver = Receiver::start(&[(StatusCode::INTERNAL_SERVER_ERROR, "boom"); 4]).await;
    let sink = SmtpSink::start("PLAIN LOGIN", &[451, 554]).await;
    let mut vars = smtp_vars(&sink);
    vars.push(("BRIDGE_NOTIFY_WEBHOOK_URL", receiver.url()));
    vars.push(("BRIDGE_NOTIFY_WEBHOOK_SECRET", SECRET.into()));
    let retry = RetryPolicy { attempts: 2, ..fast() };
    let settings = config(&borrowed(&vars), retry);
    let shutdown = CancellationToken::new();
    let notifier = Notifier::start(settings.clone(), shutdown.clone());
    notifier.send(notification(1));
    eventually("both channels to give up", || {
        let stats = notifier.stats();
        stats.webhook.unwrap().failed == 1 && stats.email.unwrap().failed == 1
    })
    .await;
    let error = notifier.deliver_now(&notification(2)).await.unwrap_err();
    // A config error that concerns a secret.
    let short =
        self::settings(&[("BRIDGE_NOTIFY_WEBHOOK_URL", &receiver.url()), ("BRIDGE_NOTIFY_WEBHOOK_SECRET", "S3cr")])
            .unwrap_err();
    shutdown.cancel();

    // The secrets did reach the receivers (so the test would see them leak).
    assert_eq!(sink.sign_ins()[0].password, SMTP_PASSWORD);
    assert!(receiver.seen()[0].uri.contains(URL_TOKEN));

    let shown = [
        format!("{settings:?}"),
        format!("{notifier:?}"),
        format!("{error}"),
        format!("{error:?}"),
        short,
        logs.text(),
    ];
    assert!(logs.text().contains("notification not delivered"), "the failures were logged:\n{}", logs.text());
    assert!(logs.text().contains(&format!("http://{}", receiver.addr)), "the receiver's origin is logged");
    for text in &shown {
        for secret in [SECRET, URL_TOKEN, URL_QUERY, SMTP_PASSWORD, "S3cr"] {
            assert!(!text.contains(secret), "{secret} shows in:\n{text}");
        }
    }
}
