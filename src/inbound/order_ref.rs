//! How a webhook names a Baidu order: by Baidu's `orderId` and `userId`, or by the merchant's
//! own `tpOrderId` alone, which the relay resolves from the payment callback it recorded.

use serde_json::{Map, Value};

use super::fields::required_id;
use crate::error::ApiError;

/// The longest `tpOrderId` accepted.
pub const MAX_TP_ORDER_ID_CHARS: usize = 64;

/// An order, as the webhook names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRef {
    Ids { order_id: u64, user_id: u64 },
    TpOrderId(String),
}

/// Explicit ids win; a `tpOrderId` alone is resolved later. Without either, `orderId` is the
/// missing field (the explicit form is the one Baidu's errors speak of).
pub fn order_ref(object: &Map<String, Value>) -> Result<OrderRef, ApiError> {
    let present = |field: &str| object.get(field).is_some_and(|v| !v.is_null());
    if present("orderId") || present("userId") || !present("tpOrderId") {
        return Ok(OrderRef::Ids {
            order_id: required_id(object, "orderId")?,
            user_id: required_id(object, "userId")?,
        });
    }
    Ok(OrderRef::TpOrderId(required_tp_order_id(object)?))
}

/// The merchant's order id: a non-empty string (or a whole number, kept as written) of at most
/// 64 characters, without control characters.
pub fn required_tp_order_id(object: &Map<String, Value>) -> Result<String, ApiError> {
    let field = "tpOrderId";
    let invalid = |reason: &str| ApiError::InvalidField {
        field: field.to_owned(),
        reason: reason.to_owned(),
    };
    let text = match object.get(field) {
        None | Some(Value::Null) => {
            return Err(ApiError::MissingField {
                field: field.to_owned(),
            })
        }
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) if number.is_u64() => number.to_string(),
        Some(_) => return Err(invalid("must be a string (the merchant's order id)")),
    };
    if text.is_empty() || text.chars().count() > MAX_TP_ORDER_ID_CHARS {
        return Err(invalid("must be 1 to 64 characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid("must not contain control characters"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::fields::parse_object;

    fn parse(body: &str) -> Result<OrderRef, ApiError> {
        order_ref(&parse_object(body.as_bytes()).unwrap())
    }

    #[test]
    fn explicit_ids_win_over_tp_order_id() {
        assert_eq!(
            parse(r#"{"orderId": 1, "userId": "2", "tpOrderId": "T"}"#),
            Ok(OrderRef::Ids {
                order_id: 1,
                user_id: 2
            })
        );
        assert_eq!(
            parse(r#"{"tpOrderId": "T-1"}"#),
            Ok(OrderRef::TpOrderId("T-1".into()))
        );
        assert_eq!(
            parse(r#"{"tpOrderId": 18607895241}"#),
            Ok(OrderRef::TpOrderId("18607895241".into()))
        );
    }

    #[test]
    fn half_an_id_pair_or_nothing_names_the_missing_field() {
        assert_eq!(
            parse(r#"{"orderId": 1, "tpOrderId": "T"}"#),
            Err(ApiError::MissingField {
                field: "userId".into()
            })
        );
        assert_eq!(
            parse(r#"{}"#),
            Err(ApiError::MissingField {
                field: "orderId".into()
            })
        );
        for bad in [
            r#"{"tpOrderId": ""}"#,
            r#"{"tpOrderId": true}"#,
            r#"{"tpOrderId": "a\nb"}"#,
        ] {
            assert!(
                matches!(parse(bad), Err(ApiError::InvalidField { field, .. }) if field == "tpOrderId"),
                "{bad}"
            );
        }
        let long = format!(r#"{{"tpOrderId": "{}"}}"#, "x".repeat(65));
        assert!(parse(&long).is_err());
    }
}
