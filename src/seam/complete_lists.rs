//! Reading every item of Seam's lists, not just the first `limit`.
//!
//! `/locks/list` and `/events/list` return at most `limit` items (500 by
//! default) and say nothing when more exist. A full page therefore means
//! "ask again": with Seam's cursor where an answer carries one; otherwise
//! locks are asked again for those created before the oldest seen, and an
//! event time window is split in two until each half holds less than a page.
//! Items seen twice across those reads are kept once. When no split can make
//! progress (more than a page of items in one millisecond) the read fails
//! rather than return a list with a silent gap.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use prost_types::Timestamp;

use super::client::{SeamClient, Upstreamed};
use super::credential::Credential;
use super::error::{UpstreamError, UpstreamFailure};
use super::model::{Device, Event};
use super::queries::{EventQuery, EventRange, EventsPageBody, LockQuery, LocksPageBody};

/// Items asked for per page: Seam's documented default `limit`.
pub const LIST_PAGE_LIMIT: usize = 500;
/// How far past "now" a window opened with `since` is closed when it must be
/// split (clocks differ a little between Seam and the gateway).
const OPEN_WINDOW_SLACK: Duration = Duration::from_secs(60);
/// A window this narrow is not split further.
const NARROWEST_WINDOW: Duration = Duration::from_millis(1);

impl SeamClient {
    /// Every lock matching `query`.
    pub async fn list_locks(
        &self,
        credential: &Credential,
        query: &LockQuery,
    ) -> Result<Upstreamed<Vec<Device>>, UpstreamError> {
        let mut locks: Vec<Device> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut body = LocksPageBody {
            query,
            limit: LIST_PAGE_LIMIT,
            created_before: None,
            page_cursor: None,
        };
        let mut request_id = None;
        loop {
            let answer = self.locks_page(credential, &body).await?;
            request_id = request_id.or(answer.request_id);
            let (page, pagination) = answer.body;
            let full = page.len() >= LIST_PAGE_LIMIT;
            let oldest = page
                .iter()
                .filter_map(|lock| lock.typed.created_at.as_deref())
                .filter_map(|text| Timestamp::from_str(text).ok())
                .min_by_key(|time| (time.seconds, time.nanos));
            let before = locks.len();
            for lock in page {
                if seen.insert(lock.typed.device_id.clone()) {
                    locks.push(lock);
                }
            }
            if let Some(cursor) = pagination.filter(|p| p.has_next_page).and_then(|p| p.next_page_cursor) {
                body.page_cursor = Some(cursor);
                continue;
            }
            if !full {
                break;
            }
            match oldest {
                // One millisecond later than the oldest, so that locks created
                // in the same instant are not skipped (they are deduplicated).
                Some(oldest) if locks.len() > before => {
                    body.created_before = Some(later_by(&oldest, NARROWEST_WINDOW).to_string());
                }
                _ => return Err(incomplete("/locks/list", "a full page brought no lock not seen before")),
            }
        }
        Ok(Upstreamed {
            body: locks,
            request_id,
        })
    }

    /// Every event matching `query`.
    pub async fn list_events(
        &self,
        credential: &Credential,
        query: &EventQuery,
    ) -> Result<Upstreamed<Vec<Event>>, UpstreamError> {
        let (start, end) = match &query.range {
            EventRange::Since(since) => {
                let answer = self.events_window(credential, query, Some(since), None).await?;
                if answer.body.len() < LIST_PAGE_LIMIT {
                    return Ok(answer);
                }
                let end = Timestamp::from(std::time::SystemTime::now() + OPEN_WINDOW_SLACK);
                (parse(since)?, end)
            }
            EventRange::Between(start, end) => (parse(start)?, parse(end)?),
        };
        let mut events = Vec::new();
        let mut seen = HashSet::new();
        let mut windows = vec![(start, end)];
        let mut request_id = None;
        while let Some((start, end)) = windows.pop() {
            let (from, to) = (start.to_string(), end.to_string());
            let answer = self.events_window(credential, query, None, Some([&from, &to])).await?;
            request_id = request_id.or(answer.request_id);
            if answer.body.len() >= LIST_PAGE_LIMIT {
                let width = duration_between(&start, &end);
                if width <= NARROWEST_WINDOW {
                    return Err(incomplete(
                        "/events/list",
                        "more than a page of events within one millisecond",
                    ));
                }
                // Seam's `between` excludes both bounds: the first half ends
                // a millisecond after the middle so that nothing at the
                // middle falls between the two.
                let middle = later_by(&start, width / 2);
                windows.push((middle, end));
                windows.push((start, later_by(&middle, NARROWEST_WINDOW)));
                continue;
            }
            for event in answer.body {
                if seen.insert(event.typed.event_id.clone()) {
                    events.push(event);
                }
            }
        }
        Ok(Upstreamed {
            body: events,
            request_id,
        })
    }

    async fn events_window(
        &self,
        credential: &Credential,
        query: &EventQuery,
        since: Option<&str>,
        between: Option<[&str; 2]>,
    ) -> Result<Upstreamed<Vec<Event>>, UpstreamError> {
        let body = EventsPageBody {
            since,
            between,
            device_ids: &query.device_ids,
            event_types: &query.event_types,
            limit: LIST_PAGE_LIMIT,
        };
        self.events_page(credential, &body).await
    }
}

fn parse(text: &str) -> Result<Timestamp, UpstreamError> {
    Timestamp::from_str(text).map_err(|_| incomplete("/events/list", "a time bound is not RFC 3339"))
}

fn later_by(time: &Timestamp, by: Duration) -> Timestamp {
    let nanos = i128::from(time.seconds) * 1_000_000_000 + i128::from(time.nanos) + by.as_nanos() as i128;
    Timestamp {
        seconds: nanos.div_euclid(1_000_000_000) as i64,
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    }
}

fn duration_between(start: &Timestamp, end: &Timestamp) -> Duration {
    let start = i128::from(start.seconds) * 1_000_000_000 + i128::from(start.nanos);
    let end = i128::from(end.seconds) * 1_000_000_000 + i128::from(end.nanos);
    Duration::from_nanos(u64::try_from((end - start).max(0)).unwrap_or(u64::MAX))
}

fn incomplete(path: &'static str, detail: &str) -> UpstreamError {
    UpstreamError {
        failure: Box::new(UpstreamFailure::ListIncomplete {
            detail: detail.to_owned(),
        }),
        request_id: None,
        path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_measured_and_moved_in_nanoseconds() {
        let start = Timestamp::from_str("2026-01-01T00:00:00.999Z").unwrap();
        let later = later_by(&start, Duration::from_millis(2));
        assert_eq!(later.to_string(), "2026-01-01T00:00:01.001Z");
        assert_eq!(duration_between(&start, &later), Duration::from_millis(2));
        assert_eq!(duration_between(&later, &start), Duration::ZERO);
    }
}
