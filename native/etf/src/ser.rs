//! serde serialization to ETF, erlpack style.
//!
//! | Rust | ETF |
//! | --- | --- |
//! | `bool` | atoms `true` / `false` |
//! | `None`, `()`, unit structs | atom `nil` |
//! | integers | SMALL_INTEGER / INTEGER / SMALL_BIG |
//! | floats | NEW_FLOAT (NaN and infinities are errors) |
//! | `str`, `char`, bytes | BINARY |
//! | sequences | LIST (NIL when empty) |
//! | tuples, tuple structs | TUPLE |
//! | maps, structs | MAP, keys in Erlang term order; struct field names are binaries |
//! | unit variants | atom |
//! | other variants | `{variant_atom, contents}`, contents a tuple or map for tuple and struct variants |

use crate::error::{Error, ErrorKind};
use crate::order::sort_map_entries;
use crate::writer::Writer;
use serde::ser::{self, Serialize};

/// Serializes `value` as a complete term (with the version byte).
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut s = Serializer { w: Writer::new() };
    value.serialize(&mut s)?;
    Ok(s.w.into_vec())
}

fn fragment<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut s = Serializer { w: Writer::fragment() };
    value.serialize(&mut s)?;
    Ok(s.w.into_vec())
}

/// Writes serde data model values with a [`Writer`].
pub struct Serializer {
    w: Writer,
}

fn not_finite() -> Error {
    Error::at(ErrorKind::NotFinite, 0)
}

impl<'a> ser::Serializer for &'a mut Serializer {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = Seq<'a>;
    type SerializeMap = Map<'a>;
    type SerializeStruct = Map<'a>;
    type SerializeStructVariant = Map<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.w.atom(if v { "true" } else { "false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.w.int(v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.w.big(v < 0, &v.unsigned_abs().to_le_bytes());
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.w.uint(v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.w.big(false, &v.to_le_bytes());
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.w.float(v).map_err(|_| not_finite())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.w.binary(v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.w.binary(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.w.atom("nil");
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Error> {
        self.w.atom(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.w.tuple(2);
        self.w.atom(variant);
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq<'a>, Error> {
        Ok(Seq::new(self, Kind::List, len))
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'a>, Error> {
        Ok(Seq::new(self, Kind::Tuple, Some(len)))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq<'a>, Error> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, variant: &'static str, len: usize) -> Result<Seq<'a>, Error> {
        self.w.tuple(2);
        self.w.atom(variant);
        Ok(Seq::new(self, Kind::Tuple, Some(len)))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Map<'a>, Error> {
        Ok(Map { s: self, entries: Vec::new(), key: None, variant: None })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Map<'a>, Error> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, variant: &'static str, len: usize) -> Result<Map<'a>, Error> {
        let mut m = self.serialize_map(Some(len))?;
        m.variant = Some(variant);
        Ok(m)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    List,
    Tuple,
}

/// Lists and tuples. With a known length, elements stream straight into the
/// output; otherwise they are buffered until the count is known.
pub struct Seq<'a> {
    s: &'a mut Serializer,
    kind: Kind,
    buffered: Option<(Vec<u8>, usize)>,
    empty: bool,
}

impl<'a> Seq<'a> {
    fn new(s: &'a mut Serializer, kind: Kind, len: Option<usize>) -> Self {
        let mut empty = false;
        let buffered = match len {
            Some(n) => {
                match kind {
                    Kind::List => s.w.list(n),
                    Kind::Tuple => s.w.tuple(n),
                }
                empty = n == 0;
                None
            }
            None => Some((Vec::new(), 0)),
        };
        Seq { s, kind, buffered, empty }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        match &mut self.buffered {
            None => value.serialize(&mut *self.s),
            Some((buf, n)) => {
                buf.extend_from_slice(&fragment(value)?);
                *n += 1;
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<(), Error> {
        if let Some((buf, n)) = self.buffered {
            match self.kind {
                Kind::List => self.s.w.list(n),
                Kind::Tuple => self.s.w.tuple(n),
            }
            self.s.w.raw(&buf);
            if self.kind == Kind::List && n > 0 {
                self.s.w.nil();
            }
        } else if self.kind == Kind::List && !self.empty {
            self.s.w.nil();
        }
        Ok(())
    }
}

macro_rules! seq_impl {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Seq<'_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }
            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        }
    )*};
}

seq_impl!(SerializeSeq::serialize_element, SerializeTuple::serialize_element, SerializeTupleStruct::serialize_field, SerializeTupleVariant::serialize_field);

/// Maps and structs: entries are buffered, then written in key order.
pub struct Map<'a> {
    s: &'a mut Serializer,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    key: Option<Vec<u8>>,
    variant: Option<&'static str>,
}

impl Map<'_> {
    fn finish(self) -> Result<(), Error> {
        let entries = sort_map_entries(self.entries)?;
        if let Some(v) = self.variant {
            self.s.w.tuple(2);
            self.s.w.atom(v);
        }
        self.s.w.map(entries.len());
        for (k, v) in entries {
            self.s.w.raw(&k);
            self.s.w.raw(&v);
        }
        Ok(())
    }
}

impl ser::SerializeMap for Map<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(fragment(key)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self.key.take().ok_or_else(|| <Error as ser::Error>::custom("value before key"))?;
        self.entries.push((key, fragment(value)?));
        Ok(())
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

macro_rules! struct_impl {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Map<'_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
                let mut k = Writer::fragment();
                k.binary(key.as_bytes());
                self.entries.push((k.into_vec(), fragment(value)?));
                Ok(())
            }
            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        }
    )*};
}

struct_impl!(SerializeStruct, SerializeStructVariant);
