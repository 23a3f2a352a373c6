//! Appending terms in erlpack's dialect.

use crate::tag::*;

/// Appends ETF to a buffer. Containers are written as a header followed by
/// their elements, which the caller writes next:
/// - `tuple(n)`: n elements;
/// - `list(n)`: n elements, then the tail (`nil()` for a proper list);
/// - `map(n)`: n keys and values, alternating, keys in Erlang term order
///   (see [`crate::sort_map_entries`]), because OTP decodes sorted small maps
///   faster.
///
/// The writer does not check that the caller wrote the promised elements.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

/// A float OTP cannot represent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteError;

impl Writer {
    /// A writer whose buffer starts with the version byte.
    pub fn new() -> Self {
        Self::with_capacity(64)
    }

    pub fn with_capacity(n: usize) -> Self {
        let mut buf = Vec::with_capacity(n.max(1));
        buf.push(VERSION);
        Writer { buf }
    }

    /// A writer that reuses `buf` (cleared first), so that a caller can keep
    /// one buffer across many encodes. [`Writer::into_vec`] gives it back.
    pub fn reusing(mut buf: Vec<u8>) -> Self {
        buf.clear();
        buf.push(VERSION);
        Writer { buf }
    }

    /// A writer without the version byte, for nested fragments.
    pub fn fragment() -> Self {
        Writer { buf: Vec::new() }
    }

    #[inline]
    pub fn int(&mut self, i: i64) {
        if (0..=255).contains(&i) {
            self.buf.extend_from_slice(&[SMALL_INTEGER, i as u8]);
        } else if let Ok(i) = i32::try_from(i) {
            self.buf.push(INTEGER);
            self.buf.extend_from_slice(&i.to_be_bytes());
        } else {
            let bytes = i.unsigned_abs().to_le_bytes();
            let n = 8 - bytes.iter().rev().take_while(|&&b| b == 0).count();
            self.big(i < 0, &bytes[..n]);
        }
    }

    pub fn uint(&mut self, u: u64) {
        match i64::try_from(u) {
            Ok(i) => self.int(i),
            Err(_) => self.big(false, &u.to_le_bytes()),
        }
    }

    /// An integer given as sign and little-endian magnitude.
    pub fn big(&mut self, negative: bool, le: &[u8]) {
        let n = le.len() - le.iter().rev().take_while(|&&b| b == 0).count();
        let le = &le[..n];
        if le.len() <= 255 {
            self.buf.extend_from_slice(&[SMALL_BIG, le.len() as u8, u8::from(negative)]);
        } else {
            self.buf.push(LARGE_BIG);
            self.buf.extend_from_slice(&(le.len() as u32).to_be_bytes());
            self.buf.push(u8::from(negative));
        }
        self.buf.extend_from_slice(le);
    }

    /// NEW_FLOAT_EXT; NaN and infinities are refused.
    pub fn float(&mut self, f: f64) -> Result<(), WriteError> {
        if !f.is_finite() {
            return Err(WriteError);
        }
        self.buf.push(NEW_FLOAT);
        self.buf.extend_from_slice(&f.to_bits().to_be_bytes());
        Ok(())
    }

    /// An atom from its UTF-8 name: SMALL_ATOM_EXT when ASCII (what
    /// erlpack's decoders read), else SMALL_ATOM_UTF8_EXT or ATOM_UTF8_EXT.
    pub fn atom(&mut self, name: &str) {
        let b = name.as_bytes();
        if name.is_ascii() && b.len() <= 255 {
            self.buf.extend_from_slice(&[SMALL_ATOM, b.len() as u8]);
        } else if b.len() <= 255 {
            self.buf.extend_from_slice(&[SMALL_ATOM_UTF8, b.len() as u8]);
        } else {
            self.buf.push(ATOM_UTF8);
            self.buf.extend_from_slice(&(b.len() as u16).to_be_bytes());
        }
        self.buf.extend_from_slice(b);
    }

    pub fn binary(&mut self, b: &[u8]) {
        self.buf.push(BINARY);
        self.buf.extend_from_slice(&(b.len() as u32).to_be_bytes());
        self.buf.extend_from_slice(b);
    }

    /// A bitstring whose last byte holds `bits` (1..=8) significant bits.
    pub fn bitstring(&mut self, b: &[u8], bits: u8) {
        self.buf.push(BIT_BINARY);
        self.buf.extend_from_slice(&(b.len() as u32).to_be_bytes());
        self.buf.push(bits);
        self.buf.extend_from_slice(b);
    }

    pub fn tuple(&mut self, n: usize) {
        if n <= 255 {
            self.buf.extend_from_slice(&[SMALL_TUPLE, n as u8]);
        } else {
            self.buf.push(LARGE_TUPLE);
            self.buf.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }

    /// A list header; `n == 0` writes NIL_EXT and nothing else may follow.
    pub fn list(&mut self, n: usize) {
        if n == 0 {
            self.nil();
        } else {
            self.buf.push(LIST);
            self.buf.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }

    pub fn nil(&mut self) {
        self.buf.push(NIL);
    }

    /// STRING_EXT: a list of at most 65535 bytes, written only on request.
    pub fn string(&mut self, b: &[u8]) {
        debug_assert!(b.len() <= 0xFFFF);
        self.buf.push(STRING);
        self.buf.extend_from_slice(&(b.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(b);
    }

    pub fn map(&mut self, n: usize) {
        self.buf.push(MAP);
        self.buf.extend_from_slice(&(n as u32).to_be_bytes());
    }

    /// A term already encoded, without its version byte.
    pub fn raw(&mut self, encoded: &[u8]) {
        self.buf.extend_from_slice(encoded);
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }

    /// The compressed form (tag 80) of a complete term written by a writer
    /// made with [`Writer::new`]; `level` is zlib's 0..=9.
    pub fn into_compressed(self, level: u32) -> Vec<u8> {
        use std::io::Write;
        let body = &self.buf[1..];
        let mut out = Vec::with_capacity(body.len() / 2 + 16);
        out.extend_from_slice(&[VERSION, COMPRESSED]);
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        let mut z = flate2::write::ZlibEncoder::new(out, flate2::Compression::new(level.min(9)));
        z.write_all(body).expect("writing to a Vec cannot fail");
        z.finish().expect("writing to a Vec cannot fail")
    }
}
