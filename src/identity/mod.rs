//! Who a call acts as. Today: which Seam credential it uses (the gateway's own
//! key, or the caller's in pass-through mode), resolved once per call by a
//! layer of the server's stack and handed to handlers in the request.

pub mod seam_credential;
pub mod seam_credential_layer;
