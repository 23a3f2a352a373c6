//! `Realtime.Metrics`' histograms: a `metrics::Sharded` HDR histogram in a
//! resource. Recording is one uncontended lock and an add; reading merges
//! the shards (a few microseconds).

use rustler::{NifResult, ResourceArc};

pub struct HistogramResource(metrics::Sharded);

#[rustler::resource_impl]
impl rustler::Resource for HistogramResource {}

#[rustler::nif]
fn histogram_new(shards: usize, max: u64, sigfig: u8) -> ResourceArc<HistogramResource> {
    ResourceArc::new(HistogramResource(metrics::Sharded::new(shards.min(1024), max, sigfig)))
}

#[rustler::nif]
fn histogram_record(h: ResourceArc<HistogramResource>, value: u64) -> rustler::Atom {
    h.0.record(value);
    crate::atoms::ok()
}

#[rustler::nif]
fn histogram_snapshot(h: ResourceArc<HistogramResource>, bounds: Vec<u64>) -> NifResult<(Vec<u64>, u64, u64)> {
    if bounds.len() > 256 {
        return Err(rustler::Error::BadArg);
    }
    let s = h.0.snapshot(&bounds);
    Ok((s.cumulative, s.count, s.sum))
}

#[rustler::nif]
fn histogram_quantile(h: ResourceArc<HistogramResource>, quantile: f64) -> u64 {
    h.0.quantile(quantile.clamp(0.0, 1.0))
}
