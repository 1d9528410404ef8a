//! Sign-in throttling: too many failures for one name, or from one
//! address, and further tries are refused until the oldest failures age
//! out of the window.
//!
//! Owns: the failure counts, in memory (a restart forgives, which is fine:
//! restarts are rare and slow). Keyed by the name as typed, whether or not
//! such a user exists, so a lock says nothing about who exists. The local
//! shell tool (`pdu-bridge user passwd`) never goes through here.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use tokio::time::{Duration, Instant};

/// Failures are counted over this window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failures for one name within the window before that name is locked.
pub const PER_ACCOUNT: usize = 5;
/// Failures from one address within the window before it is locked (a
/// household behind one NAT address mistypes more than one person).
pub const PER_ADDRESS: usize = 20;
/// Names and addresses remembered at most; the stalest are forgotten first.
const MAX_KEYS: usize = 10_000;

#[derive(Default)]
struct Failures {
    by_name: HashMap<String, VecDeque<Instant>>,
    by_address: HashMap<IpAddr, VecDeque<Instant>>,
}

#[derive(Default)]
pub struct Throttle {
    failures: Mutex<Failures>,
}

fn prune<K: std::hash::Hash + Eq + Clone>(map: &mut HashMap<K, VecDeque<Instant>>, now: Instant) {
    map.retain(|_, times| {
        while times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            times.pop_front();
        }
        !times.is_empty()
    });
    if map.len() > MAX_KEYS {
        let mut newest: Vec<(K, Instant)> = map.iter().map(|(k, t)| (k.clone(), *t.back().unwrap_or(&now))).collect();
        newest.sort_by_key(|(_, t)| *t);
        for (k, _) in newest.iter().take(map.len() - MAX_KEYS) {
            map.remove(k);
        }
    }
}

/// How long until a locked key may try again.
fn wait(times: Option<&VecDeque<Instant>>, limit: usize, now: Instant) -> Option<Duration> {
    let times = times?;
    if times.len() < limit {
        return None;
    }
    // The try that would be allowed again once enough failures expire.
    let oldest_that_counts = times[times.len() - limit];
    Some(WINDOW.saturating_sub(now.duration_since(oldest_that_counts)))
}

impl Throttle {
    fn key(name: &str) -> String {
        name.trim().to_lowercase()
    }

    /// `Some(wait)` if a sign-in as `name` from `from` must be refused now.
    pub fn locked(&self, name: &str, from: Option<IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        prune(&mut f.by_name, now);
        prune(&mut f.by_address, now);
        let by_name = wait(f.by_name.get(&Self::key(name)), PER_ACCOUNT, now);
        let by_address = from.and_then(|ip| wait(f.by_address.get(&ip), PER_ADDRESS, now));
        by_name.into_iter().chain(by_address).max()
    }

    pub fn failed(&self, name: &str, from: Option<IpAddr>) {
        let now = Instant::now();
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        f.by_name.entry(Self::key(name)).or_default().push_back(now);
        if let Some(ip) = from {
            f.by_address.entry(ip).or_default().push_back(now);
        }
    }

    /// A right password clears that name's failures (not the address's:
    /// one success must not reset a guesser who knows one account).
    pub fn succeeded(&self, name: &str) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        f.by_name.remove(&Self::key(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_name_locks_after_five_failures_and_unlocks_when_they_age_out() {
        let t = Throttle::default();
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        for _ in 0..PER_ACCOUNT {
            assert_eq!(t.locked("Ann", Some(ip)), None);
            t.failed("ann", Some(ip));
        }
        let wait = t.locked("ANN", None).expect("locked, whatever the case of the name");
        assert_eq!(wait, WINDOW);
        assert_eq!(t.locked("bob", Some(ip)), None, "another name from the same address is not locked yet");
        tokio::time::advance(WINDOW - Duration::from_secs(1)).await;
        assert_eq!(t.locked("ann", None), Some(Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(t.locked("ann", None), None, "expired");
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_locks_after_twenty_failures_across_names() {
        let t = Throttle::default();
        let ip: IpAddr = "127.0.0.10".parse().unwrap();
        for i in 0..PER_ADDRESS {
            assert_eq!(t.locked(&format!("user{i}"), Some(ip)), None);
            t.failed(&format!("user{i}"), Some(ip));
        }
        assert!(t.locked("fresh-name", Some(ip)).is_some());
        assert_eq!(t.locked("fresh-name", Some("127.0.0.11".parse().unwrap())), None);
        tokio::time::advance(WINDOW).await;
        assert_eq!(t.locked("fresh-name", Some(ip)), None);
    }

    #[tokio::test(start_paused = true)]
    async fn success_clears_the_names_failures() {
        let t = Throttle::default();
        for _ in 0..PER_ACCOUNT - 1 {
            t.failed("ann", None);
        }
        t.succeeded("ann");
        t.failed("ann", None);
        assert_eq!(t.locked("ann", None), None);
    }
}
