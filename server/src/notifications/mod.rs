//! Alarm notifications, the delivery half: a [`Notification`] handed to
//! [`Notifier::send`] is queued and delivered, in order, by one task to every
//! configured channel — a signed JSON webhook ([`webhook`]) and e-mail over
//! SMTP ([`smtp`]) — with retries and exponential backoff on failures that
//! may pass (connection errors, time-outs, HTTP 408/429/5xx, SMTP 4xx).
//!
//! Owns: the notification's wire shape, the channels' settings
//! ([`NotifyConfig::from_vars`]), the queue, the retry policy and the
//! per-channel counters. Not: deciding what is an alarm, when it is raised or
//! cleared, or de-duplicating (the alarm model does that and calls
//! [`Notifier::send`]).
//!
//! The one thing to know: `send` never waits and never fails. When the queue
//! is full the notification is dropped and counted (logged at most once per
//! 10 s); secrets — the webhook's signing key, the SMTP password and the
//! webhook URL's path and query, which often carry a token — are held in
//! [`Redacted`] or behind [`webhook::WebhookUrl`], whose `Debug` and
//! `Display` show only `scheme://host:port`, and no error or log line
//! carries them.

pub mod smtp;
pub mod webhook;

use serde::Serialize;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use smtp::{EmailConfig, SmtpTls};
pub use webhook::{WebhookConfig, WebhookUrl};

/// How many notifications may wait for delivery. An alarm storm larger than
/// this while a channel is retrying is dropped and counted, never queued
/// without bound.
pub const QUEUE_CAPACITY: usize = 256;

/// The shortest gap between two "queue full" log lines.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// One thing to tell people about.
#[derive(Clone, Debug, Serialize)]
pub struct Notification {
    /// None for the bridge's own alarms.
    pub device_id: Option<String>,
    /// Stable key, e.g. "bank_overload", "pdu_unreachable".
    pub alarm: String,
    pub severity: Severity,
    pub state: NotificationState,
    /// One line, e.g. "rack-a: bank 1 overload".
    pub title: String,
    /// A sentence or two.
    pub message: String,
    /// Unix milliseconds.
    pub ts: i64,
    /// The alarm's id, for de-duplication by receivers.
    pub id: u64,
}

/// How bad, as the alarm model says (`info`, `warning`, `critical`).
pub use app::alarms::Severity;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationState {
    Raised,
    Cleared,
    Acknowledged,
    Test,
}

impl fmt::Display for NotificationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotificationState::Raised => "raised",
            NotificationState::Cleared => "cleared",
            NotificationState::Acknowledged => "acknowledged",
            NotificationState::Test => "test",
        })
    }
}

/// A value that must never reach a log line, an error or `Debug` output.
/// The twin of `config::Secret`, which only `config` can build.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    pub fn new(value: impl Into<String>) -> Self {
        Redacted(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Redacted(***)")
    }
}

/// When to try again and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait after the first failed attempt; it doubles after each.
    pub first_backoff: Duration,
    /// The longest one attempt may take, connecting included.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 1 + 2 + 4 + 8 s apart, 10 s each: a receiver that is
    /// restarting gets about 15 s to come back, and a dead one holds the
    /// queue at most about 65 s.
    fn default() -> Self {
        RetryPolicy { attempts: 5, first_backoff: Duration::from_secs(1), attempt_timeout: Duration::from_secs(10) }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `failed` (1-based).
    pub fn backoff(&self, failed: u32) -> Duration {
        self.first_backoff.saturating_mul(1u32 << failed.saturating_sub(1).min(16))
    }
}

/// The channels, as validated settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifyConfig {
    pub webhook: Option<WebhookConfig>,
    pub email: Option<EmailConfig>,
    /// Not a setting: [`RetryPolicy::default`] from `from_vars`; tests shorten it.
    pub retry: RetryPolicy,
}

impl NotifyConfig {
    /// From environment-like lookups (`BRIDGE_NOTIFY_WEBHOOK_URL`,
    /// `BRIDGE_NOTIFY_WEBHOOK_SECRET`, `BRIDGE_SMTP_*`,
    /// `BRIDGE_NOTIFY_EMAIL_FROM`, `BRIDGE_NOTIFY_EMAIL_TO`); an empty value
    /// counts as unset. Errors name the variable and what is allowed, and
    /// never repeat a secret.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<NotifyConfig, String> {
        let get = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        Ok(NotifyConfig {
            webhook: WebhookConfig::from_vars(&get)?,
            email: EmailConfig::from_vars(&get)?,
            retry: RetryPolicy::default(),
        })
    }

    /// Is any channel configured?
    pub fn is_enabled(&self) -> bool {
        self.webhook.is_some() || self.email.is_some()
    }
}

/// Where a notification goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Webhook,
    Email,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Webhook => "webhook",
            Channel::Email => "e-mail",
        })
    }
}

/// Why one attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// No connection, or it broke: refused, unreachable, name not found,
    /// closed before the answer. Retried.
    Network(String),
    /// No answer within the attempt's time limit. Retried.
    Timeout(Duration),
    /// The receiver answered with this HTTP status (and the start of its
    /// body). Retried for 408, 429 and 5xx.
    Http { status: u16, body: String },
    /// The mail server's negative reply. Retried for 4xx (transient).
    Smtp { code: u16, text: String },
    /// The TLS handshake failed (a certificate that does not verify will
    /// not start to within a minute). Not retried.
    Tls(String),
    /// Anything else: a malformed answer, a message that cannot be built.
    /// Not retried.
    Protocol(String),
    /// Shutdown began first.
    Cancelled,
}

impl Cause {
    pub fn retryable(&self) -> bool {
        match self {
            Cause::Network(_) | Cause::Timeout(_) => true,
            Cause::Http { status, .. } => matches!(status, 408 | 429 | 500..=599),
            Cause::Smtp { code, .. } => (400..500).contains(code),
            Cause::Tls(_) | Cause::Protocol(_) | Cause::Cancelled => false,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Network(e) => write!(f, "network: {e}"),
            Cause::Timeout(limit) => write!(f, "no answer within {limit:?}"),
            Cause::Http { status, body } if body.is_empty() => write!(f, "HTTP {status}"),
            Cause::Http { status, body } => write!(f, "HTTP {status}: {body}"),
            Cause::Smtp { code, text } => write!(f, "SMTP {code}: {text}"),
            Cause::Tls(e) => write!(f, "TLS: {e}"),
            Cause::Protocol(e) => write!(f, "{e}"),
            Cause::Cancelled => f.write_str("cancelled: the bridge is shutting down"),
        }
    }
}

/// One channel that did not take a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelFailure {
    pub channel: Channel,
    /// `scheme://host:port` of the receiver: nothing secret.
    pub target: String,
    /// How many attempts were made.
    pub attempts: u32,
    /// Why the last one failed.
    pub cause: Cause,
}

impl fmt::Display for ChannelFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.attempts == 1 { "" } else { "s" };
        write!(f, "{} to {}: {} (after {} attempt{plural})", self.channel, self.target, self.cause, self.attempts)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("no notification channel is configured (set BRIDGE_NOTIFY_WEBHOOK_URL or BRIDGE_SMTP_HOST)")]
    NotConfigured,
    /// Every channel that failed; the others took the notification.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Failed(Vec<ChannelFailure>),
}

/// Counters of one channel since start; [`Notifier::deliver_now`]'s
/// deliveries count too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChannelStats {
    /// Delivered (accepted by the receiver).
    pub sent: u64,
    /// Given up on after the retries, or refused for good.
    pub failed: u64,
    /// Never tried to the end: the queue was full, or the bridge stopped
    /// first. A notification dropped at the queue counts on every channel.
    pub dropped: u64,
}

/// Counters per configured channel (None: not configured).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryStats {
    pub webhook: Option<ChannelStats>,
    pub email: Option<ChannelStats>,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

impl Counters {
    fn read(&self) -> ChannelStats {
        ChannelStats {
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    fn count(&self, outcome: &Result<u32, ChannelFailure>) {
        let counter = match outcome {
            Ok(_) => &self.sent,
            Err(ChannelFailure { cause: Cause::Cancelled, .. }) => &self.dropped,
            Err(_) => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The configured channels and how to retry them; shared by the delivery
/// task and [`Notifier::deliver_now`].
struct Channels {
    webhook: Option<(webhook::Webhook, Counters)>,
    email: Option<(smtp::Mailer, Counters)>,
    retry: RetryPolicy,
    /// Cancels waits and attempts in progress when the bridge stops.
    shutdown: CancellationToken,
}

impl Channels {
    /// Every channel at once (each in its own order), with retries.
    async fn deliver(&self, n: &Notification) -> Vec<ChannelFailure> {
        let webhook = async {
            let (hook, counters) = self.webhook.as_ref()?;
            let body = match serde_json::to_vec(n) {
                Ok(body) => bytes::Bytes::from(body),
                Err(e) => unreachable!("a Notification always serialises: {e}"),
            };
            let outcome = self.attempts(Channel::Webhook, hook.target(), || hook.post(body.clone()));
            Some(finish(outcome.await, counters, n))
        };
        let email = async {
            let (mailer, counters) = self.email.as_ref()?;
            let outcome = self.attempts(Channel::Email, mailer.target(), || mailer.send(n));
            Some(finish(outcome.await, counters, n))
        };
        let (webhook, email) = futures::join!(webhook, email);
        [webhook, email].into_iter().flatten().filter_map(Result::err).collect()
    }

    /// One channel's attempts under the retry policy; the number of attempts
    /// it took, or why it gave up.
    async fn attempts<F, Fut>(&self, channel: Channel, target: &str, attempt: F) -> Result<u32, ChannelFailure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), Cause>>,
    {
        with_retries(&self.retry, &self.shutdown, attempt).await.map_err(|(attempts, cause)| ChannelFailure {
            channel,
            target: target.to_owned(),
            attempts,
            cause,
        })
    }
}

/// Count and log one channel's outcome.
fn finish(outcome: Result<u32, ChannelFailure>, counters: &Counters, n: &Notification) -> Result<u32, ChannelFailure> {
    counters.count(&outcome);
    match &outcome {
        Ok(attempts) => tracing::debug!(alarm = %n.alarm, id = n.id, attempts, "notification delivered"),
        Err(failure) if failure.cause == Cause::Cancelled => {
            tracing::info!(alarm = %n.alarm, id = n.id, "notification not delivered: {failure}")
        }
        Err(failure) => tracing::warn!(alarm = %n.alarm, id = n.id, "notification not delivered: {failure}"),
    }
    outcome
}

/// Run `attempt` until it succeeds, fails for good, runs out of attempts or
/// `shutdown` fires; each attempt is bounded by `policy.attempt_timeout`.
/// Ok: how many attempts it took. Err: how many were made, and the last cause.
pub(crate) async fn with_retries<F, Fut>(
    policy: &RetryPolicy,
    shutdown: &CancellationToken,
    mut attempt: F,
) -> Result<u32, (u32, Cause)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Cause>>,
{
    let mut made = 0;
    loop {
        made += 1;
        let result = tokio::select! {
            biased;
            _ = shutdown.cancelled() => Err(Cause::Cancelled),
            r = tokio::time::timeout(policy.attempt_timeout, attempt()) => {
                r.unwrap_or(Err(Cause::Timeout(policy.attempt_timeout)))
            }
        };
        match result {
            Ok(()) => return Ok(made),
            Err(cause) if cause.retryable() && made < policy.attempts.max(1) => {
                let wait = policy.backoff(made);
                tracing::debug!(attempt = made, "notification attempt failed ({cause}); trying again in {wait:?}");
                tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => return Err((made, Cause::Cancelled)),
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            Err(cause) => return Err((made, cause)),
        }
    }
}

/// The handle the alarm model holds. Cheap to clone; `send` never blocks
/// and never fails.
#[derive(Clone)]
pub struct Notifier {
    /// None: nothing configured, every call is a no-op.
    inner: Option<Arc<Inner>>,
}

struct Inner {
    /// To the one delivery task; bounded, never awaited.
    queue: mpsc::Sender<Notification>,
    channels: Arc<Channels>,
    /// Drops not yet logged, and when the last "queue full" line was
    /// written: one line per [`DROP_LOG_INTERVAL`] however hard it storms.
    drops: Mutex<(u64, Option<Instant>)>,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(inner) = &self.inner else { return f.write_str("Notifier(disabled)") };
        let channels = &inner.channels;
        f.debug_struct("Notifier")
            .field("webhook", &channels.webhook.as_ref().map(|(w, _)| w.target()))
            .field("email", &channels.email.as_ref().map(|(m, _)| m.target()))
            .finish()
    }
}

impl Notifier {
    /// Spawn the delivery task (on the current Tokio runtime); it stops when
    /// `shutdown` fires, abandoning what is queued and the retries pending.
    /// With nothing configured this is [`Notifier::disabled`].
    pub fn start(config: NotifyConfig, shutdown: CancellationToken) -> Notifier {
        let (notifier, receiver) = Notifier::unstarted(config, shutdown, QUEUE_CAPACITY);
        if let (Some(inner), Some(receiver)) = (&notifier.inner, receiver) {
            tokio::spawn(run(receiver, inner.channels.clone()));
        }
        notifier
    }

    /// When nothing is configured: `send` is a no-op.
    pub fn disabled() -> Notifier {
        Notifier { inner: None }
    }

    /// The handle and its queue's receiving end, without the task.
    fn unstarted(
        config: NotifyConfig,
        shutdown: CancellationToken,
        capacity: usize,
    ) -> (Notifier, Option<mpsc::Receiver<Notification>>) {
        if !config.is_enabled() {
            return (Notifier::disabled(), None);
        }
        let channels = Arc::new(Channels {
            webhook: config.webhook.map(|c| (webhook::Webhook::new(c), Counters::default())),
            email: config.email.map(|c| (smtp::Mailer::new(c, config.retry.attempt_timeout), Counters::default())),
            retry: config.retry,
            shutdown,
        });
        for target in
            channels.webhook.iter().map(|(w, _)| w.target()).chain(channels.email.iter().map(|(m, _)| m.target()))
        {
            tracing::info!("alarm notifications go to {target}");
        }
        let (queue, receiver) = mpsc::channel(capacity);
        let inner = Inner { queue, channels, drops: Mutex::new((0, None)) };
        (Notifier { inner: Some(Arc::new(inner)) }, Some(receiver))
    }

    /// Is any channel configured?
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Queue `n` for delivery. Never waits: when the queue is full (or the
    /// bridge is stopping) it is dropped and counted.
    pub fn send(&self, n: Notification) {
        let Some(inner) = &self.inner else { return };
        match inner.queue.try_send(n) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(n)) => inner.dropped(&n),
            Err(mpsc::error::TrySendError::Closed(n)) => {
                inner.count_drop();
                tracing::debug!(alarm = %n.alarm, id = n.id, "notification dropped: the bridge is stopping");
            }
        }
    }

    /// Deliver one now to every configured channel, with the retries, beside
    /// the queue (for a "send a test notification" button). The error names
    /// each channel that failed and why.
    pub async fn deliver_now(&self, n: &Notification) -> Result<(), DeliveryError> {
        let Some(inner) = &self.inner else { return Err(DeliveryError::NotConfigured) };
        let failures = inner.channels.deliver(n).await;
        if failures.is_empty() {
            Ok(())
        } else {
            Err(DeliveryError::Failed(failures))
        }
    }

    /// Sent, failed and dropped per configured channel, since start.
    pub fn stats(&self) -> DeliveryStats {
        let Some(inner) = &self.inner else { return DeliveryStats::default() };
        DeliveryStats {
            webhook: inner.channels.webhook.as_ref().map(|(_, c)| c.read()),
            email: inner.channels.email.as_ref().map(|(_, c)| c.read()),
        }
    }
}

impl Inner {
    fn count_drop(&self) {
        let channels = &self.channels;
        for counters in channels.webhook.iter().map(|(_, c)| c).chain(channels.email.iter().map(|(_, c)| c)) {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A notification the full queue could not take: counted, and logged
    /// unless a line was written in the last [`DROP_LOG_INTERVAL`].
    fn dropped(&self, n: &Notification) {
        self.count_drop();
        let now = Instant::now();
        let mut drops = self.drops.lock().unwrap_or_else(|e| e.into_inner());
        drops.0 += 1;
        if drops.1.is_none_or(|last| now.duration_since(last) >= DROP_LOG_INTERVAL) {
            tracing::warn!(
                alarm = %n.alarm,
                id = n.id,
                "notification queue full ({QUEUE_CAPACITY} waiting): {} notification(s) dropped since the last report",
                drops.0
            );
            *drops = (0, Some(now));
        }
    }
}

/// The delivery task: one notification at a time, in order, until shutdown.
async fn run(mut receiver: mpsc::Receiver<Notification>, channels: Arc<Channels>) {
    loop {
        let n = tokio::select! {
            biased;
            _ = channels.shutdown.cancelled() => break,
            n = receiver.recv() => match n {
                Some(n) => n,
                None => break,
            },
        };
        channels.deliver(&n).await;
    }
    receiver.close();
    let mut left = 0;
    while receiver.try_recv().is_ok() {
        left += 1;
    }
    for counters in channels.webhook.iter().map(|(_, c)| c).chain(channels.email.iter().map(|(_, c)| c)) {
        counters.dropped.fetch_add(left, Ordering::Relaxed);
    }
    if left > 0 {
        tracing::info!("{left} notification(s) not delivered: the bridge is stopping");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn notification(id: u64) -> Notification {
        Notification {
            device_id: Some("rack-a".into()),
            alarm: "bank_overload".into(),
            severity: Severity::Critical,
            state: NotificationState::Raised,
            title: "rack-a: bank 1 overload".into(),
            message: "Bank 1 draws 16.2 A, over its 16 A limit.".into(),
            ts: 1_764_662_400_000,
            id,
        }
    }

    #[test]
    fn notification_serialises_with_lowercase_enums() {
        let json = serde_json::to_value(notification(7)).unwrap();
        assert_eq!(json["severity"], "critical");
        assert_eq!(json["state"], "raised");
        assert_eq!(json["device_id"], "rack-a");
        assert_eq!(json["id"], 7);
        let own = Notification { device_id: None, state: NotificationState::Test, ..notification(1) };
        let json = serde_json::to_value(own).unwrap();
        assert_eq!(json["device_id"], serde_json::Value::Null);
        assert_eq!(json["state"], "test");
    }

    #[test]
    fn backoff_doubles_from_one_second() {
        let policy = RetryPolicy::default();
        let waits: Vec<_> = (1..5).map(|n| policy.backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8]);
    }

    #[test]
    fn which_failures_are_retried() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(Cause::Http { status, body: String::new() }.retryable(), "{status}");
        }
        for status in [400, 401, 403, 404, 410, 413, 422] {
            assert!(!Cause::Http { status, body: String::new() }.retryable(), "{status}");
        }
        assert!(Cause::Smtp { code: 451, text: String::new() }.retryable());
        assert!(!Cause::Smtp { code: 550, text: String::new() }.retryable());
        assert!(Cause::Network("refused".into()).retryable());
        assert!(Cause::Timeout(Duration::from_secs(10)).retryable());
        assert!(!Cause::Tls("unknown issuer".into()).retryable());
        assert!(!Cause::Cancelled.retryable());
    }

    /// An attempt that fails with `causes` in turn, then succeeds; counts calls.
    fn scripted(causes: Vec<Cause>, calls: &AtomicU32) -> impl FnMut() -> std::future::Ready<Result<(), Cause>> + '_ {
        move || {
            let n = calls.fetch_add(1, Ordering::SeqCst) as usize;
            std::future::ready(causes.get(n).cloned().map_or(Ok(()), Err))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_wait_one_two_four_eight_seconds_then_give_up() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let busy = Cause::Http { status: 503, body: String::new() };
        let result =
            with_retries(&RetryPolicy::default(), &CancellationToken::new(), scripted(vec![busy.clone(); 9], &calls))
                .await;
        assert_eq!(result, Err((5, busy)));
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        assert_eq!(start.elapsed(), Duration::from_secs(1 + 2 + 4 + 8));
    }

    #[tokio::test(start_paused = true)]
    async fn a_passing_failure_is_retried_until_it_passes() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let causes = vec![Cause::Network("refused".into()), Cause::Timeout(Duration::from_secs(10))];
        let result = with_retries(&RetryPolicy::default(), &CancellationToken::new(), scripted(causes, &calls)).await;
        assert_eq!(result, Ok(3));
        assert_eq!(start.elapsed(), Duration::from_secs(1 + 2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_failure_is_not_retried() {
        let calls = AtomicU32::new(0);
        let refused = Cause::Http { status: 400, body: "bad".into() };
        let result =
            with_retries(&RetryPolicy::default(), &CancellationToken::new(), scripted(vec![refused.clone()], &calls))
                .await;
        assert_eq!(result, Err((1, refused)));
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_that_hangs_times_out_and_is_retried() {
        let start = Instant::now();
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy { attempts: 2, ..RetryPolicy::default() };
        let result = with_retries(&policy, &CancellationToken::new(), || {
            calls.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<Result<(), Cause>>()
        })
        .await;
        assert_eq!(result, Err((2, Cause::Timeout(Duration::from_secs(10)))));
        assert_eq!(start.elapsed(), Duration::from_secs(10 + 1 + 10));
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_cancels_a_pending_retry_at_once() {
        let shutdown = CancellationToken::new();
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let policy = RetryPolicy::default();
        let retrying = with_retries(&policy, &shutdown, scripted(vec![Cause::Network("down".into()); 9], &calls));
        let stop = async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            shutdown.cancel();
        };
        let (result, ()) = futures::join!(retrying, stop);
        assert_eq!(result, Err((2, Cause::Cancelled)));
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
    }

    fn unreachable_webhook() -> NotifyConfig {
        let vars = |name: &str| (name == "BRIDGE_NOTIFY_WEBHOOK_URL").then(|| "http://127.0.0.1:9/hook".to_owned());
        NotifyConfig::from_vars(vars).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_drops_counts_and_logs_once_per_ten_seconds() {
        let (notifier, receiver) = Notifier::unstarted(unreachable_webhook(), CancellationToken::new(), 2);
        let _receiver = receiver.unwrap();
        for id in 0..5 {
            notifier.send(notification(id));
        }
        let stats = notifier.stats().webhook.unwrap();
        assert_eq!(stats, ChannelStats { sent: 0, failed: 0, dropped: 3 });
        let inner = notifier.inner.as_ref().unwrap();
        // The first drop was logged; the two after it wait for the next line.
        assert_eq!(inner.drops.lock().unwrap().0, 2);
        tokio::time::advance(DROP_LOG_INTERVAL).await;
        notifier.send(notification(9));
        assert_eq!(inner.drops.lock().unwrap().0, 0);
        assert_eq!(notifier.stats().webhook.unwrap().dropped, 4);
    }

    #[tokio::test]
    async fn a_disabled_notifier_does_nothing() {
        let notifier = Notifier::start(NotifyConfig::default(), CancellationToken::new());
        assert!(!notifier.is_enabled());
        notifier.send(notification(1));
        assert_eq!(notifier.stats(), DeliveryStats::default());
        assert_eq!(notifier.deliver_now(&notification(1)).await, Err(DeliveryError::NotConfigured));
        assert_eq!(format!("{notifier:?}"), "Notifier(disabled)");
    }

    #[tokio::test]
    async fn queued_notifications_are_dropped_and_counted_at_shutdown() {
        let shutdown = CancellationToken::new();
        let (notifier, receiver) = Notifier::unstarted(unreachable_webhook(), shutdown.clone(), 8);
        for id in 0..3 {
            notifier.send(notification(id));
        }
        shutdown.cancel();
        run(receiver.unwrap(), notifier.inner.as_ref().unwrap().channels.clone()).await;
        assert_eq!(notifier.stats().webhook.unwrap(), ChannelStats { sent: 0, failed: 0, dropped: 3 });
        notifier.send(notification(4));
        assert_eq!(notifier.stats().webhook.unwrap().dropped, 4);
    }
}
