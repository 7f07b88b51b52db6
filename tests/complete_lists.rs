//! Seam's `/locks/list` and `/events/list` return at most `limit` items (500
//! by default) and Seam's fake ignores `limit`. Against an upstream that
//! enforces it, every lock and every event still arrives, each exactly once,
//! through ListLocks, ListEvents and WatchEvents' replay.
use crate::support;

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prost_types::Timestamp;
use seam_grpc_gateway::{Config, pb};
use serde_json::{Value, json};
use support::scripted_upstream::{CannedResponse, ReceivedRequest, ScriptedUpstream};
use support::{API_KEY, Gateway};

const ITEMS: usize = 1200;

fn at(base: &Timestamp, millis: i64) -> Timestamp {
    let nanos = i128::from(base.seconds) * 1_000_000_000 + i128::from(base.nanos) + i128::from(millis) * 1_000_000;
    Timestamp {
        seconds: nanos.div_euclid(1_000_000_000) as i64,
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    }
}

fn key(time: &Timestamp) -> (i64, i32) {
    (time.seconds, time.nanos)
}

fn time_of(item: &Value) -> (i64, i32) {
    key(&Timestamp::from_str(item["created_at"].as_str().expect("created_at")).expect("RFC 3339"))
}

fn bound(body: &Value, name: &str) -> Option<(i64, i32)> {
    body[name]
        .as_str()
        .map(|text| key(&Timestamp::from_str(text).expect("RFC 3339 bound")))
}

/// A Seam that keeps its documented limits: `/locks/list` newest first,
/// `/events/list` oldest first, never more than `limit` (500 when unsent).
struct LimitedSeam {
    locks: Vec<Value>,
    events: Vec<Value>,
}

impl LimitedSeam {
    fn new(base: &Timestamp) -> Self {
        // Pairs share a timestamp, so that ties sit on page boundaries.
        let locks = (0..ITEMS)
            .map(|n| {
                json!({"device_id": format!("lock{n:04}"), "device_type": "august_lock",
                       "created_at": at(base, (n / 2) as i64 * 1000).to_string(),
                       "properties": {"online": true}})
            })
            .collect();
        let events = (0..ITEMS)
            .map(|n| {
                let time = at(base, (n / 2) as i64 * 100).to_string();
                json!({"event_id": format!("event{n:04}"), "event_type": "lock.locked",
                       "device_id": "lock0001", "workspace_id": "w1",
                       "created_at": time, "occurred_at": time})
            })
            .collect();
        Self { locks, events }
    }

    fn answer(&self, request: &ReceivedRequest) -> CannedResponse {
        let body = &request.body;
        let limit = body["limit"].as_u64().unwrap_or(500) as usize;
        match request.path.as_str() {
            "/locks/list" => {
                let before = bound(body, "created_before");
                let mut locks: Vec<&Value> = self
                    .locks
                    .iter()
                    .filter(|lock| before.is_none_or(|before| time_of(lock) < before))
                    .collect();
                locks.sort_by_key(|lock| std::cmp::Reverse(time_of(lock)));
                locks.truncate(limit);
                CannedResponse::json(&json!({"locks": locks, "devices": locks, "ok": true}))
            }
            "/events/list" => {
                let since = bound(body, "since");
                let between = body["between"].as_array().map(|pair| {
                    let parse = |v: &Value| key(&Timestamp::from_str(v.as_str().expect("bound")).expect("RFC 3339"));
                    (parse(&pair[0]), parse(&pair[1]))
                });
                let mut events: Vec<&Value> = self
                    .events
                    .iter()
                    .filter(|event| {
                        let time = time_of(event);
                        since.is_none_or(|since| time > since)
                            && between.is_none_or(|(start, end)| start < time && time < end)
                    })
                    .collect();
                events.sort_by_key(|event| time_of(event));
                events.truncate(limit);
                CannedResponse::json(&json!({"events": events, "ok": true}))
            }
            _ => CannedResponse::new("404 Not Found", "application/json", "{}"),
        }
    }
}

async fn start() -> (ScriptedUpstream, Gateway, Timestamp) {
    let base = Timestamp::from(SystemTime::now() - Duration::from_secs(3600));
    let seam = Arc::new(LimitedSeam::new(&base));
    let upstream = ScriptedUpstream::scripted(move |request| seam.answer(request)).await;
    let mut config = Config::for_endpoint(&upstream.url);
    config.seam_api_key = Some(API_KEY.to_owned().into());
    config.events_buffer = 16;
    let gateway = Gateway::start_with(config).await;
    (upstream, gateway, base)
}

fn assert_each_once(ids: &[String]) {
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), ITEMS, "items delivered");
    assert_eq!(unique.len(), ITEMS, "distinct items");
}

#[tokio::test]
async fn list_locks_returns_every_lock_once() {
    let (upstream, gateway, _) = start().await;
    let mut client = gateway.locks().await;
    let mut ids = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_locks(pb::ListLocksRequest {
                page_size: 500,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("ListLocks")
            .into_inner();
        ids.extend(page.locks.into_iter().map(|lock| lock.device_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_each_once(&ids);
    assert!(
        upstream.received().iter().all(|r| r.body["limit"] == 500),
        "every page asks for a limit"
    );
}

#[tokio::test]
async fn list_events_returns_every_event_once() {
    let (_upstream, gateway, base) = start().await;
    let mut client = gateway.events().await;
    let mut ids = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_events(pb::ListEventsRequest {
                start_time: Some(at(&base, -1000)),
                end_time: Some(at(&base, 600_000)),
                page_size: 500,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("ListEvents")
            .into_inner();
        ids.extend(page.events.into_iter().map(|event| event.event_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_each_once(&ids);
}

#[tokio::test]
async fn watch_events_replays_every_event_once_and_waits_for_the_caller() {
    let (_upstream, gateway, base) = start().await;
    let mut stream = gateway
        .events()
        .await
        .watch_events(pb::WatchEventsRequest {
            resume_from: Some(pb::watch_events_request::ResumeFrom::StartTime(at(&base, -1000))),
            ..Default::default()
        })
        .await
        .expect("WatchEvents")
        .into_inner();
    let mut ids = Vec::new();
    while ids.len() < ITEMS {
        let message = tokio::time::timeout(Duration::from_secs(20), stream.message())
            .await
            .expect("the replay keeps coming")
            .unwrap_or_else(|status| panic!("the replay ended after {} events: {status:?}", ids.len()))
            .expect("a message");
        ids.push(message.event.expect("event").event_id);
    }
    assert_each_once(&ids);
}
