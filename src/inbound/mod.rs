//! The relay's inbound contract, as pure functions: which route a request is for, and the
//! checks every webhook passes before anything is relayed (content type, size, fields).
//! The order of checks is part of the contract: see docs/contract.md.

pub mod after_sale;
pub mod cancel_verification;
pub mod fields;

use crate::baidu::ordercenter::OrderCenterCall;
use crate::error::ApiError;

/// The largest body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every route the relay serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    CancelVerification,
    AfterSale(OrderCenterCall),
}

/// Method and path of each route, for matching and for the 404 message.
pub const ROUTES: [(Route, &str, &str); 5] = [
    (Route::Health, "GET", "/healthz"),
    (Route::CancelVerification, "POST", "/v1/cancel-verification"),
    (
        Route::AfterSale(OrderCenterCall::Update),
        "POST",
        "/v1/after-sale/update",
    ),
    (
        Route::AfterSale(OrderCenterCall::Append),
        "POST",
        "/v1/after-sale/append",
    ),
    (
        Route::AfterSale(OrderCenterCall::UpdateStatus),
        "POST",
        "/v1/after-sale/status",
    ),
];

impl Route {
    /// Resolves a request line to a route: 404 for an unknown path, 405 for a known path
    /// with the wrong method (HEAD is served wherever GET is).
    pub fn resolve(method: &str, path: &str) -> Result<Route, ApiError> {
        let (route, allowed, _) = ROUTES
            .iter()
            .find(|(_, _, route_path)| *route_path == path)
            .ok_or(ApiError::NotFound)?;
        if method.eq_ignore_ascii_case(allowed)
            || (*allowed == "GET" && method.eq_ignore_ascii_case("HEAD"))
        {
            Ok(*route)
        } else {
            Err(ApiError::MethodNotAllowed { allow: allowed })
        }
    }

    /// The route's path, as logged.
    pub fn path(self) -> &'static str {
        ROUTES
            .iter()
            .find(|(route, _, _)| *route == self)
            .map(|(_, _, path)| *path)
            .unwrap_or("?")
    }

    /// True for routes that carry a webhook to relay.
    pub fn is_webhook(self) -> bool {
        !matches!(self, Route::Health)
    }
}

/// A one-line list of the routes, for the 404 message.
pub fn route_summary() -> String {
    ROUTES
        .iter()
        .map(|(_, method, path)| format!("{method} {path}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Only JSON is accepted (`application/json`, any parameters, any case).
pub fn check_content_type(content_type: Option<&str>) -> Result<(), ApiError> {
    let essence = content_type
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/json") => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

/// Rejects a declared `Content-Length` over the limit before the body is read.
pub fn check_declared_length(content_length: Option<&str>) -> Result<(), ApiError> {
    match content_length.and_then(|value| value.trim().parse::<u64>().ok()) {
        Some(length) if length > MAX_BODY_BYTES as u64 => Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        }),
        _ => Ok(()),
    }
}

/// Rejects a body over the limit once read (chunked bodies declare no length).
pub fn check_body_length(length: usize) -> Result<(), ApiError> {
    if length > MAX_BODY_BYTES {
        Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve_with_404_and_405() {
        assert_eq!(Route::resolve("GET", "/healthz"), Ok(Route::Health));
        assert_eq!(Route::resolve("HEAD", "/healthz"), Ok(Route::Health));
        assert_eq!(
            Route::resolve("POST", "/v1/cancel-verification"),
            Ok(Route::CancelVerification)
        );
        assert_eq!(
            Route::resolve("post", "/v1/cancel-verification"),
            Ok(Route::CancelVerification)
        );
        assert_eq!(
            Route::resolve("GET", "/v1/cancel-verification"),
            Err(ApiError::MethodNotAllowed { allow: "POST" })
        );
        assert_eq!(
            Route::resolve("POST", "/healthz"),
            Err(ApiError::MethodNotAllowed { allow: "GET" })
        );
        for path in [
            "/",
            "/v1",
            "/v1/cancel-verification/",
            "/V1/cancel-verification",
            "/v2/cancel-verification",
        ] {
            assert_eq!(
                Route::resolve("POST", path),
                Err(ApiError::NotFound),
                "{path}"
            );
        }
        assert_eq!(Route::CancelVerification.path(), "/v1/cancel-verification");
        assert_eq!(
            Route::resolve("POST", "/v1/after-sale/update"),
            Ok(Route::AfterSale(OrderCenterCall::Update))
        );
        assert_eq!(
            Route::resolve("POST", "/v1/after-sale/append"),
            Ok(Route::AfterSale(OrderCenterCall::Append))
        );
        assert_eq!(
            Route::resolve("POST", "/v1/after-sale/status"),
            Ok(Route::AfterSale(OrderCenterCall::UpdateStatus))
        );
        assert_eq!(
            Route::AfterSale(OrderCenterCall::Append).path(),
            "/v1/after-sale/append"
        );
        assert!(route_summary().contains("POST /v1/cancel-verification"));
    }

    #[test]
    fn only_json_content_types_pass() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON ;charset=UTF-8",
        ] {
            assert_eq!(check_content_type(Some(ok)), Ok(()), "{ok}");
        }
        for bad in [
            None,
            Some(""),
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/jsonx"),
        ] {
            assert_eq!(
                check_content_type(bad),
                Err(ApiError::UnsupportedMediaType),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn size_limits_apply_to_declared_and_actual_lengths() {
        assert!(check_declared_length(None).is_ok());
        assert!(check_declared_length(Some("65536")).is_ok());
        assert!(check_declared_length(Some("65537")).is_err());
        assert!(check_declared_length(Some("garbage")).is_ok());
        assert!(check_body_length(MAX_BODY_BYTES).is_ok());
        assert_eq!(
            check_body_length(MAX_BODY_BYTES + 1),
            Err(ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES
            })
        );
    }
}
