use bitmap::{Bitmap, InvalidBitmap};
use std::collections::BTreeSet;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Slots clustered so that chunks are sometimes dense, sometimes sparse.
    fn slot(&mut self) -> u32 {
        let chunk = (self.next() % 4) as u32;
        let dense = chunk < 2;
        let low = if dense { (self.next() % 9000) as u32 } else { (self.next() % 65536) as u32 };
        chunk << 16 | low
    }
}

fn same(b: &Bitmap, m: &BTreeSet<u32>, ctx: &str) {
    assert_eq!(b.len(), m.len(), "{ctx}");
    assert!(b.iter().eq(m.iter().copied()), "{ctx}");
}

#[test]
fn operations_match_a_set_model() {
    let seed = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xB17);
    let mut rng = Rng(seed);
    let (mut a, mut ma) = (Bitmap::new(), BTreeSet::new());
    let (mut b, mut mb) = (Bitmap::new(), BTreeSet::new());
    for step in 0..200_000 {
        let x = rng.slot();
        let ctx = format!("seed {seed} step {step}");
        match rng.next() % 6 {
            0 | 1 => assert_eq!(a.insert(x), ma.insert(x), "{ctx}"),
            2 => assert_eq!(a.remove(x), ma.remove(&x), "{ctx}"),
            3 => assert_eq!(b.insert(x), mb.insert(x), "{ctx}"),
            4 => assert_eq!(b.remove(x), mb.remove(&x), "{ctx}"),
            _ => assert_eq!(a.contains(x), ma.contains(&x), "{ctx}"),
        }
        if step % 20_000 == 0 {
            same(&a, &ma, &ctx);
            same(&a.union(&b), &ma.union(&mb).copied().collect(), &ctx);
            same(&a.intersection(&b), &ma.intersection(&mb).copied().collect(), &ctx);
            same(&a.difference(&b), &ma.difference(&mb).copied().collect(), &ctx);
            assert_eq!(a.intersection_len(&b), ma.intersection(&mb).count(), "{ctx}");
            assert_eq!(Bitmap::from_bytes(&a.to_bytes()).unwrap(), a, "{ctx}");
            assert_eq!(Bitmap::from_slots(ma.iter().copied()), a, "{ctx}");
            let from = rng.slot();
            assert!(a.iter_from(from).eq(ma.range(from..).copied()), "{ctx}");
        }
    }
}

#[test]
fn hostile_bytes_are_refused() {
    let bm = Bitmap::from_slots((0..10_000).chain(70_000..70_010));
    let bytes = bm.to_bytes();
    for cut in 0..bytes.len() {
        assert_eq!(Bitmap::from_bytes(&bytes[..cut]), Err(InvalidBitmap), "cut {cut}");
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(Bitmap::from_bytes(&trailing), Err(InvalidBitmap));
    // Unsorted array members, an empty bitset, a huge count, a bad kind.
    let mut unsorted = Bitmap::from_slots([1, 2]).to_bytes();
    unsorted.swap(13, 15);
    assert_eq!(Bitmap::from_bytes(&unsorted), Err(InvalidBitmap));
    let mut empty_bits = b"RBM1\x01\x00\x00\x00\x00\x00\x01".to_vec();
    empty_bits.extend(std::iter::repeat_n(0u8, 8192));
    assert_eq!(Bitmap::from_bytes(&empty_bits), Err(InvalidBitmap));
    assert_eq!(Bitmap::from_bytes(b"RBM1\xff\xff\xff\xff"), Err(InvalidBitmap));
    assert_eq!(Bitmap::from_bytes(b"RBM1\x01\x00\x00\x00\x00\x00\x07"), Err(InvalidBitmap));
}
