//! GetEvent and ListEvents against Seam's fake.
use crate::support;

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use prost_types::Timestamp;
use seam_grpc_gateway::pb;
use serde_json::json;
use support::{FakeSeam, Gateway, LOCK_1, LOCK_2};
use tonic::Code;

async fn make_lock_events(fake: &FakeSeam, count: usize) {
    for i in 0..count {
        let device_id = if i % 2 == 0 { LOCK_1 } else { LOCK_2 };
        let path = if i % 4 < 2 {
            "/locks/lock_door"
        } else {
            "/locks/unlock_door"
        };
        let answer = fake.post(path, json!({ "device_id": device_id })).await;
        assert_eq!(answer["ok"], true, "{answer}");
    }
}

#[tokio::test]
async fn get_event_returns_the_seeded_event_and_not_found_otherwise() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let mut client = gateway.events().await;
    let event = client
        .get_event(pb::GetEventRequest {
            event_id: "event1".into(),
        })
        .await
        .expect("GetEvent")
        .into_inner()
        .event
        .expect("event");
    assert_eq!(event.event_type, "device.connected");
    assert_eq!(event.device_id, LOCK_1);
    assert!(event.created_at.is_some() && event.occurred_at.is_some());

    let status = client
        .get_event(pb::GetEventRequest {
            event_id: "no_such_event".into(),
        })
        .await
        .expect_err("unknown event");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(support::error_info(&status).metadata["event_id"], "no_such_event");
}

#[tokio::test]
async fn list_events_with_small_pages_returns_every_event_once() {
    let fake = FakeSeam::start().await;
    make_lock_events(&fake, 7).await;
    let gateway = Gateway::start(&fake.url).await;
    let mut client = gateway.events().await;

    let mut ids = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_events(pb::ListEventsRequest {
                page_size: 2,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("ListEvents")
            .into_inner();
        assert!(page.events.len() <= 2);
        ids.extend(page.events.into_iter().map(|e| e.event_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no event repeated: {ids:?}");
    // The seeded device.connected events plus the 7 lock events.
    let upstream = fake.database().await["events"].as_array().map_or(0, Vec::len);
    assert_eq!(ids.len(), upstream, "no event skipped: {ids:?}");
    assert!(ids.len() >= 8);
}

#[tokio::test]
async fn list_events_filters_by_type_and_device() {
    let fake = FakeSeam::start().await;
    make_lock_events(&fake, 4).await;
    let gateway = Gateway::start(&fake.url).await;
    let page = gateway
        .events()
        .await
        .list_events(pb::ListEventsRequest {
            event_types: vec!["lock.locked".into()],
            device_ids: vec![LOCK_2.into()],
            ..Default::default()
        })
        .await
        .expect("ListEvents")
        .into_inner();
    assert_eq!(page.events.len(), 1, "{:?}", page.events);
    assert_eq!(page.events[0].event_type, "lock.locked");
    assert_eq!(page.events[0].device_id, LOCK_2);
}

#[tokio::test]
async fn list_events_outside_the_range_is_empty_and_a_reversed_range_is_invalid() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let mut client = gateway.events().await;
    let long_ago = SystemTime::now() - Duration::from_secs(30 * 24 * 3600);
    let page = client
        .list_events(pb::ListEventsRequest {
            start_time: Some(Timestamp::from(long_ago - Duration::from_secs(3600))),
            end_time: Some(Timestamp::from(long_ago)),
            ..Default::default()
        })
        .await
        .expect("ListEvents")
        .into_inner();
    assert!(page.events.is_empty());

    let status = client
        .list_events(pb::ListEventsRequest {
            start_time: Some(Timestamp::from(long_ago)),
            end_time: Some(Timestamp::from(long_ago - Duration::from_secs(1))),
            ..Default::default()
        })
        .await
        .expect_err("reversed range");
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_page_token_used_with_other_filters_is_invalid() {
    let fake = FakeSeam::start().await;
    make_lock_events(&fake, 4).await;
    let gateway = Gateway::start(&fake.url).await;
    let mut client = gateway.events().await;
    let first = client
        .list_events(pb::ListEventsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("ListEvents")
        .into_inner();
    assert!(!first.next_page_token.is_empty());
    let status = client
        .list_events(pb::ListEventsRequest {
            page_size: 1,
            page_token: first.next_page_token,
            event_types: vec!["lock.locked".into()],
            ..Default::default()
        })
        .await
        .expect_err("other filters");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(support::error_info(&status).metadata["field"], "page_token");
}
