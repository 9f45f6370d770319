//! The domain's identifiers as types, each parsed once where it enters (REST, JSON-RPC, NATS,
//! the database) so nothing past the edge re-checks a prefix or a length.
//!
//! - [`Sid<K>`]: a Twilio-style SID, two letters naming its kind and 32 hex digits
//!   ([`SimSid`] `HS…`, [`FleetSid`] `HF…`, [`NapSid`] `HA…`, …). A SID of one kind is not
//!   accepted where another is wanted: the compiler holds that line.
//! - [`Iccid`]: a SIM card's number, 18 to 22 digits.
//! - [`Imsi`]: a subscriber identity on the network, 6 to 15 digits.
//!
//! Each serialises as its plain text, so the JSON of the log's events and of the APIs is the
//! same as when these were strings.

use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::str::FromStr;

/// Why a text is not the identifier wanted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{text:?} is not a {kind} SID ({prefix} followed by 32 hex digits)")]
    Sid { kind: &'static str, prefix: &'static str, text: String },
    #[error("{text:?} is not an ICCID (18 to 22 digits)")]
    Iccid { text: String },
    #[error("{text:?} is not an IMSI (6 to 15 digits)")]
    Imsi { text: String },
}

/// A kind of SID: its two-letter prefix and what it names.
pub trait SidKind: Send + Sync + 'static {
    const PREFIX: &'static str;
    /// What a SID of this kind names, for messages.
    const NAME: &'static str;
}

macro_rules! sid_kinds {
    ($($(#[$doc:meta])* $kind:ident, $alias:ident, $prefix:literal, $name:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $kind {}
        impl SidKind for $kind {
            const PREFIX: &'static str = $prefix;
            const NAME: &'static str = $name;
        }
        $(#[$doc])*
        pub type $alias = Sid<$kind>;
    )*};
}

sid_kinds! {
    /// A customer account.
    Account, AccountSid, "AC", "Account";
    /// A Super SIM.
    Sim, SimSid, "HS", "Sim";
    /// A fleet of SIMs.
    Fleet, FleetSid, "HF", "Fleet";
    /// A network access profile.
    Nap, NapSid, "HA", "NetworkAccessProfile";
    /// An SMS Command.
    SmsCommand, SmsCommandSid, "HC", "SmsCommand";
    /// An IP Command.
    IpCommand, IpCommandSid, "HG", "IpCommand";
    /// An eSIM profile.
    EsimProfile, EsimProfileSid, "HP", "EsimProfile";
    /// A billing period.
    BillingPeriod, BillingPeriodSid, "HB", "BillingPeriod";
    /// An Event Streams sink.
    Sink, SinkSid, "DG", "Sink";
    /// An Event Streams subscription.
    Subscription, SubscriptionSid, "DF", "Subscription";
}

/// A Twilio-style SID of kind `K`: `K::PREFIX` and 32 hex digits.
pub struct Sid<K> {
    text: String,
    kind: PhantomData<K>,
}

impl<K: SidKind> Sid<K> {
    const LEN: usize = 34;

    pub fn parse(text: &str) -> Result<Self, IdError> {
        if Self::is_valid(text) {
            Ok(Self { text: text.to_owned(), kind: PhantomData })
        } else {
            Err(IdError::Sid { kind: K::NAME, prefix: K::PREFIX, text: shown(text) })
        }
    }

    /// Whether `text` is a SID of this kind.
    pub fn is_valid(text: &str) -> bool {
        text.len() == Self::LEN && text.starts_with(K::PREFIX) && text[2..].bytes().all(|b| b.is_ascii_hexdigit())
    }

    /// The SID whose 32 hex digits are `digits` (a digest or a UUID's simple form).
    pub fn from_digits(digits: &str) -> Result<Self, IdError> {
        Self::parse(&format!("{}{digits}", K::PREFIX))
    }

    /// The `n`th SID of this kind, `n` as 32 hex digits: for simulated fleets and tests, where a
    /// SID that reads as a number is easier to follow.
    pub fn numbered(n: u128) -> Self {
        Self { text: format!("{}{n:032x}", K::PREFIX), kind: PhantomData }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn into_string(self) -> String {
        self.text
    }
}

/// Display, JSON and parsing of a kind named by text (`*topup`, `*file_csv`): `$t` has
/// `as_str(self) -> &'static str` and `FromStr`; JSON holds the name, and a name that does not
/// parse is refused as `FromStr` words it.
#[macro_export]
macro_rules! named_kind {
    ($t:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = std::borrow::Cow::<str>::deserialize(deserializer)?;
                name.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Input quoted in an error, bounded: a hostile caller must not make the error large.
pub fn shown(text: &str) -> String {
    text.chars().take(40).collect()
}

// By hand rather than derived: a derive would ask the same of `K`, which is never built.
impl<K> Clone for Sid<K> {
    fn clone(&self) -> Self {
        Self { text: self.text.clone(), kind: PhantomData }
    }
}
impl<K> PartialEq for Sid<K> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl<K> Eq for Sid<K> {}
impl<K> PartialOrd for Sid<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Sid<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}
impl<K> Hash for Sid<K> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state)
    }
}
impl<K> fmt::Debug for Sid<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}
impl<K> fmt::Display for Sid<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
/// Read as text wherever text is wanted (SQL, keys, formatting); built only by parsing.
impl<K> std::ops::Deref for Sid<K> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}
impl<K> std::borrow::Borrow<str> for Sid<K> {
    fn borrow(&self) -> &str {
        &self.text
    }
}
impl<K> AsRef<str> for Sid<K> {
    fn as_ref(&self) -> &str {
        &self.text
    }
}
impl<K> PartialEq<str> for Sid<K> {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}
impl<K> PartialEq<&str> for Sid<K> {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}
impl<K> From<Sid<K>> for String {
    fn from(sid: Sid<K>) -> String {
        sid.text
    }
}
impl<K: SidKind> FromStr for Sid<K> {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}
impl<K: SidKind> TryFrom<String> for Sid<K> {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        if Self::is_valid(&s) {
            Ok(Self { text: s, kind: PhantomData })
        } else {
            Err(IdError::Sid { kind: K::NAME, prefix: K::PREFIX, text: shown(&s) })
        }
    }
}

/// Digit strings: ICCIDs and IMSIs.
macro_rules! digits_id {
    ($(#[$doc:meta])* $name:ident, $min:literal..=$max:literal, $variant:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, IdError> {
                if Self::is_valid(text) {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(IdError::$variant { text: shown(text) })
                }
            }

            pub fn is_valid(text: &str) -> bool {
                ($min..=$max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                if Self::is_valid(&s) {
                    Ok(Self(s))
                } else {
                    Err(IdError::$variant { text: shown(&s) })
                }
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Self::try_from(String::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }
        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <String as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }
        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <String as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }
        impl<'q> sqlx::Encode<'q, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.0.as_str(), buf)
            }
        }
        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(Self::try_from(<String as sqlx::Decode<sqlx::Postgres>>::decode(value)?)?)
            }
        }
    };
}

digits_id!(
    /// A SIM card's ICCID: 18 to 22 digits (ITU-T E.118).
    Iccid, 18..=22, Iccid
);
digits_id!(
    /// An IMSI: MCC, MNC and subscriber number, 6 to 15 digits (3GPP TS 23.003; test networks use
    /// short ones).
    Imsi, 6..=15, Imsi
);

impl<K> serde::Serialize for Sid<K> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}
impl<'de, K: SidKind> serde::Deserialize<'de> for Sid<K> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::try_from(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}
impl<K> sqlx::Type<sqlx::Postgres> for Sid<K> {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::Type<sqlx::Postgres>>::type_info()
    }
    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}
impl<K> sqlx::postgres::PgHasArrayType for Sid<K> {
    fn array_type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::postgres::PgHasArrayType>::array_type_info()
    }
}
impl<'q, K> sqlx::Encode<'q, sqlx::Postgres> for Sid<K> {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.text.as_str(), buf)
    }
}
impl<'r, K: SidKind> sqlx::Decode<'r, sqlx::Postgres> for Sid<K> {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Self::try_from(<String as sqlx::Decode<sqlx::Postgres>>::decode(value)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIM: &str = "HS0123456789abcdef0123456789abcdef";

    #[test]
    fn a_sid_of_its_kind_parses_and_reads_back_as_it_was_given() {
        let sid = SimSid::parse(SIM).unwrap();
        assert_eq!(sid.as_str(), SIM);
        assert_eq!(sid.to_string(), SIM);
        assert_eq!(serde_json::to_string(&sid).unwrap(), format!("\"{SIM}\""));
        assert_eq!(serde_json::from_str::<SimSid>(&format!("\"{SIM}\"")).unwrap(), sid);
    }

    #[test]
    fn a_sid_of_another_kind_or_shape_is_refused() {
        for bad in ["", "HS", "HS1", &SIM[..33], &format!("{SIM}0"), "HF0123456789abcdef0123456789abcdef"] {
            assert!(SimSid::parse(bad).is_err(), "{bad:?}");
        }
        assert!(SimSid::parse("HS0123456789abcdef0123456789abcdeg").is_err(), "not hex");
        assert!(SimSid::parse("HSé123456789abcdef0123456789abcde").is_err(), "not ASCII");
        assert!(serde_json::from_str::<FleetSid>(&format!("\"{SIM}\"")).is_err());
    }

    #[test]
    fn an_error_quotes_at_most_40_characters_of_the_input() {
        let long = "x".repeat(10_000);
        let e = SimSid::parse(&long).unwrap_err().to_string();
        assert!(e.len() < 120, "{e}");
        assert!(Imsi::parse(&long).unwrap_err().to_string().len() < 120);
    }

    #[test]
    fn iccids_and_imsis_are_digits_of_their_lengths() {
        assert!(Iccid::parse("8944500102198304826").is_ok());
        assert!(Iccid::parse("89445001021983048").is_err(), "17 digits");
        assert!(Iccid::parse("894450010219830482a").is_err());
        assert!(Imsi::parse("001010000000001").is_ok());
        assert!(Imsi::parse("0010100000000012").is_err(), "16 digits");
        assert!(Imsi::parse("00101").is_err(), "5 digits");
        assert!(serde_json::from_str::<Imsi>("\"00101x\"").is_err());
    }
}
