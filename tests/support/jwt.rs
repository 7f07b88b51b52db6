//! JWTs signed by keys a test made (RS256, ES256, EdDSA), and their JWKS
//! served over HTTP by a local server whose key set the test can change.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ED25519, PKCS_RSA_SHA256, RsaKeySize};
use serde_json::{Value, json};

use super::scripted_upstream::{CannedResponse, ScriptedUpstream};

pub const ISSUER: &str = "https://issuer.acme.test";
pub const AUDIENCE: &str = "seam-grpc-gateway";

/// A signing key and its public JWK.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    encoding: EncodingKey,
    pub jwk: Jwk,
}

impl SigningKey {
    pub fn new(kid: &str, algorithm: Algorithm) -> Self {
        let (pair, encoding) = match algorithm {
            Algorithm::RS256 => {
                let pair = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).expect("RSA key");
                let encoding = EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes()).expect("RSA PEM");
                (pair, encoding)
            }
            Algorithm::ES256 => {
                let pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key");
                let encoding = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("EC PEM");
                (pair, encoding)
            }
            Algorithm::EdDSA => {
                let pair = KeyPair::generate_for(&PKCS_ED25519).expect("Ed25519 key");
                let encoding = EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes()).expect("Ed PEM");
                (pair, encoding)
            }
            other => panic!("no test keys for {other:?}"),
        };
        let mut jwk = match algorithm {
            // jsonwebtoken reads only v1 PKCS#8 Ed25519 keys; rcgen writes v2.
            Algorithm::EdDSA => serde_json::from_value(json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": base64::engine::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, pair.public_key_raw()),
            }))
            .expect("OKP JWK"),
            _ => Jwk::from_encoding_key(&encoding, algorithm).expect("JWK"),
        };
        jwk.common.key_id = Some(kid.to_owned());
        Self {
            kid: kid.to_owned(),
            algorithm,
            encoding,
            jwk,
        }
    }

    /// A token with these claims, signed by this key (header `kid` set).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }

    /// A valid token for `sub`: right issuer and audience, an hour to live.
    pub fn token_for(&self, sub: &str) -> String {
        self.sign(&claims(sub))
    }
}

/// Valid claims for `sub`, to be spoiled by a test.
pub fn claims(sub: &str) -> Value {
    let now = now();
    json!({ "sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600 })
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub fn jwks_document(keys: &[&SigningKey]) -> String {
    serde_json::to_string(&JwkSet {
        keys: keys.iter().map(|key| key.jwk.clone()).collect(),
    })
    .expect("JWKS")
}

/// A JWKS served at `{url}/jwks.json`, counting fetches.
pub struct JwksServer {
    pub server: ScriptedUpstream,
    document: Arc<Mutex<String>>,
}

impl JwksServer {
    pub async fn start(keys: &[&SigningKey]) -> Self {
        let document = Arc::new(Mutex::new(jwks_document(keys)));
        let served = document.clone();
        let server = ScriptedUpstream::scripted(move |_| {
            CannedResponse::new("200 OK", "application/json", &served.lock().unwrap().clone())
        })
        .await;
        Self { server, document }
    }

    pub fn url(&self) -> String {
        format!("{}/jwks.json", self.server.url)
    }

    /// Serves these keys from now on.
    pub fn publish(&self, keys: &[&SigningKey]) {
        *self.document.lock().unwrap() = jwks_document(keys);
    }

    pub fn fetches(&self) -> usize {
        self.server.request_count()
    }
}
