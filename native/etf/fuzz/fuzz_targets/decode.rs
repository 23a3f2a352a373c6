//! Any bytes: the decoder returns events or an error, never panics, and
//! never reads past its limits.
#![no_main]

use etf::{decompress, Decoder, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_decompressed: 1 << 20, ..Limits::default() };
    let Ok(body) = decompress(data, &limits) else { return };
    let mut dec = Decoder::new(&body, 1, limits);
    while !dec.is_done() {
        if dec.next().is_err() {
            return;
        }
    }
    let _ = dec.finish();
    // Whatever decodes must also go through serde without panicking.
    let _ = etf::from_slice::<serde_ignored::Any>(data);
});

mod serde_ignored {
    /// Accepts any value.
    pub struct Any;
    impl<'de> serde::Deserialize<'de> for Any {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            serde::de::IgnoredAny::deserialize(d).map(|_| Any)
        }
    }
}
