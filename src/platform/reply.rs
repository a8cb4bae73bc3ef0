//! What the relay answers, before it becomes a `worker::Response`.

use serde_json::Value;
use worker::{Headers, Response};

use crate::error::ApiError;

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

    pub fn into_response(self) -> Response {
        let headers = Headers::new();
        let _ = headers.set("content-type", "application/json; charset=utf-8");
        let _ = headers.set("cache-control", "no-store");
        if let Some(allow) = self.allow {
            let _ = headers.set("allow", allow);
        }
        if self.replayed {
            let _ = headers.set("idempotent-replayed", "true");
        }
        let body = serde_json::to_vec(&self.body).unwrap_or_default();
        Response::builder()
            .with_status(self.status)
            .with_headers(headers)
            .fixed(body)
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
