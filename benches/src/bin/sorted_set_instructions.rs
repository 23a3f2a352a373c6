//! Runs one SortedSet core operation (or its std baseline) many times with
//! seeded random keys, for `benches/callgrind.sh` to count instructions.
//! Instruction counts repeat exactly on a noisy machine, where seconds do not.
//!
//! Usage: sorted_set_instructions OP N_ITEMS N_OPS [SEED]
//! Each measured loop is its own `#[inline(never)]` function named
//! `measure_<op>`, so callgrind collects only inside it (setup is excluded).

use sorted_set::term::{encode_to_vec, key, Value};
use sorted_set::SortedSet;
use std::collections::BTreeSet;
use std::hint::black_box;

struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn item(i: i64) -> Vec<u8> {
    encode_to_vec(&Value::Int(i)).expect("an integer always encodes")
}

#[inline(never)]
fn measure_add(set: &mut SortedSet, free: &[Vec<u8>]) {
    for it in free {
        black_box(set.insert(black_box(it)));
    }
}

#[inline(never)]
fn measure_remove(set: &mut SortedSet, keys: &[Vec<u8>]) {
    for k in keys {
        black_box(set.remove(black_box(k)));
    }
}

#[inline(never)]
fn measure_find_index(set: &SortedSet, keys: &[Vec<u8>]) {
    for k in keys {
        black_box(set.find_index(black_box(k)));
    }
}

#[inline(never)]
fn measure_at(set: &SortedSet, positions: &[usize]) {
    for &p in positions {
        black_box(set.get(black_box(p)));
    }
}

#[inline(never)]
fn measure_slice100(set: &SortedSet, positions: &[usize]) {
    for &p in positions {
        black_box(set.iter_from(p).take(100).map(<[u8]>::len).sum::<usize>());
    }
}

#[inline(never)]
fn measure_btree_add(set: &mut BTreeSet<i64>, free: &[i64]) {
    for &v in free {
        black_box(set.insert(black_box(v)));
    }
}

#[inline(never)]
fn measure_btree_remove(set: &mut BTreeSet<i64>, members: &[i64]) {
    for v in members {
        black_box(set.remove(black_box(v)));
    }
}

#[inline(never)]
fn measure_btree_contains(set: &BTreeSet<i64>, members: &[i64]) {
    for v in members {
        black_box(set.contains(black_box(v)));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: sorted_set_instructions OP N_ITEMS N_OPS [SEED]";
    let op = args.get(1).expect(usage).as_str();
    let n: i64 = args.get(2).and_then(|s| s.parse().ok()).expect(usage);
    let ops: usize = args.get(3).and_then(|s| s.parse().ok()).expect(usage);
    let mut rng = XorShift(args.get(4).and_then(|s| s.parse().ok()).unwrap_or(0x9E37_79B9_7F4A_7C15));

    // Members are the even numbers below 2n; odd numbers are free slots.
    let distinct = |rng: &mut XorShift, odd: i64| {
        let mut seen = std::collections::HashSet::new();
        std::iter::from_fn(|| Some(2 * rng.below(n as u64) as i64 + odd))
            .filter(|v| seen.insert(*v))
            .take(ops)
            .collect::<Vec<i64>>()
    };
    let positions: Vec<usize> = (0..ops).map(|_| rng.below((n - 100) as u64) as usize).collect();
    let build = || SortedSet::from_sorted(&(0..n).map(|i| item(2 * i)).collect::<Vec<_>>(), 500).expect("sorted");
    let btree = || (0..n).map(|i| 2 * i).collect::<BTreeSet<i64>>();

    match op {
        "add" => measure_add(&mut build(), &distinct(&mut rng, 1).into_iter().map(item).collect::<Vec<_>>()),
        "remove" => {
            let keys = distinct(&mut rng, 0).into_iter().map(|v| key(&item(v)).to_vec()).collect::<Vec<_>>();
            measure_remove(&mut build(), &keys)
        }
        "find_index" => {
            let keys = distinct(&mut rng, 0).into_iter().map(|v| key(&item(v)).to_vec()).collect::<Vec<_>>();
            measure_find_index(&build(), &keys)
        }
        "at" => measure_at(&build(), &positions),
        "slice100" => measure_slice100(&build(), &positions),
        "btree_add" => measure_btree_add(&mut btree(), &distinct(&mut rng, 1)),
        "btree_remove" => measure_btree_remove(&mut btree(), &distinct(&mut rng, 0)),
        "btree_contains" => measure_btree_contains(&btree(), &distinct(&mut rng, 0)),
        other => panic!("unknown op {other}; {usage}"),
    }
}
