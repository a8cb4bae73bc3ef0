//! The delivery ledger's port over D1. The SQL and its guards are in
//! `crate::delivery::ledger`; this adapter only binds values and reads rows.

use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::baidu::callback::PaidOrder;
use crate::bindings;
use crate::delivery::ledger::{self as sql, DueRow, LedgerRow, Settlement};
use crate::delivery::ports::{Ledger, NewDelivery, OrderBook, RefundRecord, StoreError};

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

fn optional_integer(value: Option<i64>) -> JsValue {
    value
        .map(|n| JsValue::from_f64(n as f64))
        .unwrap_or(JsValue::NULL)
}

impl D1Ledger {
    pub fn from_env(env: &Env) -> Option<D1Ledger> {
        env.d1(bindings::LEDGER).ok().map(|db| D1Ledger { db })
    }

    /// Runs a write; `true` when it changed exactly one row.
    async fn changed(&self, query: &str, values: &[JsValue]) -> Result<bool, StoreError> {
        Ok(self.changes(query, values).await? == 1)
    }

    async fn first<T: serde::de::DeserializeOwned>(
        &self,
        query: &str,
        values: &[JsValue],
    ) -> Result<Option<T>, StoreError> {
        self.db
            .prepare(query)
            .bind(values)
            .map_err(|_| StoreError)?
            .first::<T>(None)
            .await
            .map_err(|_| StoreError)
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
        self.first(sql::SELECT, &[text(id)]).await
    }

    async fn claim(&self, row: &LedgerRow, now: u64, sweep_at: u64) -> Result<bool, StoreError> {
        let values = [
            text(&row.webhook_id),
            number(u64::from(row.lease)),
            number(now),
            number(sweep_at),
            number(u64::from(row.attempts)),
            text(row.step_answers.as_deref().unwrap_or_default()),
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
                optional_text(settlement.step_answers.as_deref()),
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

    async fn complete_steps(
        &self,
        id: &str,
        lease: u32,
        step_answers: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let values = [
            text(id),
            number(u64::from(lease)),
            text(step_answers),
            number(now),
        ];
        self.changed(sql::COMPLETE_STEPS, &values).await
    }
}

impl OrderBook for D1Ledger {
    async fn remember_payment(&self, order: &PaidOrder, now: u64) -> Result<(), StoreError> {
        let values = [
            text(&order.tp_order_id),
            text(&order.order_id),
            text(&order.user_id),
            optional_integer(order.total_money),
            optional_integer(order.pay_money),
            optional_text(order.deal_id.as_deref()),
            optional_integer(order.pay_time),
            number(now),
        ];
        self.changes(sql::REMEMBER_PAYMENT, &values).await.map(drop)
    }

    async fn payment(&self, tp_order_id: &str) -> Result<Option<PaidOrder>, StoreError> {
        self.first(sql::PAYMENT, &[text(tp_order_id)]).await
    }

    async fn remember_refund(&self, refund: &RefundRecord, now: u64) -> Result<(), StoreError> {
        let values = [
            text(&refund.biz_refund_batch_id),
            text(&refund.webhook_id),
            text(&refund.order_id),
            text(&refund.tp_order_id),
            optional_integer(refund.amount),
            optional_integer(refund.approve_money),
            number(now),
        ];
        self.changes(sql::REMEMBER_REFUND, &values).await.map(drop)
    }

    async fn refund_accepted(
        &self,
        biz_refund_batch_id: &str,
        refund_batch_id: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        let values = [
            text(biz_refund_batch_id),
            text(refund_batch_id),
            number(now),
        ];
        self.changes(sql::REFUND_ACCEPTED, &values).await.map(drop)
    }

    async fn refund_for_audit(
        &self,
        refund_batch_id: &str,
        order_id: &str,
        amount: Option<i64>,
    ) -> Result<Option<RefundRecord>, StoreError> {
        if let Some(found) = self
            .first(&sql::refund_by_batch(), &[text(refund_batch_id)])
            .await?
        {
            return Ok(Some(found));
        }
        self.first(
            &sql::refund_by_order(),
            &[text(order_id), optional_integer(amount)],
        )
        .await
    }
}
