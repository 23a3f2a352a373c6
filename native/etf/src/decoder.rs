//! A bounded pull decoder for untrusted ETF.

use crate::error::{Error, ErrorKind};
use crate::tag::*;
use std::borrow::Cow;

/// Bounds on what a decode may cost. Every one is checked before the work
/// or allocation it guards.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest input accepted, in bytes.
    pub max_size: usize,
    /// Deepest nesting of tuples, lists and maps.
    pub max_depth: usize,
    /// Largest declared size of compressed data, checked before inflating.
    pub max_decompressed: usize,
    /// Most elements in one tuple or list, or pairs in one map.
    pub max_length: usize,
    /// Largest binary, string or bignum, in bytes.
    pub max_binary: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_size: 64 << 20,
            max_depth: 512,
            max_decompressed: 64 << 20,
            max_length: 16 << 20,
            max_binary: 64 << 20,
        }
    }
}

/// One step of a decode. Containers announce their size and are followed by
/// their contents: a tuple by `n` terms, a list by `n` terms and then its
/// tail, a map by `n` key-value pairs.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    Int(i64),
    /// An integer outside i64: sign and little-endian magnitude.
    Big { negative: bool, le: &'a [u8] },
    Float(f64),
    /// `utf8` tells whether `name` is UTF-8 (else Latin-1).
    Atom { name: &'a [u8], utf8: bool },
    Binary(&'a [u8]),
    /// A bitstring whose last byte holds `bits` (1..=7) bits.
    Bits { bytes: &'a [u8], bits: u8 },
    Tuple(usize),
    List(usize),
    Nil,
    Map(usize),
    /// STRING_EXT: a list of small integers, given as bytes.
    Str(&'a [u8]),
    /// A pid, port, reference or fun: its whole encoding, tag included.
    Opaque(&'a [u8]),
}

/// Checks the version byte and the size limit, and inflates a compressed
/// term (tag 80) after checking its declared size. Returns the term's bytes
/// without the version byte.
pub fn decompress<'a>(input: &'a [u8], limits: &Limits) -> Result<Cow<'a, [u8]>, Error> {
    if input.len() > limits.max_size {
        return Err(Error::at(ErrorKind::InputTooLarge, 0));
    }
    match input.first() {
        Some(&VERSION) => {}
        Some(_) => return Err(Error::at(ErrorKind::BadVersion, 0)),
        None => return Err(Error::at(ErrorKind::Truncated, 0)),
    }
    if input.get(1) != Some(&COMPRESSED) {
        return Ok(Cow::Borrowed(&input[1..]));
    }
    let size = input.get(2..6).ok_or(Error::at(ErrorKind::Truncated, 2))?;
    let size = u32::from_be_bytes(size.try_into().expect("4 bytes")) as usize;
    if size > limits.max_decompressed {
        return Err(Error::at(ErrorKind::DecompressedTooLarge, 2));
    }
    use std::io::Read;
    let mut out = Vec::with_capacity(size);
    let z = flate2::read::ZlibDecoder::new(&input[6..]);
    // Read at most one byte past the declared size, to detect a liar.
    z.take(size as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| Error::at(ErrorKind::BadCompression, 6))?;
    if out.len() != size {
        return Err(Error::at(ErrorKind::BadCompression, 6));
    }
    Ok(Cow::Owned(out))
}

/// Reads events from one term. Construct it over the bytes returned by
/// [`decompress`]. It never recurses: nesting is a stack of counts.
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Added to positions in errors, so they point into the original input.
    base: usize,
    /// Terms still to come in each open container.
    stack: Vec<usize>,
    limits: Limits,
    done: bool,
}

impl<'a> Decoder<'a> {
    /// `base` is the offset of `buf` in the caller's input (1 after the
    /// version byte), used only in error offsets.
    pub fn new(buf: &'a [u8], base: usize, limits: Limits) -> Self {
        Decoder { buf, pos: 0, base, stack: Vec::new(), limits, done: false }
    }

    /// Whether the whole term has been read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Fails unless the term is complete and nothing follows it.
    pub fn finish(&self) -> Result<(), Error> {
        if !self.done {
            return Err(self.err(ErrorKind::Truncated));
        }
        if self.pos != self.buf.len() {
            return Err(self.err(ErrorKind::TrailingBytes));
        }
        Ok(())
    }

    fn err(&self, kind: ErrorKind) -> Error {
        Error::at(kind, self.base + self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or_else(|| self.err(ErrorKind::Truncated))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<usize, Error> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")) as usize)
    }

    fn u32(&mut self) -> Result<usize, Error> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")) as usize)
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if n > self.limits.max_binary {
            return Err(self.err(ErrorKind::BinaryTooLarge));
        }
        self.take(n)
    }

    /// The next event.
    pub fn next(&mut self) -> Result<Event<'a>, Error> {
        if self.done {
            return Err(self.err(ErrorKind::TrailingBytes));
        }
        let start = self.pos;
        let ev = self.event()?;
        let open = match ev {
            Event::Tuple(n) if n > 0 => Some(n),
            Event::List(n) => Some(n + 1),
            Event::Map(n) if n > 0 => Some(2 * n),
            _ => None,
        };
        match open {
            Some(count) => {
                if self.stack.len() >= self.limits.max_depth {
                    return Err(Error::at(ErrorKind::TooDeep, self.base + start));
                }
                self.stack.push(count);
            }
            None => self.value_done(),
        }
        Ok(ev)
    }

    fn value_done(&mut self) {
        while let Some(top) = self.stack.last_mut() {
            *top -= 1;
            if *top > 0 {
                return;
            }
            self.stack.pop();
        }
        self.done = true;
    }

    /// A container of `n` elements needing `per` bytes at least each, and
    /// `extra` more terms (a list's tail).
    fn count(&mut self, n: usize, per: usize, extra: usize) -> Result<usize, Error> {
        if n > self.limits.max_length || n.saturating_mul(per).saturating_add(extra) > self.remaining() {
            return Err(self.err(ErrorKind::TooLong));
        }
        Ok(n)
    }

    fn event(&mut self) -> Result<Event<'a>, Error> {
        let at = self.pos;
        let tag = self.u8()?;
        Ok(match tag {
            SMALL_INTEGER => Event::Int(i64::from(self.u8()?)),
            INTEGER => Event::Int(i64::from(i32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))),
            SMALL_BIG => {
                let n = self.u8()? as usize;
                self.big(n)?
            }
            LARGE_BIG => {
                let n = self.u32()?;
                self.big(n)?
            }
            NEW_FLOAT => {
                let f = f64::from_bits(u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")));
                if !f.is_finite() {
                    return Err(Error::at(ErrorKind::NotFinite, self.base + at));
                }
                Event::Float(f)
            }
            FLOAT => {
                let text = self.take(31)?;
                let end = text.iter().position(|&b| b == 0).unwrap_or(31);
                let f: f64 = std::str::from_utf8(&text[..end])
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .ok_or(Error::at(ErrorKind::BadFloat, self.base + at))?;
                if !f.is_finite() {
                    return Err(Error::at(ErrorKind::NotFinite, self.base + at));
                }
                Event::Float(f)
            }
            ATOM | SMALL_ATOM | ATOM_UTF8 | SMALL_ATOM_UTF8 => {
                self.pos = at;
                let (name, utf8) = self.atom()?;
                Event::Atom { name, utf8 }
            }
            SMALL_TUPLE => {
                let n = self.u8()? as usize;
                Event::Tuple(self.count(n, 1, 0)?)
            }
            LARGE_TUPLE => {
                let n = self.u32()?;
                Event::Tuple(self.count(n, 1, 0)?)
            }
            NIL => Event::Nil,
            STRING => {
                let n = self.u16()?;
                Event::Str(self.bytes(n)?)
            }
            LIST => {
                let n = self.u32()?;
                Event::List(self.count(n, 1, 1)?)
            }
            BINARY => {
                let n = self.u32()?;
                Event::Binary(self.bytes(n)?)
            }
            BIT_BINARY => {
                let n = self.u32()?;
                let bits = self.u8()?;
                if !(1..=8).contains(&bits) || n == 0 {
                    return Err(Error::at(ErrorKind::BadTag(tag), self.base + at));
                }
                let bytes = self.bytes(n)?;
                if bits == 8 { Event::Binary(bytes) } else { Event::Bits { bytes, bits } }
            }
            MAP => {
                let n = self.u32()?;
                Event::Map(self.count(n, 2, 0)?)
            }
            NEW_PID | PID | NEW_PORT | PORT | V4_PORT | REFERENCE | NEW_REFERENCE | NEWER_REFERENCE | NEW_FUN | EXPORT => {
                self.opaque(tag)?;
                Event::Opaque(&self.buf[at..self.pos])
            }
            t => return Err(Error::at(ErrorKind::BadTag(t), self.base + at)),
        })
    }

    fn big(&mut self, n: usize) -> Result<Event<'a>, Error> {
        let negative = match self.u8()? {
            0 => false,
            1 => true,
            _ => return Err(self.err(ErrorKind::BadTag(SMALL_BIG))),
        };
        let le = self.bytes(n)?;
        let used = le.len() - le.iter().rev().take_while(|&&b| b == 0).count();
        if used <= 8 {
            let mut buf = [0u8; 8];
            buf[..used].copy_from_slice(&le[..used]);
            let m = u64::from_le_bytes(buf);
            if !negative && m <= i64::MAX as u64 {
                return Ok(Event::Int(m as i64));
            }
            if negative && m <= 1 << 63 {
                return Ok(Event::Int((m as i64).wrapping_neg()));
            }
        }
        Ok(Event::Big { negative, le: &le[..used] })
    }

    /// An atom at the current position: its name and whether it is UTF-8.
    fn atom(&mut self) -> Result<(&'a [u8], bool), Error> {
        let at = self.pos;
        let tag = self.u8()?;
        let (n, utf8) = match tag {
            ATOM => (self.u16()?, false),
            SMALL_ATOM => (self.u8()? as usize, false),
            ATOM_UTF8 => (self.u16()?, true),
            SMALL_ATOM_UTF8 => (self.u8()? as usize, true),
            t => return Err(Error::at(ErrorKind::BadTag(t), self.base + at)),
        };
        let name = self.take(n)?;
        let chars = if utf8 {
            std::str::from_utf8(name).map_err(|_| Error::at(ErrorKind::BadAtom, self.base + at))?.chars().count()
        } else {
            name.len()
        };
        if chars > 255 {
            return Err(Error::at(ErrorKind::BadAtom, self.base + at));
        }
        Ok((name, utf8))
    }

    /// Skips the body of a pid, port, reference or fun.
    fn opaque(&mut self, tag: u8) -> Result<(), Error> {
        match tag {
            NEW_PID => {
                self.atom()?;
                self.take(12)?;
            }
            PID => {
                self.atom()?;
                self.take(9)?;
            }
            NEW_PORT => {
                self.atom()?;
                self.take(8)?;
            }
            PORT | REFERENCE => {
                self.atom()?;
                self.take(5)?;
            }
            V4_PORT => {
                self.atom()?;
                self.take(12)?;
            }
            NEW_REFERENCE | NEWER_REFERENCE => {
                let words = self.u16()?;
                if words > 5 {
                    return Err(self.err(ErrorKind::BadTag(tag)));
                }
                self.atom()?;
                self.take(if tag == NEW_REFERENCE { 1 } else { 4 })?;
                self.take(4 * words)?;
            }
            NEW_FUN => {
                let size = self.u32()?;
                self.take(size.checked_sub(4).ok_or_else(|| self.err(ErrorKind::BadTag(tag)))?)?;
            }
            EXPORT => {
                self.atom()?;
                self.atom()?;
                if self.u8()? != SMALL_INTEGER {
                    return Err(self.err(ErrorKind::BadTag(tag)));
                }
                self.u8()?;
            }
            _ => unreachable!("only called for opaque tags"),
        }
        Ok(())
    }
}
