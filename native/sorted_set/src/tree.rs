//! [`SortedSet`]: a counted B+tree of encoded items.

use crate::term::key;
use std::cmp::Ordering;

/// Children per internal node, at most.
const FANOUT: usize = 64;
/// A leaf is split once its bytes exceed this, if it holds two items or more.
const LEAF_MAX_BYTES: usize = 4096;
/// Leaf item capacities accepted from the `bucket_size` hint.
const LEAF_CAP_RANGE: (usize, usize) = (16, 128);

/// A set of items (see [`crate::term`]) ordered by their keys, with
/// positional access.
///
/// Invariants:
/// - items are strictly increasing by key across the leaves, left to right;
/// - every internal node's `counts[i]` is the number of items under
///   `children[i]`, so an index is found by summing counts on the way down:
///   `insert`, `remove`, `find_index` and `get` are O(log n);
/// - `seps[i]` (for `i >= 1`) is at most the first key under `children[i]`
///   and greater than every key under `children[i - 1]`; `seps[0]` is empty;
/// - all leaves are at the same depth, and only the root may be a leaf with
///   no items.
///
/// Items are stored back to back in each leaf's byte buffer, so a small
/// integer costs about ten bytes. Internal nodes keep each separator's
/// first eight bytes as an integer (its *head*) beside the separators, so
/// a descent compares integers held together in one array and follows a
/// separator's pointer only when heads tie.
pub struct SortedSet {
    root: Node,
    len: usize,
    leaf_cap: usize,
}

/// Returned when input said to be sorted and unique was not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotSorted;

enum Node {
    Leaf(Leaf),
    Internal(Internal),
}

#[derive(Default)]
struct Leaf {
    data: Vec<u8>,
    /// End offset of each item in `data`.
    ends: Vec<u32>,
    /// `marks[j]` is the head of item `j * MARK_EVERY`'s key: a search
    /// narrows to one run of items with these before it reads any item.
    marks: Vec<u64>,
}

/// Items per leaf mark.
const MARK_EVERY: usize = 8;

struct Internal {
    children: Vec<Node>,
    counts: Vec<usize>,
    seps: Seps,
}

/// An internal node's separator keys with their heads; `heads[i]` is
/// `head(&keys[i])`.
#[derive(Default)]
struct Seps {
    keys: Vec<Box<[u8]>>,
    heads: Vec<u64>,
}

impl Default for SortedSet {
    fn default() -> Self {
        Self::new(500)
    }
}

impl SortedSet {
    /// An empty set. `bucket_size` is a hint for the items per leaf, clamped
    /// to 16..=128.
    pub fn new(bucket_size: usize) -> Self {
        let leaf_cap = bucket_size.clamp(LEAF_CAP_RANGE.0, LEAF_CAP_RANGE.1);
        SortedSet { root: Node::Leaf(Leaf::default()), len: 0, leaf_cap }
    }

    /// Builds a set from items in any order; of items with equal keys the
    /// first one wins.
    pub fn from_items<T: AsRef<[u8]>>(items: &[T], bucket_size: usize) -> Self {
        let mut order: Vec<(&[u8], usize)> = items.iter().enumerate().map(|(i, t)| (key(t.as_ref()), i)).collect();
        order.sort_unstable();
        order.dedup_by(|later, earlier| later.0 == earlier.0);
        let sorted: Vec<&[u8]> = order.into_iter().map(|(_, i)| items[i].as_ref()).collect();
        Self::from_sorted(&sorted, bucket_size).expect("sorted and deduplicated above")
    }

    /// Builds a set from items already strictly increasing by key, in O(n).
    pub fn from_sorted<T: AsRef<[u8]>>(items: &[T], bucket_size: usize) -> Result<Self, NotSorted> {
        if items.windows(2).any(|w| key(w[0].as_ref()) >= key(w[1].as_ref())) {
            return Err(NotSorted);
        }
        let mut set = Self::new(bucket_size);
        set.len = items.len();
        let mut level: Vec<(Node, usize, Box<[u8]>)> = Vec::new();
        let mut leaf = Leaf::default();
        let fill = set.leaf_cap * 3 / 4;
        for item in items.iter().map(AsRef::as_ref) {
            if leaf.len() >= fill || (leaf.len() > 0 && leaf.data.len() + item.len() > LEAF_MAX_BYTES) {
                let full = std::mem::take(&mut leaf);
                level.push(leaf_entry(full));
            }
            leaf.insert_at(leaf.len(), item);
        }
        if leaf.len() > 0 || level.is_empty() {
            level.push(leaf_entry(leaf));
        }
        while level.len() > 1 {
            let mut next = Vec::with_capacity(level.len() / FANOUT + 1);
            let mut iter = level.into_iter().peekable();
            while iter.peek().is_some() {
                let chunk: Vec<_> = iter.by_ref().take(FANOUT * 3 / 4).collect();
                let first_key = chunk[0].2.clone();
                let mut node = Internal { children: vec![], counts: vec![], seps: Seps::default() };
                for (i, (child, count, sep)) in chunk.into_iter().enumerate() {
                    node.children.push(child);
                    node.counts.push(count);
                    node.seps.push(if i == 0 { Box::default() } else { sep });
                }
                let count = node.counts.iter().sum();
                next.push((Node::Internal(node), count, first_key));
            }
            level = next;
        }
        set.root = level.pop().map(|(n, _, _)| n).unwrap_or(Node::Leaf(Leaf::default()));
        Ok(set)
    }

    /// Number of items, in O(1).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set has no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts `item`; returns its index, or `None` (and changes nothing) if
    /// an item with an equal key is present.
    pub fn insert(&mut self, item: &[u8]) -> Option<usize> {
        let k = key(item);
        let (index, split) = insert(&mut self.root, k, item, self.leaf_cap)?;
        self.len += 1;
        if let Some((sep, right)) = split {
            let left = std::mem::replace(&mut self.root, Node::Leaf(Leaf::default()));
            let (lc, rc) = (left.count(), right.count());
            self.root = Node::Internal(Internal {
                children: vec![left, right],
                counts: vec![lc, rc],
                seps: Seps::from_vec(vec![Box::default(), sep]),
            });
        }
        Some(index)
    }

    /// Removes the item whose key equals `key`; returns the index it had.
    pub fn remove(&mut self, key: &[u8]) -> Option<usize> {
        let index = remove(&mut self.root, key, self.leaf_cap)?;
        self.len -= 1;
        if let Node::Internal(node) = &mut self.root {
            match node.children.len() {
                0 => self.root = Node::Leaf(Leaf::default()),
                1 => self.root = node.children.pop().expect("one child"),
                _ => {}
            }
        }
        Some(index)
    }

    /// The index of the item whose key equals `key`.
    pub fn find_index(&self, key: &[u8]) -> Option<usize> {
        let mut node = &self.root;
        let mut base = 0;
        loop {
            match node {
                Node::Leaf(leaf) => return leaf.search(key).ok().map(|i| base + i),
                Node::Internal(n) => {
                    let c = n.child_for(key);
                    base += n.counts[..c].iter().sum::<usize>();
                    node = &n.children[c];
                }
            }
        }
    }

    /// The item at `index`.
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        if index >= self.len {
            return None;
        }
        let (leaf, i) = self.locate(index);
        Some(leaf.item(i))
    }

    /// Items from `start`, in order.
    pub fn iter_from(&self, start: usize) -> Iter<'_> {
        let mut it = Iter { stack: Vec::new(), leaf: None, pos: 0, remaining: self.len.saturating_sub(start) };
        if it.remaining == 0 {
            return it;
        }
        let mut node = &self.root;
        let mut index = start;
        loop {
            match node {
                Node::Leaf(leaf) => {
                    it.leaf = Some(leaf);
                    it.pos = index;
                    return it;
                }
                Node::Internal(n) => {
                    let c = n.child_at(&mut index);
                    it.stack.push((n, c));
                    node = &n.children[c];
                }
            }
        }
    }

    /// All items, in order.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0)
    }

    /// Bytes held by the set's own structures (not counting `self`).
    pub fn memory(&self) -> usize {
        self.root.memory()
    }

    /// A description of the tree's shape, for debugging.
    pub fn debug(&self) -> String {
        let (mut leaves, mut depth, mut node) = (0, 1, &self.root);
        while let Node::Internal(n) = node {
            depth += 1;
            node = &n.children[0];
        }
        self.root.count_leaves(&mut leaves);
        format!(
            "SortedSet(len: {}, depth: {}, leaves: {}, leaf capacity: {}, bytes: {})",
            self.len,
            depth,
            leaves,
            self.leaf_cap,
            self.memory()
        )
    }

    fn locate(&self, mut index: usize) -> (&Leaf, usize) {
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(leaf) => return (leaf, index),
                Node::Internal(n) => {
                    let c = n.child_at(&mut index);
                    node = &n.children[c];
                }
            }
        }
    }
}

fn leaf_entry(mut leaf: Leaf) -> (Node, usize, Box<[u8]>) {
    leaf.data.shrink_to_fit();
    leaf.ends.shrink_to_fit();
    leaf.marks.shrink_to_fit();
    let first: Box<[u8]> = if leaf.len() > 0 { key(leaf.item(0)).into() } else { Box::default() };
    let n = leaf.len();
    (Node::Leaf(leaf), n, first)
}

/// Inserts into the subtree; returns the index inside it and, if the node
/// split, the separator and the new right sibling.
fn insert(node: &mut Node, k: &[u8], item: &[u8], cap: usize) -> Option<(usize, Option<(Box<[u8]>, Node)>)> {
    match node {
        Node::Leaf(leaf) => {
            let i = leaf.search(k).err()?;
            leaf.insert_at(i, item);
            let split = (leaf.len() > cap || (leaf.data.len() > LEAF_MAX_BYTES && leaf.len() > 1)).then(|| {
                let right = leaf.split_off(leaf.len() / 2);
                (Box::<[u8]>::from(key(right.item(0))), Node::Leaf(right))
            });
            Some((i, split))
        }
        Node::Internal(n) => {
            let c = n.child_for(k);
            let (i, split) = insert(&mut n.children[c], k, item, cap)?;
            let index = n.counts[..c].iter().sum::<usize>() + i;
            n.counts[c] += 1;
            if let Some((sep, right)) = split {
                let rc = right.count();
                n.counts[c] -= rc;
                n.children.insert(c + 1, right);
                n.counts.insert(c + 1, rc);
                n.seps.insert(c + 1, sep);
            }
            let split = (n.children.len() > FANOUT).then(|| {
                let mid = n.children.len() / 2;
                let mut seps = n.seps.split_off(mid);
                let sep = seps.set(0, Box::default());
                let right = Internal { children: n.children.split_off(mid), counts: n.counts.split_off(mid), seps };
                (sep, Node::Internal(right))
            });
            Some((index, split))
        }
    }
}

fn remove(node: &mut Node, k: &[u8], cap: usize) -> Option<usize> {
    match node {
        Node::Leaf(leaf) => {
            let i = leaf.search(k).ok()?;
            leaf.remove_at(i);
            Some(i)
        }
        Node::Internal(n) => {
            let c = n.child_for(k);
            let i = remove(&mut n.children[c], k, cap)?;
            let index = n.counts[..c].iter().sum::<usize>() + i;
            n.counts[c] -= 1;
            n.rebalance(c, cap);
            Some(index)
        }
    }
}

impl Node {
    fn count(&self) -> usize {
        match self {
            Node::Leaf(l) => l.len(),
            Node::Internal(n) => n.counts.iter().sum(),
        }
    }

    fn memory(&self) -> usize {
        match self {
            Node::Leaf(l) => l.data.capacity() + l.ends.capacity() * 4 + l.marks.capacity() * 8,
            Node::Internal(n) => {
                n.children.capacity() * std::mem::size_of::<Node>()
                    + n.counts.capacity() * std::mem::size_of::<usize>()
                    + n.seps.memory()
                    + n.children.iter().map(Node::memory).sum::<usize>()
            }
        }
    }

    fn count_leaves(&self, acc: &mut usize) {
        match self {
            Node::Leaf(_) => *acc += 1,
            Node::Internal(n) => n.children.iter().for_each(|c| c.count_leaves(acc)),
        }
    }
}

impl Internal {
    /// The child whose range holds `key`.
    #[inline]
    fn child_for(&self, key: &[u8]) -> usize {
        let (h, heads, keys) = (head(key), &self.seps.heads, &self.seps.keys);
        // The first separator (index >= 1) above `key`, less one.
        let (mut lo, mut hi) = (1, heads.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let le = match heads[mid].cmp(&h) {
                Ordering::Less => true,
                Ordering::Greater => false,
                Ordering::Equal => keys[mid].as_ref() <= key,
            };
            if le {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo - 1
    }

    /// The child holding position `index`; `index` becomes the position
    /// inside that child.
    #[inline]
    fn child_at(&self, index: &mut usize) -> usize {
        for (c, &n) in self.counts.iter().enumerate() {
            if *index < n {
                return c;
            }
            *index -= n;
        }
        unreachable!("index checked against the set's length")
    }

    /// After a removal from child `c`: drop it if empty, or merge it with a
    /// neighbour if it has become small and the two fit in one node.
    fn rebalance(&mut self, c: usize, cap: usize) {
        if self.counts[c] == 0 {
            self.children.remove(c);
            self.counts.remove(c);
            self.seps.remove(c);
            if c == 0 && !self.seps.keys.is_empty() {
                self.seps.set(0, Box::default());
            }
            return;
        }
        let small = match &self.children[c] {
            Node::Leaf(l) => l.len() < cap / 4,
            Node::Internal(n) => n.children.len() < FANOUT / 4,
        };
        if !small || self.children.len() < 2 {
            return;
        }
        let left = if c + 1 < self.children.len() { c } else { c - 1 };
        let fits = match (&self.children[left], &self.children[left + 1]) {
            (Node::Leaf(a), Node::Leaf(b)) => a.len() + b.len() <= cap && a.data.len() + b.data.len() <= LEAF_MAX_BYTES,
            (Node::Internal(a), Node::Internal(b)) => a.children.len() + b.children.len() <= FANOUT,
            _ => false,
        };
        if !fits {
            return;
        }
        let right = self.children.remove(left + 1);
        let rc = self.counts.remove(left + 1);
        let sep = self.seps.remove(left + 1);
        self.counts[left] += rc;
        match (&mut self.children[left], right) {
            (Node::Leaf(a), Node::Leaf(b)) => a.append(b),
            (Node::Internal(a), Node::Internal(mut b)) => {
                b.seps.set(0, sep);
                a.children.append(&mut b.children);
                a.counts.append(&mut b.counts);
                a.seps.append(b.seps);
            }
            _ => unreachable!("siblings are at the same depth"),
        }
    }
}

impl Leaf {
    #[inline]
    fn len(&self) -> usize {
        self.ends.len()
    }

    #[inline]
    fn start(&self, i: usize) -> usize {
        if i == 0 { 0 } else { self.ends[i - 1] as usize }
    }

    #[inline]
    fn item(&self, i: usize) -> &[u8] {
        &self.data[self.start(i)..self.ends[i] as usize]
    }

    /// `Ok(i)` if an item's key equals `k`, else `Err(i)`, where it would go.
    fn search(&self, k: &[u8]) -> Result<usize, usize> {
        // Runs whose first head is below `k`'s hold only smaller keys up to
        // the last of them; a run whose first head is above holds only
        // larger keys from there on.
        let h = head(k);
        let below = self.marks.partition_point(|&m| m < h);
        let above = below + self.marks[below..].partition_point(|&m| m == h);
        let mut lo = below.saturating_sub(1) * MARK_EVERY;
        let mut hi = if above < self.marks.len() { above * MARK_EVERY } else { self.len() };
        while lo < hi {
            let mid = (lo + hi) / 2;
            match key(self.item(mid)).cmp(k) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    fn insert_at(&mut self, i: usize, item: &[u8]) {
        let at = self.start(i);
        self.data.splice(at..at, item.iter().copied());
        let n = item.len() as u32;
        for e in &mut self.ends[i..] {
            *e += n;
        }
        self.ends.insert(i, at as u32 + n);
        self.remark(i);
    }

    fn remove_at(&mut self, i: usize) {
        let (s, e) = (self.start(i), self.ends[i] as usize);
        self.data.drain(s..e);
        self.ends.remove(i);
        let n = (e - s) as u32;
        for end in &mut self.ends[i..] {
            *end -= n;
        }
        self.remark(i);
    }

    fn split_off(&mut self, at: usize) -> Leaf {
        let offset = self.start(at);
        let data = self.data.split_off(offset);
        let ends = self.ends.split_off(at).into_iter().map(|e| e - offset as u32).collect();
        self.data.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.remark(at);
        let mut right = Leaf { data, ends, marks: Vec::new() };
        right.remark(0);
        right
    }

    fn append(&mut self, other: Leaf) {
        let offset = self.data.len() as u32;
        self.data.extend_from_slice(&other.data);
        let at = self.len();
        self.ends.extend(other.ends.into_iter().map(|e| e + offset));
        self.remark(at);
    }

    /// Recomputes the marks of the items from `i` on, after they moved.
    fn remark(&mut self, i: usize) {
        let first = i / MARK_EVERY;
        self.marks.truncate(first);
        for j in (first * MARK_EVERY..self.len()).step_by(MARK_EVERY) {
            let h = head(key(self.item(j)));
            self.marks.push(h);
        }
    }
}

/// A key's first eight bytes as a big-endian integer, zero-padded. Heads
/// order keys: `head(a) < head(b)` implies `a < b`; equal heads say nothing.
#[inline]
fn head(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = key.len().min(8);
    bytes[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(bytes)
}

impl Seps {
    fn from_vec(keys: Vec<Box<[u8]>>) -> Self {
        let heads = keys.iter().map(|k| head(k)).collect();
        Seps { keys, heads }
    }

    fn push(&mut self, key: Box<[u8]>) {
        self.heads.push(head(&key));
        self.keys.push(key);
    }

    fn insert(&mut self, i: usize, key: Box<[u8]>) {
        self.heads.insert(i, head(&key));
        self.keys.insert(i, key);
    }

    fn remove(&mut self, i: usize) -> Box<[u8]> {
        self.heads.remove(i);
        self.keys.remove(i)
    }

    /// Replaces key `i`; returns the old one.
    fn set(&mut self, i: usize, key: Box<[u8]>) -> Box<[u8]> {
        self.heads[i] = head(&key);
        std::mem::replace(&mut self.keys[i], key)
    }

    fn split_off(&mut self, at: usize) -> Seps {
        Seps { keys: self.keys.split_off(at), heads: self.heads.split_off(at) }
    }

    fn append(&mut self, mut other: Seps) {
        self.keys.append(&mut other.keys);
        self.heads.append(&mut other.heads);
    }

    fn memory(&self) -> usize {
        self.keys.capacity() * std::mem::size_of::<Box<[u8]>>() + self.heads.capacity() * 8 + self.keys.iter().map(|k| k.len()).sum::<usize>()
    }
}

/// Items of a [`SortedSet`] in order, from some start index.
pub struct Iter<'a> {
    stack: Vec<(&'a Internal, usize)>,
    leaf: Option<&'a Leaf>,
    pos: usize,
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        let mut leaf = self.leaf?;
        if self.pos >= leaf.len() {
            // Climb to the first ancestor with a next child, then take the
            // leftmost leaf below it.
            let mut node = loop {
                let (n, c) = self.stack.pop()?;
                if c + 1 < n.children.len() {
                    self.stack.push((n, c + 1));
                    break &n.children[c + 1];
                }
            };
            while let Node::Internal(n) = node {
                self.stack.push((n, 0));
                node = &n.children[0];
            }
            let Node::Leaf(l) = node else { unreachable!() };
            leaf = l;
            self.leaf = Some(l);
            self.pos = 0;
        }
        self.remaining -= 1;
        self.pos += 1;
        Some(leaf.item(self.pos - 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}
