//! GetDevice and ListDevices against Seam's fake.
use crate::support;

use seam_grpc_gateway::pb;
use support::{FakeSeam, Gateway, LOCK_1, OFFLINE_LOCK};

#[tokio::test]
async fn get_device_returns_any_kind_of_device() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let mut client = gateway.devices().await;
    let thermostat = client
        .get_device(pb::GetDeviceRequest {
            device_id: "ecobee_device_1".into(),
        })
        .await
        .expect("GetDevice")
        .into_inner()
        .device
        .expect("device");
    assert_eq!(thermostat.device_type, "ecobee_thermostat");

    let offline = client
        .get_device(pb::GetDeviceRequest {
            device_id: OFFLINE_LOCK.into(),
        })
        .await
        .expect("GetDevice")
        .into_inner()
        .device
        .expect("device");
    assert_eq!(offline.properties.expect("properties").online, Some(false));
    assert_eq!(offline.errors[0].code, "device_offline");
    assert_eq!(offline.errors[0].message, "Device is offline");
    assert!(offline.errors[0].created_at.is_some());
}

#[tokio::test]
async fn list_devices_follows_seams_own_cursor_to_the_end() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let mut client = gateway.devices().await;
    let mut ids = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_devices(pb::ListDevicesRequest {
                page_size: 2,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("ListDevices")
            .into_inner();
        assert!(page.devices.len() <= 2);
        ids.extend(page.devices.into_iter().map(|d| d.device_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let all = client
        .list_devices(pb::ListDevicesRequest {
            page_size: 500,
            ..Default::default()
        })
        .await
        .expect("ListDevices")
        .into_inner();
    let all_ids: Vec<String> = all.devices.into_iter().map(|d| d.device_id).collect();
    assert_eq!(ids, all_ids);
    assert!(ids.contains(&LOCK_1.to_owned()) && ids.contains(&"ecobee_device_1".to_owned()));
}

#[tokio::test]
async fn list_devices_filters_by_type() {
    let fake = FakeSeam::start().await;
    let gateway = Gateway::start(&fake.url).await;
    let page = gateway
        .devices()
        .await
        .list_devices(pb::ListDevicesRequest {
            device_types: vec!["ecobee_thermostat".into()],
            ..Default::default()
        })
        .await
        .expect("ListDevices")
        .into_inner();
    assert!(!page.devices.is_empty());
    assert!(page.devices.iter().all(|d| d.device_type == "ecobee_thermostat"));
}
