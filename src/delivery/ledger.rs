//! The delivery ledger: one row per accepted webhook, in D1 (SQLite).
//!
//! The row is written before Baidu is called and updated after every attempt, so every
//! accepted webhook ends `delivered`, `rejected` or `failed`, and a duplicate `webhook-id`
//! finds out what happened to the first. The SQL lives here beside the rules it serves; the
//! schema is `migrations/0001_deliveries.sql`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A `pending` row this old was abandoned by an isolate that died mid-attempt; a duplicate
/// may take it over. Longer than any attempt can take (the upstream timeout is at most 120 s).
pub const ABANDONED_AFTER_MS: u64 = 150_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Accepted; the first attempt is running.
    Pending,
    Delivered,
    /// Refused for good by Baidu; never retried.
    Rejected,
    /// A transient failure; a retry is on the queue.
    Queued,
    /// Retries exhausted (dead-lettered); `POST /v1/deliveries/{id}/retry` re-queues it.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Rejected => "rejected",
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Delivered | DeliveryStatus::Rejected | DeliveryStatus::Failed
        )
    }
}

/// A ledger row as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerRow {
    pub webhook_id: String,
    pub route: String,
    /// The webhook body as received: needed to retry, and not secret.
    pub body: String,
    pub body_sha256: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// The relay's answer (HTTP status and JSON) once the delivery finished.
    pub answer_status: Option<u16>,
    pub answer_body: Option<String>,
    /// Baidu's last answer, when there was one.
    pub baidu_answer: Option<String>,
    pub received_at: u64,
    pub updated_at: u64,
    pub next_attempt_at: Option<u64>,
}

/// What a second webhook with a known `webhook-id` gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Duplicate {
    /// Finished: the stored answer again, marked `Idempotent-Replayed: true`.
    Replay { status: u16, body: Value },
    /// Still being delivered: 409 `in_progress`.
    InProgress,
    /// Same id, different body: 422 `id_reused`.
    IdReused,
    /// The first attempt's isolate died: this request runs the attempt instead.
    TakeOver,
}

/// The SHA-256 of the raw body, hex: identifies "the same webhook" across duplicates.
pub fn body_sha256(body: &[u8]) -> String {
    Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Decides what a duplicate gets, from the stored row.
pub fn on_duplicate(row: &LedgerRow, body_sha256: &str, now_ms: u64) -> Duplicate {
    if row.body_sha256 != body_sha256 {
        return Duplicate::IdReused;
    }
    match (row.status, &row.answer_status, &row.answer_body) {
        (status, Some(answer_status), Some(answer_body)) if status.is_finished() => {
            Duplicate::Replay {
                status: *answer_status,
                body: serde_json::from_str(answer_body).unwrap_or(Value::Null),
            }
        }
        (DeliveryStatus::Pending, _, _)
            if now_ms.saturating_sub(row.updated_at) > ABANDONED_AFTER_MS =>
        {
            Duplicate::TakeOver
        }
        _ => Duplicate::InProgress,
    }
}

/// The row as `GET /v1/deliveries/{id}` shows it.
pub fn row_view(row: &LedgerRow) -> Value {
    let parse = |text: &Option<String>| {
        text.as_deref().map(|t| {
            serde_json::from_str::<Value>(t).unwrap_or_else(|_| Value::String(t.to_owned()))
        })
    };
    json!({
        "id": row.webhook_id,
        "route": row.route,
        "status": row.status.as_str(),
        "attempts": row.attempts,
        "lastError": row.last_error,
        "receivedAt": row.received_at,
        "updatedAt": row.updated_at,
        "nextAttemptAt": row.next_attempt_at,
        "bodySha256": row.body_sha256,
        "request": parse(&Some(row.body.clone())),
        "answer": row.answer_status.map(|status| json!({"status": status, "body": parse(&row.answer_body)})),
        "baidu": parse(&row.baidu_answer),
    })
}

/// A retry on the queue. Queues do not tell workers-rs how often a message was tried, so the
/// message carries its own count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryMessage {
    pub id: String,
    /// The number, within this round of retries, of the attempt this message asks for.
    pub attempt: u32,
    /// The ledger's `attempts` when the message was sent: the consumer claims the row only if
    /// it still says so, so a duplicated message cannot run an attempt twice.
    pub seen_attempts: u32,
}

/// Inserts a `pending` row whose first attempt is about to run (hence `attempts = 1`): one
/// statement, so the hot path pays one D1 round trip before Baidu is called.
pub const INSERT: &str = "INSERT INTO deliveries (webhook_id, route, body, body_sha256, status, attempts, received_at, updated_at) \
     VALUES (?1, ?2, ?3, ?4, 'pending', 1, ?5, ?5) ON CONFLICT(webhook_id) DO NOTHING";

pub const SELECT: &str = "SELECT webhook_id, route, body, body_sha256, status, attempts, last_error, answer_status, \
     answer_body, baidu_answer, received_at, updated_at, next_attempt_at FROM deliveries WHERE webhook_id = ?1";

/// Takes over an abandoned `pending` row and counts the attempt it is about to make: only one
/// duplicate can win (`changes = 1`).
pub const TAKE_OVER: &str = "UPDATE deliveries SET attempts = attempts + 1, updated_at = ?2 \
     WHERE webhook_id = ?1 AND status = 'pending' AND updated_at = ?3";

/// Claims a queued row for one attempt: fails (`changes = 0`) for a stale or duplicated message.
pub const CLAIM: &str = "UPDATE deliveries SET attempts = attempts + 1, updated_at = ?2 \
     WHERE webhook_id = ?1 AND status = 'queued' AND attempts = ?3";

/// Gives a claim back when the retry could not be queued, so the redelivered message can
/// claim the row again.
pub const UNCLAIM: &str =
    "UPDATE deliveries SET attempts = attempts - 1 WHERE webhook_id = ?1 AND status = 'queued' AND attempts = ?2";

/// Records an attempt's outcome.
pub const RECORD: &str = "UPDATE deliveries SET status = ?2, last_error = ?3, answer_status = ?4, answer_body = ?5, \
     baidu_answer = COALESCE(?6, baidu_answer), updated_at = ?7, next_attempt_at = ?8 WHERE webhook_id = ?1";

/// Marks a dead-lettered row failed, unless something already finished it.
pub const MARK_FAILED: &str = "UPDATE deliveries SET status = 'failed', last_error = ?2, answer_status = ?3, \
     answer_body = ?4, updated_at = ?5, next_attempt_at = NULL WHERE webhook_id = ?1 AND status IN ('queued', 'pending')";

/// Re-queues a failed row for a manual retry.
pub const REQUEUE_FAILED: &str =
    "UPDATE deliveries SET status = 'queued', updated_at = ?2, next_attempt_at = ?2 \
     WHERE webhook_id = ?1 AND status = 'failed'";

/// `pending` rows abandoned by an isolate that died mid-attempt, for the periodic sweep; at most
/// ?2 per sweep, oldest first.
pub const ABANDONED: &str = "SELECT webhook_id, attempts, updated_at FROM deliveries \
     WHERE status = 'pending' AND updated_at < ?1 ORDER BY updated_at LIMIT ?2";

/// Hands an abandoned row to the retry queue: only if nobody touched it since it was read.
pub const REQUEUE_ABANDONED: &str =
    "UPDATE deliveries SET status = 'queued', last_error = 'abandoned', updated_at = ?2, \
     next_attempt_at = ?2 WHERE webhook_id = ?1 AND status = 'pending' AND updated_at = ?3";

/// An abandoned row, as the sweep reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AbandonedRow {
    pub webhook_id: String,
    pub attempts: u32,
    pub updated_at: u64,
}

/// Undoes [`REQUEUE_FAILED`] when the retry could not be queued.
pub const REVERT_REQUEUE: &str =
    "UPDATE deliveries SET status = 'failed' WHERE webhook_id = ?1 AND status = 'queued'";

/// Makes a `pending` row immediately available to a duplicate, when queueing its retry
/// failed: the sender's own retry then runs the attempt.
pub const RELEASE: &str =
    "UPDATE deliveries SET status = 'pending', updated_at = 0, last_error = ?2 WHERE webhook_id = ?1";

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: DeliveryStatus) -> LedgerRow {
        LedgerRow {
            webhook_id: "msg_1".into(),
            route: "/v1/cancel-verification".into(),
            body: r#"{"orderId":1,"userId":2}"#.into(),
            body_sha256: body_sha256(br#"{"orderId":1,"userId":2}"#),
            status,
            attempts: 1,
            last_error: None,
            answer_status: None,
            answer_body: None,
            baidu_answer: None,
            received_at: 1_000,
            updated_at: 1_000,
            next_attempt_at: None,
        }
    }

    #[test]
    fn body_hash_is_hex_sha256() {
        assert_eq!(
            body_sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn finished_deliveries_are_replayed() {
        let hash = body_sha256(br#"{"orderId":1,"userId":2}"#);
        for status in [
            DeliveryStatus::Delivered,
            DeliveryStatus::Rejected,
            DeliveryStatus::Failed,
        ] {
            let mut finished = row(status);
            finished.answer_status = Some(200);
            finished.answer_body = Some(r#"{"id":"msg_1","status":"delivered"}"#.into());
            assert_eq!(
                on_duplicate(&finished, &hash, 2_000),
                Duplicate::Replay {
                    status: 200,
                    body: json!({"id":"msg_1","status":"delivered"})
                }
            );
        }
    }

    #[test]
    fn running_deliveries_are_in_progress_until_abandoned() {
        let hash = body_sha256(br#"{"orderId":1,"userId":2}"#);
        assert_eq!(
            on_duplicate(&row(DeliveryStatus::Pending), &hash, 2_000),
            Duplicate::InProgress
        );
        assert_eq!(
            on_duplicate(&row(DeliveryStatus::Queued), &hash, 2_000),
            Duplicate::InProgress
        );
        assert_eq!(
            on_duplicate(
                &row(DeliveryStatus::Pending),
                &hash,
                1_000 + ABANDONED_AFTER_MS + 1
            ),
            Duplicate::TakeOver
        );
        // A queued row is the queue's to finish, however old.
        assert_eq!(
            on_duplicate(
                &row(DeliveryStatus::Queued),
                &hash,
                1_000 + ABANDONED_AFTER_MS * 100
            ),
            Duplicate::InProgress
        );
    }

    #[test]
    fn same_id_with_another_body_is_id_reused() {
        let mut finished = row(DeliveryStatus::Delivered);
        finished.answer_status = Some(200);
        finished.answer_body = Some("{}".into());
        assert_eq!(
            on_duplicate(&finished, &body_sha256(b"other"), 2_000),
            Duplicate::IdReused
        );
        assert_eq!(
            on_duplicate(&row(DeliveryStatus::Pending), &body_sha256(b"x"), 2_000),
            Duplicate::IdReused
        );
    }

    #[test]
    fn row_view_parses_stored_json() {
        let mut finished = row(DeliveryStatus::Delivered);
        finished.answer_status = Some(200);
        finished.answer_body = Some(r#"{"status":"delivered"}"#.into());
        finished.baidu_answer = Some(r#"{"errno":0}"#.into());
        let view = row_view(&finished);
        assert_eq!(view["status"], "delivered");
        assert_eq!(view["request"], json!({"orderId":1,"userId":2}));
        assert_eq!(
            view["answer"],
            json!({"status":200,"body":{"status":"delivered"}})
        );
        assert_eq!(view["baidu"], json!({"errno":0}));
        assert_eq!(
            row_view(&row(DeliveryStatus::Queued))["answer"],
            Value::Null
        );
    }

    #[test]
    fn rows_and_messages_round_trip_through_json() {
        let stored = json!({
            "webhook_id": "msg_1", "route": "/v1/cancel-verification", "body": "{}", "body_sha256": "00",
            "status": "queued", "attempts": 2, "last_error": "timeout", "answer_status": null,
            "answer_body": null, "baidu_answer": null, "received_at": 1, "updated_at": 2, "next_attempt_at": 3
        });
        let parsed: LedgerRow = serde_json::from_value(stored).unwrap();
        assert_eq!(parsed.status, DeliveryStatus::Queued);
        assert_eq!(parsed.attempts, 2);
        let message = RetryMessage {
            id: "msg_1".into(),
            attempt: 2,
            seen_attempts: 1,
        };
        let text = serde_json::to_string(&message).unwrap();
        assert_eq!(
            serde_json::from_str::<RetryMessage>(&text).unwrap(),
            message
        );
    }
}
