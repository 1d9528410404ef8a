//! One stored sample: every reading of a snapshot as integers in the
//! device's own resolution (0.1 V, 0.1 A, W, VA, 0.01, 0.1 kWh), in a fixed
//! order given by the PDU's shape (bank and outlet counts), packed as a
//! presence bitmap plus zigzag varints. About 130 bytes for a PDU44001 —
//! the compact raw layout that keeps 60 days of 1 Hz data small.
//!
//! Absent readings stay absent (the bitmap), never zero.
//!
//! A PDU with an environment probe adds its temperature (0.1 °C) and
//! humidity (%) after the outlets. Such a sample starts with the byte
//! [`PROBE_MARK`] before the two counts, so the samples of a PDU without a
//! probe, and every sample stored before probes were kept, read as before.

use app::model::{OutletState, PduSnapshot, Source};

/// Fixed metrics before the banks.
pub const FIXED: [&str; 9] = [
    "input.voltage",
    "input.frequency",
    "source.a.voltage",
    "source.b.voltage",
    "source.a.frequency",
    "source.b.frequency",
    "ats.selected",
    "total.power",
    "total.current",
];
pub const BANK: [&str; 6] = ["voltage", "current", "power", "apparent_power", "power_factor", "energy"];
pub const OUTLET: [&str; 4] = ["state", "current", "power", "energy"];
/// The environment probe's readings, after the outlets, when it has one.
pub const PROBE: [&str; 2] = ["environment.temperature", "environment.humidity"];

/// The first byte of a sample with probe readings (a bank count no PDU has;
/// [`Shape::of`] counts at most 254 banks).
pub const PROBE_MARK: u8 = 0xff;

/// The shape of a PDU's sample: how many banks and outlets it has, and
/// whether it has an environment probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub banks: u8,
    pub outlets: u8,
    pub probe: bool,
}

impl Shape {
    /// The shape of a snapshot's sample.
    pub fn of(s: &PduSnapshot) -> Self {
        Self {
            banks: s.banks.len().min(254) as u8,
            outlets: s.outlets.len().min(255) as u8,
            probe: s.sensors.environment.is_some(),
        }
    }

    /// The same banks and outlets (the probe aside): their metrics sit at
    /// the same places.
    pub fn same_channels(self, other: Shape) -> bool {
        (self.banks, self.outlets) == (other.banks, other.outlets)
    }

    fn outlets_end(self) -> usize {
        FIXED.len() + BANK.len() * self.banks as usize + OUTLET.len() * self.outlets as usize
    }

    pub fn len(self) -> usize {
        self.outlets_end() + if self.probe { PROBE.len() } else { 0 }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The position of a metric such as `bank.2.power` or `outlet.7.energy`.
    pub fn index(self, metric: &str) -> Option<usize> {
        if let Some(i) = FIXED.iter().position(|m| *m == metric) {
            return Some(i);
        }
        if let Some(i) = PROBE.iter().position(|m| *m == metric) {
            return self.probe.then(|| self.outlets_end() + i);
        }
        let mut parts = metric.splitn(3, '.');
        let (kind, number, field) = (parts.next()?, parts.next()?.parse::<usize>().ok()?, parts.next()?);
        match kind {
            "bank" if (1..=self.banks as usize).contains(&number) => {
                Some(FIXED.len() + (number - 1) * BANK.len() + BANK.iter().position(|f| *f == field)?)
            }
            "outlet" if (1..=self.outlets as usize).contains(&number) => Some(
                FIXED.len()
                    + self.banks as usize * BANK.len()
                    + (number - 1) * OUTLET.len()
                    + OUTLET.iter().position(|f| *f == field)?,
            ),
            _ => None,
        }
    }

    /// Values are stored in these units; divide to get SI.
    pub fn scale(self, index: usize) -> f64 {
        if index < FIXED.len() {
            return scale_of(FIXED[index]);
        }
        if index >= self.outlets_end() {
            return PROBE.get(index - self.outlets_end()).map_or(1.0, |m| scale_of(m));
        }
        let i = index - FIXED.len();
        let banks = self.banks as usize * BANK.len();
        scale_of(if i < banks { BANK[i % BANK.len()] } else { OUTLET[(i - banks) % OUTLET.len()] })
    }
}

/// What a metric's stored integers are divided by to give its unit:
/// 0.1 V, Hz, A, kWh and °C; 0.01 of power factor; whole W, VA and %.
pub fn scale_of(metric: &str) -> f64 {
    match metric.rsplit('.').next().unwrap_or_default() {
        "power_factor" => 100.0,
        "voltage" | "frequency" | "current" | "energy" | "temperature" => 10.0,
        _ => 1.0,
    }
}

/// A sample: the values in shape order, `None` for absent readings.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub shape: Shape,
    pub values: Vec<Option<i64>>,
}

fn scaled(v: Option<f64>, by: f64) -> Option<i64> {
    v.filter(|v| v.is_finite()).map(|v| (v * by).round() as i64)
}

impl Sample {
    pub fn from_snapshot(s: &PduSnapshot) -> Self {
        let shape = Shape::of(s);
        let source = |src: Source, volts: bool| {
            s.ats.as_ref().and_then(|a| a.source(src)).and_then(|r| if volts { r.voltage } else { r.frequency })
        };
        let mut values = vec![
            scaled(s.input.voltage, 10.0),
            scaled(s.input.frequency, 10.0),
            scaled(source(Source::A, true), 10.0),
            scaled(source(Source::B, true), 10.0),
            scaled(source(Source::A, false), 10.0),
            scaled(source(Source::B, false), 10.0),
            s.ats.as_ref().map(|a| match a.selected {
                Some(Source::A) => 1,
                Some(Source::B) => 2,
                None => 0,
            }),
            scaled(s.totals.power, 1.0),
            scaled(s.totals.current, 10.0),
        ];
        for b in s.banks.iter().take(shape.banks.into()) {
            values.extend([
                scaled(b.voltage, 10.0),
                scaled(b.current, 10.0),
                scaled(b.power, 1.0),
                scaled(b.apparent_power, 1.0),
                scaled(b.power_factor, 100.0),
                scaled(b.energy_kwh, 10.0),
            ]);
        }
        for o in s.outlets.iter().take(shape.outlets.into()) {
            values.extend([
                Some(i64::from(o.state == OutletState::On)),
                scaled(o.current, 10.0),
                scaled(o.power, 1.0),
                scaled(o.energy_kwh, 10.0),
            ]);
        }
        if let Some(e) = &s.sensors.environment {
            values.extend([scaled(e.temperature_c, 10.0), scaled(e.humidity, 1.0)]);
        }
        Self { shape, values }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = if self.shape.probe { vec![PROBE_MARK] } else { Vec::new() };
        out.extend([self.shape.banks, self.shape.outlets]);
        let mut bitmap = vec![0u8; self.values.len().div_ceil(8)];
        for (i, v) in self.values.iter().enumerate() {
            if v.is_some() {
                bitmap[i / 8] |= 1 << (i % 8);
            }
        }
        out.extend_from_slice(&bitmap);
        for v in self.values.iter().flatten() {
            let mut z = ((v << 1) ^ (v >> 63)) as u64;
            loop {
                let byte = (z & 0x7f) as u8;
                z >>= 7;
                if z == 0 {
                    out.push(byte);
                    break;
                }
                out.push(byte | 0x80);
            }
        }
        out
    }

    /// `None` for bytes this code did not write (never panics).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (probe, bytes) = match bytes.split_first()? {
            (&PROBE_MARK, rest) => (true, rest),
            _ => (false, bytes),
        };
        let (&banks, rest) = bytes.split_first()?;
        let (&outlets, rest) = rest.split_first()?;
        if banks == PROBE_MARK {
            return None;
        }
        let shape = Shape { banks, outlets, probe };
        let n = shape.len();
        let (bitmap, mut rest) = rest.split_at_checked(n.div_ceil(8))?;
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            if bitmap[i / 8] & (1 << (i % 8)) == 0 {
                values.push(None);
                continue;
            }
            let mut z: u64 = 0;
            let mut shift = 0;
            loop {
                let (&byte, tail) = rest.split_first()?;
                rest = tail;
                if shift > 63 {
                    return None;
                }
                z |= u64::from(byte & 0x7f) << shift;
                shift += 7;
                if byte & 0x80 == 0 {
                    break;
                }
            }
            values.push(Some(((z >> 1) as i64) ^ -((z & 1) as i64)));
        }
        rest.is_empty().then_some(Self { shape, values })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::sim::SimModel;
    use app::model::DeviceId;

    fn snapshot() -> PduSnapshot {
        let now = tokio::time::Instant::now();
        SimModel::new(1, now).snapshot(&DeviceId::parse("t").unwrap(), now)
    }

    #[test]
    fn a_pdu44001_sample_round_trips_in_about_130_bytes() {
        let s = snapshot();
        let sample = Sample::from_snapshot(&s);
        assert_eq!(sample.values.len(), 9 + 2 * 6 + 10 * 4);
        let bytes = sample.encode();
        assert!(bytes.len() < 160, "{} bytes", bytes.len());
        assert_eq!(Sample::decode(&bytes), Some(sample.clone()));
        let shape = sample.shape;
        let power = shape.index("outlet.4.power").unwrap();
        assert_eq!(sample.values[power], s.outlet(4).unwrap().power.map(|w| w as i64));
        let volts = shape.index("source.a.voltage").unwrap();
        assert_eq!(
            sample.values[volts].unwrap() as f64 / shape.scale(volts),
            s.ats.as_ref().unwrap().sources[0].voltage.unwrap()
        );
        assert_eq!(shape.scale(shape.index("bank.1.power_factor").unwrap()), 100.0);
        assert_eq!(shape.index("outlet.11.power"), None);
    }

    #[test]
    fn a_probe_adds_temperature_and_humidity_and_older_samples_still_read() {
        let id = DeviceId::parse("t").unwrap();
        let now = tokio::time::Instant::now();
        let mut sim = SimModel::new(1, now).with_probe();
        sim.pin_probe(Some(23.4), Some(47.0));
        let s = sim.snapshot(&id, now);
        let sample = Sample::from_snapshot(&s);
        let shape = sample.shape;
        assert!(shape.probe);
        assert_eq!(sample.values.len(), 9 + 2 * 6 + 10 * 4 + 2);
        let bytes = sample.encode();
        assert_eq!(bytes[0], PROBE_MARK);
        assert_eq!(Sample::decode(&bytes), Some(sample.clone()));
        let temp = shape.index("environment.temperature").unwrap();
        let humidity = shape.index("environment.humidity").unwrap();
        assert_eq!(sample.values[temp].unwrap() as f64 / shape.scale(temp), 23.4);
        assert_eq!(sample.values[humidity].unwrap() as f64 / shape.scale(humidity), 47.0);
        // Banks and outlets sit where they sit without a probe.
        let plain = Sample::from_snapshot(&snapshot()).shape;
        assert!(plain.same_channels(shape) && plain != shape);
        assert_eq!(plain.index("outlet.10.energy"), shape.index("outlet.10.energy"));
        assert_eq!(plain.index("environment.temperature"), None);
        // A sample stored before probes were kept: no mark, read as before.
        let old = [vec![2, 10], vec![0; 8]].concat();
        let back = Sample::decode(&old).unwrap();
        assert_eq!(
            (back.shape, back.values.iter().flatten().count()),
            (Shape { banks: 2, outlets: 10, probe: false }, 0)
        );
        // A mark followed by another mark is not a sample.
        assert_eq!(Sample::decode(&[PROBE_MARK, PROBE_MARK, 10, 0]), None);
    }

    #[test]
    fn absent_readings_stay_absent_and_garbage_does_not_decode() {
        let mut s = snapshot();
        s.input.voltage = None;
        s.outlets[2].power = None;
        let sample = Sample::from_snapshot(&s);
        let back = Sample::decode(&sample.encode()).unwrap();
        assert_eq!(back.values[0], None);
        assert_eq!(back.values[back.shape.index("outlet.3.power").unwrap()], None);
        for bytes in [&[][..], &[2, 10], &[2, 10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]] {
            assert_eq!(Sample::decode(bytes), None);
        }
    }
}
