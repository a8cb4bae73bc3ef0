//! The delivery ledger's port over D1. The SQL and its guards are in
//! `crate::delivery::ledger`; this adapter only binds values and reads rows.

use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

use crate::baidu::callback::PaidOrder;
use crate::bindings;
use serde::Deserialize;

use crate::delivery::console::{AttemptRecord, ListedRow, Page, SummaryRows};
use crate::delivery::ledger::{self as sql, DueRow, LedgerRow, Settlement, SqlParam};
use crate::delivery::ports::{
    Ledger, LedgerQueries, NewDelivery, OrderBook, OrderIdentity, RefundRecord, StoreError,
};

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
    fn statement(
        &self,
        query: &str,
        values: &[JsValue],
    ) -> Result<D1PreparedStatement, StoreError> {
        self.db.prepare(query).bind(values).map_err(|_| StoreError)
    }

    /// Runs statements in one batch (one round trip, one transaction); the changes of each.
    async fn batch(&self, statements: Vec<D1PreparedStatement>) -> Result<Vec<usize>, StoreError> {
        let results = self.db.batch(statements).await.map_err(|_| StoreError)?;
        results
            .iter()
            .map(|result| {
                Ok(result
                    .meta()
                    .map_err(|_| StoreError)?
                    .and_then(|meta| meta.changes)
                    .unwrap_or(0))
            })
            .collect()
    }

    fn settle_values(id: &str, lease: u32, settlement: &Settlement, now: u64) -> [JsValue; 13] {
        [
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
        ]
    }

    async fn rows<T: for<'de> Deserialize<'de>>(
        &self,
        query: &str,
        values: &[JsValue],
    ) -> Result<Vec<T>, StoreError> {
        let result = self
            .statement(query, values)?
            .all()
            .await
            .map_err(|_| StoreError)?;
        result.results::<T>().map_err(|_| StoreError)
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
            &Self::settle_values(id, lease, settlement, now),
        )
        .await
    }

    async fn settle_attempt(
        &self,
        id: &str,
        lease: u32,
        settlement: &Settlement,
        now: u64,
        attempt: &AttemptRecord,
    ) -> Result<bool, StoreError> {
        let number_of = |n: u32| number(u64::from(n));
        let changes = self
            .batch(vec![
                self.statement(
                    sql::SETTLE,
                    &Self::settle_values(id, lease, settlement, now),
                )?,
                self.statement(
                    sql::INSERT_ATTEMPT,
                    &[
                        text(id),
                        number_of(attempt.attempt),
                        number(attempt.started_at),
                        number(attempt.duration_ms),
                        text(attempt.outcome.as_str()),
                        optional_text(attempt.error.as_deref()),
                        optional_number(attempt.upstream_status.map(u64::from)),
                        attempt
                            .errno
                            .map(|errno| JsValue::from_f64(errno as f64))
                            .unwrap_or(JsValue::NULL),
                        number_of(lease),
                        number(now),
                    ],
                )?,
                self.statement(sql::TRIM_ATTEMPTS, &[text(id), number_of(attempt.attempt)])?,
            ])
            .await?;
        Ok(changes.first() == Some(&1))
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
        let values = [number(before), number(u64::from(limit))];
        let changes = self
            .batch(vec![
                self.statement(sql::PURGE_ATTEMPTS, &values)?,
                self.statement(sql::PURGE, &values)?,
            ])
            .await?;
        let deleted = changes.get(1).copied().unwrap_or(0);
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
        let mut values = paid_order_values(order);
        values.push(number(now));
        self.changes(sql::REMEMBER_PAYMENT, &values).await.map(drop)
    }

    async fn payment(&self, tp_order_id: &str) -> Result<Option<PaidOrder>, StoreError> {
        self.first(sql::PAYMENT, &[text(tp_order_id)]).await
    }

    async fn identity(&self, tp_order_id: &str) -> Result<Option<OrderIdentity>, StoreError> {
        self.first(sql::ORDER_IDENTITY, &[text(tp_order_id)]).await
    }

    async fn remember_identity(
        &self,
        order: &PaidOrder,
        open_id: Option<&str>,
        now: u64,
    ) -> Result<(), StoreError> {
        let mut values = paid_order_values(order);
        values.extend([optional_text(open_id), number(now)]);
        self.changes(sql::REMEMBER_IDENTITY, &values)
            .await
            .map(drop)
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

    async fn refunds_of_order(&self, order_id: &str) -> Result<u32, StoreError> {
        let count: Option<Count> = self.first(sql::REFUNDS_OF_ORDER, &[text(order_id)]).await?;
        Ok(count.map_or(0, |count| u32::try_from(count.n).unwrap_or(u32::MAX)))
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

/// A paid order's columns, in `paid_orders`' order (the statements bind them as ?1 to ?7).
fn paid_order_values(order: &PaidOrder) -> Vec<JsValue> {
    vec![
        text(&order.tp_order_id),
        text(&order.order_id),
        text(&order.user_id),
        optional_integer(order.total_money),
        optional_integer(order.pay_money),
        optional_text(order.deal_id.as_deref()),
        optional_integer(order.pay_time),
    ]
}

#[derive(Deserialize)]
struct Count {
    n: u64,
}

#[derive(Deserialize)]
struct StatusRouteCount {
    status: String,
    route: String,
    n: u64,
}

#[derive(Deserialize)]
struct ErrorCount {
    code: String,
    n: u64,
}

#[derive(Deserialize)]
struct ErrnoCount {
    errno: serde_json::Value,
    n: u64,
}

impl LedgerQueries for D1Ledger {
    async fn list(&self, page: &Page) -> Result<Vec<ListedRow>, StoreError> {
        let (query, params) = sql::list_sql(page);
        let values: Vec<JsValue> = params
            .iter()
            .map(|param| match param {
                SqlParam::Text(value) => text(value),
                SqlParam::Integer(value) => number(*value),
            })
            .collect();
        self.rows(&query, &values).await
    }

    async fn summary(&self, since: u64) -> Result<SummaryRows, StoreError> {
        let values = [number(since)];
        let results = self
            .db
            .batch(vec![
                self.statement(sql::SUMMARY_BY_STATUS_ROUTE, &values)?,
                self.statement(sql::SUMMARY_BY_ERROR, &values)?,
                self.statement(sql::SUMMARY_BY_ERRNO, &values)?,
            ])
            .await
            .map_err(|_| StoreError)?;
        let [by_status_route, by_error, by_errno] = results.as_slice() else {
            return Err(StoreError);
        };
        Ok(SummaryRows {
            by_status_route: by_status_route
                .results::<StatusRouteCount>()
                .map_err(|_| StoreError)?
                .into_iter()
                .map(|c| (c.status, c.route, c.n))
                .collect(),
            by_error: by_error
                .results::<ErrorCount>()
                .map_err(|_| StoreError)?
                .into_iter()
                .map(|c| (c.code, c.n))
                .collect(),
            by_errno: by_errno
                .results::<ErrnoCount>()
                .map_err(|_| StoreError)?
                .into_iter()
                .map(|c| (errno_key(&c.errno), c.n))
                .collect(),
        })
    }

    async fn attempts(&self, id: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        self.rows(sql::SELECT_ATTEMPTS, &[text(id)]).await
    }
}

/// Baidu's errno as a summary key: an integer, or whatever Baidu sent, as text.
fn errno_key(errno: &serde_json::Value) -> String {
    match errno {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Number(n) => n
            .as_f64()
            .filter(|f| f.fract() == 0.0)
            .map(|f| format!("{}", f as i64))
            .unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
    }
}
