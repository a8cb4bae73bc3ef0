//! `POST /v1/payments/sign`: `{"dealId", "totalAmount", "tpOrderId", ...}`; every other field
//! is part of `orderInfo` and comes back unsigned, untouched.

use super::fields::{parse_object, required_id};
use super::order_ref::required_tp_order_id;
use crate::baidu::payment::PaymentOrder;
use crate::error::ApiError;

pub fn parse(body: &[u8]) -> Result<PaymentOrder, ApiError> {
    let mut object = parse_object(body)?;
    let deal_id = required_id(&object, "dealId")?.to_string();
    let total_amount = required_id(&object, "totalAmount").map_err(|error| match error {
        ApiError::InvalidField { field, .. } => ApiError::InvalidField {
            field,
            reason: "must be a positive whole number of fen (1 yuan = 100)".into(),
        },
        other => other,
    })?;
    let tp_order_id = required_tp_order_id(&object)?;
    for signed in [
        "dealId",
        "totalAmount",
        "tpOrderId",
        "appKey",
        "rsaSign",
        "signFieldsRange",
    ] {
        object.remove(signed);
    }
    Ok(PaymentOrder {
        deal_id,
        total_amount,
        tp_order_id,
        extra: object,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_fields_are_read_and_the_rest_kept() {
        let order = parse(
            r#"{"dealId": "470193086", "totalAmount": 11300, "tpOrderId": "3028903626", "dealTitle": "Demo", "appKey": "forged"}"#
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(order.deal_id, "470193086");
        assert_eq!(order.total_amount, 11300);
        assert_eq!(order.tp_order_id, "3028903626");
        assert_eq!(order.extra.get("dealTitle").unwrap(), "Demo");
        assert!(order.extra.get("appKey").is_none());
    }

    #[test]
    fn missing_and_bad_fields_are_named() {
        assert!(matches!(parse(br#"{"totalAmount": 1, "tpOrderId": "T"}"#),
            Err(ApiError::MissingField { field }) if field == "dealId"));
        assert!(
            matches!(parse(br#"{"dealId": 1, "totalAmount": "1.5", "tpOrderId": "T"}"#),
            Err(ApiError::InvalidField { field, .. }) if field == "totalAmount")
        );
        assert!(matches!(parse(br#"{"dealId": 1, "totalAmount": 1}"#),
            Err(ApiError::MissingField { field }) if field == "tpOrderId"));
    }
}
