//! `/operator`: simledger's own endpoints for the operator (not Twilio's). They need an account
//! created with `simledger account create --operator`.
//!
//! - `POST /operator/Accounts` (`FriendlyName`, `Role`): a customer account and its auth token.
//! - `POST /operator/Accounts/{AccountSid}/Keys` (`FriendlyName`): an API key and its secret.
//! - `POST /operator/Inventory` (`Iccid`, `RegistrationCode`, `Imsi` repeated): one SIM card.
//! - `POST /operator/Inventory/Import` (a `text/csv` body, `iccid,registration_code,imsis` with
//!   IMSIs separated by `;`): many cards; cards already in inventory are skipped.
//! - `POST /operator/Rates` (`IsoCountry`, `PricePerMb`, `Currency`): the price of data by
//!   visited country that `/v1/UsageRecords` bills at.
//! - `GET /operator/Sims/{SimSid}/Imsis`, `POST /operator/Sims/{SimSid}/Imsis/{Imsi}`
//!   (`Allowed`), `POST …/Imsis/{Imsi}/Networks` (`Network`), `DELETE …/Networks/{Sid}`:
//!   per-IMSI control of any SIM, inventory included (see `v1/sim_imsis.rs`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use simledger_commands::{CommandError, CommandId, Role};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{Form, Operator};
use crate::v1::{Errors, WriteErrors};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_account))
        .routes(routes!(create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(add_sim))
        .routes(routes!(import_sims))
        .routes(routes!(set_rate))
        .routes(routes!(set_cdr_rate))
        .merge(crate::v1::sim_imsis::operator_router())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SetCdrRateParams {
    /// `*data`, `*sms`, or for external CDRs `*voice`, `*mms`, `*generic`.
    #[serde(rename = "ToR")]
    #[schema(rename = "ToR")]
    pub tor: Option<String>,
    /// Matched against MCC+MNC for the core's `*data`, else the destination; the longest wins.
    pub prefix: Option<String>,
    /// Decimal string.
    pub price_per_unit: Option<String>,
    /// Usage per priced unit (bytes for data: 1000000 for a price per MB). Default 1.
    pub unit_size: Option<i64>,
}

/// A rate of the CDR rating table.
#[derive(Debug, Serialize, ToSchema)]
pub struct CdrRate {
    pub tor: String,
    pub prefix: String,
    pub price_per_unit: String,
    pub unit_size: i64,
}

/// Sets a rate that CDRs built from now on are priced at.
///
/// Each rate is an event: a replay prices every CDR at the rates in force at its place in the log.
#[utoipa::path(post, path = "/operator/CdrRates", tag = "operator", operation_id = "OperatorSetCdrRate",
    request_body(content = SetCdrRateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = CdrRate), Errors, WriteErrors,
        (status = 403, body = crate::error::TwilioError, description = "Not an operator account")),
    security(("accountSid_authToken" = [])))]
async fn set_cdr_rate(
    State(state): State<AppState>,
    op: Operator,
    headers: axum::http::HeaderMap,
    Form(p): Form<SetCdrRateParams>,
) -> Result<Json<CdrRate>, ApiError> {
    let tor = p.tor.ok_or_else(|| ApiError::missing("ToR", true))?;
    let prefix = p.prefix.unwrap_or_default();
    let price = p.price_per_unit.ok_or_else(|| ApiError::missing("PricePerUnit", true))?;
    let price: rust_decimal::Decimal = price
        .parse()
        .map_err(|_| ApiError::invalid(format!("PricePerUnit must be a decimal number, got {price:?}")))?;
    let unit_size = p.unit_size.unwrap_or(1);
    let cmd = crate::extract::command_id(&headers, &op.0.account_sid, &format!("SetCdrRate:{tor}:{prefix}"));
    state.commands.set_operator_rate(cmd, &tor, &prefix, price, unit_size).await?;
    Ok(Json(CdrRate { tor, prefix, price_per_unit: price.normalize().to_string(), unit_size }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SetRateParams {
    /// ISO 3166-1 alpha-2 code of the visited country.
    pub iso_country: Option<String>,
    /// Price of one MB (1,000,000 bytes), a decimal string such as `0.10`.
    pub price_per_mb: Option<String>,
    /// ISO 4217 code, default `USD`.
    pub currency: Option<String>,
}

/// A price per MB of data in a visited country.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rate {
    pub iso_country: String,
    /// Decimal string.
    pub price_per_mb: String,
    pub currency: String,
}

/// Sets the price per MB that `/v1/UsageRecords` bills data used in a country at.
#[utoipa::path(post, path = "/operator/Rates", tag = "operator", operation_id = "OperatorSetRate",
    request_body(content = SetRateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Rate), Errors, WriteErrors,
        (status = 403, body = crate::error::TwilioError, description = "Not an operator account")),
    security(("accountSid_authToken" = [])))]
async fn set_rate(
    State(state): State<AppState>,
    _op: Operator,
    Form(p): Form<SetRateParams>,
) -> Result<Json<Rate>, ApiError> {
    let country = p.iso_country.ok_or_else(|| ApiError::missing("IsoCountry", true))?;
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ApiError::invalid("IsoCountry must be a two-letter country code"));
    }
    let price = p.price_per_mb.ok_or_else(|| ApiError::missing("PricePerMb", true))?;
    let price: rust_decimal::Decimal =
        price.parse().map_err(|_| ApiError::invalid(format!("PricePerMb must be a decimal number, got {price:?}")))?;
    if price.is_sign_negative() {
        return Err(ApiError::invalid("PricePerMb must not be negative"));
    }
    simledger_billing::bounds::within("PricePerMb", price, simledger_billing::bounds::MAX_PRICE)
        .map_err(ApiError::invalid)?;
    let currency = p.currency.unwrap_or_else(|| "USD".into()).to_uppercase();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ApiError::invalid("Currency must be an ISO 4217 code"));
    }
    simledger_projections::usage::read::set_rate(state.pool(), &country, price, &currency).await?;
    Ok(Json(Rate { iso_country: country.to_uppercase(), price_per_mb: price.normalize().to_string(), currency }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateAccountParams {
    pub friendly_name: Option<String>,
    /// `customer` (default) or `operator`.
    pub role: Option<RoleParam>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleParam {
    Customer,
    Operator,
}

/// A new credential; the secret is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewAccount {
    pub sid: String,
    pub friendly_name: String,
    pub auth_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewKey {
    pub sid: String,
    pub account_sid: String,
    pub friendly_name: String,
    pub secret: String,
}

/// Creates an account; its auth token is in this answer only.
#[utoipa::path(post, path = "/operator/Accounts", tag = "operator", operation_id = "OperatorCreateAccount",
    request_body(content = CreateAccountParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = NewAccount), Errors, WriteErrors,
        (status = 403, body = crate::error::TwilioError, description = "Not an operator account")),
    security(("accountSid_authToken" = [])))]
async fn create_account(
    State(state): State<AppState>,
    _op: Operator,
    Form(p): Form<CreateAccountParams>,
) -> Result<(StatusCode, Json<NewAccount>), ApiError> {
    let role = match p.role {
        Some(RoleParam::Operator) => Role::Operator,
        _ => Role::Customer,
    };
    let name = p.friendly_name.unwrap_or_else(|| "account".into());
    let c = state.accounts.create(&name, role).await?;
    Ok((StatusCode::CREATED, Json(NewAccount { sid: c.sid, friendly_name: c.friendly_name, auth_token: c.secret })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateKeyParams {
    pub friendly_name: Option<String>,
}

/// Creates an API key for an account; its secret is in this answer only.
#[utoipa::path(post, path = "/operator/Accounts/{AccountSid}/Keys", tag = "operator",
    operation_id = "OperatorCreateKey",
    params(("AccountSid" = String, Path)),
    request_body(content = CreateKeyParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = NewKey), Errors, WriteErrors,
        (status = 403, body = crate::error::TwilioError, description = "Not an operator account")),
    security(("accountSid_authToken" = [])))]
async fn create_key(
    State(state): State<AppState>,
    _op: Operator,
    Path(account): Path<String>,
    Form(p): Form<CreateKeyParams>,
) -> Result<(StatusCode, Json<NewKey>), ApiError> {
    let name = p.friendly_name.unwrap_or_else(|| "key".into());
    let c = state.accounts.create_key(&account, &name).await.map_err(|e| match e {
        CommandError::NotFound { .. } => ApiError::not_found(format_args!("/operator/Accounts/{account}")),
        other => other.into(),
    })?;
    Ok((
        StatusCode::CREATED,
        Json(NewKey { sid: c.sid, account_sid: account, friendly_name: c.friendly_name, secret: c.secret }),
    ))
}

/// Revokes an API key: it stops working at once on this API process, and within the
/// authentication cache's 30 seconds on any other; dashboard sessions it opened end at once.
#[utoipa::path(delete, path = "/operator/Accounts/{AccountSid}/Keys/{KeySid}", tag = "operator",
    operation_id = "OperatorRevokeKey",
    params(("AccountSid" = String, Path), ("KeySid" = String, Path)),
    responses((status = 204, description = "Revoked"), Errors,
        (status = 403, body = crate::error::TwilioError, description = "Not an operator account")),
    security(("accountSid_authToken" = [])))]
async fn revoke_key(
    State(state): State<AppState>,
    _op: Operator,
    Path((account, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    if !state.accounts.revoke_key(&account, &key).await? {
        return Err(ApiError::not_found(format_args!("/operator/Accounts/{account}/Keys/{key}")));
    }
    state.auth.forget(&key);
    crate::dashboard::session::end_sessions_of(state.pool(), &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AddSimParams {
    /// 18 to 22 digits.
    pub iccid: Option<String>,
    /// 10 digits, printed on the card.
    pub registration_code: Option<String>,
    /// Every IMSI of the card (repeat for a multi-IMSI SIM).
    #[serde(default)]
    pub imsi: Vec<String>,
}

/// A SIM card in inventory, not yet registered to an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct InventorySim {
    pub sid: String,
    pub iccid: String,
    pub imsis: Vec<String>,
}

/// Puts one SIM card into inventory.
#[utoipa::path(post, path = "/operator/Inventory", tag = "operator", operation_id = "OperatorAddSim",
    request_body(content = AddSimParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = InventorySim), Errors, WriteErrors,
        (status = 403, body = crate::error::TwilioError, description = "Not an operator account")),
    security(("accountSid_authToken" = [])))]
async fn add_sim(
    State(state): State<AppState>,
    _op: Operator,
    headers: HeaderMap,
    Form(p): Form<AddSimParams>,
) -> Result<(StatusCode, Json<InventorySim>), ApiError> {
    let iccid = p.iccid.ok_or_else(|| ApiError::missing("Iccid", true))?;
    let code = p.registration_code.ok_or_else(|| ApiError::missing("RegistrationCode", true))?;
    if p.imsi.is_empty() {
        return Err(ApiError::missing("Imsi", true));
    }
    let cmd = crate::extract::command_id(&headers, "operator", &format!("AddSim:{iccid}"));
    let sid = state.commands.provision_sim(cmd, &iccid, &code, p.imsi.clone()).await?;
    Ok((StatusCode::CREATED, Json(InventorySim { sid, iccid, imsis: p.imsi })))
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    /// Cards added to inventory.
    pub imported: u64,
    /// Cards already in inventory (a re-run of the same file skips them all).
    pub already_present: u64,
}

/// Puts every card of a CSV file (`iccid,registration_code,imsis`, IMSIs separated by `;`) into
/// inventory. Importing the same file again adds nothing.
#[utoipa::path(post, path = "/operator/Inventory/Import", tag = "operator", operation_id = "OperatorImportSims",
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportResult), Errors, WriteErrors,
        (status = 403, body = crate::error::TwilioError, description = "Not an operator account")),
    security(("accountSid_authToken" = [])))]
async fn import_sims(
    State(state): State<AppState>,
    _op: Operator,
    body: String,
) -> Result<Json<ImportResult>, ApiError> {
    let cards = parse_inventory_csv(body.as_bytes()).map_err(ApiError::invalid)?;
    let (imported, already_present) = import(&state.commands, &cards).await?;
    Ok(Json(ImportResult { imported, already_present }))
}

/// One row of an inventory file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryCard {
    pub iccid: String,
    pub registration_code: String,
    pub imsis: Vec<String>,
}

/// Parses `iccid,registration_code,imsis` rows (with that header); IMSIs are `;`-separated.
pub fn parse_inventory_csv(data: &[u8]) -> Result<Vec<InventoryCard>, String> {
    #[derive(Deserialize)]
    struct Row {
        iccid: String,
        registration_code: String,
        imsis: String,
    }
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(data);
    reader
        .deserialize::<Row>()
        .enumerate()
        .map(|(i, row)| {
            let row = row.map_err(|e| format!("row {}: {e}", i + 1))?;
            Ok(InventoryCard {
                iccid: row.iccid,
                registration_code: row.registration_code,
                imsis: row.imsis.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            })
        })
        .collect()
}

/// Provisions each card under a command named after its ICCID, so a re-run is a no-op.
pub async fn import(
    commands: &simledger_commands::Commands,
    cards: &[InventoryCard],
) -> Result<(u64, u64), CommandError> {
    let (mut imported, mut present) = (0, 0);
    for card in cards {
        if simledger_projections::registry::read::iccid_exists(commands.log().pool(), &card.iccid).await? {
            present += 1;
            continue;
        }
        let cmd = CommandId::named(&format!("inventory:{}", card.iccid));
        commands.provision_sim(cmd, &card.iccid, &card.registration_code, card.imsis.clone()).await?;
        imported += 1;
    }
    Ok((imported, present))
}
