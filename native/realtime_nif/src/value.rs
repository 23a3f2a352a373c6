//! Conversions between BEAM terms and `sorted_set::Value`.

use rustler::types::tuple::{get_tuple, make_tuple};
use crate::raw;
use rustler::{Atom, Binary, Env, MapIterator, Term, TermType};
use sorted_set::term::MAX_DEPTH;
use sorted_set::Value;
use std::borrow::Cow;

/// Why a term could not become a `Value`.
pub enum Unconvertible {
    /// A pid, reference, port or fun, whose order cannot be kept outside the VM.
    Unsupported,
    /// Nested deeper than `MAX_DEPTH`.
    TooDeep,
    /// Bigger than the work allowed on a normal scheduler.
    OverBudget,
}

/// Converts a term, borrowing binaries, spending from `budget`.
pub fn from_term<'a>(term: Term<'a>, budget: &mut usize) -> Result<Value<'a>, Unconvertible> {
    convert(term, budget, 0)
}

fn spend(budget: &mut usize, units: usize) -> Result<(), Unconvertible> {
    *budget = budget.checked_sub(units).ok_or(Unconvertible::OverBudget)?;
    Ok(())
}

fn convert<'a>(term: Term<'a>, budget: &mut usize, depth: usize) -> Result<Value<'a>, Unconvertible> {
    if depth > MAX_DEPTH {
        return Err(Unconvertible::TooDeep);
    }
    spend(budget, 1)?;
    match term.get_type() {
        TermType::Integer => match term.decode::<i64>() {
            Ok(i) => Ok(Value::Int(i)),
            Err(_) => big_from_etf(&term.to_binary()).ok_or(Unconvertible::Unsupported),
        },
        TermType::Float => Ok(Value::Float(term.decode::<f64>().map_err(|_| Unconvertible::Unsupported)?)),
        TermType::Atom => match term.atom_to_string() {
            Ok(s) => Ok(Value::Atom(Cow::Owned(s))),
            Err(_) => atom_from_etf(&term.to_binary()).ok_or(Unconvertible::Unsupported),
        },
        TermType::Binary => match Binary::from_term(term) {
            Ok(bin) => {
                spend(budget, bin.len() / 64)?;
                Ok(Value::binary(bin.as_slice()))
            }
            Err(_) => {
                let etf = term.to_binary();
                spend(budget, etf.len() / 64)?;
                bits_from_etf(&etf).ok_or(Unconvertible::Unsupported)
            }
        },
        TermType::Tuple => {
            let items = get_tuple(term).map_err(|_| Unconvertible::Unsupported)?;
            let values = items.into_iter().map(|t| convert(t, budget, depth + 1)).collect::<Result<_, _>>()?;
            Ok(Value::Tuple(values))
        }
        TermType::List => {
            let mut items = Vec::new();
            let mut cell = term;
            while let Ok((head, tail)) = cell.list_get_cell() {
                items.push(convert(head, budget, depth + 1)?);
                cell = tail;
            }
            let tail = if cell.is_empty_list() { None } else { Some(Box::new(convert(cell, budget, depth + 1)?)) };
            Ok(Value::List { items, tail })
        }
        TermType::Map => {
            let iter = MapIterator::new(term).ok_or(Unconvertible::Unsupported)?;
            let pairs = iter
                .map(|(k, v)| Ok((convert(k, budget, depth + 1)?, convert(v, budget, depth + 1)?)))
                .collect::<Result<_, _>>()?;
            Ok(Value::Map(pairs))
        }
        _ => Err(Unconvertible::Unsupported),
    }
}

// The NIF API of OTP 25 cannot read bignums, non-Latin-1 atoms or
// bitstrings directly, so those few go through term_to_binary.

fn big_from_etf(etf: &[u8]) -> Option<Value<'static>> {
    let (sign, digits) = match etf.get(1)? {
        110 => (*etf.get(3)?, etf.get(4..4 + *etf.get(2)? as usize)?),
        111 => {
            let n = u32::from_be_bytes(etf.get(2..6)?.try_into().ok()?) as usize;
            (*etf.get(6)?, etf.get(7..7 + n)?)
        }
        _ => return None,
    };
    let magnitude: Vec<u8> = digits.iter().rev().copied().collect();
    Some(Value::BigInt { negative: sign == 1, magnitude: Cow::Owned(magnitude) })
}

fn atom_from_etf(etf: &[u8]) -> Option<Value<'static>> {
    let text = match etf.get(1)? {
        118 => etf.get(4..4 + u16::from_be_bytes(etf.get(2..4)?.try_into().ok()?) as usize)?,
        119 => etf.get(3..3 + *etf.get(2)? as usize)?,
        _ => return None,
    };
    Some(Value::Atom(Cow::Owned(String::from_utf8(text.to_vec()).ok()?)))
}

fn bits_from_etf(etf: &[u8]) -> Option<Value<'static>> {
    match etf.get(1)? {
        77 => {
            let n = u32::from_be_bytes(etf.get(2..6)?.try_into().ok()?) as usize;
            let trailing_bits = *etf.get(6)?;
            let bytes = etf.get(7..7 + n)?.to_vec();
            Some(Value::Bitstring { bytes: Cow::Owned(bytes), trailing_bits: trailing_bits % 8 })
        }
        109 => {
            let n = u32::from_be_bytes(etf.get(2..6)?.try_into().ok()?) as usize;
            Some(Value::Bitstring { bytes: Cow::Owned(etf.get(6..6 + n)?.to_vec()), trailing_bits: 0 })
        }
        _ => None,
    }
}

/// Builds the term for a value.
pub fn to_term<'a>(env: Env<'a>, value: &Value) -> Term<'a> {
    match value {
        Value::Int(i) => rustler::Encoder::encode(i, env),
        Value::Float(f) => rustler::Encoder::encode(f, env),
        Value::BigInt { negative, magnitude } => {
            let mut etf = vec![131, 111];
            etf.extend_from_slice(&(magnitude.len() as u32).to_be_bytes());
            etf.push(u8::from(*negative));
            etf.extend(magnitude.iter().rev());
            from_etf(env, &etf)
        }
        Value::Atom(s) if s.is_ascii() => {
            Atom::from_bytes(env, s.as_bytes()).expect("atoms from the set existed when added").to_term(env)
        }
        Value::Atom(s) => {
            let mut etf = vec![131, 118];
            etf.extend_from_slice(&(s.len() as u16).to_be_bytes());
            etf.extend_from_slice(s.as_bytes());
            from_etf(env, &etf)
        }
        Value::Bitstring { bytes, trailing_bits: 0 } => raw::binary_copy(env, bytes),
        Value::Bitstring { bytes, trailing_bits } => {
            let mut etf = vec![131, 77];
            etf.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            etf.push(*trailing_bits);
            etf.extend_from_slice(bytes);
            from_etf(env, &etf)
        }
        Value::Tuple(items) => {
            let terms: Vec<Term> = items.iter().map(|v| to_term(env, v)).collect();
            make_tuple(env, &terms)
        }
        Value::List { items, tail } => {
            let mut list = match tail {
                None => Term::list_new_empty(env),
                Some(t) => to_term(env, t),
            };
            for item in items.iter().rev() {
                list = list.list_prepend(to_term(env, item));
            }
            list
        }
        Value::Map(pairs) => {
            let keys: Vec<Term> = pairs.iter().map(|(k, _)| to_term(env, k)).collect();
            let values: Vec<Term> = pairs.iter().map(|(_, v)| to_term(env, v)).collect();
            Term::map_from_term_arrays(env, &keys, &values).expect("keys were unique when added")
        }
    }
}

fn from_etf<'a>(env: Env<'a>, etf: &[u8]) -> Term<'a> {
    env.binary_to_term(etf).expect("well-formed external term").0
}
