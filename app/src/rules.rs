//! Automation rules as users write them (`rules.json`, the Python bridge's
//! format: existing files load unchanged) and their validation. Shared by
//! the server and the browser's rule editor, so "validated as you type" and
//! "refused by the server" are the same code.
//!
//! Owns: the format and what makes a rule valid. Does not own: evaluation
//! (server `rules`).

use serde::{Deserialize, Serialize};
use std::fmt;

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    VoltageBelow,
    VoltageAbove,
    AtsSourceIs,
    AtsPreferredLost,
    RedundancyLost,
    LoadAbove,
    TimeAfter,
    TimeBefore,
    TimeBetween,
    /// The environment probe's temperature is above `threshold` °C.
    TemperatureAbove,
    /// Its humidity is above `threshold` %.
    HumidityAbove,
    /// Its contact number `threshold` is open.
    ContactOpen,
    /// Power supply `threshold` (0: any) has failed.
    PsuFailed,
}

impl Condition {
    /// Conditions whose threshold is a number the user types.
    pub fn is_level(self) -> bool {
        self.is_voltage()
            || matches!(
                self,
                Condition::LoadAbove
                    | Condition::TemperatureAbove
                    | Condition::HumidityAbove
                    | Condition::ContactOpen
                    | Condition::PsuFailed
            )
    }

    pub fn is_voltage(self) -> bool {
        matches!(self, Condition::VoltageBelow | Condition::VoltageAbove)
    }

    pub fn is_time(self) -> bool {
        matches!(self, Condition::TimeAfter | Condition::TimeBefore | Condition::TimeBetween)
    }
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    On,
    Off,
    Reboot,
    /// Switch nothing: raise an alarm (kind `rule`) while the condition
    /// holds, and clear it when the condition has cleared. A notify rule has
    /// no outlets, and its `restore` is ignored: the alarm always clears.
    Notify,
}

impl RuleAction {
    /// Whether the action switches outlets (every one but `notify`).
    pub fn switches(self) -> bool {
        self != RuleAction::Notify
    }
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleType {
    #[default]
    Continuous,
    Oneshot,
}

/// A number, or text such as `"22:00"` or `"22:00-06:30"`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Threshold {
    Number(f64),
    Text(String),
}

/// One outlet or several (none: a `notify` rule).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Outlets {
    One(u32),
    Many(Vec<u32>),
}

impl Default for Outlets {
    fn default() -> Self {
        Outlets::Many(Vec::new())
    }
}

impl Outlets {
    pub fn list(&self) -> Vec<u32> {
        match self {
            Outlets::One(n) => vec![*n],
            Outlets::Many(list) => list.clone(),
        }
    }
}

fn yes() -> bool {
    true
}

fn default_delay() -> f64 {
    5.0
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    pub condition: Condition,
    /// 1 = source A, 2 = source B, 0 = the PDU's input; for `load_above`
    /// the bank (0 = the whole PDU).
    #[serde(default)]
    pub input: u32,
    pub threshold: Threshold,
    /// The outlets an `on`, `off` or `reboot` rule switches (at least one);
    /// empty or absent for a `notify` rule, which switches nothing.
    #[serde(default)]
    pub outlet: Outlets,
    pub action: RuleAction,
    #[serde(default = "yes")]
    pub restore: bool,
    #[serde(default = "default_delay")]
    pub delay: f64,
    #[serde(default)]
    pub restore_delay: f64,
    /// Volts or amps; 1.0 for voltage and 0.5 for load when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hysteresis: Option<f64>,
    /// 0 = Monday … 6 = Sunday; absent = every day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_of_week: Option<Vec<u8>>,
    #[serde(default)]
    pub schedule_type: ScheduleType,
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// A rule with its live state, as the API and the editor show it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleStatus {
    #[serde(flatten)]
    pub rule: Rule,
    /// `armed`, `pending`, `fired` or `disabled`.
    pub state: String,
    /// Seconds until a pending rule fires.
    pub pending_s: Option<f64>,
    pub run_count: u64,
    /// Unix seconds of the last time it fired.
    pub last_run: Option<f64>,
}

/// A time of day in minutes after midnight.
pub type Minute = u16;

/// What is wrong with a rule, naming the field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError { field: field.to_owned(), message: message.into() }
}

/// `"HH:MM"` → minutes after midnight.
pub fn parse_hhmm(text: &str) -> Option<Minute> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && text.trim().len() <= 5).then_some(h * 60 + m)
}

/// What a rule name may be, in the words the editor and the API show.
pub const NAME_RULE: &str = "1 to 64 characters from letters A-Z and a-z, digits, spaces, '-', '_' and '.'; \
     no space at the start or end, and not only dots";

/// Whether `name` may name a rule: [`NAME_RULE`]. Names go into URL paths
/// (`/api/rules/Night%20shed%202`), form redirects and MQTT payloads, never
/// into MQTT topics; "." and ".." are refused because clients resolve them
/// as path segments.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'))
        && !name.starts_with(' ')
        && !name.ends_with(' ')
        && !name.chars().all(|c| c == '.')
}

/// The threshold of a rule, read for its condition.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    Value(f64),
    Source(u8),
    At(Minute),
    Between(Minute, Minute),
    None,
}

impl Rule {
    pub fn hysteresis(&self) -> f64 {
        self.hysteresis.unwrap_or(if self.condition == Condition::LoadAbove { 0.5 } else { 1.0 })
    }

    /// The threshold as its condition reads it; `Err` names the problem.
    pub fn limit(&self) -> Result<Limit, FieldError> {
        let number = || match &self.threshold {
            Threshold::Number(v) if v.is_finite() => Ok(*v),
            Threshold::Text(t) => t
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| error("threshold", format!("{t:?} is not a number"))),
            Threshold::Number(_) => Err(error("threshold", "must be a finite number")),
        };
        let text = || match &self.threshold {
            Threshold::Text(t) => Ok(t.clone()),
            Threshold::Number(_) => Err(error("threshold", "must be a time such as \"22:00\"")),
        };
        Ok(match self.condition {
            Condition::VoltageBelow | Condition::VoltageAbove => {
                let v = number()?;
                if !(0.0..=500.0).contains(&v) {
                    return Err(error("threshold", "a voltage from 0 to 500 V"));
                }
                Limit::Value(v)
            }
            Condition::LoadAbove => {
                let v = number()?;
                if !(0.0..=100.0).contains(&v) {
                    return Err(error("threshold", "a current from 0 to 100 A"));
                }
                Limit::Value(v)
            }
            Condition::AtsSourceIs => match number()? {
                v if v == 1.0 || v == 2.0 => Limit::Source(v as u8),
                _ => return Err(error("threshold", "1 (source A) or 2 (source B)")),
            },
            Condition::AtsPreferredLost | Condition::RedundancyLost => Limit::None,
            Condition::TemperatureAbove => {
                let v = number()?;
                if !(-40.0..=100.0).contains(&v) {
                    return Err(error("threshold", "a temperature from -40 to 100 °C"));
                }
                Limit::Value(v)
            }
            Condition::HumidityAbove => {
                let v = number()?;
                if !(0.0..=100.0).contains(&v) {
                    return Err(error("threshold", "a humidity from 0 to 100 %"));
                }
                Limit::Value(v)
            }
            Condition::ContactOpen => match number()? {
                v if (1.0..=4.0).contains(&v) && v.fract() == 0.0 => Limit::Value(v),
                _ => return Err(error("threshold", "the probe's contact number, 1 to 4")),
            },
            Condition::PsuFailed => match number()? {
                v if (v == 0.0 || v == 1.0 || v == 2.0) => Limit::Value(v),
                _ => return Err(error("threshold", "0 (any power supply), 1 or 2")),
            },
            Condition::TimeAfter | Condition::TimeBefore => {
                let t = text()?;
                Limit::At(parse_hhmm(&t).ok_or_else(|| error("threshold", format!("{t:?} is not a time HH:MM")))?)
            }
            Condition::TimeBetween => {
                let t = text()?;
                let parsed = t.split_once('-').and_then(|(a, b)| Some((parse_hhmm(a)?, parse_hhmm(b)?)));
                let (start, end) =
                    parsed.ok_or_else(|| error("threshold", format!("{t:?} is not a range HH:MM-HH:MM")))?;
                if start == end {
                    return Err(error("threshold", "the range must not start and end at the same time"));
                }
                Limit::Between(start, end)
            }
        })
    }

    /// Every check, in field order. `outlet_count` is the PDU's, when known.
    pub fn validate(&self, outlet_count: Option<u32>) -> Result<(), FieldError> {
        if !valid_name(&self.name) {
            return Err(error("name", NAME_RULE));
        }
        let input_ok = match self.condition {
            c if c.is_voltage() => self.input <= 2,
            Condition::LoadAbove => self.input <= 64,
            _ => true,
        };
        if !input_ok {
            return Err(error("input", "0 (the PDU's input), 1 (source A) or 2 (source B)"));
        }
        self.limit()?;
        let outlets = self.outlet.list();
        if !self.action.switches() && !outlets.is_empty() {
            return Err(error("outlet", "a notify rule switches no outlet: leave outlet out or empty"));
        }
        if self.action.switches() && outlets.is_empty() {
            return Err(error("outlet", "at least one outlet (only a notify rule has none)"));
        }
        if let Some(bad) = outlets.iter().find(|&&n| n == 0 || outlet_count.is_some_and(|c| n > c)) {
            let range = outlet_count.map(|c| format!("1 to {c}")).unwrap_or_else(|| "1 or more".into());
            return Err(error("outlet", format!("outlet {bad} does not exist (outlets are {range})")));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(twice) = outlets.iter().find(|&&n| !seen.insert(n)) {
            return Err(error("outlet", format!("outlet {twice} is listed more than once; list each outlet once")));
        }
        for (field, value) in [("delay", self.delay), ("restore_delay", self.restore_delay)] {
            if !(0.0..=86_400.0).contains(&value) {
                return Err(error(field, "seconds from 0 to 86400"));
            }
        }
        if let Some(h) = self.hysteresis {
            if !(0.0..=100.0).contains(&h) {
                return Err(error("hysteresis", "from 0 to 100 (volts or amps)"));
            }
        }
        if let Some(days) = &self.days_of_week {
            if days.is_empty() || days.iter().any(|d| *d > 6) {
                return Err(error("days_of_week", "days 0 (Monday) to 6 (Sunday), at least one"));
            }
        }
        Ok(())
    }
}

/// The rule editor's fields as typed: what the browser's editor holds
/// and what its plain HTML form posts (field names in [`RuleDraft::to_pairs`]),
/// so a page without the WASM and one with it check the same way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleDraft {
    /// The rule being edited; `None` for a new one.
    pub original: Option<String>,
    pub name: String,
    pub condition: Condition,
    pub input: u32,
    pub value: String,
    pub source: u8,
    pub at: String,
    pub until: String,
    pub outlets: Vec<u32>,
    pub action: RuleAction,
    pub delay: String,
    pub restore: bool,
    pub restore_delay: String,
    pub hysteresis: String,
    pub days: Vec<u8>,
    pub oneshot: bool,
    pub enabled: bool,
    /// Show what is wrong at once: the server sent the form back refused.
    #[serde(default)]
    pub show_errors: bool,
}

impl Default for RuleDraft {
    fn default() -> Self {
        Self::new()
    }
}

impl RuleDraft {
    pub fn new() -> Self {
        Self {
            original: None,
            name: String::new(),
            condition: Condition::VoltageBelow,
            input: 1,
            value: "108".into(),
            source: 2,
            at: "22:00".into(),
            until: "06:00".into(),
            outlets: Vec::new(),
            action: RuleAction::Off,
            delay: "5".into(),
            restore: true,
            restore_delay: "0".into(),
            hysteresis: String::new(),
            days: (0..7).collect(),
            oneshot: false,
            enabled: true,
            show_errors: false,
        }
    }

    pub fn from_rule(r: &Rule) -> Self {
        let mut d = Self::new();
        d.original = Some(r.name.clone());
        d.name.clone_from(&r.name);
        d.condition = r.condition;
        d.input = r.input;
        match &r.threshold {
            Threshold::Number(v) => {
                d.value = v.to_string();
                d.source = if *v == 1.0 { 1 } else { 2 };
            }
            Threshold::Text(t) => match t.split_once('-') {
                Some((a, b)) => (d.at, d.until) = (a.to_owned(), b.to_owned()),
                None => {
                    d.at.clone_from(t);
                    d.value.clone_from(t);
                }
            },
        }
        d.outlets = r.outlet.list();
        d.action = r.action;
        d.delay = r.delay.to_string();
        d.restore = r.restore;
        d.restore_delay = r.restore_delay.to_string();
        d.hysteresis = r.hysteresis.map(|h| h.to_string()).unwrap_or_default();
        d.days = r.days_of_week.clone().unwrap_or_else(|| (0..7).collect());
        d.oneshot = r.schedule_type == ScheduleType::Oneshot;
        d.enabled = r.enabled;
        d
    }

    /// The rule these fields describe, or the first field that is wrong.
    pub fn to_rule(&self, outlet_count: Option<u32>) -> Result<Rule, FieldError> {
        let number = |field: &str, text: &str| {
            text.trim()
                .parse::<f64>()
                .map_err(|_| FieldError { field: field.into(), message: format!("{text:?} is not a number") })
        };
        let threshold = match self.condition {
            c if c.is_level() => Threshold::Number(number("threshold", &self.value)?),
            Condition::AtsSourceIs => Threshold::Number(f64::from(self.source)),
            Condition::AtsPreferredLost | Condition::RedundancyLost => Threshold::Number(0.0),
            Condition::TimeBetween => Threshold::Text(format!("{}-{}", self.at.trim(), self.until.trim())),
            _ => Threshold::Text(self.at.trim().to_owned()),
        };
        if self.condition.is_time() && parse_hhmm(&self.at).is_none() {
            return Err(FieldError {
                field: "threshold".into(),
                message: format!("{:?} is not a time HH:MM", self.at),
            });
        }
        let hysteresis = match self.hysteresis.trim() {
            "" => None,
            h => Some(number("hysteresis", h)?),
        };
        // A notify rule switches nothing: outlets still ticked from another
        // action are kept in the draft (for switching back) but not sent.
        let mut outlets = if self.action.switches() { self.outlets.clone() } else { Vec::new() };
        outlets.sort_unstable();
        let rule = Rule {
            name: self.name.trim().to_owned(),
            condition: self.condition,
            input: self.input,
            threshold,
            outlet: Outlets::Many(outlets),
            action: self.action,
            restore: self.restore,
            delay: number("delay", &self.delay)?,
            restore_delay: number("restore_delay", &self.restore_delay)?,
            hysteresis,
            days_of_week: (self.days.len() < 7).then(|| self.days.clone()),
            schedule_type: if self.oneshot { ScheduleType::Oneshot } else { ScheduleType::Continuous },
            enabled: self.enabled,
        };
        rule.validate(outlet_count)?;
        Ok(rule)
    }

    /// The fields as the editor's form posts them: `outlet` and `day` once
    /// per ticked box, a checkbox only when ticked.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("name", self.name.clone()),
            ("condition", condition_key(self.condition).to_owned()),
            ("input", self.input.to_string()),
            ("bank", self.input.to_string()),
            ("value", self.value.clone()),
            ("source", self.source.to_string()),
            ("at", self.at.clone()),
            ("until", self.until.clone()),
            ("action", action_key(self.action).to_owned()),
            ("delay", self.delay.clone()),
            ("restore_delay", self.restore_delay.clone()),
            ("hysteresis", self.hysteresis.clone()),
        ];
        if let Some(original) = &self.original {
            pairs.push(("original", original.clone()));
        }
        pairs.extend(self.outlets.iter().map(|n| ("outlets", n.to_string())));
        pairs.extend(self.days.iter().map(|d| ("day", d.to_string())));
        for (key, on) in [("restore", self.restore), ("oneshot", self.oneshot), ("enabled", self.enabled)] {
            if on {
                pairs.push((key, "1".to_owned()));
            }
        }
        pairs
    }

    /// The fields a form posted (see [`RuleDraft::to_pairs`]); what cannot
    /// be read stays as typed, for [`RuleDraft::to_rule`] to name.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Self {
        let get = |key: &str| pairs.iter().find(|(k, _)| k.as_ref() == key).map(|(_, v)| v.as_ref().to_owned());
        let all = |key: &'static str| {
            pairs.iter().filter(move |(k, _)| k.as_ref() == key).filter_map(|(_, v)| v.as_ref().trim().parse().ok())
        };
        let mut d = Self::new();
        d.original = get("original").filter(|o| !o.is_empty());
        d.name = get("name").unwrap_or_default();
        if let Some(c) = get("condition").and_then(|k| condition_from_key(&k)) {
            d.condition = c;
        }
        let input = if d.condition == Condition::LoadAbove { get("bank") } else { get("input") };
        // An input that is not a number becomes one that is refused.
        d.input = input.map(|i| i.trim().parse().unwrap_or(u32::MAX)).unwrap_or(0);
        for (key, slot) in [("value", &mut d.value), ("at", &mut d.at), ("until", &mut d.until)] {
            if let Some(v) = get(key) {
                *slot = v;
            }
        }
        d.source = get("source").and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        d.action = get("action").and_then(|k| action_from_key(&k)).unwrap_or(RuleAction::Off);
        d.delay = get("delay").unwrap_or_default();
        d.restore_delay = get("restore_delay").unwrap_or_default();
        d.hysteresis = get("hysteresis").unwrap_or_default();
        d.outlets = all("outlets").collect();
        d.days = all("day").filter_map(|v: u32| u8::try_from(v).ok()).collect();
        d.restore = get("restore").is_some();
        d.oneshot = get("oneshot").is_some();
        d.enabled = get("enabled").is_some();
        d
    }
}

/// A condition as `rules.json` spells it (`voltage_below`).
pub fn condition_key(c: Condition) -> &'static str {
    match c {
        Condition::VoltageBelow => "voltage_below",
        Condition::VoltageAbove => "voltage_above",
        Condition::AtsSourceIs => "ats_source_is",
        Condition::AtsPreferredLost => "ats_preferred_lost",
        Condition::RedundancyLost => "redundancy_lost",
        Condition::LoadAbove => "load_above",
        Condition::TimeAfter => "time_after",
        Condition::TimeBefore => "time_before",
        Condition::TimeBetween => "time_between",
        Condition::TemperatureAbove => "temperature_above",
        Condition::HumidityAbove => "humidity_above",
        Condition::ContactOpen => "contact_open",
        Condition::PsuFailed => "psu_failed",
    }
}

fn condition_from_key(key: &str) -> Option<Condition> {
    serde_json::from_value(serde_json::Value::String(key.to_owned())).ok()
}

/// An action as `rules.json` spells it (`off`).
pub fn action_key(a: RuleAction) -> &'static str {
    match a {
        RuleAction::On => "on",
        RuleAction::Off => "off",
        RuleAction::Reboot => "reboot",
        RuleAction::Notify => "notify",
    }
}

/// The action `rules.json` (and the editor's form) spells `key`.
pub fn action_from_key(key: &str) -> Option<RuleAction> {
    serde_json::from_value(serde_json::Value::String(key.to_owned())).ok()
}

/// Parse a whole rules file: a JSON array of rules with unique names.
pub fn parse_rules(text: &str, outlet_count: Option<u32>) -> Result<Vec<Rule>, String> {
    let rules: Vec<Rule> = serde_json::from_str(text).map_err(|e| format!("not a JSON array of rules: {e}"))?;
    for (i, rule) in rules.iter().enumerate() {
        rule.validate(outlet_count).map_err(|e| format!("rule {} ({:?}): {e}", i + 1, rule.name))?;
        if rules[..i].iter().any(|r| r.name == rule.name) {
            return Err(format!("rule {} ({:?}): name: used twice", i + 1, rule.name));
        }
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As the Python bridge writes it: integer and string thresholds, one
    /// outlet or a list, fields left out.
    const PYTHON_RULES: &str = r#"[
      {"name": "brownout-shed", "condition": "voltage_below", "input": 1, "threshold": 108,
       "outlet": [5, 9], "action": "off", "restore": true, "delay": 10, "restore_delay": 30},
      {"name": "on_battery", "condition": "ats_source_is", "threshold": 2, "outlet": 10, "action": "off"},
      {"name": "night", "condition": "time_between", "threshold": "22:00-06:30", "outlet": [7],
       "action": "off", "days_of_week": [0, 1, 2, 3, 4], "schedule_type": "continuous", "enabled": false},
      {"name": "modem-kick", "condition": "time_after", "threshold": "05:00", "outlet": 7,
       "action": "reboot", "schedule_type": "oneshot", "restore": false}
    ]"#;

    #[test]
    fn a_rules_file_written_by_the_python_bridge_loads() {
        let rules = parse_rules(PYTHON_RULES, Some(10)).unwrap();
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[0].outlet.list(), vec![5, 9]);
        assert_eq!(rules[0].limit().unwrap(), Limit::Value(108.0));
        assert_eq!((rules[1].delay, rules[1].restore, rules[1].input), (5.0, true, 0), "defaults");
        assert_eq!(rules[2].limit().unwrap(), Limit::Between(22 * 60, 6 * 60 + 30));
        assert!(!rules[2].enabled);
        assert_eq!(rules[3].schedule_type, ScheduleType::Oneshot);
        assert_eq!(rules[0].hysteresis(), 1.0);
    }

    #[test]
    fn invalid_rules_name_the_field() {
        let base = || parse_rules(PYTHON_RULES, Some(10)).unwrap()[0].clone();
        let field = |r: Rule| r.validate(Some(10)).unwrap_err().field;
        assert_eq!(field(Rule { name: "bad/name".into(), ..base() }), "name");
        assert_eq!(field(Rule { threshold: Threshold::Text("high".into()), ..base() }), "threshold");
        assert_eq!(field(Rule { threshold: Threshold::Number(-3.0), ..base() }), "threshold");
        assert_eq!(field(Rule { outlet: Outlets::Many(vec![3, 11]), ..base() }), "outlet");
        assert_eq!(field(Rule { input: 7, ..base() }), "input");
        assert_eq!(field(Rule { delay: -1.0, ..base() }), "delay");
        assert_eq!(field(Rule { days_of_week: Some(vec![7]), ..base() }), "days_of_week");
        let time =
            Rule { condition: Condition::TimeBetween, threshold: Threshold::Text("25:00-06:00".into()), ..base() };
        assert_eq!(field(time), "threshold");
        let msg = Rule { outlet: Outlets::One(12), ..base() }.validate(Some(10)).unwrap_err().to_string();
        assert_eq!(msg, "outlet: outlet 12 does not exist (outlets are 1 to 10)");
    }

    #[test]
    fn rule_names_may_have_spaces_inside_but_not_at_the_ends() {
        for good in ["Night shed 2", "brownout-shed", "on_battery", "v1.2", "a", "-", "x  y", &"n".repeat(64)] {
            assert!(valid_name(good), "{good:?}");
        }
        for bad in ["", " lead", "trail ", " ", ".", "..", "a/b", "a%20b", "a+b", "tab\tname", "Büro", &"n".repeat(65)]
        {
            assert!(!valid_name(bad), "{bad:?}");
        }
        let base = parse_rules(PYTHON_RULES, Some(10)).unwrap()[0].clone();
        assert!(Rule { name: "Night shed 2".into(), ..base.clone() }.validate(Some(10)).is_ok());
        let e = Rule { name: "Night shed ".into(), ..base }.validate(Some(10)).unwrap_err();
        assert_eq!(e.field, "name");
        assert!(e.message.contains("spaces") && e.message.contains("start or end"), "{}", e.message);
    }

    #[test]
    fn a_rule_listing_an_outlet_twice_is_refused() {
        let base = || parse_rules(PYTHON_RULES, Some(10)).unwrap()[0].clone();
        for count in [Some(10), None] {
            let e = Rule { outlet: Outlets::Many(vec![9, 9, 9]), ..base() }.validate(count).unwrap_err();
            assert_eq!(e.to_string(), "outlet: outlet 9 is listed more than once; list each outlet once");
            let e = Rule { outlet: Outlets::Many(vec![1, 5, 2, 5]), ..base() }.validate(count).unwrap_err();
            assert_eq!(e.field, "outlet");
        }
        assert!(Rule { outlet: Outlets::Many(vec![1, 5, 2]), ..base() }.validate(Some(10)).is_ok());
    }

    #[test]
    fn a_bad_file_says_which_rule_and_why() {
        let err = parse_rules(
            r#"[{"name":"a","condition":"voltage_below","threshold":108,"outlet":1,"action":"off"},
                                  {"name":"a","condition":"redundancy_lost","threshold":0,"outlet":2,"action":"off"}]"#,
            Some(10),
        )
        .unwrap_err();
        assert!(err.contains("rule 2") && err.contains("used twice"), "{err}");
        assert!(parse_rules("{}", None).unwrap_err().contains("JSON array"));
        assert!(parse_rules(r#"[{"name":"x","condition":"explode"}]"#, None).is_err());
    }

    #[test]
    fn the_editor_form_posts_what_it_shows_and_reads_it_back() {
        let rules = parse_rules(PYTHON_RULES, Some(10)).unwrap();
        for rule in &rules {
            let draft = RuleDraft::from_rule(rule);
            let back = RuleDraft::from_pairs(&draft.to_pairs());
            assert_eq!(back, draft, "{}", rule.name);
            assert_eq!(back.to_rule(Some(10)).map(|r| r.name), Ok(rule.name.clone()));
        }
        // Unticked boxes are not posted: false, and no days is refused by name.
        let bare = RuleDraft::from_pairs(&[("name", "x"), ("condition", "redundancy_lost"), ("outlets", "2")]);
        assert!(!bare.enabled && !bare.restore);
        assert_eq!(bare.to_rule(Some(10)).unwrap_err().field, "delay");
        let typed = RuleDraft::from_pairs(&[("condition", "voltage_below"), ("input", "x"), ("value", "900")]);
        assert_eq!(typed.input, u32::MAX, "kept refusable, not silently 0");
    }

    /// A notify rule: no `outlet` at all, as its users write it.
    const NOTIFY_RULE: &str = r#"[{"name": "hot-rack", "condition": "temperature_above", "threshold": 35,
        "action": "notify", "delay": 60, "restore_delay": 30}]"#;

    #[test]
    fn a_notify_rule_needs_no_outlet_and_refuses_one() {
        let rule = parse_rules(NOTIFY_RULE, Some(10)).unwrap().remove(0);
        assert_eq!((rule.action, rule.outlet.list()), (RuleAction::Notify, vec![]));
        let written = serde_json::to_value(&rule).unwrap();
        assert_eq!((written["action"].as_str(), &written["outlet"]), (Some("notify"), &serde_json::json!([])));
        assert_eq!(parse_rules(&serde_json::to_string(&[&rule]).unwrap(), Some(10)).unwrap(), vec![rule.clone()]);

        let e = Rule { outlet: Outlets::Many(vec![3]), ..rule.clone() }.validate(Some(10)).unwrap_err();
        assert_eq!(e.to_string(), "outlet: a notify rule switches no outlet: leave outlet out or empty");
        let e = Rule { outlet: Outlets::One(3), ..rule.clone() }.validate(None).unwrap_err();
        assert_eq!(e.field, "outlet");
        for action in [RuleAction::On, RuleAction::Off, RuleAction::Reboot] {
            let e = Rule { action, ..rule.clone() }.validate(Some(10)).unwrap_err();
            assert_eq!(e.to_string(), "outlet: at least one outlet (only a notify rule has none)", "{action:?}");
        }
        let err = parse_rules(r#"[{"name":"x","condition":"redundancy_lost","threshold":0,"action":"off"}]"#, Some(10))
            .unwrap_err();
        assert!(err.contains("rule 1") && err.contains("outlet: at least one outlet"), "{err}");
    }

    #[test]
    fn the_editor_sends_no_outlets_for_a_notify_rule_and_keeps_the_ticks() {
        let rule = parse_rules(NOTIFY_RULE, Some(10)).unwrap().remove(0);
        let draft = RuleDraft::from_rule(&rule);
        let back = RuleDraft::from_pairs(&draft.to_pairs());
        assert_eq!(back, draft);
        assert_eq!(back.to_rule(Some(10)), Ok(rule.clone()));

        // Outlets ticked for an earlier action (or shown without the WASM)
        // are not part of a notify rule.
        let mut pairs = draft.to_pairs();
        pairs.extend([("outlets", "3".to_owned()), ("outlets", "5".to_owned())]);
        let ticked = RuleDraft::from_pairs(&pairs);
        assert_eq!((ticked.action, ticked.outlets.clone()), (RuleAction::Notify, vec![3, 5]));
        assert_eq!(ticked.to_rule(Some(10)), Ok(rule));
        let off = RuleDraft { action: RuleAction::Off, ..ticked };
        assert_eq!(off.to_rule(Some(10)).unwrap().outlet.list(), vec![3, 5], "switching back keeps them");
        assert_eq!(action_from_key("notify"), Some(RuleAction::Notify));
        assert_eq!(action_from_key("explode"), None);
    }

    #[test]
    fn times_parse_strictly() {
        assert_eq!(parse_hhmm("06:30"), Some(390));
        assert_eq!(parse_hhmm("6:05"), Some(365));
        for bad in ["24:00", "12:60", "noon", "12", "12:00:00"] {
            assert_eq!(parse_hhmm(bad), None, "{bad}");
        }
    }
}
