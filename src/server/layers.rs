//! The concerns that apply to every call, as tower layers, listed once and in
//! order (outermost first). Policy and audit slot in here, after the caller
//! is known.

use tower::ServiceBuilder;

use super::status_details::{StatusDetails, StatusDetailsLayer};
use crate::identity::caller_layer::{CallerIdentity, CallerLayer, IdentityMethods};
use crate::identity::seam_credential::CredentialSource;
use crate::identity::seam_credential_layer::{SeamCredentialLayer, SeamCredentials};
use crate::observe::access_log::{AccessLog, AccessLogLayer};

/// The services behind the layer stack.
pub type Stack<S> = AccessLog<StatusDetails<CallerIdentity<SeamCredentials<S>>>>;

/// Wraps the gateway's routes in the layer stack.
pub fn stack<S>(routes: S, callers: IdentityMethods, credentials: CredentialSource) -> Stack<S> {
    ServiceBuilder::new()
        // 1. The one log line per call: outermost, so that it states the
        //    status the caller gets, whichever layer answered.
        .layer(AccessLogLayer)
        // 2. ErrorInfo on the errors tonic answers by itself; undecodable
        //    requests become INVALID_ARGUMENT.
        .layer(StatusDetailsLayer)
        // 3. Who is calling (mutual TLS, JWT, or anonymous); a call without
        //    a valid identity ends here, UNAUTHENTICATED.
        .layer(CallerLayer::new(callers))
        // 4. Which Seam credential the call acts with.
        .layer(SeamCredentialLayer::new(credentials))
        .service(routes)
}
