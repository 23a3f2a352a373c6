//! The embedded backend: one SQLite file in WAL mode.
//!
//! A file is ours when its `application_id` is [`APPLICATION_ID`]. A file
//! that is not a database, or a database with tables of something else, is
//! refused with an error naming the file: never re-initialised over user
//! data. The schema version is `user_version`, and [`MIGRATIONS`] are
//! applied in order, each in its own transaction.

use crate::{Backend, Error, Op, Page, Query, Reaction, Reply, Table};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};

/// "RTim" in ASCII, stored in the file header.
pub const APPLICATION_ID: i32 = 0x5254_696D;

/// `(version, what it does, SQL)`.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "create meta, guilds, channels, roles, members, messages and reactions",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
     CREATE TABLE guilds (scope INTEGER NOT NULL, id INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (scope, id)) WITHOUT ROWID;
     CREATE TABLE channels (scope INTEGER NOT NULL, id INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (scope, id)) WITHOUT ROWID;
     CREATE TABLE roles (scope INTEGER NOT NULL, id INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (scope, id)) WITHOUT ROWID;
     CREATE TABLE members (scope INTEGER NOT NULL, id INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (scope, id)) WITHOUT ROWID;
     CREATE TABLE messages (scope INTEGER NOT NULL, id INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (scope, id)) WITHOUT ROWID;
     CREATE TABLE reactions (seq INTEGER PRIMARY KEY, channel INTEGER NOT NULL, message INTEGER NOT NULL,
                             emoji TEXT NOT NULL, user INTEGER NOT NULL);
     CREATE UNIQUE INDEX reactions_key ON reactions (channel, message, emoji, user);",
), (
    2,
    "create settings (users' notification settings per guild)",
    "CREATE TABLE settings (scope INTEGER NOT NULL, id INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (scope, id)) WITHOUT ROWID;",
), (
    3,
    "create leases (which node owns each guild, with a fencing epoch)",
    "CREATE TABLE leases (guild INTEGER PRIMARY KEY, owner TEXT NOT NULL, epoch INTEGER NOT NULL);",
)];

/// SQLite's `synchronous` setting in WAL mode: with `Normal` a commit is
/// durable once the WAL is synced at the next checkpoint, so a power loss
/// (not a crash of the process) can take the last commits; with `Full`
/// every commit is synced before it is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synchronous {
    Normal,
    Full,
}

pub struct Sqlite {
    conn: Connection,
    path: PathBuf,
}

impl Sqlite {
    /// Opens or creates the database at `path`, checks that it is ours, and
    /// applies the migrations it lacks. Returns the connection and what the
    /// migrations did.
    pub fn open(path: &Path, sync: Synchronous) -> Result<(Sqlite, Vec<String>), Error> {
        let mut db = Sqlite::connect(path, sync)?;
        db.claim()?;
        let applied = db.migrate()?;
        Ok((db, applied))
    }

    /// Another connection to a database `open` has prepared.
    pub fn connect(path: &Path, sync: Synchronous) -> Result<Sqlite, Error> {
        let conn = Connection::open(path).map_err(|e| error(path, e))?;
        let db = Sqlite { conn, path: path.to_path_buf() };
        let sync = match sync {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        };
        // The first statement reads the header: a file that is not a
        // database fails here.
        db.conn
            .execute_batch(&format!("PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA busy_timeout = 5000;"))
            .map_err(|e| db.error(e))?;
        Ok(db)
    }

    /// Caps the database at `pages` pages on this connection: writes past
    /// it fail with [`Error::Full`], as on a full disk.
    pub fn set_max_pages(&mut self, pages: u32) {
        // The pragma answers with the new limit; there is nothing to check.
        let _ = self.conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| r.get::<_, i64>(0));
    }

    fn claim(&mut self) -> Result<(), Error> {
        let id: i32 = self.conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(|e| self.error(e))?;
        if id == APPLICATION_ID {
            return Ok(());
        }
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| self.error(e))?;
        if tables > 0 {
            return Err(Error::Foreign(format!("{}: a SQLite database of another application (application_id {id:#x})", self.path.display())));
        }
        self.conn.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}")).map_err(|e| self.error(e))
    }

    fn migrate(&mut self) -> Result<Vec<String>, Error> {
        let current: i32 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| self.error(e))?;
        let latest = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > latest {
            return Err(Error::TooNew(format!("{}: schema version {current}, this build knows up to {latest}", self.path.display())));
        }
        let mut applied = Vec::new();
        for (version, what, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| error(&self.path, e))?;
            tx.execute_batch(sql).map_err(|e| error(&self.path, e))?;
            tx.execute_batch(&format!("PRAGMA user_version = {version}")).map_err(|e| error(&self.path, e))?;
            tx.commit().map_err(|e| error(&self.path, e))?;
            applied.push(format!("{version}: {what}"));
        }
        Ok(applied)
    }

    fn error(&self, e: rusqlite::Error) -> Error {
        error(&self.path, e)
    }
}

fn error(path: &Path, e: rusqlite::Error) -> Error {
    let at = path.display();
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => Error::Full(format!("{at}: {e}")),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => Error::Corrupt(format!("{at}: {e}")),
        Some(ErrorCode::CannotOpen | ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Unavailable(format!("{at}: {e}")),
        _ => Error::Other(format!("{at}: {e}")),
    }
}

impl Backend for Sqlite {
    fn write(&mut self, ops: &[Op]) -> Result<(), Error> {
        let path = self.path.clone();
        let err = |e| error(&path, e);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        for op in ops {
            match op {
                Op::Put { table, scope, id, data } => {
                    let sql = format!(
                        "INSERT INTO {} (scope, id, data) VALUES (?1, ?2, ?3) ON CONFLICT (scope, id) DO UPDATE SET data = excluded.data",
                        table.name()
                    );
                    tx.prepare_cached(&sql).and_then(|mut s| s.execute(params![scope, id, data])).map_err(err)?;
                }
                Op::Delete { table, scope, id } => {
                    let sql = format!("DELETE FROM {} WHERE scope = ?1 AND id = ?2", table.name());
                    tx.prepare_cached(&sql).and_then(|mut s| s.execute(params![scope, id])).map_err(err)?;
                    if *table == Table::Messages {
                        tx.prepare_cached("DELETE FROM reactions WHERE channel = ?1 AND message = ?2")
                            .and_then(|mut s| s.execute(params![scope, id]))
                            .map_err(err)?;
                    }
                }
                Op::DeleteScope { table, scope } => {
                    let sql = format!("DELETE FROM {} WHERE scope = ?1", table.name());
                    tx.prepare_cached(&sql).and_then(|mut s| s.execute(params![scope])).map_err(err)?;
                    if *table == Table::Messages {
                        tx.prepare_cached("DELETE FROM reactions WHERE channel = ?1").and_then(|mut s| s.execute(params![scope])).map_err(err)?;
                    }
                }
                Op::React { channel, message, emoji, user, add: true } => {
                    tx.prepare_cached("INSERT OR IGNORE INTO reactions (channel, message, emoji, user) VALUES (?1, ?2, ?3, ?4)")
                        .and_then(|mut s| s.execute(params![channel, message, emoji, user]))
                        .map_err(err)?;
                }
                Op::React { channel, message, emoji, user, add: false } => {
                    tx.prepare_cached("DELETE FROM reactions WHERE channel = ?1 AND message = ?2 AND emoji = ?3 AND user = ?4")
                        .and_then(|mut s| s.execute(params![channel, message, emoji, user]))
                        .map_err(err)?;
                }
                Op::PutMeta { key, value } => {
                    tx.prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                        .and_then(|mut s| s.execute(params![key, value]))
                        .map_err(err)?;
                }
                // The transaction is IMMEDIATE: it holds the database's one
                // write lock, so the check and the change cannot interleave
                // with another writer's.
                Op::TakeLease { guild, owner, epoch } => {
                    let have = lease_epoch(&tx, *guild).map_err(err)?;
                    if have.unwrap_or(0) != epoch - 1 {
                        return Err(Error::fenced(*guild, epoch - 1, have));
                    }
                    tx.prepare_cached("INSERT INTO leases (guild, owner, epoch) VALUES (?1, ?2, ?3) ON CONFLICT (guild) DO UPDATE SET owner = excluded.owner, epoch = excluded.epoch")
                        .and_then(|mut s| s.execute(params![guild, owner, epoch]))
                        .map_err(err)?;
                }
                Op::Fence { guild, epoch } => {
                    let have = lease_epoch(&tx, *guild).map_err(err)?;
                    if have != Some(*epoch) {
                        return Err(Error::fenced(*guild, *epoch, have));
                    }
                }
            }
        }
        tx.commit().map_err(err)
    }

    fn read(&mut self, query: &Query) -> Result<Reply, Error> {
        let path = self.path.clone();
        let err = |e| error(&path, e);
        let conn = &self.conn;
        match query {
            Query::Rows { table, scope } => {
                let sql = format!("SELECT id, data FROM {} WHERE scope = ?1 ORDER BY id", table.name());
                Ok(Reply::Rows(rows(conn, &sql, params![scope]).map_err(err)?))
            }
            Query::Get { table, scope, id } => {
                let sql = format!("SELECT data FROM {} WHERE scope = ?1 AND id = ?2", table.name());
                let row = conn.prepare_cached(&sql).and_then(|mut s| s.query_row(params![scope, id], |r| r.get(0)).optional());
                Ok(Reply::Row(row.map_err(err)?))
            }
            Query::Page { channel, page, limit } => {
                let messages = page_rows(conn, *channel, *page, *limit).map_err(err)?;
                let reactions = match (messages.last(), messages.first()) {
                    (Some((oldest, _)), Some((newest, _))) => reactions(
                        conn,
                        "SELECT message, emoji, user FROM reactions WHERE channel = ?1 AND message BETWEEN ?2 AND ?3 ORDER BY seq",
                        params![channel, oldest, newest],
                    )
                    .map_err(err)?,
                    _ => Vec::new(),
                };
                Ok(Reply::Page { messages, reactions })
            }
            Query::Reactions { channel, message } => Ok(Reply::Reactions(
                reactions(conn, "SELECT message, emoji, user FROM reactions WHERE channel = ?1 AND message = ?2 ORDER BY seq", params![channel, message])
                    .map_err(err)?,
            )),
            Query::Meta { key } => {
                let row = conn.prepare_cached("SELECT value FROM meta WHERE key = ?1").and_then(|mut s| s.query_row(params![key], |r| r.get(0)).optional());
                Ok(Reply::Row(row.map_err(err)?))
            }
            Query::Lease { guild } => {
                let row = conn
                    .prepare_cached("SELECT owner, epoch FROM leases WHERE guild = ?1")
                    .and_then(|mut s| s.query_row(params![guild], |r| Ok((r.get(0)?, r.get(1)?))).optional());
                Ok(Reply::Lease(row.map_err(err)?))
            }
        }
    }
}

fn lease_epoch(conn: &Connection, guild: i64) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT epoch FROM leases WHERE guild = ?1").and_then(|mut s| s.query_row(params![guild], |r| r.get(0)).optional())
}

fn rows(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<Vec<(i64, Vec<u8>)>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

fn reactions(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<Vec<Reaction>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// A page newest first.
fn page_rows(conn: &Connection, channel: i64, page: Page, limit: u32) -> rusqlite::Result<Vec<(i64, Vec<u8>)>> {
    const OLDER: &str = "SELECT id, data FROM messages WHERE scope = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";
    const NEWER: &str = "SELECT id, data FROM messages WHERE scope = ?1 AND id > ?2 ORDER BY id ASC LIMIT ?3";
    let newer = |after: i64, n: u32| -> rusqlite::Result<Vec<(i64, Vec<u8>)>> {
        let mut v = rows(conn, NEWER, params![channel, after, n])?;
        v.reverse();
        Ok(v)
    };
    match page {
        Page::Latest => rows(conn, OLDER, params![channel, i64::MAX, limit]),
        Page::Before(id) => rows(conn, OLDER, params![channel, id, limit]),
        Page::After(id) => newer(id, limit),
        Page::Around(id) => {
            let older = limit / 2;
            let mut page = newer(id.saturating_sub(1), limit - older)?;
            page.extend(rows(conn, OLDER, params![channel, id, older])?);
            Ok(page)
        }
    }
}
