//! `--command-rate-limit N/UNIT`: how many commands (LockDoor, UnlockDoor)
//! one caller may send, per second, minute or hour, with bursts up to N
//! (governor's GCRA, keyed by the caller). Over it a command ends
//! RESOURCE_EXHAUSTED with RetryInfo, is audited as denied, and is not sent.
//! Callers not seen for a while are forgotten, so the table stays small.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// A parsed `N/UNIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandRate {
    pub count: NonZeroU32,
    pub per: Duration,
}

/// Parses `10/s`, `30/m`, `100/h` (also `sec`, `min`, `hour`).
pub fn parse_command_rate(text: &str) -> Result<CommandRate, String> {
    let (count, unit) = text
        .trim()
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a rate like 10/s, 30/m or 100/h"))?;
    let count: u32 = count
        .trim()
        .parse()
        .map_err(|_| format!("`{text}`: the count must be a whole number"))?;
    let count = NonZeroU32::new(count).ok_or_else(|| format!("`{text}`: the count must be at least 1"))?;
    let per = match unit.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        other => return Err(format!("`{text}`: unknown unit `{other}` (s, m or h)")),
    };
    Ok(CommandRate { count, per })
}

/// One limiter per caller.
pub struct CommandRateLimiter {
    limiter: DefaultKeyedRateLimiter<Arc<str>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for CommandRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandRateLimiter")
            .field("callers", &self.limiter.len())
            .finish()
    }
}

impl CommandRateLimiter {
    pub fn new(rate: CommandRate) -> Self {
        let period = rate.per / rate.count.get();
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(rate.count))
            .allow_burst(rate.count);
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// `Ok` when `caller` may send a command now; else how long until it may.
    pub fn check(&self, caller: &Arc<str>) -> Result<(), Duration> {
        self.limiter
            .check_key(caller)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets callers whose limit is back to full.
    pub fn forget_idle_callers(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_their_unit() {
        let rate = parse_command_rate("10/s").unwrap();
        assert_eq!((rate.count.get(), rate.per), (10, Duration::from_secs(1)));
        assert_eq!(parse_command_rate(" 30 / m ").unwrap().per, Duration::from_secs(60));
        assert_eq!(parse_command_rate("100/hour").unwrap().per, Duration::from_secs(3600));
        for bad in ["10", "0/s", "-1/s", "ten/s", "10/d", ""] {
            assert!(parse_command_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_caller_has_its_own_burst_then_waits() {
        let limiter = CommandRateLimiter::new(parse_command_rate("3/m").unwrap());
        let frontdesk: Arc<str> = Arc::from("frontdesk");
        let billing: Arc<str> = Arc::from("billing");
        for _ in 0..3 {
            assert!(limiter.check(&frontdesk).is_ok());
        }
        let wait = limiter.check(&frontdesk).unwrap_err();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limiter.check(&billing).is_ok(), "another caller is not affected");
    }
}
