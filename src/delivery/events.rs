//! Merchant events: what Baidu's callbacks become on their way to the merchant's
//! `EVENTS_WEBHOOK_URL`, signed as Standard Webhooks like every webhook the relay sends.
//!
//! Each event is a ledger delivery of its own, keyed by Baidu's idempotency key for the
//! callback, so Baidu's repeated callbacks become replays and the event is posted once
//! (and retried, dead-lettered and replayable like any delivery).

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::http::{HttpRequest, UpstreamAnswer};
use crate::webhook::{self, WebhookSecrets};

/// The delivery id of a payment callback's event: Baidu's `orderId` is its idempotency key.
pub fn payment_event_id(order_id: &str) -> String {
    format!("baidu-payment-{order_id}")
}

/// The delivery id of a refund-result callback's event: Baidu's `refundBatchId`.
pub fn refund_result_event_id(refund_batch_id: &str) -> String {
    format!("baidu-refund-{refund_batch_id}")
}

/// The webhook id of a forwarded audit (not a delivery: it is answered at once or not at all).
pub fn audit_event_id(refund_batch_id: &str) -> String {
    format!("baidu-refund-audit-{refund_batch_id}")
}

/// The event's body: `{"type", "id", "data", ...}`. Built from the callback alone (no clock),
/// so that Baidu's repeat of a callback makes the same body.
pub fn event_body(id: &str, event: Value) -> Vec<u8> {
    let mut body = json!({"id": id});
    if let (Value::Object(body), Value::Object(event)) = (&mut body, event) {
        body.extend(event);
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The POST of one event, signed with the first of `secrets`.
pub fn event_request(
    url: &str,
    secrets: &WebhookSecrets,
    id: &str,
    body: &[u8],
    now_seconds: i64,
) -> HttpRequest {
    webhook::signed_post(url, secrets, id, now_seconds, body.to_vec())
}

/// Any 2xx takes the event; anything else (a redirect included: never followed) is retried.
pub fn classify_answer(answer: &UpstreamAnswer) -> Result<Value, ApiError> {
    match answer {
        Ok(response) if (200..300).contains(&response.status) => {
            Ok(json!({"merchantStatus": response.status}))
        }
        Ok(response) => Err(ApiError::EventsEndpointFailed {
            status: Some(response.status),
        }),
        Err(_) => Err(ApiError::EventsEndpointFailed { status: None }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{TransportError, UpstreamResponse};

    #[test]
    fn events_verify_as_standard_webhooks_under_their_delivery_id() {
        let secrets = WebhookSecrets::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let id = payment_event_id("2645985458");
        let body = event_body(&id, json!({"type": "baidu.payment.succeeded", "data": {}}));
        let request = event_request(
            "https://m.example/events",
            &secrets,
            &id,
            &body,
            1_700_000_000,
        );
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        let verified = webhook::verify(
            &secrets,
            webhook::WebhookHeaders {
                id: header(webhook::ID_HEADER),
                timestamp: header(webhook::TIMESTAMP_HEADER),
                signature: header(webhook::SIGNATURE_HEADER),
            },
            &request.body,
            1_700_000_000,
        )
        .unwrap();
        assert_eq!(verified.id, "baidu-payment-2645985458");
        let parsed: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(parsed["id"], "baidu-payment-2645985458");
        assert_eq!(parsed["type"], "baidu.payment.succeeded");
        assert!(webhook::is_well_formed_id(&refund_result_event_id(
            "152713835"
        )));
    }

    #[test]
    fn only_2xx_takes_an_event() {
        let answer = |status| {
            Ok(UpstreamResponse {
                status,
                body: Vec::new(),
            })
        };
        assert!(classify_answer(&answer(204)).is_ok());
        for status in [301, 400, 410, 500] {
            assert_eq!(
                classify_answer(&answer(status)),
                Err(ApiError::EventsEndpointFailed {
                    status: Some(status)
                })
            );
        }
        assert_eq!(
            classify_answer(&Err(TransportError::Timeout)),
            Err(ApiError::EventsEndpointFailed { status: None })
        );
    }
}
