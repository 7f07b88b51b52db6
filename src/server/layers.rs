//! The concerns that apply to every call, as tower layers, listed once and in
//! order (outermost first). Caller identity, policy context, metrics and
//! traces slot in here.

use tower::ServiceBuilder;

use super::status_details::{StatusDetails, StatusDetailsLayer};
use crate::identity::seam_credential::CredentialSource;
use crate::identity::seam_credential_layer::{SeamCredentialLayer, SeamCredentials};
use crate::observe::access_log::{AccessLog, AccessLogLayer};

/// The services behind the layer stack.
pub type Stack<S> = AccessLog<StatusDetails<SeamCredentials<S>>>;

/// Wraps the gateway's routes in the layer stack.
pub fn stack<S>(routes: S, credentials: CredentialSource) -> Stack<S> {
    ServiceBuilder::new()
        // 1. The one log line per call: outermost, so that it states the
        //    status the caller gets, whichever layer answered.
        .layer(AccessLogLayer)
        // 2. ErrorInfo on the errors tonic answers by itself; undecodable
        //    requests become INVALID_ARGUMENT.
        .layer(StatusDetailsLayer)
        // 3. Which Seam credential the call acts with.
        .layer(SeamCredentialLayer::new(credentials))
        .service(routes)
}
