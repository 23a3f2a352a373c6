//! The shared backend: PostgreSQL, one connection per store thread.
//!
//! A connection that fails is dropped and made again at the next request,
//! so the store recovers by itself when the server comes back; meanwhile
//! every request answers [`Error::Unavailable`]. Migrations run under an
//! advisory lock, so nodes starting together apply each one once.

use crate::{Backend, Error, Op, Page, Query, Reaction, Reply, Table};
use postgres::error::SqlState;
use postgres::{Client, NoTls, Transaction};

/// `(version, what it does, SQL)`.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "create meta, guilds, channels, roles, members, messages and reactions",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BYTEA NOT NULL);
     INSERT INTO meta (key, value) VALUES ('application', 'realtime');
     CREATE TABLE guilds (scope BIGINT NOT NULL, id BIGINT NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (scope, id));
     CREATE TABLE channels (scope BIGINT NOT NULL, id BIGINT NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (scope, id));
     CREATE TABLE roles (scope BIGINT NOT NULL, id BIGINT NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (scope, id));
     CREATE TABLE members (scope BIGINT NOT NULL, id BIGINT NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (scope, id));
     CREATE TABLE messages (scope BIGINT NOT NULL, id BIGINT NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (scope, id));
     CREATE TABLE reactions (seq BIGSERIAL PRIMARY KEY, channel BIGINT NOT NULL, message BIGINT NOT NULL,
                             emoji TEXT NOT NULL, user_id BIGINT NOT NULL);
     CREATE UNIQUE INDEX reactions_key ON reactions (channel, message, emoji, user_id);",
), (
    2,
    "create settings (users' notification settings per guild)",
    "CREATE TABLE settings (scope BIGINT NOT NULL, id BIGINT NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (scope, id));",
), (
    3,
    "create leases (which node owns each guild, with a fencing epoch)",
    "CREATE TABLE leases (guild BIGINT PRIMARY KEY, owner TEXT NOT NULL, epoch BIGINT NOT NULL);",
)];

pub struct Postgres {
    url: String,
    client: Option<Client>,
}

impl Postgres {
    /// Connects, checks that the database is ours (or empty), and applies
    /// the migrations it lacks. Returns the connection and what they did.
    pub fn open(url: &str) -> Result<(Postgres, Vec<String>), Error> {
        let mut db = Postgres::connect(url)?;
        let applied = db.migrate()?;
        Ok((db, applied))
    }

    /// Another connection to a database `open` has prepared.
    pub fn connect(url: &str) -> Result<Postgres, Error> {
        let mut db = Postgres { url: url.to_string(), client: None };
        db.client()?;
        Ok(db)
    }

    fn client(&mut self) -> Result<&mut Client, Error> {
        if self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.client = None;
        }
        if self.client.is_none() {
            let client = Client::connect(&self.url, NoTls).map_err(|e| Error::Unavailable(format!("{}: {e}", redact(&self.url))))?;
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    fn migrate(&mut self) -> Result<Vec<String>, Error> {
        let url = redact(&self.url);
        let client = self.client()?;
        let mut tx = client.transaction().map_err(error)?;
        tx.execute("SELECT pg_advisory_xact_lock(7165421)", &[]).map_err(error)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .map_err(error)?;
        let current: i32 = tx.query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[]).map_err(error)?.get(0);
        if current == 0 {
            let taken: i64 = tx
                .query_one("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ANY($1)", &[&&TABLES[..]])
                .map_err(error)?
                .get(0);
            if taken > 0 {
                return Err(Error::Foreign(format!("{url}: has tables named like ours but no Realtime schema history")));
            }
        }
        let latest = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > latest {
            return Err(Error::TooNew(format!("{url}: schema version {current}, this build knows up to {latest}")));
        }
        let mut applied = Vec::new();
        for (version, what, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            tx.batch_execute(sql).map_err(error)?;
            tx.execute("INSERT INTO schema_migrations (version, description) VALUES ($1, $2)", &[version, what]).map_err(error)?;
            applied.push(format!("{version}: {what}"));
        }
        tx.commit().map_err(error)?;
        Ok(applied)
    }

    /// Runs `f` on the connection. An error that says the connection is
    /// gone (or the server is shutting down) drops it, so that the next call
    /// makes a new one.
    fn with<T>(&mut self, f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>) -> Result<T, Error> {
        let client = self.client()?;
        f(client).map_err(|e| {
            let e = error(e);
            if matches!(e, Error::Unavailable(_)) {
                self.client = None;
            }
            e
        })
    }
}

const TABLES: [&str; 9] = ["meta", "guilds", "channels", "roles", "members", "messages", "reactions", "settings", "leases"];

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(c) => format!("{}:***{}", &url[..s + 3 + c], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

fn error(e: postgres::Error) -> Error {
    match e.code() {
        Some(c) if *c == SqlState::DISK_FULL || *c == SqlState::OUT_OF_MEMORY => Error::Full(e.to_string()),
        Some(c) if *c == SqlState::DATA_CORRUPTED || *c == SqlState::INDEX_CORRUPTED => Error::Corrupt(e.to_string()),
        Some(c) if c.code().starts_with("08") || c.code().starts_with("57") => Error::Unavailable(e.to_string()),
        Some(_) => Error::Other(e.to_string()),
        None => Error::Unavailable(e.to_string()),
    }
}

impl Backend for Postgres {
    fn write(&mut self, ops: &[Op]) -> Result<(), Error> {
        // The outer Result is the database's; the inner one a lease check
        // that failed, after which the transaction is rolled back (dropped).
        self.with(|client| -> Result<Result<(), Error>, postgres::Error> {
            let mut tx = client.transaction()?;
            let mut rest = ops;
            while let Some(first) = rest.first() {
                // A run of puts into one table is one statement: a group
                // commit of many messages is one round trip, not one each.
                let run = match first {
                    Op::Put { table, .. } => rest.iter().take_while(|op| matches!(op, Op::Put { table: t, .. } if t == table)).count(),
                    _ => 1,
                };
                if run > 1 {
                    put_many(&mut tx, &rest[..run])?;
                } else if let Err(fenced) = apply(&mut tx, first)? {
                    return Ok(Err(fenced));
                }
                rest = &rest[run..];
            }
            tx.commit().map(Ok)
        })?
    }

    fn read(&mut self, query: &Query) -> Result<Reply, Error> {
        // A read is safe to repeat: a connection found dead (the server
        // restarted since it was used) is made again and the read tried once
        // more.
        match self.read_once(query) {
            Err(Error::Unavailable(_)) => self.read_once(query),
            result => result,
        }
    }
}

impl Postgres {
    fn read_once(&mut self, query: &Query) -> Result<Reply, Error> {
        self.with(|client| match query {
            Query::Rows { table, scope } => {
                let sql = format!("SELECT id, data FROM {} WHERE scope = $1 ORDER BY id", table.name());
                Ok(Reply::Rows(client.query(&sql, &[scope])?.iter().map(|r| (r.get(0), r.get(1))).collect()))
            }
            Query::Get { table, scope, id } => {
                let sql = format!("SELECT data FROM {} WHERE scope = $1 AND id = $2", table.name());
                Ok(Reply::Row(client.query_opt(&sql, &[scope, id])?.map(|r| r.get(0))))
            }
            Query::Page { channel, page, limit } => {
                let messages = page_rows(client, *channel, *page, *limit)?;
                let reactions = match (messages.last(), messages.first()) {
                    (Some((oldest, _)), Some((newest, _))) => reactions(
                        client.query(
                            "SELECT message, emoji, user_id FROM reactions WHERE channel = $1 AND message BETWEEN $2 AND $3 ORDER BY seq",
                            &[channel, oldest, newest],
                        )?,
                    ),
                    _ => Vec::new(),
                };
                Ok(Reply::Page { messages, reactions })
            }
            Query::Reactions { channel, message } => Ok(Reply::Reactions(reactions(client.query(
                "SELECT message, emoji, user_id FROM reactions WHERE channel = $1 AND message = $2 ORDER BY seq",
                &[channel, message],
            )?))),
            Query::Meta { key } => Ok(Reply::Row(client.query_opt("SELECT value FROM meta WHERE key = $1", &[key])?.map(|r| r.get(0)))),
            Query::Lease { guild } => {
                Ok(Reply::Lease(client.query_opt("SELECT owner, epoch FROM leases WHERE guild = $1", &[guild])?.map(|r| (r.get(0), r.get(1)))))
            }
        })
    }
}

/// Applies one op; the inner `Err` is a lease check that failed.
fn apply(tx: &mut Transaction<'_>, op: &Op) -> Result<Result<(), Error>, postgres::Error> {
    match op {
        Op::Put { table, scope, id, data } => {
            let sql = format!(
                "INSERT INTO {} (scope, id, data) VALUES ($1, $2, $3) ON CONFLICT (scope, id) DO UPDATE SET data = excluded.data",
                table.name()
            );
            tx.execute(&sql, &[scope, id, data])?;
        }
        Op::Delete { table, scope, id } => {
            tx.execute(&format!("DELETE FROM {} WHERE scope = $1 AND id = $2", table.name()), &[scope, id])?;
            if *table == Table::Messages {
                tx.execute("DELETE FROM reactions WHERE channel = $1 AND message = $2", &[scope, id])?;
            }
        }
        Op::DeleteScope { table, scope } => {
            tx.execute(&format!("DELETE FROM {} WHERE scope = $1", table.name()), &[scope])?;
            if *table == Table::Messages {
                tx.execute("DELETE FROM reactions WHERE channel = $1", &[scope])?;
            }
        }
        Op::React { channel, message, emoji, user, add: true } => {
            tx.execute(
                "INSERT INTO reactions (channel, message, emoji, user_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[channel, message, emoji, user],
            )?;
        }
        Op::React { channel, message, emoji, user, add: false } => {
            tx.execute("DELETE FROM reactions WHERE channel = $1 AND message = $2 AND emoji = $3 AND user_id = $4", &[channel, message, emoji, user])?;
        }
        Op::PutMeta { key, value } => {
            tx.execute("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", &[key, value])?;
        }
        // FOR UPDATE makes a second taker wait for the first to commit, and
        // then read the epoch it wrote (READ COMMITTED re-reads a locked row).
        Op::TakeLease { guild, owner, epoch } => {
            let have: Option<i64> = tx.query_opt("SELECT epoch FROM leases WHERE guild = $1 FOR UPDATE", &[guild])?.map(|r| r.get(0));
            if have.unwrap_or(0) != epoch - 1 {
                return Ok(Err(Error::fenced(*guild, epoch - 1, have)));
            }
            let changed = match have {
                Some(_) => tx.execute("UPDATE leases SET owner = $2, epoch = $3 WHERE guild = $1", &[guild, owner, epoch])?,
                // Two first takers: the insert that loses the race changes nothing.
                None => tx.execute("INSERT INTO leases (guild, owner, epoch) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", &[guild, owner, epoch])?,
            };
            if changed != 1 {
                return Ok(Err(Error::fenced(*guild, epoch - 1, Some(*epoch))));
            }
        }
        // FOR SHARE: a taker's FOR UPDATE waits until this write commits,
        // and this check waits for a taker that has not committed yet.
        Op::Fence { guild, epoch } => {
            let have: Option<i64> = tx.query_opt("SELECT epoch FROM leases WHERE guild = $1 FOR SHARE", &[guild])?.map(|r| r.get(0));
            if have != Some(*epoch) {
                return Ok(Err(Error::fenced(*guild, *epoch, have)));
            }
        }
    }
    Ok(Ok(()))
}

/// Upserts a run of puts into one table with one statement. A key that
/// appears twice keeps its last value, as the puts one by one would.
fn put_many(tx: &mut Transaction<'_>, puts: &[Op]) -> Result<(), postgres::Error> {
    let mut last: std::collections::HashMap<(i64, i64), &[u8]> = std::collections::HashMap::with_capacity(puts.len());
    let mut order = Vec::with_capacity(puts.len());
    let mut table = Table::Guilds;
    for op in puts {
        if let Op::Put { table: t, scope, id, data } = op {
            table = *t;
            if last.insert((*scope, *id), data.as_slice()).is_none() {
                order.push((*scope, *id));
            }
        }
    }
    let scopes: Vec<i64> = order.iter().map(|k| k.0).collect();
    let ids: Vec<i64> = order.iter().map(|k| k.1).collect();
    let data: Vec<&[u8]> = order.iter().map(|k| last[k]).collect();
    let sql = format!(
        "INSERT INTO {} (scope, id, data) SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BYTEA[])
         ON CONFLICT (scope, id) DO UPDATE SET data = excluded.data",
        table.name()
    );
    tx.execute(&sql, &[&scopes, &ids, &data])?;
    Ok(())
}

fn reactions(rows: Vec<postgres::Row>) -> Vec<Reaction> {
    rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()
}

fn page_rows(client: &mut Client, channel: i64, page: Page, limit: u32) -> Result<Vec<(i64, Vec<u8>)>, postgres::Error> {
    const OLDER: &str = "SELECT id, data FROM messages WHERE scope = $1 AND id < $2 ORDER BY id DESC LIMIT $3";
    const NEWER: &str = "SELECT id, data FROM messages WHERE scope = $1 AND id > $2 ORDER BY id ASC LIMIT $3";
    let mut run = |sql: &str, from: i64, n: u32| -> Result<Vec<(i64, Vec<u8>)>, postgres::Error> {
        Ok(client.query(sql, &[&channel, &from, &(n as i64)])?.iter().map(|r| (r.get(0), r.get(1))).collect())
    };
    match page {
        Page::Latest => run(OLDER, i64::MAX, limit),
        Page::Before(id) => run(OLDER, id, limit),
        Page::After(id) => Ok(run(NEWER, id, limit)?.into_iter().rev().collect()),
        Page::Around(id) => {
            let older = limit / 2;
            let mut page: Vec<_> = run(NEWER, id.saturating_sub(1), limit - older)?.into_iter().rev().collect();
            page.extend(run(OLDER, id, older)?);
            Ok(page)
        }
    }
}
