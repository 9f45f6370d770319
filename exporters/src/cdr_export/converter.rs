//! CGrateS's data converters in field values: `~*req.Usage{*duration_seconds&*round:2}` applies
//! each converter after the `{`, `&`-separated, in order, to the field's value.
//!
//! Supported: `*duration_seconds`, `*duration_nanoseconds` (a number is nanoseconds, as Go's
//! `time.Duration`; text such as `1m30s` is read as Go writes durations), `*round[:N[:method]]`
//! (`*middle` half away from zero, the default; `*up`; `*down`), `*multiply:X`, `*divide:X`,
//! `*string2hex` (`0x` and the bytes' hex), `*len`, `*time_string[:layout]` (a Go layout,
//! RFC 3339 by default) and `*unixtime`. A value a converter cannot take is written empty.

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

use super::record::Value;
use super::template::{strftime, MAX_ROUNDING_DECIMALS};

/// The most converters one field may chain.
pub const MAX_CONVERTERS: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub enum Converter {
    DurationSeconds,
    DurationNanoseconds,
    Round {
        decimals: u32,
        strategy: RoundingStrategy,
    },
    Multiply(Decimal),
    Divide(Decimal),
    String2Hex,
    Len,
    /// A strftime format.
    TimeString(String),
    UnixTime,
}

/// A value between converters.
#[derive(Debug, Clone, PartialEq)]
pub enum Converted {
    Number(Decimal),
    Text(String),
    Time(DateTime<Utc>),
}

impl Converted {
    pub fn from_value(v: &Value<'_>) -> Self {
        match v {
            Value::Time(t) => Self::Time(*t),
            Value::Int(_) | Value::Decimal(_) => Self::Number(v.as_decimal().unwrap_or_default()),
            other => Self::Text(other.render().into_owned()),
        }
    }

    pub fn render(&self) -> String {
        match self {
            Self::Number(d) => d.normalize().to_string(),
            Self::Text(s) => s.clone(),
            Self::Time(t) => t.to_rfc3339(),
        }
    }

    fn number(&self) -> Option<Decimal> {
        match self {
            Self::Number(d) => Some(*d),
            Self::Text(s) => s.trim().parse().ok(),
            Self::Time(_) => None,
        }
    }

    fn nanoseconds(&self) -> Option<Decimal> {
        match self {
            Self::Number(d) => Some(*d),
            Self::Text(s) => s.trim().parse().ok().or_else(|| go_duration_nanos(s.trim())),
            Self::Time(_) => None,
        }
    }
}

/// Parses a field part's converters: the text between `{` and `}`.
pub fn parse_all(spec: &str) -> Result<Vec<Converter>, String> {
    let list: Vec<&str> = spec.split('&').map(str::trim).collect();
    if list.len() > MAX_CONVERTERS {
        return Err(format!("at most {MAX_CONVERTERS} converters per field"));
    }
    list.into_iter().map(parse).collect()
}

fn parse(spec: &str) -> Result<Converter, String> {
    let (name, params) = spec.split_once(':').unwrap_or((spec, ""));
    let number = |what: &str| -> Result<Decimal, String> {
        params.trim().parse::<Decimal>().map_err(|_| format!("{what} takes a number, got {params:?}"))
    };
    Ok(match name {
        "*duration_seconds" => Converter::DurationSeconds,
        "*duration_nanoseconds" => Converter::DurationNanoseconds,
        "*round" => {
            let mut p = params.split(':');
            let decimals = match p.next().filter(|d| !d.is_empty()) {
                Some(d) => d.parse::<u32>().map_err(|_| format!("*round takes whole decimals, got {d:?}"))?,
                None => 0,
            };
            if decimals > MAX_ROUNDING_DECIMALS {
                return Err(format!("*round takes at most {MAX_ROUNDING_DECIMALS} decimals"));
            }
            let strategy = match p.next().unwrap_or("*middle") {
                "*middle" => RoundingStrategy::MidpointAwayFromZero,
                "*up" => RoundingStrategy::ToPositiveInfinity,
                "*down" => RoundingStrategy::ToNegativeInfinity,
                other => return Err(format!("*round's method is *middle, *up or *down, got {other:?}")),
            };
            Converter::Round { decimals, strategy }
        }
        "*multiply" => Converter::Multiply(number("*multiply")?),
        "*divide" => match number("*divide")? {
            d if d.is_zero() => return Err("*divide by zero".into()),
            d => Converter::Divide(d),
        },
        "*string2hex" => Converter::String2Hex,
        "*len" => Converter::Len,
        "*time_string" => Converter::TimeString(match params {
            "" => "%Y-%m-%dT%H:%M:%S%:z".to_owned(),
            layout => strftime(layout)?,
        }),
        "*unixtime" => Converter::UnixTime,
        other => return Err(format!("unsupported converter {other:?}")),
    })
}

impl Converter {
    /// The value after this converter; `None` when it cannot take it.
    pub fn apply(&self, v: Converted) -> Option<Converted> {
        let billion = Decimal::from(1_000_000_000);
        Some(match self {
            Self::DurationSeconds => Converted::Number(v.nanoseconds()?.checked_div(billion)?),
            Self::DurationNanoseconds => Converted::Number(v.nanoseconds()?.trunc()),
            Self::Round { decimals, strategy } => {
                Converted::Number(v.number()?.round_dp_with_strategy(*decimals, *strategy))
            }
            Self::Multiply(x) => Converted::Number(v.number()?.checked_mul(*x)?),
            Self::Divide(x) => Converted::Number(v.number()?.checked_div(*x)?),
            Self::String2Hex => {
                let text = v.render();
                Converted::Text(if text.is_empty() { text } else { format!("0x{}", hex::encode(text)) })
            }
            Self::Len => Converted::Number(Decimal::from(v.render().chars().count())),
            Self::TimeString(layout) => Converted::Text(time_of(&v)?.format(layout).to_string()),
            Self::UnixTime => Converted::Number(Decimal::from(time_of(&v)?.timestamp())),
        })
    }
}

fn time_of(v: &Converted) -> Option<DateTime<Utc>> {
    match v {
        Converted::Time(t) => Some(*t),
        Converted::Text(s) => DateTime::parse_from_rfc3339(s.trim()).ok().map(|t| t.with_timezone(&Utc)),
        Converted::Number(_) => None,
    }
}

/// Go's duration text (`1h2m3.5s`, `300ms`, `-1.5h`) in nanoseconds.
fn go_duration_nanos(s: &str) -> Option<Decimal> {
    let (sign, mut rest) = match s.strip_prefix('-') {
        Some(r) => (Decimal::NEGATIVE_ONE, r),
        None => (Decimal::ONE, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total = Decimal::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let amount: Decimal = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let per_unit = match &rest[..unit_len] {
            "ns" => 1i64,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        total = total.checked_add(amount.checked_mul(Decimal::from(per_unit))?)?;
        rest = &rest[unit_len..];
    }
    Some(sign * total)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn run(spec: &str, v: Converted) -> Option<String> {
        let converters = parse_all(spec).unwrap();
        converters.iter().try_fold(v, |v, c| c.apply(v)).map(|v| v.render())
    }

    fn n(s: &str) -> Converted {
        Converted::Number(s.parse().unwrap())
    }

    #[test]
    fn durations_are_nanoseconds_or_go_text() {
        assert_eq!(run("*duration_seconds", n("2450000000000")), Some("2450".into()));
        assert_eq!(run("*duration_seconds", Converted::Text("1m30.5s".into())), Some("90.5".into()));
        assert_eq!(run("*duration_nanoseconds", Converted::Text("5m".into())), Some("300000000000".into()));
        assert_eq!(run("*duration_seconds", Converted::Text("soon".into())), None);
    }

    #[test]
    fn converters_chain_in_order() {
        assert_eq!(run("*duration_seconds&*round:1", n("1234567890")), Some("1.2".into()));
        assert_eq!(run("*multiply:1.5&*round:0:*up", n("3")), Some("5".into()));
        assert_eq!(run("*divide:4&*round:2:*down", n("1")), Some("0.25".into()));
        assert_eq!(run("*round:2", n("0.125")), Some("0.13".into()), "half away from zero by default");
    }

    #[test]
    fn text_and_time_converters() {
        assert_eq!(run("*string2hex", Converted::Text("HS1".into())), Some("0x485331".into()));
        assert_eq!(run("*string2hex", Converted::Text(String::new())), Some(String::new()));
        assert_eq!(run("*len", Converted::Text("super".into())), Some("5".into()));
        let t = Converted::Time(Utc.with_ymd_and_hms(2026, 5, 1, 10, 4, 5).unwrap());
        assert_eq!(run("*time_string:2006-01-02 15:04", t.clone()), Some("2026-05-01 10:04".into()));
        assert_eq!(run("*unixtime", t), Some("1777629845".into()));
    }

    #[test]
    fn what_a_converter_cannot_take_is_empty_and_bad_specs_are_refused() {
        assert_eq!(run("*multiply:2", Converted::Text("n/a".into())), None);
        assert_eq!(run("*multiply:79228162514264337593543950335", n("79228162514264337593543950335")), None);
        for bad in ["*divide:0", "*round:x", "*round:29", "*round:2:*sideways", "*nope", "*multiply", "*time_string:%Q"]
        {
            assert!(parse_all(bad).is_err(), "{bad}");
        }
        assert!(parse_all(&["*len"; MAX_CONVERTERS + 1].join("&")).is_err());
    }
}
