//! Erlang term order for encoded map keys, borrowed from `sorted_set`'s
//! comparable encoding (the one place that defines term order).

use crate::decoder::{Decoder, Event, Limits};
use crate::error::{Error, ErrorKind};
use sorted_set::term::{self, Value};
use std::borrow::Cow;

/// Sorts `(key, value)` pairs whose keys are ETF fragments (no version
/// byte) into Erlang term order of the keys, as MAP_EXT wants.
pub fn sort_map_entries<K: AsRef<[u8]>, V>(mut entries: Vec<(K, V)>) -> Result<Vec<(K, V)>, Error> {
    // Binary keys (the usual case) order by their bytes.
    if entries.iter().all(|(k, _)| k.as_ref().first() == Some(&crate::tag::BINARY)) {
        entries.sort_by(|a, b| a.0.as_ref()[5..].cmp(&b.0.as_ref()[5..]));
        return Ok(entries);
    }
    let mut keyed = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let mut dec = Decoder::new(k.as_ref(), 0, Limits { max_depth: term::MAX_DEPTH, ..Limits::default() });
        let item = term::encode_to_vec(&value(&mut dec)?).map_err(|_| Error::at(ErrorKind::TooDeep, 0))?;
        keyed.push((term::key(&item).to_vec(), (k, v)));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(keyed.into_iter().map(|(_, kv)| kv).collect())
}

fn value<'a>(dec: &mut Decoder<'a>) -> Result<Value<'a>, Error> {
    Ok(match dec.next()? {
        Event::Int(i) => Value::Int(i),
        Event::Big { negative, le } => Value::BigInt { negative, magnitude: Cow::Owned(le.iter().rev().copied().collect()) },
        Event::Float(f) => Value::Float(f),
        Event::Atom { name, utf8: true } => Value::Atom(Cow::Borrowed(std::str::from_utf8(name).expect("checked by the decoder"))),
        Event::Atom { name, utf8: false } => Value::Atom(Cow::Owned(name.iter().map(|&b| b as char).collect())),
        Event::Binary(b) => Value::binary(b),
        Event::Bits { bytes, bits } => Value::Bitstring { bytes: Cow::Borrowed(bytes), trailing_bits: bits },
        Event::Tuple(n) => Value::Tuple((0..n).map(|_| value(dec)).collect::<Result<_, _>>()?),
        Event::List(n) => {
            let items = (0..n).map(|_| value(dec)).collect::<Result<_, _>>()?;
            let tail = match value(dec)? {
                Value::List { items: rest, tail } if rest.is_empty() && tail.is_none() => None,
                t => Some(Box::new(t)),
            };
            Value::List { items, tail }
        }
        Event::Nil => Value::nil(),
        Event::Map(n) => Value::Map((0..n).map(|_| Ok((value(dec)?, value(dec)?))).collect::<Result<_, Error>>()?),
        Event::Str(b) => Value::List { items: b.iter().map(|&c| Value::Int(i64::from(c))).collect(), tail: None },
        Event::Opaque(_) => return Err(Error::at(ErrorKind::Message("pids, ports, references and funs have no portable order".into()), 0)),
    })
}
