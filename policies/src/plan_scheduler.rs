//! The billing plan scheduler: a decider driven by the clock. Every second it appends the
//! `billing.plan_fired` events that are due for the plan bindings the `billing` fold keeps,
//! with ids derived from the binding and the moment, so a restarted (or second) scheduler
//! appends none twice and misses none; the `billing` fold runs the plan's actions when it reads
//! the firing.

use chrono::{DateTime, Utc};
use simledger_eventlog::catalog::BillingPlanFired;
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
use simledger_projections::ApplyError;
use uuid::Uuid;

/// A plan binding as the scheduler reads it: tenant, plan, account, timing index, anchor, last
/// applied firing, and the plan's definition.
type BindingRow = (String, String, String, i32, DateTime<Utc>, Option<DateTime<Utc>>, serde_json::Value);

/// Appends every plan firing due by `now` that has not been applied: each binding's firings
/// after its last applied one, in order, with ids derived from the binding and the moment, so
/// a restarted (or second) scheduler appends none twice and misses none. At most `per_binding`
/// firings per binding per call (a long outage catches up over several calls).
pub async fn fire_due_plans(log: &EventLog, now: DateTime<Utc>, per_binding: usize) -> Result<usize, ApplyError> {
    Ok(fire(log, now, per_binding, None).await?.0)
}

/// [`fire_due_plans`] for one account's bindings only: what `SetAccount` runs at once, so that
/// a plan's `*asap` actions are applied before it answers, as CGrateS's are. The firings have
/// the scheduler's ids, so it appends none of them again. Returns the log position of the last
/// firing appended, if any.
pub async fn fire_due_plans_of(
    log: &EventLog,
    tenant: &str,
    account: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>, ApplyError> {
    Ok(fire(log, now, 1, Some((tenant, account))).await?.1)
}

/// The firings due, appended: how many, and the position of the last.
async fn fire(
    log: &EventLog,
    now: DateTime<Utc>,
    per_binding: usize,
    only: Option<(&str, &str)>,
) -> Result<(usize, Option<i64>), ApplyError> {
    let (tenant, account) = only.unzip();
    let rows: Vec<BindingRow> = sqlx::query_as(
        // A binding's plan: the tenant's own of the ID, else the global one.
        "SELECT b.tenant, b.plan_id, b.account, b.timing_index, b.anchor, b.last_fired, c.doc \
             FROM billing_plan_bindings b CROSS JOIN LATERAL ( \
               SELECT doc FROM billing_catalog c WHERE c.kind = 'plan' AND c.id = b.plan_id \
               AND c.tenant IN (b.tenant, $3) ORDER BY c.tenant = b.tenant DESC LIMIT 1) c \
             WHERE $1::text IS NULL OR (b.tenant = $1 AND b.account = $2)",
    )
    .bind(tenant)
    .bind(account)
    .bind(simledger_billing::GLOBAL_TENANT)
    .fetch_all(log.pool())
    .await?;
    let mut firings = Vec::new();
    for (tenant, plan_id, account, index, anchor, last_fired, doc) in rows {
        let plan: simledger_billing::ActionPlan = serde_json::from_value(doc)?;
        let Some(timing) = plan.timings.get(index as usize) else { continue };
        let mut after = last_fired.unwrap_or(anchor - chrono::Duration::nanoseconds(1));
        for _ in 0..per_binding {
            let Some(at) = timing.timing.next(anchor, after) else { break };
            if at > now {
                break;
            }
            let fired = Event::BillingPlanFired(BillingPlanFired {
                tenant: tenant.clone(),
                plan_id: plan_id.clone(),
                account: account.clone(),
                timing_index: index,
                actions_id: timing.actions_id.clone(),
                at,
            });
            let key = format!(
                "simledger-plan:{tenant}:{plan_id}:{account}:{index}:{}",
                at.timestamp_nanos_opt().unwrap_or(0)
            );
            let id = Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes());
            let meta = Metadata::from_source("billing-scheduler").with_account(tenant.clone());
            firings.push((at, timing.weight, NewEvent::new(id, format!("billing-{tenant}-{account}"), &fired, &meta)?));
            after = at;
        }
    }
    // Earlier firings first; at the same moment, heavier timings first.
    firings.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let count = firings.len();
    let mut last = None;
    if count > 0 {
        let appended = log.append(firings.into_iter().map(|(_, _, e)| e).collect(), ExpectedVersion::Any).await?;
        last = appended.last().map(|a| a.position);
    }
    Ok((count, last))
}

/// Runs [`fire_due_plans`] every second, for ever.
pub fn spawn(log: EventLog) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = fire_due_plans(&log, Utc::now(), 100).await {
                tracing::warn!(error = %simledger_eventlog::error::cause_chain(&e), "billing plan scheduler");
            }
        }
    })
}
