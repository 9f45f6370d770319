//! The data-limit rule as a pure decider: given a SIM's period and its fleet's rule, what a
//! cause (usage, a changed rule, the period's end) decides, and the state after it. No
//! database: the enforcer feeds it from the log, and the tests below state it given/when/then.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Bytes in one `DataLimit` megabyte (SI, as carriers bill).
pub const BYTES_PER_MB: i64 = 1_000_000;

/// A fleet's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub limit_bytes: i64,
    pub data_enabled: bool,
}

impl Rule {
    /// The rule of a fleet with `DataLimit` = `data_limit_mb`.
    pub fn of_fleet(data_limit_mb: i64, data_enabled: bool) -> Self {
        Self { limit_bytes: data_limit_mb.saturating_mul(BYTES_PER_MB), data_enabled }
    }
}

/// One billing period of one SIM, as the enforcer knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Period {
    pub used_bytes: i64,
    pub blocked: bool,
    /// Decisions taken in this period so far: numbers the next one's event id.
    pub decisions: i32,
}

/// Why a SIM was blocked or unblocked: the `reason` of `sim.data_limit_reached`/`cleared`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    DataLimit,
    DataDisabled,
    LimitChanged,
    DataEnabled,
    FleetChanged,
    NewBillingPeriod,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::DataLimit => "data_limit",
            Reason::DataDisabled => "data_disabled",
            Reason::LimitChanged => "limit_changed",
            Reason::DataEnabled => "data_enabled",
            Reason::FleetChanged => "fleet_changed",
            Reason::NewBillingPeriod => "new_billing_period",
        }
    }
}

/// What happened to a SIM's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A usage window of this many bytes.
    Usage(i64),
    /// The SIM's rule changed (a new fleet, a new limit, data switched); the reason a
    /// resulting unblock gives.
    RuleChanged(Reason),
    /// The period ended.
    PeriodEnded,
}

/// A decision: block (`reached`) or unblock (`cleared`), and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub block: bool,
    pub reason: Reason,
}

/// What `cause` decides for a period under `rule` (`None`: the SIM has no fleet, nothing to
/// enforce). `None` when the period's state is right already.
pub fn decide(period: &Period, rule: Option<Rule>, cause: Cause) -> Option<Verdict> {
    let (used, clear_reason) = match cause {
        Cause::Usage(bytes) => (period.used_bytes.saturating_add(bytes), Reason::DataLimit),
        Cause::RuleChanged(reason) => (period.used_bytes, reason),
        Cause::PeriodEnded => {
            return period.blocked.then_some(Verdict { block: false, reason: Reason::NewBillingPeriod });
        }
    };
    let over = rule.is_some_and(|r| used > r.limit_bytes);
    let disabled = rule.is_some_and(|r| !r.data_enabled);
    let block = over || disabled;
    if block == period.blocked {
        return None;
    }
    let reason = match (block, disabled) {
        (true, true) => Reason::DataDisabled,
        (true, false) => Reason::DataLimit,
        (false, _) => clear_reason,
    };
    Some(Verdict { block, reason })
}

/// The period after `cause` and the verdict it gave.
pub fn evolve(period: Period, cause: Cause, verdict: Option<Verdict>) -> Period {
    let mut next = period;
    if let Cause::Usage(bytes) = cause {
        next.used_bytes = next.used_bytes.saturating_add(bytes);
    }
    if let Some(v) = verdict {
        next.blocked = v.block;
        next.decisions += 1;
    }
    next
}

/// The event id of the `n`th decision in a SIM's period: the same for a re-run after a crash
/// (the log stores it once), and unchanged since the first release, so an upgrade re-decides
/// nothing.
pub fn decision_id(sim_sid: &str, period_start: DateTime<Utc>, n: i32) -> Uuid {
    let key = format!("simledger-limits:{sim_sid}:{}:{n}", period_start.timestamp_millis());
    Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE_MB: Option<Rule> = Some(Rule { limit_bytes: BYTES_PER_MB, data_enabled: true });

    fn given(used_bytes: i64, blocked: bool) -> Period {
        Period { used_bytes, blocked, decisions: blocked as i32 }
    }

    fn then(period: Period, rule: Option<Rule>, cause: Cause) -> (Option<Verdict>, Period) {
        let verdict = decide(&period, rule, cause);
        (verdict, evolve(period, cause, verdict))
    }

    #[test]
    fn usage_that_crosses_the_limit_blocks_once() {
        let (verdict, after) = then(given(600_000, false), ONE_MB, Cause::Usage(600_000));
        assert_eq!(verdict, Some(Verdict { block: true, reason: Reason::DataLimit }));
        assert_eq!(after, Period { used_bytes: 1_200_000, blocked: true, decisions: 1 });
        // Bytes in flight when the block came are counted and decide nothing more.
        let (verdict, after) = then(after, ONE_MB, Cause::Usage(50_000));
        assert_eq!(verdict, None);
        assert_eq!(after.used_bytes, 1_250_000);
    }

    #[test]
    fn usage_up_to_the_limit_is_allowed() {
        assert_eq!(then(given(0, false), ONE_MB, Cause::Usage(BYTES_PER_MB)).0, None);
    }

    #[test]
    fn a_sim_without_a_fleet_is_never_blocked() {
        assert_eq!(then(given(0, false), None, Cause::Usage(i64::MAX)).0, None);
    }

    #[test]
    fn a_raised_limit_unblocks_with_the_reason_given() {
        let raised = Some(Rule::of_fleet(5, true));
        let (verdict, after) = then(given(1_200_000, true), raised, Cause::RuleChanged(Reason::LimitChanged));
        assert_eq!(verdict, Some(Verdict { block: false, reason: Reason::LimitChanged }));
        assert_eq!((after.blocked, after.decisions, after.used_bytes), (false, 2, 1_200_000));
    }

    #[test]
    fn a_lowered_limit_blocks_at_once() {
        let lowered = Some(Rule::of_fleet(1, true));
        let verdict = decide(&given(1_200_000, false), lowered, Cause::RuleChanged(Reason::LimitChanged));
        assert_eq!(verdict, Some(Verdict { block: true, reason: Reason::DataLimit }));
    }

    #[test]
    fn data_disabled_blocks_even_under_the_limit_and_re_enabled_clears() {
        let off = Some(Rule::of_fleet(100, false));
        let (verdict, after) = then(given(1000, false), off, Cause::RuleChanged(Reason::LimitChanged));
        assert_eq!(verdict, Some(Verdict { block: true, reason: Reason::DataDisabled }));
        let on = Some(Rule::of_fleet(100, true));
        let (verdict, _) = then(after, on, Cause::RuleChanged(Reason::DataEnabled));
        assert_eq!(verdict, Some(Verdict { block: false, reason: Reason::DataEnabled }));
    }

    #[test]
    fn a_new_period_clears_a_blocked_one_and_leaves_others_alone() {
        assert_eq!(
            decide(&given(2_000_000, true), ONE_MB, Cause::PeriodEnded),
            Some(Verdict { block: false, reason: Reason::NewBillingPeriod })
        );
        assert_eq!(decide(&given(2_000, false), ONE_MB, Cause::PeriodEnded), None);
    }

    #[test]
    fn a_huge_limit_or_usage_saturates_rather_than_overflowing() {
        let huge = Some(Rule::of_fleet(i64::MAX, true));
        assert_eq!(decide(&given(i64::MAX - 1, false), huge, Cause::Usage(i64::MAX)), None);
    }

    #[test]
    fn decision_ids_are_those_the_log_already_holds() {
        let start = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
        let id = decision_id("HS00000000000000000000000000000001", start, 0);
        // The key the enforcer has always used; a change would decide every block again.
        let key = "simledger-limits:HS00000000000000000000000000000001:1700000000000:0";
        assert_eq!(id, Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes()));
        assert_ne!(id, decision_id("HS00000000000000000000000000000001", start, 1));
    }
}
