//! Verified JWTs remembered until they expire, keyed by the SHA-256 of the
//! token (the token itself is not kept). Bounded: when full, expired entries
//! go first, then an eighth of the rest, so a flood of distinct tokens costs
//! signature checks, never memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A token's SHA-256.
pub type TokenDigest = [u8; 32];

pub struct TokenCache {
    capacity: usize,
    entries: Mutex<HashMap<TokenDigest, Remembered>>,
}

struct Remembered {
    subject: Arc<str>,
    /// Unix seconds after which the token is no longer accepted (its `exp`
    /// plus the clock-skew allowance).
    valid_until: u64,
}

impl TokenCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn digest(token: &str) -> TokenDigest {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let mut bytes = [0_u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        bytes
    }

    /// The subject of a remembered token still valid at `now` (Unix seconds).
    pub fn get(&self, digest: &TokenDigest, now: u64) -> Option<Arc<str>> {
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries
            .get(digest)
            .filter(|entry| now <= entry.valid_until)
            .map(|entry| entry.subject.clone())
    }

    pub fn insert(&self, digest: TokenDigest, subject: Arc<str>, valid_until: u64, now: u64) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, entry| now <= entry.valid_until);
        }
        if entries.len() >= self.capacity {
            let evicted: Vec<TokenDigest> = entries.keys().take((self.capacity / 8).max(1)).copied().collect();
            for digest in evicted {
                entries.remove(&digest);
            }
        }
        entries.insert(digest, Remembered { subject, valid_until });
    }

    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_remembered_until_it_expires() {
        let cache = TokenCache::new(10);
        let digest = TokenCache::digest("token-a");
        assert_ne!(digest, TokenCache::digest("token-b"));
        cache.insert(digest, Arc::from("svc"), 1_000, 900);
        assert_eq!(cache.get(&digest, 1_000).as_deref(), Some("svc"));
        assert_eq!(cache.get(&digest, 1_001), None);
        assert_eq!(cache.get(&TokenCache::digest("token-b"), 900), None);
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = TokenCache::new(16);
        for i in 0..1_000 {
            cache.insert(TokenCache::digest(&format!("t{i}")), Arc::from("svc"), 2_000, 1_000);
            assert!(cache.len() <= 16);
        }
        let last = TokenCache::digest("t999");
        assert!(cache.get(&last, 1_000).is_some(), "the newest token is kept");
        cache.insert(TokenCache::digest("expired"), Arc::from("old"), 500, 400);
        cache.insert(TokenCache::digest("fresh"), Arc::from("new"), 2_000, 1_000);
        assert!(cache.len() <= 16);
        cache.clear();
        assert_eq!(cache.len(), 0);
        assert_eq!(TokenCache::new(0).get(&last, 0), None);
    }
}
