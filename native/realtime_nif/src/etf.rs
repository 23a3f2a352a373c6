//! `Realtime.ETF`: encode BEAM terms with `etf::Writer`, decode untrusted
//! bytes with `etf::Decoder`. Both walk iteratively, so nesting depth never
//! touches the native stack.

use crate::atoms;
use crate::raw;
use crate::sched::{finish, spend, Mode, Stop};
use etf::{Decoder, Event, Limits, Writer};
use rustler::types::tuple::make_tuple;
use rustler::{Atom, Binary, Encoder, Env, NifResult, OwnedBinary, Term, TermType};
use std::borrow::Cow;

/// Encoding options, decoded from the Elixir side's tuple.
struct EncodeOpts {
    /// zlib level for the compressed form, if any.
    compressed: Option<u32>,
    /// Write lists of bytes as STRING_EXT, as term_to_binary does.
    string_ext: bool,
}

/// OTP stores maps of up to 32 keys sorted by key; larger ones are hashed.
const FLATMAP_MAX: usize = 32;

enum Work<'a> {
    Term(Term<'a>),
    /// The rest of a list whose header is written: cells, then the tail.
    Rest(Term<'a>),
}

/// A term's external form from OTP itself, without the version byte.
fn otp_etf(term: Term) -> OwnedBinary {
    term.to_binary()
}

thread_local! {
    /// The output buffer of the last encode on this scheduler thread, reused
    /// so that steady-state encoding does not grow a fresh Vec each time.
    static OUT: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Buffers larger than this are not kept for reuse.
const KEEP_BUFFER: usize = 1 << 20;

fn encode_term(term: Term, opts: &EncodeOpts, mode: Mode) -> Result<Vec<u8>, Stop> {
    let mut budget = mode.budget();
    let mut w = Writer::reusing(OUT.take());
    let mut stack = Vec::with_capacity(64);
    stack.push(Work::Term(term));
    while let Some(work) = stack.pop() {
        let t = match work {
            Work::Rest(cell) => {
                match cell.list_get_cell() {
                    Ok((head, tail)) => {
                        stack.push(Work::Rest(tail));
                        stack.push(Work::Term(head));
                    }
                    Err(_) if cell.is_empty_list() => w.nil(),
                    Err(_) => stack.push(Work::Term(cell)),
                }
                continue;
            }
            Work::Term(t) => t,
        };
        spend(&mut budget, 1)?;
        match t.get_type() {
            TermType::Integer => match t.decode::<i64>() {
                Ok(i) => w.int(i),
                Err(_) => w.raw(&otp_etf(t)[1..]),
            },
            TermType::Float => w.float(t.decode::<f64>().map_err(|_| Stop::Error(atoms::badarg()))?).map_err(|_| Stop::Error(atoms::not_finite()))?,
            TermType::Atom => atom(&mut w, t),
            TermType::Binary => match Binary::from_term(t) {
                Ok(b) => {
                    spend(&mut budget, b.len() / 64)?;
                    w.binary(b.as_slice());
                }
                Err(_) => w.raw(&otp_etf(t)[1..]),
            },
            TermType::Tuple => {
                let items = raw::tuple_elements(t).ok_or(Stop::Error(atoms::badarg()))?;
                w.tuple(items.len());
                stack.extend(items.rev().map(Work::Term));
            }
            TermType::List => list(&mut w, &mut stack, t, opts, &mut budget)?,
            TermType::Map => {
                let n = raw::map_size(t).ok_or(Stop::Error(atoms::badarg()))?;
                spend(&mut budget, n)?;
                w.map(n);
                if n <= FLATMAP_MAX {
                    // Small maps iterate in key order: push pairs last first.
                    raw::for_each_pair(t, true, |k, v| {
                        stack.push(Work::Term(v));
                        stack.push(Work::Term(k));
                    });
                } else {
                    // Large maps iterate in hash order.
                    let mut pairs = Vec::with_capacity(n);
                    raw::for_each_pair(t, false, |k, v| pairs.push((k, v)));
                    pairs.sort_by(|a, b| a.0.cmp(&b.0));
                    for (k, v) in pairs.into_iter().rev() {
                        stack.push(Work::Term(v));
                        stack.push(Work::Term(k));
                    }
                }
            }
            // Pids, ports, references and funs round-trip exactly in OTP's
            // own encoding.
            _ => w.raw(&otp_etf(t)[1..]),
        }
    }
    Ok(match opts.compressed {
        Some(level) => w.into_compressed(level),
        None => w.into_vec(),
    })
}

fn atom(w: &mut Writer, t: Term) {
    // The atoms of JSON-shaped data, without asking the VM for their names.
    let env = t.get_env();
    for (known, name) in [(atoms::nil(), "nil"), (atoms::true_(), "true"), (atoms::false_(), "false")] {
        if t == known.to_term(env) {
            w.atom(name);
            return;
        }
    }
    let mut buf = [0u8; 256];
    let Some(name) = raw::atom_latin1(t, &mut buf) else {
        // Not Latin-1: OTP writes it as ATOM_UTF8_EXT.
        w.raw(&otp_etf(t)[1..]);
        return;
    };
    match std::str::from_utf8(name) {
        Ok(s) if name.is_ascii() => w.atom(s),
        _ => w.atom(&name.iter().map(|&b| b as char).collect::<String>()),
    }
}

fn list<'a>(w: &mut Writer, stack: &mut Vec<Work<'a>>, t: Term<'a>, opts: &EncodeOpts, budget: &mut usize) -> Result<(), Stop> {
    if t.is_empty_list() {
        w.nil();
        return Ok(());
    }
    let proper_len = t.list_length().ok();
    let n = match proper_len {
        Some(n) => n,
        None => {
            let (mut n, mut cell) = (0, t);
            while let Ok((_, tail)) = cell.list_get_cell() {
                n += 1;
                cell = tail;
            }
            n
        }
    };
    spend(budget, n / 8)?;
    if opts.string_ext && proper_len.is_some() && n <= 0xFFFF {
        let bytes: Option<Vec<u8>> = t.decode::<Vec<Term>>().ok().and_then(|v| v.iter().map(|x| x.decode::<u8>().ok()).collect());
        if let Some(bytes) = bytes {
            w.string(&bytes);
            return Ok(());
        }
    }
    w.list(n);
    stack.push(Work::Rest(t));
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Atoms {
    Existing,
    Create,
}

struct DecodeOpts {
    limits: Limits,
    atoms: Atoms,
    return_used: bool,
}

/// Inputs above this decode on a dirty scheduler.
const NORMAL_MAX_INPUT: usize = 64 * 1024;

fn error_term<'a>(env: Env<'a>, e: &etf::Error) -> Term<'a> {
    let reason = Atom::from_str(env, e.kind.name()).expect("reason names are valid atoms");
    (atoms::error(), (reason, e.offset)).encode(env)
}

fn decode<'a>(env: Env<'a>, input: Binary<'a>, opts: &DecodeOpts, mode: Mode) -> Result<Term<'a>, Stop> {
    if mode == Mode::Normal && input.len() > NORMAL_MAX_INPUT {
        return Err(Stop::Reschedule);
    }
    let body = match etf::decompress(input.as_slice(), &opts.limits) {
        Ok(b) => b,
        Err(e) => return Ok(error_term(env, &e)),
    };
    // Binaries in the result are sub-binaries of the input, or of one copy
    // of the inflated data; small ones are copied.
    let (source, base) = match body {
        Cow::Borrowed(_) => (input, 1),
        Cow::Owned(inflated) => {
            if mode == Mode::Normal && inflated.len() > NORMAL_MAX_INPUT {
                return Err(Stop::Reschedule);
            }
            let mut owned = OwnedBinary::new(inflated.len());
            owned.as_mut_slice().copy_from_slice(&inflated);
            (owned.release(env), 0)
        }
    };
    let body = &source.as_slice()[base..];
    match build(env, source, body, base, opts) {
        Ok((term, used)) if opts.return_used => Ok((atoms::ok(), term, used + base).encode(env)),
        Ok((term, _)) => Ok((atoms::ok(), term).encode(env)),
        Err(e) => Ok(error_term(env, &e)),
    }
}

enum Frame<'a> {
    Tuple(usize, Vec<Term<'a>>),
    /// Elements, then the tail as the last item.
    List(usize, Vec<Term<'a>>),
    Map(usize, Vec<Term<'a>>, usize),
}

impl<'a> Frame<'a> {
    fn push(&mut self, t: Term<'a>) -> bool {
        let (want, items) = match self {
            Frame::Tuple(w, i) | Frame::List(w, i) | Frame::Map(w, i, _) => (*w, i),
        };
        items.push(t);
        items.len() == want
    }
}

fn build<'a>(env: Env<'a>, source: Binary<'a>, body: &[u8], base: usize, opts: &DecodeOpts) -> Result<(Term<'a>, usize), etf::Error> {
    let mut dec = Decoder::new(body, base, opts.limits);
    let mut stack: Vec<Frame<'a>> = Vec::new();
    loop {
        let start = base + dec.position();
        let ev = dec.next()?;
        let mut term = match ev {
            Event::Int(i) => i.encode(env),
            Event::Float(f) => f.encode(env),
            Event::Big { negative, le } => {
                let mut etf = vec![131, 111];
                etf.extend_from_slice(&(le.len() as u32).to_be_bytes());
                etf.push(u8::from(negative));
                etf.extend_from_slice(le);
                otp_term(env, &etf, start)?
            }
            Event::Atom { name, utf8 } => atom_term(env, name, utf8, opts.atoms, start)?,
            Event::Binary(b) => raw::binary_within(env, source, b),
            Event::Bits { bytes, bits } => {
                let mut etf = vec![131, 77];
                etf.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                etf.push(bits);
                etf.extend_from_slice(bytes);
                otp_term(env, &etf, start)?
            }
            Event::Tuple(0) => make_tuple(env, &[]),
            Event::Tuple(n) => {
                stack.push(Frame::Tuple(n, Vec::with_capacity(n.min(1024))));
                continue;
            }
            Event::List(n) => {
                stack.push(Frame::List(n + 1, Vec::with_capacity((n + 1).min(1024))));
                continue;
            }
            Event::Nil => Term::list_new_empty(env),
            Event::Map(0) => Term::map_new(env),
            Event::Map(n) => {
                stack.push(Frame::Map(2 * n, Vec::with_capacity((2 * n).min(1024)), start));
                continue;
            }
            Event::Str(b) => b.iter().map(|&c| c as i64).collect::<Vec<_>>().encode(env),
            Event::Opaque(b) => {
                let mut etf = Vec::with_capacity(b.len() + 1);
                etf.push(131);
                etf.extend_from_slice(b);
                otp_term(env, &etf, start)?
            }
        };
        loop {
            let Some(top) = stack.last_mut() else {
                dec.finish().or_else(|e| if opts.return_used && e.kind == etf::ErrorKind::TrailingBytes { Ok(()) } else { Err(e) })?;
                return Ok((term, dec.position()));
            };
            if !top.push(term) {
                break;
            }
            term = match stack.pop().expect("just looked at it") {
                Frame::Tuple(_, items) => make_tuple(env, &items),
                Frame::List(_, mut items) => {
                    let mut list = items.pop().expect("a list frame holds its tail");
                    for t in items.into_iter().rev() {
                        list = list.list_prepend(t);
                    }
                    list
                }
                Frame::Map(_, items, offset) => {
                    let (keys, values): (Vec<Term>, Vec<Term>) = items.chunks(2).map(|kv| (kv[0], kv[1])).unzip();
                    Term::map_from_term_arrays(env, &keys, &values)
                        .map_err(|_| etf::Error { kind: etf::ErrorKind::DuplicateKey, offset })?
                }
            };
        }
    }
}

fn otp_term<'a>(env: Env<'a>, etf: &[u8], offset: usize) -> Result<Term<'a>, etf::Error> {
    env.binary_to_term(etf).map(|(t, _)| t).ok_or(etf::Error { kind: etf::ErrorKind::BadTag(etf[1]), offset })
}

/// An atom that exists (or, with `Atoms::Create`, any atom); an unknown atom
/// comes back as a binary of its UTF-8 name, so the atom table never grows
/// from untrusted input.
fn atom_term<'a>(env: Env<'a>, name: &[u8], utf8: bool, mode: Atoms, offset: usize) -> Result<Term<'a>, etf::Error> {
    // The atoms of JSON-shaped data, without a lookup in the atom table.
    match name {
        b"nil" => return Ok(atoms::nil().to_term(env)),
        b"true" => return Ok(atoms::true_().to_term(env)),
        b"false" => return Ok(atoms::false_().to_term(env)),
        _ => {}
    }
    // ASCII names need no conversion: look them up (or create them) as is.
    if name.is_ascii() {
        let found = match mode {
            Atoms::Existing => Atom::existing_from_bytes(env, name).ok(),
            Atoms::Create => Atom::from_bytes(env, name).ok(),
        };
        return Ok(match found {
            Some(a) => a.to_term(env),
            None => raw::binary_copy(env, name),
        });
    }
    let text: Cow<str> = if utf8 {
        Cow::Borrowed(std::str::from_utf8(name).expect("checked by the decoder"))
    } else {
        Cow::Owned(name.iter().map(|&b| b as char).collect())
    };
    let latin1 = match mode {
        Atoms::Existing => Atom::existing_from_utf8_bytes(env, text.as_bytes()),
        Atoms::Create => Atom::from_utf8_bytes(env, text.as_bytes()),
    };
    if let Ok(a) = latin1 {
        return Ok(a.to_term(env));
    }
    // Beyond Latin-1 the NIF API of OTP 25 cannot look atoms up, but
    // binary_to_term can: in safe mode it finds existing atoms only.
    let mut etf = vec![131, 118];
    etf.extend_from_slice(&(text.len() as u16).to_be_bytes());
    etf.extend_from_slice(text.as_bytes());
    let found = match mode {
        Atoms::Existing => env.binary_to_term(&etf),
        // SAFETY: `etf` is a well-formed ATOM_UTF8_EXT: the decoder checked
        // the name is UTF-8 of at most 255 characters.
        Atoms::Create => unsafe { env.binary_to_term_trusted(&etf) },
    };
    match found {
        Some((t, _)) => Ok(t),
        None if mode == Atoms::Create => Err(etf::Error { kind: etf::ErrorKind::BadAtom, offset }),
        None => Ok(raw::binary_copy(env, text.as_bytes())),
    }
}

fn encode_opts(compressed: i64, string_ext: bool) -> EncodeOpts {
    EncodeOpts { compressed: u32::try_from(compressed).ok(), string_ext }
}

fn encode_nif<'a>(env: Env<'a>, term: Term<'a>, compressed: i64, string_ext: bool, mode: Mode) -> Term<'a> {
    let result = encode_term(term, &encode_opts(compressed, string_ext), mode).map(|bytes| {
        let out = raw::binary_copy(env, &bytes);
        if bytes.capacity() <= KEEP_BUFFER {
            OUT.set(bytes);
        }
        out
    });
    finish(env, result)
}

/// `compressed` is a zlib level, or -1 for none.
#[rustler::nif]
fn etf_encode<'a>(env: Env<'a>, term: Term<'a>, compressed: i64, string_ext: bool) -> Term<'a> {
    encode_nif(env, term, compressed, string_ext, Mode::Normal)
}

#[rustler::nif(schedule = "DirtyCpu")]
fn etf_encode_dirty<'a>(env: Env<'a>, term: Term<'a>, compressed: i64, string_ext: bool) -> Term<'a> {
    encode_nif(env, term, compressed, string_ext, Mode::Dirty)
}

/// `limits` is `{max_size, max_depth, max_decompressed, max_length, max_binary}`.
type LimitsTuple = (usize, usize, usize, usize, usize);

fn decode_opts(limits: LimitsTuple, create_atoms: bool, return_used: bool) -> DecodeOpts {
    let (max_size, max_depth, max_decompressed, max_length, max_binary) = limits;
    DecodeOpts {
        limits: Limits { max_size, max_depth, max_decompressed, max_length, max_binary },
        atoms: if create_atoms { Atoms::Create } else { Atoms::Existing },
        return_used,
    }
}

#[rustler::nif]
fn etf_decode<'a>(env: Env<'a>, input: Binary<'a>, limits: LimitsTuple, create_atoms: bool, return_used: bool) -> NifResult<Term<'a>> {
    Ok(finish(env, decode(env, input, &decode_opts(limits, create_atoms, return_used), Mode::Normal)))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn etf_decode_dirty<'a>(env: Env<'a>, input: Binary<'a>, limits: LimitsTuple, create_atoms: bool, return_used: bool) -> NifResult<Term<'a>> {
    Ok(finish(env, decode(env, input, &decode_opts(limits, create_atoms, return_used), Mode::Dirty)))
}
