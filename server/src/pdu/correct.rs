//! Corrections applied to every snapshot before anyone sees it: the metering
//! floor and the user's outlet names. History, MQTT, the API and the UI all
//! read the corrected values.

use app::model::{Outlet, OutletState};
use std::collections::BTreeMap;
use std::path::Path;

/// Below both thresholds an outlet is idle and reported as 0 A / 0 W: the
/// PDU's meters read a little noise on an empty socket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeteringFloor {
    pub power_w: f64,
    pub current_a: f64,
}

impl Default for MeteringFloor {
    fn default() -> Self {
        Self { power_w: 1.0, current_a: 0.2 }
    }
}

/// Zero the current and power of idle and switched-off outlets. Energy is
/// never floored, and an absent reading stays absent.
pub fn apply_metering_floor(outlets: &mut [Outlet], floor: MeteringFloor) {
    for o in outlets {
        let idle = o.power.is_none_or(|p| p <= floor.power_w) && o.current.is_none_or(|c| c <= floor.current_a);
        if o.state == OutletState::Off || idle {
            o.current = o.current.map(|_| 0.0);
            o.power = o.power.map(|_| 0.0);
        }
    }
}

/// User-chosen outlet names (`BRIDGE_OUTLET_NAMES_FILE`: `{"<n>": "<name>"}`),
/// which win over the names stored on the PDU.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutletNames(BTreeMap<u32, String>);

#[derive(Debug, thiserror::Error)]
pub enum NamesError {
    #[error("{path}: cannot read: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: not a JSON object of outlet numbers to names: {message}")]
    Format { path: String, message: String },
    #[error("{path}: key {key:?} is not an outlet number (1, 2, …)")]
    Key { path: String, key: String },
    #[error("{path}: the name of outlet {outlet} must be 1 to 64 characters")]
    Name { path: String, outlet: u32 },
}

impl OutletNames {
    pub const MAX_NAME: usize = 64;

    pub fn parse(path: &str, text: &str) -> Result<Self, NamesError> {
        let map: BTreeMap<String, String> = serde_json::from_str(text)
            .map_err(|e| NamesError::Format { path: path.to_owned(), message: e.to_string() })?;
        let mut names = BTreeMap::new();
        for (key, name) in map {
            let outlet = key
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| NamesError::Key { path: path.to_owned(), key: key.clone() })?;
            let name = name.trim().to_owned();
            if name.is_empty() || name.chars().count() > Self::MAX_NAME {
                return Err(NamesError::Name { path: path.to_owned(), outlet });
            }
            names.insert(outlet, name);
        }
        Ok(Self(names))
    }

    /// A file that does not exist means no overrides; one that exists must
    /// be valid.
    pub fn load(path: &Path) -> Result<Self, NamesError> {
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&shown, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(NamesError::Read { path: shown, source }),
        }
    }

    pub fn get(&self, outlet: u32) -> Option<&str> {
        self.0.get(&outlet).map(String::as_str)
    }

    /// Name `outlet` (`None`: the PDU's own name shows again).
    pub fn set(&mut self, outlet: u32, name: Option<String>) {
        match name {
            Some(name) => self.0.insert(outlet, name),
            None => self.0.remove(&outlet),
        };
    }

    pub fn all(&self) -> &BTreeMap<u32, String> {
        &self.0
    }

    /// The file's text (`{"<n>": "<name>"}`), as [`OutletNames::parse`] reads it.
    pub fn to_json(&self) -> String {
        let map: BTreeMap<String, &String> = self.0.iter().map(|(n, s)| (n.to_string(), s)).collect();
        serde_json::to_string_pretty(&map).unwrap_or_default() + "\n"
    }

    pub fn apply(&self, outlets: &mut [Outlet]) {
        for o in outlets {
            if let Some(name) = self.0.get(&o.number) {
                o.name.clone_from(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outlet(state: OutletState, current: Option<f64>, power: Option<f64>) -> Outlet {
        Outlet {
            number: 1,
            name: "x".into(),
            state,
            pending: false,
            bank: Some(1),
            current,
            power,
            energy_kwh: Some(3.2),
            on_delay_s: None,
            off_delay_s: None,
            reboot_s: None,
            peak_power: None,
            peak_power_at: None,
            energy_since: None,
        }
    }

    #[test]
    fn idle_outlets_read_zero_but_keep_their_energy() {
        let mut o = [outlet(OutletState::On, Some(0.2), Some(1.0))];
        apply_metering_floor(&mut o, MeteringFloor::default());
        assert_eq!((o[0].current, o[0].power, o[0].energy_kwh), (Some(0.0), Some(0.0), Some(3.2)));
    }

    #[test]
    fn a_real_load_is_not_floored_even_when_one_reading_is_small() {
        // 0.1 A but 12 W: a real (if small) load, not noise.
        let mut o = [outlet(OutletState::On, Some(0.1), Some(12.0))];
        apply_metering_floor(&mut o, MeteringFloor::default());
        assert_eq!((o[0].current, o[0].power), (Some(0.1), Some(12.0)));
    }

    #[test]
    fn switched_off_outlets_always_read_zero() {
        let mut o = [outlet(OutletState::Off, Some(0.4), Some(30.0))];
        apply_metering_floor(&mut o, MeteringFloor::default());
        assert_eq!((o[0].current, o[0].power), (Some(0.0), Some(0.0)));
    }

    #[test]
    fn absent_readings_are_not_invented_by_the_floor() {
        let mut o = [outlet(OutletState::Off, None, None)];
        apply_metering_floor(&mut o, MeteringFloor::default());
        assert_eq!((o[0].current, o[0].power), (None, None));
    }

    #[test]
    fn name_overrides_replace_device_names_by_outlet_number() {
        let names = OutletNames::parse("names.json", r#"{"2": " Core switch ", "9": "unused"}"#).unwrap();
        let mut o = [outlet(OutletState::On, None, None), Outlet { number: 2, ..outlet(OutletState::On, None, None) }];
        names.apply(&mut o);
        assert_eq!((o[0].name.as_str(), o[1].name.as_str()), ("x", "Core switch"));
    }

    #[test]
    fn bad_name_files_say_what_is_wrong() {
        let err = |text| OutletNames::parse("n.json", text).unwrap_err().to_string();
        assert!(err(r#"{"zero": "a"}"#).contains(r#"key "zero""#));
        assert!(err(r#"{"0": "a"}"#).contains(r#"key "0""#));
        assert!(err(r#"{"3": ""}"#).contains("outlet 3"));
        assert!(err(r#"["a"]"#).contains("not a JSON object"));
    }

    #[test]
    fn a_missing_names_file_means_no_overrides() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(OutletNames::load(&dir.path().join("none.json")).unwrap(), OutletNames::default());
    }
}
