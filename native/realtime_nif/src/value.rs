//! Conversions between BEAM terms and `sorted_set::Value`, and building
//! terms straight from stored items.

use rustler::types::tuple::{get_tuple, make_tuple};
use crate::raw;
use rustler::{Atom, Binary, Encoder, Env, MapIterator, Term, TermType};
use sorted_set::term::{Build, MAX_DEPTH};
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

/// Builds BEAM terms straight from a stored item (`term::decode_with`),
/// with no `Value` in between. Its stack is reused from item to item, so
/// tuples and lists cost no allocation once it has grown.
pub struct TermStack<'a> {
    env: Env<'a>,
    stack: Vec<Term<'a>>,
}

impl<'a> TermStack<'a> {
    pub fn new(env: Env<'a>) -> Self {
        TermStack { env, stack: Vec::new() }
    }

    /// The term just decoded.
    pub fn pop(&mut self) -> Option<Term<'a>> {
        self.stack.pop()
    }

    fn take(&mut self, n: usize) -> usize {
        self.stack.len().saturating_sub(n)
    }
}

impl<'a, 'b> Build<'b> for TermStack<'a> {
    fn int(&mut self, i: i64) {
        self.stack.push(i.encode(self.env));
    }

    fn big_int(&mut self, negative: bool, magnitude: &[u8]) {
        let mut etf = vec![131, 111];
        etf.extend_from_slice(&(magnitude.len() as u32).to_be_bytes());
        etf.push(u8::from(negative));
        etf.extend(magnitude.iter().rev());
        self.stack.push(from_etf(self.env, &etf));
    }

    fn float(&mut self, f: f64) {
        self.stack.push(f.encode(self.env));
    }

    fn atom(&mut self, text: Cow<'b, str>) {
        let term = if text.is_ascii() {
            Atom::from_bytes(self.env, text.as_bytes()).expect("atoms from the set existed when added").to_term(self.env)
        } else {
            let mut etf = vec![131, 118];
            etf.extend_from_slice(&(text.len() as u16).to_be_bytes());
            etf.extend_from_slice(text.as_bytes());
            from_etf(self.env, &etf)
        };
        self.stack.push(term);
    }

    fn bits(&mut self, bytes: Cow<'b, [u8]>, trailing_bits: u8) {
        let term = if trailing_bits == 0 {
            raw::binary_copy(self.env, &bytes)
        } else {
            let mut etf = vec![131, 77];
            etf.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            etf.push(trailing_bits);
            etf.extend_from_slice(&bytes);
            from_etf(self.env, &etf)
        };
        self.stack.push(term);
    }

    fn tuple(&mut self, arity: usize) {
        let at = self.take(arity);
        let tuple = make_tuple(self.env, &self.stack[at..]);
        self.stack.truncate(at);
        self.stack.push(tuple);
    }

    fn list(&mut self, len: usize, improper: bool) {
        let mut list = if improper { self.stack.pop().unwrap_or_else(|| Term::list_new_empty(self.env)) } else { Term::list_new_empty(self.env) };
        let at = self.take(len);
        for &item in self.stack[at..].iter().rev() {
            list = list.list_prepend(item);
        }
        self.stack.truncate(at);
        self.stack.push(list);
    }

    fn map(&mut self, len: usize) {
        let at = self.take(2 * len);
        let (keys, values) = self.stack[at..].split_at(len.min(self.stack.len() - at));
        let map = Term::map_from_term_arrays(self.env, keys, values).expect("keys were unique when added");
        self.stack.truncate(at);
        self.stack.push(map);
    }
}

fn from_etf<'a>(env: Env<'a>, etf: &[u8]) -> Term<'a> {
    env.binary_to_term(etf).expect("well-formed external term").0
}
