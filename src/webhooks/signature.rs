//! Standard Webhooks verification of Seam's deliveries (Seam sends them
//! through Svix): `svix-id`, `svix-timestamp` and `svix-signature` (or the
//! same names with `webhook-`), one or more `v1,<base64 HMAC-SHA256>`
//! signatures of `"{id}.{timestamp}.{body}"` keyed by the secret after
//! `whsec_`, and a timestamp at most 5 minutes from now. The check itself is
//! the `standardwebhooks` crate's (constant-time comparison, the tolerance);
//! this file finds the headers under either name and says why a delivery is
//! refused without repeating what it carried.

use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use standardwebhooks::{Webhook, WebhookError};

/// Why a delivery was refused (the log line's and the metric's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No id, timestamp or signature header, or one that is not text.
    MissingHeaders,
    /// The timestamp is not a number, or more than 5 minutes off.
    StaleTimestamp,
    /// No signature matches the secret.
    BadSignature,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::MissingHeaders => "missing_headers",
            Refusal::StaleTimestamp => "stale_timestamp",
            Refusal::BadSignature => "bad_signature",
        }
    }
}

/// The gateway's signing secret, ready to check deliveries.
pub struct DeliveryVerifier {
    webhook: Webhook,
}

impl std::fmt::Debug for DeliveryVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeliveryVerifier(..)")
    }
}

/// The three headers, under Svix's names first, then the standard ones.
const HEADERS: [(&str, &str, &str); 3] = [
    ("svix-id", "webhook-id", standardwebhooks::HEADER_WEBHOOK_ID),
    (
        "svix-timestamp",
        "webhook-timestamp",
        standardwebhooks::HEADER_WEBHOOK_TIMESTAMP,
    ),
    (
        "svix-signature",
        "webhook-signature",
        standardwebhooks::HEADER_WEBHOOK_SIGNATURE,
    ),
];

impl DeliveryVerifier {
    /// `secret` as Seam shows it (`whsec_<base64>`); an error names what is
    /// wrong with it, never its text.
    pub fn new(secret: &SecretString) -> Result<Self, String> {
        let text = secret.expose_secret().trim();
        let key = text.strip_prefix("whsec_").unwrap_or(text);
        if key.is_empty() {
            return Err("the webhook secret is empty".into());
        }
        let webhook =
            Webhook::new(key).map_err(|_| "the webhook secret is not `whsec_` followed by base64".to_owned())?;
        Ok(Self { webhook })
    }

    /// The delivery's id when its signature holds.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<String, Refusal> {
        let mut standard = HeaderMap::new();
        for (svix, webhook, name) in HEADERS {
            let value = headers
                .get(svix)
                .or_else(|| headers.get(webhook))
                .ok_or(Refusal::MissingHeaders)?;
            value.to_str().map_err(|_| Refusal::MissingHeaders)?;
            standard.insert(HeaderName::from_static(name), value.clone());
        }
        self.webhook.verify(body, &standard).map_err(|error| match error {
            WebhookError::InvalidTimestamp
            | WebhookError::TimestampTooOldError
            | WebhookError::FutureTimestampError => Refusal::StaleTimestamp,
            WebhookError::MissingHeader(_) | WebhookError::InvalidHeader(_) => Refusal::MissingHeaders,
            _ => Refusal::BadSignature,
        })?;
        let id = standard
            .get(standardwebhooks::HEADER_WEBHOOK_ID)
            .and_then(|value: &HeaderValue| value.to_str().ok())
            .unwrap_or_default();
        Ok(id.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks specification's published example
    /// (standard-webhooks/spec, "Verifying webhooks"): this secret, id,
    /// timestamp and body give this signature.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1614265330;
    const SPEC_BODY: &str = r#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn verifier(secret: &str) -> DeliveryVerifier {
        DeliveryVerifier::new(&SecretString::from(secret.to_owned())).unwrap()
    }

    fn headers(prefix: &str, id: &str, timestamp: i64, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let name = |suffix: &str| HeaderName::try_from(format!("{prefix}-{suffix}")).unwrap();
        headers.insert(name("id"), id.parse().unwrap());
        headers.insert(name("timestamp"), timestamp.to_string().parse().unwrap());
        headers.insert(name("signature"), signature.parse().unwrap());
        headers
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
        let key = secret.strip_prefix("whsec_").unwrap();
        Webhook::new(key).unwrap().sign(id, timestamp, body.as_bytes()).unwrap()
    }

    #[test]
    fn the_specifications_example_signs_as_published() {
        assert_eq!(sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY), SPEC_SIGNATURE);
        // Its timestamp is years old: refused as stale, not as badly signed.
        let refused = verifier(SPEC_SECRET).verify(
            &headers("webhook", SPEC_ID, SPEC_TIMESTAMP, SPEC_SIGNATURE),
            SPEC_BODY.as_bytes(),
        );
        assert_eq!(refused, Err(Refusal::StaleTimestamp));
    }

    #[test]
    fn svix_and_standard_header_names_are_both_accepted() {
        let at = now();
        let signature = sign(SPEC_SECRET, "msg_1", at, SPEC_BODY);
        for prefix in ["svix", "webhook"] {
            let id = verifier(SPEC_SECRET).verify(&headers(prefix, "msg_1", at, &signature), SPEC_BODY.as_bytes());
            assert_eq!(id.as_deref(), Ok("msg_1"), "{prefix}-* headers");
        }
    }

    #[test]
    fn any_one_of_several_signatures_may_match_during_rotation() {
        let at = now();
        let old = sign("whsec_b2xkIHNlY3JldCBvZiB0aGUgd29ya3NwYWNl", "msg_2", at, SPEC_BODY);
        let new = sign(SPEC_SECRET, "msg_2", at, SPEC_BODY);
        let both = format!("{old} {new}");
        let checked = verifier(SPEC_SECRET).verify(&headers("svix", "msg_2", at, &both), SPEC_BODY.as_bytes());
        assert_eq!(checked.as_deref(), Ok("msg_2"));
        let only_old = verifier(SPEC_SECRET).verify(&headers("svix", "msg_2", at, &old), SPEC_BODY.as_bytes());
        assert_eq!(only_old, Err(Refusal::BadSignature));
    }

    #[test]
    fn a_changed_body_a_missing_header_or_a_distant_time_is_refused() {
        let at = now();
        let signature = sign(SPEC_SECRET, "msg_3", at, SPEC_BODY);
        let verifier = verifier(SPEC_SECRET);
        let changed = verifier.verify(&headers("svix", "msg_3", at, &signature), br#"{"test": 1}"#);
        assert_eq!(changed, Err(Refusal::BadSignature));
        let mut missing = headers("svix", "msg_3", at, &signature);
        missing.remove("svix-signature");
        assert_eq!(
            verifier.verify(&missing, SPEC_BODY.as_bytes()),
            Err(Refusal::MissingHeaders)
        );
        for distant in [at - 301, at + 301] {
            let signature = sign(SPEC_SECRET, "msg_3", distant, SPEC_BODY);
            assert_eq!(
                verifier.verify(&headers("svix", "msg_3", distant, &signature), SPEC_BODY.as_bytes()),
                Err(Refusal::StaleTimestamp),
                "{distant}"
            );
        }
    }

    #[test]
    fn a_secret_that_is_not_base64_is_refused_without_its_text() {
        let error = DeliveryVerifier::new(&SecretString::from("whsec_not base64!".to_owned())).unwrap_err();
        assert!(!error.contains("not base64!"), "{error}");
    }
}
