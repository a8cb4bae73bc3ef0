//! `POST /v1/cancel-verification`: `{"orderId": ..., "userId": ...}`, or `{"tpOrderId": ...}`
//! alone for an order whose payment callback the relay recorded.

use super::fields::parse_object;
use super::order_ref::{order_ref, OrderRef};
use crate::error::ApiError;

/// Parses and validates the webhook body. Unknown fields are ignored.
pub fn parse(body: &[u8]) -> Result<OrderRef, ApiError> {
    order_ref(&parse_object(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_strings_and_ignores_extras() {
        assert_eq!(
            parse(br#"{"orderId": 2636635856, "userId": "4188819900", "note": "x"}"#),
            Ok(OrderRef::Ids {
                order_id: 2636635856,
                user_id: 4188819900
            })
        );
    }

    #[test]
    fn the_first_missing_or_bad_field_is_named() {
        assert_eq!(
            parse(br#"{"userId": 1}"#),
            Err(ApiError::MissingField {
                field: "orderId".into()
            })
        );
        assert_eq!(
            parse(br#"{"orderId": 1}"#),
            Err(ApiError::MissingField {
                field: "userId".into()
            })
        );
        assert!(matches!(
            parse(br#"{"orderId": 1, "userId": -4}"#),
            Err(ApiError::InvalidField { field, .. }) if field == "userId"
        ));
    }
}
