//! `Realtime.Fanout`: a slot table of pids, resolved against a
//! `Realtime.Bitmap` into per-shard lists of recipients.
//!
//! The NIF only resolves; the Elixir side hands each shard's list to a
//! delivery process, which sends. A recipient's slot decides its shard, so
//! one delivery process serves it and messages keep their order. Resolution
//! runs in time slices of about half a millisecond, continued by the Elixir
//! wrapper, so no normal scheduler is held long.
//!
//! (Measured alternatives: sending from the NIF is no faster than the
//! Elixir send loop, and sending from a Rust thread outside the schedulers
//! is three times slower to reach the last receiver; see `mix bench fanout`.)

use crate::atoms;
use crate::bitmap::{read, BitmapResource};
use crate::sched::{finish, Mode};
use rustler::{Encoder, Env, LocalPid, NifResult, ResourceArc, Term};
use std::sync::RwLock;
use std::time::{Duration, Instant};

pub struct FanoutResource(RwLock<Vec<Option<LocalPid>>>);

#[rustler::resource_impl]
impl rustler::Resource for FanoutResource {}

/// Slots above this are refused, so that a stray slot number cannot make
/// the table allocate gigabytes (16 bytes per slot).
const MAX_SLOT: u32 = (1 << 26) - 1;
/// Time a call may spend resolving slots before yielding to the wrapper.
const SLICE: Duration = Duration::from_micros(500);
/// Recipients per call at most, so that handing a shard's list to its
/// delivery process (a copy the VM cannot interrupt) stays short.
const MAX_PER_CALL: usize = 8_192;

#[rustler::nif]
fn fanout_new() -> ResourceArc<FanoutResource> {
    ResourceArc::new(FanoutResource(RwLock::new(Vec::new())))
}

#[rustler::nif]
fn fanout_put(table: ResourceArc<FanoutResource>, slot: u32, pid: LocalPid) -> NifResult<rustler::Atom> {
    if slot > MAX_SLOT {
        return Err(rustler::Error::BadArg);
    }
    let mut t = table.0.write().unwrap_or_else(|e| e.into_inner());
    let i = slot as usize;
    if t.len() <= i {
        t.resize(i + 1, None);
    }
    t[i] = Some(pid);
    Ok(atoms::ok())
}

#[rustler::nif]
fn fanout_delete(table: ResourceArc<FanoutResource>, slot: u32) -> rustler::Atom {
    let mut t = table.0.write().unwrap_or_else(|e| e.into_inner());
    if let Some(entry) = t.get_mut(slot as usize) {
        *entry = None;
    }
    atoms::ok()
}

/// The pids of slots in `bitmap` from slot `cursor` on, as `shards` lists
/// (a slot's shard is `slot % shards`). Returns `{:done, lists}` or
/// `{:cont, next_cursor, lists}`.
#[rustler::nif]
fn fanout_resolve<'a>(
    env: Env<'a>,
    table: ResourceArc<FanoutResource>,
    bitmap: ResourceArc<BitmapResource>,
    cursor: u32,
    shards: u32,
) -> NifResult<Term<'a>> {
    if shards == 0 {
        return Err(rustler::Error::BadArg);
    }
    let result = read(&bitmap, Mode::Normal).map(|bm| {
        let slots = table.0.read().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        let mut lists: Vec<Vec<LocalPid>> = vec![Vec::new(); shards as usize];
        let mut next = None;
        let mut found = 0;
        for (n, slot) in bm.iter_from(cursor).enumerate() {
            if found == MAX_PER_CALL || (n % 256 == 255 && started.elapsed() > SLICE) {
                next = Some(slot);
                break;
            }
            // Empty slots are skipped.
            if let Some(Some(pid)) = slots.get(slot as usize) {
                lists[(slot % shards) as usize].push(*pid);
                found += 1;
            }
        }
        match next {
            Some(slot) => {
                rustler::schedule::consume_timeslice(env, 50);
                (atoms::cont(), slot, lists).encode(env)
            }
            None => (atoms::done(), lists).encode(env),
        }
    });
    Ok(finish(env, result))
}

/// The pids of slots in `bitmap`, for callers that prefer to send from
/// Elixir (kept for the benchmark that compares the two).
#[rustler::nif(schedule = "DirtyCpu")]
fn fanout_pids(env: Env, table: ResourceArc<FanoutResource>, bitmap: ResourceArc<BitmapResource>) -> Term {
    let bm = read(&bitmap, Mode::Dirty).ok().expect("dirty reads wait for the lock");
    let t = table.0.read().unwrap_or_else(|e| e.into_inner());
    let pids: Vec<LocalPid> = bm.iter().filter_map(|s| t.get(s as usize).copied().flatten()).collect();
    pids.encode(env)
}
