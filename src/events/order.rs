//! The one order of events, used by ListEvents pages and WatchEvents streams:
//! by `created_at`, then `event_id`, so that events sharing a timestamp have a
//! stable place and a resume point is exact.

use std::time::Duration;

use prost_types::Timestamp;

pub use crate::api::paging::Position;
use crate::pb;

/// An event's place in the order is a [`Position`] (time, then id), the same
/// type that pages lists.
impl Position {
    pub fn of(event: &pb::Event) -> Self {
        Position::new(event.created_at.as_ref(), &event.event_id)
    }

    /// Just before every event created at or after `time`.
    pub fn at(time: &Timestamp) -> Self {
        Position::new(Some(time), "")
    }

    pub fn time(&self) -> Timestamp {
        Timestamp {
            seconds: self.seconds,
            nanos: self.nanos,
        }
    }
}

/// `time` moved `by` into the past.
pub fn earlier_by(time: &Timestamp, by: Duration) -> Timestamp {
    let nanos = i128::from(time.seconds) * 1_000_000_000 + i128::from(time.nanos) - by.as_nanos() as i128;
    Timestamp {
        seconds: nanos.div_euclid(1_000_000_000) as i64,
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    }
}

/// The later of two times.
pub fn later(a: Timestamp, b: Timestamp) -> Timestamp {
    if (a.seconds, a.nanos) >= (b.seconds, b.nanos) {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_by_borrows_across_seconds() {
        let time = Timestamp {
            seconds: 10,
            nanos: 500,
        };
        assert_eq!(
            earlier_by(&time, Duration::from_millis(1)),
            Timestamp {
                seconds: 9,
                nanos: 999_000_500
            }
        );
    }

    #[test]
    fn a_time_position_comes_before_every_event_at_that_time() {
        let time = Timestamp { seconds: 5, nanos: 0 };
        let event = pb::Event {
            event_id: "a".into(),
            created_at: Some(time),
            ..Default::default()
        };
        assert!(Position::at(&time) < Position::of(&event));
    }
}
