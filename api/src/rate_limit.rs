//! Per-account request rate limit (Twilio's 20429): a token bucket per account, refilled at
//! `rate` requests/s up to a burst of `rate`. In memory, so each API replica limits on its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Clone)]
pub struct RateLimiter {
    rate: f64,
    buckets: Arc<Mutex<HashMap<String, (f64, Instant)>>>,
}

impl RateLimiter {
    /// `rate` requests per second per account; 0 turns limiting off.
    pub fn new(rate: u32) -> Self {
        Self { rate: rate as f64, buckets: Arc::default() }
    }

    /// Takes one token from the account's bucket; `Err(seconds)` to wait when it is empty.
    pub fn admit(&self, account: &str) -> Result<(), f64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        let (tokens, at) = buckets.entry(account.to_owned()).or_insert((self.rate, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.rate);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err((1.0 - *tokens) / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimiter;

    #[test]
    fn a_burst_beyond_the_rate_is_refused_per_account() {
        let limiter = RateLimiter::new(5);
        assert!((0..5).all(|_| limiter.admit("AC1").is_ok()));
        assert!(limiter.admit("AC1").is_err());
        assert!(limiter.admit("AC2").is_ok(), "another account has its own bucket");
        assert!((0..1000).all(|_| RateLimiter::new(0).admit("AC1").is_ok()));
    }
}
