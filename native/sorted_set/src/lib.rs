//! A sorted set of Erlang terms with O(log n) positional operations.
//!
//! Two parts, usable on their own:
//! - [`term`]: encodes a [`Value`] (an Erlang data term) into a byte string
//!   whose `memcmp` order is exactly Erlang's term order, with `==` equality
//!   (so `1` and `1.0` are one member), and decodes it back losslessly.
//! - [`tree`]: [`SortedSet`], a counted B+tree over such encoded items.
//!
//! Neither knows about the BEAM. The NIF binding writes items straight from
//! BEAM terms ([`term::encode_with`]) and builds terms straight from items
//! ([`term::decode_with`]), with no [`Value`] in between.

pub mod term;
pub mod tree;

pub use term::{DecodeError, Value};
pub use tree::{NotSorted, SortedSet};
