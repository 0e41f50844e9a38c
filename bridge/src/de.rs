//! A serde `Deserializer` over located YAML nodes. Errors carry the line, column and key path
//! of the value (or key) they are about, so `deny_unknown_fields`, type and value errors all
//! come out as `FILE:LINE:COLUMN: key.path: message`.

use crate::yaml::{Kind, Located, Node};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use std::fmt;

#[derive(Debug)]
pub(crate) struct DeError {
    pub message: String,
    pub line: usize,
    pub col: usize,
    pub path: String,
    located: bool,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            line: 0,
            col: 0,
            path: String::new(),
            located: false,
        }
    }
}

impl DeError {
    fn at(mut self, line: usize, col: usize, path: &str, secret: bool) -> Self {
        if !self.located {
            self.located = true;
            self.line = line;
            self.col = col;
            self.path = path.to_owned();
            if secret {
                // serde quotes the offending value; a value from a secret is never printed.
                self.message = "invalid value (it comes from a secret, so it is not shown)".into();
            }
        }
        self
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Deserialize `T` from a document node.
pub(crate) fn from_node<'de, T: de::Deserialize<'de>>(node: &Node) -> Result<T, DeError> {
    T::deserialize(De {
        node,
        path: String::new(),
    })
}

struct De<'a> {
    node: &'a Node,
    path: String,
}

impl De<'_> {
    fn locate(&self, e: DeError) -> DeError {
        e.at(self.node.line, self.node.col, &self.path, self.node.secret)
    }
}

impl<'de> de::Deserializer<'de> for De<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            Kind::Null => v.visit_unit(),
            Kind::Bool(b) => v.visit_bool(*b),
            Kind::Int(i) => v.visit_i64(*i),
            Kind::Float(f) => v.visit_f64(*f),
            Kind::Str(s) => v.visit_str(s),
            Kind::Seq(items) => v.visit_seq(SeqAccess {
                items: items.iter().enumerate(),
                path: &self.path,
            }),
            Kind::Map(entries) => v.visit_map(MapAccess {
                entries: entries.iter(),
                value: None,
                path: &self.path,
            }),
        };
        r.map_err(|e| self.locate(e))
    }

    /// Scalars are accepted where a string is wanted (`routing_key: 123`).
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            Kind::Bool(b) => v.visit_string(b.to_string()),
            Kind::Int(i) => v.visit_string(i.to_string()),
            Kind::Float(f) => v.visit_string(f.to_string()),
            _ => return self.deserialize_any(v),
        };
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.node.kind {
            Kind::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, DeError> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            Kind::Str(s) => v.visit_enum(s.as_str().into_deserializer()),
            Kind::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                v.visit_enum(EnumAccess {
                    key,
                    value,
                    path: &self.path,
                })
            }
            _ => Err(de::Error::custom(format!(
                "expected exactly one of: {}",
                variants.join(", ")
            ))),
        };
        r.map_err(|e| self.locate(e))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

struct SeqAccess<'a, I> {
    items: I,
    path: &'a str,
}

impl<'de, 'a, I: Iterator<Item = (usize, &'a Node)>> de::SeqAccess<'de> for SeqAccess<'a, I> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some((i, node)) => seed
                .deserialize(De {
                    node,
                    path: format!("{}[{i}]", self.path),
                })
                .map(Some),
            None => Ok(None),
        }
    }
}

struct MapAccess<'a, I> {
    entries: I,
    value: Option<(&'a Located<String>, &'a Node)>,
    path: &'a str,
}

impl<'de, 'a, I: Iterator<Item = &'a (Located<String>, Node)>> de::MapAccess<'de>
    for MapAccess<'a, I>
{
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some((key, value));
        let path = join(self.path, &key.value);
        seed.deserialize(key.value.as_str().into_deserializer())
            .map(Some)
            .map_err(|e: DeError| e.at(key.line, key.col, &path, false))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (key, node) = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("value without a key"))?;
        seed.deserialize(De {
            node,
            path: join(self.path, &key.value),
        })
    }
}

struct EnumAccess<'a> {
    key: &'a Located<String>,
    value: &'a Node,
    path: &'a str,
}

impl<'de, 'a> de::EnumAccess<'de> for EnumAccess<'a> {
    type Error = DeError;
    type Variant = De<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, De<'a>), DeError> {
        let path = join(self.path, &self.key.value);
        let variant = seed
            .deserialize(self.key.value.as_str().into_deserializer())
            .map_err(|e: DeError| e.at(self.key.line, self.key.col, &path, false))?;
        Ok((
            variant,
            De {
                node: self.value,
                path,
            },
        ))
    }
}

impl<'de> de::VariantAccess<'de> for De<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_any(self, v)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_any(self, v)
    }
}
