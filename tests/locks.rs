//! GetLock and ListLocks against Seam's fake.
use crate::support;

use std::collections::HashSet;

use seam_grpc_gateway::pb;
use support::{FakeSeam, Gateway, LOCK_1, LOCK_2};
use tonic::Code;

#[tokio::test]
async fn get_lock_returns_the_seeded_lock_with_typed_properties() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let response = gateway
        .locks()
        .await
        .get_lock(pb::GetLockRequest {
            device_id: LOCK_1.into(),
        })
        .await
        .expect("GetLock");
    assert!(
        response.metadata().get("seam-request-id").is_some(),
        "seam-request-id is forwarded"
    );
    let lock = response.into_inner().lock.expect("lock");
    assert_eq!(lock.device_id, LOCK_1);
    assert_eq!(lock.device_type, "august_lock");
    assert_eq!(lock.workspace_id, support::WORKSPACE);
    assert_eq!(lock.can_remotely_lock, Some(true));
    assert!(lock.created_at.is_some());
    let properties = lock.properties.expect("properties");
    assert_eq!(properties.manufacturer, "august");
    assert_eq!(properties.online, Some(true));
    assert!(properties.locked.is_some());
    let seam_object = lock.seam_object.expect("the original object is kept").to_struct();
    assert!(seam_object.fields.contains_key("space_ids"));
}

#[tokio::test]
async fn get_lock_of_a_thermostat_is_not_found() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let status = gateway
        .locks()
        .await
        .get_lock(pb::GetLockRequest {
            device_id: "ecobee_device_1".into(),
        })
        .await
        .expect_err("a thermostat is not a lock");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(support::error_info(&status).reason, "DEVICE_NOT_FOUND");
}

#[tokio::test]
async fn list_locks_pages_through_every_lock_once() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let mut client = gateway.locks().await;

    let everything = client
        .list_locks(pb::ListLocksRequest::default())
        .await
        .expect("ListLocks")
        .into_inner();
    assert!(everything.next_page_token.is_empty(), "one page holds all seeded locks");
    let all_ids: Vec<String> = everything.locks.iter().map(|l| l.device_id.clone()).collect();
    assert!(all_ids.contains(&LOCK_1.to_owned()) && all_ids.contains(&LOCK_2.to_owned()));
    assert!(
        !all_ids.contains(&"ecobee_device_1".to_owned()),
        "only locks: {all_ids:?}"
    );

    let mut paged_ids = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_locks(pb::ListLocksRequest {
                page_size: 2,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("ListLocks page")
            .into_inner();
        assert!(page.locks.len() <= 2);
        paged_ids.extend(page.locks.into_iter().map(|l| l.device_id));
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(paged_ids, all_ids, "same locks, same order, none repeated");
    assert_eq!(paged_ids.iter().collect::<HashSet<_>>().len(), paged_ids.len());
    assert!(pages >= 2);
}

#[tokio::test]
async fn list_locks_rejects_a_token_reused_with_other_filters() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let mut client = gateway.locks().await;
    let first = client
        .list_locks(pb::ListLocksRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("ListLocks")
        .into_inner();
    assert!(!first.next_page_token.is_empty());
    let status = client
        .list_locks(pb::ListLocksRequest {
            page_size: 1,
            page_token: first.next_page_token,
            device_ids: vec![LOCK_2.into()],
            ..Default::default()
        })
        .await
        .expect_err("filters changed");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(support::error_info(&status).metadata["field"], "page_token");
}

#[tokio::test]
async fn list_locks_filters_by_device_ids() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let page = gateway
        .locks()
        .await
        .list_locks(pb::ListLocksRequest {
            device_ids: vec![LOCK_2.into()],
            ..Default::default()
        })
        .await
        .expect("ListLocks")
        .into_inner();
    let ids: Vec<&str> = page.locks.iter().map(|l| l.device_id.as_str()).collect();
    assert_eq!(ids, [LOCK_2]);
}
