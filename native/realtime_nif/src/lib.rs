//! The one cdylib that exposes the pure Rust cores to the BEAM.
//!
//! Each submodule is a thin binding: decode arguments, call the core, encode
//! the result. Conversions and error mapping live here and nowhere else.

mod alloc;
mod bitmap;
mod etf;
mod fanout;
mod hash_ring;
mod json;
mod metrics;
mod raw;
mod sched;
mod sorted_set;
mod store;
mod value;
mod zstd_stream;

use rustler::{Env, NifMap};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

pub mod atoms {
    rustler::atoms! {
        ok,
        error,
        nil,
        reschedule,
        unsupported_type,
        too_deep,
        not_sorted,
        add,
        remove,
        find_index,
        at,
        at_many,
        slice,
        badarg,
        not_finite,
        invalid_utf8,
        invalid_key,
        improper_list,
        union,
        intersection,
        difference,
        invalid_bitmap,
        put,
        delete,
        member,
        size,
        to_list,
        take,
        intersection_size,
        copy,
        to_binary,
        memory,
        cont,
        done,
        sqlite,
        postgres,
        path,
        url,
        synchronous,
        full,
        writers,
        readers,
        max_batch,
        linger_us,
        guilds,
        channels,
        roles,
        members,
        messages,
        settings,
        delete_scope,
        react,
        put_meta,
        rows,
        get,
        page,
        latest,
        before,
        after,
        around,
        reactions,
        meta,
        unavailable,
        corrupt,
        foreign,
        too_new,
        other,
        store_written,
        take_lease,
        fence,
        lease,
        fenced,
        store_read,
        true_ = "true",
        false_ = "false",
    }
}

#[derive(NifMap)]
struct Memory {
    allocated: usize,
    peak: usize,
    allocations: usize,
}

/// Bytes allocated by every NIF of this library, with the peak and the
/// number of live allocations.
#[rustler::nif]
fn memory() -> Memory {
    let s = alloc::stats();
    Memory { allocated: s.allocated, peak: s.peak, allocations: s.allocations }
}

fn load(_env: Env, _info: rustler::Term) -> bool {
    true
}

rustler::init!("Elixir.Realtime.Native", load = load);
