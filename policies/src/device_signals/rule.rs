//! The device-signal rule, pure: what one observation of a SIM (an attach accepted or refused,
//! a data window) says about it given what came before, and the state after it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use simledger_eventlog::catalog::DeviceSignal;

use simledger_eventlog::places;

/// Rejected attaches are counted in windows this long.
pub const STORM_WINDOW: Duration = Duration::minutes(10);
/// A window below this many bytes is never a spike, whatever the baseline.
pub const SPIKE_FLOOR_BYTES: i64 = 1_000_000;
/// Windows seen before a baseline counts.
pub const BASELINE_WINDOWS: i64 = 5;
/// At most one spike signal per SIM in this long.
pub const SPIKE_QUIET: Duration = Duration::hours(1);
/// Faster than an airliner is impossible travel; capitals stand for whole countries, so this
/// much distance is forgiven (a border crossing is never a signal).
pub const TRAVEL_KMH: f64 = 1000.0;
pub const TRAVEL_SLACK_KM: f64 = 1000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub usage_spike_factor: i64,
    pub attach_storm_rejections: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        use simledger_eventlog::catalog::FleetSignalPolicySet as P;
        Self {
            usage_spike_factor: P::DEFAULT_USAGE_SPIKE_FACTOR,
            attach_storm_rejections: P::DEFAULT_ATTACH_STORM_REJECTIONS,
        }
    }
}

/// What the decider remembers of a SIM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimState {
    pub last_imei: Option<String>,
    pub last_country: Option<String>,
    pub last_attach_at: Option<DateTime<Utc>>,
    /// A moving average of the SIM's bytes per data window (spikes left out).
    pub baseline_bytes: i64,
    pub windows: i64,
    pub last_spike_at: Option<DateTime<Utc>>,
    pub storm_start: Option<DateTime<Utc>>,
    pub storm_count: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation<'a> {
    Attached { imei: Option<&'a str>, country: &'a str, at: DateTime<Utc> },
    Refused { at: DateTime<Utc> },
    Window { bytes: i64, at: DateTime<Utc> },
}

/// The signals `obs` raises, each with what was seen; `state` moves on.
pub fn step(state: &mut SimState, obs: Observation, t: &Thresholds) -> Vec<(DeviceSignal, String)> {
    let mut raised = Vec::new();
    match obs {
        Observation::Attached { imei, country, at } => {
            if let (Some(before), Some(now)) = (state.last_imei.as_deref(), imei) {
                if before != now {
                    raised.push((DeviceSignal::ImeiChanged, format!("{before} → {now}")));
                }
            }
            if let (Some(before), Some(then)) = (state.last_country.as_deref(), state.last_attach_at) {
                if let Some(km) = places::distance_km(before, country).filter(|_| before != country && at >= then) {
                    let hours = (at - then).num_seconds() as f64 / 3600.0;
                    if hours < (km - TRAVEL_SLACK_KM).max(0.0) / TRAVEL_KMH {
                        raised.push((
                            DeviceSignal::ImpossibleTravel,
                            format!("{before} → {country}: {km:.0} km in {:.0} minutes", hours * 60.0),
                        ));
                    }
                }
            }
            if let Some(imei) = imei {
                state.last_imei = Some(imei.to_owned());
            }
            if !country.is_empty() && state.last_attach_at.is_none_or(|then| at >= then) {
                state.last_country = Some(country.to_owned());
                state.last_attach_at = Some(at);
            }
        }
        Observation::Refused { at } => {
            match state.storm_start {
                Some(start) if at >= start && at - start <= STORM_WINDOW => state.storm_count += 1,
                _ => {
                    state.storm_start = Some(at);
                    state.storm_count = 1;
                }
            }
            if state.storm_count == t.attach_storm_rejections {
                raised.push((
                    DeviceSignal::AttachStorm,
                    format!("{} rejected attaches within 10 minutes", state.storm_count),
                ));
            }
        }
        Observation::Window { bytes, at } => {
            let bytes = bytes.max(0);
            let quiet = state.last_spike_at.is_none_or(|last| at - last >= SPIKE_QUIET);
            let spike = state.windows >= BASELINE_WINDOWS
                && bytes > SPIKE_FLOOR_BYTES
                && bytes > state.baseline_bytes.max(1).saturating_mul(t.usage_spike_factor);
            if spike {
                if quiet {
                    raised.push((
                        DeviceSignal::UsageSpike,
                        format!("{bytes} bytes in a window against a baseline of {}", state.baseline_bytes),
                    ));
                    state.last_spike_at = Some(at);
                }
            } else {
                state.baseline_bytes =
                    if state.windows == 0 { bytes } else { state.baseline_bytes + (bytes - state.baseline_bytes) / 5 };
                state.windows += 1;
            }
        }
    }
    raised
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHONE: &str = "356938035643809";
    const OTHER_PHONE: &str = "490154203237518";

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn kinds(raised: Vec<(DeviceSignal, String)>) -> Vec<DeviceSignal> {
        raised.into_iter().map(|(k, _)| k).collect()
    }

    fn attached(s: &mut SimState, imei: &str, country: &str, minutes: i64) -> Vec<DeviceSignal> {
        kinds(step(s, Observation::Attached { imei: Some(imei), country, at: at(minutes) }, &Thresholds::default()))
    }

    #[test]
    fn given_a_sim_seen_in_one_device_when_it_attaches_from_another_then_imei_changed() {
        let mut s = SimState::default();
        assert!(attached(&mut s, PHONE, "GB", 0).is_empty());
        assert!(attached(&mut s, PHONE, "GB", 60).is_empty(), "the same device again");
        assert_eq!(attached(&mut s, OTHER_PHONE, "GB", 120), [DeviceSignal::ImeiChanged]);
        assert!(attached(&mut s, OTHER_PHONE, "GB", 180).is_empty(), "raised once, on the change");
    }

    #[test]
    fn given_an_attach_in_london_then_new_york_half_an_hour_later_is_impossible_and_a_day_later_is_not() {
        let mut s = SimState::default();
        attached(&mut s, PHONE, "GB", 0);
        assert_eq!(attached(&mut s, PHONE, "US", 30), [DeviceSignal::ImpossibleTravel]);
        let mut s = SimState::default();
        attached(&mut s, PHONE, "GB", 0);
        assert!(attached(&mut s, PHONE, "US", 24 * 60).is_empty());
    }

    #[test]
    fn given_neighbouring_countries_or_unknown_ones_then_no_travel_signal() {
        let mut s = SimState::default();
        attached(&mut s, PHONE, "DE", 0);
        assert!(attached(&mut s, PHONE, "NL", 1).is_empty(), "a border is crossed in a minute");
        assert!(attached(&mut s, PHONE, "XX", 2).is_empty(), "no place known");
    }

    #[test]
    fn given_rejections_then_the_storm_is_raised_once_when_the_threshold_is_reached_within_the_window() {
        let t = Thresholds { attach_storm_rejections: 3, ..Thresholds::default() };
        let mut s = SimState::default();
        let refused = |s: &mut SimState, m| kinds(step(s, Observation::Refused { at: at(m) }, &t));
        assert!(refused(&mut s, 0).is_empty());
        assert!(refused(&mut s, 1).is_empty());
        assert_eq!(refused(&mut s, 2), [DeviceSignal::AttachStorm]);
        assert!(refused(&mut s, 3).is_empty(), "once per window");
        // Spread out, the same number is no storm.
        let mut s = SimState::default();
        for m in [0, 11, 22, 33] {
            assert!(refused(&mut s, m).is_empty());
        }
    }

    #[test]
    fn given_a_steady_baseline_then_a_window_ten_times_over_is_a_spike_and_an_hour_must_pass_for_another() {
        let t = Thresholds::default();
        let mut s = SimState::default();
        let window = |s: &mut SimState, bytes, m| kinds(step(s, Observation::Window { bytes, at: at(m) }, &t));
        for m in 0..5 {
            assert!(window(&mut s, 200_000, m * 6).is_empty(), "learning the baseline");
        }
        assert!(window(&mut s, 1_500_000, 30).is_empty(), "7.5 times: not a spike");
        assert_eq!(window(&mut s, 5_000_000, 36), [DeviceSignal::UsageSpike]);
        assert!(window(&mut s, 5_000_000, 42).is_empty(), "quiet for an hour");
        assert_eq!(window(&mut s, 50_000_000, 100), [DeviceSignal::UsageSpike]);
    }

    #[test]
    fn given_too_little_history_or_tiny_windows_then_no_spike() {
        let t = Thresholds::default();
        let mut s = SimState::default();
        let window = |s: &mut SimState, bytes, m| kinds(step(s, Observation::Window { bytes, at: at(m) }, &t));
        assert!(window(&mut s, 1_000, 0).is_empty());
        assert!(window(&mut s, 90_000_000, 6).is_empty(), "one window is no baseline");
        let mut s = SimState::default();
        for m in 0..5 {
            window(&mut s, 10, m);
        }
        assert!(window(&mut s, 900_000, 6).is_empty(), "under the floor");
    }
}
