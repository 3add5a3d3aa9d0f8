//! Parsing `RESULT` lines and summarising repeated measurements.

use std::collections::BTreeMap;

/// Sub-buckets per power of two in fdbench.c's latency histogram.
const SUB: u64 = 64;

/// One `RESULT ...` line of fdbench.c (or of the Rust client role).
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub ops: u64,
    pub errors: u64,
    pub ns: u64,
    pub workers_failed: u64,
    pub client_cpu_us: u64,
    /// Latency histogram: bucket index -> count.
    pub hist: BTreeMap<u32, u64>,
}

impl Outcome {
    /// Parses `RESULT key=value ...`; `None` for any other line.
    pub fn parse(line: &str) -> Option<Outcome> {
        let rest = line.trim().strip_prefix("RESULT ")?;
        let mut out = Outcome::default();
        for field in rest.split(' ') {
            let (key, value) = field.split_once('=')?;
            let num = || value.parse::<u64>().ok();
            match key {
                "ops" => out.ops = num()?,
                "errors" => out.errors = num()?,
                "ns" => out.ns = num()?,
                "workers_failed" => out.workers_failed = num()?,
                "client_cpu_us" => out.client_cpu_us = num()?,
                "hist" => {
                    for pair in value.split(',').filter(|p| !p.is_empty()) {
                        let (b, c) = pair.split_once(':')?;
                        *out.hist.entry(b.parse().ok()?).or_default() += c.parse::<u64>().ok()?;
                    }
                }
                _ => {}
            }
        }
        Some(out)
    }

    /// Adds another process's result (same measurement window).
    pub fn merge(&mut self, other: &Outcome) {
        self.ops += other.ops;
        self.errors += other.errors;
        self.ns = self.ns.max(other.ns);
        self.workers_failed += other.workers_failed;
        self.client_cpu_us += other.client_cpu_us;
        for (b, c) in &other.hist {
            *self.hist.entry(*b).or_default() += c;
        }
    }

    /// Nanoseconds per operation of a sequential loop.
    pub fn ns_per_op(&self) -> f64 {
        self.ns as f64 / self.ops.max(1) as f64
    }

    /// The `q` quantile (0..1) of the histogram, in nanoseconds (bucket midpoint).
    pub fn quantile(&self, q: f64) -> f64 {
        let total: u64 = self.hist.values().sum();
        if total == 0 {
            return f64::NAN;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (&b, &c) in &self.hist {
            seen += c;
            if seen >= rank {
                return bucket_mid(u64::from(b));
            }
        }
        f64::NAN
    }
}

/// The middle of histogram bucket `b` (see `bucket()` in fdbench.c).
fn bucket_mid(b: u64) -> f64 {
    if b < SUB {
        return b as f64;
    }
    let e = b / SUB + 5;
    let m = b % SUB + SUB;
    let width = 1u64 << (e - 6);
    (m << (e - 6)) as f64 + width as f64 / 2.0
}

/// Repeated measurements of one quantity.
#[derive(Debug, Clone, Default)]
pub struct Samples(pub Vec<f64>);

impl Samples {
    pub fn push(&mut self, v: f64) {
        if v.is_finite() {
            self.0.push(v);
        }
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    pub fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }

    /// Max/min spread in percent of the median: how noisy the repeats were.
    pub fn spread_pct(&self) -> f64 {
        (self.max() - self.min()) / self.median() * 100.0
    }
}
