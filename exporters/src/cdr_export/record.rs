//! A CDR as exporters see it, and the `~*req.<Field>` paths that name its fields.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// One row of `cdrs`: the projection's own row type.
pub use simledger_projections::cdrs::read::CdrRow as CdrRecord;

/// The columns a [`CdrRecord`] is read from (`sqlx::FromRow`).
pub const SELECT: &str = "cgrid, run_id, order_id, origin_host, source, origin_id, tor, request_type, tenant, \
     category, account, subject, destination, setup_time, answer_time, usage, cost, extra_fields, extra_info, \
     lpad(order_id::text, 20, '0') AS order_key";

/// What exporters read of a CDR: a field by path, and the whole CDR as JSON.
pub trait CdrFields {
    fn get(&self, field: &Field) -> Value<'_>;
    fn to_json(&self) -> serde_json::Value;
}

impl CdrFields for CdrRecord {
    fn get(&self, field: &Field) -> Value<'_> {
        match field {
            Field::Cgrid => Value::Text(&self.cgrid),
            Field::RunId => Value::Text(&self.run_id),
            Field::OrderId => Value::Int(self.order_id),
            Field::OriginHost => Value::Text(&self.origin_host),
            Field::Source => Value::Text(&self.source),
            Field::OriginId => Value::Text(&self.origin_id),
            Field::Tor => Value::Text(&self.tor),
            Field::RequestType => Value::Text(&self.request_type),
            Field::Tenant => Value::Text(&self.tenant),
            Field::Category => Value::Text(&self.category),
            Field::Account => Value::Text(&self.account),
            Field::Subject => Value::Text(&self.subject),
            Field::Destination => Value::Text(&self.destination),
            Field::SetupTime => Value::Time(self.setup_time),
            Field::AnswerTime => Value::Time(self.answer_time),
            Field::Usage => Value::Int(self.usage),
            Field::Cost => Value::Decimal(self.cost),
            Field::ExtraInfo => self.extra_info.as_deref().map_or(Value::Missing, Value::Text),
            Field::ExtraFields => Value::Json(&self.extra_fields),
            Field::Extra(name) => match self.extra_fields.get(name) {
                Some(serde_json::Value::String(s)) => Value::Text(s),
                Some(serde_json::Value::Null) | None => Value::Missing,
                Some(other) => Value::Number(other.to_string()),
            },
        }
    }

    /// CGrateS's field names; Cost as a decimal string, so no amount passes through a float.
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "CGRID": self.cgrid, "RunID": self.run_id, "OrderID": self.order_id,
            "OriginHost": self.origin_host, "Source": self.source, "OriginID": self.origin_id,
            "ToR": self.tor, "RequestType": self.request_type, "Tenant": self.tenant,
            "Category": self.category, "Account": self.account, "Subject": self.subject,
            "Destination": self.destination, "SetupTime": self.setup_time.to_rfc3339(),
            "AnswerTime": self.answer_time.to_rfc3339(), "Usage": self.usage,
            "Cost": self.cost.normalize().to_string(), "ExtraFields": self.extra_fields,
            "ExtraInfo": self.extra_info.as_deref().unwrap_or_default(),
        })
    }
}

/// A field a path names: `~*req.Cost`, `~*req.ExtraFields.iccid`, or an extra field by its
/// bare name, as CGrateS flattens them (`~*req.iccid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Cgrid,
    RunId,
    OrderId,
    OriginHost,
    Source,
    OriginId,
    Tor,
    RequestType,
    Tenant,
    Category,
    Account,
    Subject,
    Destination,
    SetupTime,
    AnswerTime,
    Usage,
    Cost,
    ExtraInfo,
    ExtraFields,
    Extra(String),
}

/// The standard fields, by the names paths use.
const STANDARD: &[(&str, Field)] = &[
    ("CGRID", Field::Cgrid),
    ("RunID", Field::RunId),
    ("OrderID", Field::OrderId),
    ("OriginHost", Field::OriginHost),
    ("Source", Field::Source),
    ("OriginID", Field::OriginId),
    ("ToR", Field::Tor),
    ("RequestType", Field::RequestType),
    ("Tenant", Field::Tenant),
    ("Category", Field::Category),
    ("Account", Field::Account),
    ("Subject", Field::Subject),
    ("Destination", Field::Destination),
    ("SetupTime", Field::SetupTime),
    ("AnswerTime", Field::AnswerTime),
    ("Usage", Field::Usage),
    ("Cost", Field::Cost),
    ("ExtraInfo", Field::ExtraInfo),
    ("ExtraFields", Field::ExtraFields),
];

/// The extra fields the embedded core writes; other names need `~*req.ExtraFields.<name>`, so a
/// misspelt standard field is an error rather than a silently empty column.
const CORE_EXTRA_FIELDS: &[&str] = &[
    "iccid",
    "imsi",
    "imei",
    "mcc",
    "mnc",
    "iso_country",
    "network_sid",
    "cell_id",
    "rat_type",
    "fleet_sid",
    "direction",
];

impl Field {
    /// Parses `~*req.<Name>`.
    pub fn parse(path: &str) -> Result<Self, String> {
        let name = path.strip_prefix("~*req.").ok_or_else(|| {
            format!("unknown field path {path:?}: CDR fields are read as ~*req.<Field>, e.g. ~*req.Cost")
        })?;
        if let Some((_, f)) = STANDARD.iter().find(|(n, _)| *n == name) {
            return Ok(f.clone());
        }
        if let Some(extra) = name.strip_prefix("ExtraFields.") {
            if !extra.is_empty() {
                return Ok(Self::Extra(extra.to_owned()));
            }
        }
        if CORE_EXTRA_FIELDS.contains(&name) {
            return Ok(Self::Extra(name.to_owned()));
        }
        let known: Vec<&str> = STANDARD.iter().map(|(n, _)| *n).collect();
        Err(format!(
            "unknown field path {path:?}: fields are {}, the core's extra fields {}, or ~*req.ExtraFields.<name>",
            known.join(", "),
            CORE_EXTRA_FIELDS.join(", ")
        ))
    }

    pub fn is_time(&self) -> bool {
        matches!(self, Self::SetupTime | Self::AnswerTime)
    }

    pub fn is_number(&self) -> bool {
        matches!(self, Self::OrderId | Self::Usage | Self::Cost)
    }
}

/// A field's value, typed so filters compare numbers as numbers and times as times.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Text(&'a str),
    /// A number from the extra fields, as written.
    Number(String),
    Int(i64),
    Decimal(Decimal),
    Time(DateTime<Utc>),
    Json(&'a serde_json::Value),
    Missing,
}

impl Value<'_> {
    /// The value as text (times RFC 3339, decimals normalised).
    pub fn render(&self) -> Cow<'_, str> {
        match self {
            Value::Text(s) => Cow::Borrowed(s),
            Value::Number(s) => Cow::Borrowed(s),
            Value::Int(i) => Cow::Owned(i.to_string()),
            Value::Decimal(d) => Cow::Owned(d.normalize().to_string()),
            Value::Time(t) => Cow::Owned(t.to_rfc3339()),
            Value::Json(v) => Cow::Owned(v.to_string()),
            Value::Missing => Cow::Borrowed(""),
        }
    }

    /// The value as a number, when it is one.
    pub fn as_decimal(&self) -> Option<Decimal> {
        match self {
            Value::Int(i) => Some(Decimal::from(*i)),
            Value::Decimal(d) => Some(*d),
            Value::Text(s) => s.parse().ok(),
            Value::Number(s) => s.parse().ok(),
            _ => None,
        }
    }
}

/// A data CDR for the filter and template tests.
#[cfg(test)]
pub(crate) fn sample() -> CdrRecord {
    use chrono::TimeZone;
    let t = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap();
    CdrRecord {
        cgrid: "c1".into(),
        run_id: "*default".into(),
        order_id: 42,
        origin_host: "pgw".into(),
        source: "simledger-core".into(),
        origin_id: "PI1".into(),
        tor: "*data".into(),
        request_type: "*postpaid".into(),
        tenant: "AC1".into(),
        category: "data".into(),
        account: "HS1".into(),
        subject: "HS1".into(),
        destination: "614123".into(),
        setup_time: t,
        answer_time: t,
        usage: 2048,
        cost: Decimal::new(125, 3),
        extra_fields: serde_json::json!({"iso_country": "GB", "mcc": "234", "iccid": "8988"}),
        extra_info: None,
        order_key: "00000000000000000042".into(),
    }
}
