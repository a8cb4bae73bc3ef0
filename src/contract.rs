//! The HTTP status of every error code, in one table shared by the relay's errors
//! (`error.rs`) and Baidu's (`baidu/error.rs`), so that neither layer needs the other to
//! know its statuses. It mirrors the error table of docs/contract.md, which the tests in
//! `error.rs` check it against.

/// Every error code the relay answers with, and its HTTP status.
pub const ERROR_TABLE: &[(&str, u16)] = &[
    ("invalid_json", 400),
    ("invalid_callback", 400),
    ("invalid_query", 400),
    ("missing_webhook_header", 401),
    ("invalid_webhook_header", 401),
    ("webhook_timestamp_expired", 401),
    ("webhook_timestamp_in_future", 401),
    ("invalid_webhook_signature", 401),
    ("unauthorized", 401),
    ("callback_signature_invalid", 403),
    ("not_found", 404),
    ("delivery_not_found", 404),
    ("method_not_allowed", 405),
    ("in_progress", 409),
    ("not_retryable", 409),
    ("baidu_insufficient_balance", 409),
    ("payload_too_large", 413),
    ("unsupported_media_type", 415),
    ("missing_field", 422),
    ("invalid_field", 422),
    ("id_reused", 422),
    ("order_unknown", 422),
    ("baidu_order_not_found", 422),
    ("baidu_bad_parameter", 422),
    ("baidu_items_rejected", 422),
    ("amount_mismatch", 422),
    ("misconfigured", 500),
    ("internal_error", 500),
    ("upstream_unavailable", 502),
    ("baidu_token_rejected", 502),
    ("baidu_signature_rejected", 502),
    ("baidu_error", 502),
    ("delivery_failed", 502),
    ("events_endpoint_failed", 502),
    ("outcome_unknown", 502),
    ("ledger_unavailable", 503),
    ("baidu_internal_error", 503),
];

/// The status of an error code from [`ERROR_TABLE`].
pub fn status_of(code: &str) -> u16 {
    ERROR_TABLE
        .iter()
        .find(|(listed, _)| *listed == code)
        .map(|(_, status)| *status)
        // A test checks that every code has a row; without one, the relay's failure is
        // the honest answer.
        .unwrap_or(500)
}
