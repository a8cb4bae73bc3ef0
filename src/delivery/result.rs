//! The result webhook: when a queued delivery finishes or fails, the merchant's system learns
//! the outcome without polling, signed with Standard Webhooks like the webhooks it sends us.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::ledger::DeliveryStatus;
use crate::http::{HttpRequest, UpstreamAnswer};
use crate::webhook::{self, WebhookSecrets};

/// The event type for a delivery that left the queue, whatever its outcome.
pub const EVENT_TYPE: &str = "delivery.finished";

/// The event's own `webhook-id`: stable for one outcome of one delivery, so the merchant can
/// de-duplicate, and within the 256 characters any webhook id may have.
pub fn event_id(webhook_id: &str, status: DeliveryStatus, attempts: u32) -> String {
    let digest =
        Sha256::digest(format!("{webhook_id}\n{}\n{attempts}", status.as_str()).as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("evt_{hex}")
}

/// The body of the result webhook.
pub fn event_body(
    webhook_id: &str,
    route: &str,
    status: DeliveryStatus,
    attempts: u32,
    answer: &Value,
) -> Value {
    json!({
        "type": EVENT_TYPE,
        "id": webhook_id,
        "route": route,
        "status": status.as_str(),
        "attempts": attempts,
        "answer": answer,
    })
}

/// The outcome of one delivery, as reported to the merchant's system.
#[derive(Debug, Clone, Copy)]
pub struct Outcome<'a> {
    pub webhook_id: &'a str,
    pub route: &'a str,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub answer: &'a Value,
}

/// The POST to `RESULT_WEBHOOK_URL`, signed with the first of `secrets`
/// (`RESULT_WEBHOOK_SECRET`, else `WEBHOOK_SECRET`): one signature only, so during a rotation
/// the secret listed first is the one the merchant's system must already hold. `now` is Unix
/// seconds.
pub fn result_request(
    url: &str,
    secrets: &WebhookSecrets,
    outcome: Outcome<'_>,
    now: i64,
) -> HttpRequest {
    let id = event_id(outcome.webhook_id, outcome.status, outcome.attempts);
    let body = event_body(
        outcome.webhook_id,
        outcome.route,
        outcome.status,
        outcome.attempts,
        outcome.answer,
    );
    let body = serde_json::to_vec(&body).unwrap_or_default();
    webhook::signed_post(url, secrets, &id, now, body)
}

/// Why the merchant's system did not take a result webhook, for the log: `None` when it
/// answered 2xx. A redirect is reported as such: it is never followed, so a receiver that
/// moved must be configured anew.
pub fn failure_reason(answer: &UpstreamAnswer) -> Option<&'static str> {
    match answer {
        Err(error) => Some(error.as_str()),
        Ok(response) if (200..300).contains(&response.status) => None,
        Ok(response) if (300..400).contains(&response.status) => Some("redirect"),
        Ok(_) => Some("http_status"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_requests_verify_as_standard_webhooks() {
        let secrets = WebhookSecrets::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let answer = json!({"status": 200});
        let outcome = Outcome {
            webhook_id: "msg_1",
            route: "/v1/cancel-verification",
            status: DeliveryStatus::Delivered,
            attempts: 3,
            answer: &answer,
        };
        let request = result_request(
            "https://merchant.example/results",
            &secrets,
            outcome,
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
        assert_eq!(verified.id, event_id("msg_1", DeliveryStatus::Delivered, 3));
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["status"], "delivered");
        assert_eq!(request.url, "https://merchant.example/results");
    }

    #[test]
    fn a_redirecting_receiver_is_logged_as_a_redirect() {
        use crate::http::{TransportError, UpstreamResponse};
        let answered = |status| {
            failure_reason(&Ok(UpstreamResponse {
                status,
                body: Vec::new(),
            }))
        };
        assert_eq!(answered(200), None);
        assert_eq!(answered(204), None);
        assert_eq!(answered(302), Some("redirect"));
        assert_eq!(answered(308), Some("redirect"));
        assert_eq!(answered(500), Some("http_status"));
        assert_eq!(
            failure_reason(&Err(TransportError::Timeout)),
            Some("timeout")
        );
    }

    #[test]
    fn event_ids_are_stable_per_outcome_and_short() {
        let a = event_id("msg_1", DeliveryStatus::Delivered, 3);
        assert_eq!(a, event_id("msg_1", DeliveryStatus::Delivered, 3));
        assert_ne!(a, event_id("msg_1", DeliveryStatus::Failed, 3));
        assert_ne!(a, event_id("msg_2", DeliveryStatus::Delivered, 3));
        assert_eq!(
            event_id(&"x".repeat(256), DeliveryStatus::Failed, 8).len(),
            28
        );
        assert!(crate::webhook::is_well_formed_id(&a));
    }

    #[test]
    fn body_names_the_delivery_and_its_outcome() {
        let body = event_body(
            "msg_1",
            "/v1/cancel-verification",
            DeliveryStatus::Delivered,
            3,
            &json!({"status": 200}),
        );
        assert_eq!(body["type"], "delivery.finished");
        assert_eq!(body["id"], "msg_1");
        assert_eq!(body["status"], "delivered");
        assert_eq!(body["attempts"], 3);
        assert_eq!(body["answer"]["status"], 200);
    }
}
