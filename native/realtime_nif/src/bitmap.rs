//! `Realtime.Bitmap`: a `bitmap::Bitmap` behind a read-write lock in a
//! resource. Calls on normal schedulers never wait for a lock and never do
//! more than `NORMAL_BUDGET` units of work; otherwise they return
//! `:reschedule` and the wrapper repeats them through `bitmap_dirty/3`.

use crate::atoms;
use crate::sched::{finish, Mode, Stop, NORMAL_BUDGET};
use bitmap::Bitmap;
use crate::raw;
use rustler::{Atom, Binary, Encoder, Env, NifResult, ResourceArc, Term};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

pub struct BitmapResource(pub RwLock<Bitmap>);

#[rustler::resource_impl]
impl rustler::Resource for BitmapResource {}

type Res = ResourceArc<BitmapResource>;

fn new_res(b: Bitmap) -> Res {
    ResourceArc::new(BitmapResource(RwLock::new(b)))
}

pub fn read(r: &BitmapResource, mode: Mode) -> Result<RwLockReadGuard<'_, Bitmap>, Stop> {
    match mode {
        Mode::Dirty => Ok(r.0.read().unwrap_or_else(|e| e.into_inner())),
        Mode::Normal => match r.0.try_read() {
            Ok(g) => Ok(g),
            Err(TryLockError::Poisoned(e)) => Ok(e.into_inner()),
            Err(TryLockError::WouldBlock) => Err(Stop::Reschedule),
        },
    }
}

fn write(r: &BitmapResource, mode: Mode) -> Result<RwLockWriteGuard<'_, Bitmap>, Stop> {
    match mode {
        Mode::Dirty => Ok(r.0.write().unwrap_or_else(|e| e.into_inner())),
        Mode::Normal => match r.0.try_write() {
            Ok(g) => Ok(g),
            Err(TryLockError::Poisoned(e)) => Ok(e.into_inner()),
            Err(TryLockError::WouldBlock) => Err(Stop::Reschedule),
        },
    }
}

fn within_budget(cost: usize, mode: Mode) -> Result<(), Stop> {
    if mode == Mode::Normal && cost > NORMAL_BUDGET * 4 {
        return Err(Stop::Reschedule);
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum SetOp {
    Union,
    Intersection,
    Difference,
}

impl SetOp {
    fn from_atom(a: Atom) -> Option<Self> {
        if a == atoms::union() {
            Some(SetOp::Union)
        } else if a == atoms::intersection() {
            Some(SetOp::Intersection)
        } else if a == atoms::difference() {
            Some(SetOp::Difference)
        } else {
            None
        }
    }

    fn apply(self, a: &Bitmap, b: &Bitmap) -> Bitmap {
        match self {
            SetOp::Union => a.union(b),
            SetOp::Intersection => a.intersection(b),
            SetOp::Difference => a.difference(b),
        }
    }
}

/// `a op b` as a new bitmap.
fn combine<'a>(env: Env<'a>, a: &Res, b: &Res, op: SetOp, mode: Mode) -> Result<Term<'a>, Stop> {
    let ga = read(a, mode)?;
    let gb = if std::ptr::eq(&**a, &**b) { None } else { Some(read(b, mode)?) };
    let bb: &Bitmap = gb.as_deref().unwrap_or(&ga);
    within_budget(ga.cost() + bb.cost(), mode)?;
    Ok(new_res(op.apply(&ga, bb)).encode(env))
}

/// `a := a op b`. Locks are taken in address order, so two calls with the
/// operands swapped cannot deadlock.
fn combine_into<'a>(env: Env<'a>, a: &Res, b: &Res, op: SetOp, mode: Mode) -> Result<Term<'a>, Stop> {
    if std::ptr::eq(&**a, &**b) {
        let mut ga = write(a, mode)?;
        within_budget(ga.cost(), mode)?;
        if let SetOp::Difference = op {
            *ga = Bitmap::new();
        }
        return Ok(a.encode(env));
    }
    let (mut ga, gb);
    if (&**a as *const BitmapResource) < (&**b as *const BitmapResource) {
        ga = write(a, mode)?;
        gb = read(b, mode)?;
    } else {
        gb = read(b, mode)?;
        ga = write(a, mode)?;
    }
    within_budget(ga.cost() + gb.cost(), mode)?;
    *ga = op.apply(&ga, &gb);
    Ok(a.encode(env))
}

fn to_list<'a>(env: Env<'a>, a: &Res, mode: Mode) -> Result<Term<'a>, Stop> {
    let g = read(a, mode)?;
    within_budget(g.len(), mode)?;
    Ok(g.iter().collect::<Vec<u32>>().encode(env))
}

#[rustler::nif]
fn bitmap_new() -> Res {
    new_res(Bitmap::new())
}

#[rustler::nif]
fn bitmap_from_list(slots: Vec<u32>) -> Res {
    new_res(Bitmap::from_slots(slots))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn bitmap_from_list_dirty(slots: Vec<u32>) -> Res {
    new_res(Bitmap::from_slots(slots))
}

/// One operation on a bitmap, the same on either kind of scheduler; `arg`
/// is the slot, the other bitmap, or ignored.
fn run<'a>(env: Env<'a>, op: Atom, a: &Res, arg: Term<'a>, m: Mode) -> NifResult<Result<Term<'a>, Stop>> {
    Ok(if op == atoms::put() {
        let slot: u32 = arg.decode()?;
        write(a, m).map(|mut g| {
            g.insert(slot);
            a.encode(env)
        })
    } else if op == atoms::delete() {
        let slot: u32 = arg.decode()?;
        write(a, m).map(|mut g| {
            g.remove(slot);
            a.encode(env)
        })
    } else if op == atoms::member() {
        let slot: u32 = arg.decode()?;
        read(a, m).map(|g| g.contains(slot).encode(env))
    } else if op == atoms::size() {
        read(a, m).map(|g| g.len().encode(env))
    } else if op == atoms::to_list() {
        to_list(env, a, m)
    } else if op == atoms::take() {
        let n: usize = arg.decode()?;
        read(a, m).and_then(|g| {
            within_budget(n.min(g.len()), m)?;
            Ok(g.iter().take(n).collect::<Vec<u32>>().encode(env))
        })
    } else if op == atoms::intersection_size() {
        let b: Res = arg.decode()?;
        read(a, m).and_then(|ga| {
            if std::ptr::eq(&**a, &*b) {
                return Ok(ga.len().encode(env));
            }
            let gb = read(&b, m)?;
            within_budget(ga.cost() + gb.cost(), m)?;
            Ok(ga.intersection_len(&gb).encode(env))
        })
    } else if op == atoms::copy() {
        read(a, m).and_then(|g| {
            within_budget(g.cost(), m)?;
            Ok(new_res(g.clone()).encode(env))
        })
    } else if op == atoms::to_binary() {
        read(a, m).and_then(|g| {
            within_budget(g.cost(), m)?;
            Ok(raw::binary_copy(env, &g.to_bytes()))
        })
    } else if op == atoms::memory() {
        read(a, m).map(|g| g.memory().encode(env))
    } else {
        return Err(rustler::Error::BadArg);
    })
}

#[rustler::nif]
fn bitmap_put<'a>(env: Env<'a>, a: Res, slot: Term<'a>) -> NifResult<Term<'a>> {
    Ok(finish(env, run(env, atoms::put(), &a, slot, Mode::Normal)?))
}

#[rustler::nif]
fn bitmap_delete<'a>(env: Env<'a>, a: Res, slot: Term<'a>) -> NifResult<Term<'a>> {
    Ok(finish(env, run(env, atoms::delete(), &a, slot, Mode::Normal)?))
}

#[rustler::nif]
fn bitmap_member<'a>(env: Env<'a>, a: Res, slot: Term<'a>) -> NifResult<Term<'a>> {
    Ok(finish(env, run(env, atoms::member(), &a, slot, Mode::Normal)?))
}

#[rustler::nif]
fn bitmap_size(env: Env, a: Res) -> NifResult<Term> {
    Ok(finish(env, run(env, atoms::size(), &a, atoms::nil().to_term(env), Mode::Normal)?))
}

#[rustler::nif]
fn bitmap_take<'a>(env: Env<'a>, a: Res, n: Term<'a>) -> NifResult<Term<'a>> {
    Ok(finish(env, run(env, atoms::take(), &a, n, Mode::Normal)?))
}

#[rustler::nif]
fn bitmap_to_list(env: Env, a: Res) -> NifResult<Term> {
    Ok(finish(env, run(env, atoms::to_list(), &a, atoms::nil().to_term(env), Mode::Normal)?))
}

#[rustler::nif]
fn bitmap_combine<'a>(env: Env<'a>, a: Res, b: Res, op: Atom, in_place: bool) -> NifResult<Term<'a>> {
    let op = SetOp::from_atom(op).ok_or(rustler::Error::BadArg)?;
    let f = if in_place { combine_into } else { combine };
    Ok(finish(env, f(env, &a, &b, op, Mode::Normal)))
}

#[rustler::nif]
fn bitmap_intersection_size<'a>(env: Env<'a>, a: Res, b: Term<'a>) -> NifResult<Term<'a>> {
    Ok(finish(env, run(env, atoms::intersection_size(), &a, b, Mode::Normal)?))
}

#[rustler::nif]
fn bitmap_copy(env: Env, a: Res) -> NifResult<Term> {
    Ok(finish(env, run(env, atoms::copy(), &a, atoms::nil().to_term(env), Mode::Normal)?))
}

#[rustler::nif]
fn bitmap_to_binary(env: Env, a: Res) -> NifResult<Term> {
    Ok(finish(env, run(env, atoms::to_binary(), &a, atoms::nil().to_term(env), Mode::Normal)?))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn bitmap_from_binary<'a>(env: Env<'a>, bytes: Binary<'a>) -> Term<'a> {
    match Bitmap::from_bytes(bytes.as_slice()) {
        Ok(b) => (atoms::ok(), new_res(b)).encode(env),
        Err(_) => (atoms::error(), atoms::invalid_bitmap()).encode(env),
    }
}

#[rustler::nif]
fn bitmap_memory(env: Env, a: Res) -> NifResult<Term> {
    Ok(finish(env, run(env, atoms::memory(), &a, atoms::nil().to_term(env), Mode::Normal)?))
}

/// Any of the calls above that returned `:reschedule`, on a dirty scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn bitmap_dirty<'a>(env: Env<'a>, op: Atom, a: Res, arg: Term<'a>) -> NifResult<Term<'a>> {
    Ok(finish(env, run(env, op, &a, arg, Mode::Dirty)?))
}

/// `a op b` (or `a := a op b`) on a dirty scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn bitmap_combine_dirty<'a>(env: Env<'a>, a: Res, b: Res, op: Atom, in_place: bool) -> NifResult<Term<'a>> {
    let op = SetOp::from_atom(op).ok_or(rustler::Error::BadArg)?;
    let f = if in_place { combine_into } else { combine };
    Ok(finish(env, f(env, &a, &b, op, Mode::Dirty)))
}
