//! The delivery ledger's port over D1. The SQL and its guards are in
//! `crate::delivery::ledger`; this adapter only binds values and reads rows.

use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::bindings;
use crate::delivery::ledger::{self as sql, DueRow, LedgerRow, Settlement};
use crate::delivery::ports::{Ledger, NewDelivery, StoreError};

pub struct D1Ledger {
    db: D1Database,
}

fn text(value: &str) -> JsValue {
    JsValue::from_str(value)
}

fn number(value: u64) -> JsValue {
    JsValue::from_f64(value as f64)
}

fn optional_text(value: Option<&str>) -> JsValue {
    value.map(JsValue::from_str).unwrap_or(JsValue::NULL)
}

fn optional_number(value: Option<u64>) -> JsValue {
    value.map(number).unwrap_or(JsValue::NULL)
}

impl D1Ledger {
    pub fn from_env(env: &Env) -> Option<D1Ledger> {
        env.d1(bindings::LEDGER).ok().map(|db| D1Ledger { db })
    }

    /// Runs a write; `true` when it changed exactly one row.
    async fn changed(&self, query: &str, values: &[JsValue]) -> Result<bool, StoreError> {
        Ok(self.changes(query, values).await? == 1)
    }

    async fn changes(&self, query: &str, values: &[JsValue]) -> Result<usize, StoreError> {
        let statement = self
            .db
            .prepare(query)
            .bind(values)
            .map_err(|_| StoreError)?;
        let result = statement.run().await.map_err(|_| StoreError)?;
        Ok(result
            .meta()
            .map_err(|_| StoreError)?
            .and_then(|meta| meta.changes)
            .unwrap_or(0))
    }
}

impl D1Ledger {
    /// The lease-guarded writes that share one parameter list: (id, lease, now, sweep_at).
    async fn fenced(
        &self,
        query: &str,
        id: &str,
        lease: u32,
        now: u64,
        sweep_at: u64,
    ) -> Result<bool, StoreError> {
        let values = [
            text(id),
            number(u64::from(lease)),
            number(now),
            number(sweep_at),
        ];
        self.changed(query, &values).await
    }
}

impl Ledger for D1Ledger {
    async fn insert(&self, row: NewDelivery<'_>) -> Result<bool, StoreError> {
        self.changed(
            sql::INSERT,
            &[
                text(row.id),
                text(row.route),
                text(row.body),
                text(row.body_sha256),
                number(row.now),
                number(row.sweep_at),
            ],
        )
        .await
    }

    async fn get(&self, id: &str) -> Result<Option<LedgerRow>, StoreError> {
        self.db
            .prepare(sql::SELECT)
            .bind(&[text(id)])
            .map_err(|_| StoreError)?
            .first::<LedgerRow>(None)
            .await
            .map_err(|_| StoreError)
    }

    async fn claim(&self, row: &LedgerRow, now: u64, sweep_at: u64) -> Result<bool, StoreError> {
        let values = [
            text(&row.webhook_id),
            number(u64::from(row.lease)),
            number(now),
            number(sweep_at),
            number(u64::from(row.attempts)),
        ];
        self.changed(sql::CLAIM, &values).await
    }

    async fn settle(
        &self,
        id: &str,
        lease: u32,
        settlement: &Settlement,
        now: u64,
    ) -> Result<bool, StoreError> {
        self.changed(
            sql::SETTLE,
            &[
                text(id),
                number(u64::from(lease)),
                text(settlement.status.as_str()),
                number(u64::from(settlement.attempts)),
                optional_text(settlement.last_error.as_deref()),
                optional_number(settlement.answer_status.map(u64::from)),
                optional_text(settlement.answer_body.as_deref()),
                optional_text(settlement.baidu_answer.as_deref()),
                number(now),
                optional_number(settlement.next_attempt_at),
                optional_number(settlement.sweep_at),
                number(u64::from(settlement.baidu_in_answer)),
            ],
        )
        .await
    }

    async fn due(&self, now: u64, limit: u32) -> Result<Vec<DueRow>, StoreError> {
        let result = self
            .db
            .prepare(sql::DUE)
            .bind(&[number(now), number(u64::from(limit))])
            .map_err(|_| StoreError)?
            .all()
            .await
            .map_err(|_| StoreError)?;
        result.results::<DueRow>().map_err(|_| StoreError)
    }

    async fn reschedule(&self, row: &DueRow, now: u64, sweep_at: u64) -> Result<bool, StoreError> {
        self.fenced(sql::RESCHEDULE, &row.webhook_id, row.lease, now, sweep_at)
            .await
    }

    async fn requeue_failed(
        &self,
        id: &str,
        lease: u32,
        now: u64,
        sweep_at: u64,
    ) -> Result<bool, StoreError> {
        self.fenced(sql::REQUEUE_FAILED, id, lease, now, sweep_at)
            .await
    }

    async fn purge(&self, before: u64, limit: u32) -> Result<u32, StoreError> {
        let deleted = self
            .changes(sql::PURGE, &[number(before), number(u64::from(limit))])
            .await?;
        Ok(u32::try_from(deleted).unwrap_or(u32::MAX))
    }
}
