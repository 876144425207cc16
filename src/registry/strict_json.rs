//! A JSON reader that, unlike `serde_json::from_str::<Value>`, notices a
//! key written twice in an object (serde_json keeps the last one silently).

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The document's top level.
pub enum Top {
    /// An object: its keys and values in order.
    Object(Vec<(String, Value)>),
    /// Anything else.
    Other(Value),
}

/// Why the text was refused.
pub enum Error {
    /// Not JSON.
    Json(serde_json::Error),
    /// `key` twice in the top-level object (`device: None`) or somewhere
    /// inside the entry of `device`.
    Duplicate { device: Option<String>, key: String },
}

/// What kind of JSON value something is (for a top level that is not an
/// object: the catalogue names it in the error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    /// `{…}`.
    Object,
    /// `[…]`.
    Array,
    /// `"…"`.
    String,
    /// `5`, `-0.5`.
    Number,
    /// `true` or `false`.
    Bool,
    /// `null`.
    Null,
}

/// What the top level is.
pub fn kind(top: &Top) -> JsonKind {
    match top {
        Top::Object(_) => JsonKind::Object,
        Top::Other(Value::Array(_)) => JsonKind::Array,
        Top::Other(Value::String(_)) => JsonKind::String,
        Top::Other(Value::Number(_)) => JsonKind::Number,
        Top::Other(Value::Bool(_)) => JsonKind::Bool,
        Top::Other(_) => JsonKind::Null,
    }
}

/// Reads `text`; the first duplicate key found wins over the rest.
pub fn parse(text: &str) -> Result<Top, Error> {
    let dup = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let top = Seed {
        dup: &dup,
        device: None,
        depth: 0,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    if let Some((device, key)) = dup.into_inner() {
        return Err(Error::Duplicate { device, key });
    }
    match top.map_err(Error::Json)? {
        Built::Top(entries) => Ok(Top::Object(entries)),
        Built::Value(v) => Ok(Top::Other(v)),
    }
}

enum Built {
    Top(Vec<(String, Value)>),
    Value(Value),
}

impl Built {
    fn value(self) -> Value {
        match self {
            Built::Value(v) => v,
            Built::Top(entries) => Value::Object(entries.into_iter().collect()),
        }
    }
}

/// Where a value sits: `depth` 0 is the document, 1 a device entry.
#[derive(Clone, Copy)]
struct Seed<'a> {
    dup: &'a RefCell<Option<(Option<String>, String)>>,
    device: Option<&'a str>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Built;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Built, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Built;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Built, E> {
        Ok(Built::Value(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Built, E> {
        Ok(Built::Value(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Built, E> {
        Ok(Built::Value(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Built, E> {
        Ok(Built::Value(Value::from(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Built, E> {
        Ok(Built::Value(Value::from(v)))
    }
    fn visit_string<E>(self, v: String) -> Result<Built, E> {
        Ok(Built::Value(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Built, E> {
        Ok(Built::Value(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Built, A::Error> {
        let mut out = Vec::new();
        let inner = Seed {
            depth: self.depth + 1,
            ..self
        };
        while let Some(v) = seq.next_element_seed(inner)? {
            out.push(v.value());
        }
        Ok(Built::Value(Value::Array(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Built, A::Error> {
        let mut entries: Vec<(String, Value)> = Vec::new();
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let device = if self.depth == 0 {
                Some(key.as_str())
            } else {
                self.device
            };
            let value = map.next_value_seed(Seed {
                dup: self.dup,
                device,
                depth: self.depth + 1,
            })?;
            if !seen.insert(key.clone()) {
                let mut dup = self.dup.borrow_mut();
                if dup.is_none() {
                    *dup = Some((self.device.map(str::to_string), key.clone()));
                }
            }
            entries.push((key, value.value()));
        }
        if self.depth == 0 {
            Ok(Built::Top(entries))
        } else {
            Ok(Built::Value(Value::Object(entries.into_iter().collect())))
        }
    }
}
