//! The SQLite backend on real files: claiming and migrating a file,
//! refusing foreign and corrupt ones, and every op and query against a
//! model.

use store::{Backend, Error, Op, Page, Query, Reply, Sqlite, Synchronous, Table};
use std::path::PathBuf;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("store-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("realtime.db")
}

fn put(table: Table, scope: i64, id: i64, data: &[u8]) -> Op {
    Op::Put { table, scope, id, data: data.to_vec() }
}

#[test]
fn a_new_file_is_claimed_and_migrated_once() {
    let path = temp("new");
    let (_db, applied) = Sqlite::open(&path, Synchronous::Normal).unwrap();
    assert_eq!(applied.len(), store::sqlite_migrations().len());
    assert!(applied[0].starts_with("1: create"));
    assert!(applied[1].starts_with("2: create settings"));
    let (_db, applied) = Sqlite::open(&path, Synchronous::Full).unwrap();
    assert!(applied.is_empty());
}

#[test]
fn a_file_of_an_older_schema_gets_only_the_migrations_it_lacks() {
    let path = temp("older");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (version, _, sql) = store::sqlite_migrations()[0];
    conn.execute_batch(&format!("PRAGMA application_id = {}; {sql}; PRAGMA user_version = {version};", store::SQLITE_APPLICATION_ID)).unwrap();
    conn.execute_batch("INSERT INTO guilds (scope, id, data) VALUES (0, 1, x'01')").unwrap();
    drop(conn);
    let (mut db, applied) = Sqlite::open(&path, Synchronous::Normal).unwrap();
    let lacking: Vec<String> = store::sqlite_migrations()[1..].iter().map(|(v, what, _)| format!("{v}: {what}")).collect();
    assert_eq!(applied, lacking);
    assert_eq!(db.read(&Query::Get { table: Table::Guilds, scope: 0, id: 1 }).unwrap(), Reply::Row(Some(vec![1])));
    db.write(&[put(Table::Settings, 7, 1, b"muted")]).unwrap();
}

#[test]
fn leases_are_compare_and_set_and_a_stale_fence_rolls_the_whole_write_back() {
    let (mut db, _) = Sqlite::open(&temp("lease"), Synchronous::Normal).unwrap();
    let take = |owner: &str, epoch| Op::TakeLease { guild: 9, owner: owner.into(), epoch };
    assert!(matches!(db.write(&[take("b", 2)]), Err(Error::Fenced(_))));
    db.write(&[take("a", 1)]).unwrap();
    db.write(&[Op::Fence { guild: 9, epoch: 1 }, put(Table::Messages, 9, 1, b"a")]).unwrap();
    db.write(&[take("b", 2)]).unwrap();
    assert!(matches!(db.write(&[take("a", 2)]), Err(Error::Fenced(_))));
    assert_eq!(db.read(&Query::Lease { guild: 9 }).unwrap(), Reply::Lease(Some(("b".into(), 2))));
    // The put before the stale fence is rolled back with it.
    let stale = db.write(&[put(Table::Messages, 9, 2, b"late"), Op::Fence { guild: 9, epoch: 1 }]);
    assert_eq!(stale, Err(Error::fenced(9, 1, Some(2))));
    assert_eq!(db.read(&Query::Get { table: Table::Messages, scope: 9, id: 2 }).unwrap(), Reply::Row(None));
    assert_eq!(db.read(&Query::Lease { guild: 10 }).unwrap(), Reply::Lease(None));
}

#[test]
fn foreign_and_corrupt_files_are_refused_naming_the_file() {
    let foreign = temp("foreign");
    let conn = rusqlite::Connection::open(&foreign).unwrap();
    conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')").unwrap();
    drop(conn);
    match Sqlite::open(&foreign, Synchronous::Normal) {
        Err(Error::Foreign(m)) => assert!(m.contains(&foreign.display().to_string()), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    // Untouched.
    let conn = rusqlite::Connection::open(&foreign).unwrap();
    let body: String = conn.query_row("SELECT body FROM notes", [], |r| r.get(0)).unwrap();
    assert_eq!(body, "keep me");

    let garbage = temp("garbage");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    match Sqlite::open(&garbage, Synchronous::Normal) {
        Err(Error::Corrupt(m)) => assert!(m.contains(&garbage.display().to_string()), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert_eq!(std::fs::read(&garbage).unwrap(), vec![0x5a; 8192]);
}

#[test]
fn a_newer_schema_is_refused() {
    let path = temp("newer");
    drop(Sqlite::open(&path, Synchronous::Normal).unwrap());
    rusqlite::Connection::open(&path).unwrap().execute_batch("PRAGMA user_version = 99").unwrap();
    assert!(matches!(Sqlite::open(&path, Synchronous::Normal), Err(Error::TooNew(_))));
}

#[test]
fn rows_are_put_replaced_deleted_and_listed_by_scope() {
    let (mut db, _) = Sqlite::open(&temp("rows"), Synchronous::Normal).unwrap();
    db.write(&[put(Table::Roles, 1, 20, b"b"), put(Table::Roles, 1, 10, b"a"), put(Table::Roles, 2, 5, b"other guild")]).unwrap();
    db.write(&[put(Table::Roles, 1, 20, b"b2"), Op::PutMeta { key: "seeded".into(), value: b"1".to_vec() }]).unwrap();
    assert_eq!(db.read(&Query::Rows { table: Table::Roles, scope: 1 }).unwrap(), Reply::Rows(vec![(10, b"a".to_vec()), (20, b"b2".to_vec())]));
    assert_eq!(db.read(&Query::Get { table: Table::Roles, scope: 1, id: 20 }).unwrap(), Reply::Row(Some(b"b2".to_vec())));
    db.write(&[Op::Delete { table: Table::Roles, scope: 1, id: 20 }, Op::Delete { table: Table::Roles, scope: 1, id: 99 }]).unwrap();
    assert_eq!(db.read(&Query::Get { table: Table::Roles, scope: 1, id: 20 }).unwrap(), Reply::Row(None));
    assert_eq!(db.read(&Query::Meta { key: "seeded".into() }).unwrap(), Reply::Row(Some(b"1".to_vec())));
    assert_eq!(db.read(&Query::Meta { key: "absent".into() }).unwrap(), Reply::Row(None));
}

/// A seeded xorshift, printed on failure.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn seed() -> u64 {
    std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    })
}

#[test]
fn pages_and_reactions_agree_with_a_model() {
    let seed = seed();
    let mut rng = Rng(seed);
    let (mut db, _) = Sqlite::open(&temp("pages"), Synchronous::Normal).unwrap();
    let mut ids: Vec<i64> = Vec::new();
    let mut next = 100;
    for step in 0..400 {
        match rng.below(5) {
            0..=2 => {
                next += 1 + rng.below(3) as i64;
                db.write(&[put(Table::Messages, 7, next, next.to_string().as_bytes())]).unwrap();
                ids.push(next);
            }
            3 if !ids.is_empty() => {
                let gone = ids.remove(rng.below(ids.len() as u64) as usize);
                db.write(&[Op::Delete { table: Table::Messages, scope: 7, id: gone }]).unwrap();
            }
            _ => {}
        }
        let x = 100 + rng.below((next - 98) as u64) as i64;
        let limit = 1 + rng.below(12) as u32;
        let newest_first: Vec<i64> = ids.iter().rev().copied().collect();
        let model = |page: Page| -> Vec<i64> {
            let l = limit as usize;
            match page {
                Page::Latest => newest_first.iter().take(l).copied().collect(),
                Page::Before(x) => newest_first.iter().filter(|&&i| i < x).take(l).copied().collect(),
                Page::After(x) => {
                    let after: Vec<i64> = newest_first.iter().filter(|&&i| i > x).copied().collect();
                    after[after.len().saturating_sub(l)..].to_vec()
                }
                Page::Around(x) => {
                    let older = l / 2;
                    let newer: Vec<i64> = newest_first.iter().filter(|&&i| i >= x).copied().collect();
                    let mut v = newer[newer.len().saturating_sub(l - older)..].to_vec();
                    v.extend(newest_first.iter().filter(|&&i| i < x).take(older));
                    v
                }
            }
        };
        for page in [Page::Latest, Page::Before(x), Page::After(x), Page::Around(x)] {
            let Reply::Page { messages, .. } = db.read(&Query::Page { channel: 7, page, limit }).unwrap() else { panic!() };
            let got: Vec<i64> = messages.iter().map(|m| m.0).collect();
            assert_eq!(got, model(page), "seed {seed}, step {step}, {page:?} limit {limit}");
            assert!(messages.iter().all(|(id, data)| data == id.to_string().as_bytes()), "seed {seed}");
        }
    }
}

#[test]
fn reactions_keep_first_reaction_order_and_go_with_their_message() {
    let (mut db, _) = Sqlite::open(&temp("reactions"), Synchronous::Normal).unwrap();
    let react = |message, emoji: &str, user, add| Op::React { channel: 1, message, emoji: emoji.into(), user, add };
    db.write(&[put(Table::Messages, 1, 10, b"m10"), put(Table::Messages, 1, 11, b"m11")]).unwrap();
    db.write(&[react(10, "🎉", 1, true), react(10, "👍", 2, true), react(10, "🎉", 3, true), react(10, "🎉", 3, true), react(11, "✅", 1, true)]).unwrap();
    assert_eq!(
        db.read(&Query::Reactions { channel: 1, message: 10 }).unwrap(),
        Reply::Reactions(vec![(10, "🎉".into(), 1), (10, "👍".into(), 2), (10, "🎉".into(), 3)])
    );
    let Reply::Page { reactions, .. } = db.read(&Query::Page { channel: 1, page: Page::Latest, limit: 10 }).unwrap() else { panic!() };
    assert_eq!(reactions.len(), 4);
    db.write(&[react(10, "🎉", 1, false), Op::Delete { table: Table::Messages, scope: 1, id: 11 }]).unwrap();
    assert_eq!(db.read(&Query::Reactions { channel: 1, message: 11 }).unwrap(), Reply::Reactions(vec![]));
    assert_eq!(db.read(&Query::Reactions { channel: 1, message: 10 }).unwrap().clone(), Reply::Reactions(vec![(10, "👍".into(), 2), (10, "🎉".into(), 3)]));
    db.write(&[Op::DeleteScope { table: Table::Messages, scope: 1 }]).unwrap();
    assert_eq!(db.read(&Query::Reactions { channel: 1, message: 10 }).unwrap(), Reply::Reactions(vec![]));
    assert_eq!(db.read(&Query::Rows { table: Table::Messages, scope: 1 }).unwrap(), Reply::Rows(vec![]));
}

#[test]
fn a_batch_that_fills_the_disk_fails_whole_and_leaves_what_was_stored() {
    let (mut db, _) = Sqlite::open(&temp("full"), Synchronous::Normal).unwrap();
    db.write(&[put(Table::Messages, 1, 1, b"kept")]).unwrap();
    db.set_max_pages(40);
    let big: Vec<Op> = (2..400).map(|i| put(Table::Messages, 1, i, &[7u8; 4000])).collect();
    match db.write(&big) {
        Err(Error::Full(m)) => assert!(m.contains("full"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(db.read(&Query::Rows { table: Table::Messages, scope: 1 }).unwrap(), Reply::Rows(vec![(1, b"kept".to_vec())]));
    // Small writes still fit.
    db.write(&[put(Table::Messages, 1, 2, b"small")]).unwrap();
}
