//! Erlang data terms as byte strings whose `memcmp` order is Erlang's term
//! order.
//!
//! An *item* is `[hint length (LEB128)][hint][key]`:
//! - the **key** compares with plain byte comparison exactly as Erlang
//!   compares the terms (`number < atom < tuple < map < [] < list <
//!   bitstring`), and two keys are equal exactly when the terms are `==`;
//! - the **hint** is one bit per number outside map keys (in traversal
//!   order), set for floats. It restores `1.0` versus `1` on decoding without
//!   taking part in comparison. Terms without floats have an empty hint.
//!
//! Every key encoding is *prefix-free*, so the concatenation of elements
//! compares element by element. The building blocks:
//! - numbers: sign byte, then binary exponent and fraction bits of the exact
//!   value (integers and floats share one scale, so `1 == 1.0` and
//!   `2^53 + 1 > 2^53 * 1.0` exactly as OTP compares them); negative numbers
//!   have those bytes inverted;
//! - atoms and bitstrings: bytes with `00` escaped as `00 FF`, closed by
//!   `00 T`, where `T` is 1..=7 for a trailing partial byte and 8 otherwise;
//! - tuples and maps: arity first, because Erlang compares size first;
//! - lists: a cons marker before each element, then the tail, so `[]` (and
//!   any improper tail) compares where Erlang compares it;
//! - map keys use *exact* order, where every integer sorts before every
//!   float, as in Erlang's map key order.

use std::borrow::Cow;
use std::fmt;

/// An Erlang data term, borrowed where it can be.
///
/// Pids, references, ports and funs have no representation: their order
/// cannot be reproduced outside the VM.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    Int(i64),
    /// Any integer, as sign and big-endian magnitude (leading zeros allowed).
    BigInt { negative: bool, magnitude: Cow<'a, [u8]> },
    /// Must be finite; the BEAM has no NaN or infinities.
    Float(f64),
    /// The atom's text in UTF-8.
    Atom(Cow<'a, str>),
    /// A binary when `trailing_bits` is 0; otherwise the last byte holds only
    /// its `trailing_bits` (1..=7) high bits.
    Bitstring { bytes: Cow<'a, [u8]>, trailing_bits: u8 },
    Tuple(Vec<Value<'a>>),
    /// `[]` is an empty list with no tail. `tail` is the improper tail.
    List { items: Vec<Value<'a>>, tail: Option<Box<Value<'a>>> },
    Map(Vec<(Value<'a>, Value<'a>)>),
}

impl<'a> Value<'a> {
    /// A byte-aligned binary.
    pub fn binary(bytes: &'a [u8]) -> Self {
        Value::Bitstring { bytes: Cow::Borrowed(bytes), trailing_bits: 0 }
    }

    /// `[]`.
    pub fn nil() -> Self {
        Value::List { items: Vec::new(), tail: None }
    }
}

/// Why a [`Value`] could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// NaN or an infinity.
    NotFinite,
    /// `trailing_bits` above 7, or set on an empty bitstring.
    BadBitstring,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// Why bytes could not be decoded as an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError;

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed sorted-set item")
    }
}

impl std::error::Error for DecodeError {}

/// Deepest nesting of tuples, lists and maps that is encoded; deeper terms
/// are refused rather than risking the scheduler thread's stack.
pub const MAX_DEPTH: usize = 100;

const NUM: u8 = 0x10;
const NUM_EXACT_INT: u8 = 0x10;
const NUM_EXACT_FLOAT: u8 = 0x11;
const ATOM: u8 = 0x20;
const TUPLE: u8 = 0x70;
const MAP: u8 = 0x80;
const NIL: u8 = 0x90;
const CONS: u8 = 0xA0;
const BITS: u8 = 0xB0;

const SIGN_NEG: u8 = 0x7F;
const SIGN_ZERO: u8 = 0x80;
const SIGN_POS: u8 = 0x81;

/// Biases the binary exponent so that the smallest subnormal is positive.
const EXP_BIAS: i64 = 1100;
const EXP_SHORT_LIMIT: u64 = 0xF000;
const EXP_LONG: u8 = 0xF0;

/// Encodes `value` as an item and appends it to `out`.
pub fn encode(value: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    encode_with(out, |w| w.value(value, 0))
}

/// Encodes one item that `write` describes piece by piece, and appends it
/// to `out`; on error `out` is left as it was. For callers that walk their
/// own representation of a term (the NIF walks BEAM terms) rather than
/// build a [`Value`] first.
pub fn encode_with<E: From<EncodeError>>(out: &mut Vec<u8>, write: impl FnOnce(&mut ItemWriter) -> Result<(), E>) -> Result<(), E> {
    let start = out.len();
    // Most terms hold no float: write an empty hint and the key in place,
    // and splice a hint in only when there is one.
    out.push(0);
    let mut w = ItemWriter { key: std::mem::take(out), hint: Vec::new(), numbers: 0, exact: false };
    let result = write(&mut w);
    *out = w.key;
    if let Err(e) = result {
        out.truncate(start);
        return Err(e);
    }
    while w.hint.last() == Some(&0) {
        w.hint.pop();
    }
    if !w.hint.is_empty() {
        let mut prefix = Vec::with_capacity(w.hint.len() + 2);
        write_leb(&mut prefix, w.hint.len() as u64);
        prefix.extend_from_slice(&w.hint);
        out.splice(start..start + 1, prefix);
    }
    Ok(())
}

/// Encodes `value` as a fresh item.
pub fn encode_to_vec(value: &Value) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode(value, &mut out)?;
    Ok(out)
}

/// The comparable part of an item.
#[inline]
pub fn key(item: &[u8]) -> &[u8] {
    let (hint_len, n) = read_leb(item).unwrap_or((0, 0));
    item.get(n + hint_len as usize..).unwrap_or(&[])
}

/// Decodes an item produced by [`encode`], borrowing atoms and binaries
/// from it where their bytes needed no escaping.
pub fn decode(item: &[u8]) -> Result<Value<'_>, DecodeError> {
    let mut values = ValueStack(Vec::new());
    decode_with(item, &mut values)?;
    values.0.pop().ok_or(DecodeError)
}

/// Decodes an item into `build`, piece by piece (see [`Build`]); on
/// success `build` has pushed exactly one more term.
pub fn decode_with<'b, B: Build<'b>>(item: &'b [u8], build: &mut B) -> Result<(), DecodeError> {
    let (hint_len, n) = read_leb(item).ok_or(DecodeError)?;
    let hint_end = n.checked_add(hint_len as usize).ok_or(DecodeError)?;
    let hint = item.get(n..hint_end).ok_or(DecodeError)?;
    let mut r = Reader { buf: &item[hint_end..], pos: 0, hint, numbers: 0, exact: false };
    r.value(build, 0)?;
    if r.pos != r.buf.len() {
        return Err(DecodeError);
    }
    Ok(())
}

/// What [`decode_with`] builds terms into: a stack of the builder's own
/// terms. [`decode`] builds [`Value`]s; the NIF builds BEAM terms directly,
/// with no `Value` in between. Calls come in depth-first order; each scalar
/// pushes one term, and each compound takes its parts off the top of the
/// stack and pushes itself:
/// - `tuple(n)`: the last `n` terms are the elements;
/// - `list(n, improper)`: the last `n` terms, then the tail if improper;
/// - `map(n)`: the last `2n` terms, `n` keys then their `n` values.
pub trait Build<'b> {
    fn int(&mut self, i: i64);
    /// An integer beyond `i64`, as sign and big-endian magnitude.
    fn big_int(&mut self, negative: bool, magnitude: &[u8]);
    fn float(&mut self, f: f64);
    fn atom(&mut self, text: Cow<'b, str>);
    fn bits(&mut self, bytes: Cow<'b, [u8]>, trailing_bits: u8);
    fn tuple(&mut self, arity: usize);
    fn list(&mut self, len: usize, improper: bool);
    fn map(&mut self, len: usize);
}

struct ValueStack<'b>(Vec<Value<'b>>);

impl<'b> ValueStack<'b> {
    fn take(&mut self, n: usize) -> Vec<Value<'b>> {
        let at = self.0.len().saturating_sub(n);
        self.0.split_off(at)
    }
}

impl<'b> Build<'b> for ValueStack<'b> {
    fn int(&mut self, i: i64) {
        self.0.push(Value::Int(i));
    }

    fn big_int(&mut self, negative: bool, magnitude: &[u8]) {
        self.0.push(Value::BigInt { negative, magnitude: Cow::Owned(magnitude.to_vec()) });
    }

    fn float(&mut self, f: f64) {
        self.0.push(Value::Float(f));
    }

    fn atom(&mut self, text: Cow<'b, str>) {
        self.0.push(Value::Atom(text));
    }

    fn bits(&mut self, bytes: Cow<'b, [u8]>, trailing_bits: u8) {
        self.0.push(Value::Bitstring { bytes, trailing_bits });
    }

    fn tuple(&mut self, arity: usize) {
        let items = self.take(arity);
        self.0.push(Value::Tuple(items));
    }

    fn list(&mut self, len: usize, improper: bool) {
        let tail = if improper { self.0.pop().map(Box::new) } else { None };
        let items = self.take(len);
        self.0.push(Value::List { items, tail });
    }

    fn map(&mut self, len: usize) {
        let values = self.take(len);
        let keys = self.take(len);
        self.0.push(Value::Map(keys.into_iter().zip(values).collect()));
    }
}

/// The writer [`encode_with`] lends: one call per piece of the term, in
/// the order of a depth-first walk. Tuples are `tuple(arity)` then their
/// elements; lists are `cons()` then the element, for each element, then
/// `nil()` or the improper tail. Maps go through [`ItemWriter::value`].
pub struct ItemWriter {
    key: Vec<u8>,
    hint: Vec<u8>,
    numbers: usize,
    exact: bool,
}

impl ItemWriter {
    /// A small integer.
    pub fn int(&mut self, i: i64) {
        self.number_tag(false);
        write_u64_number(&mut self.key, i < 0, i.unsigned_abs(), 0);
    }

    /// A float; NaN and infinities are refused.
    pub fn float(&mut self, f: f64) -> Result<(), EncodeError> {
        if !f.is_finite() {
            return Err(EncodeError::NotFinite);
        }
        self.number_tag(true);
        write_float(&mut self.key, f);
        Ok(())
    }

    /// An atom, by its UTF-8 text.
    pub fn atom(&mut self, text: &str) {
        self.key.push(ATOM);
        write_escaped(&mut self.key, text.as_bytes(), 0);
    }

    /// A bitstring (see [`Value::Bitstring`]).
    pub fn bits(&mut self, bytes: &[u8], trailing_bits: u8) -> Result<(), EncodeError> {
        if trailing_bits > 7 || (trailing_bits > 0 && bytes.is_empty()) {
            return Err(EncodeError::BadBitstring);
        }
        self.key.push(BITS);
        write_escaped(&mut self.key, bytes, trailing_bits);
        Ok(())
    }

    /// The start of a tuple of `arity` elements.
    pub fn tuple(&mut self, arity: usize) {
        self.key.push(TUPLE);
        write_arity(&mut self.key, arity);
    }

    /// The start of one list element.
    pub fn cons(&mut self) {
        self.key.push(CONS);
    }

    /// The end of a proper list (or `[]`).
    pub fn nil(&mut self) {
        self.key.push(NIL);
    }

    /// A whole value, at nesting `depth` (for the depth limit).
    pub fn value(&mut self, v: &Value, depth: usize) -> Result<(), EncodeError> {
        if depth > MAX_DEPTH {
            return Err(EncodeError::TooDeep);
        }
        match v {
            Value::Int(i) => self.int(*i),
            Value::BigInt { negative, magnitude } => {
                self.number_tag(false);
                write_bytes_number(&mut self.key, *negative, magnitude);
            }
            Value::Float(f) => self.float(*f)?,
            Value::Atom(a) => self.atom(a),
            Value::Bitstring { bytes, trailing_bits } => self.bits(bytes, *trailing_bits)?,
            Value::Tuple(items) => {
                self.tuple(items.len());
                for item in items {
                    self.value(item, depth + 1)?;
                }
            }
            Value::List { items, tail } => {
                for item in items {
                    self.cons();
                    self.value(item, depth + 1)?;
                }
                match tail {
                    None => self.nil(),
                    Some(t) => self.value(t, depth + 1)?,
                }
            }
            Value::Map(pairs) => self.map(pairs, depth)?,
        }
        Ok(())
    }

    fn map(&mut self, pairs: &[(Value, Value)], depth: usize) -> Result<(), EncodeError> {
        let mut keyed = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let mut kw = ItemWriter { key: Vec::new(), hint: Vec::new(), numbers: 0, exact: true };
            kw.value(k, depth + 1)?;
            keyed.push((kw.key, v));
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        self.key.push(MAP);
        write_arity(&mut self.key, keyed.len());
        for (k, _) in &keyed {
            self.key.extend_from_slice(k);
        }
        for (_, v) in keyed {
            self.value(v, depth + 1)?;
        }
        Ok(())
    }

    fn number_tag(&mut self, is_float: bool) {
        if self.exact {
            self.key.push(if is_float { NUM_EXACT_FLOAT } else { NUM_EXACT_INT });
            return;
        }
        self.key.push(NUM);
        if is_float {
            let (byte, bit) = (self.numbers / 8, self.numbers % 8);
            if self.hint.len() <= byte {
                self.hint.resize(byte + 1, 0);
            }
            self.hint[byte] |= 1 << bit;
        }
        self.numbers += 1;
    }
}

fn write_leb(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7F) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn read_leb(buf: &[u8]) -> Option<(u64, usize)> {
    let mut n = 0u64;
    for (i, &b) in buf.iter().enumerate().take(10) {
        n |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
}

fn write_arity(out: &mut Vec<u8>, n: usize) {
    if n < 0xFF {
        out.push(n as u8);
    } else {
        out.push(0xFF);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn write_escaped(out: &mut Vec<u8>, bytes: &[u8], trailing_bits: u8) {
    let (full, last) = match trailing_bits {
        0 => (bytes, None),
        k => (&bytes[..bytes.len() - 1], Some(bytes[bytes.len() - 1] & (0xFFu8 << (8 - k)))),
    };
    out.reserve(bytes.len() + 2);
    for &b in full.iter().chain(last.iter()) {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.push(0);
    out.push(if trailing_bits == 0 { 8 } else { trailing_bits });
}

/// Writes the value `m * 2^shift` with the given sign.
fn write_u64_number(out: &mut Vec<u8>, negative: bool, m: u64, shift: i64) {
    if m == 0 {
        out.push(SIGN_ZERO);
        return;
    }
    let top = 63 - i64::from(m.leading_zeros());
    // Fraction bits below the leading one, left-aligned in a u64.
    let frac = if top == 0 { 0 } else { m << (64 - top) };
    let start = out.len();
    out.push(if negative { SIGN_NEG } else { SIGN_POS });
    write_exponent(out, top + shift);
    let mut rest = frac;
    loop {
        let group = (rest >> 57) as u8;
        rest <<= 7;
        let more = rest != 0;
        out.push(group << 1 | u8::from(more));
        if !more {
            break;
        }
    }
    if negative {
        invert(&mut out[start + 1..]);
    }
}

/// Writes an integer given as a big-endian magnitude.
fn write_bytes_number(out: &mut Vec<u8>, negative: bool, magnitude: &[u8]) {
    let first = magnitude.iter().position(|&b| b != 0);
    let Some(first) = first else {
        out.push(SIGN_ZERO);
        return;
    };
    let mag = &magnitude[first..];
    if mag.len() <= 8 {
        let mut buf = [0u8; 8];
        buf[8 - mag.len()..].copy_from_slice(mag);
        write_u64_number(out, negative, u64::from_be_bytes(buf), 0);
        return;
    }
    let lead = mag[0].leading_zeros() as usize;
    let total_bits = mag.len() * 8 - lead;
    let start = out.len();
    out.push(if negative { SIGN_NEG } else { SIGN_POS });
    write_exponent(out, total_bits as i64 - 1);
    let bit = |i: usize| -> u8 {
        let abs = lead + i;
        (mag[abs / 8] >> (7 - abs % 8)) & 1
    };
    // Fraction bits are 1..total_bits; trailing zero bits are dropped.
    let last_one = (1..total_bits).rev().find(|&i| bit(i) == 1);
    match last_one {
        None => out.push(0),
        Some(last) => {
            let mut i = 1;
            while i <= last {
                let mut group = 0u8;
                for j in 0..7 {
                    let b = if i + j < total_bits { bit(i + j) } else { 0 };
                    group = group << 1 | b;
                }
                i += 7;
                out.push(group << 1 | u8::from(i <= last));
            }
        }
    }
    if negative {
        invert(&mut out[start + 1..]);
    }
}

fn write_float(out: &mut Vec<u8>, f: f64) {
    if f == 0.0 {
        out.push(SIGN_ZERO);
        return;
    }
    let bits = f.to_bits();
    let exp = ((bits >> 52) & 0x7FF) as i64;
    let frac = bits & ((1 << 52) - 1);
    let (m, shift) = if exp == 0 { (frac, -1074) } else { (frac | 1 << 52, exp - 1075) };
    write_u64_number(out, f < 0.0, m, shift);
}

fn write_exponent(out: &mut Vec<u8>, e: i64) {
    let biased = (e + EXP_BIAS) as u64;
    if biased < EXP_SHORT_LIMIT {
        out.extend_from_slice(&(biased as u16).to_be_bytes());
    } else {
        out.push(EXP_LONG);
        out.extend_from_slice(&biased.to_be_bytes());
    }
}

fn invert(bytes: &mut [u8]) {
    for b in bytes {
        *b = !*b;
    }
}

struct Reader<'b> {
    buf: &'b [u8],
    pos: usize,
    hint: &'b [u8],
    numbers: usize,
    exact: bool,
}

impl<'b> Reader<'b> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError)?;
        self.pos += 1;
        Ok(b)
    }

    fn peek(&self) -> Result<u8, DecodeError> {
        self.buf.get(self.pos).copied().ok_or(DecodeError)
    }

    fn value<B: Build<'b>>(&mut self, b: &mut B, depth: usize) -> Result<(), DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError);
        }
        match self.peek()? {
            NUM_EXACT_FLOAT if self.exact => {
                self.pos += 1;
                self.push_number(b, true)?;
            }
            NUM => {
                self.pos += 1;
                let is_float = if self.exact {
                    false
                } else {
                    let (byte, bit) = (self.numbers / 8, self.numbers % 8);
                    self.numbers += 1;
                    self.hint.get(byte).is_some_and(|h| h >> bit & 1 == 1)
                };
                self.push_number(b, is_float)?;
            }
            ATOM => {
                self.pos += 1;
                let (bytes, trailing) = self.escaped()?;
                if trailing != 0 {
                    return Err(DecodeError);
                }
                b.atom(match bytes {
                    Cow::Borrowed(v) => Cow::Borrowed(std::str::from_utf8(v).map_err(|_| DecodeError)?),
                    Cow::Owned(v) => Cow::Owned(String::from_utf8(v).map_err(|_| DecodeError)?),
                });
            }
            BITS => {
                self.pos += 1;
                let (bytes, trailing_bits) = self.escaped()?;
                b.bits(bytes, trailing_bits);
            }
            TUPLE => {
                self.pos += 1;
                let n = self.arity()?;
                for _ in 0..n {
                    self.value(b, depth + 1)?;
                }
                b.tuple(n);
            }
            MAP => {
                self.pos += 1;
                let n = self.arity()?;
                let exact = std::mem::replace(&mut self.exact, true);
                let keys = (0..n).try_for_each(|_| self.value(b, depth + 1));
                self.exact = exact;
                keys?;
                for _ in 0..n {
                    self.value(b, depth + 1)?;
                }
                b.map(n);
            }
            NIL | CONS => {
                let mut n = 0;
                while self.peek()? == CONS {
                    self.pos += 1;
                    self.value(b, depth + 1)?;
                    n += 1;
                }
                let improper = if self.peek()? == NIL {
                    self.pos += 1;
                    false
                } else {
                    self.value(b, depth + 1)?;
                    true
                };
                b.list(n, improper);
            }
            _ => return Err(DecodeError),
        }
        Ok(())
    }

    fn push_number<B: Build<'b>>(&mut self, b: &mut B, is_float: bool) -> Result<(), DecodeError> {
        match self.number(is_float)? {
            Value::Int(i) => b.int(i),
            Value::Float(f) => b.float(f),
            Value::BigInt { negative, magnitude } => b.big_int(negative, &magnitude),
            _ => return Err(DecodeError),
        }
        Ok(())
    }

    fn arity(&mut self) -> Result<usize, DecodeError> {
        match self.byte()? {
            0xFF => {
                let b = self.buf.get(self.pos..self.pos + 4).ok_or(DecodeError)?;
                self.pos += 4;
                Ok(u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize)
            }
            n => Ok(n as usize),
        }
    }

    /// Bytes up to the `00 T` terminator, unescaped; borrowed when no `00`
    /// byte was escaped.
    fn escaped(&mut self) -> Result<(Cow<'b, [u8]>, u8), DecodeError> {
        let start = self.pos;
        let rest = &self.buf[start..];
        let zero = rest.iter().position(|&b| b == 0).ok_or(DecodeError)?;
        match rest.get(zero + 1) {
            Some(&8) => {
                self.pos = start + zero + 2;
                return Ok((Cow::Borrowed(&rest[..zero]), 0));
            }
            Some(&t @ 1..=7) if zero > 0 => {
                self.pos = start + zero + 2;
                return Ok((Cow::Borrowed(&rest[..zero]), t));
            }
            _ => {}
        }
        let mut out = Vec::new();
        loop {
            let b = self.byte()?;
            if b != 0 {
                out.push(b);
                continue;
            }
            match self.byte()? {
                0xFF => out.push(0),
                8 => return Ok((Cow::Owned(out), 0)),
                t @ 1..=7 if !out.is_empty() => return Ok((Cow::Owned(out), t)),
                _ => return Err(DecodeError),
            }
        }
    }

    fn number(&mut self, is_float: bool) -> Result<Value<'b>, DecodeError> {
        let negative = match self.byte()? {
            SIGN_ZERO => return Ok(if is_float { Value::Float(0.0) } else { Value::Int(0) }),
            SIGN_POS => false,
            SIGN_NEG => true,
            _ => return Err(DecodeError),
        };
        let flip = |b: u8| if negative { !b } else { b };
        let first = flip(self.byte()?);
        let biased = if first == EXP_LONG {
            let mut v = 0u64;
            for _ in 0..8 {
                v = v << 8 | u64::from(flip(self.byte()?));
            }
            v
        } else {
            u64::from(first) << 8 | u64::from(flip(self.byte()?))
        };
        let e = biased as i64 - EXP_BIAS;
        // Fraction bits, left-aligned; up to 63 fit in `fast` (nine groups),
        // which covers every float and every i64. Longer ones are bignums.
        let mut fast = 0u64;
        let mut groups = 0usize;
        let mut long_bits: Vec<u8> = Vec::new();
        loop {
            let b = flip(self.byte()?);
            let group = b >> 1;
            if groups < 9 {
                fast |= u64::from(group) << (57 - 7 * groups);
            } else {
                if long_bits.is_empty() {
                    long_bits.extend((0..63).map(|i| (fast >> (63 - i) & 1) as u8));
                }
                long_bits.extend((0..7).rev().map(|j| group >> j & 1));
            }
            groups += 1;
            if b & 1 == 0 {
                break;
            }
        }
        if long_bits.is_empty() {
            let frac_len = 64 - fast.trailing_zeros().min(64) as usize;
            return if is_float {
                float_from_parts(negative, e, fast, frac_len).map(Value::Float)
            } else {
                int_from_parts(negative, e, fast, frac_len)
            };
        }
        while long_bits.last() == Some(&0) {
            long_bits.pop();
        }
        if is_float {
            return Err(DecodeError);
        }
        big_int_from_bits(negative, e, &long_bits)
    }
}

/// `frac` holds `frac_len` fraction bits, left-aligned.
fn float_from_parts(negative: bool, e: i64, frac: u64, frac_len: usize) -> Result<f64, DecodeError> {
    if frac_len > 52 || !(-1074..=1023).contains(&e) {
        return Err(DecodeError);
    }
    let f = frac >> 12;
    let sig = 1u64 << 52 | f;
    let bits = if e >= -1022 {
        ((e + 1023) as u64) << 52 | f
    } else {
        let shift = (-1022 - e) as u32;
        if sig & ((1u64 << shift) - 1) != 0 {
            return Err(DecodeError);
        }
        sig >> shift
    };
    let v = f64::from_bits(bits);
    Ok(if negative { -v } else { v })
}

/// `frac` holds `frac_len` fraction bits, left-aligned.
fn int_from_parts(negative: bool, e: i64, frac: u64, frac_len: usize) -> Result<Value<'static>, DecodeError> {
    if e < 0 || frac_len as i64 > e {
        return Err(DecodeError);
    }
    if e >= 64 {
        let bits: Vec<u8> = (0..frac_len).map(|i| (frac >> (63 - i) & 1) as u8).collect();
        return big_int_from_bits(negative, e, &bits);
    }
    let m = 1u64 << e | if e == 0 { 0 } else { frac >> (64 - e) };
    if !negative && m <= i64::MAX as u64 {
        return Ok(Value::Int(m as i64));
    }
    if negative && m <= 1 << 63 {
        return Ok(Value::Int((m as i64).wrapping_neg()));
    }
    Ok(Value::BigInt { negative, magnitude: Cow::Owned(m.to_be_bytes().to_vec()) })
}

/// An integer of `e + 1` bits: a one, then `frac` (one bit per byte).
fn big_int_from_bits(negative: bool, e: i64, frac: &[u8]) -> Result<Value<'static>, DecodeError> {
    if e < 0 || frac.len() as i64 > e {
        return Err(DecodeError);
    }
    let bits = e as usize + 1;
    let len = bits.div_ceil(8);
    let mut mag = vec![0u8; len];
    let pad = len * 8 - bits;
    let mut set = |i: usize| mag[(pad + i) / 8] |= 0x80 >> ((pad + i) % 8);
    set(0);
    for (i, &b) in frac.iter().enumerate() {
        if b == 1 {
            set(i + 1);
        }
    }
    Ok(Value::BigInt { negative, magnitude: Cow::Owned(mag) })
}
