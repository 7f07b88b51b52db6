//! The context of a decision: the hour (0–23) and the weekday in the
//! device's time zone (an IANA name such as `Europe/Paris` from Seam's
//! `location.time_zone`; UTC when the device has none or an unknown one), and
//! how the caller proved who it is. The time zone rules are jiff's bundled
//! copy of the IANA database.

use std::collections::HashMap;
use std::sync::Mutex;

use cedar_policy::{Context, RestrictedExpression};
use jiff::tz::TimeZone;
use jiff::{Timestamp, civil::Weekday};

use crate::identity::caller::AuthMethod;

/// The contexts decided with so far: at most 24 hours × 7 days × 3 methods.
/// Building one turns its values into Cedar's, which cost more than a sixth
/// of a decision (BENCHMARKS.md, one decision alone).
#[derive(Default)]
pub struct ContextCache {
    contexts: Mutex<HashMap<(i64, &'static str, AuthMethod), Context>>,
}

impl ContextCache {
    /// The context of a call by `auth_method` at a device's local `hour` and `weekday`.
    pub fn context(&self, hour: i64, weekday: &'static str, auth_method: AuthMethod) -> Result<Context, String> {
        let key = (hour, weekday, auth_method);
        let mut contexts = self.contexts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(context) = contexts.get(&key) {
            return Ok(context.clone());
        }
        let context = Context::from_pairs([
            ("local_hour".to_owned(), RestrictedExpression::new_long(hour)),
            (
                "weekday".to_owned(),
                RestrictedExpression::new_string(weekday.to_owned()),
            ),
            (
                "auth_method".to_owned(),
                RestrictedExpression::new_string(auth_method.as_str().to_owned()),
            ),
        ])
        .map_err(|e| e.to_string())?;
        contexts.insert(key, context.clone());
        Ok(context)
    }
}

/// The local time of a device at `now`: (hour, weekday as "mon" … "sun").
pub fn local_time(now: Timestamp, time_zone: Option<&str>) -> (i64, &'static str) {
    let zone = time_zone
        .and_then(|name| TimeZone::get(name).ok())
        .unwrap_or(TimeZone::UTC);
    let local = now.to_zoned_datetime(zone);
    let weekday = match local.weekday() {
        Weekday::Monday => "mon",
        Weekday::Tuesday => "tue",
        Weekday::Wednesday => "wed",
        Weekday::Thursday => "thu",
        Weekday::Friday => "fri",
        Weekday::Saturday => "sat",
        Weekday::Sunday => "sun",
    };
    (i64::from(local.hour()), weekday)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_and_days_are_the_devices() {
        // 2026-11-27 06:30 UTC is a Friday.
        let now: Timestamp = "2026-11-27T06:30:00Z".parse().unwrap();
        assert_eq!(local_time(now, None), (6, "fri"));
        assert_eq!(local_time(now, Some("Europe/Paris")), (7, "fri"));
        assert_eq!(local_time(now, Some("America/Los_Angeles")), (22, "thu"));
        assert_eq!(local_time(now, Some("Not/A_Zone")), (6, "fri"), "unknown zones are UTC");
        // Daylight saving time: 2026-07-01 06:30 UTC is 08:30 in Paris.
        let summer: Timestamp = "2026-07-01T06:30:00Z".parse().unwrap();
        assert_eq!(local_time(summer, Some("Europe/Paris")).0, 8);
    }
}
