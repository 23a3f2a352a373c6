//! One zstd compression stream per gateway connection (`zstd-stream`): each
//! message is compressed and flushed, never ended, so the client decodes
//! the connection as one zstd frame with one decompression context.

use crate::raw;
use rustler::{Binary, Env, NifResult, ResourceArc, Term};
use std::sync::Mutex;
use zstd::stream::raw::{CParameter, Encoder, InBuffer, Operation, OutBuffer};

pub struct ZstdStream(Mutex<Encoder<'static>>);

#[rustler::resource_impl]
impl rustler::Resource for ZstdStream {}

/// Discord's tuning for zstd-stream.
const LEVEL: i32 = 6;
const WINDOW_LOG: u32 = 18;
const HASH_LOG: u32 = 16;
const CHAIN_LOG: u32 = 16;

fn io_error(e: std::io::Error) -> rustler::Error {
    rustler::Error::Term(Box::new(e.to_string()))
}

#[rustler::nif]
fn zstd_stream_new() -> NifResult<ResourceArc<ZstdStream>> {
    let mut enc = Encoder::new(LEVEL).map_err(io_error)?;
    for p in [CParameter::WindowLog(WINDOW_LOG), CParameter::HashLog(HASH_LOG), CParameter::ChainLog(CHAIN_LOG)] {
        enc.set_parameter(p).map_err(io_error)?;
    }
    Ok(ResourceArc::new(ZstdStream(Mutex::new(enc))))
}

fn compress<'a>(env: Env<'a>, stream: &ZstdStream, data: &[u8]) -> NifResult<Term<'a>> {
    let mut enc = stream.0.lock().unwrap_or_else(|e| e.into_inner());
    let mut out: Vec<u8> = Vec::with_capacity(data.len() / 2 + 64);
    let mut input = InBuffer::around(data);
    // An OutBuffer over a Vec extends the Vec's length by what was written.
    while input.pos < data.len() {
        out.reserve(4096);
        let len = out.len();
        enc.run(&mut input, &mut OutBuffer::around_pos(&mut out, len)).map_err(io_error)?;
    }
    loop {
        out.reserve(4096);
        let len = out.len();
        if enc.flush(&mut OutBuffer::around_pos(&mut out, len)).map_err(io_error)? == 0 {
            break;
        }
    }
    Ok(raw::binary_copy(env, &out))
}

/// Compresses `data` as the next message of the stream, flushed.
#[rustler::nif]
fn zstd_stream_compress<'a>(env: Env<'a>, stream: ResourceArc<ZstdStream>, data: Binary<'a>) -> NifResult<Term<'a>> {
    compress(env, &stream, data.as_slice())
}

/// The same, on a dirty scheduler, for large messages.
#[rustler::nif(schedule = "DirtyCpu")]
fn zstd_stream_compress_dirty<'a>(env: Env<'a>, stream: ResourceArc<ZstdStream>, data: Binary<'a>) -> NifResult<Term<'a>> {
    compress(env, &stream, data.as_slice())
}
