//! serde deserialization from ETF.
//!
//! Atoms `nil`, `true` and `false` read as unit/none and booleans, other
//! atoms as strings; binaries as strings (when UTF-8) or bytes; lists and
//! tuples as sequences; maps as maps or structs. Strings borrow from the
//! input. Compressed terms are inflated with [`crate::decompress`] first,
//! and then read with [`Deserializer::new`].

use crate::decoder::{decompress, Decoder, Event, Limits};
use crate::error::{Error, ErrorKind};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::Deserialize;
use std::borrow::Cow;

/// Deserializes a complete, uncompressed term with default limits.
pub fn from_slice<'de, T: Deserialize<'de>>(input: &'de [u8]) -> Result<T, Error> {
    from_slice_with(input, Limits::default())
}

/// Deserializes a complete, uncompressed term with the given limits.
pub fn from_slice_with<'de, T: Deserialize<'de>>(input: &'de [u8], limits: Limits) -> Result<T, Error> {
    let body = match decompress(input, &limits)? {
        Cow::Borrowed(body) => body,
        Cow::Owned(_) => {
            return Err(Error::at(
                ErrorKind::Message("compressed term: inflate it with etf::decompress, then use Deserializer::new".into()),
                1,
            ))
        }
    };
    let mut de = Deserializer::new(body, 1, limits);
    let v = T::deserialize(&mut de)?;
    de.dec.finish()?;
    Ok(v)
}

/// Reads serde values from a term's bytes (after the version byte).
pub struct Deserializer<'de> {
    dec: Decoder<'de>,
    peeked: Option<Event<'de>>,
}

impl<'de> Deserializer<'de> {
    /// `base` is the offset of `body` in the original input, for errors.
    pub fn new(body: &'de [u8], base: usize, limits: Limits) -> Self {
        Deserializer { dec: Decoder::new(body, base, limits), peeked: None }
    }

    fn next(&mut self) -> Result<Event<'de>, Error> {
        match self.peeked.take() {
            Some(e) => Ok(e),
            None => self.dec.next(),
        }
    }

    fn peek(&mut self) -> Result<&Event<'de>, Error> {
        if self.peeked.is_none() {
            self.peeked = Some(self.dec.next()?);
        }
        Ok(self.peeked.as_ref().expect("just set"))
    }

    fn error(&self, msg: &str) -> Error {
        Error::at(ErrorKind::Message(msg.into()), self.dec.position())
    }

    fn expect_nil_tail(&mut self) -> Result<(), Error> {
        match self.next()? {
            Event::Nil => Ok(()),
            _ => Err(self.error("improper list")),
        }
    }
}

fn latin1(name: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(name) {
        Ok(s) if name.is_ascii() => Cow::Borrowed(s),
        _ => Cow::Owned(name.iter().map(|&b| b as char).collect()),
    }
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.next()? {
            Event::Int(i) => visitor.visit_i64(i),
            Event::Big { negative, le } if le.len() <= 16 => {
                let mut buf = [0u8; 16];
                buf[..le.len()].copy_from_slice(le);
                let m = u128::from_le_bytes(buf);
                match (negative, i128::try_from(m)) {
                    (false, _) => match u64::try_from(m) {
                        Ok(u) => visitor.visit_u64(u),
                        Err(_) => visitor.visit_u128(m),
                    },
                    (true, Ok(i)) => visitor.visit_i128(-i),
                    (true, Err(_)) => Err(self.error("integer out of range")),
                }
            }
            Event::Big { .. } => Err(self.error("integer out of range")),
            Event::Float(f) => visitor.visit_f64(f),
            Event::Atom { name: b"nil", .. } => visitor.visit_unit(),
            Event::Atom { name: b"true", .. } => visitor.visit_bool(true),
            Event::Atom { name: b"false", .. } => visitor.visit_bool(false),
            Event::Atom { name, utf8: true } => visitor.visit_borrowed_str(std::str::from_utf8(name).expect("checked by the decoder")),
            Event::Atom { name, utf8: false } => match latin1(name) {
                Cow::Borrowed(s) => visitor.visit_borrowed_str(s),
                Cow::Owned(s) => visitor.visit_string(s),
            },
            Event::Binary(b) => match std::str::from_utf8(b) {
                Ok(s) => visitor.visit_borrowed_str(s),
                Err(_) => visitor.visit_borrowed_bytes(b),
            },
            Event::Bits { .. } => Err(self.error("bitstrings have no serde equivalent")),
            Event::Tuple(n) => visitor.visit_seq(Elements { de: self, left: n }),
            Event::List(n) => {
                let v = visitor.visit_seq(Elements { de: &mut *self, left: n })?;
                self.expect_nil_tail()?;
                Ok(v)
            }
            Event::Nil => visitor.visit_seq(Elements { de: self, left: 0 }),
            Event::Str(b) => visitor.visit_seq(b.iter().map(|&c| u64::from(c)).collect::<Vec<_>>().into_deserializer()),
            Event::Map(n) => visitor.visit_map(Entries { de: self, left: n }),
            Event::Opaque(_) => Err(self.error("pids, ports, references and funs have no serde equivalent")),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if matches!(self.peek()?, Event::Atom { name: b"nil", .. }) {
            self.next()?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.next()? {
            Event::Binary(b) | Event::Str(b) => visitor.visit_borrowed_bytes(b),
            other => {
                self.peeked = Some(other);
                self.deserialize_any(visitor)
            }
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.next()? {
            Event::Atom { name, .. } | Event::Binary(name) => {
                let s = std::str::from_utf8(name).map_err(|_| self.error("variant name is not UTF-8"))?;
                visitor.visit_enum(s.into_deserializer())
            }
            Event::Tuple(2) => visitor.visit_enum(Variant { de: self }),
            _ => Err(self.error("expected an atom or a {variant, value} tuple")),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

struct Elements<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

struct Entries<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    left: usize,
}

impl<'de> de::MapAccess<'de> for Entries<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(&mut *self.de)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// `{variant, value}`.
struct Variant<'a, 'de> {
    de: &'a mut Deserializer<'de>,
}

impl<'de> de::EnumAccess<'de> for Variant<'_, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let v = seed.deserialize(&mut *self.de)?;
        Ok((v, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Err(self.de.error("unit variants are plain atoms"))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(&mut *self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(&mut *self.de, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(&mut *self.de, visitor)
    }
}
