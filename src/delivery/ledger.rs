//! The delivery ledger: one row per accepted webhook, in D1 (SQLite).
//!
//! The row is written before Baidu is called and updated after every attempt, so every
//! accepted webhook ends `delivered`, `rejected` or `failed`, and a duplicate `webhook-id`
//! finds out what happened to the first. The SQL lives here beside the rules it serves; the
//! schema is `migrations/`.
//!
//! **Leases.** Whoever runs an attempt holds the row's lease: the row is `pending`, its
//! `lease` number is the holder's, and `sweep_at` is when the lease runs out. Every write
//! after the claim names the lease it belongs to (`WHERE lease = ? AND status = 'pending'`),
//! so an attempt that outlived its lease can never overwrite what a newer one recorded. A
//! `queued` row carries the time its retry is due in `sweep_at` too (plus a grace): the
//! periodic sweep hands every row whose `sweep_at` has passed back to the retry queue, so a
//! lost queue message or a dead isolate delays a delivery but never strands it.
//!
//! [`GUARDS`] lists, in words, the guards the SQL below enforces; the simulator's in-memory
//! ledger (`simulation.rs`) implements exactly these, and the end-to-end tests run the SQL
//! through the same scenarios.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// An attempt holds the lease (or held it and died: see `sweep_at`).
    Pending,
    Delivered,
    /// Refused for good by Baidu; never retried.
    Rejected,
    /// A transient failure; a retry is due at `next_attempt_at`.
    Queued,
    /// Retries exhausted; `POST /v1/deliveries/{id}/retry` re-queues it.
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
    /// Attempts started, across every round of retries.
    pub attempts: u32,
    /// `attempts` when the current round of retries began (0, or where a manual retry
    /// started a new round): the retry budget counts from here.
    #[serde(default)]
    pub round_start: u32,
    /// The fencing token: raised by every claim and by a manual retry.
    #[serde(default)]
    pub lease: u32,
    pub last_error: Option<String>,
    /// The relay's answer (HTTP status and JSON) once the delivery finished.
    pub answer_status: Option<u16>,
    pub answer_body: Option<String>,
    /// Baidu's last answer, when there was one.
    pub baidu_answer: Option<String>,
    pub received_at: u64,
    pub updated_at: u64,
    pub next_attempt_at: Option<u64>,
    /// `pending`: when the lease runs out; `queued`: when the retry is overdue. Past it,
    /// the sweep hands the row to the retry queue.
    #[serde(default)]
    pub sweep_at: Option<u64>,
    /// A multi-step job's steps done so far: their answers, as a JSON array.
    #[serde(default)]
    pub step_answers: Option<String>,
}

impl LedgerRow {
    /// The answers of the steps done (none for a single-step job).
    pub fn steps_done(&self) -> Vec<serde_json::Value> {
        self.step_answers
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default()
    }
}

impl LedgerRow {
    /// The attempt number, within the current round, that the next attempt would be.
    pub fn next_round_attempt(&self) -> u32 {
        self.attempts.saturating_sub(self.round_start) + 1
    }
}

/// What a second webhook with a known `webhook-id` gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Duplicate {
    /// Finished: the stored answer again, marked `Idempotent-Replayed: true`.
    Replay { status: u16, body: Value },
    /// Still being delivered: 409 `in_progress`.
    InProgress,
    /// Same id, different body or another route: 422 `id_reused`.
    IdReused,
    /// The attempt's lease ran out (its isolate died): this request runs the attempt instead.
    TakeOver,
}

/// The SHA-256 of the raw body, hex: identifies "the same webhook" across duplicates.
pub fn body_sha256(body: &[u8]) -> String {
    Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Decides what a duplicate gets, from the stored row. `route` is the duplicate's route
/// path: the same id and body sent to another route is another webhook, not a replay.
pub fn on_duplicate(row: &LedgerRow, route: &str, body_sha256: &str, now_ms: u64) -> Duplicate {
    if row.body_sha256 != body_sha256 || row.route != route {
        return Duplicate::IdReused;
    }
    if let Some((status, body)) = stored_answer(row) {
        return Duplicate::Replay { status, body };
    }
    match row.status {
        DeliveryStatus::Pending if lease_expired(row, now_ms) => Duplicate::TakeOver,
        _ => Duplicate::InProgress,
    }
}

/// A finished row's stored answer: the HTTP status and JSON its caller got.
pub fn stored_answer(row: &LedgerRow) -> Option<(u16, Value)> {
    match (
        row.status.is_finished(),
        row.answer_status,
        &row.answer_body,
    ) {
        (true, Some(status), Some(body)) => {
            Some((status, serde_json::from_str(body).unwrap_or(Value::Null)))
        }
        _ => None,
    }
}

/// True when the row's lease (or its retry's due time) has run out.
pub fn lease_expired(row: &LedgerRow, now_ms: u64) -> bool {
    row.sweep_at
        .unwrap_or(row.updated_at.saturating_add(LEGACY_SWEEP_AFTER_MS))
        <= now_ms
}

/// A row written by the first version while this one was being deployed has no `sweep_at`:
/// it is taken to be due this long after its last update (that version's own cutoff), so no
/// row is left behind by an upgrade. The SQL spells the same rule with `COALESCE`.
pub const LEGACY_SWEEP_AFTER_MS: u64 = 150_000;

/// The row as `GET /v1/deliveries/{id}` shows it.
pub fn row_view(row: &LedgerRow) -> Value {
    let parse = |text: &Option<String>| {
        text.as_deref().map(|t| {
            serde_json::from_str::<Value>(t).unwrap_or_else(|_| Value::String(t.to_owned()))
        })
    };
    let answer = parse(&row.answer_body);
    // Baidu's answer is stored once: inside the stored answer when that carries it.
    let in_answer = answer.as_ref().and_then(|answer| {
        answer
            .get("baidu")
            .or_else(|| answer.pointer("/error/baidu"))
            .cloned()
    });
    let baidu = parse(&row.baidu_answer).or(in_answer);
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
        "steps": parse(&row.step_answers),
        "request": parse(&Some(row.body.clone())),
        "answer": row.answer_status.map(|status| json!({"status": status, "body": answer})),
        "baidu": baidu,
    })
}

/// A message on the retry queue (and, after Queues gave up redelivering it, on the
/// dead-letter queue, whose consumer treats it the same way).
///
/// Its JSON is part of the deployed state: messages sent by one version are consumed by the
/// next. `{"id","lease"}` asks for an attempt if the row still holds that lease; with
/// `settle`, it carries a final outcome the ledger could not take when it was known. The
/// first version's `{"id","attempt","seen_attempts"}` still reads (`seen_attempts` was the
/// lease; `attempt` is now counted in the ledger).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueMessage {
    pub id: String,
    #[serde(alias = "seen_attempts")]
    pub lease: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle: Option<Settlement>,
}

/// Everything one fenced write records about an attempt's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settlement {
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub answer_status: Option<u16>,
    /// The stored answer's JSON text.
    pub answer_body: Option<String>,
    /// Baidu's answer's JSON text; `None` keeps the one stored.
    pub baidu_answer: Option<String>,
    pub next_attempt_at: Option<u64>,
    pub sweep_at: Option<u64>,
    /// The stored answer carries Baidu's answer itself (a delivery, items rejected): the
    /// separate copy is cleared, so a row holds Baidu's answer once.
    #[serde(default)]
    pub baidu_in_answer: bool,
    /// A multi-step job's steps done by this attempt (JSON array), when it did any that the
    /// ledger does not hold yet; `None` keeps the ones stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_answers: Option<String>,
}

/// A row whose `sweep_at` has passed, as the sweep reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DueRow {
    pub webhook_id: String,
    pub lease: u32,
}

/// The guards every write enforces, one line each; the SQL below and the simulator's
/// in-memory ledger implement exactly these.
pub const GUARDS: [&str; 8] = [
    "insert: only a new webhook_id (an existing row is left untouched)",
    "claim: the caller's lease, attempts and steps done are the row's, and the row is queued with its retry due, or pending with its lease run out; raises lease and attempts",
    "settle: the caller's lease is the row's and the row is pending, or queued by the sweep under that same lease (a final row never changes here)",
    "reschedule (sweep): the lease read is still the row's, and the row is pending or queued with sweep_at passed; the row becomes queued, lease unchanged",
    "requeue (manual retry): the row is failed and its lease is the one read; raises lease, starts a new round",
    "complete steps: the caller's lease is the row's and the row is pending; only step_answers changes",
    "purge (retention): only finished rows (delivered, rejected, failed) last written before the cutoff; pending and queued rows are never deleted",
    "no other write exists",
];

/// Inserts a `pending` row whose first attempt is about to run, holding lease 1: one
/// statement, so the hot path pays one D1 round trip before Baidu is called.
pub const INSERT: &str = "INSERT INTO deliveries (webhook_id, route, body, body_sha256, status, attempts, round_start, lease, \
     received_at, updated_at, sweep_at) VALUES (?1, ?2, ?3, ?4, 'pending', 1, 0, 1, ?5, ?5, ?6) ON CONFLICT(webhook_id) DO NOTHING";

pub const SELECT: &str = "SELECT webhook_id, route, body, body_sha256, status, attempts, round_start, lease, last_error, \
     answer_status, answer_body, baidu_answer, received_at, updated_at, next_attempt_at, sweep_at, step_answers FROM deliveries WHERE webhook_id = ?1";

/// Records the steps a multi-step attempt has done (?2 its lease, ?3 the answers, ?4 now).
pub const COMPLETE_STEPS: &str = "UPDATE deliveries SET step_answers = ?3, updated_at = ?4 \
     WHERE webhook_id = ?1 AND lease = ?2 AND status = 'pending'";

/// Records (or refreshes) a paid order by its tpOrderId.
pub const REMEMBER_PAYMENT: &str = "INSERT INTO paid_orders (tp_order_id, order_id, user_id, total_money, pay_money, \
     deal_id, pay_time, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(tp_order_id) DO UPDATE SET \
     order_id = excluded.order_id, user_id = excluded.user_id, total_money = excluded.total_money, \
     pay_money = excluded.pay_money, deal_id = excluded.deal_id, pay_time = excluded.pay_time, updated_at = excluded.updated_at, \
     open_id = CASE WHEN paid_orders.user_id = excluded.user_id THEN paid_orders.open_id END";

pub const PAYMENT: &str =
    "SELECT tp_order_id, order_id, user_id, total_money, pay_money, deal_id, pay_time \
     FROM paid_orders WHERE tp_order_id = ?1";

/// Whose an order is (`order_identity.rs`): its ids and the openId a lookup taught.
pub const ORDER_IDENTITY: &str =
    "SELECT order_id, user_id, open_id FROM paid_orders WHERE tp_order_id = ?1";

/// Records what `findByTpOrderId` taught (?8 the openId, ?9 now): a new row when no payment
/// callback was recorded; on a recorded one only its openId, and only for the same user.
pub const REMEMBER_IDENTITY: &str = "INSERT INTO paid_orders (tp_order_id, order_id, user_id, total_money, pay_money, \
     deal_id, pay_time, open_id, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(tp_order_id) DO UPDATE SET \
     open_id = COALESCE(excluded.open_id, paid_orders.open_id), updated_at = excluded.updated_at \
     WHERE paid_orders.user_id = excluded.user_id";

/// Records a refund before it is sent; a repeat keeps the first record.
pub const REMEMBER_REFUND: &str = "INSERT INTO refunds (biz_refund_batch_id, webhook_id, order_id, tp_order_id, amount, \
     approve_money, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT(biz_refund_batch_id) DO NOTHING";

pub const REFUND_ACCEPTED: &str =
    "UPDATE refunds SET refund_batch_id = ?2, updated_at = ?3 WHERE biz_refund_batch_id = ?1";

/// How many refunds the relay recorded for an order (?1): whether Baidu's order-level refund
/// state can only be about one of them.
pub const REFUNDS_OF_ORDER: &str = "SELECT COUNT(*) AS n FROM refunds WHERE order_id = ?1";

const REFUND_COLUMNS: &str = "biz_refund_batch_id, webhook_id, order_id, tp_order_id, amount, approve_money, refund_batch_id";

/// The refund Baidu's id names.
pub fn refund_by_batch() -> String {
    format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE refund_batch_id = ?1 LIMIT 1")
}

/// The latest refund of an order (?1) whose amount matches ?2 (NULL matches any; a full
/// refund, amount NULL, matches any amount).
pub fn refund_by_order() -> String {
    format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE order_id = ?1 AND (?2 IS NULL OR amount IS NULL OR amount = ?2) \
     ORDER BY created_at DESC LIMIT 1")
}

/// Claims a row for one attempt (?2 the lease read, ?3 now, ?4 the new lease's end, ?5 the
/// attempts read): only one claimant of a lease can win (`changes = 1`), and only while the
/// row counts the attempts its claimant read (a late outcome of the same lease, recorded after
/// the sweep requeued the row, changes them), and whose steps done (?6, '' for none) are the ones
/// read: a late attempt of the same lease may record a step after the claimant read the row, and
/// the claimant must not repeat that step.
pub const CLAIM: &str =
    "UPDATE deliveries SET status = 'pending', lease = lease + 1, attempts = attempts + 1, \
     updated_at = ?3, sweep_at = ?4 WHERE webhook_id = ?1 AND lease = ?2 AND attempts = ?5 \
     AND COALESCE(step_answers, '') = ?6 \
     AND ((status = 'queued' AND COALESCE(next_attempt_at, 0) <= ?3) \
     OR (status = 'pending' AND COALESCE(sweep_at, updated_at + 150000) <= ?3))";

/// Records an attempt's outcome, only for the lease that ran it (?2). The sweep may have made
/// the row `queued` under that same lease (its lease ran out, or a clock jumped) without
/// anyone claiming it since: the outcome is still this lease's to record, and recording it
/// spares Baidu a second call.
pub const SETTLE: &str = "UPDATE deliveries SET status = ?3, attempts = ?4, last_error = ?5, answer_status = ?6, \
     answer_body = ?7, baidu_answer = CASE WHEN ?12 = 1 THEN NULL ELSE COALESCE(?8, baidu_answer) END, \
     updated_at = ?9, next_attempt_at = ?10, sweep_at = ?11, step_answers = COALESCE(?13, step_answers) \
     WHERE webhook_id = ?1 AND lease = ?2 AND status IN ('pending', 'queued')";

/// Rows the sweep must hand back to the retry queue: a lease run out, or a retry overdue.
pub const DUE: &str = "SELECT webhook_id, lease FROM deliveries \
     WHERE status IN ('pending', 'queued') AND COALESCE(sweep_at, updated_at + 150000) <= ?1 \
     ORDER BY COALESCE(sweep_at, updated_at + 150000) LIMIT ?2";

/// Makes a due row `queued` again (?2 the lease read, ?3 now, ?4 the next sweep_at), so a
/// message with its lease can claim it and the next sweep leaves it alone for a while.
pub const RESCHEDULE: &str = "UPDATE deliveries SET status = 'queued', \
     last_error = CASE status WHEN 'pending' THEN 'abandoned' ELSE last_error END, \
     next_attempt_at = ?3, sweep_at = ?4, updated_at = ?3 \
     WHERE webhook_id = ?1 AND lease = ?2 AND status IN ('pending', 'queued') \
     AND COALESCE(sweep_at, updated_at + 150000) <= ?3";

/// Re-queues a failed row for a manual retry (?2 the lease read, ?3 now, ?4 sweep_at): a new
/// round of retries under a new lease.
pub const REQUEUE_FAILED: &str = "UPDATE deliveries SET status = 'queued', lease = lease + 1, round_start = attempts, \
     updated_at = ?3, next_attempt_at = ?3, sweep_at = ?4 WHERE webhook_id = ?1 AND status = 'failed' AND lease = ?2";

/// Deletes up to ?2 finished rows last written before ?1, oldest first. Rows still in flight
/// are never touched. Named, the `deliveries_finished` index hands over its oldest rows in
/// order and the batch stops at the limit; left to itself, SQLite reads `deliveries_by_status`
/// and sorts every finished row past the cutoff for each batch, a cost that grows with the
/// backlog.
pub const PURGE: &str = "DELETE FROM deliveries WHERE webhook_id IN (SELECT webhook_id FROM deliveries \
     INDEXED BY deliveries_finished \
     WHERE status IN ('delivered', 'rejected', 'failed') AND updated_at < ?1 ORDER BY updated_at LIMIT ?2)";

/// Deletes the attempts of exactly the rows [`PURGE`] deletes next (the same selection, read
/// the same way in the same batch), so no attempt outlives its delivery.
pub const PURGE_ATTEMPTS: &str = "DELETE FROM delivery_attempts WHERE webhook_id IN (SELECT webhook_id FROM deliveries \
     INDEXED BY deliveries_finished \
     WHERE status IN ('delivered', 'rejected', 'failed') AND updated_at < ?1 ORDER BY updated_at LIMIT ?2)";

/// Records an attempt (?1 id, ?2 its attempt number, ?3 start, ?4 duration, ?5 outcome,
/// ?6 error, ?7 upstream status, ?8 errno), run in one batch after [`SETTLE`] (?9 the lease,
/// ?10 the settle's `now`): only when that settle changed the row, which then holds this
/// lease, this attempt count and this update time. Sent twice, it is kept once.
pub const INSERT_ATTEMPT: &str = "INSERT INTO delivery_attempts (webhook_id, attempt, started_at, duration_ms, outcome, error, \
     upstream_status, errno) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM deliveries \
     WHERE webhook_id = ?1 AND lease = ?9 AND attempts = ?2 AND updated_at = ?10) \
     ON CONFLICT (webhook_id, attempt) DO NOTHING";

/// Keeps a delivery's newest `console::ATTEMPTS_KEPT` attempts (?2 the newest's number).
pub const TRIM_ATTEMPTS: &str =
    "DELETE FROM delivery_attempts WHERE webhook_id = ?1 AND attempt <= ?2 - 20";

pub const SELECT_ATTEMPTS: &str =
    "SELECT attempt, started_at, duration_ms, outcome, error, upstream_status, errno \
     FROM delivery_attempts WHERE webhook_id = ?1 ORDER BY attempt";

/// A value bound to a listing's `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlParam {
    Text(String),
    Integer(u64),
}

const LIST_COLUMNS: &str =
    "webhook_id, route, status, attempts, lease, last_error, received_at, updated_at, \
     next_attempt_at, order_ref, resource_ref";

/// The listing of `page` (`GET /v1/deliveries`, `POST /v1/deliveries/retry`), newest first.
///
/// Without `q`, each combination of `status` and `route` has an index that ends in
/// (received_at, webhook_id) (migrations/0004_operator_console.sql): the page is read in order
/// from it, from the cursor on, and stops at the limit. With `q`, the rows come from the
/// three exact lookups (id prefix, order id, ResourceID), a handful, and the other filters
/// are written `+column` so SQLite filters that handful instead of walking a filter's index
/// in order and testing every row against `q`.
pub fn list_sql(page: &crate::delivery::console::Page) -> (String, Vec<SqlParam>) {
    use crate::delivery::console::prefix_end;
    let filter = &page.filter;
    let mut conditions: Vec<String> = Vec::new();
    let mut params: Vec<SqlParam> = Vec::new();
    let plus = if filter.q.is_some() { "+" } else { "" };
    if let Some(q) = &filter.q {
        conditions.push(
            "rowid IN (SELECT rowid FROM deliveries WHERE webhook_id >= ? AND webhook_id < ? \
             UNION SELECT rowid FROM deliveries WHERE order_ref = ? \
             UNION SELECT rowid FROM deliveries WHERE resource_ref = ?)"
                .into(),
        );
        params.push(SqlParam::Text(q.clone()));
        params.push(SqlParam::Text(prefix_end(q)));
        params.push(SqlParam::Text(q.clone()));
        params.push(SqlParam::Text(q.clone()));
    }
    if let Some(status) = filter.status {
        conditions.push(format!("{plus}status = ?"));
        params.push(SqlParam::Text(status.as_str().into()));
    }
    if let Some(route) = &filter.route {
        conditions.push(format!("{plus}route = ?"));
        params.push(SqlParam::Text(route.clone()));
    }
    if let Some(since) = filter.since {
        conditions.push(format!("{plus}received_at >= ?"));
        params.push(SqlParam::Integer(since));
    }
    if let Some(until) = filter.until {
        conditions.push(format!("{plus}received_at < ?"));
        params.push(SqlParam::Integer(until));
    }
    if let Some(cursor) = &page.cursor {
        conditions.push(format!("({plus}received_at, {plus}webhook_id) < (?, ?)"));
        params.push(SqlParam::Integer(cursor.received_at));
        params.push(SqlParam::Text(cursor.webhook_id.clone()));
    }
    let mut sql = format!("SELECT {LIST_COLUMNS} FROM deliveries");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(" ORDER BY received_at DESC, webhook_id DESC LIMIT ?");
    params.push(SqlParam::Integer(u64::from(page.limit)));
    (sql, params)
}

/// The summary's counts (?1 since), one batch. Named, `deliveries_received` reads only the
/// window; left to itself SQLite walks a whole covering index to group.
pub const SUMMARY_BY_STATUS_ROUTE: &str = "SELECT status, route, COUNT(*) AS n FROM deliveries \
     INDEXED BY deliveries_received WHERE received_at >= ?1 GROUP BY status, route";

pub const SUMMARY_BY_ERROR: &str = "SELECT last_error AS code, COUNT(*) AS n FROM deliveries \
     INDEXED BY deliveries_received WHERE received_at >= ?1 AND last_error IS NOT NULL GROUP BY last_error";

/// Baidu's errno, wherever the row keeps Baidu's answer (its own column, or inside the stored
/// answer); delivered rows are left out, so the counts are of Baidu's refusals.
pub const SUMMARY_BY_ERRNO: &str = "SELECT errno, COUNT(*) AS n FROM (SELECT COALESCE(\
     json_extract(CASE WHEN json_valid(baidu_answer) THEN baidu_answer END, '$.errno'), \
     json_extract(CASE WHEN json_valid(answer_body) THEN answer_body END, '$.error.baiduErrno'), \
     json_extract(CASE WHEN json_valid(answer_body) THEN answer_body END, '$.error.baidu.errno')) AS errno \
     FROM deliveries INDEXED BY deliveries_received WHERE received_at >= ?1 AND status <> 'delivered') \
     WHERE errno IS NOT NULL GROUP BY errno";

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str = "/v1/cancel-verification";
    const BODY: &[u8] = br#"{"orderId":1,"userId":2}"#;

    fn row(status: DeliveryStatus) -> LedgerRow {
        LedgerRow {
            webhook_id: "msg_1".into(),
            route: ROUTE.into(),
            body: String::from_utf8(BODY.to_vec()).unwrap(),
            body_sha256: body_sha256(BODY),
            status,
            attempts: 1,
            round_start: 0,
            lease: 1,
            last_error: None,
            answer_status: None,
            answer_body: None,
            baidu_answer: None,
            received_at: 1_000,
            updated_at: 1_000,
            next_attempt_at: None,
            sweep_at: Some(71_000),
            step_answers: None,
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
    fn only_delivered_rejected_and_failed_are_finished() {
        use DeliveryStatus::*;
        let finished: Vec<_> = [Pending, Delivered, Rejected, Queued, Failed]
            .into_iter()
            .filter(|s| s.is_finished())
            .collect();
        assert_eq!(finished, vec![Delivered, Rejected, Failed]);
    }

    #[test]
    fn finished_deliveries_are_replayed() {
        for status in [
            DeliveryStatus::Delivered,
            DeliveryStatus::Rejected,
            DeliveryStatus::Failed,
        ] {
            let mut finished = row(status);
            finished.answer_status = Some(200);
            finished.answer_body = Some(r#"{"id":"msg_1","status":"delivered"}"#.into());
            assert_eq!(
                on_duplicate(&finished, ROUTE, &body_sha256(BODY), 2_000),
                Duplicate::Replay {
                    status: 200,
                    body: json!({"id":"msg_1","status":"delivered"})
                }
            );
        }
    }

    #[test]
    fn running_deliveries_are_in_progress_until_their_lease_runs_out() {
        let hash = body_sha256(BODY);
        let pending = row(DeliveryStatus::Pending);
        assert_eq!(
            on_duplicate(&pending, ROUTE, &hash, 70_999),
            Duplicate::InProgress
        );
        // The lease runs out at exactly sweep_at: the boundary belongs to the taker.
        assert_eq!(
            on_duplicate(&pending, ROUTE, &hash, 71_000),
            Duplicate::TakeOver
        );
        assert_eq!(
            on_duplicate(&row(DeliveryStatus::Queued), ROUTE, &hash, 2_000),
            Duplicate::InProgress
        );
        // A queued row is the queue's (and the sweep's) to finish, however old.
        assert_eq!(
            on_duplicate(&row(DeliveryStatus::Queued), ROUTE, &hash, u64::MAX),
            Duplicate::InProgress
        );
        // A finished row without a stored answer (never written that way) is not replayed.
        assert_eq!(
            on_duplicate(&row(DeliveryStatus::Delivered), ROUTE, &hash, 2_000),
            Duplicate::InProgress
        );
        // A row the first version wrote during an upgrade: its old cutoff applies.
        let mut legacy = row(DeliveryStatus::Pending);
        legacy.sweep_at = None;
        assert_eq!(
            on_duplicate(&legacy, ROUTE, &hash, 1_000 + LEGACY_SWEEP_AFTER_MS - 1),
            Duplicate::InProgress
        );
        assert_eq!(
            on_duplicate(&legacy, ROUTE, &hash, 1_000 + LEGACY_SWEEP_AFTER_MS),
            Duplicate::TakeOver
        );
        for sql in [CLAIM, DUE, RESCHEDULE] {
            assert!(
                sql.contains(&format!(
                    "COALESCE(sweep_at, updated_at + {LEGACY_SWEEP_AFTER_MS})"
                )),
                "{sql}"
            );
        }
    }

    #[test]
    fn same_id_with_another_body_or_route_is_id_reused() {
        let mut finished = row(DeliveryStatus::Delivered);
        finished.answer_status = Some(200);
        finished.answer_body = Some("{}".into());
        assert_eq!(
            on_duplicate(&finished, ROUTE, &body_sha256(b"other"), 2_000),
            Duplicate::IdReused
        );
        assert_eq!(
            on_duplicate(
                &finished,
                "/v1/after-sale/update",
                &body_sha256(BODY),
                2_000
            ),
            Duplicate::IdReused
        );
        assert_eq!(
            on_duplicate(
                &row(DeliveryStatus::Pending),
                ROUTE,
                &body_sha256(b"x"),
                2_000
            ),
            Duplicate::IdReused
        );
    }

    #[test]
    fn the_round_attempt_counts_from_the_round_start() {
        let mut queued = row(DeliveryStatus::Queued);
        queued.attempts = 3;
        assert_eq!(queued.next_round_attempt(), 4);
        queued.round_start = 3;
        assert_eq!(queued.next_round_attempt(), 1);
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
    fn ledger_rows_read_with_and_without_the_lease_columns() {
        let stored = json!({
            "webhook_id": "msg_1", "route": ROUTE, "body": "{}", "body_sha256": "00",
            "status": "queued", "attempts": 2, "round_start": 0, "lease": 2, "last_error": "timeout",
            "answer_status": null, "answer_body": null, "baidu_answer": null, "received_at": 1,
            "updated_at": 2, "next_attempt_at": 3, "sweep_at": 4
        });
        let parsed: LedgerRow = serde_json::from_value(stored).unwrap();
        assert_eq!(
            (
                parsed.status,
                parsed.attempts,
                parsed.lease,
                parsed.sweep_at
            ),
            (DeliveryStatus::Queued, 2, 2, Some(4))
        );
    }

    /// The queue message's JSON is pinned: a deploy must not strand messages in flight.
    #[test]
    fn queue_messages_are_pinned_and_the_first_format_still_reads() {
        let attempt = QueueMessage {
            id: "msg_1".into(),
            lease: 3,
            settle: None,
        };
        assert_eq!(
            serde_json::to_string(&attempt).unwrap(),
            r#"{"id":"msg_1","lease":3}"#
        );
        let legacy: QueueMessage =
            serde_json::from_str(r#"{"id":"msg_1","attempt":2,"seen_attempts":3}"#).unwrap();
        assert_eq!(legacy, attempt);
        let settle = QueueMessage {
            settle: Some(Settlement {
                status: DeliveryStatus::Delivered,
                attempts: 1,
                last_error: None,
                answer_status: Some(200),
                answer_body: Some(r#"{"status":"delivered"}"#.into()),
                baidu_answer: Some(r#"{"errno":0}"#.into()),
                next_attempt_at: None,
                sweep_at: None,
                baidu_in_answer: false,
                step_answers: None,
            }),
            ..attempt
        };
        let text = serde_json::to_string(&settle).unwrap();
        assert_eq!(
            text,
            r#"{"id":"msg_1","lease":3,"settle":{"status":"delivered","attempts":1,"lastError":null,"answerStatus":200,"answerBody":"{\"status\":\"delivered\"}","baiduAnswer":"{\"errno\":0}","nextAttemptAt":null,"sweepAt":null,"baiduInAnswer":false}}"#
        );
        assert_eq!(serde_json::from_str::<QueueMessage>(&text).unwrap(), settle);
        // A settle message written before `baiduInAnswer` existed still reads.
        let earlier = r#"{"id":"msg_1","lease":3,"settle":{"status":"delivered","attempts":1,"lastError":null,"answerStatus":200,"answerBody":"{\"status\":\"delivered\"}","baiduAnswer":"{\"errno\":0}","nextAttemptAt":null,"sweepAt":null}}"#;
        assert_eq!(
            serde_json::from_str::<QueueMessage>(earlier).unwrap(),
            settle
        );
    }

    #[test]
    fn the_purge_reads_the_partial_index_of_finished_rows_its_migration_builds() {
        let migration = include_str!("../../migrations/0003_retention.sql");
        assert!(migration
            .contains("CREATE INDEX IF NOT EXISTS deliveries_finished ON deliveries (updated_at)"));
        assert!(migration.contains("WHERE status IN ('delivered', 'rejected', 'failed')"));
        assert!(PURGE.contains("INDEXED BY deliveries_finished"));
        assert!(PURGE.contains("status IN ('delivered', 'rejected', 'failed')"));
    }

    fn page(filter: crate::delivery::console::Filter) -> crate::delivery::console::Page {
        crate::delivery::console::Page {
            filter,
            limit: 50,
            cursor: None,
        }
    }

    #[test]
    fn a_listing_binds_every_filter_in_order_and_ends_with_the_limit() {
        use crate::delivery::console::{Cursor, Filter};
        let (sql, params) = list_sql(&page(Filter::default()));
        assert_eq!(
            sql,
            format!(
                "SELECT {LIST_COLUMNS} FROM deliveries ORDER BY received_at DESC, webhook_id DESC LIMIT ?"
            )
        );
        assert_eq!(params, vec![SqlParam::Integer(50)]);
        let mut all = page(Filter {
            status: Some(DeliveryStatus::Failed),
            route: Some("/v1/cancel-verification".into()),
            since: Some(1),
            until: Some(9),
            q: None,
        });
        all.cursor = Some(Cursor {
            received_at: 5,
            webhook_id: "m".into(),
        });
        let (sql, params) = list_sql(&all);
        assert!(sql.contains("WHERE status = ? AND route = ? AND received_at >= ? AND received_at < ? AND (received_at, webhook_id) < (?, ?)"), "{sql}");
        assert_eq!(sql.matches('?').count(), params.len());
        assert_eq!(params[0], SqlParam::Text("failed".into()));
        assert_eq!(params[5], SqlParam::Text("m".into()));
        // With q, the other filters only filter: the q lookups drive.
        all.filter.q = Some("msg_".into());
        let (sql, params) = list_sql(&all);
        assert!(sql.contains("AND +status = ? AND +route = ?"), "{sql}");
        assert!(
            sql.contains("(+received_at, +webhook_id) < (?, ?)"),
            "{sql}"
        );
        assert_eq!(sql.matches('?').count(), params.len());
        assert_eq!(params[1], SqlParam::Text("msg_\u{7f}".into()));
    }

    /// Every shape of listing the Worker can run (each filter present or not, with and
    /// without a cursor), with the console's other reads. Pinned in
    /// tests/vectors/console-queries.json, where `tests/e2e/console-api.test.mjs` asks D1's
    /// SQLite for each plan: the SQL checked there is the SQL run here.
    /// `UPDATE_VECTORS=1 cargo test console_queries` rewrites the file.
    #[test]
    fn the_console_queries_are_the_ones_whose_plans_are_checked() {
        use crate::delivery::console::{Cursor, Filter};
        let mut queries = Vec::new();
        for mask in 0..64u32 {
            let on = |bit: u32| mask & (1 << bit) != 0;
            let mut page = page(Filter {
                status: on(0).then_some(DeliveryStatus::Failed),
                route: on(1).then(|| "/v1/cancel-verification".to_owned()),
                since: on(2).then_some(1),
                until: on(3).then_some(2),
                q: on(4).then(|| "msg_".to_owned()),
            });
            page.cursor = on(5).then(|| Cursor {
                received_at: 3,
                webhook_id: "msg_9".into(),
            });
            let (sql, params) = list_sql(&page);
            queries.push(json!({"sql": sql, "params": params.len(), "q": on(4)}));
        }
        for sql in [
            SUMMARY_BY_STATUS_ROUTE,
            SUMMARY_BY_ERROR,
            SUMMARY_BY_ERRNO,
            SELECT_ATTEMPTS,
            TRIM_ATTEMPTS,
            INSERT_ATTEMPT,
            PURGE_ATTEMPTS,
        ] {
            let params = (1..=10)
                .rev()
                .find(|n| sql.contains(&format!("?{n}")))
                .unwrap_or(0);
            queries.push(json!({"sql": sql, "params": params, "q": false}));
        }
        let text = serde_json::to_string_pretty(&queries).unwrap() + "\n";
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/console-queries.json"
        );
        if std::env::var_os("UPDATE_VECTORS").is_some() {
            std::fs::write(path, &text).unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(path).unwrap_or_default(),
            text,
            "{path} is stale: UPDATE_VECTORS=1 cargo test console_queries"
        );
    }

    #[test]
    fn the_console_indexes_and_attempts_table_are_in_their_migration() {
        let migration = include_str!("../../migrations/0004_operator_console.sql");
        for index in [
            "deliveries_received ON deliveries (received_at, webhook_id)",
            "deliveries_status_received ON deliveries (status, received_at, webhook_id)",
            "deliveries_route_received ON deliveries (route, received_at, webhook_id)",
            "deliveries_status_route_received ON deliveries (status, route, received_at, webhook_id)",
            "deliveries_order_ref ON deliveries (order_ref)",
            "deliveries_resource_ref ON deliveries (resource_ref)",
        ] {
            assert!(migration.contains(index), "{index}");
        }
        assert!(migration.contains("CREATE TABLE IF NOT EXISTS delivery_attempts"));
        assert!(TRIM_ATTEMPTS.ends_with(&format!("- {}", crate::delivery::console::ATTEMPTS_KEPT)));
        assert_eq!(
            PURGE_ATTEMPTS.split_once("IN (").unwrap().1,
            PURGE.split_once("IN (").unwrap().1,
            "the attempts purged are those of the rows purged"
        );
    }

    #[test]
    fn every_write_after_the_insert_is_fenced_by_the_lease() {
        for sql in [CLAIM, SETTLE, RESCHEDULE, REQUEUE_FAILED] {
            assert!(sql.contains("lease = ?2"), "{sql}");
            assert!(sql.contains("status"), "{sql}");
        }
        assert!(SETTLE.contains("status IN ('pending', 'queued')"));
        assert!(INSERT.contains("DO NOTHING"));
    }
}
