//! `Realtime.JSON`: encode BEAM terms with `json::write`, decode untrusted
//! text with `json::Parser`, both without recursion.

use crate::atoms;
use crate::raw;
use crate::sched::{finish, spend, Mode, Stop};
use json::{write, Event, Limits, Parser};
use rustler::types::map::map_new;
use rustler::{Atom, Binary, Encoder, Env, MapIterator, NifResult, Term, TermType};
use std::borrow::Cow;

/// Integers beyond this magnitude lose precision in JavaScript.
const MAX_SAFE_INTEGER: i64 = 1 << 53;

enum Work<'a> {
    Term(Term<'a>),
    Key(Term<'a>),
    Raw(&'static [u8]),
}

/// Why a term cannot be JSON: `{reason, offending_term}`.
struct Unencodable<'a>(Atom, Term<'a>);

enum EncodeStop<'a> {
    Stop(Stop),
    Bad(Unencodable<'a>),
}

impl From<Stop> for EncodeStop<'_> {
    fn from(s: Stop) -> Self {
        EncodeStop::Stop(s)
    }
}

fn bad<'a>(reason: Atom, t: Term<'a>) -> EncodeStop<'a> {
    EncodeStop::Bad(Unencodable(reason, t))
}

fn encode_term<'a>(term: Term<'a>, snowflakes_as_strings: bool, mode: Mode) -> Result<Vec<u8>, EncodeStop<'a>> {
    let mut budget = mode.budget();
    let mut out = Vec::with_capacity(256);
    let mut stack = vec![Work::Term(term)];
    while let Some(work) = stack.pop() {
        let t = match work {
            Work::Raw(bytes) => {
                out.extend_from_slice(bytes);
                continue;
            }
            Work::Key(k) => {
                key(&mut out, k)?;
                continue;
            }
            Work::Term(t) => t,
        };
        spend(&mut budget, 1)?;
        match t.get_type() {
            TermType::Atom => {
                if t == atoms::nil().to_term(t.get_env()) {
                    out.extend_from_slice(b"null");
                } else if t == atoms::true_().to_term(t.get_env()) {
                    out.extend_from_slice(b"true");
                } else if t == atoms::false_().to_term(t.get_env()) {
                    out.extend_from_slice(b"false");
                } else {
                    write::string(&mut out, &atom_text(t)?);
                }
            }
            TermType::Binary => {
                let b = Binary::from_term(t).map_err(|_| bad(atoms::unsupported_type(), t))?;
                spend(&mut budget, b.len() / 64)?;
                let s = std::str::from_utf8(b.as_slice()).map_err(|_| bad(atoms::invalid_utf8(), t))?;
                write::string(&mut out, s);
            }
            TermType::Integer => match t.decode::<i64>() {
                Ok(i) if snowflakes_as_strings && !(-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i) => {
                    out.push(b'"');
                    write::int(&mut out, i);
                    out.push(b'"');
                }
                Ok(i) => write::int(&mut out, i),
                Err(_) => {
                    let etf = t.to_binary();
                    let (negative, le) = big_parts(&etf).ok_or(bad(atoms::unsupported_type(), t))?;
                    if snowflakes_as_strings {
                        out.push(b'"');
                    }
                    write::big_int(&mut out, negative, le);
                    if snowflakes_as_strings {
                        out.push(b'"');
                    }
                }
            },
            TermType::Float => {
                let f: f64 = t.decode().map_err(|_| bad(atoms::unsupported_type(), t))?;
                write::float(&mut out, f);
            }
            TermType::List => {
                let mut items = Vec::new();
                let mut cell = t;
                while let Ok((head, tail)) = cell.list_get_cell() {
                    items.push(head);
                    cell = tail;
                }
                if !cell.is_empty_list() {
                    return Err(bad(atoms::improper_list(), t));
                }
                spend(&mut budget, items.len() / 8)?;
                out.push(b'[');
                stack.push(Work::Raw(b"]"));
                for (i, item) in items.into_iter().enumerate().rev() {
                    stack.push(Work::Term(item));
                    if i > 0 {
                        stack.push(Work::Raw(b","));
                    }
                }
            }
            TermType::Map => {
                let pairs: Vec<(Term, Term)> = MapIterator::new(t).ok_or(bad(atoms::unsupported_type(), t))?.collect();
                spend(&mut budget, pairs.len())?;
                out.push(b'{');
                stack.push(Work::Raw(b"}"));
                for (i, (k, v)) in pairs.into_iter().enumerate().rev() {
                    stack.push(Work::Term(v));
                    stack.push(Work::Raw(b":"));
                    stack.push(Work::Key(k));
                    if i > 0 {
                        stack.push(Work::Raw(b","));
                    }
                }
            }
            _ => return Err(bad(atoms::unsupported_type(), t)),
        }
    }
    Ok(out)
}

/// Object keys: binaries (UTF-8), atoms, or integers.
fn key<'a>(out: &mut Vec<u8>, k: Term<'a>) -> Result<(), EncodeStop<'a>> {
    match k.get_type() {
        TermType::Binary => {
            let b = Binary::from_term(k).map_err(|_| bad(atoms::invalid_key(), k))?;
            let s = std::str::from_utf8(b.as_slice()).map_err(|_| bad(atoms::invalid_utf8(), k))?;
            write::string(out, s);
        }
        TermType::Atom => write::string(out, &atom_text(k)?),
        TermType::Integer => {
            let i: i64 = k.decode().map_err(|_| bad(atoms::invalid_key(), k))?;
            out.push(b'"');
            write::int(out, i);
            out.push(b'"');
        }
        _ => return Err(bad(atoms::invalid_key(), k)),
    }
    Ok(())
}

fn atom_text<'a>(t: Term<'a>) -> Result<String, EncodeStop<'a>> {
    if let Ok(s) = t.atom_to_string() {
        return Ok(s);
    }
    // Beyond Latin-1: read the UTF-8 name from OTP's encoding.
    let etf = t.to_binary();
    let name = match etf.get(1) {
        Some(118) => etf.get(4..),
        Some(119) => etf.get(3..),
        _ => None,
    };
    name.and_then(|n| String::from_utf8(n.to_vec()).ok()).ok_or(bad(atoms::unsupported_type(), t))
}

/// Sign and little-endian magnitude of a bignum's external form.
fn big_parts(etf: &[u8]) -> Option<(bool, &[u8])> {
    match etf.get(1)? {
        110 => Some((*etf.get(3)? == 1, etf.get(4..4 + *etf.get(2)? as usize)?)),
        111 => {
            let n = u32::from_be_bytes(etf.get(2..6)?.try_into().ok()?) as usize;
            Some((*etf.get(6)? == 1, etf.get(7..7 + n)?))
        }
        _ => None,
    }
}

fn encode_nif<'a>(env: Env<'a>, term: Term<'a>, snowflakes: bool, mode: Mode) -> Term<'a> {
    match encode_term(term, snowflakes, mode) {
        Ok(bytes) => raw::binary_copy(env, &bytes),
        Err(EncodeStop::Stop(s)) => finish(env, Err(s)),
        Err(EncodeStop::Bad(Unencodable(reason, t))) => (atoms::error(), (reason, t)).encode(env),
    }
}

#[rustler::nif]
fn json_encode<'a>(env: Env<'a>, term: Term<'a>, snowflakes_as_strings: bool) -> Term<'a> {
    encode_nif(env, term, snowflakes_as_strings, Mode::Normal)
}

#[rustler::nif(schedule = "DirtyCpu")]
fn json_encode_dirty<'a>(env: Env<'a>, term: Term<'a>, snowflakes_as_strings: bool) -> Term<'a> {
    encode_nif(env, term, snowflakes_as_strings, Mode::Dirty)
}

/// Inputs above this parse on a dirty scheduler.
const NORMAL_MAX_INPUT: usize = 64 * 1024;

enum Frame<'a> {
    Array(Vec<Term<'a>>),
    Object(Vec<Term<'a>>, Vec<Term<'a>>),
}

fn string_term<'a>(env: Env<'a>, input: Binary<'a>, s: &Cow<str>) -> Term<'a> {
    match s {
        Cow::Borrowed(b) => raw::binary_within(env, input, b.as_bytes()),
        Cow::Owned(o) => raw::binary_copy(env, o.as_bytes()),
    }
}

fn object<'a>(env: Env<'a>, keys: Vec<Term<'a>>, values: Vec<Term<'a>>) -> Term<'a> {
    Term::map_from_term_arrays(env, &keys, &values).unwrap_or_else(|_| {
        // Duplicate keys: the last one wins, as in most JSON libraries.
        keys.into_iter().zip(values).fold(map_new(env), |m, (k, v)| m.map_put(k, v).expect("a map"))
    })
}

fn decode<'a>(env: Env<'a>, input: Binary<'a>, limits: Limits, mode: Mode) -> Result<Term<'a>, Stop> {
    if mode == Mode::Normal && input.len() > NORMAL_MAX_INPUT {
        return Err(Stop::Reschedule);
    }
    let error = |e: json::Error| {
        let reason = Atom::from_str(env, e.kind.name()).expect("reason names are valid atoms");
        (atoms::error(), (reason, e.offset)).encode(env)
    };
    let mut p = match Parser::new(input.as_slice(), limits) {
        Ok(p) => p,
        Err(e) => return Ok(error(e)),
    };
    let mut stack: Vec<Frame<'a>> = Vec::new();
    let mut root = None;
    loop {
        let ev = match p.next() {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(e) => return Ok(error(e)),
        };
        let offset = p.position();
        let term = match ev {
            Event::Null => atoms::nil().encode(env),
            Event::Bool(b) => b.encode(env),
            Event::Int(i) => i.encode(env),
            Event::Float(f) => f.encode(env),
            Event::BigInt(text) => {
                let (negative, le) = write::decimal_to_le(text).expect("the parser checked the digits");
                let mut etf = vec![131, 111];
                etf.extend_from_slice(&(le.len() as u32).to_be_bytes());
                etf.push(u8::from(negative));
                etf.extend_from_slice(&le);
                match env.binary_to_term(&etf) {
                    Some((t, _)) => t,
                    None => return Ok(error(json::Error { kind: json::ErrorKind::InvalidNumber, offset })),
                }
            }
            Event::Str(s) => string_term(env, input, &s),
            Event::Key(k) => {
                if let Some(Frame::Object(keys, _)) = stack.last_mut() {
                    keys.push(string_term(env, input, &k));
                }
                continue;
            }
            Event::ArrayStart => {
                stack.push(Frame::Array(Vec::new()));
                continue;
            }
            Event::ObjectStart => {
                stack.push(Frame::Object(Vec::new(), Vec::new()));
                continue;
            }
            Event::ArrayEnd | Event::ObjectEnd => match stack.pop().expect("the parser balances containers") {
                Frame::Array(items) => items.encode(env),
                Frame::Object(keys, values) => object(env, keys, values),
            },
        };
        match stack.last_mut() {
            Some(Frame::Array(items)) => items.push(term),
            Some(Frame::Object(_, values)) => values.push(term),
            None => root = Some(term),
        }
    }
    Ok((atoms::ok(), root.expect("a complete parse has a root")).encode(env))
}

/// `limits` is `{max_size, max_depth, max_length, max_string}`.
type LimitsTuple = (usize, usize, usize, usize);

fn limits((max_size, max_depth, max_length, max_string): LimitsTuple) -> Limits {
    Limits { max_size, max_depth, max_length, max_string }
}

#[rustler::nif]
fn json_decode<'a>(env: Env<'a>, input: Binary<'a>, l: LimitsTuple) -> NifResult<Term<'a>> {
    Ok(finish(env, decode(env, input, limits(l), Mode::Normal)))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn json_decode_dirty<'a>(env: Env<'a>, input: Binary<'a>, l: LimitsTuple) -> NifResult<Term<'a>> {
    Ok(finish(env, decode(env, input, limits(l), Mode::Dirty)))
}
