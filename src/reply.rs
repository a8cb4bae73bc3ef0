//! What the relay answers, as a plain value: the platform layer turns it into a response.

use serde_json::Value;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// `delivered`, `queued`, `ok`, or the error code: logged.
    pub outcome: String,
    pub allow: Option<&'static str>,
    /// A duplicate webhook answered from the ledger.
    pub replayed: bool,
}

impl Reply {
    pub fn json(status: u16, body: Value, outcome: &str) -> Self {
        Reply {
            status,
            body,
            outcome: outcome.to_owned(),
            allow: None,
            replayed: false,
        }
    }
}

impl From<ApiError> for Reply {
    fn from(error: ApiError) -> Self {
        let allow = match &error {
            ApiError::MethodNotAllowed { allow } => Some(*allow),
            _ => None,
        };
        Reply {
            status: error.status(),
            body: error.body(),
            outcome: error.code().to_owned(),
            allow,
            replayed: false,
        }
    }
}
