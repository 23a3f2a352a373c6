//! `Realtime.Store`'s NIFs: a `store::Store` in a resource. Opening runs on
//! a dirty I/O scheduler; writes and reads only queue work for the store's
//! threads and return at once, and the answer comes later as a message to
//! the calling process:
//!
//! - `{:store_written, tag, :ok | {:error, {kind, message}}}`
//! - `{:store_read, tag, {:ok, reply} | {:error, {kind, message}}}`

use crate::atoms;
use crate::raw;
use crate::sched::Mode;
use rustler::env::OwnedEnv;
use rustler::types::tuple::get_tuple;
use rustler::{Atom, Binary, Encoder, Env, LocalPid, NifResult, ResourceArc, Term};
use std::path::PathBuf;
use std::time::Duration;
use store::{Config, Error, Op, Page, Postgres, Query, Reply, Sqlite, Store, Synchronous, Table};

pub struct StoreResource(Store);

#[rustler::resource_impl]
impl rustler::Resource for StoreResource {}

/// Ops per call on a normal scheduler; more are decoded on a dirty one.
const NORMAL_OPS: usize = 256;

#[rustler::nif(schedule = "DirtyIo")]
fn store_open<'a>(env: Env<'a>, kind: Atom, config: Term<'a>) -> NifResult<Term<'a>> {
    let int = |key: Atom, default: usize| -> NifResult<usize> {
        match config.map_get(key.encode(env)) {
            Ok(v) => v.decode(),
            Err(_) => Ok(default),
        }
    };
    let defaults = Config::default();
    let mut cfg = Config {
        writers: int(atoms::writers(), defaults.writers)?,
        readers: int(atoms::readers(), defaults.readers)?,
        max_batch: int(atoms::max_batch(), defaults.max_batch)?,
        linger: Duration::from_micros(int(atoms::linger_us(), 0)? as u64),
    };

    let opened = if kind == atoms::sqlite() {
        let path: String = config.map_get(atoms::path().encode(env))?.decode()?;
        let sync: Atom = config.map_get(atoms::synchronous().encode(env))?.decode()?;
        let sync = if sync == atoms::full() { Synchronous::Full } else { Synchronous::Normal };
        let path = PathBuf::from(path);
        // SQLite takes one writer at a time.
        cfg.writers = 1;
        Sqlite::open(&path, sync).and_then(|(first, applied)| {
            let mut first = Some(first);
            let store = Store::start(&cfg, || first.take().map_or_else(|| Sqlite::connect(&path, sync), Ok))?;
            Ok((store, applied))
        })
    } else if kind == atoms::postgres() {
        let url: String = config.map_get(atoms::url().encode(env))?.decode()?;
        Postgres::open(&url).and_then(|(first, applied)| {
            let mut first = Some(first);
            let store = Store::start(&cfg, || first.take().map_or_else(|| Postgres::connect(&url), Ok))?;
            Ok((store, applied))
        })
    } else {
        return Err(rustler::Error::BadArg);
    };

    Ok(match opened {
        Ok((store, applied)) => (atoms::ok(), ResourceArc::new(StoreResource(store)), applied).encode(env),
        Err(e) => (atoms::error(), error_term(env, &e)).encode(env),
    })
}

#[rustler::nif]
fn store_write<'a>(env: Env<'a>, store: ResourceArc<StoreResource>, key: u64, ops: Term<'a>, tag: u64) -> NifResult<Term<'a>> {
    write(env, store, key, ops, tag, Mode::Normal)
}

#[rustler::nif(schedule = "DirtyCpu")]
fn store_write_dirty<'a>(env: Env<'a>, store: ResourceArc<StoreResource>, key: u64, ops: Term<'a>, tag: u64) -> NifResult<Term<'a>> {
    write(env, store, key, ops, tag, Mode::Dirty)
}

fn write<'a>(env: Env<'a>, store: ResourceArc<StoreResource>, key: u64, ops: Term<'a>, tag: u64, mode: Mode) -> NifResult<Term<'a>> {
    let list: Vec<Term> = ops.decode()?;
    if mode == Mode::Normal && list.len() > NORMAL_OPS {
        return Ok(atoms::reschedule().encode(env));
    }
    let ops = list.into_iter().map(decode_op).collect::<NifResult<Vec<Op>>>()?;
    let pid = env.pid();
    store.0.write(key, ops, move |result| {
        reply(pid, move |env| {
            let result = match result {
                Ok(()) => atoms::ok().encode(env),
                Err(e) => (atoms::error(), error_term(env, &e)).encode(env),
            };
            (atoms::store_written(), tag, result).encode(env)
        })
    });
    Ok(atoms::ok().encode(env))
}

#[rustler::nif]
fn store_read<'a>(env: Env<'a>, store: ResourceArc<StoreResource>, query: Term<'a>, tag: u64) -> NifResult<Atom> {
    let query = decode_query(query)?;
    let pid = env.pid();
    store.0.read(query, move |result| {
        reply(pid, move |env| {
            let result = match result {
                Ok(r) => (atoms::ok(), reply_term(env, r)).encode(env),
                Err(e) => (atoms::error(), error_term(env, &e)).encode(env),
            };
            (atoms::store_read(), tag, result).encode(env)
        })
    });
    Ok(atoms::ok())
}

/// Sends a message built in a fresh environment to `pid` (from a store
/// thread). A process that has exited no longer wants the answer.
fn reply(pid: LocalPid, build: impl for<'e> FnOnce(Env<'e>) -> Term<'e>) {
    let mut owned = OwnedEnv::new();
    let _ = owned.send_and_clear(&pid, build);
}

fn table(a: Atom) -> NifResult<Table> {
    Table::ALL.into_iter().find(|t| a == table_atom(*t)).ok_or(rustler::Error::BadArg)
}

fn table_atom(t: Table) -> Atom {
    match t {
        Table::Guilds => atoms::guilds(),
        Table::Channels => atoms::channels(),
        Table::Roles => atoms::roles(),
        Table::Members => atoms::members(),
        Table::Messages => atoms::messages(),
        Table::Settings => atoms::settings(),
    }
}

fn bytes(t: Term) -> NifResult<Vec<u8>> {
    Ok(t.decode::<Binary>()?.as_slice().to_vec())
}

fn decode_op(t: Term) -> NifResult<Op> {
    let e = get_tuple(t)?;
    let tag: Atom = e.first().ok_or(rustler::Error::BadArg)?.decode()?;
    Ok(match (e.len(), tag) {
        (5, t) if t == atoms::put() => Op::Put { table: table(e[1].decode()?)?, scope: e[2].decode()?, id: e[3].decode()?, data: bytes(e[4])? },
        (4, t) if t == atoms::delete() => Op::Delete { table: table(e[1].decode()?)?, scope: e[2].decode()?, id: e[3].decode()? },
        (3, t) if t == atoms::delete_scope() => Op::DeleteScope { table: table(e[1].decode()?)?, scope: e[2].decode()? },
        (6, t) if t == atoms::react() => Op::React {
            channel: e[1].decode()?,
            message: e[2].decode()?,
            emoji: e[3].decode()?,
            user: e[4].decode()?,
            add: e[5].decode()?,
        },
        (3, t) if t == atoms::put_meta() => Op::PutMeta { key: e[1].decode()?, value: bytes(e[2])? },
        (4, t) if t == atoms::take_lease() => Op::TakeLease { guild: e[1].decode()?, owner: e[2].decode()?, epoch: e[3].decode()? },
        (3, t) if t == atoms::fence() => Op::Fence { guild: e[1].decode()?, epoch: e[2].decode()? },
        _ => return Err(rustler::Error::BadArg),
    })
}

fn decode_query(t: Term) -> NifResult<Query> {
    let e = get_tuple(t)?;
    let tag: Atom = e.first().ok_or(rustler::Error::BadArg)?.decode()?;
    Ok(match (e.len(), tag) {
        (3, t) if t == atoms::rows() => Query::Rows { table: table(e[1].decode()?)?, scope: e[2].decode()? },
        (4, t) if t == atoms::get() => Query::Get { table: table(e[1].decode()?)?, scope: e[2].decode()?, id: e[3].decode()? },
        (4, t) if t == atoms::page() => Query::Page { channel: e[1].decode()?, page: decode_page(e[2])?, limit: e[3].decode()? },
        (3, t) if t == atoms::reactions() => Query::Reactions { channel: e[1].decode()?, message: e[2].decode()? },
        (2, t) if t == atoms::meta() => Query::Meta { key: e[1].decode()? },
        (2, t) if t == atoms::lease() => Query::Lease { guild: e[1].decode()? },
        _ => return Err(rustler::Error::BadArg),
    })
}

fn decode_page(t: Term) -> NifResult<Page> {
    if let Ok(a) = t.decode::<Atom>() {
        return if a == atoms::latest() { Ok(Page::Latest) } else { Err(rustler::Error::BadArg) };
    }
    let (kind, id): (Atom, i64) = t.decode()?;
    match kind {
        k if k == atoms::before() => Ok(Page::Before(id)),
        k if k == atoms::after() => Ok(Page::After(id)),
        k if k == atoms::around() => Ok(Page::Around(id)),
        _ => Err(rustler::Error::BadArg),
    }
}

fn rows<'a>(env: Env<'a>, rows: &[(i64, Vec<u8>)]) -> Term<'a> {
    rows.iter().map(|(id, data)| (*id, raw::binary_copy(env, data)).encode(env)).collect::<Vec<Term>>().encode(env)
}

fn reactions<'a>(env: Env<'a>, rs: &[(i64, String, i64)]) -> Term<'a> {
    rs.iter().map(|(m, e, u)| (*m, e.as_str(), *u).encode(env)).collect::<Vec<Term>>().encode(env)
}

fn reply_term<'a>(env: Env<'a>, r: Reply) -> Term<'a> {
    match r {
        Reply::Rows(rs) => rows(env, &rs),
        Reply::Row(Some(data)) => raw::binary_copy(env, &data),
        Reply::Row(None) => atoms::nil().encode(env),
        Reply::Page { messages, reactions: rs } => (rows(env, &messages), reactions(env, &rs)).encode(env),
        Reply::Reactions(rs) => reactions(env, &rs),
        Reply::Lease(Some((owner, epoch))) => (owner.as_str(), epoch).encode(env),
        Reply::Lease(None) => atoms::nil().encode(env),
    }
}

fn error_term<'a>(env: Env<'a>, e: &Error) -> Term<'a> {
    let (kind, message) = match e {
        Error::Unavailable(m) => (atoms::unavailable(), m),
        Error::Full(m) => (atoms::full(), m),
        Error::Corrupt(m) => (atoms::corrupt(), m),
        Error::Foreign(m) => (atoms::foreign(), m),
        Error::TooNew(m) => (atoms::too_new(), m),
        Error::Fenced(m) => (atoms::fenced(), m),
        Error::Other(m) => (atoms::other(), m),
    };
    (kind, message.as_str()).encode(env)
}
