//! Deliveries as Seam (through Svix) sends them: signed here with the test's
//! own HMAC-SHA256 (aws-lc-rs), not with the crate the gateway verifies with.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// The webhook secret the tests configure (`whsec_` + base64 of 24 bytes).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Another workspace's secret: its signatures must not be taken.
pub const OTHER_SECRET: &str = "whsec_b3RoZXIgd29ya3NwYWNlIHNlY3JldCE=";

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` keyed by the secret's bytes.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let key_bytes = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key_bytes);
    let tag = hmac::sign(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(tag.as_ref()))
}

/// A Seam event as a webhook body, created now.
pub fn event(event_id: &str, event_type: &str, extra: Value) -> String {
    let created_at = jiff::Timestamp::now().to_string();
    let mut event = json!({
        "event_id": event_id,
        "event_type": event_type,
        "workspace_id": "seed_workspace_1",
        "created_at": created_at,
        "occurred_at": created_at,
    });
    if let (Some(object), Some(more)) = (event.as_object_mut(), extra.as_object()) {
        object.extend(more.clone());
    }
    event.to_string()
}

/// Posts `body` to the gateway's webhook endpoint with these headers; the HTTP status.
pub async fn post(address: &str, headers: &[(&str, String)], body: &str) -> u16 {
    let mut request = reqwest::Client::new()
        .post(format!("http://{address}/webhooks/seam"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request
        .send()
        .await
        .expect("the webhook listener answers")
        .status()
        .as_u16()
}

/// Svix's three headers for a delivery signed with `secret` at `timestamp`.
pub fn signed(secret: &str, id: &str, timestamp: i64, body: &str) -> Vec<(&'static str, String)> {
    vec![
        ("svix-id", id.to_owned()),
        ("svix-timestamp", timestamp.to_string()),
        ("svix-signature", signature(secret, id, timestamp, body)),
    ]
}

/// Posts a delivery signed with the tests' secret now; the HTTP status.
pub async fn deliver(address: &str, id: &str, body: &str) -> u16 {
    post(address, &signed(SECRET, id, now(), body), body).await
}
