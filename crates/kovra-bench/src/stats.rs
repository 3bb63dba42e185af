//! Summary statistics over a set of timings.

use std::time::Duration;

use serde_json::{Map, Value};

/// p50/p90/p99/mean/min/max of a sample, in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Nearest-rank percentile of a sorted sample.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted.len()) - 1;
    sorted.get(i).copied().map(micros).unwrap_or(0.0)
}

impl Summary {
    pub fn of(samples: &[Duration]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let total: f64 = sorted.iter().copied().map(micros).sum();
        Summary {
            n: sorted.len(),
            min: sorted.first().copied().map(micros).unwrap_or(0.0),
            p50: percentile(&sorted, 50.0),
            p90: percentile(&sorted, 90.0),
            p99: percentile(&sorted, 99.0),
            max: sorted.last().copied().map(micros).unwrap_or(0.0),
            mean: if sorted.is_empty() {
                0.0
            } else {
                total / sorted.len() as f64
            },
        }
    }

    pub fn line(&self, label: &str) -> String {
        format!(
            "{label}: n={} p50={:.1}us p90={:.1}us p99={:.1}us mean={:.1}us min={:.1}us max={:.1}us",
            self.n, self.p50, self.p90, self.p99, self.mean, self.min, self.max
        )
    }

    /// Add `PREFIX_p50_us`, `PREFIX_p90_us`… to a flat JSON object (flat so that a shell
    /// script can pick a field with sed).
    pub fn insert_into(&self, map: &mut Map<String, Value>, prefix: &str) {
        let r = |x: f64| (x * 10.0).round() / 10.0;
        let fields = [
            ("p50_us", r(self.p50)),
            ("p90_us", r(self.p90)),
            ("p99_us", r(self.p99)),
            ("mean_us", r(self.mean)),
            ("min_us", r(self.min)),
            ("max_us", r(self.max)),
        ];
        map.insert(format!("{prefix}_n"), Value::from(self.n));
        for (name, v) in fields {
            map.insert(format!("{prefix}_{name}"), Value::from(v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_one_to_hundred() {
        let v: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let s = Summary::of(&v);
        assert_eq!(s.p50, 50.0);
        assert_eq!(s.p90, 90.0);
        assert_eq!(s.p99, 99.0);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 100.0);
        assert!((s.mean - 50.5).abs() < 1e-9);
    }

    #[test]
    fn flat_fields() {
        let mut m = Map::new();
        Summary::of(&[Duration::from_micros(3)]).insert_into(&mut m, "x");
        assert_eq!(m.get("x_p50_us"), Some(&Value::from(3.0)));
        assert_eq!(m.get("x_n"), Some(&Value::from(1)));
    }

    #[test]
    fn empty_sample_is_zero() {
        let s = Summary::of(&[]);
        assert_eq!(s.n, 0);
        assert_eq!(s.p99, 0.0);
    }
}
