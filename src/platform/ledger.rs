//! The delivery ledger in D1. The SQL and the rules are in `crate::delivery::ledger`; this
//! adapter only binds values and reads rows.

use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::delivery::ledger::{self as sql, AbandonedRow, DeliveryStatus, LedgerRow};

/// The D1 binding (declared in wrangler.toml).
pub const LEDGER_BINDING: &str = "LEDGER";

/// A D1 call failed; the caller decides what that means for the request.
#[derive(Debug)]
pub struct LedgerError;

impl From<worker::Error> for LedgerError {
    fn from(_: worker::Error) -> Self {
        LedgerError
    }
}

pub struct Ledger {
    db: D1Database,
}

/// What an attempt's outcome writes.
pub struct Record<'a> {
    pub status: DeliveryStatus,
    pub last_error: Option<&'a str>,
    pub answer: Option<(u16, &'a Value)>,
    pub baidu_answer: Option<&'a Value>,
    pub next_attempt_at: Option<u64>,
}

fn text(value: &str) -> JsValue {
    JsValue::from_str(value)
}

fn number(value: u64) -> JsValue {
    JsValue::from_f64(value as f64)
}

fn optional_text(value: Option<String>) -> JsValue {
    value
        .map(|v| JsValue::from_str(&v))
        .unwrap_or(JsValue::NULL)
}

impl Ledger {
    pub fn from_env(env: &Env) -> Option<Ledger> {
        env.d1(LEDGER_BINDING).ok().map(|db| Ledger { db })
    }

    async fn changes(&self, query: &str, values: &[JsValue]) -> Result<usize, LedgerError> {
        let result = self.db.prepare(query).bind(values)?.run().await?;
        Ok(result.meta()?.and_then(|meta| meta.changes).unwrap_or(0))
    }

    /// Inserts a `pending` row; `false` when the id is already known.
    pub async fn insert(
        &self,
        id: &str,
        route: &str,
        body: &str,
        body_sha256: &str,
        now: u64,
    ) -> Result<bool, LedgerError> {
        let changes = self
            .changes(
                sql::INSERT,
                &[
                    text(id),
                    text(route),
                    text(body),
                    text(body_sha256),
                    number(now),
                ],
            )
            .await?;
        Ok(changes == 1)
    }

    pub async fn get(&self, id: &str) -> Result<Option<LedgerRow>, LedgerError> {
        Ok(self
            .db
            .prepare(sql::SELECT)
            .bind(&[text(id)])?
            .first::<LedgerRow>(None)
            .await?)
    }

    pub async fn take_over(
        &self,
        id: &str,
        now: u64,
        seen_updated_at: u64,
    ) -> Result<bool, LedgerError> {
        Ok(self
            .changes(
                sql::TAKE_OVER,
                &[text(id), number(now), number(seen_updated_at)],
            )
            .await?
            == 1)
    }

    pub async fn claim(&self, id: &str, now: u64, seen_attempts: u32) -> Result<bool, LedgerError> {
        Ok(self
            .changes(
                sql::CLAIM,
                &[text(id), number(now), number(u64::from(seen_attempts))],
            )
            .await?
            == 1)
    }

    pub async fn unclaim(&self, id: &str, claimed_attempts: u32) -> Result<bool, LedgerError> {
        Ok(self
            .changes(
                sql::UNCLAIM,
                &[text(id), number(u64::from(claimed_attempts))],
            )
            .await?
            == 1)
    }

    pub async fn record(&self, id: &str, record: Record<'_>, now: u64) -> Result<(), LedgerError> {
        let (answer_status, answer_body) = match record.answer {
            Some((status, body)) => (number(u64::from(status)), text(&body.to_string())),
            None => (JsValue::NULL, JsValue::NULL),
        };
        self.changes(
            sql::RECORD,
            &[
                text(id),
                text(record.status.as_str()),
                optional_text(record.last_error.map(str::to_owned)),
                answer_status,
                answer_body,
                optional_text(record.baidu_answer.map(Value::to_string)),
                number(now),
                record.next_attempt_at.map(number).unwrap_or(JsValue::NULL),
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn mark_failed(
        &self,
        id: &str,
        last_error: &str,
        answer: (u16, &Value),
        now: u64,
    ) -> Result<bool, LedgerError> {
        Ok(self
            .changes(
                sql::MARK_FAILED,
                &[
                    text(id),
                    text(last_error),
                    number(u64::from(answer.0)),
                    text(&answer.1.to_string()),
                    number(now),
                ],
            )
            .await?
            == 1)
    }

    pub async fn requeue_failed(&self, id: &str, now: u64) -> Result<bool, LedgerError> {
        Ok(self
            .changes(sql::REQUEUE_FAILED, &[text(id), number(now)])
            .await?
            == 1)
    }

    pub async fn abandoned(
        &self,
        older_than: u64,
        limit: u32,
    ) -> Result<Vec<AbandonedRow>, LedgerError> {
        let result = self
            .db
            .prepare(sql::ABANDONED)
            .bind(&[number(older_than), number(u64::from(limit))])?
            .all()
            .await?;
        Ok(result.results::<AbandonedRow>()?)
    }

    pub async fn requeue_abandoned(
        &self,
        row: &AbandonedRow,
        now: u64,
    ) -> Result<bool, LedgerError> {
        Ok(self
            .changes(
                sql::REQUEUE_ABANDONED,
                &[text(&row.webhook_id), number(now), number(row.updated_at)],
            )
            .await?
            == 1)
    }

    pub async fn revert_requeue(&self, id: &str) -> Result<(), LedgerError> {
        self.changes(sql::REVERT_REQUEUE, &[text(id)]).await?;
        Ok(())
    }

    pub async fn release(&self, id: &str, reason: &str) -> Result<(), LedgerError> {
        self.changes(sql::RELEASE, &[text(id), text(reason)])
            .await?;
        Ok(())
    }
}
