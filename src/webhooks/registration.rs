//! `seam-grpc-gateway webhooks register --url URL [--event-types …]`: the
//! first step of docs/webhooks.md. Seam is asked to deliver the workspace's
//! events to URL with the gateway's own key, and the signing secret Seam
//! chose is printed once, for the operator to store where the gateway reads
//! SEAM_WEBHOOK_SECRET. It is printed on standard output only: never logged.

use secrecy::ExposeSecret;

use crate::config::Config;
use crate::seam::{Credential, SeamClient, SeamClientOptions};

/// What to tell the operator, or why registering failed.
pub async fn register(config: &Config, url: &str, event_types: &[String]) -> Result<String, String> {
    let Some(key) = &config.seam_api_key else {
        return Err("webhooks register needs the gateway's Seam key: SEAM_API_KEY or --seam-api-key-file".into());
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("--url is not a URL: {e}"))?;
    if parsed.scheme() != "https" {
        tracing::warn!(
            "--url is not https: Seam's deliveries (and their signatures) would cross the internet in clear text"
        );
    }
    let seam = SeamClient::new(SeamClientOptions {
        endpoint: config.seam_endpoint.clone(),
        request_timeout: config.upstream_timeout,
        max_body_bytes: config.max_upstream_body_bytes,
        max_retry_after: config.max_retry_after,
    })?;
    let credential = Credential::new(key.expose_secret(), None);
    let webhook = seam
        .create_webhook(&credential, url, event_types)
        .await
        .map_err(|e| format!("Seam refused to create the webhook: {e}"))?
        .body;
    let Some(secret) = webhook.secret.filter(|secret| !secret.is_empty()) else {
        return Err(format!(
            "Seam created webhook {} but returned no signing secret; read it in Seam's console",
            webhook.webhook_id
        ));
    };
    let types = if event_types.is_empty() {
        "every event type".to_owned()
    } else {
        event_types.join(", ")
    };
    let mut text = format!(
        "Seam will deliver {types} to {} (webhook {}).\n\
         Give the gateway this signing secret, through your secret store, never a repository:\n\n\
         SEAM_WEBHOOK_SECRET={secret}\n",
        webhook.url, webhook.webhook_id
    );
    if !secret.starts_with("whsec_") {
        text.push_str("\n(Seam's secrets start with whsec_; this one does not, so this is not Seam's cloud: its deliveries will not verify.)\n");
    }
    Ok(text)
}
