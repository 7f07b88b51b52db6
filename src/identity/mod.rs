//! Who a call acts as: who the caller is (`caller`, proven by mutual TLS
//! (`client_certificate`) or a JWT (`jwt`, `jwks`, `token_cache`), decided by
//! `caller_layer`), and which Seam credential the call uses (the gateway's own
//! key, or the caller's in pass-through mode: `seam_credential`, decided by
//! `seam_credential_layer`). Both are resolved once per call by layers of the
//! server's stack and handed to handlers in the request.

pub mod caller;
pub mod caller_layer;
pub mod client_certificate;
pub mod identity_refusal;
pub mod jwks;
pub mod jwt;
pub mod seam_credential;
pub mod seam_credential_layer;
mod token_cache;
