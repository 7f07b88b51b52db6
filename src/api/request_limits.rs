//! How large what callers send may be: every id, page token and list filter
//! is checked before anything else happens, so an oversized one costs
//! nothing but its refusal (INVALID_ARGUMENT with BadRequest naming the field).

use crate::api::error::GatewayError;

/// How large the ids, tokens and filters that callers send may be. Each is
/// checked before anything else happens, so an oversized one costs nothing
/// but its refusal.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_id_bytes: usize,
    pub max_page_token_bytes: usize,
    pub max_filter_values: usize,
}

impl RequestLimits {
    /// A required id: not empty, not over the limit; surrounding blanks trimmed.
    pub(crate) fn required_id<'a>(&self, field: &'static str, value: &'a str) -> Result<&'a str, GatewayError> {
        let value = self.optional_id(field, value)?;
        if value.is_empty() {
            return Err(GatewayError::invalid_argument(field, "is required"));
        }
        Ok(value)
    }

    /// An id that may be empty, not over the limit; surrounding blanks trimmed.
    pub(crate) fn optional_id<'a>(&self, field: &'static str, value: &'a str) -> Result<&'a str, GatewayError> {
        if value.len() > self.max_id_bytes {
            return Err(GatewayError::invalid_argument(
                field,
                format!(
                    "is {} bytes long; at most {} are accepted",
                    value.len(),
                    self.max_id_bytes
                ),
            ));
        }
        Ok(value.trim())
    }

    /// A list filter: at most `max_filter_values` values, each an id within the limit.
    pub(crate) fn filter(&self, field: &'static str, values: &[String]) -> Result<(), GatewayError> {
        if values.len() > self.max_filter_values {
            return Err(GatewayError::invalid_argument(
                field,
                format!(
                    "has {} values; at most {} are accepted",
                    values.len(),
                    self.max_filter_values
                ),
            ));
        }
        for value in values {
            self.optional_id(field, value)?;
        }
        Ok(())
    }

    /// A page token within the limit (its content is checked when decoded).
    pub(crate) fn page_token<'a>(&self, token: &'a str) -> Result<&'a str, GatewayError> {
        if token.len() > self.max_page_token_bytes {
            return Err(GatewayError::invalid_argument(
                "page_token",
                format!(
                    "is {} bytes long; at most {} are accepted",
                    token.len(),
                    self.max_page_token_bytes
                ),
            ));
        }
        Ok(token)
    }
}
