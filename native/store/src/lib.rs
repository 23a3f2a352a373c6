//! Durable guild state and message history behind one small interface, with
//! two backends: SQLite embedded in the process, and PostgreSQL shared by
//! several nodes.
//!
//! The data model is deliberately plain. Every table but `reactions` holds
//! rows `(scope, id, data)`: `data` is an opaque blob the caller encodes
//! (the BEAM writes its own terms), `scope` groups rows (a guild's channels,
//! a channel's messages) and `id` orders them within it. Snowflakes are
//! `i64`: their top bit is a timestamp bit that stays clear until 2084.
//! Reactions are rows `(channel, message, emoji, user)` so that adding one
//! is an idempotent insert, never a read-modify-write of a message.
//!
//! A [`Store`] runs the I/O on its own threads and answers through
//! callbacks, so the caller (a BEAM scheduler) never waits on disk:
//! - **writes** go to writer threads, each owning a connection. A writer
//!   takes every request already queued (up to [`Config::max_batch`] ops,
//!   lingering up to [`Config::linger`] for more) and commits them in one
//!   transaction: concurrent writers share one commit instead of paying one
//!   each (group commit). Requests are committed, and answered, in the
//!   order they were queued on their writer; a caller that sends all its
//!   writes through one writer key keeps its order.
//! - **reads** go to reader threads. Identical queries that are waiting for
//!   a reader are answered by one run (coalescing). A query joins only one
//!   that has not started, so it never gets an answer older than itself: a
//!   read that follows an acknowledged write sees that write.
//!
//! Invariants: a write callback is called exactly once, after its
//! transaction committed (`Ok`) or failed (`Err`, and nothing of it is
//! stored); a batch is all or nothing.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

mod postgres_backend;
mod sqlite_backend;

pub use postgres_backend::Postgres;
pub use sqlite_backend::{Sqlite, Synchronous, APPLICATION_ID as SQLITE_APPLICATION_ID};

/// The SQLite schema's migrations, `(version, what it does, SQL)`.
pub fn sqlite_migrations() -> &'static [(i32, &'static str, &'static str)] {
    sqlite_backend::MIGRATIONS
}

/// The tables of `(scope, id, data)` rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    /// Scope 0; id the guild's.
    Guilds,
    /// Scope the guild's id.
    Channels,
    Roles,
    Members,
    /// Scope the channel's id.
    Messages,
    /// A user's settings for a guild: scope the user's id, id the guild's.
    Settings,
}

impl Table {
    pub const ALL: [Table; 6] = [Table::Guilds, Table::Channels, Table::Roles, Table::Members, Table::Messages, Table::Settings];

    pub fn name(self) -> &'static str {
        match self {
            Table::Guilds => "guilds",
            Table::Channels => "channels",
            Table::Roles => "roles",
            Table::Members => "members",
            Table::Messages => "messages",
            Table::Settings => "settings",
        }
    }
}

/// One change. A batch of them is one transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Insert or replace a row.
    Put { table: Table, scope: i64, id: i64, data: Vec<u8> },
    /// Delete a row (absent is fine).
    Delete { table: Table, scope: i64, id: i64 },
    /// Delete every row of a scope: a deleted channel's messages and
    /// reactions, say.
    DeleteScope { table: Table, scope: i64 },
    /// Add (or remove) `user`'s reaction with `emoji` to a message.
    React { channel: i64, message: i64, emoji: String, user: i64, add: bool },
    /// Set a metadata value.
    PutMeta { key: String, value: Vec<u8> },
    /// Take guild `guild`'s lease for `owner` at `epoch`. Only if the lease
    /// is now at `epoch - 1` (a guild without a lease is at 0); otherwise
    /// the write fails with [`Error::Fenced`]. A compare-and-set: of two
    /// nodes that read the same epoch, exactly one takes the next.
    TakeLease { guild: i64, owner: String, epoch: i64 },
    /// Fails the write with [`Error::Fenced`] unless guild `guild`'s lease
    /// is at `epoch`. An owner puts it first in each of its writes, so that
    /// once another node has taken the lease, nothing the old owner sends is
    /// stored, whatever the network did.
    Fence { guild: i64, epoch: i64 },
}

/// Which messages of a channel a page holds; pages are newest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Page {
    Latest,
    /// Older than the id.
    Before(i64),
    /// Newer than the id, the nearest ones.
    After(i64),
    /// `limit / 2` older than the id; the rest the id itself and newer.
    Around(i64),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Query {
    /// Every row of a scope, in id order.
    Rows { table: Table, scope: i64 },
    /// One row.
    Get { table: Table, scope: i64, id: i64 },
    /// A page of a channel's messages, with their reactions.
    Page { channel: i64, page: Page, limit: u32 },
    /// The reactions of one message.
    Reactions { channel: i64, message: i64 },
    /// A metadata value.
    Meta { key: String },
    /// Guild `guild`'s lease: its owner and epoch.
    Lease { guild: i64 },
}

/// A reaction row: message, emoji, user.
pub type Reaction = (i64, String, i64);

#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Rows(Vec<(i64, Vec<u8>)>),
    Row(Option<Vec<u8>>),
    Page { messages: Vec<(i64, Vec<u8>)>, reactions: Vec<Reaction> },
    Reactions(Vec<Reaction>),
    Lease(Option<(String, i64)>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// The store cannot be reached (PostgreSQL down): try again later.
    Unavailable(String),
    /// No space left.
    Full(String),
    /// The file is damaged or is not a database.
    Corrupt(String),
    /// A database that belongs to something else.
    Foreign(String),
    /// A newer schema than this code knows.
    TooNew(String),
    /// A write carried a lease epoch that is no longer current (or took a
    /// lease that moved on): another node owns the guild now.
    Fenced(String),
    /// Anything else the database said.
    Other(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Unavailable(m) => write!(f, "store unavailable: {m}"),
            Error::Full(m) => write!(f, "store full: {m}"),
            Error::Corrupt(m) => write!(f, "store corrupt: {m}"),
            Error::Foreign(m) => write!(f, "not a Realtime store: {m}"),
            Error::TooNew(m) => write!(f, "store schema too new: {m}"),
            Error::Fenced(m) => write!(f, "fenced: {m}"),
            Error::Other(m) => write!(f, "store error: {m}"),
        }
    }
}

impl Error {
    /// The error for a lease check that found `have` instead of `want`.
    pub fn fenced(guild: i64, want: i64, have: Option<i64>) -> Error {
        Error::Fenced(format!("guild {guild}: lease epoch {want} expected, the store has {}", have.map_or("none".to_string(), |e| e.to_string())))
    }
}

/// A database connection the store's threads drive. One per thread.
pub trait Backend: Send + 'static {
    /// Applies `ops` in one transaction: all of them, or none.
    fn write(&mut self, ops: &[Op]) -> Result<(), Error>;
    fn read(&mut self, query: &Query) -> Result<Reply, Error>;
}

/// How the threads are laid out and how much a commit may gather.
#[derive(Clone, Debug)]
pub struct Config {
    pub writers: usize,
    pub readers: usize,
    /// Ops per transaction at most.
    pub max_batch: usize,
    /// How long a writer waits for more requests after the first, when
    /// fewer than `max_batch` ops are queued. Zero commits what is queued.
    pub linger: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config { writers: 1, readers: 2, max_batch: 2_000, linger: Duration::ZERO }
    }
}

type WriteDone = Box<dyn FnOnce(Result<(), Error>) + Send>;
type ReadDone = Box<dyn FnOnce(Result<Reply, Error>) + Send>;

struct WriteJob {
    ops: Vec<Op>,
    done: WriteDone,
}

/// Queries waiting for a reader, each with every caller asking for it.
type InFlight = Arc<Mutex<HashMap<Query, Vec<ReadDone>>>>;

/// The running store: writer and reader threads over backend connections.
/// Dropping it stops the threads once their queues are empty.
pub struct Store {
    writers: Vec<Mutex<Sender<WriteJob>>>,
    reads: Mutex<Sender<Query>>,
    in_flight: InFlight,
}

/// How many queries have been coalesced into one already running.
pub static COALESCED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Store {
    /// Starts the threads, each with a connection made by `connect`
    /// (called `writers + readers` times, here, before any thread runs).
    pub fn start<B: Backend>(config: &Config, mut connect: impl FnMut() -> Result<B, Error>) -> Result<Store, Error> {
        let mut writers = Vec::new();
        for i in 0..config.writers.max(1) {
            let backend = connect()?;
            let (tx, rx) = mpsc::channel::<WriteJob>();
            let (max_batch, linger) = (config.max_batch.max(1), config.linger);
            thread::Builder::new()
                .name(format!("store-writer-{i}"))
                .spawn(move || write_loop(backend, rx, max_batch, linger))
                .map_err(|e| Error::Other(e.to_string()))?;
            writers.push(Mutex::new(tx));
        }

        let (reads, queries) = mpsc::channel::<Query>();
        let queries = Arc::new(Mutex::new(queries));
        let in_flight: InFlight = Arc::new(Mutex::new(HashMap::new()));
        for i in 0..config.readers.max(1) {
            let backend = connect()?;
            let (queries, in_flight) = (queries.clone(), in_flight.clone());
            thread::Builder::new()
                .name(format!("store-reader-{i}"))
                .spawn(move || read_loop(backend, queries, in_flight))
                .map_err(|e| Error::Other(e.to_string()))?;
        }

        Ok(Store { writers, reads: Mutex::new(reads), in_flight })
    }

    /// Queues `ops` on the writer of `key` (all writes with one key are
    /// committed in the order queued); `done` is called once they are
    /// committed or have failed.
    pub fn write(&self, key: u64, ops: Vec<Op>, done: impl FnOnce(Result<(), Error>) + Send + 'static) {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let writer = &self.writers[(h.finish() % self.writers.len() as u64) as usize];
        let job = WriteJob { ops, done: Box::new(done) };
        // A writer thread only ends when the store is dropped, which cannot
        // happen while `self` is borrowed; if it has died, say so.
        if let Err(mpsc::SendError(job)) = lock(writer).send(job) {
            (job.done)(Err(Error::Other("writer thread is gone".into())));
        }
    }

    /// Runs `query` on a reader thread, or joins the identical one waiting
    /// for a reader; `done` is called with the answer.
    pub fn read(&self, query: Query, done: impl FnOnce(Result<Reply, Error>) + Send + 'static) {
        {
            let mut in_flight = lock(&self.in_flight);
            if let Some(waiting) = in_flight.get_mut(&query) {
                waiting.push(Box::new(done));
                COALESCED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return;
            }
            in_flight.insert(query.clone(), vec![Box::new(done)]);
        }
        if let Err(mpsc::SendError(query)) = lock(&self.reads).send(query) {
            for done in lock(&self.in_flight).remove(&query).unwrap_or_default() {
                done(Err(Error::Other("reader threads are gone".into())));
            }
        }
    }
}

/// A poisoned lock only means another thread panicked while holding it;
/// the data under these locks (queues and waiter lists) stays consistent.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn write_loop<B: Backend>(mut backend: B, rx: Receiver<WriteJob>, max_batch: usize, linger: Duration) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        let mut size = jobs[0].ops.len();
        let deadline = Instant::now() + linger;
        while size < max_batch {
            let next = match rx.try_recv() {
                Ok(job) => Some(job),
                Err(TryRecvError::Empty) if !linger.is_zero() => match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(job) => Some(job),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
                },
                Err(_) => None,
            };
            match next {
                Some(job) => {
                    size += job.ops.len();
                    jobs.push(job);
                }
                None => break,
            }
        }

        let lens: Vec<usize> = jobs.iter().map(|j| j.ops.len()).collect();
        let ops: Vec<Op> = jobs.iter_mut().flat_map(|j| std::mem::take(&mut j.ops)).collect();
        let result = backend.write(&ops);
        if matches!(result, Err(Error::Fenced(_))) && jobs.len() > 1 {
            // One stale owner must not fail the writes it shared a commit
            // with: commit each alone, so only the fenced one fails. This
            // happens only around an ownership change.
            let mut at = 0;
            for (job, len) in jobs.into_iter().zip(lens) {
                (job.done)(backend.write(&ops[at..at + len]));
                at += len;
            }
            continue;
        }
        for job in jobs {
            (job.done)(result.clone());
        }
    }
}

fn read_loop<B: Backend>(mut backend: B, queries: Arc<Mutex<Receiver<Query>>>, in_flight: InFlight) {
    loop {
        let query = match lock(&queries).recv() {
            Ok(q) => q,
            Err(_) => return,
        };
        // From here on, the same query asked again is a new run.
        let waiting = lock(&in_flight).remove(&query).unwrap_or_default();
        let result = backend.read(&query);
        for done in waiting {
            done(result.clone());
        }
    }
}
