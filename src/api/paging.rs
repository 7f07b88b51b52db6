//! List pagination as callers see it (AIP-158): `page_size`, an opaque
//! `page_token` bound to the filters it was issued for, and `next_page_token`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use prost_types::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::api::error::GatewayError;

/// Page size when the caller sends 0.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Larger requested sizes are lowered to this.
pub const MAX_PAGE_SIZE: usize = 500;

/// The largest response message the gateway produces: gRPC clients refuse
/// messages over 4 MiB by default, so a page is cut to stay below it.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024 - 4096;

/// Cuts `items` (a page) so that the response holding them stays under
/// [`MAX_RESPONSE_BYTES`]; returns how many were kept when it cut, `None`
/// when all fit. A single item too large for any response is an error.
pub fn fit_in_response<T: prost::Message>(items: &mut Vec<T>) -> Result<Option<usize>, GatewayError> {
    let mut total = 0;
    for (index, item) in items.iter().enumerate() {
        let length = item.encoded_len();
        // Tag byte, length prefix and the item, as a repeated field encodes it.
        total += 1 + prost::length_delimiter_len(length) + length;
        if total > MAX_RESPONSE_BYTES {
            if index == 0 {
                return Err(GatewayError::new(crate::api::error::ErrorKind::ResponseTooLarge));
            }
            items.truncate(index);
            return Ok(Some(index));
        }
    }
    Ok(None)
}

/// The page size to use for a requested `page_size`.
pub fn page_size(requested: i32) -> Result<usize, GatewayError> {
    match requested {
        n if n < 0 => Err(GatewayError::invalid_argument("page_size", "must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok((n as usize).min(MAX_PAGE_SIZE)),
    }
}

#[derive(Serialize, Deserialize)]
struct TokenBody<C> {
    /// Fingerprint of the filters the token was issued for.
    f: u64,
    /// Where the next page starts.
    c: C,
}

/// The filters of a list request, fingerprinted so that a token cannot be
/// replayed with other filters.
pub fn fingerprint(filters: &impl Serialize) -> u64 {
    // FNV-1a: stable across builds and processes, unlike std's hasher.
    let text = serde_json::to_string(filters).unwrap_or_default();
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub fn encode_token<C: Serialize>(filters: u64, cursor: &C) -> String {
    let body = serde_json::to_vec(&TokenBody { f: filters, c: cursor }).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(body)
}

/// The cursor inside `token`; `None` for the first page (empty token).
pub fn decode_token<C: DeserializeOwned>(token: &str, filters: u64) -> Result<Option<C>, GatewayError> {
    if token.is_empty() {
        return Ok(None);
    }
    let body: TokenBody<C> = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| GatewayError::invalid_argument("page_token", "not a page token issued by this gateway"))?;
    if body.f != filters {
        return Err(GatewayError::invalid_argument(
            "page_token",
            "was issued for other filters; send the same filters as for the first page",
        ));
    }
    Ok(Some(body.c))
}

/// A position in a list ordered by time, then id: ties in time are broken by
/// id, so items that share a timestamp are neither skipped nor repeated.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    pub seconds: i64,
    pub nanos: i32,
    pub id: String,
}

impl Position {
    pub fn new(time: Option<&Timestamp>, id: &str) -> Self {
        let time = time.cloned().unwrap_or_default();
        Self {
            seconds: time.seconds,
            nanos: time.nanos,
            id: id.to_owned(),
        }
    }
}

/// One page of `items` after `after`, in (time, id) order, and the position
/// to continue from when more remain.
pub fn page_after<T>(
    mut items: Vec<T>,
    position_of: impl Fn(&T) -> Position,
    after: Option<&Position>,
    size: usize,
) -> (Vec<T>, Option<Position>) {
    items.sort_by_cached_key(|item| position_of(item));
    let mut page: Vec<T> = items
        .into_iter()
        .filter(|item| after.is_none_or(|after| position_of(item) > *after))
        .take(size + 1)
        .collect();
    let next = if page.len() > size {
        page.truncate(size);
        page.last().map(&position_of)
    } else {
        None
    };
    (page, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_defaults_caps_and_rejects_negatives() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(7).unwrap(), 7);
        assert_eq!(page_size(i32::MAX).unwrap(), MAX_PAGE_SIZE);
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn token_round_trips_only_with_the_same_filters() {
        let token = encode_token(fingerprint(&("a", 1)), &"cursor".to_owned());
        let cursor: Option<String> = decode_token(&token, fingerprint(&("a", 1))).unwrap();
        assert_eq!(cursor.as_deref(), Some("cursor"));
        assert!(decode_token::<String>(&token, fingerprint(&("b", 1))).is_err());
        assert!(decode_token::<String>("garbage!", 0).is_err());
    }

    #[test]
    fn paging_with_shared_timestamps_neither_skips_nor_repeats() {
        let at = |s: i64| Timestamp { seconds: s, nanos: 0 };
        let items: Vec<(Timestamp, String)> = vec![
            (at(2), "b".into()),
            (at(1), "z".into()),
            (at(2), "a".into()),
            (at(2), "c".into()),
            (at(3), "a".into()),
        ];
        let position = |item: &(Timestamp, String)| Position::new(Some(&item.0), &item.1);
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let (page, next) = page_after(items.clone(), position, after.as_ref(), 2);
            seen.extend(page.into_iter().map(|(t, id)| format!("{}{}", t.seconds, id)));
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, ["1z", "2a", "2b", "2c", "3a"]);
    }
}
