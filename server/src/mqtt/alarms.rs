//! One PDU's alarm topics: `{base}/{d}/alarms`, the JSON array of its active
//! alarms (retained, `[]` when there are none); `{base}/{d}/alarms/active`,
//! how many there are (retained, a bare number for Telegraf and simple
//! subscribers); and `{base}/{d}/alarm`, one JSON message per raise,
//! acknowledgement and clear (not retained, QoS 1). Pure: no broker needed
//! to test it.
//!
//! Owns: which alarms a PDU's topics carry, their payloads, and when the
//! list goes out again. Does not own: the alarms themselves
//! ([`crate::alarms`]), nor the Home Assistant entity that reads these
//! topics ([`super::discovery`]).
//!
//! The one thing to know: the bridge's own alarms (`device_id: null`, such
//! as `history_write_failing`) concern every PDU, so they are in every
//! PDU's list and on every PDU's `alarm` topic. `alarm` is never retained:
//! a subscriber that arrives later learns what is wrong from `alarms`, and
//! never acts on a raise that is long over.

use super::topics::{Outgoing, Topics};
use crate::alarms::{Change, Transition};
use crate::clock::unix_secs;
use app::alarms::{Alarm, AlarmList};
use app::model::DeviceId;
use serde_json::{json, Value};

/// The alarm topics of one PDU, and what its list last carried.
pub struct AlarmTopics {
    device_id: DeviceId,
    topics: Topics,
    /// The `alarms` payload sent in this connection: the list goes out again
    /// only when this PDU's alarms changed (another PDU's never resend it).
    sent: Option<String>,
}

impl AlarmTopics {
    pub fn new(device_id: DeviceId, topics: Topics) -> Self {
        Self { device_id, topics, sent: None }
    }

    /// `alarms` and `alarms/active` when this PDU's active alarms differ from
    /// what was last sent; nothing otherwise.
    pub fn messages(&mut self, list: &AlarmList) -> Vec<Outgoing> {
        let mine = concerning(&self.device_id, list);
        let payload = serde_json::to_string(&mine).unwrap_or_else(|_| "[]".into());
        if self.sent.as_ref() == Some(&payload) {
            return Vec::new();
        }
        self.sent = Some(payload.clone());
        vec![
            Outgoing::retained(self.topics.of("alarms"), payload),
            Outgoing::retained(self.topics.of("alarms/active"), mine.len().to_string()),
        ]
    }

    /// Forget what was sent: the next [`AlarmTopics::messages`] sends the
    /// list again (after a reconnect, or when Home Assistant comes online).
    pub fn republish_all(&mut self) {
        self.sent = None;
    }

    /// The `alarm` message for a transition, when it concerns this PDU.
    pub fn transition(&self, t: &Transition) -> Option<Outgoing> {
        t.alarm.concerns(&self.device_id).then(|| Outgoing {
            topic: self.topics.of("alarm"),
            payload: transition_json(t).to_string(),
            retain: false,
            at_least_once: true,
        })
    }

    /// Empty retained messages for the retained alarm topics, so a removed
    /// PDU leaves no list behind.
    pub fn clearing(&self) -> Vec<Outgoing> {
        ["alarms", "alarms/active"]
            .into_iter()
            .map(|rest| Outgoing {
                topic: self.topics.of(rest),
                payload: String::new(),
                retain: true,
                at_least_once: true,
            })
            .collect()
    }
}

/// The active alarms that concern `device_id`, in the list's order (most
/// severe first, then newest): its own and the bridge's.
pub fn concerning<'a>(device_id: &DeviceId, list: &'a AlarmList) -> Vec<&'a Alarm> {
    list.active.iter().filter(|a| a.concerns(device_id)).collect()
}

/// `{"state": "raised"|"acknowledged"|"cleared", …the alarm's fields…, "ts"}`,
/// `ts` being when that change happened (unix seconds).
pub fn transition_json(t: &Transition) -> Value {
    let a = &t.alarm;
    let at = match t.change {
        Change::Raised => Some(a.raised_at),
        Change::Acknowledged => a.acknowledged.as_ref().map(|ack| ack.at),
        Change::Cleared => a.cleared_at,
    };
    let mut payload = serde_json::to_value(a).unwrap_or_else(|_| json!({}));
    if let Some(map) = payload.as_object_mut() {
        map.insert("state".into(), json!(t.change));
        map.insert("ts".into(), json!(at.unwrap_or_else(unix_secs)));
    }
    payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::alarms::{Acknowledgement, AlarmKind, Severity};

    fn id(s: &str) -> DeviceId {
        DeviceId::parse(s).unwrap()
    }

    fn alarm(n: u64, device: Option<&str>, kind: AlarmKind, subject: Option<u32>) -> Alarm {
        Alarm {
            id: n,
            device_id: device.map(id),
            kind,
            subject,
            rule: None,
            severity: Severity::Critical,
            title: format!("alarm {n}"),
            details: "what was measured".into(),
            raised_at: 100.0 + n as f64,
            acknowledged: None,
            cleared_at: None,
        }
    }

    fn list(active: Vec<Alarm>) -> AlarmList {
        AlarmList { active, past: vec![alarm(9, Some("rack-a"), AlarmKind::BankLowLoad, Some(1))] }
    }

    fn topics(device: &str) -> AlarmTopics {
        AlarmTopics::new(id(device), Topics::new("pdu", device))
    }

    fn payload<'a>(out: &'a [Outgoing], topic: &str) -> &'a str {
        &out.iter().find(|m| m.topic == topic).unwrap_or_else(|| panic!("no {topic}")).payload
    }

    #[test]
    fn no_alarm_is_an_empty_array_and_a_zero_both_retained() {
        let out = topics("rack-a").messages(&list(Vec::new()));
        assert_eq!(payload(&out, "pdu/rack-a/alarms"), "[]", "past alarms are not in the list");
        assert_eq!(payload(&out, "pdu/rack-a/alarms/active"), "0");
        assert!(out.iter().all(|m| m.retain && !m.at_least_once), "QoS 0 like the other state topics");
    }

    #[test]
    fn a_pdus_list_holds_its_own_alarms_and_the_bridges_not_another_pdus() {
        let all = list(vec![
            alarm(1, Some("rack-a"), AlarmKind::PsuFailed, Some(2)),
            alarm(2, None, AlarmKind::HistoryWriteFailing, None),
            alarm(3, Some("rack-b"), AlarmKind::BankOverload, Some(1)),
        ]);
        let out = topics("rack-a").messages(&all);
        let shown: Vec<Value> = serde_json::from_str(payload(&out, "pdu/rack-a/alarms")).unwrap();
        let ids: Vec<u64> = shown.iter().map(|a| a["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, vec![1, 2]);
        assert_eq!(payload(&out, "pdu/rack-a/alarms/active"), "2");
        assert_eq!(shown[0]["kind"], "psu_failed");
        assert_eq!(shown[0]["subject"], 2);
        assert_eq!(shown[0]["device_id"], "rack-a");
        assert_eq!(shown[1]["device_id"], Value::Null, "the bridge's own alarm");
        assert_eq!(shown[1]["severity"], "critical");
        assert!(shown[0].get("cleared_at").is_none() && shown[0].get("acknowledged").is_none());
        let b = topics("rack-b").messages(&all);
        assert_eq!(payload(&b, "pdu/rack-b/alarms/active"), "2");
    }

    #[test]
    fn the_list_goes_out_again_only_when_this_pdus_alarms_change() {
        let mut t = topics("rack-a");
        let mut alarms = vec![alarm(1, Some("rack-a"), AlarmKind::PsuFailed, Some(2))];
        assert_eq!(t.messages(&list(alarms.clone())).len(), 2);
        assert_eq!(t.messages(&list(alarms.clone())), Vec::new());
        alarms.push(alarm(3, Some("rack-b"), AlarmKind::BankOverload, Some(1)));
        assert_eq!(t.messages(&list(alarms.clone())), Vec::new(), "another PDU's alarm");
        alarms[0].acknowledged = Some(Acknowledgement { by: "user ann".into(), at: 150.0 });
        let out = t.messages(&list(alarms.clone()));
        assert!(payload(&out, "pdu/rack-a/alarms").contains("user ann"), "an acknowledgement changes the list");
        assert_eq!(payload(&out, "pdu/rack-a/alarms/active"), "1");
        t.republish_all();
        assert_eq!(t.messages(&list(alarms)).len(), 2, "everything again after a reconnect");
        assert_eq!(payload(&t.messages(&list(Vec::new())), "pdu/rack-a/alarms"), "[]");
    }

    #[test]
    fn a_transition_is_the_alarm_with_its_state_and_when_it_happened() {
        let mut a = alarm(7, Some("rack-a"), AlarmKind::PsuFailed, Some(2));
        let raised = Transition { change: Change::Raised, alarm: a.clone() };
        let m = topics("rack-a").transition(&raised).expect("its own alarm");
        assert_eq!(m.topic, "pdu/rack-a/alarm");
        assert!(!m.retain && m.at_least_once, "not retained, QoS 1");
        let v: Value = serde_json::from_str(&m.payload).unwrap();
        assert_eq!(
            v,
            json!({"state": "raised", "id": 7, "device_id": "rack-a", "kind": "psu_failed", "subject": 2,
                   "severity": "critical", "title": "alarm 7", "details": "what was measured",
                   "raised_at": 107.0, "ts": 107.0})
        );
        assert!(topics("rack-b").transition(&raised).is_none(), "not another PDU's");

        a.acknowledged = Some(Acknowledgement { by: "user ann".into(), at: 110.5 });
        let v = transition_json(&Transition { change: Change::Acknowledged, alarm: a.clone() });
        assert_eq!((v["state"].as_str(), v["ts"].as_f64()), (Some("acknowledged"), Some(110.5)));
        assert_eq!(v["acknowledged"], json!({"by": "user ann", "at": 110.5}));
        a.cleared_at = Some(130.0);
        let v = transition_json(&Transition { change: Change::Cleared, alarm: a });
        assert_eq!(
            (v["state"].as_str(), v["ts"].as_f64(), v["cleared_at"].as_f64()),
            (Some("cleared"), Some(130.0), Some(130.0))
        );
    }

    #[test]
    fn the_bridges_own_alarm_goes_to_every_pdus_alarm_topic() {
        let t = Transition { change: Change::Raised, alarm: alarm(4, None, AlarmKind::HistoryWriteFailing, None) };
        for device in ["rack-a", "rack-b"] {
            let m = topics(device).transition(&t).expect("the bridge's alarm concerns every PDU");
            assert_eq!(m.topic, format!("pdu/{device}/alarm"));
            assert_eq!(serde_json::from_str::<Value>(&m.payload).unwrap()["device_id"], Value::Null);
        }
    }

    #[test]
    fn clearing_empties_both_retained_topics_and_never_the_alarm_topic() {
        let out = topics("rack-a").clearing();
        let names: Vec<&str> = out.iter().map(|m| m.topic.as_str()).collect();
        assert_eq!(names, vec!["pdu/rack-a/alarms", "pdu/rack-a/alarms/active"]);
        assert!(out.iter().all(|m| m.payload.is_empty() && m.retain));
    }
}
