//! JWT caller identity: `authorization: Bearer <JWT>` checked against the
//! JWKS (`jwks`), the required issuer and audience, `exp` (required) and
//! `nbf`, with a small clock-skew allowance. The caller is the token's `sub`.
//!
//! A verified token is remembered until it expires (`token_cache`), so a
//! service sending the same token on every call pays a hash and a lookup, not
//! a signature check. The JWKS is read at start, again when a token names an
//! unknown key id (at most once per `min_refetch_interval`, so made-up key ids
//! cannot hammer the issuer), and every `refresh_interval`. When the key set
//! changes, remembered tokens are forgotten: a withdrawn key stops working.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use tokio::sync::{Mutex, watch};

use super::identity_refusal::IdentityRefusal;
use super::jwks::{self, JwksLocation, KeySet};
use super::token_cache::TokenCache;
use crate::observe::metrics;

/// The JWT settings of the gateway.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub jwks: JwksLocation,
    pub issuer: String,
    pub audience: String,
    pub clock_skew: Duration,
    pub min_refetch_interval: Duration,
    pub refresh_interval: Duration,
    pub cache_entries: usize,
}

/// Checks callers' JWTs.
pub struct JwtVerifier {
    settings: JwtSettings,
    http: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    /// When the key set was last read; held while it is read, so that the
    /// tokens waiting for a fetch share it.
    last_load: Mutex<Option<Instant>>,
    validations: [(Algorithm, Validation); 3],
    cache: TokenCache,
}

/// The claims the gateway reads. Optional here so that a missing one is
/// reported as missing (the validation requires them), not as malformed.
#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<u64>,
}

impl JwtVerifier {
    /// Reads the key set; the gateway does not start without one.
    pub async fn start(settings: JwtSettings) -> Result<Arc<Self>, String> {
        let http = jwks::http_client()?;
        let keys = jwks::load(&settings.jwks, &http)
            .await
            .map_err(|e| format!("cannot read the JWKS {}: {e}", settings.jwks))?;
        tracing::info!(jwks = %settings.jwks, keys = keys.len(), "JWT keys loaded");
        let validations = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA].map(|algorithm| {
            let mut validation = Validation::new(algorithm);
            validation.set_issuer(&[&settings.issuer]);
            validation.set_audience(&[&settings.audience]);
            validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
            validation.validate_nbf = true;
            validation.leeway = settings.clock_skew.as_secs();
            (algorithm, validation)
        });
        Ok(Arc::new(Self {
            cache: TokenCache::new(settings.cache_entries),
            settings,
            http,
            keys: RwLock::new(Arc::new(keys)),
            last_load: Mutex::new(Some(Instant::now())),
            validations,
        }))
    }

    /// The caller a token proves, or which check it failed.
    pub async fn verify(&self, token: &str) -> Result<Arc<str>, IdentityRefusal> {
        let now = jsonwebtoken::get_current_timestamp();
        let digest = TokenCache::digest(token);
        if let Some(subject) = self.cache.get(&digest, now) {
            metrics::jwt_accepted("cached");
            return Ok(subject);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| IdentityRefusal::TokenMalformed)?;
        let Some((_, validation)) = self.validations.iter().find(|(algorithm, _)| *algorithm == header.alg) else {
            return Err(IdentityRefusal::TokenMalformed);
        };
        let key_id = header.kid.as_deref();
        let mut keys = self.current_keys();
        if keys.find(key_id, header.alg).is_none() {
            keys = self.refetch_for_unknown_key().await?;
        }
        let key = keys.find(key_id, header.alg).ok_or(IdentityRefusal::TokenUnknownKey)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, validation)
            .map_err(|e| refusal_of(e.kind()))?
            .claims;
        let (Some(sub), Some(exp)) = (claims.sub.filter(|sub| !sub.is_empty()), claims.exp) else {
            return Err(IdentityRefusal::TokenClaimMissing);
        };
        let subject: Arc<str> = Arc::from(sub);
        let valid_until = exp.saturating_add(self.settings.clock_skew.as_secs());
        self.cache.insert(digest, subject.clone(), valid_until, now);
        metrics::jwt_accepted("verified");
        Ok(subject)
    }

    fn current_keys(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Reads the key set again for a token with an unknown key id, unless it
    /// was read less than `min_refetch_interval` ago.
    async fn refetch_for_unknown_key(&self) -> Result<Arc<KeySet>, IdentityRefusal> {
        let mut last_load = self.last_load.lock().await;
        if last_load.is_some_and(|at| at.elapsed() < self.settings.min_refetch_interval) {
            return Ok(self.current_keys());
        }
        *last_load = Some(Instant::now());
        match self.reload("a token names an unknown key id").await {
            Ok(keys) => Ok(keys),
            Err(()) => Err(IdentityRefusal::KeysUnavailable),
        }
    }

    /// Reads the key set; on failure the old one stays (logged).
    async fn reload(&self, why: &str) -> Result<Arc<KeySet>, ()> {
        match jwks::load(&self.settings.jwks, &self.http).await {
            Ok(fresh) => {
                let mut keys = self.keys.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                if !keys.same_document(&fresh) {
                    tracing::info!(jwks = %self.settings.jwks, keys = fresh.len(), why, "JWT keys changed");
                    *keys = Arc::new(fresh);
                    self.cache.clear();
                }
                Ok(keys.clone())
            }
            Err(e) => {
                tracing::warn!(jwks = %self.settings.jwks, error = %e, why, "cannot read the JWKS; keeping the keys read before");
                Err(())
            }
        }
    }

    /// Reads the key set every `refresh_interval` until shutdown.
    pub async fn refresh_periodically(self: Arc<Self>, mut stopping: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.settings.refresh_interval) => {}
                _ = stopping.wait_for(|stopping| *stopping) => return,
            }
            let mut last_load = self.last_load.lock().await;
            *last_load = Some(Instant::now());
            let _ = self.reload("periodic refresh").await;
        }
    }
}

fn refusal_of(kind: &JwtErrorKind) -> IdentityRefusal {
    match kind {
        JwtErrorKind::ExpiredSignature => IdentityRefusal::TokenExpired,
        JwtErrorKind::ImmatureSignature => IdentityRefusal::TokenNotYetValid,
        JwtErrorKind::InvalidIssuer => IdentityRefusal::TokenWrongIssuer,
        JwtErrorKind::InvalidAudience => IdentityRefusal::TokenWrongAudience,
        JwtErrorKind::InvalidSignature => IdentityRefusal::TokenBadSignature,
        JwtErrorKind::MissingRequiredClaim(_) => IdentityRefusal::TokenClaimMissing,
        _ => IdentityRefusal::TokenMalformed,
    }
}
