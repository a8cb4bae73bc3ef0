//! The result webhook: when a queued delivery finishes or fails, the merchant's system learns
//! the outcome without polling, signed with Standard Webhooks like the webhooks it sends us.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::ledger::DeliveryStatus;

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

#[cfg(test)]
mod tests {
    use super::*;

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
