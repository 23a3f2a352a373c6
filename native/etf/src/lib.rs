//! Erlang's External Term Format (ETF) in the dialect of Discord's erlpack.
//!
//! - [`Writer`]: appends terms to a buffer, one call per term or container
//!   header, with erlpack's choices of tags.
//! - [`Decoder`]: a pull parser over untrusted bytes. It never recurses,
//!   allocates in proportion to its input, and enforces [`Limits`] on size,
//!   depth, element counts, binary sizes and decompressed size.
//! - [`to_vec`] and [`from_slice`]: serde on top of both.

mod decoder;
mod de;
mod error;
mod order;
mod ser;
pub mod tag;
mod writer;

pub use decoder::{decompress, Decoder, Event, Limits};
pub use de::{from_slice, from_slice_with, Deserializer};
pub use error::{Error, ErrorKind};
pub use order::sort_map_entries;
pub use ser::{to_vec, Serializer};
pub use writer::{Writer, WriteError};
