//! Field templates, as CGrateS's `ees.exporters[].fields`: each output column (or JSON key) is
//! `{tag, path: "*exp.<Name>", type, value, layout, rounding_decimals, filters}`.
//!
//! Types: `*variable` / `*composed` (`value` is `;`-separated parts, each `~*req.<Field>` or a
//! literal), `*constant` and `*filler` (`value` verbatim), `*datetime` (one time field, written
//! with `layout`: a Go reference layout such as `2006-01-02 15:04:05`, or strftime when it holds
//! a `%`; RFC 3339 without one). `rounding_decimals` rounds numbers (half away from zero). A
//! field whose own `filters` fail is written empty. A `~` part may end in CGrateS's data
//! converters, `~*req.Usage{*duration_seconds&*round:2}` (see `converter`).
//!
//! `*hdr.<Name>` fields make a CSV file's header row (constants: it is written before any CDR)
//! in place of the column names, `*trl.<Name>` fields a trailer row after the CDRs, which may
//! read the export's figures as `~*em.NumberOfEvents`, `~*em.TotalCost`, … (see [`Metric`]).

use chrono::format::{Item, StrftimeItems};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use super::converter::{self, Converted, Converter};
use super::filter::Filter;
use super::record::{CdrFields, CdrRecord, Field, Value};

/// The most decimals a number may be rounded to (all rust_decimal holds).
pub const MAX_ROUNDING_DECIMALS: u32 = 28;
/// The longest tag, value or layout of a field.
pub const MAX_VALUE_BYTES: usize = 1024;

/// A field as declared (stored as JSON, accepted in CGrateS's config shape).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldTemplate {
    /// The column's header, or the JSON key.
    pub tag: String,
    /// `*exp.<Name>`; the name is the JSON key (CSV uses the tag).
    #[serde(default)]
    pub path: String,
    /// `*variable` (default), `*composed`, `*constant`, `*filler` or `*datetime`.
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    pub value: String,
    /// For `*datetime`: a Go layout (`2006-01-02T15:04:05Z07:00`) or a strftime format.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub layout: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounding_decimals: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
}

#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Field(Field),
    Converted(Field, Vec<Converter>),
    /// `~*em.<Metric>`: a figure of the whole export, for a trailer row.
    Metric(Metric),
}

/// Where a field goes: each exported CDR's row, the file's header row, or its trailer row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Exp,
    Hdr,
    Trl,
}

/// The export's own figures (CGrateS's `*em` metrics) a trailer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    NumberOfEvents,
    TotalCost,
    FirstExpOrderID,
    LastExpOrderID,
    TotalDataUsage,
    TotalSMSUsage,
    TotalDuration,
    TotalGenericUsage,
    TimeNow,
}

const METRICS: &[(&str, Metric)] = &[
    ("NumberOfEvents", Metric::NumberOfEvents),
    ("TotalCost", Metric::TotalCost),
    ("FirstExpOrderID", Metric::FirstExpOrderID),
    ("LastExpOrderID", Metric::LastExpOrderID),
    ("TotalDataUsage", Metric::TotalDataUsage),
    ("TotalSMSUsage", Metric::TotalSMSUsage),
    ("TotalDuration", Metric::TotalDuration),
    ("TotalGenericUsage", Metric::TotalGenericUsage),
    ("TimeNow", Metric::TimeNow),
];

/// The figures of an export so far, as a trailer renders them.
pub trait Metrics {
    fn metric(&self, m: Metric) -> String;
}

fn metric_part(p: &str) -> Result<Part, String> {
    let name = p.strip_prefix("~*em.").unwrap_or_default();
    METRICS.iter().find(|(n, _)| *n == name).map(|(_, m)| Part::Metric(*m)).ok_or_else(|| {
        let names: Vec<&str> = METRICS.iter().map(|(n, _)| *n).collect();
        format!("unknown metric {p:?}: a trailer reads ~*em.<{}>", names.join("|"))
    })
}

/// A `~` part: its field, and the converters after it, if any.
fn field_part(p: &str) -> Result<Part, String> {
    match p.split_once('{') {
        Some((path, rest)) => {
            let spec = rest.strip_suffix('}').ok_or_else(|| format!("{p:?}: converters end with }}"))?;
            Ok(Part::Converted(Field::parse(path)?, converter::parse_all(spec)?))
        }
        None => Field::parse(p).map(Part::Field),
    }
}

/// A template checked and ready to render.
#[derive(Debug, Clone)]
pub struct CompiledField {
    pub tag: String,
    /// The JSON key (`*exp.<Name>`'s name).
    pub key: String,
    pub section: Section,
    parts: Vec<Part>,
    layout: Option<String>,
    rounding: Option<u32>,
    filters: Vec<Filter>,
}

impl CompiledField {
    pub fn compile(t: &FieldTemplate) -> Result<Self, String> {
        let tag = t.tag.trim();
        if tag.is_empty() {
            return Err("every field needs a tag".into());
        }
        let path = if t.path.is_empty() { format!("*exp.{tag}") } else { t.path.clone() };
        let (section, key) = [("*exp.", Section::Exp), ("*hdr.", Section::Hdr), ("*trl.", Section::Trl)]
            .into_iter()
            .find_map(|(prefix, section)| path.strip_prefix(prefix).filter(|k| !k.is_empty()).map(|k| (section, k)))
            .ok_or_else(|| {
                format!(
                    "unknown field path {path:?} for {tag}: fields go to *exp.<Name> (each CDR), *hdr.<Name> (the \
                     header row) or *trl.<Name> (the trailer row)"
                )
            })?;
        let kind = if t.kind.is_empty() { "*variable" } else { t.kind.as_str() };
        let parts = match kind {
            "*constant" | "*filler" => vec![Part::Literal(t.value.clone())],
            "*variable" | "*composed" | "*datetime" => t
                .value
                .split(';')
                .filter(|p| !p.is_empty())
                .map(|p| match (p.starts_with('~'), section) {
                    (false, _) => Ok(Part::Literal(p.to_owned())),
                    (true, Section::Exp) => field_part(p),
                    (true, Section::Trl) => metric_part(p),
                    (true, Section::Hdr) => Err(format!(
                        "{p:?}: a header is written before any CDR, so it holds constants only"
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("field {tag}: {e}"))?,
            other => {
                return Err(format!(
                    "field {tag}: unsupported type {other:?} (supported: *variable, *composed, *constant, *filler, *datetime)"
                ))
            }
        };
        if section != Section::Exp && !t.filters.is_empty() {
            return Err(format!("field {tag}: a header or trailer field has no CDR to filter on"));
        }
        if kind == "*datetime" && !matches!(parts.as_slice(), [Part::Field(f)] if f.is_time()) {
            return Err(format!("field {tag}: *datetime takes one time field, ~*req.SetupTime or ~*req.AnswerTime"));
        }
        let layout = match t.layout.trim() {
            "" => None,
            l => Some(strftime(l).map_err(|e| format!("field {tag}: {e}"))?),
        };
        let filters = t
            .filters
            .iter()
            .map(|f| Filter::parse(f))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("field {tag}: {e}"))?;
        // rust_decimal holds at most 28 decimals; more would only pad every CDR with zeros (an
        // exporter asking for billions of them would have each row take gigabytes).
        if t.rounding_decimals.is_some_and(|d| d > MAX_ROUNDING_DECIMALS) {
            return Err(format!("field {tag}: rounding_decimals must be at most {MAX_ROUNDING_DECIMALS}"));
        }
        if t.value.len() > MAX_VALUE_BYTES || t.layout.len() > MAX_VALUE_BYTES || tag.len() > MAX_VALUE_BYTES {
            return Err(format!("field {tag}: tag, value and layout must be at most {MAX_VALUE_BYTES} bytes each"));
        }
        Ok(Self {
            tag: tag.to_owned(),
            key: key.to_owned(),
            section,
            parts,
            layout,
            rounding: t.rounding_decimals,
            filters,
        })
    }

    /// Appends a header or trailer field's text (constants and the export's figures) to `out`.
    pub fn render_summary(&self, metrics: &dyn Metrics, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Metric(m) => out.push_str(&metrics.metric(*m)),
                Part::Field(_) | Part::Converted(..) => {} // refused outside *exp when compiled
            }
        }
    }

    /// Appends the field's text for `cdr` to `out`.
    pub fn render(&self, cdr: &CdrRecord, out: &mut String) {
        if !self.filters.iter().all(|f| f.passes(cdr)) {
            return;
        }
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Converted(f, converters) => {
                    let start = Converted::from_value(&cdr.get(f));
                    match (converters.iter().try_fold(start, |v, c| c.apply(v)), self.rounding) {
                        (Some(Converted::Number(d)), Some(dp)) => {
                            let rounded = d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
                            out.push_str(&format!("{:.*}", dp as usize, rounded));
                        }
                        (Some(v), _) => out.push_str(&v.render()),
                        (None, _) => {}
                    }
                }
                Part::Metric(_) => {} // refused in *exp when compiled
                Part::Field(f) => match (cdr.get(f), &self.layout, self.rounding) {
                    (Value::Time(t), Some(layout), _) => {
                        use std::fmt::Write;
                        let _ = write!(out, "{}", t.format(layout));
                    }
                    (v, _, Some(dp)) if v.as_decimal().is_some() && !matches!(v, Value::Text(_)) => {
                        let d = v.as_decimal().unwrap_or_default();
                        let rounded = d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
                        out.push_str(&format!("{:.*}", dp as usize, rounded));
                    }
                    (Value::Decimal(d), _, None) => out.push_str(&normalized(d)),
                    (v, _, _) => out.push_str(&v.render()),
                },
            }
        }
    }
}

fn normalized(d: Decimal) -> String {
    d.normalize().to_string()
}

/// Go's reference-time tokens and their strftime equivalents, longest first.
const GO_TOKENS: &[(&str, &str)] = &[
    ("January", "%B"),
    ("Monday", "%A"),
    ("Z07:00", "%:z"),
    ("-07:00", "%:z"),
    ("-0700", "%z"),
    (".000000000", "%.9f"),
    (".000000", "%.6f"),
    (".000", "%.3f"),
    ("2006", "%Y"),
    ("Jan", "%b"),
    ("Mon", "%a"),
    ("MST", "%Z"),
    ("01", "%m"),
    ("02", "%d"),
    ("15", "%H"),
    ("03", "%I"),
    ("04", "%M"),
    ("05", "%S"),
    ("06", "%y"),
    ("PM", "%p"),
];

/// A layout as strftime: taken as is when it holds a `%`, else read as a Go reference layout.
pub fn strftime(layout: &str) -> Result<String, String> {
    let format = if layout.contains('%') {
        layout.to_owned()
    } else {
        let mut out = String::new();
        let mut rest = layout;
        'outer: while !rest.is_empty() {
            for (go, s) in GO_TOKENS {
                if let Some(after) = rest.strip_prefix(go) {
                    out.push_str(s);
                    rest = after;
                    continue 'outer;
                }
            }
            let c = rest.chars().next().expect("not empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    };
    if StrftimeItems::new(&format).any(|i| matches!(i, Item::Error)) {
        return Err(format!("layout {layout:?} is not a Go layout or a strftime format"));
    }
    Ok(format)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    /// The sample CDR, set up at 10:04:05 and costing 0.12345.
    fn cdr() -> CdrRecord {
        let mut c = super::super::record::sample();
        c.setup_time = Utc.with_ymd_and_hms(2026, 5, 1, 10, 4, 5).unwrap();
        c.answer_time = c.setup_time;
        c.cost = Decimal::new(12345, 5);
        c.destination = "super".into();
        c
    }

    fn render(t: FieldTemplate) -> String {
        let mut out = String::new();
        CompiledField::compile(&t).unwrap().render(&cdr(), &mut out);
        out
    }

    fn field(kind: &str, value: &str) -> FieldTemplate {
        FieldTemplate {
            tag: "X".into(),
            path: "*exp.X".into(),
            kind: kind.into(),
            value: value.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_part_runs_its_converters_in_order() {
        assert_eq!(render(field("*variable", "~*req.Cost{*multiply:100&*round:0}")), "12");
        assert_eq!(render(field("*composed", "~*req.Account{*string2hex};-;~*req.Cost{*round:2}")), "0x485331-0.12");
        let mut t = field("*variable", "~*req.Cost{*multiply:3}");
        t.rounding_decimals = Some(2);
        assert_eq!(render(t), "0.37", "rounding_decimals still rounds the converted number");
        for bad in ["~*req.Cost{*multiply:x}", "~*req.Cost{*round:2", "~*req.Nope{*len}"] {
            assert!(CompiledField::compile(&field("*variable", bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn variables_constants_and_composed_values() {
        assert_eq!(render(field("*variable", "~*req.Account")), "HS1");
        assert_eq!(render(field("*constant", "simledger")), "simledger");
        assert_eq!(render(field("*composed", "~*req.Account;-;~*req.iccid")), "HS1-8988");
        assert_eq!(render(field("", "~*req.Usage")), "2048");
        assert_eq!(render(field("*variable", "~*req.Cost")), "0.12345");
    }

    #[test]
    fn times_take_go_layouts_or_strftime_and_decimals_round() {
        let mut t = field("*datetime", "~*req.SetupTime");
        t.layout = "2006-01-02 15:04:05".into();
        assert_eq!(render(t.clone()), "2026-05-01 10:04:05");
        t.layout = "%d/%m/%Y".into();
        assert_eq!(render(t.clone()), "01/05/2026");
        t.layout = String::new();
        assert_eq!(render(t), "2026-05-01T10:04:05+00:00");
        let mut cost = field("*variable", "~*req.Cost");
        cost.rounding_decimals = Some(2);
        assert_eq!(render(cost.clone()), "0.12");
        cost.rounding_decimals = Some(4);
        assert_eq!(render(cost), "0.1235", "half away from zero");
    }

    #[test]
    fn a_field_whose_filter_fails_is_empty() {
        let mut t = field("*constant", "roaming");
        t.filters = vec!["*notstring:~*req.iccid:8988".into()];
        assert_eq!(render(t), "");
    }

    #[test]
    fn an_exporter_field_cannot_ask_for_unbounded_output() {
        let mut huge = field("*variable", "~*req.Cost");
        huge.rounding_decimals = Some(u32::MAX);
        assert!(CompiledField::compile(&huge).unwrap_err().contains("at most 28"));
        huge.rounding_decimals = Some(28);
        assert!(CompiledField::compile(&huge).is_ok());
        let long = field("*constant", &"x".repeat(MAX_VALUE_BYTES + 1));
        assert!(CompiledField::compile(&long).unwrap_err().contains("at most"));
    }

    #[test]
    fn bad_templates_are_refused_with_the_reason() {
        let mut hdr = field("*constant", "x");
        hdr.path = "*hdr.X".into();
        assert!(CompiledField::compile(&hdr).is_ok(), "a constant header field");
        let mut other = field("*constant", "x");
        other.path = "*body.X".into();
        let mut hdr_reading_a_cdr = field("*variable", "~*req.CGRID");
        hdr_reading_a_cdr.path = "*hdr.X".into();
        for (t, why) in [
            (field("*variable", "~*req.Nope"), "unknown field path"),
            (field("*variable", "~*ec.Charges"), "unknown field path"),
            (other, "*exp.<Name>"),
            (hdr_reading_a_cdr, "constants only"),
            (field("*masked_destination", "~*req.Destination"), "unsupported type"),
            (field("*datetime", "~*req.Account"), "one time field"),
            (FieldTemplate { tag: " ".into(), ..field("*constant", "x") }, "needs a tag"),
        ] {
            let err = CompiledField::compile(&t).unwrap_err();
            assert!(err.contains(why), "{t:?}: {err}");
        }
    }
}
