//! What the delivery flow needs from the world, as small crate-private traits. The Worker
//! implements them over D1, Queues, KV, `fetch` and WebCrypto (`src/platform/`); the
//! simulator (`simulation.rs`) implements them in memory, with faults.
//!
//! Every method is one await point of the flow: an isolate may die at any of them.

// The futures are awaited on one thread (Workers run one per isolate); nothing needs `Send`.
#![allow(async_fn_in_trait)]

use crate::baidu::callback::PaidOrder;
use crate::baidu::token::AccessToken;
use crate::config::{CashierConfig, OrderCenterConfig};
use crate::error::ApiError;
use crate::http::{HttpRequest, UpstreamAnswer};

use super::console::{AttemptRecord, ListedRow, Page, SummaryRows};
use super::ledger::{DueRow, LedgerRow, QueueMessage, Settlement};

/// A ledger read or write failed (D1 unreachable, the table missing, a trigger refusing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreError;

/// A queue send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueError;

/// The new row of an accepted webhook.
#[derive(Debug, Clone, Copy)]
pub struct NewDelivery<'a> {
    pub id: &'a str,
    pub route: &'a str,
    pub body: &'a str,
    pub body_sha256: &'a str,
    pub now: u64,
    /// When the first attempt's lease runs out.
    pub sweep_at: u64,
}

/// The delivery ledger. Each write enforces its guard (`ledger::GUARDS`) and says whether it
/// changed the row.
pub trait Ledger {
    /// `false` when the id is already known.
    async fn insert(&self, row: NewDelivery<'_>) -> Result<bool, StoreError>;
    async fn get(&self, id: &str) -> Result<Option<LedgerRow>, StoreError>;
    /// Claims `row` (as read) for one attempt: only if its lease, attempts and steps done are
    /// still the ones read, so the attempt counts what the row counts and repeats no step.
    async fn claim(&self, row: &LedgerRow, now: u64, sweep_at: u64) -> Result<bool, StoreError>;
    async fn settle(
        &self,
        id: &str,
        lease: u32,
        settlement: &Settlement,
        now: u64,
    ) -> Result<bool, StoreError>;
    /// [`Ledger::settle`], and with it the attempt that led there in the attempts log, in
    /// one round trip. The log is for people: a ledger without one records only the outcome.
    async fn settle_attempt(
        &self,
        id: &str,
        lease: u32,
        settlement: &Settlement,
        now: u64,
        attempt: &AttemptRecord,
    ) -> Result<bool, StoreError> {
        let _ = attempt;
        self.settle(id, lease, settlement, now).await
    }
    async fn due(&self, now: u64, limit: u32) -> Result<Vec<DueRow>, StoreError>;
    async fn reschedule(&self, row: &DueRow, now: u64, sweep_at: u64) -> Result<bool, StoreError>;
    async fn requeue_failed(
        &self,
        id: &str,
        lease: u32,
        now: u64,
        sweep_at: u64,
    ) -> Result<bool, StoreError>;
    /// Deletes up to `limit` finished rows last written before `before`; says how many.
    async fn purge(&self, before: u64, limit: u32) -> Result<u32, StoreError>;
    /// Records the answers of the steps done so far (a JSON array), under the attempt's lease,
    /// so that a later attempt goes on from the next step; `false` if the lease is gone.
    async fn complete_steps(
        &self,
        id: &str,
        lease: u32,
        step_answers: &str,
        now: u64,
    ) -> Result<bool, StoreError>;
}

/// A refund the relay asked Baidu for, as the audit callback needs to recognise it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct RefundRecord {
    pub biz_refund_batch_id: String,
    pub webhook_id: String,
    pub order_id: String,
    pub tp_order_id: String,
    /// Fen, for a partial refund; `None` for a full one.
    pub amount: Option<i64>,
    /// What to approve at the audit, in fen, when known: the partial amount, or the order's
    /// paid amount for a full refund.
    pub approve_money: Option<i64>,
    /// Baidu's refund id, once Baidu accepted the refund.
    pub refund_batch_id: Option<String>,
}

/// Whose an order is, by its `tpOrderId`: Baidu's ids from the payment callback (or from a
/// `findByTpOrderId` lookup), and the user's openId once a lookup taught it (the payment
/// callback does not carry it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct OrderIdentity {
    pub order_id: String,
    pub user_id: String,
    pub open_id: Option<String>,
}

/// What the payment callbacks taught about orders, and the refunds the relay requested.
pub trait OrderBook {
    /// Records (or updates) a paid order by its `tpOrderId`.
    async fn remember_payment(&self, order: &PaidOrder, now: u64) -> Result<(), StoreError>;
    async fn payment(&self, tp_order_id: &str) -> Result<Option<PaidOrder>, StoreError>;
    /// The order's ids as recorded, with the openId an earlier lookup taught.
    async fn identity(&self, tp_order_id: &str) -> Result<Option<OrderIdentity>, StoreError>;
    /// Records what a `findByTpOrderId` lookup taught: the whole order when no payment callback
    /// was recorded for it; else only the openId, and only if the lookup names the callback's
    /// user (the callback's ids stay).
    async fn remember_identity(
        &self,
        order: &PaidOrder,
        open_id: Option<&str>,
        now: u64,
    ) -> Result<(), StoreError>;
    /// Records a refund before it is sent; a repeat keeps the first record.
    async fn remember_refund(&self, refund: &RefundRecord, now: u64) -> Result<(), StoreError>;
    /// Baidu accepted the refund under this id.
    async fn refund_accepted(
        &self,
        biz_refund_batch_id: &str,
        refund_batch_id: &str,
        now: u64,
    ) -> Result<(), StoreError>;
    /// How many refunds the relay recorded for Baidu's order `order_id`.
    async fn refunds_of_order(&self, order_id: &str) -> Result<u32, StoreError>;
    /// The refund an audit callback is about: by Baidu's refund id, else the latest refund of
    /// the order whose amount matches (`amount` `None` matches any).
    async fn refund_for_audit(
        &self,
        refund_batch_id: &str,
        order_id: &str,
        amount: Option<i64>,
    ) -> Result<Option<RefundRecord>, StoreError>;
}

/// The operator's reads of the ledger (`console.rs`): none of them writes or steers a delivery.
pub trait LedgerQueries {
    /// A page of rows, newest first.
    async fn list(&self, page: &Page) -> Result<Vec<ListedRow>, StoreError>;
    /// Counts of rows received since `since`.
    async fn summary(&self, since: u64) -> Result<SummaryRows, StoreError>;
    /// The kept attempts of one delivery, oldest first.
    async fn attempts(&self, id: &str) -> Result<Vec<AttemptRecord>, StoreError>;
}

/// The retry queue.
pub trait RetryQueue {
    async fn send(&self, message: &QueueMessage, delay_seconds: u32) -> Result<(), QueueError>;
}

/// Outbound HTTP and the merchant's signature.
pub trait Upstream {
    /// Sends the request and reads the answer, or gives up after `timeout_ms`.
    async fn send(&self, request: &HttpRequest, timeout_ms: u32) -> UpstreamAnswer;
    /// SHA1withRSA over `message` with the merchant's key.
    async fn sign(&self, cashier: &CashierConfig, message: &[u8]) -> Result<Vec<u8>, ApiError>;
}

/// Where an access token came from, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Isolate,
    Kv,
    Baidu,
}

impl TokenSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Isolate => "isolate",
            TokenSource::Kv => "kv",
            TokenSource::Baidu => "baidu",
        }
    }
}

/// The order center's access token.
pub trait TokenStore {
    /// A usable token. With `rejected`, Baidu has just refused that token: skip every cache
    /// still holding it.
    async fn token(
        &self,
        config: &OrderCenterConfig,
        timeout_ms: u32,
        rejected: Option<&AccessToken>,
    ) -> Result<(AccessToken, TokenSource), ApiError>;
}

/// Time, chance, waiting and the log.
pub trait Runtime {
    /// Unix milliseconds.
    fn now_ms(&self) -> u64;
    /// In `[0, 1)`.
    fn jitter(&self) -> f64;
    /// One structured log line.
    fn log(&self, line: serde_json::Value);
    /// Waits `ms` milliseconds (on this request's own timer).
    async fn sleep(&self, ms: u32);
}

/// Everything the flow uses, bundled so each flow function takes one parameter for it.
pub trait Ports {
    type Ledger: Ledger;
    type Orders: OrderBook;
    type Queue: RetryQueue;
    type Upstream: Upstream;
    type Tokens: TokenStore;
    type Runtime: Runtime;
    fn ledger(&self) -> Result<&Self::Ledger, StoreError>;
    fn orders(&self) -> Result<&Self::Orders, StoreError>;
    fn queue(&self) -> Result<&Self::Queue, QueueError>;
    fn upstream(&self) -> &Self::Upstream;
    fn tokens(&self) -> &Self::Tokens;
    fn runtime(&self) -> &Self::Runtime;
}
