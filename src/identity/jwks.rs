//! The keys JWTs are checked against: a JSON Web Key Set read from a file or
//! fetched from an http(s) URL (an OIDC issuer's `jwks_uri`, the Kubernetes
//! API server's service-account keys). Only RS256, ES256 and EdDSA keys are
//! used; each key is bound to one algorithm, so a token cannot pick another
//! one for the same key (algorithm confusion).

use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// A JWKS larger than this is not a key set.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the key set is read from.
#[derive(Debug, Clone)]
pub enum JwksLocation {
    File(PathBuf),
    Url(String),
}

impl JwksLocation {
    /// `--jwt-jwks`: an `http://` or `https://` URL, else a file path.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("https://") || text.starts_with("http://") {
            JwksLocation::Url(text.to_owned())
        } else {
            JwksLocation::File(PathBuf::from(text))
        }
    }
}

impl std::fmt::Display for JwksLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksLocation::File(path) => write!(f, "{}", path.display()),
            JwksLocation::Url(url) => f.write_str(url),
        }
    }
}

/// One key a token may be signed with.
pub struct VerificationKey {
    pub key_id: Option<String>,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// The usable keys of a JWKS.
#[derive(Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
    /// The JWKS as read, to tell whether a fetch changed anything.
    source: Vec<u8>,
}

impl KeySet {
    /// Parses a JWKS document. Keys for other uses or algorithms are skipped;
    /// a document that is not a JWKS, or has no usable key, is an error.
    pub fn parse(document: &[u8]) -> Result<Self, String> {
        let set: JwkSet = serde_json::from_slice(document).map_err(|e| format!("not a JWKS: {e}"))?;
        let keys: Vec<VerificationKey> = set.keys.iter().filter_map(verification_key).collect();
        if keys.is_empty() {
            return Err(format!(
                "none of its {} keys is an RS256, ES256 or EdDSA signing key",
                set.keys.len()
            ));
        }
        Ok(Self {
            keys,
            source: document.to_vec(),
        })
    }

    /// The key for a token whose header names `key_id` and `algorithm`. A
    /// token without `kid` is accepted only when one key could have signed it.
    pub fn find(&self, key_id: Option<&str>, algorithm: Algorithm) -> Option<&VerificationKey> {
        match key_id {
            Some(key_id) => self
                .keys
                .iter()
                .find(|key| key.key_id.as_deref() == Some(key_id) && key.algorithm == algorithm),
            None => {
                let mut candidates = self.keys.iter().filter(|key| key.algorithm == algorithm);
                let only = candidates.next()?;
                candidates.next().is_none().then_some(only)
            }
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn same_document(&self, other: &KeySet) -> bool {
        self.source == other.source
    }
}

/// A JWK as a key for one algorithm, or `None` when it is not for signatures
/// with RS256, ES256 or EdDSA.
fn verification_key(jwk: &Jwk) -> Option<VerificationKey> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
        _ => return None,
    };
    let stated = match jwk.common.key_algorithm {
        None => implied,
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        Some(_) => return None,
    };
    if stated != implied {
        return None;
    }
    Some(VerificationKey {
        key_id: jwk.common.key_id.clone(),
        algorithm: stated,
        key: DecodingKey::from_jwk(jwk).ok()?,
    })
}

/// Reads the key set from its location.
pub async fn load(location: &JwksLocation, http: &reqwest::Client) -> Result<KeySet, String> {
    let document = match location {
        // A key file is small and local; read where the tokens wait anyway.
        JwksLocation::File(path) => std::fs::read(path).map_err(|e| e.to_string())?,
        JwksLocation::Url(url) => fetch(url, http).await?,
    };
    if document.len() > MAX_JWKS_BYTES {
        return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
    }
    KeySet::parse(&document)
}

/// The HTTP client for JWKS URLs: no redirects (a key set comes from where
/// the operator said), a time limit.
pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())
}

async fn fetch(url: &str, http: &reqwest::Client) -> Result<Vec<u8>, String> {
    let mut response = http.get(url).send().await.map_err(|e| e.without_url().to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let mut document = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.without_url().to_string())? {
        if document.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
        }
        document.extend_from_slice(&chunk);
    }
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_JWK: &str = r#"{"kty":"RSA","kid":"r1","n":"u1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0_IzW7yWR7QkrmBL7jTKEn5u-qKhbwKfBstIs-bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW_VDL5AaWTg0nLVkjRo9z-40RQzuVaE8AkAFmxZzow3x-VJYKdjykkJ0iT9wCS0DRTXu269V264Vf_3jvredZiKRkgwlL9xNAwxXFg0x_XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC-9aGVd-Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmw","e":"AQAB"}"#;
    const EC_JWK: &str = r#"{"kty":"EC","kid":"e1","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    fn set(keys: &[&str]) -> Result<KeySet, String> {
        KeySet::parse(format!(r#"{{"keys":[{}]}}"#, keys.join(",")).as_bytes())
    }

    #[test]
    fn keys_are_bound_to_the_algorithm_of_their_type() {
        let keys = set(&[RSA_JWK, EC_JWK]).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys.find(Some("r1"), Algorithm::RS256).is_some());
        assert!(keys.find(Some("r1"), Algorithm::ES256).is_none(), "no algorithm switch");
        assert!(keys.find(Some("e1"), Algorithm::ES256).is_some());
        assert!(keys.find(Some("nope"), Algorithm::ES256).is_none());
        assert!(keys.find(None, Algorithm::ES256).is_some(), "the only ES256 key");
    }

    #[test]
    fn a_kid_less_token_needs_a_single_candidate() {
        let other_ec = EC_JWK.replace("\"e1\"", "\"e2\"");
        let keys = set(&[EC_JWK, &other_ec]).unwrap();
        assert!(keys.find(None, Algorithm::ES256).is_none());
    }

    #[test]
    fn unusable_documents_are_errors() {
        assert!(KeySet::parse(b"not json").is_err());
        assert!(set(&[]).is_err());
        let encryption_only = RSA_JWK.replace("\"kty\"", "\"use\":\"enc\",\"kty\"");
        assert!(set(&[&encryption_only]).is_err());
        let hmac = r#"{"kty":"oct","kid":"h","k":"c2VjcmV0"}"#;
        assert!(set(&[hmac]).is_err(), "shared secrets are not accepted");
        let mislabelled = EC_JWK.replace("\"kty\"", "\"alg\":\"RS256\",\"kty\"");
        assert!(set(&[&mislabelled]).is_err());
    }
}
