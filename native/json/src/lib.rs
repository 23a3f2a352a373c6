//! JSON for the gateway (OTP 25 has no `:json`, and Jason is a hex package).
//!
//! - [`write`]: strings with JSON escaping, integers and shortest-round-trip
//!   floats, appended to a `Vec<u8>`.
//! - [`Parser`]: a pull parser over untrusted bytes. It never recurses,
//!   borrows strings that need no unescaping, keeps integers exact (digits
//!   beyond i64 are handed over as text) and enforces [`Limits`].

mod parser;
pub mod write;

pub use parser::{Error, ErrorKind, Event, Limits, Parser};
