//! JSON-RPC params decoded the way CGrateS decodes them: with Go's `encoding/json`.
//!
//! Go matches an object's keys to a struct's fields case-insensitively, ignores keys that name
//! no field, and treats `null` as absent. CGrateS users' scripts rely on all three (`"Id"` for
//! `ID`, `"ActionPlanIds"` for `ActionPlanIDs`, a stray `"Directions": "*out"` left over from an
//! older release), so a drop-in must too. Everything else stays as strict as the target type:
//! a value of the wrong type is still an error.
//!
//! [`from_str`] is a `serde` deserializer over the raw JSON text. At every struct it reads the
//! object as raw values, renames each key to the field it matches (an exact match first, else a
//! case-insensitive one), drops `null`s and keys that match no field, and hands each value on,
//! unparsed, to the same treatment one level down. Values stay raw text until their own type
//! reads them, so amounts keep every digit (`Box<RawValue>` works at any depth).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::value::RawValue;

/// The name `serde_json` gives the newtype it reads a `RawValue` through.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Decodes `json` into `T` as Go's `encoding/json` would decode it into the matching struct.
pub fn from_str<T: DeserializeOwned>(json: &str) -> Result<T, serde_json::Error> {
    T::deserialize(GoJson::new(json))
}

/// A JSON text, decoded on demand.
pub struct GoJson {
    text: Box<str>,
}

impl GoJson {
    pub fn new(json: &str) -> Self {
        Self { text: json.into() }
    }

    fn from_raw(raw: Box<RawValue>) -> Self {
        Self { text: raw.into() }
    }

    /// `serde_json` over the text; from a reader, so that it lends the visitor nothing and
    /// works for any lifetime the caller's type asks for.
    fn json(&self) -> serde_json::Deserializer<serde_json::de::IoRead<&[u8]>> {
        serde_json::Deserializer::from_reader(self.text.as_bytes())
    }

    fn is_null(&self) -> bool {
        self.text.trim() == "null"
    }

    fn object(&self) -> Option<BTreeMap<String, Box<RawValue>>> {
        self.text.trim_start().starts_with('{').then(|| serde_json::from_str(&self.text).ok()).flatten()
    }
}

impl<'de> de::Deserializer<'de> for GoJson {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let trimmed = self.text.trim_start();
        if trimmed.starts_with('[') {
            self.deserialize_seq(visitor)
        } else if trimmed.starts_with('{') {
            self.deserialize_map(visitor)
        } else {
            self.json().deserialize_any(visitor)
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        if self.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        if name == RAW_VALUE_TOKEN {
            self.json().deserialize_newtype_struct(name, visitor)
        } else {
            visitor.visit_newtype_struct(self)
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        if !self.text.trim_start().starts_with('[') {
            return self.json().deserialize_seq(visitor);
        }
        let items: Vec<Box<RawValue>> = serde_json::from_str(&self.text)?;
        visitor.visit_seq(Items(items.into_iter()))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.object() {
            Some(object) => visitor.visit_map(Entries::new(object.into_iter().collect())),
            None => self.json().deserialize_map(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let Some(object) = self.object() else { return self.json().deserialize_struct(name, fields, visitor) };
        let mut entries = Vec::with_capacity(object.len());
        for (key, value) in object {
            if value.get().trim() == "null" {
                continue;
            }
            let field =
                fields.iter().find(|f| **f == key).or_else(|| fields.iter().find(|f| f.eq_ignore_ascii_case(&key)));
            match field {
                Some(field) => entries.push(((*field).to_owned(), value)),
                None => {
                    tracing::debug!(%key, r#struct = name, "a parameter that names no field was ignored, as Go does")
                }
            }
        }
        visitor.visit_map(Entries::new(entries))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.json().deserialize_enum(name, variants, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct identifier
    }
}

/// An array's items, each decoded on demand.
struct Items(std::vec::IntoIter<Box<RawValue>>);

impl<'de> SeqAccess<'de> for Items {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Self::Error> {
        self.0.next().map(|raw| seed.deserialize(GoJson::from_raw(raw))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// An object's entries (keys already matched to fields, for a struct), values decoded on demand.
struct Entries {
    entries: std::vec::IntoIter<(String, Box<RawValue>)>,
    value: Option<Box<RawValue>>,
}

impl Entries {
    fn new(entries: Vec<(String, Box<RawValue>)>) -> Self {
        Self { entries: entries.into_iter(), value: None }
    }
}

impl<'de> MapAccess<'de> for Entries {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        self.value = Some(value);
        let key: de::value::StringDeserializer<serde_json::Error> = key.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        let raw = self.value.take().ok_or_else(|| de::Error::custom("a value without its key"))?;
        seed.deserialize(GoJson::from_raw(raw))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

impl fmt::Debug for GoJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GoJson").field(&self.text).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct Balance {
        #[serde(rename = "ID", default)]
        id: String,
        #[serde(default)]
        value: Option<Box<RawValue>>,
        #[serde(rename = "DestinationIDs", default)]
        destination_ids: Option<BTreeMap<String, bool>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct SetBalance {
        #[serde(default)]
        tenant: String,
        account: String,
        #[serde(rename = "ActionPlanIDs", default)]
        action_plan_ids: Vec<String>,
        #[serde(default)]
        overwrite: bool,
        balance: Option<Balance>,
        #[serde(default)]
        extra: BTreeMap<String, String>,
    }

    #[test]
    fn keys_match_fields_case_insensitively_and_unknown_keys_and_nulls_are_dropped() {
        let got: SetBalance = from_str(
            r#"{"tenant": "cgrates.org", "ACCOUNT": "1001", "ActionPlanIds": ["PACKAGE_1"], "Overwrite": null,
                "Directions": "*out", "Balance": {"Id": "main", "value": 0.10000000000000000001,
                "DestinationIds": {"DST_NZ": true}, "Weight": 10}, "Extra": {"Keep": "as-is"}}"#,
        )
        .unwrap();
        assert_eq!(got.tenant, "cgrates.org");
        assert_eq!(got.account, "1001");
        assert_eq!(got.action_plan_ids, ["PACKAGE_1"]);
        assert!(!got.overwrite, "null is absent");
        let balance = got.balance.unwrap();
        assert_eq!(balance.id, "main");
        assert_eq!(balance.value.unwrap().get(), "0.10000000000000000001", "every digit kept");
        assert!(balance.destination_ids.unwrap()["DST_NZ"]);
        assert_eq!(got.extra["Keep"], "as-is", "a map's keys are data, kept as they are");
    }

    #[test]
    fn a_value_of_the_wrong_type_or_a_missing_field_is_still_an_error() {
        assert!(from_str::<SetBalance>(r#"{"Account": 1001}"#).is_err());
        assert!(from_str::<SetBalance>(r#"{"Tenant": "x"}"#).is_err());
        assert!(from_str::<SetBalance>(r#"{"Account": "1", "ActionPlanIDs": "PACKAGE_1"}"#).is_err());
        assert!(from_str::<SetBalance>(r#"[1, 2]"#).is_err());
    }

    #[test]
    fn an_exact_match_wins_over_a_case_insensitive_one() {
        #[derive(Deserialize)]
        struct Two {
            #[serde(rename = "Id", default)]
            id: String,
            #[serde(rename = "ID", default)]
            upper: String,
        }
        let got: Two = from_str(r#"{"ID": "a", "Id": "b"}"#).unwrap();
        assert_eq!((got.id.as_str(), got.upper.as_str()), ("b", "a"));
    }
}
