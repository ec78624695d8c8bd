//! [`Backoff`]: when to try connecting again, as socket.io-client does it: exponential
//! from `min` (doubling) up to `max`, each delay moved up or down at random by up to
//! `jitter` of itself.

use std::time::Duration;

/// The reconnect policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReconnectPolicy {
    /// The first delay (socket.io-client's `reconnectionDelay`, 1 s).
    pub min: Duration,
    /// The longest delay (`reconnectionDelayMax`, 5 s).
    pub max: Duration,
    /// How much a delay may move, as a fraction of it (`randomizationFactor`, 0.5).
    pub jitter: f64,
    /// Attempts before giving up; `None` tries forever (socket.io-client's default).
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            min: Duration::from_secs(1),
            max: Duration::from_secs(5),
            jitter: 0.5,
            max_attempts: None,
        }
    }
}

/// Successive reconnect delays under a [`ReconnectPolicy`].
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: ReconnectPolicy,
    attempts: u32,
    rng: XorShift,
}

impl Backoff {
    /// A backoff whose jitter draws from a generator seeded with `seed`.
    pub fn new(policy: ReconnectPolicy, seed: u64) -> Self {
        Self {
            policy,
            attempts: 0,
            rng: XorShift::new(seed),
        }
    }

    /// The delay before the next attempt, and that attempt's number (from 1); `None`
    /// once the policy's attempts are used up.
    pub fn next_delay(&mut self) -> Option<(u32, Duration)> {
        if self
            .policy
            .max_attempts
            .is_some_and(|max| self.attempts >= max)
        {
            return None;
        }
        let base = self.policy.min.as_secs_f64() * 2f64.powi(self.attempts.min(64) as i32);
        self.attempts += 1;
        let rand = self.rng.next_f64();
        let deviation = rand * self.policy.jitter.clamp(0.0, 1.0) * base;
        // socket.io-client picks the direction from the same draw.
        let jittered = if (rand * 10.0) as u64 & 1 == 0 {
            base - deviation
        } else {
            base + deviation
        };
        let delay = Duration::from_secs_f64(jittered.clamp(0.0, self.policy.max.as_secs_f64()));
        Some((self.attempts, delay))
    }

    /// Attempts made since the last [`reset`](Self::reset).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Starts over from the first delay: call on a successful connection.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

/// xorshift64*: enough randomness for jitter, with no platform source, so the core stays
/// deterministic under test and the same on native and wasm.
#[derive(Debug, Clone)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Zero is the one state xorshift never leaves.
        Self(seed | 1)
    }

    fn next_f64(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let out = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        // The top 53 bits, as a fraction in [0, 1).
        (out >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_jitter() -> ReconnectPolicy {
        ReconnectPolicy {
            jitter: 0.0,
            ..ReconnectPolicy::default()
        }
    }

    #[test]
    fn without_jitter_it_doubles_from_one_second_up_to_five() {
        let mut backoff = Backoff::new(no_jitter(), 1);
        let delays: Vec<u64> = (0..6)
            .map(|_| backoff.next_delay().unwrap().1.as_millis() as u64)
            .collect();
        assert_eq!(delays, [1000, 2000, 4000, 5000, 5000, 5000]);
    }

    #[test]
    fn jitter_stays_within_half_of_each_delay_and_varies() {
        let mut seen = std::collections::HashSet::new();
        for seed in 0..200 {
            let mut backoff = Backoff::new(ReconnectPolicy::default(), seed);
            for base in [1000.0, 2000.0, 4000.0] {
                let (_, delay) = backoff.next_delay().unwrap();
                let ms = delay.as_secs_f64() * 1000.0;
                assert!(
                    ms >= base * 0.5 - 1e-6 && ms <= (base * 1.5).min(5000.0) + 1e-6,
                    "{ms} for {base}"
                );
                seen.insert(delay.as_millis());
            }
        }
        assert!(
            seen.len() > 100,
            "jitter should spread delays, saw {}",
            seen.len()
        );
    }

    #[test]
    fn attempts_count_from_one_reset_and_run_out() {
        let mut backoff = Backoff::new(
            ReconnectPolicy {
                max_attempts: Some(2),
                ..no_jitter()
            },
            7,
        );
        assert_eq!(backoff.next_delay().map(|(n, _)| n), Some(1));
        assert_eq!(backoff.next_delay().map(|(n, _)| n), Some(2));
        assert_eq!(backoff.next_delay(), None);
        backoff.reset();
        assert_eq!(
            backoff.next_delay(),
            Some((1, Duration::from_secs(1))),
            "back to the first delay"
        );
    }

    #[test]
    fn the_generator_is_uniform_enough() {
        let mut rng = XorShift::new(42);
        let draws: Vec<f64> = (0..10_000).map(|_| rng.next_f64()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
    }
}
