//! A consistent hash ring that places keys exactly as Discord's
//! `ex_hash_ring` does, so that a cluster can move between the two.
//!
//! - A key's hash is the last 8 bytes of its md5, read little-endian.
//!   Integer keys are hashed as their decimal text, as ex_hash_ring
//!   interpolates them.
//! - Node `name` owns `replicas` points: the hashes of `name` followed by the
//!   replica number in decimal (`"a@h0"`, `"a@h1"`, …).
//! - A key belongs to the node of the first point strictly greater than the
//!   key's hash, wrapping to the first point.
//! - Overrides pin a key to a node before the ring is consulted.
//!
//! # Invariants
//! - `points` is sorted ascending and `owners[i]` is the index (into `nodes`)
//!   of the node that owns `points[i]`; both have `nodes.len() * replicas`
//!   entries.
//! - A ring is immutable once built: membership changes build a new ring,
//!   so readers never lock.
//! - The ring does not depend on the order nodes are given in (apart from
//!   exact 64-bit point collisions, which are ordered by node name).

use md5::{Digest, Md5};
use std::collections::HashMap;

/// Points per node, as ex_hash_ring's default.
pub const DEFAULT_REPLICAS: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The same node name was given twice.
    DuplicateNode(Vec<u8>),
    /// `replicas` must be at least 1.
    NoReplicas,
    /// An override names a node that is not on the ring.
    UnknownOverrideNode(Vec<u8>),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::DuplicateNode(n) => write!(f, "node {:?} is given twice", String::from_utf8_lossy(n)),
            Error::NoReplicas => write!(f, "replicas must be at least 1"),
            Error::UnknownOverrideNode(n) => {
                write!(f, "an override names node {:?}, which is not on the ring", String::from_utf8_lossy(n))
            }
        }
    }
}

impl std::error::Error for Error {}

/// A key as ex_hash_ring sees it: its text.
#[derive(Debug, Clone, Copy)]
pub enum Key<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl<'a> Key<'a> {
    /// The key's ring position.
    pub fn hash(self) -> u64 {
        match self {
            Key::Bytes(b) => hash(b),
            Key::Int(i) => {
                let mut buf = [0u8; 20];
                hash(decimal(i, &mut buf))
            }
        }
    }

    fn text<'b>(self, buf: &'b mut [u8; 20]) -> &'b [u8]
    where
        'a: 'b,
    {
        match self {
            Key::Bytes(b) => b,
            Key::Int(i) => decimal(i, buf),
        }
    }
}

/// The last 8 bytes of `md5(bytes)`, little-endian.
pub fn hash(bytes: &[u8]) -> u64 {
    let digest = Md5::digest(bytes);
    u64::from_le_bytes(digest[8..16].try_into().expect("md5 digests are 16 bytes"))
}

fn decimal(i: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = i.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// An immutable ring over a set of named nodes. See the crate docs.
#[derive(Debug, Clone)]
pub struct HashRing {
    nodes: Vec<Box<[u8]>>,
    points: Vec<u64>,
    owners: Vec<u32>,
    overrides: HashMap<Box<[u8]>, u32>,
}

impl HashRing {
    /// Builds the ring for `nodes`, with `replicas` points each and the
    /// `overrides` (key text → node name) checked first.
    pub fn new<N: AsRef<[u8]>>(nodes: &[N], replicas: usize, overrides: &[(Key<'_>, N)]) -> Result<Self, Error> {
        if replicas == 0 {
            return Err(Error::NoReplicas);
        }
        let names: Vec<Box<[u8]>> = nodes.iter().map(|n| n.as_ref().into()).collect();
        let mut sorted: Vec<&[u8]> = names.iter().map(|n| &n[..]).collect();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::DuplicateNode(w[0].to_vec()));
        }
        let mut items: Vec<(u64, u32)> = Vec::with_capacity(names.len() * replicas);
        let mut text = Vec::new();
        for (index, name) in names.iter().enumerate() {
            for replica in 0..replicas {
                text.clear();
                text.extend_from_slice(name);
                text.extend_from_slice(decimal(replica as i64, &mut [0u8; 20]));
                items.push((hash(&text), index as u32));
            }
        }
        items.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| names[a.1 as usize].cmp(&names[b.1 as usize])));
        let mut ring = HashRing {
            points: items.iter().map(|i| i.0).collect(),
            owners: items.iter().map(|i| i.1).collect(),
            overrides: HashMap::with_capacity(overrides.len()),
            nodes: names,
        };
        for (key, node) in overrides {
            let index = ring.index_of(node.as_ref()).ok_or_else(|| Error::UnknownOverrideNode(node.as_ref().to_vec()))?;
            ring.overrides.insert(key.text(&mut [0u8; 20]).into(), index as u32);
        }
        Ok(ring)
    }

    /// The node names, in the order they were given.
    pub fn nodes(&self) -> &[Box<[u8]>] {
        &self.nodes
    }

    /// The number of points on the ring.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the ring has no nodes.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The position in `nodes()` of the node named `name`.
    pub fn index_of(&self, name: &[u8]) -> Option<usize> {
        self.nodes.iter().position(|n| &n[..] == name)
    }

    /// The index (into `nodes()`) of the node that owns `key`, or `None` on
    /// an empty ring.
    pub fn find_node(&self, key: Key<'_>) -> Option<usize> {
        if let Some(&i) = self.override_for(key) {
            return Some(i as usize);
        }
        self.next_point(key.hash()).map(|p| self.owners[p] as usize)
    }

    /// Up to `n` distinct nodes for `key`, in ring order from its owner (the
    /// override, if any, first). Fewer when the ring has fewer nodes.
    pub fn find_nodes(&self, key: Key<'_>, n: usize) -> Vec<usize> {
        let wanted = n.min(self.nodes.len());
        let mut found: Vec<usize> = Vec::with_capacity(wanted);
        if wanted == 0 {
            return found;
        }
        if let Some(&i) = self.override_for(key) {
            found.push(i as usize);
        }
        let Some(mut p) = self.next_point(key.hash()) else { return found };
        let mut seen = vec![false; self.nodes.len()];
        for &i in &found {
            seen[i] = true;
        }
        // Each node owns `replicas` points, so one lap finds them all.
        for _ in 0..self.points.len() {
            if found.len() == wanted {
                break;
            }
            let owner = self.owners[p] as usize;
            if !seen[owner] {
                seen[owner] = true;
                found.push(owner);
            }
            p = if p + 1 == self.points.len() { 0 } else { p + 1 };
        }
        found
    }

    fn override_for(&self, key: Key<'_>) -> Option<&u32> {
        if self.overrides.is_empty() {
            return None;
        }
        self.overrides.get(key.text(&mut [0u8; 20]))
    }

    /// The first point strictly greater than `h`, wrapping to 0.
    fn next_point(&self, h: u64) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        let p = self.points.partition_point(|&x| x <= h);
        Some(if p == self.points.len() { 0 } else { p })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(ring: &HashRing, idx: &[usize]) -> Vec<String> {
        idx.iter().map(|&i| String::from_utf8(ring.nodes()[i].to_vec()).unwrap()).collect()
    }

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn hash_is_the_little_endian_tail_of_md5() {
        // md5("") = d41d8cd98f00b204e9800998ecf8427e
        assert_eq!(hash(b""), u64::from_le_bytes([0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e]));
        assert_eq!(Key::Int(-42).hash(), hash(b"-42"));
        assert_eq!(Key::Int(i64::MIN).hash(), hash(b"-9223372036854775808"));
        assert_eq!(Key::Int(0).hash(), hash(b"0"));
    }

    #[test]
    fn a_key_belongs_to_the_first_point_above_its_hash() {
        let ring = HashRing::new(&["a", "b", "c"], 4, &[]).unwrap();
        // Brute force over the same points, straight from the definition.
        let mut points: Vec<(u64, &str)> = Vec::new();
        for n in ["a", "b", "c"] {
            for r in 0..4 {
                points.push((hash(format!("{n}{r}").as_bytes()), n));
            }
        }
        let mut seed = 7u64;
        for _ in 0..10_000 {
            let k = xorshift(&mut seed) as i64;
            let h = Key::Int(k).hash();
            let expected = points.iter().filter(|p| p.0 > h).min_by_key(|p| p.0).or_else(|| points.iter().min_by_key(|p| p.0)).unwrap().1;
            assert_eq!(names(&ring, &[ring.find_node(Key::Int(k)).unwrap()]), [expected], "key {k}");
        }
    }

    #[test]
    fn node_order_does_not_change_placement() {
        let a = HashRing::new(&["n1@h", "n2@h", "n3@h"], 512, &[]).unwrap();
        let b = HashRing::new(&["n3@h", "n1@h", "n2@h"], 512, &[]).unwrap();
        for k in 0..5_000 {
            assert_eq!(names(&a, &a.find_nodes(Key::Int(k), 3)), names(&b, &b.find_nodes(Key::Int(k), 3)));
        }
    }

    #[test]
    fn adding_a_node_moves_only_keys_to_it() {
        let before = HashRing::new(&["a", "b", "c"], 512, &[]).unwrap();
        let after = HashRing::new(&["a", "b", "c", "d"], 512, &[]).unwrap();
        let mut moved = 0;
        for k in 0..20_000 {
            let was = names(&before, &[before.find_node(Key::Int(k)).unwrap()]);
            let is = names(&after, &[after.find_node(Key::Int(k)).unwrap()]);
            if was != is {
                assert_eq!(is, ["d"], "key {k} moved between old nodes");
                moved += 1;
            }
        }
        // About a quarter should move to the new node.
        assert!((4_000..6_000).contains(&moved), "{moved} of 20000 moved");
    }

    #[test]
    fn find_nodes_gives_distinct_nodes_starting_with_the_owner() {
        let ring = HashRing::new(&["a", "b", "c", "d"], 16, &[]).unwrap();
        for k in 0..2_000 {
            let all = ring.find_nodes(Key::Int(k), 10);
            assert_eq!(all.len(), 4);
            assert_eq!(all[0], ring.find_node(Key::Int(k)).unwrap());
            let mut d = all.clone();
            d.sort();
            d.dedup();
            assert_eq!(d.len(), 4);
            assert_eq!(ring.find_nodes(Key::Int(k), 2), all[..2]);
        }
    }

    #[test]
    fn overrides_come_first() {
        let ring = HashRing::new(&["a", "b"], 8, &[(Key::Int(5), "b"), (Key::Bytes(b"x"), "a")]).unwrap();
        assert_eq!(names(&ring, &[ring.find_node(Key::Int(5)).unwrap()]), ["b"]);
        assert_eq!(names(&ring, &[ring.find_node(Key::Bytes(b"5")).unwrap()]), ["b"]);
        assert_eq!(names(&ring, &ring.find_nodes(Key::Bytes(b"x"), 2)), ["a", "b"]);
        assert_eq!(
            HashRing::new(&["a"], 8, &[(Key::Int(1), "z")]).unwrap_err(),
            Error::UnknownOverrideNode(b"z".to_vec())
        );
    }

    #[test]
    fn bad_rings_are_refused_and_empty_rings_find_nothing() {
        assert_eq!(HashRing::new(&["a", "a"], 8, &[]).unwrap_err(), Error::DuplicateNode(b"a".to_vec()));
        assert_eq!(HashRing::new(&["a"], 0, &[]).unwrap_err(), Error::NoReplicas);
        let empty = HashRing::new::<&str>(&[], 8, &[]).unwrap();
        assert_eq!(empty.find_node(Key::Int(1)), None);
        assert!(empty.find_nodes(Key::Int(1), 3).is_empty());
    }
}
