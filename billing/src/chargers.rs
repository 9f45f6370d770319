//! ChargerS: a tenant's charger profiles fork each CDR into runs, one per matching profile, each
//! with the profile's `RunID` (CGrateS's `engine/chargers.go`). A tenant with no profiles keeps
//! one run per CDR, as CGrateS does without `chargers_conns`.
//!
//! What CGrateS leaves to chance, this decides: profiles of equal weight run in ID order (CGrateS
//! sorts an unordered set unstably). What it needs AttributeS for, this does without: a profile's
//! `AttributeIDs` may be `*none` (or empty) or inline `*constant:*req.<Field>:<value>` attributes
//! over the CDR's own fields, as the CGrateS tutorial's `*raw` charger uses; stored attribute
//! profiles are refused. Filters likewise are inline (`*string:~*req.Account:1001`); stored filter
//! profiles are refused as CGrateS refuses a broken filter reference.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Most charger profiles a tenant keeps: each CDR forks into at most this many runs.
pub const MAX_PROFILES: usize = 16;
/// The longest ID, run ID, filter or attribute a profile holds, and the most of each.
const MAX_TEXT: usize = 256;
const MAX_ITEMS: usize = 32;

/// When a profile applies (CGrateS's `ActivationInterval`); a bound left out is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActivationInterval {
    #[serde(default)]
    pub activation_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub expiry_time: Option<DateTime<Utc>>,
}

impl ActivationInterval {
    fn is_active_at(&self, at: DateTime<Utc>) -> bool {
        self.activation_time.is_none_or(|t| at >= t) && self.expiry_time.is_none_or(|t| at < t)
    }
}

/// A charger profile, in CGrateS's JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChargerProfile {
    pub tenant: String,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "FilterIDs", default)]
    pub filter_ids: Vec<String>,
    #[serde(default)]
    pub activation_interval: Option<ActivationInterval>,
    #[serde(rename = "RunID")]
    pub run_id: String,
    #[serde(rename = "AttributeIDs", default)]
    pub attribute_ids: Vec<String>,
    #[serde(default)]
    pub weight: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChargerError {
    /// CGrateS's words for a filter ID that names no filter.
    #[error("SERVER_ERROR: broken reference to filter: {filter} for item with ID: {item}")]
    BrokenFilter { filter: String, item: String },
    #[error("SERVER_ERROR: attribute {attribute} of {item}: only *none and inline *constant:*req.<Field>:<value> attributes are available (no AttributeS)")]
    UnavailableAttribute { attribute: String, item: String },
    #[error("SERVER_ERROR: {0}")]
    Invalid(String),
}

/// The CDR fields filters read and attributes set (`~*req.<Field>`).
pub trait CdrFields {
    fn field(&self, name: &str) -> Option<String>;
    /// Sets a field an attribute names; false when the field cannot be set.
    fn set_field(&mut self, name: &str, value: &str) -> bool;
}

/// Fields an inline `*constant` attribute may set.
pub const SETTABLE_FIELDS: &[&str] = &["RequestType", "Category", "Subject", "Account", "Destination"];

/// A CDR as its fields by CGrateS name (`Account`, `ToR`, `Usage`, extra fields by their own).
impl CdrFields for std::collections::BTreeMap<String, String> {
    fn field(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }

    fn set_field(&mut self, name: &str, value: &str) -> bool {
        let settable = SETTABLE_FIELDS.contains(&name);
        if settable {
            self.insert(name.to_owned(), value.to_owned());
        }
        settable
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FilterKind {
    String,
    Prefix,
    Suffix,
    Contains,
    Exists,
    Empty,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// An inline filter: `*[not]type:~*req.Field:value1|value2`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Filter {
    kind: FilterKind,
    negated: bool,
    field: String,
    values: Vec<String>,
}

impl Filter {
    fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix('*')?;
        let mut parts = rest.splitn(3, ':');
        let (kind, field, values) = (parts.next()?, parts.next()?, parts.next());
        let (negated, kind) = match kind.strip_prefix("not") {
            Some(k) => (true, k),
            None => (false, kind),
        };
        let kind = match kind {
            "string" => FilterKind::String,
            "prefix" => FilterKind::Prefix,
            "suffix" => FilterKind::Suffix,
            "contains" => FilterKind::Contains,
            "exists" => FilterKind::Exists,
            "empty" => FilterKind::Empty,
            "gt" => FilterKind::Gt,
            "gte" => FilterKind::Gte,
            "lt" => FilterKind::Lt,
            "lte" => FilterKind::Lte,
            _ => return None,
        };
        let field = field.strip_prefix("~*req.").filter(|f| !f.is_empty())?.to_owned();
        // `*exists` and `*empty` take no value (CGrateS writes them with a trailing colon);
        // the others at least one.
        let values: Vec<String> = match values {
            Some(v) if !v.is_empty() => v.split('|').map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        let needs_values = !matches!(kind, FilterKind::Exists | FilterKind::Empty);
        if needs_values == values.is_empty() {
            return None;
        }
        if matches!(kind, FilterKind::Gt | FilterKind::Gte | FilterKind::Lt | FilterKind::Lte)
            && values.iter().any(|v| v.parse::<Decimal>().is_err())
        {
            return None;
        }
        Some(Self { kind, negated, field, values })
    }

    fn passes(&self, cdr: &dyn CdrFields) -> bool {
        let value = cdr.field(&self.field);
        let number = || value.as_deref().and_then(|v| v.parse::<Decimal>().ok());
        let compare = |op: fn(Decimal, Decimal) -> bool| {
            number().is_some_and(|n| self.values.iter().filter_map(|v| v.parse().ok()).any(|limit| op(n, limit)))
        };
        let held = match self.kind {
            FilterKind::String => value.as_deref().is_some_and(|v| self.values.iter().any(|x| x == v)),
            FilterKind::Prefix => {
                value.as_deref().is_some_and(|v| self.values.iter().any(|x| v.starts_with(x.as_str())))
            }
            FilterKind::Suffix => value.as_deref().is_some_and(|v| self.values.iter().any(|x| v.ends_with(x.as_str()))),
            FilterKind::Contains => {
                value.as_deref().is_some_and(|v| self.values.iter().any(|x| v.contains(x.as_str())))
            }
            FilterKind::Exists => value.is_some(),
            FilterKind::Empty => value.as_deref().is_none_or(str::is_empty),
            FilterKind::Gt => compare(|a, b| a > b),
            FilterKind::Gte => compare(|a, b| a >= b),
            FilterKind::Lt => compare(|a, b| a < b),
            FilterKind::Lte => compare(|a, b| a <= b),
        };
        held != self.negated
    }
}

/// An inline attribute: `*constant:*req.Field:value`.
fn parse_attribute(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("*constant:*req.")?;
    let (field, value) = rest.split_once(':')?;
    SETTABLE_FIELDS.contains(&field).then_some((field, value))
}

fn no_attributes(ids: &[String]) -> bool {
    ids.is_empty() || (ids.len() == 1 && ids[0] == "*none")
}

impl ChargerProfile {
    /// `tenant:ID`, as CGrateS names an item in its errors.
    pub fn tenant_id(&self) -> String {
        format!("{}:{}", self.tenant, self.id)
    }

    /// Checks the profile as `SetChargerProfile` takes it: mandatory fields, bounds, and that
    /// every filter and attribute is one this platform can apply.
    pub fn validate(&self) -> Result<(), ChargerError> {
        let text_ok = |t: &str| !t.is_empty() && t.len() <= MAX_TEXT && !t.chars().any(char::is_control);
        if !text_ok(&self.id) {
            return Err(ChargerError::Invalid("ID must be 1 to 256 characters without control characters".into()));
        }
        if !text_ok(&self.run_id) {
            return Err(ChargerError::Invalid("RunID must be 1 to 256 characters without control characters".into()));
        }
        if self.filter_ids.len() > MAX_ITEMS || self.attribute_ids.len() > MAX_ITEMS {
            return Err(ChargerError::Invalid(format!("at most {MAX_ITEMS} filters and {MAX_ITEMS} attributes")));
        }
        for f in &self.filter_ids {
            if f.len() > MAX_TEXT || Filter::parse(f).is_none() {
                return Err(ChargerError::BrokenFilter { filter: f.clone(), item: self.tenant_id() });
            }
        }
        if !no_attributes(&self.attribute_ids) {
            for a in &self.attribute_ids {
                if a.len() > MAX_TEXT || parse_attribute(a).is_none() {
                    return Err(ChargerError::UnavailableAttribute { attribute: a.clone(), item: self.tenant_id() });
                }
            }
        }
        Ok(())
    }

    /// Whether the CDR (happening at `at`) goes through this profile.
    pub fn matches(&self, cdr: &dyn CdrFields, at: DateTime<Utc>) -> bool {
        self.activation_interval.as_ref().is_none_or(|a| a.is_active_at(at))
            && self.filter_ids.iter().all(|f| Filter::parse(f).is_some_and(|f| f.passes(cdr)))
    }

    /// Applies the profile's inline attributes to the run's CDR.
    pub fn apply_attributes(&self, cdr: &mut dyn CdrFields) {
        if no_attributes(&self.attribute_ids) {
            return;
        }
        for (field, value) in self.attribute_ids.iter().filter_map(|a| parse_attribute(a)) {
            cdr.set_field(field, value);
        }
    }
}

/// The profiles a CDR runs through, in run order: heavier first, then by ID.
pub fn runs<'a>(profiles: &'a [ChargerProfile], cdr: &dyn CdrFields, at: DateTime<Utc>) -> Vec<&'a ChargerProfile> {
    let mut matching: Vec<&ChargerProfile> = profiles.iter().filter(|p| p.matches(cdr, at)).collect();
    matching.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| a.id.cmp(&b.id)));
    matching
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;

    use super::*;

    type Cdr = BTreeMap<String, String>;

    fn cdr(pairs: &[(&str, &str)]) -> Cdr {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn profile(id: &str, run: &str, filters: &[&str], attributes: &[&str], weight: i64) -> ChargerProfile {
        ChargerProfile {
            tenant: "cgrates.org".into(),
            id: id.into(),
            filter_ids: filters.iter().map(|s| s.to_string()).collect(),
            activation_interval: None,
            run_id: run.into(),
            attribute_ids: attributes.iter().map(|s| s.to_string()).collect(),
            weight: Decimal::from(weight),
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn the_tutorials_chargers_give_a_default_and_an_unrated_raw_run() {
        // Given the CGrateS tutorial's DEFAULT and Raw chargers
        let profiles = vec![
            profile("Raw", "*raw", &[], &["*constant:*req.RequestType:*none"], 0),
            profile("DEFAULT", "*default", &[], &["*none"], 0),
        ];
        for p in &profiles {
            p.validate().unwrap();
        }
        // When a CDR goes through them
        let c = cdr(&[("Account", "1001"), ("RequestType", "*postpaid")]);
        let runs = runs(&profiles, &c, at());
        // Then it forks into both runs, in ID order at equal weight, and only Raw's is unrated
        assert_eq!(runs.iter().map(|p| p.run_id.as_str()).collect::<Vec<_>>(), ["*default", "*raw"]);
        let mut raw = c.clone();
        runs[1].apply_attributes(&mut raw);
        assert_eq!(raw.field("RequestType").as_deref(), Some("*none"));
        let mut default = c.clone();
        runs[0].apply_attributes(&mut default);
        assert_eq!(default.field("RequestType").as_deref(), Some("*postpaid"));
    }

    #[test]
    fn inline_filters_select_and_heavier_profiles_run_first() {
        let profiles = vec![
            profile("ALL", "*default", &[], &[], 0),
            profile(
                "RESELLER",
                "reseller1",
                &["*string:~*req.Account:1001|1002", "*prefix:~*req.Destination:+49"],
                &[],
                10,
            ),
            profile("NOT_DATA", "voice", &["*notstring:~*req.ToR:*data"], &[], 5),
            profile("BIG", "big", &["*gte:~*req.Usage:1000000"], &[], 1),
        ];
        let run_ids = |c: &Cdr| runs(&profiles, c, at()).iter().map(|p| p.run_id.clone()).collect::<Vec<_>>();
        let reseller = cdr(&[("Account", "1002"), ("Destination", "+4917"), ("ToR", "*data"), ("Usage", "5")]);
        assert_eq!(run_ids(&reseller), ["reseller1", "*default"]);
        let big = cdr(&[("Account", "1003"), ("Destination", "+4917"), ("ToR", "*data"), ("Usage", "2000000")]);
        assert_eq!(run_ids(&big), ["big", "*default"]);
        let sms = cdr(&[("Account", "1003"), ("ToR", "*sms"), ("Usage", "1")]);
        assert_eq!(run_ids(&sms), ["voice", "*default"]);
    }

    #[test]
    fn inactive_profiles_do_not_run() {
        let mut p = profile("LATER", "later", &[], &[], 0);
        p.activation_interval = Some(ActivationInterval { activation_time: Some(at()), expiry_time: None });
        let c = cdr(&[]);
        assert!(!p.matches(&c, at() - chrono::Duration::seconds(1)));
        assert!(p.matches(&c, at()));
        p.activation_interval = Some(ActivationInterval { activation_time: None, expiry_time: Some(at()) });
        assert!(p.matches(&c, at() - chrono::Duration::seconds(1)));
        assert!(!p.matches(&c, at()), "expired at its expiry time");
    }

    #[test]
    fn negated_and_presence_filters_are_evaluated() {
        let with = cdr(&[("Subject", "1001"), ("Category", "")]);
        let without = cdr(&[]);
        let passes = |filter: &str, c: &Cdr| profile("P", "r", &[filter], &[], 0).matches(c, at());
        assert!(passes("*exists:~*req.Subject:", &with) && !passes("*exists:~*req.Subject:", &without));
        assert!(passes("*notexists:~*req.Subject:", &without) && !passes("*notexists:~*req.Subject:", &with));
        assert!(passes("*empty:~*req.Category:", &with) && passes("*empty:~*req.Category:", &without));
        assert!(passes("*notempty:~*req.Subject:", &with) && !passes("*notempty:~*req.Category:", &with));
        assert!(passes("*notprefix:~*req.Subject:2", &with) && !passes("*notprefix:~*req.Subject:10", &with));
        // A filter that does not parse passes nothing (never stored: `validate` refuses it).
        assert!(!passes("*regex:~*req.Subject:.*", &with));
    }

    #[test]
    fn stored_filters_attributes_and_bad_fields_are_refused_in_cgrates_words() {
        let broken = profile("P", "r", &["FLTR_ACNT_1001"], &[], 0).validate().unwrap_err();
        assert_eq!(
            broken.to_string(),
            "SERVER_ERROR: broken reference to filter: FLTR_ACNT_1001 for item with ID: cgrates.org:P"
        );
        for bad_filter in
            ["*string:Account:1001", "*regex:~*req.Account:.*", "*string:~*req.Account", "*gt:~*req.Usage:x"]
        {
            assert!(profile("P", "r", &[bad_filter], &[], 0).validate().is_err(), "{bad_filter}");
        }
        for bad_attribute in ["ATTR_RESELLER", "*constant:*req.Tenant:other", "*constant:*req.RequestType"] {
            let e = profile("P", "r", &[], &[bad_attribute], 0).validate().unwrap_err();
            assert!(matches!(e, ChargerError::UnavailableAttribute { .. }), "{bad_attribute}: {e}");
        }
        assert!(profile("", "r", &[], &[], 0).validate().is_err());
        assert!(profile("P", "", &[], &[], 0).validate().is_err());
        assert!(profile("P", &"r".repeat(300), &[], &[], 0).validate().is_err());
        assert!(profile("P\n", "r", &[], &[], 0).validate().is_err());
        profile("P", "r", &["*exists:~*req.Account:", "*notempty:~*req.Subject:"], &[], 0).validate().unwrap();
    }
}
