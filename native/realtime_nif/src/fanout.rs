//! `Realtime.Fanout`: a slot table of pids, and sending one message to every
//! pid whose slot is in a `Realtime.Bitmap`.
//!
//! A send walks the bitmap in slot order from a cursor and stops after
//! about half a millisecond, returning the cursor
//! to continue from; the Elixir wrapper loops, so the caller sees one call
//! and the scheduler is never held for long. Each `enif_send` is made from
//! the caller's environment, so messages from one guild process to one pid
//! stay in the order it sent them.

use crate::atoms;
use crate::bitmap::{read, BitmapResource};
use crate::sched::{finish, Mode};
use rustler::{Encoder, Env, LocalPid, NifResult, ResourceArc, Term};
use std::sync::RwLock;

pub struct FanoutResource(RwLock<Vec<Option<LocalPid>>>);

#[rustler::resource_impl]
impl rustler::Resource for FanoutResource {}

/// Slots above this are refused, so that a stray slot number cannot make
/// the table allocate gigabytes (16 bytes per slot).
const MAX_SLOT: u32 = (1 << 26) - 1;
/// Time a call may spend before yielding back to the wrapper.
const SLICE: std::time::Duration = std::time::Duration::from_micros(500);

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

/// Sends `message` to the pids of slots in `bitmap` from slot `cursor` on.
/// Returns `{:done, sent}` or `{:cont, next_cursor, sent}`.
#[rustler::nif]
fn fanout_send<'a>(
    env: Env<'a>,
    table: ResourceArc<FanoutResource>,
    bitmap: ResourceArc<BitmapResource>,
    message: Term<'a>,
    cursor: u32,
) -> Term<'a> {
    let result = read(&bitmap, Mode::Normal).map(|bm| {
        let t = table.0.read().unwrap_or_else(|e| e.into_inner());
        let mut sent = 0usize;
        let started = std::time::Instant::now();
        for (n, slot) in bm.iter_from(cursor).enumerate() {
            if n % 32 == 31 && started.elapsed() > SLICE {
                // Tell the VM how much of a 1 ms timeslice this call used.
                rustler::schedule::consume_timeslice(env, 50);
                return (atoms::cont(), slot, sent).encode(env);
            }
            // Dead processes and empty slots are skipped, not errors.
            if let Some(Some(pid)) = t.get(slot as usize) {
                if env.send(pid, message).is_ok() {
                    sent += 1;
                }
            }
        }
        (atoms::done(), sent).encode(env)
    });
    finish(env, result)
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
