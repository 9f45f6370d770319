//! The eSIM installer: a profile the SM-DP+ reports installed becomes a SIM of the profile's
//! account (`sim.provisioned` and `sim.registered`, status `new`), which the account then
//! activates like any other.
//!
//! It decides from its own tables, not from what the installed event claims: the profiles
//! `esim_profile.created` reserved, and every ICCID and IMSI a SIM already holds. A report that
//! names another account, ICCID, SIM or IMSI than the reservation, a profile already installed
//! or failed, or one whose ICCID or IMSI is already a SIM's (which would take the IMSI from its
//! SIM in the HSS), makes no SIM. Decisions' ids are
//! derived from the installed event, so a crash and a re-run append nothing twice.

use simledger_eventlog::catalog::{EsimProfileProgress, SimProvisioned, SimRegistered, SimSid, SimStatus};
use simledger_eventlog::checkpoint::{ApplyError, Subscriber};
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent, RecordedEvent};
use sqlx::PgConnection;
use uuid::Uuid;

pub const NAME: &str = "esim_installs";

/// A SIM made from a profile is registered, never registrable again by a code: this stored
/// hash matches no registration code.
pub const NO_REGISTRATION_CODE: &str = "esim-profile$none";

/// The reservation the installer holds a report to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Reservation {
    pub account_sid: String,
    pub iccid: String,
    pub sim_sid: String,
    pub imsis: Vec<String>,
    pub installed: bool,
    pub failed: bool,
}

/// What an installed report decides, given the reservation (pure): the two events that make
/// the SIM, or nothing.
pub fn decide(reservation: Option<&Reservation>, taken: bool, report: &EsimProfileProgress) -> Option<[Event; 2]> {
    let r = reservation.filter(|r| !r.installed && !r.failed && !taken)?;
    let sim_sid = report.sim_sid.as_ref()?;
    let agrees = r.account_sid == report.account_sid
        && r.iccid == report.iccid
        && r.sim_sid == sim_sid.as_str()
        && r.imsis == report.imsis;
    if !agrees {
        return None;
    }
    Some([
        Event::SimProvisioned(SimProvisioned {
            sim_sid: sim_sid.clone(),
            iccid: r.iccid.clone(),
            registration_code_hash: NO_REGISTRATION_CODE.into(),
            imsis: r.imsis.clone(),
        }),
        Event::SimRegistered(SimRegistered {
            sim_sid: sim_sid.clone(),
            account_sid: r.account_sid.clone(),
            iccid: r.iccid.clone(),
            status: SimStatus::New,
            fleet_sid: None,
            unique_name: None,
        }),
    ])
}

/// A SIM's ICCID and IMSIs: what two SIMs may never share.
fn identities<'a>(iccid: &'a str, imsis: &'a [String]) -> Vec<&'a str> {
    std::iter::once(iccid).chain(imsis.iter().map(String::as_str)).collect()
}

async fn mark_taken(tx: &mut PgConnection, values: &[&str]) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO esim_installer_taken (value) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING")
        .bind(values)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The id of the `n`th decision caused by `cause`.
pub fn decision_id(cause: Uuid, n: u8) -> Uuid {
    Uuid::new_v5(&cause, format!("simledger-esim-install:{n}").as_bytes())
}

#[derive(Clone)]
pub struct EsimInstaller {
    log: EventLog,
}

impl EsimInstaller {
    pub fn new(log: EventLog) -> Self {
        Self { log }
    }
}

impl Subscriber for EsimInstaller {
    fn name(&self) -> &str {
        NAME
    }

    async fn apply(&mut self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        let mut decisions = Vec::new();
        for e in events {
            match &e.event {
                Event::EsimProfileCreated(p) => {
                    sqlx::query(
                        "INSERT INTO esim_installer_profiles (esim_profile_sid, account_sid, iccid, sim_sid, imsis) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (esim_profile_sid) DO NOTHING",
                    )
                    .bind(&p.esim_profile_sid)
                    .bind(&p.account_sid)
                    .bind(&p.iccid)
                    .bind(p.sim_sid().as_str())
                    .bind(p.imsis())
                    .execute(&mut *tx)
                    .await?;
                }
                Event::SimProvisioned(p) => mark_taken(tx, &identities(&p.iccid, &p.imsis)).await?,
                Event::EsimProfileFailed(report) => {
                    sqlx::query(
                        "UPDATE esim_installer_profiles SET failed = true WHERE esim_profile_sid = $1 AND NOT installed",
                    )
                    .bind(&report.esim_profile_sid)
                    .execute(&mut *tx)
                    .await?;
                }
                Event::EsimProfileInstalled(report) => {
                    let reservation: Option<Reservation> = sqlx::query_as(
                        "SELECT account_sid, iccid, sim_sid, imsis, installed, failed FROM esim_installer_profiles \
                         WHERE esim_profile_sid = $1",
                    )
                    .bind(&report.esim_profile_sid)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let taken = match &reservation {
                        Some(r) => {
                            sqlx::query_scalar::<_, bool>(
                                "SELECT EXISTS (SELECT 1 FROM esim_installer_taken WHERE value = ANY($1))",
                            )
                            .bind(identities(&r.iccid, &r.imsis))
                            .fetch_one(&mut *tx)
                            .await?
                        }
                        None => false,
                    };
                    let Some(made) = decide(reservation.as_ref(), taken, report) else {
                        tracing::warn!(profile = %report.esim_profile_sid, position = e.position,
                            "an installation report that does not match its reservation makes no SIM");
                        continue;
                    };
                    sqlx::query("UPDATE esim_installer_profiles SET installed = true WHERE esim_profile_sid = $1")
                        .bind(&report.esim_profile_sid)
                        .execute(&mut *tx)
                        .await?;
                    // Taken now, not when the SIM's own `sim.provisioned` comes by: a second report
                    // in the same batch must already see them.
                    mark_taken(tx, &identities(&report.iccid, &report.imsis)).await?;
                    let sim_sid: SimSid = report.sim_sid.clone().expect("decide checked it");
                    let meta = Metadata::from_source(NAME).with_account(report.account_sid.clone());
                    for (n, event) in made.iter().enumerate() {
                        let id = decision_id(e.event_id, n as u8);
                        decisions.push(NewEvent::new(id, format!("sim-{sim_sid}"), event, &meta)?);
                    }
                }
                _ => {}
            }
        }
        if !decisions.is_empty() {
            self.log.append(decisions, ExpectedVersion::Any).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn reservation() -> Reservation {
        Reservation {
            account_sid: "AC00000000000000000000000000000001".into(),
            iccid: "8988307000000123456".into(),
            sim_sid: SimSid::numbered(7).to_string(),
            imsis: vec!["901700000123456".into()],
            installed: false,
            failed: false,
        }
    }

    fn report() -> EsimProfileProgress {
        EsimProfileProgress {
            esim_profile_sid: "HP00000000000000000000000000000001".into(),
            account_sid: "AC00000000000000000000000000000001".into(),
            iccid: "8988307000000123456".into(),
            eid: "89049032000000000000000000000001".into(),
            sim_sid: Some(SimSid::numbered(7)),
            imsis: vec!["901700000123456".into()],
            error_code: None,
            error_message: None,
            timestamp: Utc::now(),
        }
    }

    #[test]
    fn given_a_reservation_when_its_profile_is_installed_then_a_new_sim_of_its_account_is_made() {
        let [provisioned, registered] = decide(Some(&reservation()), false, &report()).expect("a SIM");
        let Event::SimProvisioned(p) = provisioned else { panic!("provisioned first") };
        assert_eq!(
            (p.iccid.as_str(), p.imsis.as_slice()),
            ("8988307000000123456", &["901700000123456".to_owned()][..])
        );
        let Event::SimRegistered(r) = registered else { panic!("then registered") };
        assert_eq!(r.account_sid, "AC00000000000000000000000000000001");
        assert_eq!(r.status, SimStatus::New);
        assert_eq!(r.sim_sid, SimSid::numbered(7));
    }

    #[test]
    fn given_no_reservation_or_one_already_installed_or_failed_then_nothing_is_made() {
        assert!(decide(None, false, &report()).is_none());
        let done = Reservation { installed: true, ..reservation() };
        assert!(decide(Some(&done), false, &report()).is_none());
        let failed = Reservation { failed: true, ..reservation() };
        assert!(decide(Some(&failed), false, &report()).is_none());
    }

    #[test]
    fn given_an_iccid_or_imsi_already_a_sims_then_nothing_is_made() {
        assert!(decide(Some(&reservation()), true, &report()).is_none());
    }

    #[test]
    fn given_a_report_that_disagrees_with_the_reservation_then_nothing_is_made() {
        let r = reservation();
        let other_account =
            EsimProfileProgress { account_sid: "AC00000000000000000000000000000002".into(), ..report() };
        let other_imsi = EsimProfileProgress { imsis: vec!["234150000000001".into()], ..report() };
        let other_sim = EsimProfileProgress { sim_sid: Some(SimSid::numbered(8)), ..report() };
        let no_sim = EsimProfileProgress { sim_sid: None, ..report() };
        for bad in [other_account, other_imsi, other_sim, no_sim] {
            assert!(decide(Some(&r), false, &bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn decision_ids_follow_from_the_cause() {
        let cause = Uuid::new_v4();
        assert_eq!(decision_id(cause, 0), decision_id(cause, 0));
        assert_ne!(decision_id(cause, 0), decision_id(cause, 1));
        assert_ne!(decision_id(cause, 0), decision_id(Uuid::new_v4(), 0));
    }
}
