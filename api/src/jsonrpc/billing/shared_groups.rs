//! Shared groups: `APIerSv1.SetTPSharedGroups` + `LoadTariffPlanFromStorDb`, and
//! `APIerSv1.GetSharedGroup`. A balance in a group is drawn on by every account of the tenant
//! holding a balance in it; the members are always the caller's tenant's accounts, even when
//! the group's definition is the operator's global one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use simledger_billing::shared_group::{SharedGroup, SharingParameters, Strategy};

use crate::jsonrpc::{ok, params, require, Call, Reply, RpcError};

/// One row of CGrateS's `TPSharedGroups.SharedGroups`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct TpSharedGroup {
    #[serde(default)]
    account: String,
    #[serde(default)]
    strategy: String,
    #[serde(default)]
    rating_subject: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SetTpSharedGroupsParams {
    #[serde(rename = "TPid", default)]
    tpid: String,
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(default)]
    shared_groups: Vec<TpSharedGroup>,
}

pub async fn set_tp_shared_groups(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: SetTpSharedGroupsParams = params(p)?;
    require(&[
        ("TPid", !args.tpid.is_empty()),
        ("ID", !args.id.is_empty()),
        ("SharedGroups", !args.shared_groups.is_empty()),
    ])?;
    let mut account_parameters = BTreeMap::new();
    for row in args.shared_groups {
        let strategy = Strategy::parse(&row.strategy).map_err(RpcError::server)?;
        // An empty account is every account, as `*any`.
        let account = if row.account.is_empty() { "*any".to_owned() } else { row.account };
        account_parameters.insert(account, SharingParameters { strategy, rating_subject: row.rating_subject });
    }
    let group = SharedGroup { id: args.id, account_parameters };
    let tenant = call.definition_tenant(None)?;
    call.state.commands.billing_stage_shared_group(&tenant, &args.tpid, group).await?;
    ok(&"OK")
}

/// CGrateS's `SharedGroup` as `GetSharedGroup` writes it; `MemberIds` are `tenant:account`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct SharedGroupReply {
    id: String,
    account_parameters: BTreeMap<String, SharingParameters>,
    member_ids: BTreeMap<String, bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SharedGroupRef {
    #[serde(rename = "ID", alias = "SharedGroupId", default)]
    id: String,
    #[serde(default)]
    tenant: String,
}

/// Takes the group's ID as a bare string, as CGrateS does, or as `{"ID": …}`.
pub async fn get_shared_group(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let (id, requested) = match params::<String>(p) {
        Ok(id) => (id, String::new()),
        Err(_) => {
            let r = params::<SharedGroupRef>(p)?;
            (r.id, r.tenant)
        }
    };
    if id.is_empty() {
        return Err(RpcError::missing(&["ID"]));
    }
    let tenant = call.definition_tenant(Some(&requested))?;
    let pool = call.state.pool();
    let catalog = simledger_policies::billing::read::catalog(pool, &tenant).await?;
    let group = catalog.shared_groups.get(&id).ok_or_else(RpcError::not_found)?;
    // A global group's members are each tenant's own: the operator sees every tenant's.
    let members = simledger_policies::billing::read::shared_group_members(pool, &tenant, &id).await?;
    ok(&SharedGroupReply {
        id: group.id.clone(),
        account_parameters: group.account_parameters.clone(),
        member_ids: members.into_iter().map(|(t, a)| (format!("{t}:{a}"), true)).collect(),
    })
}
