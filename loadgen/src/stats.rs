//! Counting and timing what a scenario sends and receives.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Highest seen.
    pub max_us: f64,
}

/// Latencies recorded in nanoseconds, up to a minute, three significant digits.
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self(Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"))
    }
}

impl Latencies {
    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.0.saturating_record(nanos.max(1));
    }

    /// Adds another's records.
    pub fn merge(&mut self, other: &Self) {
        let _ = self.0.add(&other.0);
    }

    /// How many were recorded.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether none were.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The percentiles.
    pub fn summary(&self) -> Latency {
        let us = |nanos: u64| nanos as f64 / 1000.0;
        Latency {
            p50_us: us(self.0.value_at_quantile(0.5)),
            p99_us: us(self.0.value_at_quantile(0.99)),
            max_us: us(self.0.max()),
        }
    }
}

/// The clock every message is stamped with: nanoseconds since the scenario started.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    /// Starts now.
    pub fn start() -> Self {
        Self(Instant::now())
    }

    /// Nanoseconds since the start.
    pub fn stamp(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// How long ago `stamp` was.
    pub fn since(&self, stamp: u64) -> Duration {
        Duration::from_nanos(self.stamp().saturating_sub(stamp))
    }

    /// The instant `offset` after the start.
    pub fn at(&self, offset: Duration) -> Instant {
        self.0 + offset
    }
}

/// A message body carrying its sequence number and send time: `"<seq> <stamp>"`.
pub fn body(seq: u64, stamp: u64) -> String {
    format!("{seq} {stamp}")
}

/// Reads a [`body`] back.
pub fn parse_body(body: &str) -> Option<(u64, u64)> {
    let (seq, stamp) = body.split_once(' ')?;
    Some((seq.parse().ok()?, stamp.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip() {
        assert_eq!(parse_body(&body(42, 1_000_000)), Some((42, 1_000_000)));
        assert_eq!(parse_body("nonsense"), None);
    }

    #[test]
    fn percentiles_come_out_in_microseconds() {
        let mut l = Latencies::default();
        for us in 1..=100 {
            l.record(Duration::from_micros(us));
        }
        let s = l.summary();
        assert!((s.p50_us - 50.0).abs() < 1.0, "{s:?}");
        assert!((s.max_us - 100.0).abs() < 1.0, "{s:?}");
    }
}
