//! What is wrong with a PDU, worst first, in words: the status strip at the
//! top of the dashboard reads this, so a glance says whether power is fine.
//!
//! Owns: the order of conditions and their words. Pure (a snapshot, the
//! recent events and the time in; alarms out), so it is tested natively and
//! the server renders exactly what the browser hydrates. Source status comes
//! from the PDU's own verdict (`voltage_status`, measured against the range
//! set on the PDU), never from a threshold of ours.

use crate::model::{Connection, Event, LoadState, PduSnapshot, RangeStatus, Redundancy, Source};

/// How bad a condition is; the strip is coloured by the worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Power or control is lost, or the values cannot be trusted.
    Critical,
    /// One more fault away from trouble.
    Warning,
    /// Worth knowing: a transfer happened, the load is not on the preferred source.
    Notice,
    Ok,
}

impl Severity {
    pub fn class(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Ok => "ok",
        }
    }

    /// A symbol beside the colour, so colour is never the only signal.
    pub fn symbol(self) -> &'static str {
        match self {
            Severity::Critical => "✖",
            Severity::Warning => "▲",
            Severity::Notice => "●",
            Severity::Ok => "✔",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Severity::Critical => "Alarm",
            Severity::Warning => "Warning",
            Severity::Notice => "Note",
            Severity::Ok => "OK",
        }
    }
}

/// One condition of a PDU.
#[derive(Clone, Debug, PartialEq)]
pub struct Alarm {
    pub severity: Severity,
    /// Stable name of the condition (`source-a`, `unreachable` …): test ids,
    /// and the key under which the page remembers when it was first seen.
    pub key: String,
    pub title: String,
    pub detail: String,
    /// When it began (unix ms), when known.
    pub since_ms: Option<u64>,
}

/// How long after an ATS transfer the strip still mentions it.
pub const TRANSFER_NOTICE_MS: u64 = 15 * 60 * 1000;

/// The newest event of `kind` for this PDU whose details contain `needle`.
fn began(events: &[Event], s: &PduSnapshot, kind: &str, needle: &str) -> Option<u64> {
    events
        .iter()
        .filter(|e| e.device_id == s.device_id && e.kind == kind && e.details.contains(needle))
        .map(|e| (e.ts * 1000.0) as u64)
        .max()
}

fn volts(v: Option<f64>) -> String {
    crate::format::reading(v, 1, "V")
}

/// Every condition of `s`, worst first; a single `Ok` when all is well.
pub fn alarms(s: &PduSnapshot, events: &[Event], now_ms: u64) -> Vec<Alarm> {
    let mut out = Vec::new();
    let mut push = |severity, key: &str, title: String, detail: String, since_ms| {
        out.push(Alarm { severity, key: key.to_owned(), title, detail, since_ms })
    };
    match &s.connection {
        Connection::Unreachable { since_ms, reason } => push(
            Severity::Critical,
            "unreachable",
            "PDU unreachable".into(),
            format!("It stopped answering ({reason}). The values shown are the last known; switching is off."),
            Some(*since_ms),
        ),
        Connection::Stale { since_ms, reason } => push(
            Severity::Warning,
            "stale",
            "Readings delayed".into(),
            format!("The last poll failed ({reason}); the values shown may be old."),
            Some(*since_ms),
        ),
        Connection::Online => {}
    }
    if let Some(ats) = &s.ats {
        if ats.selected.is_none() {
            push(
                Severity::Critical,
                "no-source",
                "No source feeds the load".into(),
                "The transfer switch reports no usable input.".into(),
                began(events, s, "ats_transfer", "to none"),
            );
        }
        for source in Source::BOTH {
            let Some(r) = ats.source(source) else { continue };
            let letter = source.letter();
            let dead = r.voltage.is_some_and(|v| v < 1.0);
            let status = if dead { Some(RangeStatus::Under) } else { r.voltage_status };
            let what = match status {
                Some(RangeStatus::Normal) | None => continue,
                Some(RangeStatus::Under) if dead => format!("Source {letter} lost"),
                Some(RangeStatus::Under) => format!("Source {letter} below its range"),
                Some(RangeStatus::Over) => format!("Source {letter} above its range"),
            };
            let feeding = ats.selected == Some(source);
            let detail = format!(
                "Source {letter} reads {}{}",
                volts(r.voltage),
                if feeding { "; it still feeds the load." } else { ", outside the range set on the PDU." }
            );
            push(
                if feeding { Severity::Critical } else { Severity::Warning },
                &format!("source-{}", letter.to_ascii_lowercase()),
                what,
                detail,
                began(events, s, "source_lost", &format!("source {letter}")),
            );
        }
        if ats.redundancy == Some(Redundancy::Lost) {
            let only = ats.selected.map(|s| format!("Only source {} can feed the load.", s.letter()));
            push(
                Severity::Warning,
                "redundancy",
                "Redundancy lost".into(),
                only.unwrap_or_else(|| "Only one input can feed the load.".into()),
                began(events, s, "redundancy_lost", ""),
            );
        }
    }
    for bank in &s.banks {
        let (severity, word) = match bank.load_state {
            Some(LoadState::Overload) => (Severity::Critical, "overloaded"),
            Some(LoadState::NearOverload) => (Severity::Warning, "near overload"),
            _ => continue,
        };
        let of =
            bank.max_load_amps.map(|m| format!(" of {}", crate::format::reading(Some(m), 0, "A"))).unwrap_or_default();
        push(
            severity,
            &format!("bank-{}", bank.number),
            format!("Bank {} {word}", bank.number),
            format!("It carries {}{of}.", crate::format::reading(bank.current, 1, "A")),
            None,
        );
    }
    if let Some(ats) = &s.ats {
        let transfer = events
            .iter()
            .filter(|e| e.device_id == s.device_id && e.kind == "ats_transfer")
            .max_by(|a, b| a.ts.total_cmp(&b.ts))
            .filter(|e| now_ms.saturating_sub((e.ts * 1000.0) as u64) < TRANSFER_NOTICE_MS);
        if let Some(e) = transfer {
            push(
                Severity::Notice,
                "transfer",
                match ats.selected {
                    Some(src) => format!("Transferred to source {}", src.letter()),
                    None => "Transfer".to_owned(),
                },
                format!("The transfer switch moved: {}.", e.details),
                Some((e.ts * 1000.0) as u64),
            );
        }
        if let (Some(on), Some(preferred)) = (ats.selected, ats.preferred) {
            if on != preferred {
                push(
                    Severity::Notice,
                    "not-preferred",
                    format!("Load on source {}", on.letter()),
                    format!("Source {} is preferred.", preferred.letter()),
                    None,
                );
            }
        }
    }
    out.sort_by_key(|a| a.severity);
    if out.is_empty() {
        let feeding =
            s.ats.as_ref().and_then(|a| a.selected.map(|src| format!("Load on source {}", src.letter()))).map(|t| {
                let redundant = s.ats.as_ref().and_then(|a| a.redundancy) == Some(Redundancy::Ok);
                if redundant {
                    format!("{t}, both inputs usable")
                } else {
                    t
                }
            });
        out.push(Alarm {
            severity: Severity::Ok,
            key: "ok".into(),
            title: "All normal".into(),
            detail: feeding
                .map(|f| format!("{f}; banks within their limits."))
                .unwrap_or_else(|| "Banks within their limits.".into()),
            since_ms: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Ats, Bank, DeviceId, Identity, Input, SourceReading, Totals};

    fn snapshot() -> PduSnapshot {
        let source = |source, voltage| SourceReading {
            source,
            voltage: Some(voltage),
            frequency: Some(60.0),
            voltage_status: Some(RangeStatus::Normal),
            frequency_status: Some(RangeStatus::Normal),
        };
        PduSnapshot {
            sensors: Default::default(),
            device_id: DeviceId::parse("pdu").unwrap(),
            label: "PDU".into(),
            simulated: false,
            connection: Connection::Online,
            ts_ms: 1_000_000,
            tick_ms: None,
            stale: vec![],
            poll_interval_ms: 1000,
            identity: Identity::default(),
            uptime_s: None,
            input: Input::default(),
            ats: Some(Ats {
                selected: Some(Source::A),
                preferred: Some(Source::A),
                redundancy: Some(Redundancy::Ok),
                sources: vec![source(Source::A, 120.0), source(Source::B, 119.0)],
            }),
            banks: vec![Bank {
                number: 1,
                voltage: Some(120.0),
                current: Some(4.0),
                power: Some(400.0),
                apparent_power: None,
                power_factor: None,
                load_state: Some(LoadState::Normal),
                energy_kwh: None,
                max_load_amps: Some(16.0),
            }],
            outlets: vec![],
            totals: Totals::default(),
        }
    }

    #[test]
    fn a_healthy_pdu_reads_all_normal() {
        let a = alarms(&snapshot(), &[], 1_000_000);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].severity, Severity::Ok);
        assert!(a[0].detail.contains("Load on source A, both inputs usable"), "{}", a[0].detail);
    }

    #[test]
    fn a_brownout_below_the_source_range_is_named_with_its_voltage_and_start() {
        let mut s = snapshot();
        let ats = s.ats.as_mut().unwrap();
        ats.sources[0].voltage = Some(100.0);
        ats.sources[0].voltage_status = Some(RangeStatus::Under);
        ats.selected = Some(Source::B);
        ats.redundancy = Some(Redundancy::Lost);
        let lost = Event::new(990.0, s.device_id.clone(), "source_lost", "source A is out of range");
        let moved = Event::new(990.5, s.device_id.clone(), "ats_transfer", "load moved from source A to source B");
        let a = alarms(&s, &[lost, moved], 1_000_000);
        let keys: Vec<&str> = a.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["source-a", "redundancy", "transfer", "not-preferred"]);
        assert_eq!(a[0].title, "Source A below its range");
        assert!(a[0].detail.contains("100.0 V"), "{}", a[0].detail);
        assert_eq!(a[0].since_ms, Some(990_000));
        assert_eq!(a[2].title, "Transferred to source B");
    }

    #[test]
    fn a_dead_source_is_lost_even_if_the_pdu_says_normal() {
        let mut s = snapshot();
        s.ats.as_mut().unwrap().sources[1].voltage = Some(0.0);
        let a = alarms(&s, &[], 1_000_000);
        assert_eq!(a[0].title, "Source B lost");
        assert_eq!(a[0].severity, Severity::Warning);
    }

    #[test]
    fn unreachable_comes_first_and_old_transfers_are_forgotten() {
        let mut s = snapshot();
        s.connection = Connection::Unreachable { since_ms: 5, reason: "timeout".into() };
        s.banks[0].load_state = Some(LoadState::Overload);
        let old = Event::new(1.0, s.device_id.clone(), "ats_transfer", "load moved");
        let a = alarms(&s, &[old], 10_000_000);
        let keys: Vec<&str> = a.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["unreachable", "bank-1"]);
    }
}
