//! The tree against a `BTreeSet` model, on seeded random operations.

use sorted_set::term::{encode_to_vec, key, Value};
use sorted_set::{NotSorted, SortedSet};
use std::collections::BTreeSet;

fn item(i: i64) -> Vec<u8> {
    encode_to_vec(&Value::Int(i)).unwrap()
}

fn k(i: i64) -> Vec<u8> {
    key(&item(i)).to_vec()
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn check(set: &SortedSet, model: &BTreeSet<i64>, seed: u64, step: usize) {
    let ours: Vec<Vec<u8>> = set.iter().map(|i| i.to_vec()).collect();
    let want: Vec<Vec<u8>> = model.iter().map(|&i| item(i)).collect();
    assert_eq!(set.len(), model.len(), "seed {seed} step {step}");
    assert_eq!(ours, want, "seed {seed} step {step}");
}

fn run(seed: u64, bucket: usize, ops: usize, range: u64) {
    let mut rng = Rng(seed);
    let mut set = SortedSet::new(bucket);
    let mut model = BTreeSet::new();
    for step in 0..ops {
        let x = rng.below(range) as i64 - (range / 2) as i64;
        match rng.below(10) {
            0..=4 => {
                let expect = (!model.contains(&x)).then(|| model.range(..x).count());
                assert_eq!(set.insert(&item(x)), expect, "seed {seed} step {step} insert {x}");
                model.insert(x);
            }
            5..=7 => {
                let expect = model.contains(&x).then(|| model.range(..x).count());
                assert_eq!(set.remove(&k(x)), expect, "seed {seed} step {step} remove {x}");
                model.remove(&x);
            }
            8 => {
                let expect = model.contains(&x).then(|| model.range(..x).count());
                assert_eq!(set.find_index(&k(x)), expect, "seed {seed} step {step} find {x}");
            }
            _ => {
                let i = rng.below(model.len() as u64 + 3) as usize;
                let expect = model.iter().nth(i).map(|&v| item(v));
                assert_eq!(set.get(i).map(|s| s.to_vec()), expect, "seed {seed} step {step} get {i}");
                let n = rng.below(300) as usize;
                let got: Vec<_> = set.iter_from(i).take(n).map(|s| s.to_vec()).collect();
                let want: Vec<_> = model.iter().skip(i).take(n).map(|&v| item(v)).collect();
                assert_eq!(got, want, "seed {seed} step {step} slice {i} {n}");
            }
        }
        if step % 997 == 0 {
            check(&set, &model, seed, step);
        }
    }
    check(&set, &model, seed, ops);
    // Drain everything: the tree must shrink back to an empty, usable set.
    for x in model.clone() {
        assert!(set.remove(&k(x)).is_some());
    }
    assert!(set.is_empty());
    assert_eq!(set.insert(&item(7)), Some(0));
}

#[test]
fn random_operations_match_a_model() {
    let seed = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xC0FFEE);
    for (i, bucket) in [16usize, 64, 500].into_iter().enumerate() {
        run(seed + i as u64, bucket, 60_000, 20_000);
        run(seed + 10 + i as u64, bucket, 20_000, 300);
    }
}

#[test]
fn bulk_builds_agree_with_inserts() {
    let items: Vec<Vec<u8>> = (0..100_000).map(|i| item(i * 3)).collect();
    let set = SortedSet::from_sorted(&items, 500).unwrap();
    assert_eq!(set.len(), 100_000);
    assert_eq!(set.find_index(&k(300)), Some(100));
    assert_eq!(set.get(99_999).map(|s| s.to_vec()), Some(item(299_997)));
    assert_eq!(set.iter().count(), 100_000);

    let mut shuffled = items.clone();
    shuffled.reverse();
    shuffled.extend(items.iter().take(10).cloned());
    let set2 = SortedSet::from_items(&shuffled, 500);
    assert!(set2.iter().eq(set.iter()));

    let mut unsorted = items;
    unsorted.swap(5, 6);
    assert_eq!(SortedSet::from_sorted(&unsorted, 500).err(), Some(NotSorted));
    assert_eq!(SortedSet::from_sorted(&[item(1), item(1)], 500).err(), Some(NotSorted));
    assert!(SortedSet::from_sorted::<Vec<u8>>(&[], 500).unwrap().is_empty());
}

#[test]
fn small_integers_cost_under_sixteen_bytes_each() {
    let set = SortedSet::from_items(&(0..1_000_000).map(item).collect::<Vec<_>>(), 500);
    let per_item = set.memory() as f64 / 1e6;
    assert!(per_item < 16.0, "{per_item} bytes per item; {}", set.debug());
}
