//! A compressed set of `u32` slots, in the manner of Roaring bitmaps.
//!
//! Slots are grouped by their high 16 bits into chunks of 65,536. Each chunk
//! is stored the cheaper way: a sorted array of low halves while it holds
//! at most 4,096 slots (2 bytes each), else a 1,024-word bitset (8 KiB).
//! Dense regions cost one bit per slot and sparse ones two bytes per member.

use std::cmp::Ordering;

/// Chunks switch from array to bitset above this many members.
const ARRAY_MAX: usize = 4096;
const WORDS: usize = 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Chunk {
    /// Sorted, unique low halves; at most `ARRAY_MAX` of them.
    Array(Vec<u16>),
    /// A bitset and its population count, which is above `ARRAY_MAX`.
    Bits(Box<[u64; WORDS]>, u32),
}

/// A set of `u32`.
///
/// Invariants: `keys` is strictly increasing and `chunks[i]` holds the
/// members whose high half is `keys[i]`; no chunk is empty; an `Array` chunk
/// has at most 4,096 members and a `Bits` chunk more than that.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bitmap {
    keys: Vec<u16>,
    chunks: Vec<Chunk>,
}

/// Why bytes are not a serialized bitmap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidBitmap;

#[inline]
fn split(x: u32) -> (u16, u16) {
    ((x >> 16) as u16, x as u16)
}

impl Chunk {
    fn len(&self) -> usize {
        match self {
            Chunk::Array(a) => a.len(),
            Chunk::Bits(_, n) => *n as usize,
        }
    }

    fn contains(&self, low: u16) -> bool {
        match self {
            Chunk::Array(a) => a.binary_search(&low).is_ok(),
            Chunk::Bits(b, _) => b[low as usize / 64] >> (low % 64) & 1 == 1,
        }
    }

    fn insert(&mut self, low: u16) -> bool {
        match self {
            Chunk::Array(a) => match a.binary_search(&low) {
                Ok(_) => false,
                Err(i) => {
                    a.insert(i, low);
                    if a.len() > ARRAY_MAX {
                        *self = Chunk::from_sorted(a);
                    }
                    true
                }
            },
            Chunk::Bits(b, n) => {
                let (w, bit) = (low as usize / 64, 1u64 << (low % 64));
                let new = b[w] & bit == 0;
                b[w] |= bit;
                *n += u32::from(new);
                new
            }
        }
    }

    fn remove(&mut self, low: u16) -> bool {
        match self {
            Chunk::Array(a) => match a.binary_search(&low) {
                Ok(i) => {
                    a.remove(i);
                    true
                }
                Err(_) => false,
            },
            Chunk::Bits(b, n) => {
                let (w, bit) = (low as usize / 64, 1u64 << (low % 64));
                let had = b[w] & bit != 0;
                b[w] &= !bit;
                *n -= u32::from(had);
                if had && (*n as usize) <= ARRAY_MAX {
                    *self = Chunk::Array(bits_to_vec(b));
                }
                had
            }
        }
    }

    /// The cheaper representation of sorted, unique members.
    fn from_sorted(lows: &[u16]) -> Chunk {
        if lows.len() <= ARRAY_MAX {
            return Chunk::Array(lows.to_vec());
        }
        let mut b = Box::new([0u64; WORDS]);
        for &l in lows {
            b[l as usize / 64] |= 1 << (l % 64);
        }
        Chunk::Bits(b, lows.len() as u32)
    }

    /// Normalises a bitset after a bulk operation; `None` if empty.
    fn from_bits(b: Box<[u64; WORDS]>) -> Option<Chunk> {
        let n: u32 = b.iter().map(|w| w.count_ones()).sum();
        match n as usize {
            0 => None,
            n if n <= ARRAY_MAX => Some(Chunk::Array(bits_to_vec(&b))),
            _ => Some(Chunk::Bits(b, n)),
        }
    }

    /// A chunk from a word function, counting as it goes; `None` if empty.
    #[inline]
    fn from_words(f: impl Fn(usize) -> u64) -> Option<Chunk> {
        let mut out = Box::new([0u64; WORDS]);
        let mut n = 0u32;
        for (i, w) in out.iter_mut().enumerate() {
            *w = f(i);
            n += w.count_ones();
        }
        match n as usize {
            0 => None,
            c if c <= ARRAY_MAX => Some(Chunk::Array(bits_to_vec(&out))),
            _ => Some(Chunk::Bits(out, n)),
        }
    }

    fn to_bits(&self) -> Box<[u64; WORDS]> {
        match self {
            Chunk::Bits(b, _) => b.clone(),
            Chunk::Array(a) => {
                let mut b = Box::new([0u64; WORDS]);
                for &l in a {
                    b[l as usize / 64] |= 1 << (l % 64);
                }
                b
            }
        }
    }

    fn iter(&self) -> ChunkIter<'_> {
        match self {
            Chunk::Array(a) => ChunkIter::Array(a.iter()),
            Chunk::Bits(b, _) => ChunkIter::Bits(BitIter { words: &b[..], index: 0, word: b[0] }),
        }
    }

    fn and(&self, other: &Chunk) -> Option<Chunk> {
        match (self, other) {
            (Chunk::Bits(a, _), Chunk::Bits(b, _)) => Chunk::from_words(|i| a[i] & b[i]),
            (Chunk::Array(a), Chunk::Array(b)) => {
                let v = merge_and(a, b);
                (!v.is_empty()).then_some(Chunk::Array(v))
            }
            (Chunk::Array(a), bits) | (bits, Chunk::Array(a)) => {
                let v: Vec<u16> = a.iter().copied().filter(|&l| bits.contains(l)).collect();
                (!v.is_empty()).then_some(Chunk::Array(v))
            }
        }
    }

    fn and_len(&self, other: &Chunk) -> usize {
        match (self, other) {
            (Chunk::Bits(a, _), Chunk::Bits(b, _)) => (0..WORDS).map(|i| (a[i] & b[i]).count_ones() as usize).sum(),
            (Chunk::Array(a), Chunk::Array(b)) => merge_and(a, b).len(),
            (Chunk::Array(a), bits) | (bits, Chunk::Array(a)) => a.iter().filter(|&&l| bits.contains(l)).count(),
        }
    }

    fn or(&self, other: &Chunk) -> Chunk {
        match (self, other) {
            (Chunk::Array(a), Chunk::Array(b)) if a.len() + b.len() <= ARRAY_MAX => Chunk::Array(merge_or(a, b)),
            (Chunk::Bits(a, _), Chunk::Bits(b, _)) => Chunk::from_words(|i| a[i] | b[i]).expect("non-empty"),
            _ => {
                let mut out = self.to_bits();
                match other {
                    Chunk::Bits(b, _) => (0..WORDS).for_each(|i| out[i] |= b[i]),
                    Chunk::Array(a) => a.iter().for_each(|&l| out[l as usize / 64] |= 1 << (l % 64)),
                }
                Chunk::from_bits(out).expect("a union of non-empty chunks is non-empty")
            }
        }
    }

    fn and_not(&self, other: &Chunk) -> Option<Chunk> {
        match (self, other) {
            (Chunk::Array(a), _) => {
                let v: Vec<u16> = a.iter().copied().filter(|&l| !other.contains(l)).collect();
                (!v.is_empty()).then_some(Chunk::Array(v))
            }
            (Chunk::Bits(a, _), Chunk::Bits(b, _)) => Chunk::from_words(|i| a[i] & !b[i]),
            (Chunk::Bits(a, n), Chunk::Array(b)) => {
                let mut out = a.clone();
                let mut n = *n;
                for &l in b {
                    let (w, bit) = (l as usize / 64, 1u64 << (l % 64));
                    n -= u32::from(out[w] & bit != 0);
                    out[w] &= !bit;
                }
                match n as usize {
                    0 => None,
                    c if c <= ARRAY_MAX => Some(Chunk::Array(bits_to_vec(&out))),
                    _ => Some(Chunk::Bits(out, n)),
                }
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Chunk::Array(a) => a.capacity() * 2,
            Chunk::Bits(..) => WORDS * 8,
        }
    }
}

fn bits_to_vec(b: &[u64; WORDS]) -> Vec<u16> {
    BitIter { words: &b[..], index: 0, word: b[0] }.collect()
}

fn merge_and(a: &[u16], b: &[u16]) -> Vec<u16> {
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len().min(b.len())));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn merge_or(a: &[u16], b: &[u16]) -> Vec<u16> {
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len() + b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

enum ChunkIter<'a> {
    Array(std::slice::Iter<'a, u16>),
    Bits(BitIter<'a>),
}

impl Iterator for ChunkIter<'_> {
    type Item = u16;

    #[inline]
    fn next(&mut self) -> Option<u16> {
        match self {
            ChunkIter::Array(it) => it.next().copied(),
            ChunkIter::Bits(it) => it.next(),
        }
    }
}

struct BitIter<'a> {
    words: &'a [u64],
    index: usize,
    word: u64,
}

impl Iterator for BitIter<'_> {
    type Item = u16;

    #[inline]
    fn next(&mut self) -> Option<u16> {
        while self.word == 0 {
            self.index += 1;
            self.word = *self.words.get(self.index)?;
        }
        let bit = self.word.trailing_zeros() as usize;
        self.word &= self.word - 1;
        Some((self.index * 64 + bit) as u16)
    }
}

impl Bitmap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a bitmap from slots in any order, with repeats.
    pub fn from_slots(slots: impl IntoIterator<Item = u32>) -> Self {
        let mut v: Vec<u32> = slots.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        let mut bm = Bitmap::new();
        for group in v.chunk_by(|a, b| a >> 16 == b >> 16) {
            let lows: Vec<u16> = group.iter().map(|&x| x as u16).collect();
            bm.keys.push((group[0] >> 16) as u16);
            bm.chunks.push(Chunk::from_sorted(&lows));
        }
        bm
    }

    fn chunk(&self, high: u16) -> Result<usize, usize> {
        self.keys.binary_search(&high)
    }

    /// Adds `x`; true if it was absent.
    pub fn insert(&mut self, x: u32) -> bool {
        let (h, l) = split(x);
        match self.chunk(h) {
            Ok(i) => self.chunks[i].insert(l),
            Err(i) => {
                self.keys.insert(i, h);
                self.chunks.insert(i, Chunk::Array(vec![l]));
                true
            }
        }
    }

    /// Removes `x`; true if it was present.
    pub fn remove(&mut self, x: u32) -> bool {
        let (h, l) = split(x);
        let Ok(i) = self.chunk(h) else { return false };
        let had = self.chunks[i].remove(l);
        if self.chunks[i].len() == 0 {
            self.keys.remove(i);
            self.chunks.remove(i);
        }
        had
    }

    pub fn contains(&self, x: u32) -> bool {
        let (h, l) = split(x);
        self.chunk(h).is_ok_and(|i| self.chunks[i].contains(l))
    }

    pub fn len(&self) -> usize {
        self.chunks.iter().map(Chunk::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Members in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.iter().zip(&self.chunks).flat_map(|(&h, c)| c.iter().map(move |l| u32::from(h) << 16 | u32::from(l)))
    }

    /// Members from the first one at or above `from`, in ascending order.
    pub fn iter_from(&self, from: u32) -> impl Iterator<Item = u32> + '_ {
        let start = self.keys.partition_point(|&h| h < (from >> 16) as u16);
        self.keys[start..]
            .iter()
            .zip(&self.chunks[start..])
            .flat_map(|(&h, c)| c.iter().map(move |l| u32::from(h) << 16 | u32::from(l)))
            .skip_while(move |&x| x < from)
    }

    /// A measure of the work an operation over this bitmap costs: one unit
    /// per array member or bitset word.
    pub fn cost(&self) -> usize {
        self.chunks.iter().map(|c| match c {
            Chunk::Array(a) => a.len(),
            Chunk::Bits(..) => WORDS,
        }).sum()
    }

    fn zip_with(&self, other: &Bitmap, mut f: impl FnMut(Option<&Chunk>, Option<&Chunk>) -> Option<Chunk>) -> Bitmap {
        let mut out = Bitmap::new();
        let (mut i, mut j) = (0, 0);
        while i < self.keys.len() || j < other.keys.len() {
            let (key, a, b) = match (self.keys.get(i), other.keys.get(j)) {
                (Some(&x), Some(&y)) if x == y => {
                    i += 1;
                    j += 1;
                    (x, Some(&self.chunks[i - 1]), Some(&other.chunks[j - 1]))
                }
                (Some(&x), Some(&y)) if x < y => {
                    i += 1;
                    (x, Some(&self.chunks[i - 1]), None)
                }
                (Some(&x), None) => {
                    i += 1;
                    (x, Some(&self.chunks[i - 1]), None)
                }
                (_, Some(&y)) => {
                    j += 1;
                    (y, None, Some(&other.chunks[j - 1]))
                }
                (None, None) => unreachable!(),
            };
            if let Some(c) = f(a, b) {
                out.keys.push(key);
                out.chunks.push(c);
            }
        }
        out
    }

    pub fn union(&self, other: &Bitmap) -> Bitmap {
        self.zip_with(other, |a, b| match (a, b) {
            (Some(a), Some(b)) => Some(a.or(b)),
            (Some(c), None) | (None, Some(c)) => Some(c.clone()),
            (None, None) => None,
        })
    }

    pub fn intersection(&self, other: &Bitmap) -> Bitmap {
        self.zip_with(other, |a, b| a.zip(b).and_then(|(a, b)| a.and(b)))
    }

    pub fn difference(&self, other: &Bitmap) -> Bitmap {
        self.zip_with(other, |a, b| match (a, b) {
            (Some(a), Some(b)) => a.and_not(b),
            (Some(a), None) => Some(a.clone()),
            _ => None,
        })
    }

    /// `|self ∩ other|` without building the intersection.
    pub fn intersection_len(&self, other: &Bitmap) -> usize {
        let (mut i, mut j, mut n) = (0, 0, 0);
        while i < self.keys.len() && j < other.keys.len() {
            match self.keys[i].cmp(&other.keys[j]) {
                Ordering::Less => i += 1,
                Ordering::Greater => j += 1,
                Ordering::Equal => {
                    n += self.chunks[i].and_len(&other.chunks[j]);
                    i += 1;
                    j += 1;
                }
            }
        }
        n
    }

    /// Bytes on the heap.
    pub fn memory(&self) -> usize {
        self.keys.capacity() * 2
            + self.chunks.capacity() * std::mem::size_of::<Chunk>()
            + self.chunks.iter().map(Chunk::heap_bytes).sum::<usize>()
    }

    /// A portable serialization: `"RBM1"`, the chunk count (u32 LE), then
    /// per chunk its key (u16 LE), kind (0 array, 1 bitset), and either a
    /// member count (u16 LE, count - 1) and sorted u16 LE members, or 1,024
    /// u64 LE words.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.cost() * 2);
        out.extend_from_slice(b"RBM1");
        out.extend_from_slice(&(self.keys.len() as u32).to_le_bytes());
        for (&k, c) in self.keys.iter().zip(&self.chunks) {
            out.extend_from_slice(&k.to_le_bytes());
            match c {
                Chunk::Array(a) => {
                    out.push(0);
                    out.extend_from_slice(&((a.len() - 1) as u16).to_le_bytes());
                    a.iter().for_each(|l| out.extend_from_slice(&l.to_le_bytes()));
                }
                Chunk::Bits(b, _) => {
                    out.push(1);
                    b.iter().for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
                }
            }
        }
        out
    }

    /// Reads [`Bitmap::to_bytes`] output, validating every invariant, so
    /// untrusted bytes give an error and never a malformed bitmap.
    pub fn from_bytes(bytes: &[u8]) -> Result<Bitmap, InvalidBitmap> {
        let mut r = bytes.strip_prefix(b"RBM1").ok_or(InvalidBitmap)?;
        let mut take = |n: usize| -> Result<&[u8], InvalidBitmap> {
            let (head, rest) = r.split_at_checked(n).ok_or(InvalidBitmap)?;
            r = rest;
            Ok(head)
        };
        let count = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
        if count > 65_536 {
            return Err(InvalidBitmap);
        }
        let mut bm = Bitmap::new();
        for _ in 0..count {
            let key = u16::from_le_bytes(take(2)?.try_into().expect("2 bytes"));
            if bm.keys.last().is_some_and(|&last| last >= key) {
                return Err(InvalidBitmap);
            }
            let chunk = match take(1)?[0] {
                0 => {
                    let n = u16::from_le_bytes(take(2)?.try_into().expect("2 bytes")) as usize + 1;
                    if n > ARRAY_MAX {
                        return Err(InvalidBitmap);
                    }
                    let lows: Vec<u16> = take(2 * n)?.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
                    if lows.windows(2).any(|w| w[0] >= w[1]) {
                        return Err(InvalidBitmap);
                    }
                    Chunk::Array(lows)
                }
                1 => {
                    let mut b = Box::new([0u64; WORDS]);
                    for (w, c) in b.iter_mut().zip(take(8 * WORDS)?.chunks(8)) {
                        *w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
                    }
                    match Chunk::from_bits(b) {
                        Some(c @ Chunk::Bits(..)) => c,
                        _ => return Err(InvalidBitmap),
                    }
                }
                _ => return Err(InvalidBitmap),
            };
            bm.keys.push(key);
            bm.chunks.push(chunk);
        }
        if take(1).is_ok() {
            return Err(InvalidBitmap);
        }
        Ok(bm)
    }
}
