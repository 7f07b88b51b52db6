//! Reading Seam's success envelope, `{"<key>": …, "ok": true}`, in one pass:
//! the wanted key straight into its type, the others skipped unparsed (Seam's
//! `/locks/get` sends the device twice, under `lock` and `device`).

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::client::Upstreamed;
use super::error::{UpstreamError, UpstreamFailure};

/// A successful Seam answer, not yet parsed: `{"<key>": …, "ok": true}`.
pub(super) struct Answer {
    pub body: bytes::Bytes,
    pub request_id: Option<String>,
    pub path: &'static str,
    pub http_status: u16,
}

impl Answer {
    /// The value under `key` (JSON `null` when absent), read straight from
    /// the body in one pass: the other keys are skipped unparsed (Seam's
    /// `/locks/get` sends the device twice, under `lock` and `device`).
    pub fn field<T: DeserializeOwned>(&self, key: &str) -> Result<Upstreamed<T>, UpstreamError> {
        let mut deserializer = serde_json::Deserializer::from_slice(&self.body);
        let found = EnvelopeField::<T>::new(key)
            .deserialize(&mut deserializer)
            .and_then(|found| deserializer.end().map(|()| found))
            .map_err(|e| self.malformed(format!("`{key}`: {e}")))?;
        let body = match found {
            Some(body) => body,
            None => serde_json::from_str::<T>("null").map_err(|e| self.malformed(format!("`{key}`: {e}")))?,
        };
        Ok(Upstreamed {
            body,
            request_id: self.request_id.clone(),
        })
    }

    fn malformed(&self, detail: String) -> UpstreamError {
        UpstreamError {
            failure: Box::new(UpstreamFailure::MalformedBody {
                http_status: self.http_status,
                detail,
            }),
            request_id: self.request_id.clone(),
            path: self.path,
        }
    }
}

/// Reads one key of a JSON object as `T`, skipping the others unparsed;
/// `None` when the key is absent.
struct EnvelopeField<'k, T> {
    key: &'k str,
    wanted: PhantomData<T>,
}

impl<'k, T> EnvelopeField<'k, T> {
    fn new(key: &'k str) -> Self {
        Self {
            key,
            wanted: PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for EnvelopeField<'_, T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for EnvelopeField<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut found = None;
        while let Some(is_wanted) = map.next_key_seed(KeyIs(self.key))? {
            if is_wanted && found.is_none() {
                found = Some(map.next_value::<T>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Whether an object key is the one wanted, without allocating it.
struct KeyIs<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seam::model::Device;

    fn answer(body: &'static str) -> Answer {
        Answer {
            body: bytes::Bytes::from_static(body.as_bytes()),
            request_id: Some("req1".into()),
            path: "/locks/get",
            http_status: 200,
        }
    }

    #[test]
    fn field_reads_its_key_and_skips_the_others() {
        let body = r#"{"device":{"device_id":"other"},"lock":{"device_id":"d1","n":[1,{"x":"}"}]},"ok":true}"#;
        let lock = answer(body).field::<Device>("lock").unwrap();
        assert_eq!(lock.body.typed.device_id, "d1");
        assert_eq!(lock.request_id.as_deref(), Some("req1"));
        let absent = answer(body).field::<Option<Device>>("event").unwrap();
        assert!(absent.body.is_none(), "an absent key reads as null");
    }

    #[test]
    fn field_rejects_bodies_that_are_not_one_json_object() {
        for body in [
            r#"{"lock":{"device_id":"d1"}} trailing"#,
            r#"[1]"#,
            r#"{"lock":{"device_id":"d1"},"ok":"#,
            "<html>",
        ] {
            let error = answer(body).field::<Device>("lock").unwrap_err();
            assert!(
                matches!(*error.failure, UpstreamFailure::MalformedBody { http_status: 200, .. }),
                "{body}"
            );
        }
        assert!(
            answer(r#"{"ok":true}"#).field::<Device>("lock").is_err(),
            "a device is required"
        );
    }
}
