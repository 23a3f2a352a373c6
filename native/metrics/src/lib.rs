//! Histograms for hot paths: HDR histograms (the `hdrhistogram` crate),
//! one shard per recording thread, merged when read.
//!
//! A recording thread always uses the same shard (chosen the first time it
//! records), so threads do not contend on one lock: with one shard per BEAM
//! scheduler thread, a record takes an uncontended mutex and an add.
//! Values are clamped into the histogram's range rather than refused.
//!
//! Invariant: the merged snapshot counts every value recorded before it
//! was taken, exactly once.

use hdrhistogram::Histogram;
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD: Cell<usize> = Cell::new(usize::MAX);
}

fn thread_index() -> usize {
    THREAD.with(|t| {
        if t.get() == usize::MAX {
            t.set(NEXT_THREAD.fetch_add(1, Ordering::Relaxed));
        }
        t.get()
    })
}

/// An HDR histogram of `u64` values in `1..=max`, with `sigfig` significant
/// decimal digits, sharded by recording thread.
pub struct Sharded {
    shards: Vec<Mutex<Histogram<u64>>>,
    max: u64,
}

/// What a histogram holds: counts at or below each requested bound
/// (cumulative, as Prometheus wants them), the total count, and the sum.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub cumulative: Vec<u64>,
    pub count: u64,
    pub sum: u64,
}

impl Sharded {
    /// A histogram with `shards` shards (at least 1). `max` is at least 2 and
    /// `sigfig` at most 5 (the crate's limits).
    pub fn new(shards: usize, max: u64, sigfig: u8) -> Sharded {
        let max = max.max(2);
        let make = || Mutex::new(Histogram::new_with_bounds(1, max, sigfig.clamp(1, 5)).expect("bounds checked above"));
        Sharded { shards: (0..shards.max(1)).map(|_| make()).collect(), max }
    }

    /// Records `value`, clamped into `1..=max`.
    #[inline]
    pub fn record(&self, value: u64) {
        let shard = &self.shards[thread_index() % self.shards.len()];
        let mut h = shard.lock().unwrap_or_else(|e| e.into_inner());
        // In range after the clamp, so recording cannot fail.
        let _ = h.record(value.clamp(1, self.max));
    }

    /// The merged counts at or below each of `bounds` (ascending), the
    /// total count and the sum.
    pub fn snapshot(&self, bounds: &[u64]) -> Snapshot {
        let mut all = Histogram::<u64>::new_from(&self.shards[0].lock().unwrap_or_else(|e| e.into_inner()));
        for s in &self.shards {
            let _ = all.add(&*s.lock().unwrap_or_else(|e| e.into_inner()));
        }
        let cumulative = bounds.iter().map(|&b| if b == 0 { 0 } else { all.count_between(0, b.min(self.max)) }).collect();
        let sum = all.iter_recorded().map(|v| v.value_iterated_to() * v.count_at_value()).sum();
        Snapshot { cumulative, count: all.len(), sum }
    }

    /// The value at `quantile` (0..=1) of everything recorded, 0 when empty.
    pub fn quantile(&self, quantile: f64) -> u64 {
        let mut all = Histogram::<u64>::new_from(&self.shards[0].lock().unwrap_or_else(|e| e.into_inner()));
        for s in &self.shards {
            let _ = all.add(&*s.lock().unwrap_or_else(|e| e.into_inner()));
        }
        if all.is_empty() { 0 } else { all.value_at_quantile(quantile) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_merge_exactly() {
        let h = std::sync::Arc::new(Sharded::new(4, 1_000_000, 2));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let h = h.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        h.record(1 + (i * 7 + t) % 1000);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let s = h.snapshot(&[10, 100, 1_000, 1_000_000]);
        assert_eq!(s.count, 80_000);
        assert_eq!(s.cumulative[3], 80_000);
        assert!(s.cumulative[0] <= s.cumulative[1] && s.cumulative[1] <= s.cumulative[2]);
        // About 1% of values are ≤ 10 (10 of 1,000), within HDR's precision.
        assert!((700..=900).contains(&s.cumulative[0]), "{}", s.cumulative[0]);
    }

    #[test]
    fn values_out_of_range_are_clamped_and_quantiles_read_back() {
        let h = Sharded::new(1, 1_000, 3);
        h.record(0);
        h.record(5_000);
        for _ in 0..98 {
            h.record(500);
        }
        let s = h.snapshot(&[1, 999, 1_000]);
        assert_eq!((s.cumulative[0], s.cumulative[2], s.count), (1, 100, 100));
        assert_eq!(h.quantile(0.5), 500);
        assert_eq!(Sharded::new(2, 10, 2).quantile(0.99), 0);
    }
}
