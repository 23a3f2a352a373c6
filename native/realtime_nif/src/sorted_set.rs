//! `Realtime.SortedSet`: a `sorted_set::SortedSet` behind a mutex in a
//! resource.
//!
//! Entry points on normal schedulers never wait and never do unbounded work:
//! when the lock is taken or the input is large they return `:reschedule`,
//! and the Elixir wrapper repeats the call through `sorted_set_dirty/4`,
//! which waits for the lock on a dirty CPU scheduler.

use crate::atoms;
use crate::sched::{finish, Mode, Stop, NORMAL_BUDGET};
use crate::value::{self, TermStack, Unconvertible};
use rustler::{Atom, Encoder, Env, NifResult, ResourceArc, Term};
use crate::raw;
use crate::sched::spend;
use rustler::{Binary, TermType};
use sorted_set::term::{self, EncodeError, ItemWriter, MAX_DEPTH};
use sorted_set::SortedSet;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, TryLockError};

pub struct SetResource {
    set: Mutex<SortedSet>,
    /// Mirrors `set.len()` so that `size/1` never takes the lock.
    len: AtomicUsize,
}

#[rustler::resource_impl]
impl rustler::Resource for SetResource {}

impl SetResource {
    fn new(set: SortedSet) -> ResourceArc<Self> {
        let len = AtomicUsize::new(set.len());
        ResourceArc::new(SetResource { set: Mutex::new(set), len })
    }
}

impl From<Unconvertible> for Stop {
    fn from(e: Unconvertible) -> Self {
        match e {
            Unconvertible::OverBudget => Stop::Reschedule,
            Unconvertible::Unsupported => Stop::Error(atoms::unsupported_type()),
            Unconvertible::TooDeep => Stop::Error(atoms::too_deep()),
        }
    }
}

impl From<EncodeError> for Stop {
    fn from(e: EncodeError) -> Self {
        Stop::Error(match e {
            EncodeError::TooDeep => atoms::too_deep(),
            EncodeError::NotFinite | EncodeError::BadBitstring => atoms::unsupported_type(),
        })
    }
}

/// The set, locked. A poisoned lock is taken over: every mutation of the
/// tree completes before anything that could panic, so the set stays valid.
fn lock(res: &SetResource, mode: Mode) -> Result<MutexGuard<'_, SortedSet>, Stop> {
    match mode {
        Mode::Dirty => Ok(res.set.lock().unwrap_or_else(|e| e.into_inner())),
        Mode::Normal => match res.set.try_lock() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::Poisoned(e)) => Ok(e.into_inner()),
            Err(TryLockError::WouldBlock) => Err(Stop::Reschedule),
        },
    }
}

thread_local! {
    /// Reused for the item of each call, so that lookups allocate nothing.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Encodes a term as an item and passes it to `f`.
fn with_item<R>(term: Term, mode: Mode, f: impl FnOnce(&[u8]) -> Result<R, Stop>) -> Result<R, Stop> {
    let mut budget = mode.budget();
    SCRATCH.with_borrow_mut(|buf| {
        buf.clear();
        term::encode_with(buf, |w| write_term(w, term, &mut budget, 0))?;
        f(buf)
    })
}

/// Writes `t` into an item as it walks it, with no `Value` in between:
/// no allocation for numbers, Latin-1 atoms, binaries, tuples and lists.
/// Maps (whose keys are sorted first), bignums, and the atoms and
/// bitstrings that OTP 25's NIF API cannot read go through a `Value`.
fn write_term(w: &mut ItemWriter, t: Term, budget: &mut usize, depth: usize) -> Result<(), Stop> {
    if depth > MAX_DEPTH {
        return Err(Stop::Error(atoms::too_deep()));
    }
    spend(budget, 1)?;
    match t.get_type() {
        TermType::Integer if let Ok(i) = t.decode::<i64>() => w.int(i),
        TermType::Float => w.float(t.decode::<f64>().map_err(|_| Stop::Error(atoms::unsupported_type()))?)?,
        TermType::Atom => {
            let mut name = [0u8; 256];
            match raw::atom_latin1(t, &mut name).filter(|n| n.is_ascii()) {
                Some(ascii) => w.atom(std::str::from_utf8(ascii).expect("ASCII is UTF-8")),
                None => via_value(w, t, budget, depth)?,
            }
        }
        TermType::Binary if let Ok(bin) = Binary::from_term(t) => {
            spend(budget, bin.len() / 64)?;
            w.bits(bin.as_slice(), 0)?;
        }
        TermType::Tuple => {
            let items = raw::tuple_elements(t).ok_or(Stop::Error(atoms::unsupported_type()))?;
            w.tuple(items.len());
            for item in items {
                write_term(w, item, budget, depth + 1)?;
            }
        }
        TermType::List => {
            let mut cell = t;
            while let Ok((head, tail)) = cell.list_get_cell() {
                w.cons();
                write_term(w, head, budget, depth + 1)?;
                cell = tail;
            }
            if cell.is_empty_list() {
                w.nil();
            } else {
                write_term(w, cell, budget, depth + 1)?;
            }
        }
        _ => via_value(w, t, budget, depth)?,
    }
    Ok(())
}

fn via_value(w: &mut ItemWriter, t: Term, budget: &mut usize, depth: usize) -> Result<(), Stop> {
    let v = value::from_term(t, budget)?;
    Ok(w.value(&v, depth)?)
}

/// Decodes a stored item into a term, on `terms`' reused stack.
fn decode<'a>(terms: &mut TermStack<'a>, item: &[u8]) -> Term<'a> {
    term::decode_with(item, terms).expect("items in the set were encoded by this crate");
    terms.pop().expect("a decoded item pushes one term")
}

/// Looks a term up by its key; a term that cannot be a member is absent.
fn with_key<'a>(env: Env<'a>, term: Term, mode: Mode, f: impl FnOnce(&[u8]) -> Result<Term<'a>, Stop>) -> Result<Term<'a>, Stop> {
    match with_item(term, mode, |item| f(term::key(item))) {
        Err(Stop::Error(_)) => Ok(atoms::nil().encode(env)),
        other => other,
    }
}

fn add<'a>(env: Env<'a>, res: &SetResource, term: Term<'a>, mode: Mode) -> Result<Term<'a>, Stop> {
    with_item(term, mode, |item| {
        let mut set = lock(res, mode)?;
        let index = set.insert(item);
        res.len.store(set.len(), Relaxed);
        Ok(index.encode(env))
    })
}

fn remove<'a>(env: Env<'a>, res: &SetResource, term: Term<'a>, mode: Mode) -> Result<Term<'a>, Stop> {
    with_key(env, term, mode, |key| {
        let mut set = lock(res, mode)?;
        let index = set.remove(key);
        res.len.store(set.len(), Relaxed);
        Ok(index.encode(env))
    })
}

fn find_index<'a>(env: Env<'a>, res: &SetResource, term: Term<'a>, mode: Mode) -> Result<Term<'a>, Stop> {
    with_key(env, term, mode, |key| Ok(lock(res, mode)?.find_index(key).encode(env)))
}

fn at<'a>(env: Env<'a>, res: &SetResource, index: usize, mode: Mode) -> Result<Term<'a>, Stop> {
    let set = lock(res, mode)?;
    match set.get(index) {
        None => Ok(atoms::error().encode(env)),
        Some(item) if mode == Mode::Normal && item.len() / 64 > NORMAL_BUDGET => Err(Stop::Reschedule),
        Some(item) => Ok((atoms::ok(), decode(&mut TermStack::new(env), item)).encode(env)),
    }
}

/// `{:ok, item}` or `:error` (out of range) for each of `indices` (a
/// list of integers), under one lock.
fn at_many<'a>(env: Env<'a>, res: &SetResource, indices: Term<'a>, mode: Mode) -> Result<Term<'a>, Stop> {
    let badarg = || Stop::Error(atoms::badarg());
    let set = lock(res, mode)?;
    let mut budget = mode.budget();
    let mut stack = TermStack::new(env);
    let mut terms = Vec::new();
    for t in indices.into_list_iterator().map_err(|_| badarg())? {
        // Negative and huge integers are out of range like any other.
        let item = t.decode::<usize>().ok().and_then(|i| set.get(i));
        budget = budget.checked_sub(1 + item.map_or(0, |it| it.len() / 16)).ok_or(Stop::Reschedule)?;
        terms.push(match item {
            Some(item) => (atoms::ok(), decode(&mut stack, item)).encode(env),
            None => atoms::error().encode(env),
        });
    }
    drop(set);
    Ok(terms.encode(env))
}

fn slice<'a>(env: Env<'a>, res: &SetResource, start: usize, amount: usize, mode: Mode) -> Result<Term<'a>, Stop> {
    let set = lock(res, mode)?;
    let mut budget = mode.budget();
    let mut stack = TermStack::new(env);
    let mut terms = Vec::with_capacity(amount.min(set.len().saturating_sub(start)));
    for item in set.iter_from(start).take(amount) {
        budget = budget.checked_sub(1 + item.len() / 16).ok_or(Stop::Reschedule)?;
        terms.push(decode(&mut stack, item));
    }
    drop(set);
    Ok(terms.encode(env))
}

#[rustler::nif]
fn sorted_set_new(bucket_size: i64) -> NifResult<ResourceArc<SetResource>> {
    if bucket_size <= 0 {
        return Err(rustler::Error::BadArg);
    }
    Ok(SetResource::new(SortedSet::new(bucket_size as usize)))
}

/// Builds a set from a list; with `sorted`, the list must already be
/// strictly ascending and unique.
#[rustler::nif(schedule = "DirtyCpu")]
fn sorted_set_from_list<'a>(env: Env<'a>, list: Vec<Term<'a>>, bucket_size: i64, sorted: bool) -> NifResult<Term<'a>> {
    if bucket_size <= 0 {
        return Err(rustler::Error::BadArg);
    }
    // One arena for all items: a million small allocations would dominate.
    let mut arena = Vec::new();
    let mut ends = Vec::with_capacity(list.len());
    let encoded: Result<(), Stop> = list.into_iter().try_for_each(|t| {
        let mut budget = usize::MAX;
        term::encode_with(&mut arena, |w| write_term(w, t, &mut budget, 0))?;
        ends.push(arena.len());
        Ok(())
    });
    let result = encoded.and_then(|()| {
        let items: Vec<&[u8]> = ends.iter().scan(0, |start, &end| {
            let item = &arena[*start..end];
            *start = end;
            Some(item)
        }).collect();
        let set = if sorted {
            SortedSet::from_sorted(&items, bucket_size as usize).map_err(|_| Stop::Error(atoms::not_sorted()))?
        } else {
            SortedSet::from_items(&items, bucket_size as usize)
        };
        Ok(SetResource::new(set).encode(env))
    });
    Ok(finish(env, result))
}

#[rustler::nif]
fn sorted_set_size(set: ResourceArc<SetResource>) -> usize {
    set.len.load(Relaxed)
}

#[rustler::nif]
fn sorted_set_add<'a>(env: Env<'a>, set: ResourceArc<SetResource>, term: Term<'a>) -> Term<'a> {
    finish(env, add(env, &set, term, Mode::Normal))
}

#[rustler::nif]
fn sorted_set_remove<'a>(env: Env<'a>, set: ResourceArc<SetResource>, term: Term<'a>) -> Term<'a> {
    finish(env, remove(env, &set, term, Mode::Normal))
}

#[rustler::nif]
fn sorted_set_find_index<'a>(env: Env<'a>, set: ResourceArc<SetResource>, term: Term<'a>) -> Term<'a> {
    finish(env, find_index(env, &set, term, Mode::Normal))
}

#[rustler::nif]
fn sorted_set_at(env: Env, set: ResourceArc<SetResource>, index: usize) -> Term {
    finish(env, at(env, &set, index, Mode::Normal))
}

#[rustler::nif]
fn sorted_set_at_many<'a>(env: Env<'a>, set: ResourceArc<SetResource>, indices: Term<'a>) -> Term<'a> {
    finish(env, at_many(env, &set, indices, Mode::Normal))
}

#[rustler::nif]
fn sorted_set_slice(env: Env, set: ResourceArc<SetResource>, start: usize, amount: usize) -> Term {
    finish(env, slice(env, &set, start, amount, Mode::Normal))
}

/// Runs operation `op` on a dirty scheduler, waiting for the lock.
#[rustler::nif(schedule = "DirtyCpu")]
fn sorted_set_dirty<'a>(env: Env<'a>, set: ResourceArc<SetResource>, op: Atom, a: Term<'a>, b: Term<'a>) -> NifResult<Term<'a>> {
    let m = Mode::Dirty;
    let result = if op == atoms::add() {
        add(env, &set, a, m)
    } else if op == atoms::remove() {
        remove(env, &set, a, m)
    } else if op == atoms::find_index() {
        find_index(env, &set, a, m)
    } else if op == atoms::at() {
        at(env, &set, a.decode()?, m)
    } else if op == atoms::at_many() {
        at_many(env, &set, a, m)
    } else if op == atoms::slice() {
        slice(env, &set, a.decode()?, b.decode()?, m)
    } else {
        return Err(rustler::Error::BadArg);
    };
    Ok(finish(env, result))
}

/// Bytes held by the set's own structures.
#[rustler::nif(schedule = "DirtyCpu")]
fn sorted_set_memory(set: ResourceArc<SetResource>) -> usize {
    set.set.lock().unwrap_or_else(|e| e.into_inner()).memory()
}

/// A description of the set's internal shape.
#[rustler::nif(schedule = "DirtyCpu")]
fn sorted_set_debug(set: ResourceArc<SetResource>) -> String {
    set.set.lock().unwrap_or_else(|e| e.into_inner()).debug()
}
