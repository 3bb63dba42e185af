//! Per-provider sliding-window rate limits, in memory: a runaway agent loop cannot hammer a
//! provider (or run up a bill) through kovra.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::registry::RateLimit;

#[derive(Debug, Default)]
pub struct RateLimiter {
    recent: HashMap<String, VecDeque<Instant>>,
}

impl RateLimiter {
    /// Admit one call now, or say how long until one would be admitted.
    pub fn admit(
        &mut self,
        provider: &str,
        limit: RateLimit,
        now: Instant,
    ) -> Result<(), Duration> {
        let window = Duration::from_secs(u64::from(limit.per_seconds));
        let calls = self.recent.entry(provider.to_string()).or_default();
        while calls
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            calls.pop_front();
        }
        if calls.len() >= limit.requests as usize {
            let oldest = calls.front().copied().unwrap_or(now);
            return Err(window.saturating_sub(now.saturating_duration_since(oldest)));
        }
        calls.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_then_frees_with_the_window() {
        let mut l = RateLimiter::default();
        let limit = RateLimit {
            requests: 2,
            per_seconds: 10,
        };
        let t0 = Instant::now();
        assert!(l.admit("p", limit, t0).is_ok());
        assert!(l.admit("p", limit, t0).is_ok());
        let wait = l.admit("p", limit, t0 + Duration::from_secs(3));
        assert_eq!(wait, Err(Duration::from_secs(7)));
        assert!(l.admit("other", limit, t0).is_ok());
        assert!(l.admit("p", limit, t0 + Duration::from_secs(10)).is_ok());
    }
}
