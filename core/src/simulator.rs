//! The device simulator: a fleet plan (what to provision) and devices that attach, open data
//! sessions, move bytes and send SMS through the core's real interfaces.
//!
//! Same seed, same traffic: every device has its own RNG seeded from the run's seed and its
//! index, and lives on its own simulated timeline; node answers depend only on provisioning, not
//! on timing. So the set of events a run produces is a function of (seed, SIMs, start, duration),
//! whatever the pacing, the concurrency, or how often the process was killed and re-run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;
use simledger_eventlog::catalog::{BreakoutRegion, SimStatus};
use simledger_eventlog::networks;

use crate::protocol::*;
use crate::CoreNames;

/// Home networks of the simulated cards' IMSIs (multi-IMSI cards carry the second one too).
const HOME_PLMNS: [&str; 2] = ["310240", "234150"];
/// Networks the simulated fleet's NAP allows.
const NAP_PLMNS: [(&str, &str); 8] = [
    ("310", "410"),
    ("310", "260"),
    ("234", "15"),
    ("234", "10"),
    ("262", "01"),
    ("208", "01"),
    ("302", "720"),
    ("505", "01"),
];
/// Networks devices also try that the NAP does not allow (their attaches are rejected).
const OTHER_PLMNS: [(&str, &str); 3] = [("404", "45"), ("460", "00"), ("722", "310")];

/// Most device requests awaiting an answer at once.
pub const MAX_IN_FLIGHT: usize = 256;

/// One SIM card of the plan and what its owner does with it before traffic starts.
#[derive(Debug, Clone)]
pub struct Card {
    pub index: usize,
    pub iccid: String,
    pub registration_code: String,
    pub imsis: Vec<String>,
    pub status: SimStatus,
    pub unique_name: String,
    /// IMSIs of a multi-IMSI card that the HSS is told to refuse.
    pub disallowed_imsis: Vec<String>,
}

/// Everything to provision for a simulated fleet, derived from the seed.
#[derive(Debug, Clone)]
pub struct FleetPlan {
    pub seed: u64,
    pub account_sid: String,
    pub nap_networks: Vec<String>,
    pub other_networks: Vec<String>,
    pub cards: Vec<Card>,
}

impl FleetPlan {
    pub fn generate(seed: u64, sims: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let sid = |(mcc, mnc): &(&str, &str)| networks::network_sid(mcc, mnc);
        let cards = (0..sims)
            .map(|index| {
                let multi = rng.random_bool(0.3);
                let msin = |home: &str| {
                    format!("{home}{:09}", seed.wrapping_mul(1_000_003).wrapping_add(index as u64) % 1_000_000_000)
                };
                let imsis: Vec<String> =
                    if multi { HOME_PLMNS.iter().map(|h| msin(h)).collect() } else { vec![msin(HOME_PLMNS[0])] };
                let roll: f64 = rng.random();
                let status = match roll {
                    r if r < 0.03 => SimStatus::New,
                    r if r < 0.06 => SimStatus::Inactive,
                    r if r < 0.12 => SimStatus::Ready,
                    _ => SimStatus::Active,
                };
                let disallowed_imsis = if multi && rng.random_bool(0.2) { vec![imsis[1].clone()] } else { vec![] };
                Card {
                    index,
                    iccid: format!("8988307{:012}", (seed % 1000) * 1_000_000_000 + index as u64),
                    registration_code: format!("{:010}", rng.random_range(0..10_000_000_000u64)),
                    imsis,
                    status,
                    unique_name: format!("device-{index:06}"),
                    disallowed_imsis,
                }
            })
            .collect();
        Self {
            seed,
            account_sid: format!("AC{:032x}", u128::from(seed) + 1),
            nap_networks: NAP_PLMNS.iter().map(sid).collect(),
            other_networks: OTHER_PLMNS.iter().map(sid).collect(),
            cards,
        }
    }
}

/// What a run acts out beyond ordinary traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scenario {
    #[default]
    Normal,
    /// Card `card` is stolen at `at`: from then on it attaches from another device, in another
    /// country, as soon as its current session ends.
    StolenDevice { card: usize, at: DateTime<Utc> },
}

/// The IMEI of the device a stolen card is put into.
pub const THIEFS_IMEI: &str = "490154203237518";

impl FleetPlan {
    /// The first card that is active with every IMSI allowed: one whose traffic a scenario can
    /// count on.
    pub fn first_active(&self) -> Option<usize> {
        self.cards.iter().position(|c| c.status == SimStatus::Active && c.disallowed_imsis.is_empty())
    }
}

/// How a run paces itself. Pacing changes when events happen on the wall clock, never which.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Ordinary traffic, or a scenario on top of it.
    pub scenario: Scenario,
    pub seed: u64,
    /// Simulated time of the first happening.
    pub start: DateTime<Utc>,
    /// Simulated time to cover; None runs for ever.
    pub duration: Option<Duration>,
    /// Simulated seconds per wall second; 0 runs as fast as the rate allows.
    pub speed: f64,
    /// Most requests per wall second across all devices; 0 is unlimited.
    pub rate: f64,
}

impl SimConfig {
    /// A fixed start, so runs with the same seed are identical.
    pub fn default_start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("valid date")
    }
}

/// Counters of a run, for the operator's summary line.
#[derive(Debug, Default)]
pub struct SimStats {
    pub attaches_accepted: AtomicU64,
    pub attaches_rejected: AtomicU64,
    /// Attach requests that failed at least once before the network decided them.
    pub attaches_failed: AtomicU64,
    pub sessions_opened: AtomicU64,
    pub sessions_failed: AtomicU64,
    pub usage_reports: AtomicU64,
    pub sms: AtomicU64,
    /// Datagrams devices sent to the platform from their sessions (MO IP Commands).
    pub ip_commands: AtomicU64,
    /// Per breakout region: sessions and the sum of their modelled user-plane round trips (ms).
    rtt: std::sync::Mutex<std::collections::BTreeMap<BreakoutRegion, (u64, f64)>>,
}

impl SimStats {
    fn record_rtt(&self, region: BreakoutRegion, rtt_ms: f64) {
        let mut rtt = self.rtt.lock().expect("stats lock");
        let entry = rtt.entry(region).or_default();
        entry.0 += 1;
        entry.1 += rtt_ms;
    }

    /// Per breakout region: sessions opened and their mean modelled user-plane round trip (ms),
    /// from the device's country to the region's PGW ([`crate::regions::user_plane_rtt_ms`]).
    pub fn rtt_by_region(&self) -> Vec<(BreakoutRegion, u64, f64)> {
        let rtt = self.rtt.lock().expect("stats lock");
        rtt.iter().map(|(&region, &(n, sum))| (region, n, sum / n.max(1) as f64)).collect()
    }
}

/// Spaces requests evenly at most `rate` per second across every device.
struct Pacer {
    interval: Option<StdDuration>,
    next: std::sync::Mutex<Instant>,
}

impl Pacer {
    async fn wait(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            let mut next = self.next.lock().expect("pacer lock");
            let slot = (*next).max(Instant::now());
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

#[derive(Clone)]
pub struct Simulator {
    client: async_nats::Client,
    names: CoreNames,
    config: SimConfig,
    pacer: Arc<Pacer>,
    wall_start: Instant,
    stopped: Arc<std::sync::atomic::AtomicBool>,
    /// Bounds requests in flight across devices: a closed-loop load, so an overloaded core slows
    /// the devices down instead of drowning in timeouts and retries.
    in_flight: Arc<tokio::sync::Semaphore>,
    pub stats: Arc<SimStats>,
}

impl Simulator {
    pub fn new(client: async_nats::Client, names: CoreNames, config: SimConfig) -> Self {
        let interval = (config.rate > 0.0).then(|| StdDuration::from_secs_f64(1.0 / config.rate));
        Self {
            client,
            names,
            config,
            pacer: Arc::new(Pacer { interval, next: std::sync::Mutex::new(Instant::now()) }),
            wall_start: Instant::now(),
            stopped: Arc::default(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
            stats: Arc::default(),
        }
    }

    /// Drives every card of the plan until the simulated duration is over.
    pub async fn run(&self, plan: &FleetPlan) {
        let plan = Arc::new(plan.clone());
        let devices: Vec<_> = (0..plan.cards.len())
            .map(|i| {
                let (sim, plan) = (self.clone(), plan.clone());
                tokio::spawn(simledger_cputime::metered("simulator", async move { sim.device(&plan, i).await }))
            })
            .collect();
        for d in devices {
            let _ = d.await;
        }
    }

    /// Makes every device finish its current step and stop (a benchmark's end).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// Waits until wall time catches up with simulated time `t` (at `speed`), then for a slot.
    async fn pace(&self, t: DateTime<Utc>) {
        if self.config.speed > 0.0 {
            let sim_elapsed = (t - self.config.start).num_milliseconds().max(0) as f64 / 1000.0;
            let due = self.wall_start + StdDuration::from_secs_f64(sim_elapsed / self.config.speed);
            tokio::time::sleep_until(due.into()).await;
        }
        self.pacer.wait().await;
    }

    /// Sends a request until a node answers it. Retrying is safe: the request carries its own
    /// sequence number, so a node that already handled it produces the same events again.
    async fn call<Req: Serialize, Resp: DeserializeOwned>(&self, subject: &str, req: &Req) -> Resp {
        let subject = self.names.request(subject);
        let body: bytes::Bytes = serde_json::to_vec(req).expect("requests serialize").into();
        let mut backoff = StdDuration::from_millis(50);
        let _permit = self.in_flight.acquire().await.expect("the semaphore is never closed");
        loop {
            let answer =
                tokio::time::timeout(StdDuration::from_secs(10), self.client.request(subject.clone(), body.clone()))
                    .await;
            if let Ok(Ok(msg)) = answer {
                if let Ok(resp) = serde_json::from_slice::<Resp>(&msg.payload) {
                    return resp;
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(StdDuration::from_secs(2));
        }
    }

    async fn device(&self, plan: &FleetPlan, index: usize) {
        let card = &plan.cards[index];
        let mut rng =
            ChaCha8Rng::seed_from_u64(self.config.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let end = self.config.duration.map(|d| self.config.start + d);
        let over = |t: DateTime<Utc>| end.is_some_and(|e| t >= e) || self.stopped.load(Ordering::Relaxed);
        // Datagrams draw from a stream of their own, so the rest of a seeded run is as it was.
        let mut datagrams =
            ChaCha8Rng::seed_from_u64(self.config.seed ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let own_imei = format!("35{:013}", rng.random_range(0..10_000_000_000_000u64));
        // A device lives in one country: its allowed attaches are on its home network.
        let home = rng.random_range(0..plan.nap_networks.len());
        let stolen_at = match self.config.scenario {
            Scenario::StolenDevice { card, at } if index == card => Some(at),
            _ => None,
        };
        let mut t = self.config.start + Duration::seconds(rng.random_range(0..600));
        let mut seq = 0u64;
        while !over(t) {
            let taken = stolen_at.is_some_and(|at| t >= at);
            let in_nap = rng.random_bool(0.85);
            let sid = match (taken, in_nap) {
                // Abroad, half the list away: another country than home, far enough to be seen.
                (true, _) => &plan.nap_networks[(home + plan.nap_networks.len() / 2) % plan.nap_networks.len()],
                (false, true) => &plan.nap_networks[home],
                (false, false) => &plan.other_networks[rng.random_range(0..plan.other_networks.len())],
            };
            let imei = if taken { THIEFS_IMEI.to_owned() } else { own_imei.clone() };
            let network = networks::catalog().by_sid(sid).expect("plan networks exist");
            let imsi = if card.imsis.len() > 1 && rng.random_bool(0.4) { &card.imsis[1] } else { &card.imsis[0] };
            seq += 1;
            self.pace(t).await;
            let request = AttachRequest {
                imsi: imsi.clone(),
                imei: Some(imei.clone()),
                mcc: network.mcc.clone(),
                mnc: network.mnc.clone(),
                cell_id: format!("{:07x}", rng.random_range(0..0x0fff_ffffu32)),
                lac: format!("{:04x}", rng.random_range(0..0xffffu32)),
                rat_type: if rng.random_bool(0.9) { "4G LTE".into() } else { "3G".into() },
                at: t,
                seq,
            };
            // A failed attach (the network could not decide) is tried again as it was, as a
            // device does: the failure is recorded once, the outcome once.
            let mut failed = false;
            let attach: AttachAnswer = loop {
                let answer: AttachAnswer = self.call(subjects::S1_ATTACH, &request).await;
                if !answer.failed || self.stopped.load(Ordering::Relaxed) {
                    break answer;
                }
                if !failed {
                    failed = true;
                    self.stats.attaches_failed.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(StdDuration::from_millis(200)).await;
            };
            let Some(context) = attach.context.filter(|_| attach.accepted) else {
                self.stats.attaches_rejected.fetch_add(1, Ordering::Relaxed);
                t += Duration::seconds(rng.random_range(60..900));
                continue;
            };
            self.stats.attaches_accepted.fetch_add(1, Ordering::Relaxed);
            t += Duration::seconds(rng.random_range(1..30));
            let apn = match rng.random_range(0..100) {
                0..=1 => "internet.example",
                2..=9 => "ota.super",
                _ => "super",
            };
            seq += 1;
            self.pace(t).await;
            let created: CreateSessionAnswer = self
                .call(subjects::S11_CREATE_SESSION, &CreateSessionRequest { context, apn: apn.into(), at: t, seq })
                .await;
            if created.ip_address.is_none() {
                self.stats.sessions_failed.fetch_add(1, Ordering::Relaxed);
                t += Duration::seconds(rng.random_range(60..900));
                continue;
            }
            self.stats.sessions_opened.fetch_add(1, Ordering::Relaxed);
            if let Some(rtt) = created
                .breakout_region
                .and_then(|r| Some((r, crate::regions::user_plane_rtt_ms(&network.iso_country, r)?)))
            {
                self.stats.record_rtt(rtt.0, rtt.1);
            }
            // The session's user plane: the PGW that created it (before regions: the one PGW).
            let user_plane = |operation: &str, legacy: &str| match &created.pgw {
                Some(node) => subjects::pgw::subject(node, operation),
                None => legacy.to_owned(),
            };
            let (usage_subject, uplink_subject, delete_subject) = (
                user_plane(subjects::pgw::USAGE, subjects::S11_USAGE),
                user_plane(subjects::pgw::UPLINK, subjects::SGI_UPLINK),
                user_plane(subjects::pgw::DELETE_SESSION, subjects::S11_DELETE_SESSION),
            );
            let mut session_end = t + Duration::minutes(rng.random_range(10..90));
            if let Some(e) = end {
                session_end = session_end.min(e);
            }
            // The owner's last session ends when the card is taken.
            if let Some(at) = stolen_at.filter(|at| t < *at) {
                session_end = session_end.min(at).max(t + Duration::seconds(1));
            }
            let mut report_seq = 0;
            loop {
                // Counters sampled every 3 to 7 minutes against the PGW's 6-minute windows.
                let step = Duration::seconds(rng.random_range(180..420));
                if t + step >= session_end {
                    break;
                }
                t += step;
                report_seq += 1;
                self.pace(t).await;
                let usage: UsageAnswer = self
                    .call(
                        &usage_subject,
                        &UsageReport {
                            data_session_sid: created.data_session_sid.clone(),
                            report_seq,
                            at: t,
                            upload: rng.random_range(0..20_000),
                            download: rng.random_range(0..120_000),
                        },
                    )
                    .await;
                self.stats.usage_reports.fetch_add(1, Ordering::Relaxed);
                if usage.unknown_session {
                    break;
                }
                // Now and then the device reports to its fleet's IpCommandsUrl from its session.
                if datagrams.random_bool(0.05) {
                    let uplink = Uplink {
                        imsi: imsi.clone(),
                        device_port: 5683,
                        payload_type: "text".into(),
                        payload: format!("{{\"battery\":{}}}", datagrams.random_range(5..100)),
                        at: t,
                        seq: report_seq,
                    };
                    let _: UplinkAnswer = self.call(&uplink_subject, &uplink).await;
                    self.stats.ip_commands.fetch_add(1, Ordering::Relaxed);
                }
            }
            t = session_end.max(t + Duration::seconds(1));
            self.pace(t).await;
            let _: DeleteSessionAnswer = self
                .call(&delete_subject, &DeleteSessionRequest { data_session_sid: created.data_session_sid, at: t })
                .await;
            if rng.random_bool(0.2) && !over(t) {
                seq += 1;
                t += Duration::seconds(5);
                self.pace(t).await;
                let _: SmsAnswer = self
                    .call(
                        subjects::SMSC_SUBMIT,
                        &SmsSubmit {
                            direction: "from_sim".into(),
                            imsi: imsi.clone(),
                            payload: format!("{{\"temp\":{:.1}}}", rng.random_range(-10.0..40.0f64)),
                            at: t,
                            seq,
                            sms_command_sid: None,
                        },
                    )
                    .await;
                self.stats.sms.fetch_add(1, Ordering::Relaxed);
            }
            let rested = t;
            t += Duration::minutes(rng.random_range(5..60));
            if let Some(at) = stolen_at.filter(|at| t > *at && session_end <= *at) {
                // The thief puts the card to use at once.
                t = at.max(rested + Duration::seconds(1));
            }
        }
    }
}
