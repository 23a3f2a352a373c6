use std::fmt;

/// What went wrong, and at which byte of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub offset: usize,
}

/// The reasons a decode or encode can fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input ended inside a term.
    Truncated,
    /// The first byte is not 131.
    BadVersion,
    /// A tag this decoder does not know.
    BadTag(u8),
    /// Bytes left after the term.
    TrailingBytes,
    /// The input is larger than `Limits::max_size`.
    InputTooLarge,
    /// Nested deeper than `Limits::max_depth`.
    TooDeep,
    /// A list, tuple or map longer than `Limits::max_length` or than the
    /// input could hold.
    TooLong,
    /// A binary, string or bignum larger than `Limits::max_binary`.
    BinaryTooLarge,
    /// Compressed data whose declared size exceeds `Limits::max_decompressed`.
    DecompressedTooLarge,
    /// Compressed data that does not inflate to its declared size.
    BadCompression,
    /// NaN or an infinity, which OTP cannot represent.
    NotFinite,
    /// A FLOAT_EXT whose text is not a number.
    BadFloat,
    /// An atom whose name is not valid for its tag.
    BadAtom,
    /// A map with the same key twice.
    DuplicateKey,
    /// An improper list where the target type needs a proper one, or a value
    /// of the wrong type for the target (serde).
    Message(String),
}

impl Error {
    pub(crate) fn at(kind: ErrorKind, offset: usize) -> Self {
        Error { kind, offset }
    }
}

impl ErrorKind {
    /// A short snake_case name, used as the reason atom on the BEAM.
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::Truncated => "truncated",
            ErrorKind::BadVersion => "bad_version",
            ErrorKind::BadTag(_) => "bad_tag",
            ErrorKind::TrailingBytes => "trailing_bytes",
            ErrorKind::InputTooLarge => "input_too_large",
            ErrorKind::TooDeep => "too_deep",
            ErrorKind::TooLong => "too_long",
            ErrorKind::BinaryTooLarge => "binary_too_large",
            ErrorKind::DecompressedTooLarge => "decompressed_too_large",
            ErrorKind::BadCompression => "bad_compression",
            ErrorKind::NotFinite => "not_finite",
            ErrorKind::BadFloat => "bad_float",
            ErrorKind::BadAtom => "bad_atom",
            ErrorKind::DuplicateKey => "duplicate_key",
            ErrorKind::Message(_) => "invalid",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Message(m) => write!(f, "{m} at byte {}", self.offset),
            ErrorKind::BadTag(t) => write!(f, "unknown tag {t} at byte {}", self.offset),
            k => write!(f, "{} at byte {}", k.name(), self.offset),
        }
    }
}

impl std::error::Error for Error {}

impl serde::ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::at(ErrorKind::Message(msg.to_string()), 0)
    }
}

impl serde::de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::at(ErrorKind::Message(msg.to_string()), 0)
    }
}
