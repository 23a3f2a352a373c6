//! A bounded pull parser for untrusted JSON (RFC 8259).

use std::borrow::Cow;
use std::fmt;

/// Bounds on what a parse may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_size: usize,
    pub max_depth: usize,
    /// Most elements in one array, or members in one object.
    pub max_length: usize,
    /// Longest string, in bytes of input.
    pub max_string: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_size: 64 << 20, max_depth: 512, max_length: 16 << 20, max_string: 64 << 20 }
    }
}

/// One step of a parse. Objects yield `Key` before each member's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer outside i64, as its decimal text (with any `-`).
    BigInt(&'a str),
    Float(f64),
    /// Borrowed when the input needed no unescaping.
    Str(Cow<'a, str>),
    Key(Cow<'a, str>),
    ArrayStart,
    ArrayEnd,
    ObjectStart,
    ObjectEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    UnexpectedEnd,
    UnexpectedByte,
    InvalidNumber,
    InvalidEscape,
    InvalidUtf8,
    LoneSurrogate,
    ControlCharacter,
    TooDeep,
    TooLong,
    StringTooLong,
    InputTooLarge,
    TrailingBytes,
}

impl ErrorKind {
    /// A snake_case name, used as the reason atom on the BEAM.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::UnexpectedEnd => "unexpected_end",
            ErrorKind::UnexpectedByte => "unexpected_byte",
            ErrorKind::InvalidNumber => "invalid_number",
            ErrorKind::InvalidEscape => "invalid_escape",
            ErrorKind::InvalidUtf8 => "invalid_utf8",
            ErrorKind::LoneSurrogate => "lone_surrogate",
            ErrorKind::ControlCharacter => "control_character",
            ErrorKind::TooDeep => "too_deep",
            ErrorKind::TooLong => "too_long",
            ErrorKind::StringTooLong => "string_too_long",
            ErrorKind::InputTooLarge => "input_too_large",
            ErrorKind::TrailingBytes => "trailing_bytes",
        }
    }
}

/// A parse error and the byte offset where it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub offset: usize,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind.name(), self.offset)
    }
}

impl std::error::Error for Error {}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Open,
    AfterValue,
    AfterKey,
}

#[derive(Clone, Copy)]
struct Ctx {
    object: bool,
    state: State,
    count: usize,
}

/// Reads events from one JSON text.
pub struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    stack: Vec<Ctx>,
    limits: Limits,
    root_done: bool,
}

impl<'a> Parser<'a> {
    pub fn new(input: &'a [u8], limits: Limits) -> Result<Self, Error> {
        if input.len() > limits.max_size {
            return Err(Error { kind: ErrorKind::InputTooLarge, offset: 0 });
        }
        Ok(Parser { input, pos: 0, stack: Vec::new(), limits, root_done: false })
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn err(&self, kind: ErrorKind) -> Error {
        Error { kind, offset: self.pos }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.input.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Result<u8, Error> {
        self.input.get(self.pos).copied().ok_or(self.err(ErrorKind::UnexpectedEnd))
    }

    /// The next event, or `None` once the text is complete (and nothing but
    /// whitespace follows it).
    pub fn next(&mut self) -> Result<Option<Event<'a>>, Error> {
        self.ws();
        let Some(top) = self.stack.last().copied() else {
            if self.root_done {
                return if self.pos < self.input.len() { Err(self.err(ErrorKind::TrailingBytes)) } else { Ok(None) };
            }
            return self.value().map(Some);
        };
        let b = self.peek()?;
        let close = if top.object { b'}' } else { b']' };
        match top.state {
            State::Open | State::AfterValue if b == close => {
                self.pos += 1;
                self.stack.pop();
                self.value_done();
                Ok(Some(if top.object { Event::ObjectEnd } else { Event::ArrayEnd }))
            }
            State::AfterValue if b != b',' => Err(self.err(ErrorKind::UnexpectedByte)),
            State::Open | State::AfterValue => {
                if top.state == State::AfterValue {
                    self.pos += 1;
                    self.ws();
                }
                let top = self.stack.last_mut().expect("checked above");
                top.count += 1;
                if top.count > self.limits.max_length {
                    return Err(self.err(ErrorKind::TooLong));
                }
                if top.object { self.key().map(Some) } else { self.value().map(Some) }
            }
            State::AfterKey => self.value().map(Some),
        }
    }

    fn value_done(&mut self) {
        match self.stack.last_mut() {
            Some(top) => top.state = State::AfterValue,
            None => self.root_done = true,
        }
    }

    fn open(&mut self, object: bool) -> Result<Event<'a>, Error> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(self.err(ErrorKind::TooDeep));
        }
        self.pos += 1;
        self.stack.push(Ctx { object, state: State::Open, count: 0 });
        Ok(if object { Event::ObjectStart } else { Event::ArrayStart })
    }

    fn key(&mut self) -> Result<Event<'a>, Error> {
        if self.peek()? != b'"' {
            return Err(self.err(ErrorKind::UnexpectedByte));
        }
        let k = self.string()?;
        self.ws();
        if self.peek()? != b':' {
            return Err(self.err(ErrorKind::UnexpectedByte));
        }
        self.pos += 1;
        self.stack.last_mut().expect("inside an object").state = State::AfterKey;
        Ok(Event::Key(k))
    }

    fn value(&mut self) -> Result<Event<'a>, Error> {
        let ev = match self.peek()? {
            b'{' => return self.open(true),
            b'[' => return self.open(false),
            b'"' => Event::Str(self.string()?),
            b't' => self.literal(b"true", Event::Bool(true))?,
            b'f' => self.literal(b"false", Event::Bool(false))?,
            b'n' => self.literal(b"null", Event::Null)?,
            b'-' | b'0'..=b'9' => self.number()?,
            _ => return Err(self.err(ErrorKind::UnexpectedByte)),
        };
        self.value_done();
        Ok(ev)
    }

    fn literal(&mut self, word: &[u8], ev: Event<'a>) -> Result<Event<'a>, Error> {
        if self.input[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(ev)
        } else if word.starts_with(&self.input[self.pos..]) {
            Err(Error { kind: ErrorKind::UnexpectedEnd, offset: self.input.len() })
        } else {
            Err(self.err(ErrorKind::UnexpectedByte))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.input.get(self.pos) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Event<'a>, Error> {
        let start = self.pos;
        let bad = |p: &Self| Error { kind: if p.pos >= p.input.len() { ErrorKind::UnexpectedEnd } else { ErrorKind::InvalidNumber }, offset: p.pos };
        if self.input[self.pos] == b'-' {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = self.digits();
        if n == 0 {
            return Err(bad(self));
        }
        if n > 1 && self.input[int_start] == b'0' {
            return Err(Error { kind: ErrorKind::InvalidNumber, offset: int_start });
        }
        let mut float = false;
        if self.input.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(bad(self));
            }
            float = true;
        }
        if let Some(b'e' | b'E') = self.input.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.input.get(self.pos) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(bad(self));
            }
            float = true;
        }
        let text = std::str::from_utf8(&self.input[start..self.pos]).expect("ASCII digits");
        if float {
            let f: f64 = text.parse().map_err(|_| Error { kind: ErrorKind::InvalidNumber, offset: start })?;
            if !f.is_finite() {
                return Err(Error { kind: ErrorKind::InvalidNumber, offset: start });
            }
            return Ok(Event::Float(f));
        }
        Ok(match text.parse::<i64>() {
            Ok(i) => Event::Int(i),
            Err(_) => Event::BigInt(text),
        })
    }

    /// A string at the current `"`; borrowed when it has no escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, Error> {
        let start = self.pos + 1;
        let rest = &self.input[start..];
        let stop = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
        let Some(stop) = stop else {
            return Err(Error { kind: ErrorKind::UnexpectedEnd, offset: self.input.len() });
        };
        if stop > self.limits.max_string {
            return Err(Error { kind: ErrorKind::StringTooLong, offset: start });
        }
        if rest[stop] == b'"' {
            let s = std::str::from_utf8(&rest[..stop]).map_err(|e| Error { kind: ErrorKind::InvalidUtf8, offset: start + e.valid_up_to() })?;
            self.pos = start + stop + 1;
            return Ok(Cow::Borrowed(s));
        }
        self.escaped_string(start)
    }

    fn escaped_string(&mut self, start: usize) -> Result<Cow<'a, str>, Error> {
        let mut out: Vec<u8> = Vec::new();
        self.pos = start;
        loop {
            let seg = self.pos;
            while let Some(&b) = self.input.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.extend_from_slice(&self.input[seg..self.pos]);
            if self.pos - start > self.limits.max_string {
                return Err(Error { kind: ErrorKind::StringTooLong, offset: start });
            }
            match self.input.get(self.pos) {
                None => return Err(Error { kind: ErrorKind::UnexpectedEnd, offset: self.input.len() }),
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(out)
                        .map(Cow::Owned)
                        .map_err(|e| Error { kind: ErrorKind::InvalidUtf8, offset: start + e.utf8_error().valid_up_to() });
                }
                Some(b'\\') => {
                    let at = self.pos;
                    self.pos += 1;
                    let c = match self.input.get(self.pos) {
                        None => return Err(Error { kind: ErrorKind::UnexpectedEnd, offset: self.input.len() }),
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let hi = self.hex4(at)?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.input.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return Err(Error { kind: ErrorKind::LoneSurrogate, offset: at });
                                }
                                self.pos += 2;
                                let lo = self.hex4(at)?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(Error { kind: ErrorKind::LoneSurrogate, offset: at });
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(Error { kind: ErrorKind::LoneSurrogate, offset: at });
                            } else {
                                hi
                            };
                            self.pos -= 1;
                            char::from_u32(cp).ok_or(Error { kind: ErrorKind::InvalidEscape, offset: at })?
                        }
                        Some(_) => return Err(Error { kind: ErrorKind::InvalidEscape, offset: at }),
                    };
                    self.pos += 1;
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                Some(_) => return Err(self.err(ErrorKind::ControlCharacter)),
            }
        }
    }

    fn hex4(&mut self, at: usize) -> Result<u32, Error> {
        let h = self.input.get(self.pos..self.pos + 4).ok_or(Error { kind: ErrorKind::UnexpectedEnd, offset: self.input.len() })?;
        let s = std::str::from_utf8(h).map_err(|_| Error { kind: ErrorKind::InvalidEscape, offset: at })?;
        let v = u32::from_str_radix(s, 16).map_err(|_| Error { kind: ErrorKind::InvalidEscape, offset: at })?;
        if !h.iter().all(u8::is_ascii_hexdigit) {
            return Err(Error { kind: ErrorKind::InvalidEscape, offset: at });
        }
        self.pos += 4;
        Ok(v)
    }
}
