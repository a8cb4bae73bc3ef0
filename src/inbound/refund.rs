//! `POST /v1/refund`: `{"tpOrderId", "refundReason", "applyRefundMoney"?, "refundType"?,
//! "orderId"?, "userId"?, "bizRefundBatchId"?, "cancelVerification"?}`.

use serde_json::Value;

use super::fields::{parse_object, required_id};
use super::order_ref::required_tp_order_id;
use crate::error::ApiError;

/// The longest `refundReason` accepted, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// A refund, as the merchant's system asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub tp_order_id: String,
    /// Baidu's `orderId` and `userId` when given (they win); else resolved from `tpOrderId`.
    pub ids: Option<(u64, u64)>,
    pub refund_type: u8,
    pub refund_reason: String,
    /// Fen; absent for a full refund.
    pub apply_refund_money: Option<u64>,
    /// The merchant's own refund id; else one derived from the webhook id.
    pub biz_refund_batch_id: Option<String>,
    /// 1.0 full refunds cancel the verification first unless this is `false` (the merchant
    /// already cancelled it).
    pub cancel_verification: bool,
}

pub fn parse(body: &[u8]) -> Result<RefundRequest, ApiError> {
    let object = parse_object(body)?;
    let tp_order_id = required_tp_order_id(&object)?;
    let present = |field: &str| object.get(field).is_some_and(|v| !v.is_null());
    let ids = if present("orderId") || present("userId") {
        Some((
            required_id(&object, "orderId")?,
            required_id(&object, "userId")?,
        ))
    } else {
        None
    };
    let refund_reason = match object.get("refundReason") {
        None | Some(Value::Null) => return Err(missing("refundReason")),
        Some(Value::String(text))
            if !text.trim().is_empty() && text.chars().count() <= MAX_REASON_CHARS =>
        {
            text.clone()
        }
        Some(_) => {
            return Err(invalid(
                "refundReason",
                "must be a non-empty string of at most 200 characters",
            ))
        }
    };
    let refund_type = match object.get("refundType") {
        None | Some(Value::Null) => 1,
        Some(value) => match value.as_u64().or_else(|| value.as_str()?.parse().ok()) {
            Some(n @ 1..=3) => n as u8,
            _ => {
                return Err(invalid(
                    "refundType",
                    "must be 1 (the user asked), 2 (merchant customer service) or 3 (the merchant's service failed)",
                ))
            }
        },
    };
    let apply_refund_money = if present("applyRefundMoney") {
        Some(required_id(&object, "applyRefundMoney").map_err(|_| {
            invalid(
                "applyRefundMoney",
                "must be a positive whole number of fen (1 yuan = 100); omit it for a full refund",
            )
        })?)
    } else {
        None
    };
    let biz_refund_batch_id = match object.get("bizRefundBatchId") {
        None | Some(Value::Null) => None,
        Some(Value::String(text))
            if (1..=64).contains(&text.len())
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            Some(text.clone())
        }
        Some(_) => {
            return Err(invalid(
                "bizRefundBatchId",
                "must be 1 to 64 letters, digits, '_' or '-'",
            ))
        }
    };
    let cancel_verification = match object.get("cancelVerification") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(invalid("cancelVerification", "must be true or false")),
    };
    Ok(RefundRequest {
        tp_order_id,
        ids,
        refund_type,
        refund_reason,
        apply_refund_money,
        biz_refund_batch_id,
        cancel_verification,
    })
}

fn missing(field: &str) -> ApiError {
    ApiError::MissingField {
        field: field.to_owned(),
    }
}

fn invalid(field: &str, reason: &str) -> ApiError {
    ApiError::InvalidField {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_refund_is_full_user_requested_and_cancels_first() {
        let refund =
            parse(r#"{"tpOrderId": "T-1", "refundReason": "不想要了"}"#.as_bytes()).unwrap();
        assert_eq!(
            refund,
            RefundRequest {
                tp_order_id: "T-1".into(),
                ids: None,
                refund_type: 1,
                refund_reason: "不想要了".into(),
                apply_refund_money: None,
                biz_refund_batch_id: None,
                cancel_verification: true,
            }
        );
    }

    #[test]
    fn every_field_is_read() {
        let refund = parse(
            br#"{"tpOrderId": "T-1", "refundReason": "r", "orderId": "5", "userId": 6, "refundType": "2",
                "applyRefundMoney": 100, "bizRefundBatchId": "rf_1", "cancelVerification": false}"#,
        )
        .unwrap();
        assert_eq!(refund.ids, Some((5, 6)));
        assert_eq!(refund.refund_type, 2);
        assert_eq!(refund.apply_refund_money, Some(100));
        assert_eq!(refund.biz_refund_batch_id.as_deref(), Some("rf_1"));
        assert!(!refund.cancel_verification);
    }

    #[test]
    fn bad_fields_are_named() {
        for (body, field) in [
            (r#"{"refundReason": "r"}"#, "tpOrderId"),
            (r#"{"tpOrderId": "T"}"#, "refundReason"),
            (r#"{"tpOrderId": "T", "refundReason": " "}"#, "refundReason"),
            (
                r#"{"tpOrderId": "T", "refundReason": "r", "refundType": 4}"#,
                "refundType",
            ),
            (
                r#"{"tpOrderId": "T", "refundReason": "r", "applyRefundMoney": 1.5}"#,
                "applyRefundMoney",
            ),
            (
                r#"{"tpOrderId": "T", "refundReason": "r", "applyRefundMoney": 0}"#,
                "applyRefundMoney",
            ),
            (
                r#"{"tpOrderId": "T", "refundReason": "r", "orderId": 1}"#,
                "userId",
            ),
            (
                r#"{"tpOrderId": "T", "refundReason": "r", "bizRefundBatchId": "a b"}"#,
                "bizRefundBatchId",
            ),
            (
                r#"{"tpOrderId": "T", "refundReason": "r", "cancelVerification": "no"}"#,
                "cancelVerification",
            ),
        ] {
            match parse(body.as_bytes()) {
                Err(
                    ApiError::MissingField { field: named }
                    | ApiError::InvalidField { field: named, .. },
                ) => {
                    assert_eq!(named, field, "{body}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
