//! WatchEvents against Seam's fake: live events, filters, resuming without
//! duplicates or gaps, one shared tail, and outages that lose nothing.
use crate::support;

use std::time::Duration;

use seam_grpc_gateway::{Config, pb};
use support::{FakeSeam, Gateway, LOCK_1, LOCK_2};
use tonic::{Code, Streaming};

fn config(fake: &FakeSeam) -> Config {
    let mut config = Config::for_endpoint(&fake.url);
    config.seam_api_key = Some(support::API_KEY.to_owned().into());
    config.events_poll_interval = Duration::from_millis(100);
    config
}

async fn watch(gateway: &Gateway, request: pb::WatchEventsRequest) -> Streaming<pb::WatchEventsResponse> {
    gateway
        .events()
        .await
        .watch_events(request)
        .await
        .expect("WatchEvents")
        .into_inner()
}

async fn next_event(stream: &mut Streaming<pb::WatchEventsResponse>) -> pb::Event {
    tokio::time::timeout(Duration::from_secs(20), stream.message())
        .await
        .expect("an event within 20 s")
        .expect("the stream is healthy")
        .expect("the stream is open")
        .event
        .expect("event")
}

/// Locks through the gateway and waits for the stream to finish.
async fn lock(gateway: &Gateway, device_id: &str) {
    support::lock_door_to_the_end(&mut gateway.locks().await, device_id).await;
}

/// Directly in the fake: a lock event without the gateway's help.
async fn lock_directly(fake: &FakeSeam, device_id: &str, path: &str) {
    let answer = fake.post(path, serde_json::json!({ "device_id": device_id })).await;
    assert_eq!(answer["ok"], true, "{answer}");
}

#[tokio::test]
async fn lock_door_makes_lock_locked_arrive_and_other_devices_filters_see_nothing_of_it() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start_with(config(&fake)).await;
    let mut lock_1_events = watch(
        &gateway,
        pb::WatchEventsRequest {
            device_ids: vec![LOCK_1.into()],
            ..Default::default()
        },
    )
    .await;
    let mut lock_2_events = watch(
        &gateway,
        pb::WatchEventsRequest {
            device_ids: vec![LOCK_2.into()],
            ..Default::default()
        },
    )
    .await;

    lock(&gateway, LOCK_1).await;
    let event = next_event(&mut lock_1_events).await;
    assert_eq!(event.event_type, "lock.locked");
    assert_eq!(event.device_id, LOCK_1);

    // If the LOCK_2 stream had received LOCK_1's event, it would come first.
    lock(&gateway, LOCK_2).await;
    let event = next_event(&mut lock_2_events).await;
    assert_eq!(
        (event.event_type.as_str(), event.device_id.as_str()),
        ("lock.locked", LOCK_2)
    );
}

#[tokio::test]
async fn event_type_filter_applies() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start_with(config(&fake)).await;
    let mut unlocks = watch(
        &gateway,
        pb::WatchEventsRequest {
            event_types: vec!["lock.unlocked".into()],
            ..Default::default()
        },
    )
    .await;
    lock_directly(&fake, LOCK_1, "/locks/lock_door").await;
    lock_directly(&fake, LOCK_1, "/locks/unlock_door").await;
    let event = next_event(&mut unlocks).await;
    assert_eq!(event.event_type, "lock.unlocked");
}

#[tokio::test]
async fn reconnecting_from_the_last_event_id_has_no_duplicates_and_no_gaps() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start_with(config(&fake)).await;
    let mut first = watch(&gateway, pb::WatchEventsRequest::default()).await;
    for n in 0..6 {
        let path = if n % 2 == 0 {
            "/locks/lock_door"
        } else {
            "/locks/unlock_door"
        };
        lock_directly(&fake, LOCK_1, path).await;
    }
    let mut seen = vec![
        next_event(&mut first).await.event_id,
        next_event(&mut first).await.event_id,
    ];
    drop(first);

    let mut resumed = watch(
        &gateway,
        pb::WatchEventsRequest {
            resume_from: Some(pb::watch_events_request::ResumeFrom::AfterEventId(seen[1].clone())),
            ..Default::default()
        },
    )
    .await;
    for _ in 0..4 {
        seen.push(next_event(&mut resumed).await.event_id);
    }
    lock_directly(&fake, LOCK_2, "/locks/lock_door").await;
    let live = next_event(&mut resumed).await;
    assert_eq!(live.device_id, LOCK_2, "then live events follow");
    seen.push(live.event_id);

    // The same events in the same order as Seam's history lists them.
    let listed: Vec<String> = gateway
        .events()
        .await
        .list_events(pb::ListEventsRequest {
            event_types: vec!["lock.locked".into(), "lock.unlocked".into()],
            ..Default::default()
        })
        .await
        .expect("ListEvents")
        .into_inner()
        .events
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(seen, listed);
}

#[tokio::test]
async fn resuming_from_an_unknown_event_is_not_found() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start_with(config(&fake)).await;
    let status = gateway
        .events()
        .await
        .watch_events(pb::WatchEventsRequest {
            resume_from: Some(pb::watch_events_request::ResumeFrom::AfterEventId(
                "no_such_event".into(),
            )),
            ..Default::default()
        })
        .await
        .expect_err("unknown resume point");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn an_outage_of_events_list_loses_nothing() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start_with(config(&fake)).await;
    let mut stream = watch(&gateway, pb::WatchEventsRequest::default()).await;
    lock_directly(&fake, LOCK_1, "/locks/lock_door").await;
    let before = next_event(&mut stream).await;

    fake.outage(&["/events/list"]).await;
    lock_directly(&fake, LOCK_1, "/locks/unlock_door").await;
    lock_directly(&fake, LOCK_2, "/locks/lock_door").await;
    // Several tail intervals fail while the outage lasts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    fake.outage(&[]).await;

    let during = [next_event(&mut stream).await, next_event(&mut stream).await];
    assert_eq!(during[0].event_type, "lock.unlocked");
    assert_eq!(
        (during[1].event_type.as_str(), during[1].device_id.as_str()),
        ("lock.locked", LOCK_2)
    );
    assert_ne!(during[0].event_id, before.event_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_watchers_share_one_tail() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start_with(config(&fake)).await;
    let channel = gateway.channel().await;
    let mut streams = Vec::new();
    for _ in 0..100 {
        let mut client = pb::event_service_client::EventServiceClient::new(channel.clone());
        streams.push(
            client
                .watch_events(pb::WatchEventsRequest::default())
                .await
                .expect("WatchEvents")
                .into_inner(),
        );
    }
    let before = fake.request_counter().await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let polls = fake.request_counter().await - before - 1;
    // One tail at 100 ms polls about 10 times a second; one per watcher would be 1000.
    assert!(
        (5..=15).contains(&polls),
        "{polls} upstream polls in one second for 100 watchers"
    );

    lock_directly(&fake, LOCK_1, "/locks/lock_door").await;
    for stream in &mut streams {
        assert_eq!(next_event(stream).await.event_type, "lock.locked");
    }
}

#[tokio::test]
async fn a_caller_that_does_not_read_is_cut_off_with_its_resume_point() {
    let fake = FakeSeam::start().await;
    let mut config = config(&fake);
    config.events_buffer = 50;
    let gateway = Gateway::start_with(config).await;
    // The slow caller grants almost no HTTP/2 flow-control window, so what it
    // does not read piles up in the gateway (beyond one encoded chunk).
    let slow_channel = tonic::transport::Channel::from_shared(gateway.url())
        .expect("url")
        .initial_stream_window_size(Some(256))
        .initial_connection_window_size(Some(256))
        .connect()
        .await
        .expect("connect");
    let mut slow = pb::event_service_client::EventServiceClient::new(slow_channel)
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .expect("WatchEvents")
        .into_inner();
    let mut fast = watch(&gateway, pb::WatchEventsRequest::default()).await;

    const ROUNDS: usize = 5;
    const PER_ROUND: usize = 40;
    let mut fast_ids = Vec::new();
    for _ in 0..ROUNDS {
        // Bursts smaller than the buffer: a caller that reads keeps up.
        for n in 0..PER_ROUND {
            let path = if n % 2 == 0 {
                "/locks/lock_door"
            } else {
                "/locks/unlock_door"
            };
            lock_directly(&fake, LOCK_1, path).await;
        }
        for _ in 0..PER_ROUND {
            fast_ids.push(next_event(&mut fast).await.event_id);
        }
    }

    let mut slow_ids = Vec::new();
    let status = loop {
        match tokio::time::timeout(Duration::from_secs(20), slow.message())
            .await
            .expect("ends")
        {
            Ok(Some(message)) => slow_ids.push(message.event.expect("event").event_id),
            Ok(None) => panic!("the slow stream ended OK instead of naming its resume point"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let info = support::error_info(&status);
    assert_eq!(info.reason, "WATCHER_TOO_SLOW");
    assert_eq!(
        &info.metadata["after_event_id"],
        slow_ids.last().expect("some events were delivered")
    );
    assert!(slow_ids.len() < fast_ids.len(), "cut off before the end");
    assert_eq!(
        fast_ids[..slow_ids.len()],
        slow_ids[..],
        "the slow caller got a prefix, in order"
    );
    assert_eq!(fast_ids.len(), ROUNDS * PER_ROUND, "the fast caller was not held back");
}

#[tokio::test]
async fn the_tail_stops_when_the_last_watcher_leaves() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start_with(config(&fake)).await;
    let stream = watch(&gateway, pb::WatchEventsRequest::default()).await;
    let before = fake.request_counter().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let while_watched = fake.request_counter().await - before - 1;
    assert!(
        while_watched >= 3,
        "the tail polls while someone watches ({while_watched})"
    );

    drop(stream);
    // The tail notices at its next tick (100 ms here).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_leaving = fake.request_counter().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        fake.request_counter().await - after_leaving,
        1,
        "only the counter's own request"
    );
}

#[tokio::test]
async fn shutdown_ends_watch_streams_unavailable_with_their_resume_point() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start_with(config(&fake)).await;
    let mut stream = watch(&gateway, pb::WatchEventsRequest::default()).await;
    lock_directly(&fake, LOCK_1, "/locks/lock_door").await;
    let last = next_event(&mut stream).await;

    tokio::time::timeout(Duration::from_secs(10), gateway.stop())
        .await
        .expect("serve returns within the grace period");
    let status = stream.message().await.expect_err("the stream ends with the shutdown");
    assert_eq!(status.code(), Code::Unavailable);
    let info = support::error_info(&status);
    assert_eq!(info.reason, "SHUTTING_DOWN");
    assert_eq!(info.metadata["after_event_id"], last.event_id);
}
