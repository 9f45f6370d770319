//! `*cdrlog`'s template: the CDR fields its ExtraParameters set, as CGrateS's
//! `{"Category":"^activation","Destination":"~BalanceID"}` (`^text` or plain text a constant,
//! `~Name` a value of the action that ran). Fields CGrateS's CDR does not have go to its extra
//! fields. What identifies a CDR (its tenant, CGRID, order ID, source, origin ID, times) is the
//! platform's and cannot be templated: a tenant's action must not write into another tenant or
//! forge another CDR's identity.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::action::ActionError;
use crate::balance::BalanceType;

/// At most this many fields, each value at most [`MAX_VALUE_CHARS`]: a template is small.
pub const MAX_FIELDS: usize = 32;
pub const MAX_VALUE_CHARS: usize = 256;

/// The CDR's own fields a template may set; any other name is an extra field.
pub const CDR_FIELDS: &[&str] =
    &["ToR", "RequestType", "Account", "Subject", "Category", "Destination", "Cost", "Usage", "RunID", "OriginHost"];

/// What identifies a CDR: never from a template.
const RESERVED: &[&str] =
    &["Tenant", "CGRID", "OrderID", "Source", "OriginID", "SetupTime", "AnswerTime", "PreRated", "CostSource"];

/// The values `~Name` reads, as CGrateS's cdrlog provider names them.
pub const VARIABLES: &[&str] = &[
    "AccountID",
    "Tenant",
    "Account",
    "ActionType",
    "ActionValue",
    "BalanceType",
    "BalanceID",
    "BalanceUUID",
    "BalanceValue",
    "DestinationIDs",
    "ExtraParameters",
    "RatingSubject",
    "Category",
];

/// One field's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    Constant(String),
    Variable(String),
}

/// A checked template: CDR field → where its value comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template(pub BTreeMap<String, Source>);

/// Reads `*cdrlog`'s ExtraParameters (empty: no template, CGrateS's defaults).
pub fn parse(extra: &str) -> Result<Template, ActionError> {
    let extra = extra.trim();
    if extra.is_empty() {
        return Ok(Template::default());
    }
    let invalid = |m: String| ActionError::Invalid(format!("*cdrlog ExtraParameters: {m}"));
    // Go reads it into a map[string]string: anything else is refused, as there.
    let raw: BTreeMap<String, String> =
        serde_json::from_str(extra).map_err(|e| invalid(format!("not a JSON object of strings ({e})")))?;
    if raw.len() > MAX_FIELDS {
        return Err(invalid(format!("at most {MAX_FIELDS} fields")));
    }
    let mut fields = BTreeMap::new();
    for (field, rule) in raw {
        if RESERVED.contains(&field.as_str()) {
            return Err(invalid(format!("{field} is set by the platform, not by a template")));
        }
        if field.is_empty() || field.len() > 64 || field.chars().any(|c| c.is_control()) {
            return Err(invalid(format!("{:?} is not a field name", simledger_ids::shown(&field))));
        }
        if rule.chars().count() > MAX_VALUE_CHARS || rule.chars().any(|c| c.is_control()) {
            return Err(invalid(format!("the value of {field} must be at most {MAX_VALUE_CHARS} visible characters")));
        }
        let source = match rule.strip_prefix('~') {
            Some(name) if VARIABLES.contains(&name) => Source::Variable(name.to_owned()),
            Some(name) => {
                return Err(invalid(format!(
                    "~{} is not one of {}",
                    simledger_ids::shown(name),
                    VARIABLES.iter().map(|v| format!("~{v}")).collect::<Vec<_>>().join(", ")
                )))
            }
            None => Source::Constant(rule.strip_prefix('^').unwrap_or(&rule).to_owned()),
        };
        if let Source::Constant(value) = &source {
            check_constant(&field, value).map_err(invalid)?;
        }
        fields.insert(field, source);
    }
    Ok(Template(fields))
}

/// A constant must fit the field it sets.
fn check_constant(field: &str, value: &str) -> Result<(), String> {
    let fits = match field {
        "ToR" => BalanceType::parse(value).is_some(),
        "Cost" => fits_cost(value),
        "Usage" => fits_usage(value),
        _ => true,
    };
    if fits {
        Ok(())
    } else {
        Err(format!("{value:?} is not a valid {field}"))
    }
}

/// A cost a `*cdrlog` CDR may carry: within the bound of every amount (10^15).
pub fn fits_cost(value: &str) -> bool {
    value.parse::<Decimal>().is_ok_and(|c| c.abs() <= crate::bounds::MAX_AMOUNT)
}

/// A usage a `*cdrlog` CDR may carry: 0 to 10^18, as every usage.
pub fn fits_usage(value: &str) -> bool {
    value.parse::<i64>().is_ok_and(|u| (0..=1_000_000_000_000_000_000).contains(&u))
}

impl Template {
    /// The fields for one CDR, each value read from `vars` (a variable with no value is empty).
    pub fn resolve(&self, vars: &BTreeMap<&'static str, String>) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(field, source)| {
                let value = match source {
                    Source::Constant(c) => c.clone(),
                    // A variable's value is bounded as a constant is: `~ExtraParameters` of a
                    // large action must not make a CDR the log refuses.
                    Source::Variable(v) => {
                        vars.get(v.as_str()).map(|v| v.chars().take(MAX_VALUE_CHARS).collect()).unwrap_or_default()
                    }
                };
                (field.clone(), value)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgrates_template_reads_constants_and_variables() {
        let t = parse(r#"{"Category":"^activation","Destination":"~BalanceID","Plan":"gold"}"#).unwrap();
        let vars = BTreeMap::from([("BalanceID", "bonus".to_owned())]);
        let fields = t.resolve(&vars);
        assert_eq!(fields["Category"], "activation", "^ marks a constant, as CGrateS's");
        assert_eq!(fields["Destination"], "bonus");
        assert_eq!(fields["Plan"], "gold", "a field CGrateS's CDR lacks is kept (an extra field)");
        assert_eq!(parse("").unwrap(), Template::default());
    }

    #[test]
    fn a_variable_is_bounded_as_a_constant_is() {
        let t = parse(r#"{"A":"~ExtraParameters","B":"~ExtraParameters"}"#).unwrap();
        let vars = BTreeMap::from([("ExtraParameters", "x".repeat(100_000))]);
        assert!(t.resolve(&vars).values().all(|v| v.chars().count() == MAX_VALUE_CHARS));
    }

    #[test]
    fn a_template_cannot_set_what_identifies_a_cdr_or_hold_what_go_would_refuse() {
        for (extra, says) in [
            (r#"{"Tenant":"ACother"}"#, "set by the platform"),
            (r#"{"CGRID":"x"}"#, "set by the platform"),
            (r#"{"OrderID":"1"}"#, "set by the platform"),
            (r#"{"Category":1}"#, "not a JSON object of strings"),
            (r#"["Category"]"#, "not a JSON object of strings"),
            (r#"{"Cost":"lots"}"#, "not a valid Cost"),
            (r#"{"Usage":"-1"}"#, "not a valid Usage"),
            (r#"{"Usage":"9223372036854775807"}"#, "not a valid Usage"),
            (r#"{"Cost":"100000000000000000000"}"#, "not a valid Cost"),
            (r#"{"ToR":"*gold"}"#, "not a valid ToR"),
            (r#"{"Category":"~Password"}"#, "is not one of"),
            (r#"{"Category":"a\nb"}"#, "visible characters"),
        ] {
            let e = parse(extra).unwrap_err().to_string();
            assert!(e.contains(says), "{extra}: {e}");
        }
        let many: BTreeMap<String, String> = (0..40).map(|i| (format!("F{i}"), "x".to_owned())).collect();
        assert!(parse(&serde_json::to_string(&many).unwrap()).is_err(), "bounded");
        assert!(parse(&format!(r#"{{"Category":"{}"}}"#, "x".repeat(300))).is_err(), "bounded");
    }
}
