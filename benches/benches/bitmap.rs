//! Our bitmap core against the `roaring` crate, side by side, on the
//! gateway's operations over a guild of 1M member slots: 30% can view a
//! channel, 25% are online, 10% of those passive.

use bitmap::Bitmap;
use criterion::{criterion_group, criterion_main, Criterion};
use roaring::RoaringBitmap;
use std::hint::black_box;

struct Rng(u64);
impl Rng {
    fn chance(&mut self, p: f64) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 1_000_000) as f64 / 1e6 < p
    }
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng(42);
    let view: Vec<u32> = (0..1_000_000).filter(|_| rng.chance(0.30)).collect();
    let online: Vec<u32> = (0..1_000_000).filter(|_| rng.chance(0.25)).collect();
    let passive: Vec<u32> = online.iter().copied().filter(|_| rng.chance(0.10)).collect();

    let (v, o, p) = (Bitmap::from_slots(view.clone()), Bitmap::from_slots(online.clone()), Bitmap::from_slots(passive.clone()));
    let a = o.difference(&p);
    let rv: RoaringBitmap = view.iter().copied().collect();
    let ro: RoaringBitmap = online.iter().copied().collect();
    let rp: RoaringBitmap = passive.iter().copied().collect();
    let ra = &ro - &rp;
    let sparse: Vec<u32> = (0..1_000_000).step_by(997).collect();
    let (s, rs) = (Bitmap::from_slots(sparse.clone()), sparse.iter().copied().collect::<RoaringBitmap>());

    let mut g = c.benchmark_group("bitmap_1M");
    g.bench_function("ours/from_slots(view)", |b| b.iter(|| Bitmap::from_slots(black_box(&view).iter().copied())));
    g.bench_function("roaring/from_sorted_iter(view)", |b| b.iter(|| RoaringBitmap::from_sorted_iter(black_box(&view).iter().copied()).unwrap()));
    g.bench_function("ours/intersection(view, active)", |b| b.iter(|| black_box(&v).intersection(black_box(&a))));
    g.bench_function("roaring/intersection(view, active)", |b| b.iter(|| black_box(&rv) & black_box(&ra)));
    g.bench_function("ours/intersection_len", |b| b.iter(|| black_box(&v).intersection_len(black_box(&a))));
    g.bench_function("roaring/intersection_len", |b| b.iter(|| black_box(&rv).intersection_len(black_box(&ra))));
    g.bench_function("ours/union(view, online)", |b| b.iter(|| black_box(&v).union(black_box(&o))));
    g.bench_function("roaring/union(view, online)", |b| b.iter(|| black_box(&rv) | black_box(&ro)));
    g.bench_function("ours/difference(online, passive)", |b| b.iter(|| black_box(&o).difference(black_box(&p))));
    g.bench_function("roaring/difference(online, passive)", |b| b.iter(|| black_box(&ro) - black_box(&rp)));
    g.bench_function("ours/intersection(sparse, view)", |b| b.iter(|| black_box(&s).intersection(black_box(&v))));
    g.bench_function("roaring/intersection(sparse, view)", |b| b.iter(|| black_box(&rs) & black_box(&rv)));
    let recipients = v.intersection(&a);
    let rrecipients = &rv & &ra;
    g.bench_function("ours/iterate(recipients)", |b| b.iter(|| black_box(&recipients).iter().map(u64::from).sum::<u64>()));
    g.bench_function("roaring/iterate(recipients)", |b| b.iter(|| black_box(&rrecipients).iter().map(u64::from).sum::<u64>()));
    g.bench_function("ours/insert+remove", |b| {
        let mut x = v.clone();
        b.iter(|| {
            x.insert(black_box(500_001));
            x.remove(black_box(500_001));
        })
    });
    g.bench_function("roaring/insert+remove", |b| {
        let mut x = rv.clone();
        b.iter(|| {
            x.insert(black_box(500_001));
            x.remove(black_box(500_001));
        })
    });
    g.bench_function("ours/contains", |b| b.iter(|| black_box(&v).contains(black_box(500_001))));
    g.bench_function("roaring/contains", |b| b.iter(|| black_box(&rv).contains(black_box(500_001))));
    g.finish();
    println!("memory of view: ours {} bytes, roaring serialized {} bytes", v.memory(), rv.serialized_size());
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_millis(1000));
    targets = bench
}
criterion_main!(benches);
