//! The store's threads over a scripted backend: group commit, order per
//! writer key, all-or-nothing answers, and read coalescing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{Backend, Config, Error, Op, Query, Reply, Store, Table};

#[derive(Clone, Default)]
struct Script {
    /// Every batch written, in commit order.
    batches: Arc<Mutex<Vec<Vec<Op>>>>,
    /// The number of ops of every write tried, committed or not.
    tried: Arc<Mutex<Vec<usize>>>,
    reads: Arc<AtomicUsize>,
    /// Fail batches that contain this id.
    poison: Option<i64>,
    /// Held by the test to keep readers busy.
    gate: Arc<Mutex<()>>,
    write_delay: Duration,
}

impl Backend for Script {
    fn write(&mut self, ops: &[Op]) -> Result<(), Error> {
        std::thread::sleep(self.write_delay);
        self.tried.lock().unwrap().push(ops.len());
        if ops.iter().any(|op| matches!(op, Op::Put { id, .. } if Some(*id) == self.poison)) {
            return Err(Error::Other("poisoned".into()));
        }
        // Epoch 0 stands for a lease that has moved on.
        if let Some(Op::Fence { guild, .. }) = ops.iter().find(|op| matches!(op, Op::Fence { epoch: 0, .. })) {
            return Err(Error::fenced(*guild, 0, Some(1)));
        }
        self.batches.lock().unwrap().push(ops.to_vec());
        Ok(())
    }

    fn read(&mut self, query: &Query) -> Result<Reply, Error> {
        let _held = self.gate.lock().unwrap();
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(Reply::Row(Some(format!("{query:?}").into_bytes())))
    }
}

fn msg(scope: i64, id: i64) -> Op {
    Op::Put { table: Table::Messages, scope, id, data: vec![] }
}

#[test]
fn concurrent_writes_share_commits_keep_order_per_key_and_are_all_answered_once() {
    let script = Script { write_delay: Duration::from_millis(2), ..Default::default() };
    let s = script.clone();
    let store = Arc::new(Store::start(&Config { writers: 2, readers: 1, ..Config::default() }, move || Ok(s.clone())).unwrap());
    let (tx, rx) = mpsc::channel();

    let threads: Vec<_> = (0..8)
        .map(|key| {
            let (store, tx) = (store.clone(), tx.clone());
            std::thread::spawn(move || {
                for i in 0..250 {
                    let tx = tx.clone();
                    store.write(key, vec![msg(key as i64, i)], move |r| tx.send((key, i, r)).unwrap());
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    drop(tx);

    let answers: Vec<_> = rx.iter().collect();
    assert_eq!(answers.len(), 2_000);
    assert!(answers.iter().all(|(_, _, r)| r.is_ok()));
    let batches = script.batches.lock().unwrap();
    assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 2_000);
    // 2,000 writes queued faster than 2 ms commits: they were grouped.
    assert!(batches.len() < 500, "{} commits", batches.len());
    for key in 0..8i64 {
        let committed: Vec<i64> = batches.iter().flatten().filter_map(|op| match op {
            Op::Put { scope, id, .. } if *scope == key => Some(*id),
            _ => None,
        }).collect();
        assert_eq!(committed, (0..250).collect::<Vec<_>>(), "key {key}");
    }
}

#[test]
fn a_failed_commit_fails_every_write_in_it_and_only_those() {
    let script = Script { poison: Some(13), write_delay: Duration::from_millis(5), ..Default::default() };
    let s = script.clone();
    let store = Store::start(&Config { writers: 1, readers: 1, max_batch: 4, linger: Duration::ZERO }, move || Ok(s.clone())).unwrap();
    let (tx, rx) = mpsc::channel();
    for i in 0..40 {
        let tx = tx.clone();
        store.write(0, vec![msg(0, i)], move |r| tx.send((i, r.is_ok())).unwrap());
    }
    drop(tx);
    let answers: Vec<(i64, bool)> = rx.iter().collect();
    assert_eq!(answers.len(), 40);
    let committed: Vec<i64> = script.batches.lock().unwrap().iter().flatten().filter_map(|op| match op {
        Op::Put { id, .. } => Some(*id),
        _ => None,
    }).collect();
    for (i, ok) in answers {
        assert_eq!(ok, committed.contains(&i), "write {i}");
    }
    assert!(!committed.contains(&13));
}

#[test]
fn a_fenced_write_fails_alone_though_it_shared_a_commit() {
    let script = Script { write_delay: Duration::from_millis(3), ..Default::default() };
    let s = script.clone();
    let store = Store::start(&Config { writers: 1, readers: 1, max_batch: 64, linger: Duration::ZERO }, move || Ok(s.clone())).unwrap();
    let (tx, rx) = mpsc::channel();
    for i in 0..60 {
        let tx = tx.clone();
        let epoch = if i % 7 == 3 { 0 } else { 1 };
        store.write(i as u64, vec![Op::Fence { guild: i, epoch }, msg(i, i)], move |r| tx.send((i, r)).unwrap());
    }
    drop(tx);
    let answers: Vec<(i64, Result<(), Error>)> = rx.iter().collect();
    assert_eq!(answers.len(), 60);
    for (i, r) in &answers {
        assert_eq!(r.is_err(), i % 7 == 3, "write {i}: {r:?}");
        if let Err(e) = r {
            assert!(matches!(e, Error::Fenced(_)), "{e:?}");
        }
    }
    // Writes did share commits (or this test would prove nothing), and every
    // write but the fenced ones was committed exactly once.
    assert!(script.tried.lock().unwrap().iter().any(|&n| n > 2), "no commit was shared");
    let batches = script.batches.lock().unwrap();
    let mut committed: Vec<i64> = batches.iter().flatten().filter_map(|op| match op {
        Op::Put { id, .. } => Some(*id),
        _ => None,
    }).collect();
    committed.sort();
    assert_eq!(committed, (0..60).filter(|i| i % 7 != 3).collect::<Vec<_>>());
}

#[test]
fn identical_waiting_reads_are_coalesced_but_never_joined_once_running() {
    let script = Script::default();
    let s = script.clone();
    let store = Store::start(&Config { writers: 1, readers: 1, ..Config::default() }, move || Ok(s.clone())).unwrap();
    let (tx, rx) = mpsc::channel();
    let q = Query::Meta { key: "page".into() };

    // The one reader is busy (its read waits on the gate): the next ten
    // identical queries wait together and are answered by one run.
    let gate = script.gate.lock().unwrap();
    let t = tx.clone();
    store.read(Query::Meta { key: "busy".into() }, move |r| t.send(r).unwrap());
    std::thread::sleep(Duration::from_millis(50));
    for _ in 0..10 {
        let t = tx.clone();
        store.read(q.clone(), move |r| t.send(r).unwrap());
    }
    drop(gate);
    let answers: Vec<_> = (0..11).map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap()).collect();
    assert!(answers.iter().all(|r| r.is_ok()));
    assert_eq!(script.reads.load(Ordering::SeqCst), 2);

    // A query asked while an identical one runs gets its own run.
    let gate = script.gate.lock().unwrap();
    let t = tx.clone();
    store.read(q.clone(), move |r| t.send(r).unwrap());
    std::thread::sleep(Duration::from_millis(50));
    let t = tx.clone();
    store.read(q.clone(), move |r| t.send(r).unwrap());
    drop(gate);
    for _ in 0..2 {
        rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
    }
    assert_eq!(script.reads.load(Ordering::SeqCst), 4);
}
