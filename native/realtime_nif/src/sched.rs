//! Keeping normal schedulers free: every NIF on a normal scheduler has a
//! work budget, and gives up with `:reschedule` when it would exceed it or
//! would have to wait for a lock. The Elixir wrapper then repeats the call
//! through the module's dirty-scheduler entry point, which runs unbounded.

use crate::atoms;
use rustler::{Atom, Encoder, Env, Term};

/// Work units a call may spend on a normal scheduler: one per term node and
/// one per 64 bytes copied, about 0.2 ms in all.
pub const NORMAL_BUDGET: usize = 20_000;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Dirty,
}

impl Mode {
    pub fn budget(self) -> usize {
        match self {
            Mode::Normal => NORMAL_BUDGET,
            Mode::Dirty => usize::MAX,
        }
    }
}

/// Why an operation stopped before producing its result.
pub enum Stop {
    /// Over budget or waiting for a lock: repeat on a dirty scheduler.
    Reschedule,
    /// `{:error, reason}`.
    Error(Atom),
}

/// Takes `units` from `budget`, or stops to reschedule.
#[inline]
pub fn spend(budget: &mut usize, units: usize) -> Result<(), Stop> {
    *budget = budget.checked_sub(units).ok_or(Stop::Reschedule)?;
    Ok(())
}

/// The term a NIF returns for a result.
pub fn finish<'a>(env: Env<'a>, result: Result<Term<'a>, Stop>) -> Term<'a> {
    match result {
        Ok(t) => t,
        Err(Stop::Reschedule) => atoms::reschedule().encode(env),
        Err(Stop::Error(reason)) => (atoms::error(), reason).encode(env),
    }
}
