//! The relay's inbound contract, as pure functions: which route a request is for, and the
//! checks every webhook passes before anything is relayed (content type, size, fields).
//! The order of checks is part of the contract: see docs/contract.md.

pub mod after_sale;
pub mod cancel_verification;
pub mod fields;
pub mod main_order;
pub mod order_ref;
pub mod payment_sign;
pub mod refund;

use crate::baidu::ordercenter::OrderCenterCall;
use crate::error::ApiError;
use crate::http::CappedBytes;

/// The largest body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every route the relay serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    CancelVerification,
    AfterSale(OrderCenterCall),
    /// `POST /v1/orders/{add,update,status,logistics}`: main orders.
    Orders(OrderCenterCall),
    /// `POST /v1/orders/sync`: a main order and its after-sale items, imported in two steps.
    OrderSync,
    /// `GET /v1/orders/{tpOrderId}` (admin): payment 2.0's `findByTpOrderId`.
    OrderQuery,
    /// `GET /v1/orders/{tpOrderId}/refunds` (admin): payment 2.0's `findOrderRefund`.
    OrderRefunds,
    /// `GET /v1/deliveries/{id}`.
    DeliveryStatus,
    /// `POST /v1/deliveries/{id}/retry`.
    DeliveryRetry,
    /// `GET /v1/deliveries`: the operator's listing.
    DeliveryList,
    /// `GET /v1/deliveries/summary`.
    DeliverySummary,
    /// `POST /v1/deliveries/retry`: every failed delivery of a page.
    DeliveryBulkRetry,
    /// `GET /admin` and its script and style sheet: the operator's console page.
    Console,
    /// `POST /v1/refund`: a refund, with the verification cancelled first where 1.0 needs it.
    Refund,
    /// `POST /v1/payments/sign`: the `rsaSign` of a payment's `orderInfo`, at once.
    PaymentSign,
    /// `POST /v1/baidu/...`: one of Baidu's signed callbacks.
    Callback(Callback),
}

/// Baidu's callbacks to the merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    Payment,
    RefundAudit,
    RefundResult,
}

/// Method and path of each route, for matching and for the 404 message.
pub const ROUTES: [(Route, &str, &str); 15] = [
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
    (
        Route::Orders(OrderCenterCall::AddMain),
        "POST",
        "/v1/orders/add",
    ),
    (
        Route::Orders(OrderCenterCall::UpdateMain),
        "POST",
        "/v1/orders/update",
    ),
    (
        Route::Orders(OrderCenterCall::UpdateMainStatus),
        "POST",
        "/v1/orders/status",
    ),
    (
        Route::Orders(OrderCenterCall::AddLogistics),
        "POST",
        "/v1/orders/logistics",
    ),
    (Route::OrderSync, "POST", "/v1/orders/sync"),
    (Route::Refund, "POST", "/v1/refund"),
    (Route::PaymentSign, "POST", "/v1/payments/sign"),
    (
        Route::Callback(Callback::Payment),
        "POST",
        "/v1/baidu/payment",
    ),
    (
        Route::Callback(Callback::RefundAudit),
        "POST",
        "/v1/baidu/refund-audit",
    ),
    (
        Route::Callback(Callback::RefundResult),
        "POST",
        "/v1/baidu/refund-result",
    ),
];

const DELIVERIES_PREFIX: &str = "/v1/deliveries/";
const ORDERS_PREFIX: &str = "/v1/orders/";
const REFUNDS_SUFFIX: &str = "/refunds";
const RETRY_SUFFIX: &str = "/retry";

impl Route {
    /// Resolves a request line to a route: 404 for an unknown path, 405 for a known path
    /// with the wrong method (HEAD is served wherever GET is).
    pub fn resolve(method: &str, path: &str) -> Result<Route, ApiError> {
        let delivery = |route: Route, allowed: &'static str| {
            if method.eq_ignore_ascii_case(allowed)
                || (allowed == "GET" && method.eq_ignore_ascii_case("HEAD"))
            {
                Ok(route)
            } else {
                Err(ApiError::MethodNotAllowed { allow: allowed })
            }
        };
        // A delivery named `retry` is still read at GET /v1/deliveries/retry.
        if path == "/v1/deliveries/retry" && !method.eq_ignore_ascii_case("POST") {
            return delivery(Route::DeliveryStatus, "GET");
        }
        if let Some(route) = console_route(path) {
            return delivery(
                route,
                if route == Route::DeliveryBulkRetry {
                    "POST"
                } else {
                    "GET"
                },
            );
        }
        if let Some(rest) = path.strip_prefix(DELIVERIES_PREFIX) {
            return match rest.strip_suffix(RETRY_SUFFIX) {
                Some(id) if !id.is_empty() && !id.contains('/') => {
                    delivery(Route::DeliveryRetry, "POST")
                }
                _ if !rest.is_empty() && !rest.contains('/') => {
                    delivery(Route::DeliveryStatus, "GET")
                }
                _ => Err(ApiError::NotFound),
            };
        }
        let known = ROUTES.iter().find(|(_, _, route_path)| *route_path == path);
        if let (None, Some(rest)) = (known, path.strip_prefix(ORDERS_PREFIX)) {
            // The webhook routes under /v1/orders/ were matched above; the rest are queries.
            return match rest.strip_suffix(REFUNDS_SUFFIX) {
                Some(id) if !id.is_empty() && !id.contains('/') => {
                    delivery(Route::OrderRefunds, "GET")
                }
                _ if !rest.is_empty() && !rest.contains('/') => delivery(Route::OrderQuery, "GET"),
                _ => Err(ApiError::NotFound),
            };
        }
        let (route, allowed, _) = known.ok_or(ApiError::NotFound)?;
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
        match self {
            Route::DeliveryStatus => return "/v1/deliveries/{id}",
            Route::DeliveryRetry => return "/v1/deliveries/{id}/retry",
            Route::DeliveryList => return "/v1/deliveries",
            Route::DeliverySummary => return "/v1/deliveries/summary",
            Route::DeliveryBulkRetry => return "/v1/deliveries/retry",
            Route::Console => return "/admin",
            Route::OrderQuery => return "/v1/orders/{tpOrderId}",
            Route::OrderRefunds => return "/v1/orders/{tpOrderId}/refunds",
            _ => {}
        }
        ROUTES
            .iter()
            .find(|(route, _, _)| *route == self)
            .map(|(_, _, path)| *path)
            .unwrap_or("?")
    }

    /// True for routes whose requests become ledger deliveries: the merchant's webhooks to
    /// Baidu, and the events Baidu's payment and refund-result callbacks become.
    pub fn is_delivered(self) -> bool {
        matches!(
            self,
            Route::CancelVerification
                | Route::AfterSale(_)
                | Route::Orders(_)
                | Route::OrderSync
                | Route::Refund
                | Route::Callback(Callback::Payment | Callback::RefundResult)
        )
    }

    /// True for routes that carry a merchant's webhook to relay.
    pub fn is_webhook(self) -> bool {
        matches!(
            self,
            Route::CancelVerification
                | Route::AfterSale(_)
                | Route::Orders(_)
                | Route::OrderSync
                | Route::Refund
                | Route::PaymentSign
        )
    }
}

/// The operator's console routes, by exact path (the console page's assets included).
fn console_route(path: &str) -> Option<Route> {
    match path {
        "/v1/deliveries" => Some(Route::DeliveryList),
        "/v1/deliveries/summary" => Some(Route::DeliverySummary),
        "/v1/deliveries/retry" => Some(Route::DeliveryBulkRetry),
        _ if crate::admin::asset(path).is_some() => Some(Route::Console),
        _ => None,
    }
}

/// True when a `/healthz` URL asks for the signing self-test (`?signing=1`).
pub fn wants_signing_self_test(url: &str) -> bool {
    url.split_once('?')
        .map(|(_, query)| query.split('&').any(|pair| pair == "signing=1"))
        .unwrap_or(false)
}

/// The `tpOrderId` in `/v1/orders/{tpOrderId}[/refunds]`, percent-decoded: 1 to 256 visible
/// characters.
pub fn order_query_id(path: &str) -> Option<String> {
    let rest = path.strip_prefix(ORDERS_PREFIX)?;
    let encoded = rest.strip_suffix(REFUNDS_SUFFIX).unwrap_or(rest);
    let decoded = percent_decode(encoded)?;
    let visible = |c: char| !c.is_control() && !c.is_whitespace();
    (!decoded.is_empty() && decoded.len() <= 256 && decoded.chars().all(visible)).then_some(decoded)
}

/// The webhook id in `/v1/deliveries/{id}[/retry]`, percent-decoded.
pub fn delivery_id(path: &str) -> Option<String> {
    let rest = path.strip_prefix(DELIVERIES_PREFIX)?;
    let encoded = rest.strip_suffix(RETRY_SUFFIX).unwrap_or(rest);
    let decoded = percent_decode(encoded)?;
    crate::webhook::is_well_formed_id(&decoded).then_some(decoded)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Checks `Authorization: Bearer <token>` in constant time.
pub fn check_bearer(authorization: Option<&str>, expected: &str) -> Result<(), ApiError> {
    use subtle::ConstantTimeEq;
    let given = authorization
        .and_then(|value| value.trim().strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    // Lengths may differ; `ct_eq` on slices of different lengths is false without leaking
    // where they differ.
    if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
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

/// Baidu's callbacks are forms (`application/x-www-form-urlencoded`, any parameters, any case).
pub fn check_form_content_type(content_type: Option<&str>) -> Result<(), ApiError> {
    let essence = content_type
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/x-www-form-urlencoded") => Ok(()),
        _ => Err(ApiError::InvalidCallback {
            reason: "the body is not application/x-www-form-urlencoded".into(),
        }),
    }
}

/// Rejects a declared `Content-Length` over the limit before the body is read. `Ok(true)` when
/// a length within the limit is declared: the body can be read in one piece; `Ok(false)` when
/// none is (it must be read as a capped stream).
pub fn check_declared_length(content_length: Option<&str>) -> Result<bool, ApiError> {
    match content_length.and_then(|value| value.trim().parse::<u64>().ok()) {
        Some(length) if length > MAX_BODY_BYTES as u64 => Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        }),
        Some(_) => Ok(true),
        None => Ok(false),
    }
}

/// A request body read chunk by chunk, refused (413) as soon as it passes the limit: a sender
/// that streams megabytes (or never stops) costs at most one chunk beyond it.
#[derive(Debug)]
pub struct CappedBody(CappedBytes);

impl Default for CappedBody {
    fn default() -> Self {
        CappedBody(CappedBytes::new(MAX_BODY_BYTES))
    }
}

impl CappedBody {
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.0.push(chunk).map_err(|_| ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        })
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0.into_bytes()
    }
}

/// Rejects a body over the limit (chunked bodies declare no length).
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
    #[test]
    fn a_streamed_body_is_refused_at_the_first_chunk_past_the_limit() {
        let mut body = CappedBody::default();
        body.push(&[b'x'; MAX_BODY_BYTES - 1]).unwrap();
        body.push(b"y").unwrap();
        assert_eq!(
            body.push(b"z").unwrap_err().code(),
            "payload_too_large",
            "one byte over"
        );
        assert_eq!(
            body.into_bytes().len(),
            MAX_BODY_BYTES,
            "nothing kept beyond"
        );
        let mut huge = CappedBody::default();
        assert!(huge.push(&vec![0; MAX_BODY_BYTES + 1]).is_err());
        assert!(huge.into_bytes().is_empty());
        let mut empty = CappedBody::default();
        empty.push(b"").unwrap();
        assert!(empty.into_bytes().is_empty());
    }

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
        for (path, call) in [
            ("/v1/orders/add", OrderCenterCall::AddMain),
            ("/v1/orders/update", OrderCenterCall::UpdateMain),
            ("/v1/orders/status", OrderCenterCall::UpdateMainStatus),
            ("/v1/orders/logistics", OrderCenterCall::AddLogistics),
        ] {
            assert_eq!(Route::resolve("POST", path), Ok(Route::Orders(call)));
            assert_eq!(Route::Orders(call).path(), path);
            assert!(Route::Orders(call).is_webhook());
        }
        assert_eq!(
            Route::resolve("POST", "/v1/orders/sync"),
            Ok(Route::OrderSync)
        );
        assert!(Route::OrderSync.is_webhook());
        assert_eq!(
            Route::resolve("GET", "/v1/orders/T-1"),
            Ok(Route::OrderQuery)
        );
        assert_eq!(
            Route::resolve("HEAD", "/v1/orders/T-1"),
            Ok(Route::OrderQuery)
        );
        assert_eq!(
            Route::resolve("GET", "/v1/orders/T-1/refunds"),
            Ok(Route::OrderRefunds)
        );
        assert_eq!(
            Route::resolve("POST", "/v1/orders/T-1"),
            Err(ApiError::MethodNotAllowed { allow: "GET" })
        );
        assert_eq!(
            Route::resolve("GET", "/v1/orders/add"),
            Err(ApiError::MethodNotAllowed { allow: "POST" })
        );
        for path in ["/v1/orders/", "/v1/orders/a/b", "/v1/orders//refunds"] {
            assert_eq!(
                Route::resolve("GET", path),
                Err(ApiError::NotFound),
                "{path}"
            );
        }
        assert_eq!(order_query_id("/v1/orders/T%201/refunds"), None);
        assert_eq!(
            order_query_id("/v1/orders/T%2D1/refunds"),
            Some("T-1".into())
        );
        assert_eq!(
            order_query_id("/v1/orders/%E8%AE%A2%E5%8D%95"),
            Some("订单".into())
        );
        assert!(!Route::OrderQuery.is_webhook());
    }

    #[test]
    fn delivery_routes_carry_the_id() {
        assert_eq!(
            Route::resolve("GET", "/v1/deliveries/msg_1"),
            Ok(Route::DeliveryStatus)
        );
        assert_eq!(
            Route::resolve("POST", "/v1/deliveries/msg_1/retry"),
            Ok(Route::DeliveryRetry)
        );
        assert_eq!(
            Route::resolve("POST", "/v1/deliveries/msg_1"),
            Err(ApiError::MethodNotAllowed { allow: "GET" })
        );
        assert_eq!(
            Route::resolve("GET", "/v1/deliveries/msg_1/retry"),
            Err(ApiError::MethodNotAllowed { allow: "POST" })
        );
        for path in [
            "/v1/deliveries/",
            "/v1/deliveries/a/b",
            "/v1/deliveries//retry",
        ] {
            assert_eq!(
                Route::resolve("GET", path),
                Err(ApiError::NotFound),
                "{path}"
            );
        }
        assert_eq!(delivery_id("/v1/deliveries/msg_1"), Some("msg_1".into()));
        assert_eq!(
            delivery_id("/v1/deliveries/msg_1/retry"),
            Some("msg_1".into())
        );
        assert_eq!(
            delivery_id("/v1/deliveries/a%3Ab%2Fc"),
            Some("a:b/c".into())
        );
        assert_eq!(delivery_id("/v1/deliveries/a%20b"), None);
        assert_eq!(delivery_id("/v1/deliveries/%zz"), None);
        assert_eq!(Route::DeliveryRetry.path(), "/v1/deliveries/{id}/retry");
        assert!(!Route::DeliveryStatus.is_webhook());
        assert!(Route::Callback(Callback::Payment).is_delivered());
        assert!(!Route::Callback(Callback::RefundAudit).is_delivered());
        assert!(!Route::PaymentSign.is_delivered() && Route::Refund.is_delivered());
    }

    #[test]
    fn the_console_routes_are_exact_paths_beside_the_delivery_ids() {
        assert_eq!(
            Route::resolve("GET", "/v1/deliveries"),
            Ok(Route::DeliveryList)
        );
        assert_eq!(
            Route::resolve("GET", "/v1/deliveries/summary"),
            Ok(Route::DeliverySummary)
        );
        assert_eq!(
            Route::resolve("POST", "/v1/deliveries/retry"),
            Ok(Route::DeliveryBulkRetry)
        );
        // The id `retry` can still be read.
        assert_eq!(
            Route::resolve("GET", "/v1/deliveries/retry"),
            Ok(Route::DeliveryStatus)
        );
        assert_eq!(
            Route::resolve("POST", "/v1/deliveries"),
            Err(ApiError::MethodNotAllowed { allow: "GET" })
        );
        assert_eq!(
            Route::resolve("DELETE", "/v1/deliveries/retry"),
            Err(ApiError::MethodNotAllowed { allow: "GET" })
        );
        for path in ["/admin", "/admin/console.js", "/admin/console.css"] {
            assert_eq!(Route::resolve("GET", path), Ok(Route::Console), "{path}");
            assert_eq!(Route::resolve("HEAD", path), Ok(Route::Console), "{path}");
        }
        assert_eq!(
            Route::resolve("GET", "/admin/x.js"),
            Err(ApiError::NotFound)
        );
        assert_eq!(Route::DeliveryBulkRetry.path(), "/v1/deliveries/retry");
        assert!(!Route::DeliveryList.is_webhook() && !Route::Console.is_webhook());
    }

    #[test]
    fn the_signing_self_test_is_asked_for_explicitly() {
        assert!(wants_signing_self_test("http://relay/healthz?signing=1"));
        assert!(wants_signing_self_test(
            "http://relay/healthz?x=2&signing=1"
        ));
        assert!(!wants_signing_self_test("http://relay/healthz"));
        assert!(!wants_signing_self_test("http://relay/healthz?signing=0"));
        assert!(!wants_signing_self_test("http://relay/healthz?nosigning=1"));
    }

    #[test]
    fn bearer_tokens_must_match_exactly() {
        let token = "0123456789abcdef-admin";
        assert_eq!(
            check_bearer(Some("Bearer 0123456789abcdef-admin"), token),
            Ok(())
        );
        for bad in [
            None,
            Some(""),
            Some("Bearer"),
            Some("bearer 0123456789abcdef-admin"),
            Some("Bearer 0123456789abcdef-admiN"),
            Some("Bearer 0123456789abcdef"),
            Some("Basic eA=="),
        ] {
            assert_eq!(
                check_bearer(bad, token),
                Err(ApiError::Unauthorized),
                "{bad:?}"
            );
        }
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
        assert_eq!(check_declared_length(Some(" 65536 ")).ok(), Some(true));
        assert_eq!(check_declared_length(Some("garbage")).ok(), Some(false));
        assert_eq!(check_declared_length(None).ok(), Some(false));
        assert!(check_body_length(MAX_BODY_BYTES).is_ok());
        assert_eq!(
            check_body_length(MAX_BODY_BYTES + 1),
            Err(ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES
            })
        );
    }
}
