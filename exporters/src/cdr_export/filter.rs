//! CGrateS inline filters on CDRs: `*type:~*req.Field:value1;value2`.
//!
//! Types: `*string`, `*prefix`, `*suffix` (any listed value matches), `*gt`, `*gte`, `*lt`,
//! `*lte` (numbers compare as decimals, `SetupTime`/`AnswerTime` as times), `*exists`, `*empty`;
//! each with a `*not…` form (`*notstring`, `*notprefix`, …). A CDR passes when every filter does.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::record::{CdrFields, CdrRecord, Field, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Prefix,
    Suffix,
    Gt,
    Gte,
    Lt,
    Lte,
    Exists,
    Empty,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Text(String),
    Number(Decimal),
    Time(DateTime<Utc>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    kind: Kind,
    negate: bool,
    field: Field,
    values: Vec<Operand>,
}

const KINDS: &[(&str, Kind)] = &[
    ("string", Kind::String),
    ("prefix", Kind::Prefix),
    ("suffix", Kind::Suffix),
    ("gt", Kind::Gt),
    ("gte", Kind::Gte),
    ("lt", Kind::Lt),
    ("lte", Kind::Lte),
    ("exists", Kind::Exists),
    ("empty", Kind::Empty),
];

impl Filter {
    pub fn parse(rule: &str) -> Result<Self, String> {
        let mut parts = rule.splitn(3, ':');
        let (kind, path, values) = (parts.next().unwrap_or(""), parts.next(), parts.next());
        let name = kind.strip_prefix('*').ok_or_else(|| malformed(rule, "the type starts with *"))?;
        let (negate, name) = match name.strip_prefix("not") {
            Some(rest) if KINDS.iter().any(|(n, _)| *n == rest) => (true, rest),
            _ => (false, name),
        };
        let kind = KINDS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k).ok_or_else(|| {
            let names: Vec<String> = KINDS.iter().map(|(n, _)| format!("*{n}")).collect();
            malformed(rule, &format!("unknown type {kind} (known: {}, and *not… forms)", names.join(", ")))
        })?;
        let path = path.ok_or_else(|| malformed(rule, "expected *type:~*req.Field:values"))?;
        let field = Field::parse(path).map_err(|e| malformed(rule, &e))?;
        let values = values.unwrap_or("");
        let values = match kind {
            Kind::Exists | Kind::Empty => {
                if !values.is_empty() {
                    return Err(malformed(rule, "*exists and *empty take no values"));
                }
                Vec::new()
            }
            Kind::String | Kind::Prefix | Kind::Suffix => {
                if values.is_empty() {
                    return Err(malformed(rule, "expected at least one value"));
                }
                values.split(';').map(|v| Operand::Text(v.to_owned())).collect()
            }
            Kind::Gt | Kind::Gte | Kind::Lt | Kind::Lte => values
                .split(';')
                .map(|v| {
                    if field.is_time() {
                        simledger_eventlog::cgr::parse_time(v, Utc::now()).map(Operand::Time)
                    } else {
                        v.parse::<Decimal>().map(Operand::Number).map_err(|_| format!("{v:?} is not a number"))
                    }
                })
                .collect::<Result<_, _>>()
                .map_err(|e| malformed(rule, &e))?,
        };
        Ok(Self { kind, negate, field, values })
    }

    /// The field equals one of `values` (or, `negate`d, none of them).
    pub fn one_of(field: Field, values: Vec<String>, negate: bool) -> Self {
        Self { kind: Kind::String, negate, field, values: values.into_iter().map(Operand::Text).collect() }
    }

    /// The field starts with one of `prefixes` (or, `negate`d, with none of them).
    pub fn prefixed(field: Field, prefixes: Vec<String>, negate: bool) -> Self {
        Self { kind: Kind::Prefix, negate, field, values: prefixes.into_iter().map(Operand::Text).collect() }
    }

    /// The field is at least `min` (a number).
    pub fn at_least(field: Field, min: Decimal) -> Self {
        Self { kind: Kind::Gte, negate: false, field, values: vec![Operand::Number(min)] }
    }

    /// The field is below `max` (a number).
    pub fn below(field: Field, max: Decimal) -> Self {
        Self { kind: Kind::Lt, negate: false, field, values: vec![Operand::Number(max)] }
    }

    /// The field (a time) is at or after `from`.
    pub fn since(field: Field, from: DateTime<Utc>) -> Self {
        Self { kind: Kind::Gte, negate: false, field, values: vec![Operand::Time(from)] }
    }

    /// The field (a time) is before `until`.
    pub fn until(field: Field, until: DateTime<Utc>) -> Self {
        Self { kind: Kind::Lt, negate: false, field, values: vec![Operand::Time(until)] }
    }

    pub fn passes(&self, cdr: &CdrRecord) -> bool {
        let value = cdr.get(&self.field);
        let matched = match self.kind {
            Kind::Exists => value != Value::Missing,
            Kind::Empty => value.render().is_empty(),
            Kind::String | Kind::Prefix | Kind::Suffix => {
                let text = value.render();
                self.values.iter().any(|v| match (v, self.kind) {
                    (Operand::Text(v), Kind::String) => text == v.as_str(),
                    (Operand::Text(v), Kind::Prefix) => text.starts_with(v.as_str()),
                    (Operand::Text(v), _) => text.ends_with(v.as_str()),
                    _ => false,
                })
            }
            Kind::Gt | Kind::Gte | Kind::Lt | Kind::Lte => self.values.iter().any(|v| {
                let ordering = match (v, &value) {
                    (Operand::Time(t), Value::Time(x)) => x.cmp(t),
                    (Operand::Number(n), x) => match x.as_decimal() {
                        Some(x) => x.cmp(n),
                        None => return false,
                    },
                    _ => return false,
                };
                match self.kind {
                    Kind::Gt => ordering.is_gt(),
                    Kind::Gte => ordering.is_ge(),
                    Kind::Lt => ordering.is_lt(),
                    _ => ordering.is_le(),
                }
            }),
        };
        matched != self.negate
    }
}

fn malformed(rule: &str, why: &str) -> String {
    format!("malformed filter {rule:?}: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cdr() -> CdrRecord {
        super::super::record::sample()
    }

    fn passes(rule: &str) -> bool {
        Filter::parse(rule).unwrap().passes(&cdr())
    }

    #[test]
    fn string_prefix_and_suffix_match_any_listed_value() {
        assert!(passes("*string:~*req.ToR:*data"));
        assert!(passes("*string:~*req.ToR:*sms;*data"));
        assert!(!passes("*string:~*req.ToR:*sms"));
        assert!(passes("*notstring:~*req.ToR:*sms"));
        assert!(passes("*prefix:~*req.Destination:61;44"));
        assert!(!passes("*notprefix:~*req.Destination:614"));
        assert!(passes("*suffix:~*req.Destination:123"));
        assert!(passes("*string:~*req.iso_country:GB"));
        assert!(passes("*string:~*req.ExtraFields.mcc:234"));
    }

    #[test]
    fn comparisons_are_numeric_for_numbers_and_chronological_for_times() {
        assert!(passes("*gte:~*req.Cost:0.125"));
        assert!(!passes("*gt:~*req.Cost:0.125"));
        assert!(passes("*lt:~*req.Usage:10000"), "2048 < 10000 as numbers, not as text");
        assert!(passes("*gte:~*req.SetupTime:2026-05-01T10:00:00Z"));
        assert!(passes("*lt:~*req.AnswerTime:2026-05-02"));
        assert!(!passes("*lt:~*req.AnswerTime:2026-05-01"));
        assert!(passes("*gt:~*req.OrderID:41"));
    }

    #[test]
    fn exists_and_empty() {
        assert!(passes("*exists:~*req.iso_country:"));
        assert!(!passes("*exists:~*req.imei:"));
        assert!(passes("*notexists:~*req.imei"));
        assert!(passes("*empty:~*req.ExtraInfo"));
    }

    #[test]
    fn malformed_filters_are_refused_with_the_reason() {
        for (rule, why) in [
            ("*string:ToR:*sms", "~*req."),
            ("string:~*req.ToR:*sms", "starts with *"),
            ("*regex:~*req.ToR:x", "unknown type"),
            ("*string:~*req.Tor:*sms", "unknown field path"),
            ("*gte:~*req.Cost:cheap", "not a number"),
            ("*gte:~*req.SetupTime:soon", "not a time"),
            ("*string:~*req.ToR", "at least one value"),
            ("*exists:~*req.ToR:x", "no values"),
        ] {
            let err = Filter::parse(rule).unwrap_err();
            assert!(err.contains(why), "{rule}: {err}");
        }
    }
}
