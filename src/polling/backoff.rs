//! The one backoff of the gateway: delays that grow from `initial` by
//! `multiplier` up to `max`. Attempt pollers follow it between checks; event
//! tails and WatchEvents replays follow it while Seam fails. A failure that
//! came with Seam's `Retry-After` (capped by the Seam client) waits at least
//! that long.

use std::time::Duration;

use crate::seam::UpstreamError;

/// A schedule of growing delays.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub multiplier: f64,
    pub max: Duration,
}

impl Backoff {
    /// Doubling from `initial` up to `max`: the retry schedule of tails and replays.
    pub fn doubling(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            multiplier: 2.0,
            max,
        }
    }

    /// The delays, starting with `initial`.
    pub fn delays(&self) -> Delays {
        Delays {
            schedule: *self,
            next: self.initial.min(self.max),
        }
    }
}

/// The delays of one [`Backoff`], in order.
#[derive(Debug, Clone)]
pub struct Delays {
    schedule: Backoff,
    next: Duration,
}

impl Delays {
    /// The next delay, stretched to Seam's `Retry-After` when the failure
    /// that calls for it carried one.
    pub fn after_failure(&mut self, error: &UpstreamError) -> Duration {
        self.next_delay().max(error.retry_after().unwrap_or_default())
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = Duration::from_secs_f64(delay.as_secs_f64() * self.schedule.multiplier).min(self.schedule.max);
        delay
    }

    /// Back to `initial` (after a success).
    pub fn reset(&mut self) {
        self.next = self.schedule.initial.min(self.schedule.max);
    }
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(self.next_delay())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seam::UpstreamFailure;

    #[test]
    fn delays_grow_to_the_cap_and_reset() {
        let mut delays = Backoff::doubling(Duration::from_secs(1), Duration::from_secs(5)).delays();
        let seconds: Vec<u64> = delays.by_ref().take(5).map(|d| d.as_secs()).collect();
        assert_eq!(seconds, [1, 2, 4, 5, 5]);
        delays.reset();
        assert_eq!(delays.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn retry_after_stretches_a_delay() {
        let mut delays = Backoff::doubling(Duration::from_secs(1), Duration::from_secs(5)).delays();
        let throttled = UpstreamError {
            failure: Box::new(UpstreamFailure::Status {
                http_status: 429,
                retry_after: Some(Duration::from_secs(20)),
            }),
            request_id: None,
            path: "/events/list",
        };
        assert_eq!(delays.after_failure(&throttled), Duration::from_secs(20));
        assert_eq!(delays.next_delay(), Duration::from_secs(2), "the schedule went on");
    }
}
