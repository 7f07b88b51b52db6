//! How long a stream may wait for an action attempt: the shortest of the
//! caller's gRPC deadline, the request's own limit and the server's maximum.

use std::time::Duration;

use tonic::metadata::MetadataMap;

use crate::api::error::GatewayError;

/// Ends the stream this much before the caller's deadline (at most), so the
/// caller receives the gateway's DEADLINE_EXCEEDED, with the attempt id,
/// rather than its own.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

pub fn wait_budget(
    metadata: &MetadataMap,
    requested: Option<&prost_types::Duration>,
    server_max: Duration,
) -> Result<Duration, GatewayError> {
    let mut budget = server_max;
    if let Some(requested) = requested {
        let requested = Duration::try_from(*requested)
            .map_err(|_| GatewayError::invalid_argument("wait_timeout", "must not be negative"))?;
        if !requested.is_zero() {
            budget = budget.min(requested);
        }
    }
    if let Some(deadline) = caller_deadline(metadata) {
        budget = budget.min(answer_within(deadline));
    }
    Ok(budget)
}

/// How long the gateway has to answer a caller whose deadline is `deadline`
/// away: a little less, so that its own status arrives before the caller's
/// timer fires.
pub fn answer_within(deadline: Duration) -> Duration {
    deadline.saturating_sub(DEADLINE_MARGIN.min(deadline / 10))
}

/// The `grpc-timeout` header: digits and a unit (H, M, S, m, u, n).
pub fn caller_deadline(metadata: &MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_timeout(value: &str) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        metadata.insert("grpc-timeout", value.parse().unwrap());
        metadata
    }

    const MAX: Duration = Duration::from_secs(60);

    #[test]
    fn server_maximum_applies_without_other_limits() {
        assert_eq!(wait_budget(&MetadataMap::new(), None, MAX).unwrap(), MAX);
    }

    #[test]
    fn the_shortest_limit_wins() {
        let five_seconds = prost_types::Duration { seconds: 5, nanos: 0 };
        assert_eq!(
            wait_budget(&MetadataMap::new(), Some(&five_seconds), MAX).unwrap(),
            Duration::from_secs(5)
        );
        assert_eq!(
            wait_budget(&with_timeout("2S"), Some(&five_seconds), MAX).unwrap(),
            Duration::from_millis(1900)
        );
        assert_eq!(wait_budget(&with_timeout("10H"), None, MAX).unwrap(), MAX);
        assert_eq!(
            wait_budget(&with_timeout("500m"), None, MAX).unwrap(),
            Duration::from_millis(450)
        );
    }

    #[test]
    fn zero_wait_timeout_means_unset_and_negative_is_invalid() {
        let zero = prost_types::Duration::default();
        assert_eq!(wait_budget(&MetadataMap::new(), Some(&zero), MAX).unwrap(), MAX);
        let negative = prost_types::Duration { seconds: -1, nanos: 0 };
        assert!(wait_budget(&MetadataMap::new(), Some(&negative), MAX).is_err());
    }

    #[test]
    fn malformed_grpc_timeout_is_ignored() {
        assert_eq!(wait_budget(&with_timeout("soon"), None, MAX).unwrap(), MAX);
    }
}
