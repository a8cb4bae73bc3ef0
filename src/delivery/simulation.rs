//! A deterministic simulation of the delivery flow under faults (FoundationDB's simulation
//! testing, TigerBeetle's VOPR): the real `flow.rs` runs against in-memory ports that enforce
//! exactly the ledger's guards (`ledger::GUARDS`), driven by one seed. Each schedule mixes
//! simultaneous and late duplicates (same and other bodies, other routes), isolates dying at
//! every await point, queue messages lost, duplicated, redelivered and delayed, ledger writes
//! failing, Baidu answering success, permanent and transient errors or processing a call and
//! losing the answer, token expiry, configuration broken and repaired mid-flight, clock jumps,
//! and the sweep and manual retries racing live attempts. Then the faults stop, time runs past
//! the sweep horizon, and the invariants are checked:
//!
//! 1. every accepted webhook ends `delivered`, `rejected` or `failed`;
//! 2. Baidu processes a webhook twice only after an attempt whose outcome was unknown (the
//!    answer lost, the isolate dead before recording it, or the attempt still running when
//!    its lease ran out); these repeats are counted and reported;
//! 3. a final status changes only through a manual retry; the stored answer is the one the
//!    caller got;
//! 4. nothing accepted is missing; nothing not accepted reached Baidu;
//! 5. a main order's import (`/v1/orders/add`, the first step of `/v1/orders/sync`) is never
//!    processed twice: after an unknown
//!    outcome it ends `failed` (`outcome_unknown`) instead (the summary counts both);
//! 6. where a status query is configured (payment 1.0 with `BAIDU_PAYMENT_APP_ID`, 2.0 refunds),
//!    no cancel verification or refund is processed twice: it is asked before any resend;
//! 7. nothing Baidu applied ends `rejected`: an after-sale append resent after an unknown outcome
//!    and refused (Baidu refuses items it already has) ends `outcome_unknown`.
//!
//! `SIM_SEED=<n> cargo test simulation -- --nocapture` replays one schedule and prints its
//! trace; `SIM_SCHEDULES=<n>` runs more (or fewer) schedules.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use serde_json::{json, Value};

use super::flow::{self, Ack, Incoming};
use super::job;
use super::ledger::{DeliveryStatus, DueRow, LedgerRow, QueueMessage, Settlement};
use super::ports::{
    Ledger, NewDelivery, OrderBook, OrderIdentity, Ports, QueueError, RefundRecord, RetryQueue,
    Runtime, StoreError, TokenSource, TokenStore, Upstream,
};
use crate::baidu::callback::PaidOrder;
use crate::baidu::error::BaiduError;
use crate::baidu::token::AccessToken;
use crate::config::{CashierConfig, Config, OrderCenterConfig};
use crate::error::ApiError;
use crate::http::{HttpRequest, TransportError, UpstreamAnswer, UpstreamResponse};
use crate::inbound::Route;
use crate::log::RequestLog;
use crate::reply::Reply;

// ---------------------------------------------------------------------------------------
// Randomness: SplitMix64, so a seed replays exactly on every platform.

#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

// ---------------------------------------------------------------------------------------
// The world the ports act on.

/// Fault rates of one schedule's chaos phase (all zero once it heals).
#[derive(Clone, Copy, Debug)]
struct Faults {
    crash: f64,
    ledger_error: f64,
    queue_send_error: f64,
    queue_lost: f64,
    queue_duplicated: f64,
    baidu_transient: f64,
    baidu_lost_before: f64,
    baidu_lost_after: f64,
    token_expiry: f64,
    token_fetch_error: f64,
    clock_jump: f64,
    /// A task stops being scheduled for up to several leases (a starved or paused isolate)
    /// and then carries on where it was.
    stall: f64,
}

impl Faults {
    fn random(rng: &mut Rng) -> Faults {
        let mut p = |max: f64| {
            if rng.chance(0.25) {
                0.0
            } else {
                rng.unit() * max
            }
        };
        Faults {
            crash: p(0.08),
            ledger_error: p(0.15),
            queue_send_error: p(0.2),
            queue_lost: p(0.2),
            queue_duplicated: p(0.2),
            baidu_transient: p(0.3),
            baidu_lost_before: p(0.15),
            baidu_lost_after: p(0.2),
            token_expiry: p(0.2),
            token_fetch_error: p(0.2),
            clock_jump: p(0.02),
            stall: p(0.03),
        }
    }
    fn none() -> Faults {
        Faults {
            crash: 0.0,
            ledger_error: 0.0,
            queue_send_error: 0.0,
            queue_lost: 0.0,
            queue_duplicated: 0.0,
            baidu_transient: 0.0,
            baidu_lost_before: 0.0,
            baidu_lost_after: 0.0,
            token_expiry: 0.0,
            token_fetch_error: 0.0,
            clock_jump: 0.0,
            stall: 0.0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConfigState {
    Good,
    /// The cashier's key is broken (a bad paste during a rotation).
    CashierBroken,
    /// The shared part is broken: the relay accepts nothing.
    SharedBroken,
}

/// How unknown outcomes of cashier calls and refunds are settled in a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Payment {
    /// Payment 1.0 without `BAIDU_PAYMENT_APP_ID`: resent unchecked (repeats are counted).
    V1Unchecked,
    /// Payment 1.0 with `queryorderdetail`: asked before any resend.
    V1Checked,
    /// Payment 2.0: refunds settled with `findOrderRefund`; cancels still 1.0's, unchecked.
    V2,
}

impl Payment {
    fn name(self) -> &'static str {
        match self {
            Payment::V1Unchecked => "1.0 unchecked",
            Payment::V1Checked => "1.0 checked",
            Payment::V2 => "2.0",
        }
    }

    fn of(seed: u64) -> Payment {
        match seed % 4 {
            0 => Payment::V1Unchecked,
            3 => Payment::V2,
            _ => Payment::V1Checked,
        }
    }
}

/// What Baidu does with a webhook's calls, whatever the faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Accepts,
    /// Refuses it for good (errno 10002).
    Refuses,
}

/// One call Baidu received for a webhook.
#[derive(Clone, Debug)]
struct BaiduCall {
    webhook: usize,
    /// Which of the webhook's calls: `call` (single-step routes), or a refund's `cancel` and
    /// `refund`.
    step: &'static str,
    /// A cancel verification (`syncOrderStatus`), whatever the route.
    cancel: bool,
    lease: u32,
    /// Baidu applied it.
    processed: bool,
    /// The relay never learned the answer (outcome unknown).
    answer_lost: bool,
    at: u64,
}

#[derive(Clone, Debug)]
struct InFlight {
    message: Value,
    deliver_at: u64,
    /// How often Queues has delivered it already.
    deliveries: u32,
}

/// A webhook the merchant's system sends.
#[derive(Clone, Debug)]
struct Webhook {
    id: String,
    route: Route,
    body: Vec<u8>,
    order: u64,
    fate: Fate,
}

/// An answer a caller got.
#[derive(Clone, Debug)]
struct Answered {
    webhook: usize,
    route: Route,
    reply: Reply,
    at: u64,
}

/// The shared state of one schedule.
struct World {
    rng: Rng,
    now: u64,
    /// `MAX_ATTEMPTS`: the attempts of one round.
    max_attempts: u32,
    faults: Faults,
    config: ConfigState,
    rows: BTreeMap<String, LedgerRow>,
    queue: Vec<InFlight>,
    webhooks: Vec<Webhook>,
    /// The webhook and lease each running task works under.
    task_lease: BTreeMap<usize, (String, u32)>,
    calls: Vec<BaiduCall>,
    /// Leases whose final outcome reached the ledger (directly or through the queue).
    recorded_leases: BTreeSet<(String, u32)>,
    /// Leases whose multi-step progress (a refund's cancel step) reached the ledger.
    recorded_steps: BTreeSet<(String, u32)>,
    /// Refunds Baidu applied, by `bizRefundBatchId` (Baidu's idempotency key): a repeat with
    /// the same id is answered without refunding again.
    refunded_batches: BTreeMap<String, usize>,
    /// When each lease was taken (by the insert or a claim).
    lease_taken_at: BTreeMap<(String, u32), u64>,
    answered: Vec<Answered>,
    /// When each row was last re-queued by an operator.
    requeued_at: BTreeMap<String, u64>,
    /// Rows whose final outcome neither the ledger nor the queue took (both failing).
    unrecordable: BTreeSet<String>,
    token_generation: u32,
    cached_token: u32,
    result_posts: Vec<(String, Value)>,
    /// Refund calls Baidu answered without refunding again (a known bizRefundBatchId).
    absorbed_refund_repeats: usize,
    payment: Payment,
    /// Appends Baidu refused because it already had their items.
    refused_append_repeats: usize,
    /// Status queries Baidu answered (`queryorderdetail`, `findOrderRefund`).
    lookups: usize,
    /// The order book: paid orders by tpOrderId, and refunds by bizRefundBatchId.
    paid_orders: BTreeMap<String, PaidOrder>,
    /// The openIds lookups taught, by tpOrderId (the `open_id` column of `paid_orders`).
    open_ids: BTreeMap<String, String>,
    refunds: BTreeMap<String, RefundRecord>,
    violations: Vec<String>,
    trace: Vec<String>,
    tracing: bool,
    checks: u64,
}

/// The lease the flow must give an attempt at the simulation's timeout: six upstream
/// timeouts and a minute (written out here rather than taken from the flow, so that a flow
/// giving shorter leases is caught).
const ORACLE_LEASE_MS: u64 = 6 * crate::config::DEFAULT_TIMEOUT_MS as u64 + 60_000;

impl World {
    fn new(
        rng: Rng,
        max_attempts: u32,
        webhooks: Vec<Webhook>,
        faults: Faults,
        tracing: bool,
    ) -> World {
        // Refunds name some orders by tpOrderId alone: their payment callbacks were recorded.
        let paid_orders = webhooks
            .iter()
            .filter(|w| w.route == Route::Refund)
            .map(|w| {
                let order = PaidOrder {
                    tp_order_id: format!("t{}", w.order),
                    order_id: w.order.to_string(),
                    user_id: "4188819900".into(),
                    total_money: Some(100),
                    pay_money: Some(100),
                    deal_id: None,
                    pay_time: None,
                };
                (order.tp_order_id.clone(), order)
            })
            .collect();
        World {
            rng,
            now: 1_700_000_000_000,
            max_attempts,
            faults,
            config: ConfigState::Good,
            rows: BTreeMap::new(),
            queue: Vec::new(),
            webhooks,
            task_lease: BTreeMap::new(),
            calls: Vec::new(),
            recorded_leases: BTreeSet::new(),
            recorded_steps: BTreeSet::new(),
            refunded_batches: BTreeMap::new(),
            lease_taken_at: BTreeMap::new(),
            answered: Vec::new(),
            requeued_at: BTreeMap::new(),
            unrecordable: BTreeSet::new(),
            absorbed_refund_repeats: 0,
            payment: Payment::V1Unchecked,
            refused_append_repeats: 0,
            lookups: 0,
            paid_orders,
            open_ids: BTreeMap::new(),
            refunds: BTreeMap::new(),
            token_generation: 0,
            cached_token: 0,
            result_posts: Vec::new(),
            violations: Vec::new(),
            trace: Vec::new(),
            tracing,
            checks: 0,
        }
    }

    /// Whether a task still works under `lease` of `id`, within the time that lease grants.
    fn alive_within_lease(&self, id: &str, lease: u32) -> bool {
        let key = (id.to_owned(), lease);
        let running = self.task_lease.values().any(|held| *held == key);
        let taken = self.lease_taken_at.get(&key).copied().unwrap_or(0);
        running && self.now < taken + ORACLE_LEASE_MS
    }

    fn trace(&mut self, line: impl FnOnce() -> String) {
        if self.tracing {
            let text = line();
            self.trace.push(format!("[{:>9}] {text}", self.now));
        }
    }

    fn violation(&mut self, text: String) {
        self.violations.push(text);
    }

    fn webhook_of(&self, id: &str) -> Option<usize> {
        self.webhooks.iter().position(|w| w.id == id)
    }

    /// A final row must never change except through a manual retry.
    fn guard_final(&mut self, id: &str, before: &LedgerRow, after: &LedgerRow, how: &str) {
        self.checks += 1;
        if before.status.is_finished() && before != after && how != "requeue" {
            self.violation(format!(
                "{id}: final row changed by {how}: {:?} -> {:?}",
                before.status, after.status
            ));
        }
    }
}

type Shared = Rc<RefCell<World>>;

/// Suspends once: the point where the simulated isolate may die or another task may run.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

async fn await_point() {
    YieldOnce(false).await
}

// ---------------------------------------------------------------------------------------
// The ports, each bound to the task that uses it.

struct SimPorts {
    world: Shared,
    task: usize,
}

impl SimPorts {
    fn fails(&self, rate: fn(&Faults) -> f64) -> bool {
        let mut world = self.world.borrow_mut();
        let p = rate(&world.faults);
        world.rng.chance(p) && p > 0.0
    }
}

impl SimPorts {
    /// One ledger round trip: an await point, and perhaps D1 failing.
    async fn ledger_call(&self) -> Result<(), StoreError> {
        await_point().await;
        if self.fails(|f| f.ledger_error) {
            Err(StoreError)
        } else {
            Ok(())
        }
    }
}

impl Ledger for SimPorts {
    async fn insert(&self, row: NewDelivery<'_>) -> Result<bool, StoreError> {
        self.ledger_call().await?;
        let mut world = self.world.borrow_mut();
        world.checks += 1;
        if world.rows.contains_key(row.id) {
            return Ok(false);
        }
        world.rows.insert(row.id.to_owned(), inserted_row(row));
        world.task_lease.insert(self.task, (row.id.to_owned(), 1));
        world.lease_taken_at.insert((row.id.to_owned(), 1), row.now);
        world.trace(|| format!("task {} inserted {} (lease 1)", self.task, row.id));
        Ok(true)
    }

    async fn get(&self, id: &str) -> Result<Option<LedgerRow>, StoreError> {
        self.ledger_call().await?;
        Ok(self.world.borrow().rows.get(id).cloned())
    }

    async fn claim(&self, read: &LedgerRow, now: u64, sweep_at: u64) -> Result<bool, StoreError> {
        self.ledger_call().await?;
        let id = read.webhook_id.as_str();
        let mut world = self.world.borrow_mut();
        let Some(row) = world.rows.get(id).cloned() else {
            return Ok(false);
        };
        // Guard: the lease and attempts are the row's; queued with its retry due, or pending
        // with its lease run out.
        let claimable = row.lease == read.lease
            && row.attempts == read.attempts
            && row.step_answers == read.step_answers
            && ((row.status == DeliveryStatus::Queued && row.next_attempt_at.unwrap_or(0) <= now)
                || (row.status == DeliveryStatus::Pending
                    && row.sweep_at.is_some_and(|at| at <= now)));
        if !claimable {
            return Ok(false);
        }
        // (Judged by the real time: the flow's `now` may be older, read before a stall.)
        world.checks += 1;
        let real_now = world.now;
        if row.status == DeliveryStatus::Queued
            && row.next_attempt_at.is_some_and(|at| real_now < at)
        {
            world.violation(format!(
                "{id}: retry claimed at {real_now}, before it was due at {:?}",
                row.next_attempt_at
            ));
        }
        let mut after = row.clone();
        after.status = DeliveryStatus::Pending;
        after.lease += 1;
        after.attempts += 1;
        after.updated_at = now;
        after.sweep_at = Some(sweep_at);
        world.guard_final(id, &row, &after, "claim");
        world
            .task_lease
            .insert(self.task, (id.to_owned(), after.lease));
        world
            .lease_taken_at
            .insert((id.to_owned(), after.lease), now);
        world.trace(|| format!("task {} claimed {id} (lease {})", self.task, after.lease));
        world.rows.insert(id.to_owned(), after);
        Ok(true)
    }

    async fn settle(
        &self,
        id: &str,
        lease: u32,
        settlement: &Settlement,
        now: u64,
    ) -> Result<bool, StoreError> {
        self.ledger_call().await?;
        let mut world = self.world.borrow_mut();
        Ok(apply_settlement(&mut world, id, lease, settlement, now))
    }

    async fn due(&self, now: u64, limit: u32) -> Result<Vec<DueRow>, StoreError> {
        self.ledger_call().await?;
        let world = self.world.borrow();
        let mut due: Vec<&LedgerRow> = world
            .rows
            .values()
            .filter(|row| {
                matches!(row.status, DeliveryStatus::Pending | DeliveryStatus::Queued)
                    && row.sweep_at.is_some_and(|at| at <= now)
            })
            .collect();
        due.sort_by_key(|row| row.sweep_at);
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|row| DueRow {
                webhook_id: row.webhook_id.clone(),
                lease: row.lease,
            })
            .collect())
    }

    async fn reschedule(&self, due: &DueRow, now: u64, sweep_at: u64) -> Result<bool, StoreError> {
        self.ledger_call().await?;
        let mut world = self.world.borrow_mut();
        let Some(row) = world.rows.get(&due.webhook_id).cloned() else {
            return Ok(false);
        };
        let eligible = row.lease == due.lease
            && matches!(row.status, DeliveryStatus::Pending | DeliveryStatus::Queued)
            && row.sweep_at.is_some_and(|at| at <= now);
        if !eligible {
            return Ok(false);
        }
        let mut after = row.clone();
        if row.status == DeliveryStatus::Pending {
            after.last_error = Some("abandoned".into());
        }
        after.status = DeliveryStatus::Queued;
        after.next_attempt_at = Some(now);
        after.sweep_at = Some(sweep_at);
        after.updated_at = now;
        world.guard_final(&due.webhook_id, &row, &after, "reschedule");
        world.trace(|| format!("sweep rescheduled {} (lease {})", due.webhook_id, due.lease));
        world.rows.insert(due.webhook_id.clone(), after);
        Ok(true)
    }

    async fn requeue_failed(
        &self,
        id: &str,
        lease: u32,
        now: u64,
        sweep_at: u64,
    ) -> Result<bool, StoreError> {
        self.ledger_call().await?;
        let mut world = self.world.borrow_mut();
        let Some(row) = world.rows.get(id).cloned() else {
            return Ok(false);
        };
        if row.status != DeliveryStatus::Failed || row.lease != lease {
            return Ok(false);
        }
        let mut after = row.clone();
        after.status = DeliveryStatus::Queued;
        after.lease += 1;
        after.round_start = row.attempts;
        after.updated_at = now;
        after.next_attempt_at = Some(now);
        after.sweep_at = Some(sweep_at);
        world.guard_final(id, &row, &after, "requeue");
        let at = world.now;
        world.requeued_at.insert(id.to_owned(), at);
        world.trace(|| format!("operator re-queued {id}"));
        world.rows.insert(id.to_owned(), after);
        Ok(true)
    }

    async fn purge(&self, before: u64, limit: u32) -> Result<u32, StoreError> {
        self.ledger_call().await?;
        let mut world = self.world.borrow_mut();
        let mut old: Vec<(u64, String)> = world
            .rows
            .values()
            .filter(|row| row.status.is_finished() && row.updated_at < before)
            .map(|row| (row.updated_at, row.webhook_id.clone()))
            .collect();
        old.sort();
        old.truncate(limit as usize);
        for (_, id) in &old {
            world.rows.remove(id);
        }
        Ok(old.len() as u32)
    }

    async fn complete_steps(
        &self,
        id: &str,
        lease: u32,
        step_answers: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        self.ledger_call().await?;
        let mut world = self.world.borrow_mut();
        world.checks += 1;
        // Guard: the lease is the row's and the row is pending.
        match world.rows.get_mut(id) {
            Some(row) if row.lease == lease && row.status == DeliveryStatus::Pending => {
                row.step_answers = Some(step_answers.to_owned());
                row.updated_at = now;
                world.recorded_steps.insert((id.to_owned(), lease));
                world.trace(|| {
                    format!("task {} recorded a step of {id} (lease {lease})", self.task)
                });
                Ok(true)
            }
            _ => {
                world.trace(|| {
                    format!(
                        "task {} could not record a step of {id} (lease {lease})",
                        self.task
                    )
                });
                Ok(false)
            }
        }
    }
}

/// The row `ledger::INSERT` writes: pending, the first attempt's, under lease 1.
fn inserted_row(row: NewDelivery<'_>) -> LedgerRow {
    LedgerRow {
        webhook_id: row.id.to_owned(),
        route: row.route.to_owned(),
        body: row.body.to_owned(),
        body_sha256: row.body_sha256.to_owned(),
        status: DeliveryStatus::Pending,
        attempts: 1,
        round_start: 0,
        lease: 1,
        last_error: None,
        answer_status: None,
        answer_body: None,
        baidu_answer: None,
        received_at: row.now,
        updated_at: row.now,
        next_attempt_at: None,
        sweep_at: Some(row.sweep_at),
        step_answers: None,
    }
}

/// The settle guard, shared by the ledger port and the queue's settle messages.
fn apply_settlement(
    world: &mut World,
    id: &str,
    lease: u32,
    settlement: &Settlement,
    now: u64,
) -> bool {
    let Some(row) = world.rows.get(id).cloned() else {
        return false;
    };
    world.checks += 1;
    if row.lease != lease || !matches!(row.status, DeliveryStatus::Pending | DeliveryStatus::Queued)
    {
        return false;
    }
    // The attempts recorded are the ones claimed: the claim counted this attempt, and only a
    // deferral (no attempt made) or a round found spent (no attempt left) takes it back.
    let uncounted = settlement.last_error.as_deref() == Some("misconfigured")
        || settlement.status == DeliveryStatus::Failed;
    if settlement.attempts != row.attempts
        && !(uncounted && settlement.attempts + 1 == row.attempts)
    {
        world.violation(format!(
            "{id}: lease {lease} claimed attempt {} but records {}",
            row.attempts, settlement.attempts
        ));
    }
    let mut after = row.clone();
    if let Some(steps) = &settlement.step_answers {
        after.step_answers = Some(steps.clone());
        world.recorded_steps.insert((id.to_owned(), lease));
    }
    after.status = settlement.status;
    after.attempts = settlement.attempts;
    after.last_error = settlement.last_error.clone();
    after.answer_status = settlement.answer_status;
    after.answer_body = settlement.answer_body.clone();
    if settlement.baidu_in_answer {
        after.baidu_answer = None;
    } else if settlement.baidu_answer.is_some() {
        after.baidu_answer = settlement.baidu_answer.clone();
    }
    after.updated_at = now;
    after.next_attempt_at = settlement.next_attempt_at;
    after.sweep_at = settlement.sweep_at;
    world.guard_final(id, &row, &after, "settle");
    world.recorded_leases.insert((id.to_owned(), lease));
    world.trace(|| format!("settled {id} (lease {lease}) as {:?}", settlement.status));
    world.rows.insert(id.to_owned(), after);
    true
}

impl RetryQueue for SimPorts {
    async fn send(&self, message: &QueueMessage, delay_seconds: u32) -> Result<(), QueueError> {
        await_point().await;
        if self.fails(|f| f.queue_send_error) {
            return Err(QueueError);
        }
        let mut world = self.world.borrow_mut();
        let faults = world.faults;
        if world.rng.chance(faults.queue_lost) && faults.queue_lost > 0.0 {
            world.trace(|| format!("queue lost a message for {}", message.id));
            // Harsher than Queues (a sent message is durable): a final outcome lost here
            // could be recorded nowhere.
            if message.settle.is_some() {
                world.unrecordable.insert(message.id.clone());
            }
            return Ok(());
        }
        let copies = if world.rng.chance(faults.queue_duplicated) && faults.queue_duplicated > 0.0 {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let late = world.rng.below(30_000);
            let deliver_at = world.now + u64::from(delay_seconds) * 1000 + late;
            world.queue.push(InFlight {
                message: serde_json::to_value(message).expect("queue messages serialise"),
                deliver_at,
                deliveries: 0,
            });
        }
        Ok(())
    }
}

impl Upstream for SimPorts {
    async fn send(&self, request: &HttpRequest, timeout_ms: u32) -> UpstreamAnswer {
        // The request leaves at once (fetch sends before it is awaited); the answer comes
        // back at the await point, where the isolate may die first.
        let answer = self.call(request, timeout_ms);
        await_point().await;
        answer
    }

    async fn sign(&self, _: &CashierConfig, message: &[u8]) -> Result<Vec<u8>, ApiError> {
        await_point().await;
        Ok(message.iter().take(8).copied().collect())
    }
}

impl SimPorts {
    /// Baidu (or the merchant's result endpoint) receiving one request.
    fn call(&self, request: &HttpRequest, _timeout_ms: u32) -> UpstreamAnswer {
        let mut world = self.world.borrow_mut();
        if request.url.contains("/results") {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            let id = body["id"].as_str().unwrap_or_default().to_owned();
            // The merchant's receiver verifies it as Standard Webhooks says, on its own clock.
            let header = |name: &str| {
                request
                    .headers
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.as_str())
            };
            let secrets = crate::webhook::WebhookSecrets::parse(SECRET).expect("the sim's secret");
            let verified = crate::webhook::verify(
                &secrets,
                crate::webhook::WebhookHeaders {
                    id: header(crate::webhook::ID_HEADER),
                    timestamp: header(crate::webhook::TIMESTAMP_HEADER),
                    signature: header(crate::webhook::SIGNATURE_HEADER),
                },
                &request.body,
                (world.now / 1000) as i64,
            );
            world.checks += 1;
            if let Err(error) = verified {
                world.violation(format!("{id}: the result webhook does not verify: {error}"));
            }
            world.result_posts.push((id, body));
            return ok_json(json!({}));
        }
        let Some((id, lease)) = world.task_lease.get(&self.task).cloned() else {
            world.violation(format!("task {} called Baidu without a lease", self.task));
            return Err(TransportError::Unreachable);
        };
        let Some(webhook) = world.webhook_of(&id) else {
            world.violation(format!("Baidu called for unknown webhook {id}"));
            return Err(TransportError::Unreachable);
        };
        // Nothing not accepted reaches Baidu, and only on the route it was accepted for.
        world.checks += 1;
        let expected = world.webhooks[webhook].clone();
        let order_center = request.url.contains("ordercenter");
        // Status queries read, for any route; every other call matches the row's route.
        let query = ["findByTpOrderId", "findOrderRefund", "queryorderdetail"]
            .iter()
            .any(|name| request.url.contains(name));
        match world.rows.get(&id) {
            Some(_) if query => {}
            Some(row)
                if (row.route.starts_with("/v1/after-sale")
                    || row.route.starts_with("/v1/orders/"))
                    == order_center => {}
            _ => world.violation(format!("{id}: Baidu called without a matching ledger row")),
        }
        // Every openapi call carries the token (the order center, 2.0 refunds and queries).
        let token_ok = {
            let current = format!("tok-{}", world.token_generation);
            request.url.split_once('?').is_none_or(|(_, query)| {
                form_urlencoded::parse(query.as_bytes())
                    .find(|(key, _)| key == "access_token")
                    .is_none_or(|(_, token)| token == current)
            })
        };
        let faults = world.faults;
        let lost_before =
            world.rng.chance(faults.baidu_lost_before) && faults.baidu_lost_before > 0.0;
        let transient = world.rng.chance(faults.baidu_transient) && faults.baidu_transient > 0.0;
        let lost_after = world.rng.chance(faults.baidu_lost_after) && faults.baidu_lost_after > 0.0;
        if lost_before {
            world.trace(|| format!("Baidu unreachable for {id}"));
            return Err(TransportError::Unreachable);
        }
        if !token_ok {
            return ok_json(json!({"error_code": 110, "error_msg": "Access token expired"}));
        }
        if transient {
            return Ok(UpstreamResponse {
                status: 503,
                body: b"busy".to_vec(),
            });
        }
        if request.url.contains("findByTpOrderId") {
            world.lookups += 1;
            let tp_order_id = query_param(&request.url, "tpOrderId").unwrap_or_default();
            let answer = match tp_order_id
                .strip_prefix('t')
                .and_then(|n| n.parse::<u64>().ok())
            {
                Some(order) => json!({"errno": 0, "msg": "success", "data": {
                    "orderId": order, "userId": 4_188_819_900u64, "openId": format!("o-{order}"),
                    "tpOrderId": tp_order_id, "status": 2, "totalMoney": 100, "payMoney": 100}}),
                None => json!({"errno": 10002, "msg": "order not exist"}),
            };
            if lost_after {
                return Err(TransportError::Timeout);
            }
            return ok_json(answer);
        }
        if order_center {
            // Whose order: the webhook's own ids, or those Baidu has for its tpOrderId.
            let body: Value = world
                .rows
                .get(&id)
                .and_then(|row| serde_json::from_str(&row.body).ok())
                .unwrap_or(Value::Null);
            let expected_scene = match body["tpOrderId"].as_str() {
                Some(tp) => tp
                    .strip_prefix('t')
                    .map(|n| (format!("o-{n}"), n.to_owned())),
                None => Some(("o".to_owned(), body["sceneId"].to_string())),
            };
            let sent = (
                query_param(&request.url, "open_id").unwrap_or_default(),
                query_param(&request.url, "scene_id").unwrap_or_default(),
            );
            world.checks += 1;
            if expected_scene.as_ref() != Some(&sent) {
                world.violation(format!(
                    "{id}: the order center was called for {sent:?}, expected {expected_scene:?}"
                ));
            }
        }
        if request.url.contains("queryorderdetail") || request.url.contains("findOrderRefund") {
            // A status query: answered from what Baidu applied so far, changing nothing.
            world.lookups += 1;
            let refunds: Vec<String> = world
                .refunded_batches
                .iter()
                .filter(|(_, index)| **index == webhook)
                .map(|(batch, _)| batch.clone())
                .collect();
            let answer = if request.url.contains("queryorderdetail") {
                let cancelled = world
                    .calls
                    .iter()
                    .any(|c| c.webhook == webhook && c.cancel && c.processed);
                // Now and then Baidu answers from its cache, from before the last call: stale,
                // and flagged `cached` (the relay must not act on what it does not show).
                let stale = world.rng.chance(0.2);
                let (cancelled, refunded) = if stale {
                    (false, false)
                } else {
                    (cancelled, !refunds.is_empty())
                };
                json!({"errno": 0, "errmsg": "成功", "cached": u8::from(stale), "data": {"data": {
                    "payStatus": {"statusNum": 1},
                    "refundStatus": {"statusNum": if refunded { 1 } else { -1 }},
                    "verification": {"statusNum": if cancelled { -1 } else { 1 }}}}})
            } else {
                let entries: Vec<Value> = refunds
                    .iter()
                    .map(|batch| {
                        json!({"bizRefundBatchId": batch, "refundBatchId": expected.order,
                        "orderId": expected.order, "userId": 4_188_819_900u64, "refundStatus": 1})
                    })
                    .collect();
                json!({"errno": 0, "msg": "success", "data": entries})
            };
            world.trace(|| format!("Baidu status query for {id}: {answer}"));
            if lost_after {
                return Err(TransportError::Timeout);
            }
            return ok_json(answer);
        }
        let step = if request.url.contains("applyOrderRefund") {
            "refund"
        } else if expected.route == Route::Refund {
            "cancel"
        } else if expected.route == Route::OrderSync {
            if request.url.contains("append/sub/info") {
                "append"
            } else {
                "import"
            }
        } else {
            "call"
        };
        // A full 1.0 refund (no amount) reaches Baidu only once the verification is cancelled:
        // Baidu refuses to refund a verified order in full.
        if step == "refund" && request.url.contains("/cashier/") {
            let form: BTreeMap<String, String> =
                form_urlencoded::parse(&request.body).into_owned().collect();
            let cancelled = world
                .calls
                .iter()
                .any(|c| c.webhook == webhook && c.cancel && c.processed);
            world.checks += 1;
            if !form.contains_key("applyRefundMoney") && !cancelled {
                world.violation(format!(
                    "{id}: a full 1.0 refund sent before the verification was cancelled"
                ));
            }
        }
        // Baidu refuses whichever call comes first: a full refund's cancel (so the refund never
        // follows), a partial refund's refund, a single-step route's call.
        let refused_here = expected.fate == Fate::Refuses;
        let mut processed = !refused_here;
        // Baidu refuses to append items it already has (inferred): answered, not processed.
        let duplicate_append = processed
            && request.url.contains("append/sub/info")
            && world
                .calls
                .iter()
                .any(|c| c.webhook == webhook && c.step == step && c.processed);
        if duplicate_append {
            processed = false;
            world.refused_append_repeats += 1;
        }
        if step == "refund" && processed {
            let form: BTreeMap<String, String> =
                form_urlencoded::parse(&request.body).into_owned().collect();
            let batch = form.get("bizRefundBatchId").cloned().unwrap_or_default();
            world.checks += 1;
            let other_batch = world
                .refunded_batches
                .iter()
                .any(|(known, index)| *index == webhook && *known != batch);
            if other_batch {
                world.violation(format!(
                    "{id}: refunded under a second bizRefundBatchId {batch}"
                ));
            }
            if let std::collections::btree_map::Entry::Vacant(entry) =
                world.refunded_batches.entry(batch)
            {
                entry.insert(webhook);
            } else {
                // Baidu knows this refund id: the repeat refunds nothing (counted, not processed).
                world.absorbed_refund_repeats += 1;
                processed = false;
            }
        }
        if processed {
            // Reject repeats Baidu would take as a second cancel or refund only if they
            // reach it at all: counting them is the point.
            let earlier: Vec<BaiduCall> = world
                .calls
                .iter()
                .filter(|c| c.webhook == webhook && c.step == step && c.processed)
                .cloned()
                .collect();
            if !earlier.is_empty() {
                world.checks += 1;
                // An unrecorded outcome explains a repeat only once its attempt is gone: dead,
                // finished, or past the lease it was given (by this oracle's own reckoning).
                let explained = earlier.iter().any(|c| {
                    let recorded = world.recorded_leases.contains(&(id.clone(), c.lease))
                        || (c.step == "cancel"
                            && world.recorded_steps.contains(&(id.clone(), c.lease)));
                    c.answer_lost || (!recorded && !world.alive_within_lease(&id, c.lease))
                });
                if !explained {
                    let unrecordable = world.unrecordable.contains(&id);
                    let requeued = world.requeued_at.contains_key(&id);
                    if !unrecordable && !requeued {
                        world.violation(format!(
                            "{id}: Baidu processed it again (task {}, lease {lease}) after every earlier call's outcome was known and recorded",
                            self.task
                        ));
                    }
                }
            }
        }
        let at = world.now;
        world.calls.push(BaiduCall {
            webhook,
            step,
            cancel: request.url.contains("syncOrderStatus"),
            lease,
            processed,
            answer_lost: lost_after,
            at,
        });
        world.trace(|| {
            format!(
                "Baidu call for {id} (task {}, lease {lease}): processed={processed} lost={lost_after}",
                self.task
            )
        });
        if lost_after {
            return Err(TransportError::Timeout);
        }
        match (expected.fate, order_center) {
            (Fate::Refuses, _) if refused_here => {
                ok_json(json!({"errno": 10002, "msg": "order not exist"}))
            }
            _ if step == "refund" => ok_json(json!({"errno": 0, "msg": "success",
                "data": {"refundBatchId": format!("rb{}", expected.order), "refundPayMoney": "100"}})),
            (Fate::Accepts, false) | (Fate::Refuses, false) => {
                ok_json(json!({"errno": 0, "msg": "success", "data": []}))
            }
            (Fate::Accepts, true) if duplicate_append => {
                let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                let entries: Vec<Value> = body["Data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|item| json!({"resource_id": item["ResourceID"], "rows_affected": "0"}))
                    .collect();
                ok_json(json!({"errno": 0, "msg": "success", "data": entries}))
            }
            (Fate::Accepts, true) => {
                let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                let entries: Vec<Value> = body["Data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|item| json!({"resource_id": item["ResourceID"], "rows_affected": "1"}))
                    .collect();
                ok_json(json!({"errno": 0, "msg": "success", "data": entries}))
            }
            (Fate::Refuses, true) => ok_json(json!({"errno": 10002, "msg": "order not exist"})),
        }
    }
}

/// A query parameter of `url`, decoded.
fn query_param(url: &str, name: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn ok_json(body: Value) -> UpstreamAnswer {
    Ok(UpstreamResponse {
        status: 200,
        body: body.to_string().into_bytes(),
    })
}

impl TokenStore for SimPorts {
    async fn token(
        &self,
        _: &OrderCenterConfig,
        _: u32,
        rejected: Option<&AccessToken>,
    ) -> Result<(AccessToken, TokenSource), ApiError> {
        await_point().await;
        if self.fails(|f| f.token_fetch_error) {
            return Err(BaiduError::http_status(503).into());
        }
        let mut world = self.world.borrow_mut();
        let cached = format!("tok-{}", world.cached_token);
        if rejected.is_some_and(|r| r.secret() == cached) {
            world.cached_token = world.token_generation;
            let fresh = format!("tok-{}", world.cached_token);
            return Ok((AccessToken::new(fresh, u64::MAX), TokenSource::Baidu));
        }
        Ok((AccessToken::new(cached, u64::MAX), TokenSource::Isolate))
    }
}

impl Runtime for SimPorts {
    fn now_ms(&self) -> u64 {
        self.world.borrow().now
    }
    fn jitter(&self) -> f64 {
        self.world.borrow_mut().rng.unit()
    }
    fn log(&self, line: Value) {
        let mut world = self.world.borrow_mut();
        // The oracle must know when a final outcome could be recorded nowhere (the ledger
        // and the queue both failing): the one case where a known outcome may be sent again.
        if line["msg"] == "ledger write failed"
            && matches!(
                line["status"].as_str(),
                Some("delivered" | "rejected" | "failed")
            )
        {
            let id = line["webhookId"].as_str().unwrap_or_default().to_owned();
            world.unrecordable.insert(id);
        }
        world.trace(|| line.to_string());
    }
    async fn sleep(&self, _: u32) {
        // Nothing in the flow sleeps; the token cache, which polls, has its own tests.
        await_point().await;
    }
}

impl OrderBook for SimPorts {
    async fn remember_payment(&self, order: &PaidOrder, _: u64) -> Result<(), StoreError> {
        self.ledger_call().await?;
        let mut world = self.world.borrow_mut();
        world
            .paid_orders
            .insert(order.tp_order_id.clone(), order.clone());
        Ok(())
    }

    async fn payment(&self, tp_order_id: &str) -> Result<Option<PaidOrder>, StoreError> {
        self.ledger_call().await?;
        Ok(self.world.borrow().paid_orders.get(tp_order_id).cloned())
    }

    async fn identity(&self, tp_order_id: &str) -> Result<Option<OrderIdentity>, StoreError> {
        self.ledger_call().await?;
        let world = self.world.borrow();
        Ok(world
            .paid_orders
            .get(tp_order_id)
            .map(|paid| OrderIdentity {
                order_id: paid.order_id.clone(),
                user_id: paid.user_id.clone(),
                open_id: world.open_ids.get(tp_order_id).cloned(),
            }))
    }

    async fn remember_identity(
        &self,
        order: &PaidOrder,
        open_id: Option<&str>,
        _: u64,
    ) -> Result<(), StoreError> {
        self.ledger_call().await?;
        let mut world = self.world.borrow_mut();
        // As the SQL: a recorded callback keeps its ids and takes the openId for its user only.
        let recorded = world.paid_orders.get(&order.tp_order_id);
        if recorded.is_some_and(|paid| paid.user_id != order.user_id) {
            return Ok(());
        }
        if recorded.is_none() {
            world
                .paid_orders
                .insert(order.tp_order_id.clone(), order.clone());
        }
        if let Some(open_id) = open_id {
            world
                .open_ids
                .insert(order.tp_order_id.clone(), open_id.to_owned());
        }
        Ok(())
    }

    async fn remember_refund(&self, refund: &RefundRecord, _: u64) -> Result<(), StoreError> {
        self.ledger_call().await?;
        let mut world = self.world.borrow_mut();
        world
            .refunds
            .entry(refund.biz_refund_batch_id.clone())
            .or_insert_with(|| refund.clone());
        Ok(())
    }

    async fn refund_accepted(&self, biz: &str, batch: &str, _: u64) -> Result<(), StoreError> {
        self.ledger_call().await?;
        if let Some(refund) = self.world.borrow_mut().refunds.get_mut(biz) {
            refund.refund_batch_id = Some(batch.to_owned());
        }
        Ok(())
    }

    async fn refunds_of_order(&self, order_id: &str) -> Result<u32, StoreError> {
        self.ledger_call().await?;
        let world = self.world.borrow();
        Ok(world
            .refunds
            .values()
            .filter(|r| r.order_id == order_id)
            .count() as u32)
    }

    async fn refund_for_audit(
        &self,
        refund_batch_id: &str,
        order_id: &str,
        amount: Option<i64>,
    ) -> Result<Option<RefundRecord>, StoreError> {
        self.ledger_call().await?;
        let world = self.world.borrow();
        let by_batch = world
            .refunds
            .values()
            .find(|r| r.refund_batch_id.as_deref() == Some(refund_batch_id));
        let by_order = || {
            world.refunds.values().find(|r| {
                r.order_id == order_id
                    && (amount.is_none() || r.amount.is_none() || r.amount == amount)
            })
        };
        Ok(by_batch.or_else(by_order).cloned())
    }
}

impl Ports for SimPorts {
    type Ledger = SimPorts;
    type Orders = SimPorts;
    type Queue = SimPorts;
    type Upstream = SimPorts;
    type Tokens = SimPorts;
    type Runtime = SimPorts;
    fn ledger(&self) -> Result<&SimPorts, StoreError> {
        Ok(self)
    }
    fn orders(&self) -> Result<&SimPorts, StoreError> {
        Ok(self)
    }
    fn queue(&self) -> Result<&SimPorts, QueueError> {
        Ok(self)
    }
    fn upstream(&self) -> &SimPorts {
        self
    }
    fn tokens(&self) -> &SimPorts {
        self
    }
    fn runtime(&self) -> &SimPorts {
        self
    }
}

// ---------------------------------------------------------------------------------------
// Configurations and webhooks.

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const APP_KEY: &str = "4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c";
const KEY: &str = include_str!("../../tests/vectors/keys/baidu-doc-sample-1024.pkcs1.pem");

struct Configs {
    good: Config,
    cashier_broken: Config,
}

fn configs(max_attempts: u32, payment: Payment) -> Configs {
    let max_attempts = max_attempts.to_string();
    let load = |key: &'static str| {
        let max_attempts = max_attempts.clone();
        Config::from_env(move |name| {
            let value = match name {
                "BAIDU_PAYMENT_APP_ID" if payment != Payment::V1Unchecked => "1234567",
                "BAIDU_ORDER_DETAIL_URL" => "https://dianshang.sim/queryorderdetail",
                "BAIDU_PAYMENT_VERSION" if payment == Payment::V2 => "2",
                "WEBHOOK_SECRET" => SECRET,
                "BAIDU_RSA_PRIVATE_KEY" => key,
                "BAIDU_PAY_APP_KEY" => "MMMabc",
                "BAIDU_APP_KEY" => APP_KEY,
                "BAIDU_APP_SECRET" => "secret",
                "BAIDU_OPENAPI_URL" => "https://openapi.sim",
                "BAIDU_CASHIER_URL" => "https://etrade.sim/cashier/syncOrderStatus",
                "RESULT_WEBHOOK_URL" => "https://merchant.sim/results",
                "MAX_ATTEMPTS" => return Some(max_attempts.clone()),
                "RETRY_BASE_DELAY_SECONDS" => "30",
                "RETRY_MAX_DELAY_SECONDS" => "240",
                _ => return None,
            };
            Some(value.to_owned())
        })
        .expect("the simulated environment is valid")
    };
    Configs {
        good: load(KEY),
        cashier_broken: load(
            "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----",
        ),
    }
}

fn make_webhooks(rng: &mut Rng, seed: u64) -> Vec<Webhook> {
    let count = 3 + rng.below(6) as usize;
    (0..count)
        .map(|i| {
            let order = 1_000_000 + seed % 1000 * 100 + i as u64;
            let fate = if rng.chance(0.2) {
                Fate::Refuses
            } else {
                Fate::Accepts
            };
            let kind = rng.below(10);
            let (route, body) = if kind < 5 {
                (
                    Route::CancelVerification,
                    json!({"orderId": order, "userId": 4_188_819_900u64}),
                )
            } else if kind < 7 {
                // A full refund by tpOrderId alone: cancel verification, then refund.
                (
                    Route::Refund,
                    json!({"tpOrderId": format!("t{order}"), "refundReason": "r"}),
                )
            } else if kind < 8 {
                // A partial refund with explicit ids: the refund alone.
                (
                    Route::Refund,
                    json!({"tpOrderId": format!("t{order}"), "orderId": order, "userId": 4_188_819_900u64,
                           "refundReason": "r", "applyRefundMoney": 40}),
                )
            } else if kind == 9 && order.is_multiple_of(3) {
                // A main order and its after-sale items: the import, then the append, as two
                // recorded steps.
                (
                    Route::OrderSync,
                    json!({"openId": "o", "sceneId": order, "data": [
                        {"CateID": 2, "ResourceID": format!("m{order}"), "Title": "t",
                         "Ctime": 1_700_000_000u64, "Mtime": 1_700_000_000u64, "Status": 200,
                         "EXT": {"MainOrder": {
                             "Products": [{"ID": "p", "Name": "n", "Quantity": 1, "Price": 100, "PayPrice": 100}],
                             "Payment": {"Method": 1, "Amount": 100, "IsPayment": true}},
                           "SubsOrder": {"Status": 401, "Items": [{"SubOrderID": "s", "SubStatus": 401,
                             "CTime": 1_700_000_000u64, "MTime": 1_700_000_000u64, "OrderType": 1,
                             "Refund": {"Amount": 100, "Product": [{"ID": "p", "Quantity": 1, "Amount": 100}]}}]}}}]}),
                )
            } else if kind == 9 {
                // A main order's import: never repeated once its outcome is unknown.
                (
                    Route::Orders(crate::baidu::ordercenter::OrderCenterCall::AddMain),
                    json!({"openId": "o", "sceneId": order, "data": [
                        {"CateID": 2, "ResourceID": format!("m{order}"), "Title": "t",
                         "Ctime": 1_700_000_000u64, "Mtime": 1_700_000_000u64, "Status": 200,
                         "EXT": {"MainOrder": {
                             "Products": [{"ID": "p", "Name": "n", "Quantity": 1, "Price": 100, "PayPrice": 100}],
                             "Payment": {"Method": 1, "Amount": 100, "IsPayment": true}}}}]}),
                )
            } else if order % 2 == 1 {
                // After-sale items appended: Baidu refuses to append the same items twice.
                (
                    Route::AfterSale(crate::baidu::ordercenter::OrderCenterCall::Append),
                    json!({"openId": "o", "sceneId": order, "data": [
                        {"CateID": 2, "ResourceID": format!("r{order}"),
                         "EXT": {"SubsOrder": {"Status": 401, "Items": [{"SubOrderID": "s", "SubStatus": 401,
                             "CTime": 1_700_000_000u64, "MTime": 1_700_000_000u64, "OrderType": 1,
                             "Refund": {"Amount": 100, "Product": [{"ID": "p", "Quantity": 1, "Amount": 100}]}}]}}}]}),
                )
            } else if order.is_multiple_of(4) {
                // After-sale statuses by tpOrderId alone: Baidu's findByTpOrderId tells the
                // scene and the user (once; the ledger keeps them).
                (
                    Route::AfterSale(crate::baidu::ordercenter::OrderCenterCall::UpdateStatus),
                    json!({"tpOrderId": format!("t{order}"), "data": [
                        {"CateID": 2, "ResourceID": format!("r{order}"),
                         "EXT": {"SubsOrder": {"Status": 402, "Items": [{"SubOrderID": "s", "SubStatus": 402}]}}}]}),
                )
            } else {
                (
                    Route::AfterSale(crate::baidu::ordercenter::OrderCenterCall::UpdateStatus),
                    json!({"openId": "o", "sceneId": order, "data": [
                        {"CateID": 2, "ResourceID": format!("r{order}"),
                         "EXT": {"SubsOrder": {"Status": 402, "Items": [{"SubOrderID": "s", "SubStatus": 402}]}}}]}),
                )
            };
            Webhook {
                id: format!("msg_{seed}_{i}"),
                route,
                body: body.to_string().into_bytes(),
                order,
                fate,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The scheduler.

enum TaskKind {
    Sender,
    Consumer(InFlight),
    Sweep,
    Operator,
}

struct Task {
    id: usize,
    kind: TaskKind,
    future: Pin<Box<dyn Future<Output = ()>>>,
    /// A stalled task is not scheduled before this time.
    asleep_until: u64,
}

/// What one schedule found.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub checks: u64,
    pub violations: Vec<String>,
    pub accepted: usize,
    pub baidu_calls: usize,
    pub repeats_after_unknown: usize,
    /// Repeats by route and step (`/v1/refund cancel`, ...).
    pub repeats_by_route: BTreeMap<String, usize>,
    /// Refund calls Baidu answered without refunding again (a known bizRefundBatchId).
    pub refund_repeats_absorbed: usize,
    /// Status queries asked to settle unknown outcomes.
    pub lookups: usize,
    /// After-sale appends accepted, appends Baidu refused as already applied, and appends that
    /// ended `outcome_unknown` for it.
    pub appends: usize,
    pub appends_refused: usize,
    pub appends_unknown: usize,
    /// Main-order imports (`/v1/orders/add`) accepted, and those that ended `outcome_unknown`.
    pub imports: usize,
    pub imports_unknown: usize,
    pub crashes: usize,
    /// Callers answered 202 `queued`.
    pub told_queued: usize,
    pub trace: Vec<String>,
}

struct Sim {
    world: Shared,
    configs: Rc<Configs>,
    tasks: Vec<Task>,
    next_task: usize,
    crashes: usize,
}

impl Sim {
    fn ports(&self, task: usize) -> SimPorts {
        SimPorts {
            world: self.world.clone(),
            task,
        }
    }

    fn spawn(
        &mut self,
        kind: TaskKind,
        future: impl FnOnce(SimPorts) -> Pin<Box<dyn Future<Output = ()>>>,
    ) {
        let id = self.next_task;
        self.next_task += 1;
        let future = future(self.ports(id));
        self.tasks.push(Task {
            id,
            kind,
            future,
            asleep_until: 0,
        });
    }

    fn current_config(&self) -> Result<Config, ApiError> {
        match self.world.borrow().config {
            ConfigState::Good => Ok(self.configs.good.clone()),
            ConfigState::CashierBroken => Ok(self.configs.cashier_broken.clone()),
            ConfigState::SharedBroken => Err(ApiError::Misconfigured {
                variables: vec!["WEBHOOK_SECRET"],
            }),
        }
    }

    /// The merchant's system sends webhook `index`, perhaps to another route or with another
    /// body under the same id.
    fn send_webhook(&mut self, index: usize, variant: u64) {
        let mut webhook = self.world.borrow().webhooks[index].clone();
        match variant {
            0 => {
                // Same id, another body.
                webhook.body = json!({"orderId": webhook.order + 500, "userId": 1})
                    .to_string()
                    .into_bytes();
                webhook.route = Route::CancelVerification;
            }
            1 => {
                // Same id and body, another route.
                webhook.route = match webhook.route {
                    Route::CancelVerification => {
                        Route::AfterSale(crate::baidu::ordercenter::OrderCenterCall::UpdateStatus)
                    }
                    _ => Route::AfterSale(crate::baidu::ordercenter::OrderCenterCall::Append),
                };
            }
            _ => {}
        }
        let config = self.current_config();
        let world = self.world.clone();
        self.spawn(TaskKind::Sender, move |ports| {
            Box::pin(async move {
                let route = webhook.route;
                let reply = match config {
                    Err(error) => Reply::from(error),
                    Ok(config) => match job::validate(route, &webhook.body, &config) {
                        Err(error) => Reply::from(error),
                        Ok(job) => {
                            let mut log = RequestLog::default();
                            let incoming = Incoming {
                                id: &webhook.id,
                                route,
                                body: &webhook.body,
                                job,
                            };
                            flow::accept(&ports, &config, incoming, &mut log).await
                        }
                    },
                };
                let mut world = world.borrow_mut();
                let at = world.now;
                world.trace(|| {
                    format!(
                        "caller of {} on {} got {} {}",
                        webhook.id,
                        route.path(),
                        reply.status,
                        reply.body
                    )
                });
                world.answered.push(Answered {
                    webhook: index,
                    route,
                    reply,
                    at,
                });
            })
        });
    }

    fn deliver_message(&mut self, mut in_flight: InFlight) {
        in_flight.deliveries += 1;
        let config = self.current_config();
        let world = self.world.clone();
        let kept = in_flight.clone();
        self.spawn(TaskKind::Consumer(kept), move |ports| {
            Box::pin(async move {
                let mut log = RequestLog::default();
                let ack = flow::consume(
                    &ports,
                    config.as_ref().map_err(Clone::clone),
                    &in_flight.message,
                    &mut log,
                )
                .await;
                if let Ack::RedeliverAfter(seconds) = ack {
                    redeliver(&world, in_flight, u64::from(seconds) * 1000);
                }
            })
        });
    }

    fn run_sweep(&mut self) {
        self.spawn(TaskKind::Sweep, |ports| {
            Box::pin(async move {
                let _ = flow::sweep(&ports).await;
            })
        });
    }

    fn operator_retry(&mut self) {
        let failed: Vec<String> = self
            .world
            .borrow()
            .rows
            .values()
            .filter(|row| row.status == DeliveryStatus::Failed)
            .map(|row| row.webhook_id.clone())
            .collect();
        if failed.is_empty() {
            return;
        }
        let pick = self.world.borrow_mut().rng.below(failed.len() as u64) as usize;
        let id = failed[pick].clone();
        self.spawn(TaskKind::Operator, move |ports| {
            Box::pin(async move {
                let _ = flow::requeue(&ports, &id).await;
            })
        });
    }

    /// Polls one task once, or kills it (its isolate died at the await point it waits at).
    fn step_task(&mut self) {
        let now = self.world.borrow().now;
        let awake: Vec<usize> = (0..self.tasks.len())
            .filter(|&i| self.tasks[i].asleep_until <= now)
            .collect();
        if awake.is_empty() {
            return;
        }
        let pick = awake[self.world.borrow_mut().rng.below(awake.len() as u64) as usize];
        let stall = {
            let mut world = self.world.borrow_mut();
            let p = world.faults.stall;
            // Up to four leases at the default timeout (the flow's own formula is not used
            // here, so that a change to it cannot shrink the stalls that test it).
            let longest = 4 * (6 * u64::from(crate::config::DEFAULT_TIMEOUT_MS) + 60_000);
            (p > 0.0 && world.rng.chance(p)).then(|| world.rng.below(longest))
        };
        if let Some(ms) = stall {
            self.tasks[pick].asleep_until = now + ms;
            let id = self.tasks[pick].id;
            self.world
                .borrow_mut()
                .trace(|| format!("task {id} stalls for {ms} ms"));
            return;
        }
        let crash = {
            let mut world = self.world.borrow_mut();
            let p = world.faults.crash;
            p > 0.0 && world.rng.chance(p)
        };
        if crash {
            let task = self.tasks.swap_remove(pick);
            self.crashes += 1;
            let mut world = self.world.borrow_mut();
            world.task_lease.remove(&task.id);
            world.trace(|| format!("task {} died", task.id));
            drop(world);
            // Queues deliver a message again when its consumer's invocation fails.
            if let TaskKind::Consumer(in_flight) = task.kind {
                redeliver(&self.world, in_flight, 1_000);
            }
            return;
        }
        let mut context = Context::from_waker(Waker::noop());
        if self.tasks[pick]
            .future
            .as_mut()
            .poll(&mut context)
            .is_ready()
        {
            let task = self.tasks.swap_remove(pick);
            self.world.borrow_mut().task_lease.remove(&task.id);
        }
    }

    /// Hands due queue messages to consumers.
    fn deliver_due(&mut self) {
        let now = self.world.borrow().now;
        let due: Vec<InFlight> = {
            let mut world = self.world.borrow_mut();
            let (due, waiting): (Vec<InFlight>, Vec<InFlight>) =
                world.queue.drain(..).partition(|m| m.deliver_at <= now);
            world.queue = waiting;
            due
        };
        for message in due {
            self.deliver_message(message);
        }
    }

    fn advance(&mut self, ms: u64) {
        let mut world = self.world.borrow_mut();
        world.now += ms;
    }
}

/// Queues deliver a message again after its consumer failed: three times on the retry
/// queue, then ten on the dead-letter queue (same consumer), then never.
fn redeliver(world: &Shared, mut in_flight: InFlight, delay_ms: u64) {
    let mut world = world.borrow_mut();
    if in_flight.deliveries >= 14 {
        world.trace(|| "Queues dropped a message after its redeliveries".into());
        return;
    }
    in_flight.deliver_at = world.now + delay_ms;
    world.queue.push(in_flight);
}

const SWEEP_EVERY_MS: u64 = 5 * 60_000;

/// Runs one schedule and checks the invariants.
pub(crate) fn run_schedule(seed: u64, tracing: bool) -> Report {
    run(seed, tracing, Weather::Chaos)
}

/// What a schedule lets go wrong.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Weather {
    /// Every fault and configuration break.
    Chaos,
    /// Nothing: only the senders' duplicates, the sweep and the operators.
    Calm,
    /// Nothing of the relay's own, but Baidu answers "retry later" now and then.
    BaiduBusy,
}

/// One schedule under `weather`.
fn run(seed: u64, tracing: bool, weather: Weather) -> Report {
    let calm = weather != Weather::Chaos;
    let mut rng = Rng(seed);
    let max_attempts = 1 + rng.below(5) as u32;
    let payment = Payment::of(seed);
    let configs = Rc::new(configs(max_attempts, payment));
    let webhooks = make_webhooks(&mut rng, seed);
    let faults = Faults::random(&mut rng);
    let faults = match weather {
        Weather::Chaos => faults,
        Weather::Calm => Faults::none(),
        Weather::BaiduBusy => Faults {
            baidu_transient: 0.1 + 0.3 * rng.unit(),
            ..Faults::none()
        },
    };
    let world = Rc::new(RefCell::new(World::new(
        rng.clone(),
        max_attempts,
        webhooks,
        faults,
        tracing,
    )));
    world.borrow_mut().payment = payment;
    let mut sim = Sim {
        world: world.clone(),
        configs,
        tasks: Vec::new(),
        next_task: 0,
        crashes: 0,
    };
    world
        .borrow_mut()
        .trace(|| format!("seed {seed}: max_attempts {max_attempts}, faults {faults:?}"));

    // Chaos: senders, duplicates, faults, config breaks, operators, sweeps.
    let webhook_count = world.borrow().webhooks.len();
    let mut next_sweep = world.borrow().now + SWEEP_EVERY_MS;
    let chaos_steps = 300 + rng.below(300);
    for _ in 0..chaos_steps {
        let roll = world.borrow_mut().rng.below(1000);
        match roll {
            0..=39 => {
                let index = world.borrow_mut().rng.below(webhook_count as u64) as usize;
                let variant = world.borrow_mut().rng.below(20);
                sim.send_webhook(index, variant);
            }
            40..=44 if calm => sim.step_task(),
            40..=44 => {
                let state = match world.borrow_mut().rng.below(4) {
                    0 => ConfigState::CashierBroken,
                    1 => ConfigState::SharedBroken,
                    _ => ConfigState::Good,
                };
                let mut w = world.borrow_mut();
                w.config = state;
                w.trace(|| format!("configuration now {state:?}"));
            }
            45..=49 => sim.operator_retry(),
            50..=54 => {
                let mut w = world.borrow_mut();
                let p = w.faults.token_expiry;
                if p > 0.0 && w.rng.chance(p) {
                    w.token_generation += 1;
                }
            }
            _ => sim.step_task(),
        }
        sim.deliver_due();
        let (jump, small) = {
            let mut w = world.borrow_mut();
            let p = w.faults.clock_jump;
            let jump = p > 0.0 && w.rng.chance(p);
            (jump, w.rng.below(2_000))
        };
        sim.advance(if jump { 60_000 + small * 200 } else { small });
        if world.borrow().now >= next_sweep {
            next_sweep += SWEEP_EVERY_MS;
            sim.run_sweep();
        }
    }

    // Heal: faults stop, the configuration is fixed, callers stop; run until nothing is left
    // to do and the sweep horizon has passed.
    {
        let mut w = world.borrow_mut();
        w.faults = Faults::none();
        w.config = ConfigState::Good;
        w.trace(|| "healed".into());
    }
    let mut quiet_sweeps = 0;
    for _ in 0..200_000 {
        if !sim.tasks.is_empty() {
            sim.step_task();
            sim.deliver_due();
            sim.advance(100);
            continue;
        }
        let unfinished = world
            .borrow()
            .rows
            .values()
            .any(|row| !row.status.is_finished());
        if !unfinished && world.borrow().queue.is_empty() {
            quiet_sweeps += 1;
            if quiet_sweeps > 2 {
                break;
            }
        }
        // Jump to the next event: a queued message or the next sweep.
        let next_message = world.borrow().queue.iter().map(|m| m.deliver_at).min();
        let now = world.borrow().now;
        let target = next_message.unwrap_or(next_sweep).min(next_sweep).max(now);
        sim.advance(target - now);
        if world.borrow().now >= next_sweep {
            next_sweep += SWEEP_EVERY_MS;
            sim.run_sweep();
        }
        sim.deliver_due();
    }
    let crashes = sim.crashes;
    drop(sim);
    let mut report = check_invariants(&world, seed, crashes);
    match weather {
        Weather::Chaos => {}
        Weather::Calm => report.violations.extend(calm_violations(&world.borrow())),
        Weather::BaiduBusy => report.violations.extend(busy_violations(&world.borrow())),
    }
    report
}

/// Without faults nothing is wasted: each webhook is answered by Baidu once, on the first
/// attempt, and ends as Baidu decided.
fn calm_violations(w: &World) -> Vec<String> {
    let mut violations = Vec::new();
    for (index, webhook) in w.webhooks.iter().enumerate() {
        let Some(row) = w.rows.get(&webhook.id) else {
            continue;
        };
        let calls = w.calls.iter().filter(|c| c.webhook == index).count();
        let expected = match webhook.fate {
            Fate::Accepts => DeliveryStatus::Delivered,
            Fate::Refuses => DeliveryStatus::Rejected,
        };
        // A full 1.0 refund that Baidu accepts makes two calls: the cancel, then the refund.
        let steps = if webhook.fate == Fate::Accepts
            && w.payment != Payment::V2
            && row.body.contains("\"tpOrderId\"")
            && !row.body.contains("applyRefundMoney")
            && row.route == "/v1/refund"
        {
            2
        } else if webhook.fate == Fate::Accepts && row.route == "/v1/orders/sync" {
            // The import, then the append.
            2
        } else {
            1
        };
        if calls != steps || row.attempts != 1 || row.status != expected {
            violations.push(format!(
                "{}: without faults {calls} Baidu calls, {} attempts, {:?} (expected {steps}, 1, {expected:?})",
                webhook.id, row.attempts, row.status
            ));
        }
    }
    violations
}

/// When only Baidu is busy: Baidu processes each webhook at most once, each ends as Baidu
/// decided or `failed` (its round spent on "retry later"), and every caller told `queued`
/// hears the end from the result webhook.
fn busy_violations(w: &World) -> Vec<String> {
    let mut violations = Vec::new();
    for (index, webhook) in w.webhooks.iter().enumerate() {
        let Some(row) = w.rows.get(&webhook.id) else {
            continue;
        };
        let mut per_step: BTreeMap<&str, usize> = BTreeMap::new();
        for call in w.calls.iter().filter(|c| c.webhook == index && c.processed) {
            *per_step.entry(call.step).or_default() += 1;
        }
        let processed = per_step.values().copied().max().unwrap_or(0);
        let decided = match webhook.fate {
            Fate::Accepts => DeliveryStatus::Delivered,
            Fate::Refuses => DeliveryStatus::Rejected,
        };
        if processed > 1 || (row.status != decided && row.status != DeliveryStatus::Failed) {
            violations.push(format!(
                "{}: Baidu busy: processed {processed} times, ends {:?}",
                webhook.id, row.status
            ));
        }
        let told_queued = w
            .answered
            .iter()
            .any(|a| a.webhook == index && a.route == webhook.route && a.reply.status == 202);
        let last_post = w
            .result_posts
            .iter()
            .rev()
            .find(|(id, _)| *id == webhook.id)
            .map(|(_, posted)| posted["status"].as_str().unwrap_or_default().to_owned());
        if told_queued && last_post.as_deref() != Some(row.status.as_str()) {
            violations.push(format!(
                "{}: the caller heard queued; the result webhook said {last_post:?}, the ledger {:?}",
                webhook.id, row.status
            ));
        }
    }
    violations
}

/// 300 schedules under `weather`, each free of violations.
fn runs_under(weather: Weather) -> Vec<Report> {
    (0..300)
        .map(|seed| {
            let report = run(seed, false, weather);
            assert!(
                report.violations.is_empty(),
                "seed {seed}: {:#?}",
                report.violations
            );
            report
        })
        .collect()
}

#[test]
fn when_only_baidu_is_busy_each_webhook_is_processed_once_and_its_end_is_posted() {
    let queued: usize = runs_under(Weather::BaiduBusy)
        .iter()
        .map(|r| r.told_queued)
        .sum();
    assert!(queued > 100, "only {queued} callers told queued");
}

#[test]
fn without_faults_every_webhook_takes_one_call_and_ends_as_baidu_decided() {
    let accepted: usize = runs_under(Weather::Calm).iter().map(|r| r.accepted).sum();
    assert!(accepted > 1_000, "{accepted} webhooks accepted");
}

fn check_invariants(world: &Shared, seed: u64, crashes: usize) -> Report {
    let mut w = world.borrow_mut();
    // 1. Every accepted webhook ends delivered, rejected or failed.
    let rows: Vec<LedgerRow> = w.rows.values().cloned().collect();
    for row in &rows {
        w.checks += 1;
        if !row.status.is_finished() {
            w.violation(format!(
                "{}: still {:?} after the sweep horizon",
                row.webhook_id, row.status
            ));
        }
        if row.status.is_finished() && (row.answer_status.is_none() || row.answer_body.is_none()) {
            w.violation(format!("{}: final without a stored answer", row.webhook_id));
        }
    }
    // Retries keep to the round's budget: at most MAX_ATTEMPTS attempts reach Baidu per round
    // (a token refresh makes two calls under one lease), and a delivery fails only once its
    // round has used them all.
    let max_attempts = w.max_attempts;
    for row in &rows {
        w.checks += 1;
        let Some(index) = w.webhook_of(&row.webhook_id) else {
            continue;
        };
        let round_began = w.requeued_at.get(&row.webhook_id).copied().unwrap_or(0);
        let leases: BTreeSet<u32> = w
            .calls
            .iter()
            .filter(|c| c.webhook == index && c.at >= round_began)
            .map(|c| c.lease)
            .collect();
        if leases.len() > max_attempts as usize {
            w.violation(format!(
                "{}: {} attempts reached Baidu in one round of {}",
                row.webhook_id,
                leases.len(),
                max_attempts
            ));
        }
        // An import whose outcome is unknown fails at once rather than be repeated.
        if row.status == DeliveryStatus::Failed
            && row.attempts.saturating_sub(row.round_start) < max_attempts
            && row.last_error.as_deref() != Some("outcome_unknown")
        {
            w.violation(format!(
                "{}: failed after {} attempts of a round of {}",
                row.webhook_id,
                row.attempts - row.round_start,
                max_attempts
            ));
        }
    }
    // 4. Nothing accepted is missing; 3. the stored answer is the caller's.
    let answered = w.answered.clone();
    for answer in &answered {
        let webhook = w.webhooks[answer.webhook].clone();
        let status = answer.reply.status;
        let code = answer.reply.body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let accepted = (200..300).contains(&status) || answer.reply.replayed;
        w.checks += 1;
        let row = w.rows.get(&webhook.id).cloned();
        if accepted && row.is_none() {
            w.violation(format!(
                "{}: answered {status} but missing from the ledger",
                webhook.id
            ));
        }
        let not_final = matches!(
            code.as_str(),
            "in_progress"
                | "ledger_unavailable"
                | "id_reused"
                | "misconfigured"
                | "invalid_json"
                | "missing_field"
                | "invalid_field"
                | "not_found"
        ) || status == 202;
        let same_webhook = answer.route == webhook.route;
        if !not_final && same_webhook {
            let Some(row) = row else { continue };
            let requeued_later = w
                .requeued_at
                .get(&webhook.id)
                .is_some_and(|at| *at >= answer.at);
            let stored: Value = row
                .answer_body
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or(Value::Null);
            if !requeued_later && (row.answer_status != Some(status) || stored != answer.reply.body)
            {
                w.violation(format!(
                    "{}: caller got {status} {} but the ledger stores {:?} {stored}",
                    webhook.id, answer.reply.body, row.answer_status
                ));
            }
        }
    }
    // The result webhooks report what the ledger stores.
    for (id, posted) in w.result_posts.clone() {
        w.checks += 1;
        if let Some(row) = w.rows.get(&id).cloned() {
            let requeued = w.requeued_at.contains_key(&id);
            if !requeued
                && Some(posted["status"].as_str().unwrap_or_default()) != Some(row.status.as_str())
            {
                w.violation(format!(
                    "{id}: result webhook says {} but the ledger {:?}",
                    posted["status"], row.status
                ));
            }
        }
    }
    let mut repeats = 0;
    let mut per_webhook: BTreeMap<(usize, &str, bool), usize> = BTreeMap::new();
    for call in w.calls.iter().filter(|c| c.processed) {
        *per_webhook
            .entry((call.webhook, call.step, call.cancel))
            .or_default() += 1;
    }
    let payment = w.payment;
    let mut repeats_by_route: BTreeMap<String, usize> = BTreeMap::new();
    for ((webhook, step, cancel), times) in per_webhook {
        repeats += times.saturating_sub(1);
        if times > 1 {
            // The route the ledger accepted the id for: a duplicate with another body and route
            // may have reached the ledger before the webhook itself did.
            let id = w.webhooks[webhook].id.clone();
            let route = w
                .rows
                .get(&id)
                .map(|row| row.route.clone())
                .unwrap_or_else(|| w.webhooks[webhook].route.path().to_owned());
            *repeats_by_route
                .entry(format!("{} {route} {step}", payment.name()))
                .or_default() += times - 1;
            // Where Baidu can be asked, it is asked before any resend: nothing twice.
            let asked = match payment {
                Payment::V1Unchecked => false,
                Payment::V1Checked => cancel || step == "refund",
                Payment::V2 => cancel || step == "refund",
            };
            w.checks += 1;
            if asked {
                w.violation(format!(
                    "{id}: Baidu processed its {step} {times} times although a status query could settle it"
                ));
            }
        }
    }
    // What Baidu applied is never reported rejected (a refused resend of an applied append
    // included).
    for row in &rows {
        let Some(index) = w.webhook_of(&row.webhook_id) else {
            continue;
        };
        w.checks += 1;
        let applied = w.calls.iter().any(|c| c.webhook == index && c.processed);
        if applied && row.status == DeliveryStatus::Rejected {
            w.violation(format!(
                "{}: Baidu applied it, yet it ends rejected ({:?})",
                row.webhook_id, row.last_error
            ));
        }
    }
    let absorbed = w.absorbed_refund_repeats;
    if payment != Payment::V1Unchecked && absorbed > 0 {
        w.violation(format!(
            "{absorbed} refund calls resent although a status query could settle them"
        ));
    }
    let _ = seed;
    Report {
        checks: w.checks,
        violations: w.violations.clone(),
        accepted: rows.len(),
        baidu_calls: w.calls.len(),
        repeats_after_unknown: repeats,
        imports: rows
            .iter()
            .filter(|row| row.route == "/v1/orders/add" || row.route == "/v1/orders/sync")
            .count(),
        imports_unknown: rows
            .iter()
            .filter(|row| {
                (row.route == "/v1/orders/add" || row.route == "/v1/orders/sync")
                    && row.last_error.as_deref() == Some("outcome_unknown")
            })
            .count(),
        repeats_by_route,
        refund_repeats_absorbed: w.absorbed_refund_repeats,
        lookups: w.lookups,
        appends_refused: w.refused_append_repeats,
        appends: rows
            .iter()
            .filter(|row| row.route == "/v1/after-sale/append")
            .count(),
        appends_unknown: rows
            .iter()
            .filter(|row| {
                row.route == "/v1/after-sale/append"
                    && row.last_error.as_deref() == Some("outcome_unknown")
            })
            .count(),
        crashes,
        told_queued: w.answered.iter().filter(|a| a.reply.status == 202).count(),
        trace: std::mem::take(&mut w.trace),
    }
}

#[test]
fn delivery_flow_keeps_its_promises_under_faults() {
    let env_number = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    if let Some(seed) = env_number("SIM_SEED") {
        let report = run_schedule(seed, true);
        for line in &report.trace {
            println!("{line}");
        }
        assert!(
            report.violations.is_empty(),
            "seed {seed}: {:#?}",
            report.violations
        );
        return;
    }
    let schedules = env_number("SIM_SCHEDULES").unwrap_or(10_000);
    let started = std::time::Instant::now();
    let mut totals = Report::default();
    let mut failures = Vec::new();
    for seed in 0..schedules {
        let report = run_schedule(seed, false);
        totals.checks += report.checks;
        totals.accepted += report.accepted;
        totals.baidu_calls += report.baidu_calls;
        totals.repeats_after_unknown += report.repeats_after_unknown;
        totals.refund_repeats_absorbed += report.refund_repeats_absorbed;
        totals.lookups += report.lookups;
        totals.appends += report.appends;
        totals.appends_refused += report.appends_refused;
        totals.appends_unknown += report.appends_unknown;
        totals.imports += report.imports;
        totals.imports_unknown += report.imports_unknown;
        for (route, n) in report.repeats_by_route {
            *totals.repeats_by_route.entry(route).or_default() += n;
        }
        totals.crashes += report.crashes;
        if !report.violations.is_empty() {
            failures.push((seed, report.violations));
        }
    }
    println!(
        "simulation: {schedules} schedules, {} checks, {} webhooks accepted, {} Baidu calls, {} isolate deaths, {} repeats (each after an unknown outcome), {} failing, {:.1} s",
        totals.checks,
        totals.accepted,
        totals.baidu_calls,
        totals.crashes,
        totals.repeats_after_unknown,
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "simulation: repeats by payment mode, route and step {:#?}; refund calls repeated with a known bizRefundBatchId (refunding nothing, all unchecked): {}; status queries asked: {}",
        totals.repeats_by_route, totals.refund_repeats_absorbed, totals.lookups
    );
    let imports_repeated: usize = totals
        .repeats_by_route
        .iter()
        .filter(|(key, _)| {
            key.ends_with("/v1/orders/add call") || key.ends_with("/v1/orders/sync import")
        })
        .map(|(_, n)| n)
        .sum();
    println!(
        "simulation: /v1/orders/add and /sync: {} accepted, {} ended outcome_unknown instead of a blind repeat (an import, or a sync's refused append), {imports_repeated} imports processed twice",
        totals.imports, totals.imports_unknown
    );
    println!(
        "simulation: appends (/v1/after-sale/append and the sync's second step): {1} resends refused by Baidu as already applied; /v1/after-sale/append: {0} accepted, {2} ended outcome_unknown (none rejected)",
        totals.appends, totals.appends_refused, totals.appends_unknown
    );
    assert_eq!(imports_repeated, 0, "an import was repeated blindly");
    assert!(totals.imports > 0, "the schedules import main orders");
    if let Some((seed, violations)) = failures.first() {
        panic!(
            "{} of {schedules} schedules broke an invariant; first: seed {seed} (replay with SIM_SEED={seed}):\n{violations:#?}",
            failures.len()
        );
    }
}

/// Runs `future` to its end, no other task running meanwhile; `between` runs at each await
/// point it stops at.
fn finish_stepping<F: Future>(future: F, mut between: impl FnMut()) -> F::Output {
    let mut future = Box::pin(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        between();
    }
}

fn finish<F: Future>(future: F) -> F::Output {
    finish_stepping(future, || {})
}

#[test]
fn the_purge_deletes_only_finished_rows_past_retention_in_bounded_batches() {
    const DAY: u64 = 86_400_000;
    let world = Rc::new(RefCell::new(World::new(
        Rng(1),
        3,
        Vec::new(),
        Faults::none(),
        false,
    )));
    let now = world.borrow().now;
    let row = |id: String, status: DeliveryStatus, updated_at: u64| LedgerRow {
        status,
        sweep_at: None,
        ..inserted_row(NewDelivery {
            id: &id,
            route: "/v1/cancel-verification",
            body: "{}",
            body_sha256: "",
            now: updated_at,
            sweep_at: 0,
        })
    };
    let old = now - 31 * DAY;
    let mut expected_left = Vec::new();
    {
        let mut w = world.borrow_mut();
        // More old finished rows than one run deletes.
        let old_finished = flow::PURGE_BATCH * flow::PURGE_BATCHES + 7;
        for i in 0..old_finished {
            let status = [
                DeliveryStatus::Delivered,
                DeliveryStatus::Rejected,
                DeliveryStatus::Failed,
            ][i as usize % 3];
            let id = format!("old-{i:05}");
            w.rows
                .insert(id.clone(), row(id, status, old + u64::from(i)));
        }
        for (id, status, at) in [
            ("in-flight-pending", DeliveryStatus::Pending, old),
            ("in-flight-queued", DeliveryStatus::Queued, old),
            ("recent", DeliveryStatus::Delivered, now - 29 * DAY),
            ("at-the-cutoff", DeliveryStatus::Delivered, now - 30 * DAY),
        ] {
            w.rows.insert(id.into(), row(id.into(), status, at));
            expected_left.push(id.to_owned());
        }
    }
    let ports = SimPorts {
        world: world.clone(),
        task: 0,
    };
    let run = |ports: &SimPorts| finish(flow::purge(ports, 30)).unwrap();
    let first = run(&ports);
    assert_eq!(
        first,
        flow::PurgeReport {
            deleted: flow::PURGE_BATCH * flow::PURGE_BATCHES,
            more: true
        }
    );
    // Oldest first: the newest of the old rows are what is left for the next run.
    assert!(world.borrow().rows.contains_key("old-05006"));
    assert!(!world.borrow().rows.contains_key("old-04999"));
    let second = run(&ports);
    assert_eq!(
        second,
        flow::PurgeReport {
            deleted: 7,
            more: false
        }
    );
    let left: Vec<String> = world.borrow().rows.keys().cloned().collect();
    expected_left.sort();
    assert_eq!(left, expected_left);
}

// ---------------------------------------------------------------------------------------
// Scenarios: one path of the flow, driven step by step.

/// A world holding one cancel-verification webhook that Baidu accepts, not yet sent.
fn one_webhook(max_attempts: u32) -> (Shared, Webhook, Configs) {
    let webhook = Webhook {
        id: "msg_abandoned".into(),
        route: Route::CancelVerification,
        body: json!({"orderId": 1_000_001, "userId": 4_188_819_900u64})
            .to_string()
            .into_bytes(),
        order: 1_000_001,
        fate: Fate::Accepts,
    };
    let world = Rc::new(RefCell::new(World::new(
        Rng(7),
        max_attempts,
        vec![webhook.clone()],
        Faults::none(),
        false,
    )));
    (world, webhook, configs(max_attempts, Payment::V1Unchecked))
}

/// The same, its row left `pending` under lease 1 by an attempt that died (its lease ran out
/// a second ago) after `attempts` attempts.
fn abandoned(attempts: u32, max_attempts: u32) -> (Shared, Webhook, Configs) {
    let (world, webhook, configs) = one_webhook(max_attempts);
    let now = world.borrow().now;
    let body = String::from_utf8(webhook.body.clone()).unwrap();
    let row = LedgerRow {
        attempts,
        ..inserted_row(NewDelivery {
            id: &webhook.id,
            route: webhook.route.path(),
            body: &body,
            body_sha256: &super::ledger::body_sha256(body.as_bytes()),
            now: now - 200_000,
            sweep_at: now - 1_000,
        })
    };
    world.borrow_mut().rows.insert(webhook.id.clone(), row);
    (world, webhook, configs)
}

/// Sends `webhook`, polling the flow one await point at a time; `between` runs on the world
/// after each step.
fn resend(
    world: &Shared,
    webhook: &Webhook,
    configs: &Configs,
    mut between: impl FnMut(&mut World),
) -> Reply {
    let ports = SimPorts {
        world: world.clone(),
        task: 1,
    };
    let config = configs.good.clone();
    let job = job::validate(webhook.route, &webhook.body, &config).unwrap();
    let mut log = RequestLog::default();
    let incoming = Incoming {
        id: &webhook.id,
        route: webhook.route,
        body: &webhook.body,
        job,
    };
    finish_stepping(flow::accept(&ports, &config, incoming, &mut log), || {
        between(&mut world.borrow_mut())
    })
}

#[test]
fn a_duplicate_takes_over_an_abandoned_row_and_delivers_it_under_the_next_lease() {
    let (world, webhook, configs) = abandoned(1, 3);
    let reply = resend(&world, &webhook, &configs, |_| {});
    assert_eq!(reply.status, 200, "{}", reply.body);
    let w = world.borrow();
    let row = &w.rows[&webhook.id];
    assert_eq!(
        (row.status, row.lease, row.attempts),
        (DeliveryStatus::Delivered, 2, 2)
    );
    assert_eq!(row.answer_body, Some(reply.body.to_string()));
    let calls: Vec<u32> = w.calls.iter().map(|c| c.lease).collect();
    assert_eq!(calls, vec![2], "one call, under the new lease");
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn a_duplicate_finding_the_round_spent_fails_the_delivery_without_a_call() {
    let (world, webhook, configs) = abandoned(3, 3);
    let reply = resend(&world, &webhook, &configs, |_| {});
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert_eq!(reply.body["error"]["code"], "delivery_failed");
    assert_eq!(reply.body["error"]["attempts"], 3);
    let w = world.borrow();
    let row = &w.rows[&webhook.id];
    assert_eq!(
        (row.status, row.lease, row.attempts),
        (DeliveryStatus::Failed, 2, 3)
    );
    assert_eq!(row.answer_body, Some(reply.body.to_string()));
    assert!(w.calls.is_empty());
}

#[test]
fn a_duplicate_whose_spent_round_is_taken_by_another_claim_answers_in_progress() {
    let (world, webhook, configs) = abandoned(3, 3);
    // Right after this duplicate's claim (lease 2), another claimant takes the row over.
    let reply = resend(&world, &webhook, &configs, |w| {
        let row = w.rows.get_mut("msg_abandoned").unwrap();
        if row.lease == 2 {
            row.lease = 3;
        }
    });
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert_eq!(reply.body["error"]["code"], "in_progress");
    let w = world.borrow();
    let row = &w.rows[&webhook.id];
    assert_eq!((row.status, row.lease), (DeliveryStatus::Pending, 3));
    assert!(w.calls.is_empty());
}

/// Once the row is written, every later ledger call fails: on a first attempt, the next one
/// records the outcome Baidu just gave.
fn ledger_down_after_the_insert(w: &mut World) {
    if !w.rows.is_empty() {
        w.faults.ledger_error = 1.0;
    }
}

#[test]
fn a_final_outcome_the_ledger_refuses_goes_on_the_queue_and_the_caller_hears_queued() {
    let (world, webhook, configs) = one_webhook(3);
    let reply = resend(&world, &webhook, &configs, ledger_down_after_the_insert);
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["lastError"], "ledger_unavailable");
    let w = world.borrow();
    assert_eq!(w.rows[&webhook.id].status, DeliveryStatus::Pending);
    let settle: Vec<&Value> = w.queue.iter().map(|m| &m.message).collect();
    assert_eq!(settle.len(), 1);
    assert_eq!(settle[0]["settle"]["status"], "delivered");
}

#[test]
fn a_transient_outcome_the_ledger_refuses_is_left_to_the_lease_and_told_as_it_was() {
    let (world, webhook, configs) = one_webhook(3);
    world.borrow_mut().faults.baidu_transient = 1.0;
    let reply = resend(&world, &webhook, &configs, ledger_down_after_the_insert);
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["lastError"], "upstream_unavailable");
    let w = world.borrow();
    assert_eq!(w.rows[&webhook.id].status, DeliveryStatus::Pending);
    assert!(
        w.queue.is_empty(),
        "nothing to settle: the lease's end brings the retry"
    );
}

#[test]
fn a_recorded_transient_outcome_queues_its_retry_after_the_policys_delay() {
    let (world, webhook, configs) = one_webhook(3);
    world.borrow_mut().faults.baidu_transient = 1.0;
    let reply = resend(&world, &webhook, &configs, |_| {});
    assert_eq!(reply.status, 202, "{}", reply.body);
    let w = world.borrow();
    let row = &w.rows[&webhook.id];
    assert_eq!(row.status, DeliveryStatus::Queued);
    let due = row.next_attempt_at.unwrap();
    assert_eq!(reply.body["nextAttemptAt"], due);
    assert_eq!(w.queue.len(), 1);
    let message = &w.queue[0];
    assert_eq!(message.message, json!({"id": webhook.id, "lease": 1}));
    // Delivered no earlier than due (Queues may add its own lateness).
    assert!(message.deliver_at >= due, "{} < {due}", message.deliver_at);
    assert!(message.deliver_at < due + 1_000 + 30_000);
}

#[test]
fn a_spent_round_the_ledger_cannot_record_is_told_queued_not_failed() {
    let (world, webhook, configs) = abandoned(3, 3);
    // The claim goes through; the write of its outcome does not.
    let reply = resend(&world, &webhook, &configs, |w| {
        if w.rows["msg_abandoned"].lease == 2 {
            w.faults.ledger_error = 1.0;
        }
    });
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["lastError"], "ledger_unavailable");
    let w = world.borrow();
    assert_eq!(w.queue.len(), 1);
    assert_eq!(w.queue[0].message["settle"]["status"], "failed");
    assert!(w.calls.is_empty());
}

/// Consumes `message`, polling the flow to its end.
fn consume_once(world: &Shared, configs: &Configs, message: Value) -> Ack {
    let ports = SimPorts {
        world: world.clone(),
        task: 2,
    };
    let mut log = RequestLog::default();
    let config = configs.good.clone();
    finish(flow::consume(&ports, Ok(&config), &message, &mut log))
}

#[test]
fn a_retry_message_ahead_of_its_row_waits_and_one_on_time_delivers_under_the_next_lease() {
    let (world, webhook, configs) = abandoned(1, 3);
    let now = world.borrow().now;
    {
        let mut w = world.borrow_mut();
        let row = w.rows.get_mut(&webhook.id).unwrap();
        row.status = DeliveryStatus::Queued;
        row.next_attempt_at = Some(now + 59_001);
        row.sweep_at = Some(now + 59_001 + flow::QUEUE_GRACE_MS);
    }
    let message = json!({"id": webhook.id, "lease": 1});
    let before = world.borrow().rows[&webhook.id].clone();
    assert_eq!(
        consume_once(&world, &configs, message.clone()),
        Ack::RedeliverAfter(60),
        "the rest of the delay, rounded up"
    );
    assert_eq!(world.borrow().rows[&webhook.id], before);
    assert!(world.borrow().calls.is_empty());

    world.borrow_mut().now = now + 59_001;
    assert_eq!(consume_once(&world, &configs, message), Ack::Done);
    let w = world.borrow();
    let row = &w.rows[&webhook.id];
    assert_eq!(
        (row.status, row.lease, row.attempts),
        (DeliveryStatus::Delivered, 2, 2)
    );
    assert_eq!(w.calls.iter().map(|c| c.lease).collect::<Vec<_>>(), vec![2]);
}

#[test]
fn a_takeover_whose_lease_runs_out_before_it_reaches_baidu_calls_nothing() {
    let (world, webhook, configs) = abandoned(1, 3);
    let mut jumped = false;
    // Right after the claim, the isolate stalls past the whole lease.
    let reply = resend(&world, &webhook, &configs, |w| {
        if !jumped && w.rows["msg_abandoned"].lease == 2 {
            jumped = true;
            w.now += ORACLE_LEASE_MS;
        }
    });
    assert!(jumped);
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["lastError"], "internal_error");
    let w = world.borrow();
    assert!(
        w.calls.is_empty(),
        "no call may start that could outlive the lease"
    );
    assert_eq!(w.rows[&webhook.id].status, DeliveryStatus::Queued);
}

fn ports_of(world: &Shared) -> SimPorts {
    SimPorts {
        world: world.clone(),
        task: 3,
    }
}

#[test]
fn the_sweep_hands_an_abandoned_row_to_the_queue_under_its_lease() {
    let (world, webhook, _) = abandoned(1, 3);
    let now = world.borrow().now;
    let report = finish(flow::sweep(&ports_of(&world))).unwrap();
    assert_eq!(
        report,
        flow::SweepReport {
            due: 1,
            requeued: 1
        }
    );
    let w = world.borrow();
    let row = &w.rows[&webhook.id];
    assert_eq!((row.status, row.lease), (DeliveryStatus::Queued, 1));
    assert_eq!(row.last_error.as_deref(), Some("abandoned"));
    assert_eq!(row.next_attempt_at, Some(now));
    assert_eq!(row.sweep_at, Some(now + flow::QUEUE_GRACE_MS));
    assert_eq!(w.queue.len(), 1);
    assert_eq!(w.queue[0].message, json!({"id": webhook.id, "lease": 1}));
}

#[test]
fn a_sweep_whose_message_cannot_be_sent_counts_nothing_requeued() {
    let (world, webhook, _) = abandoned(1, 3);
    world.borrow_mut().faults.queue_send_error = 1.0;
    let report = finish(flow::sweep(&ports_of(&world))).unwrap();
    assert_eq!(
        report,
        flow::SweepReport {
            due: 1,
            requeued: 0
        }
    );
    // Due again once the grace has passed: the next sweep tries again.
    assert_eq!(
        world.borrow().rows[&webhook.id].status,
        DeliveryStatus::Queued
    );
}

#[test]
fn a_manual_retry_requeues_only_a_failed_delivery_with_a_new_round_under_a_new_lease() {
    let (world, webhook, _) = abandoned(3, 3);
    let now = world.borrow().now;
    for status in [DeliveryStatus::Delivered, DeliveryStatus::Queued] {
        world.borrow_mut().rows.get_mut(&webhook.id).unwrap().status = status;
        let refused = finish(flow::requeue(&ports_of(&world), &webhook.id)).unwrap_err();
        assert_eq!(refused.code(), "not_retryable");
        assert!(
            refused.message().contains(status.as_str()),
            "{}",
            refused.message()
        );
    }
    world.borrow_mut().rows.get_mut(&webhook.id).unwrap().status = DeliveryStatus::Failed;
    let reply = finish(flow::requeue(&ports_of(&world), &webhook.id)).unwrap();
    assert_eq!(reply.status, 202);
    assert_eq!(
        reply.body,
        json!({"id": webhook.id, "status": "queued", "attempts": 3})
    );
    let w = world.borrow();
    let row = &w.rows[&webhook.id];
    assert_eq!(
        (row.status, row.lease, row.round_start, row.attempts),
        (DeliveryStatus::Queued, 2, 3, 3)
    );
    assert_eq!(row.next_attempt_at, Some(now));
    assert_eq!(row.sweep_at, Some(now + flow::QUEUE_GRACE_MS));
    assert_eq!(w.queue.len(), 1);
    assert_eq!(w.queue[0].message, json!({"id": webhook.id, "lease": 2}));
}

#[test]
fn a_manual_retry_that_loses_to_another_answers_not_retryable() {
    let (world, webhook, _) = abandoned(3, 3);
    world.borrow_mut().rows.get_mut(&webhook.id).unwrap().status = DeliveryStatus::Failed;
    // Another operator's retry lands between this one's read and its write.
    let mut pending = 0;
    let result = finish_stepping(flow::requeue(&ports_of(&world), &webhook.id), || {
        pending += 1;
        // The first await point is the read; the second, the write.
        if pending == 2 {
            world.borrow_mut().rows.get_mut(&webhook.id).unwrap().lease = 9;
        }
    });
    assert!(pending >= 2);
    let error = result.unwrap_err();
    assert_eq!(error.code(), "not_retryable");
    assert!(world.borrow().queue.is_empty());
}

#[test]
fn unknown_deliveries_are_not_found() {
    let (world, _, _) = one_webhook(3);
    let error = finish(flow::requeue(&ports_of(&world), "msg_nobody")).unwrap_err();
    assert_eq!(error.code(), "delivery_not_found");
    let error = finish(flow::status(&ports_of(&world), "msg_nobody")).unwrap_err();
    assert_eq!(error.code(), "delivery_not_found");
}

#[test]
fn the_cron_purges_only_when_the_configuration_says_how_long_to_keep_rows() {
    let old_delivered = |world: &Shared| {
        let mut w = world.borrow_mut();
        let now = w.now;
        let row = w.rows.get_mut("msg_abandoned").unwrap();
        row.status = DeliveryStatus::Delivered;
        row.updated_at = now - 31 * 86_400_000;
        row.sweep_at = None;
    };
    let (world, webhook, configs) = abandoned(1, 3);
    old_delivered(&world);
    finish(flow::scheduled(&ports_of(&world), None));
    assert!(
        world.borrow().rows.contains_key(&webhook.id),
        "kept: no configuration"
    );
    finish(flow::scheduled(&ports_of(&world), Some(&configs.good)));
    assert!(
        !world.borrow().rows.contains_key(&webhook.id),
        "purged at 30 days"
    );
}

/// A full 1.0 refund by tpOrderId alone, its payment callback recorded.
fn one_refund(max_attempts: u32) -> (Shared, Webhook, Configs) {
    let webhook = Webhook {
        id: "msg_refund".into(),
        route: Route::Refund,
        body: json!({"tpOrderId": "t1000001", "refundReason": "r"})
            .to_string()
            .into_bytes(),
        order: 1_000_001,
        fate: Fate::Accepts,
    };
    let world = Rc::new(RefCell::new(World::new(
        Rng(7),
        max_attempts,
        vec![webhook.clone()],
        Faults::none(),
        false,
    )));
    (world, webhook, configs(max_attempts, Payment::V1Unchecked))
}

#[test]
fn a_fault_between_a_refunds_two_steps_retries_the_refund_alone_under_one_refund_id() {
    let (world, webhook, configs) = one_refund(3);
    // The cancel goes through; then Baidu is busy for the refund.
    let reply = resend(&world, &webhook, &configs, |w| {
        if w.calls.len() == 1 {
            w.faults.baidu_transient = 1.0;
        }
    });
    assert_eq!(reply.status, 202, "{}", reply.body);
    {
        let mut w = world.borrow_mut();
        w.faults = Faults::none();
        let row = &w.rows[&webhook.id];
        assert_eq!(row.status, DeliveryStatus::Queued);
        assert_eq!(row.steps_done().len(), 1, "the cancel step is recorded");
        let due = row.next_attempt_at.unwrap();
        w.now = due;
    }
    let message = json!({"id": webhook.id, "lease": 1});
    assert_eq!(consume_once(&world, &configs, message), Ack::Done);
    let w = world.borrow();
    let row = &w.rows[&webhook.id];
    assert_eq!(
        row.status,
        DeliveryStatus::Delivered,
        "{:?}",
        row.answer_body
    );
    let steps: Vec<(&str, u32)> = w.calls.iter().map(|c| (c.step, c.lease)).collect();
    assert_eq!(
        steps,
        vec![("cancel", 1), ("refund", 2)],
        "the verification is cancelled once; the refund is retried on its own (Baidu's busy answer processed nothing)"
    );
    assert_eq!(w.refunded_batches.len(), 1, "one refund id, refunded once");
    let answer: Value = serde_json::from_str(row.answer_body.as_deref().unwrap()).unwrap();
    assert_eq!(answer["baidu"]["cancelVerification"]["errno"], 0);
    assert_eq!(answer["baidu"]["refundBatchId"], "rb1000001");
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn a_cancel_step_the_ledger_cannot_record_travels_with_the_outcome_and_is_not_repeated() {
    let (world, webhook, configs) = one_refund(3);
    // Once the cancel's answer is back, D1 fails exactly the step's own write (the next ledger
    // round trip); then Baidu is busy for the refund, so the outcome to record is transient.
    let mut phase = 0;
    let reply = resend(&world, &webhook, &configs, |w| match phase {
        0 if w.calls.len() == 1 => {
            phase = 1;
            w.faults.ledger_error = 1.0;
            w.faults.baidu_transient = 1.0;
        }
        1 => phase = 2,
        2 => {
            phase = 3;
            w.faults.ledger_error = 0.0;
        }
        _ => {}
    });
    assert_eq!(reply.status, 202, "{}", reply.body);
    {
        let mut w = world.borrow_mut();
        w.faults = Faults::none();
        assert_eq!(w.rows[&webhook.id].steps_done().len(), 1);
        let due = w.rows[&webhook.id].next_attempt_at.unwrap();
        w.now = due;
    }
    assert_eq!(
        consume_once(&world, &configs, json!({"id": webhook.id, "lease": 1})),
        Ack::Done
    );
    let w = world.borrow();
    assert_eq!(w.rows[&webhook.id].status, DeliveryStatus::Delivered);
    assert_eq!(w.calls.iter().filter(|c| c.step == "cancel").count(), 1);
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn an_order_named_by_tp_order_id_alone_is_looked_up_once_with_a_token_refreshed_if_refused() {
    let webhook = Webhook {
        id: "msg_by_tp".into(),
        route: Route::AfterSale(crate::baidu::ordercenter::OrderCenterCall::UpdateStatus),
        body: json!({"tpOrderId": "t1000004", "data": [
            {"CateID": 2, "ResourceID": "r1000004",
             "EXT": {"SubsOrder": {"Status": 402, "Items": [{"SubOrderID": "s", "SubStatus": 402}]}}}]})
        .to_string()
        .into_bytes(),
        order: 1_000_004,
        fate: Fate::Accepts,
    };
    let world = Rc::new(RefCell::new(World::new(
        Rng(7),
        3,
        vec![webhook.clone()],
        Faults::none(),
        false,
    )));
    // The cached token has expired at Baidu: the lookup is refused once, then asked again.
    world.borrow_mut().token_generation = 1;
    let configs = configs(3, Payment::V1Unchecked);
    let reply = resend(&world, &webhook, &configs, |_| {});
    assert_eq!(reply.status, 200, "{}", reply.body);
    let w = world.borrow();
    assert_eq!(w.rows[&webhook.id].status, DeliveryStatus::Delivered);
    assert_eq!(
        w.lookups, 1,
        "one findByTpOrderId answered (after the refresh)"
    );
    assert_eq!(
        w.open_ids.get("t1000004").map(String::as_str),
        Some("o-1000004")
    );
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn a_cancel_whose_answer_was_lost_is_settled_by_the_status_query_and_not_sent_again() {
    let (world, webhook, _) = one_webhook(3);
    let configs = configs(3, Payment::V1Checked);
    // Baidu applies the cancel; its answer is lost.
    world.borrow_mut().faults.baidu_lost_after = 1.0;
    let reply = resend(&world, &webhook, &configs, |w| {
        if !w.calls.is_empty() {
            w.faults = Faults::none();
        }
    });
    assert_eq!(reply.status, 202, "{}", reply.body);
    let due = {
        let w = world.borrow();
        let row = &w.rows[&webhook.id];
        assert_eq!(
            row.steps_done(),
            vec![json!({"pending": "cashier/syncOrderStatus"})],
            "marked before it was sent"
        );
        row.next_attempt_at.unwrap()
    };
    // Until Baidu answers from its cache no more, the retry asks and waits; then it settles.
    let mut lease = 1;
    for _ in 0..20 {
        let now = due.max(world.borrow().now) + 60_000;
        world.borrow_mut().now = now;
        consume_once(&world, &configs, json!({"id": webhook.id, "lease": lease}));
        let w = world.borrow();
        if w.rows[&webhook.id].status.is_finished() {
            break;
        }
        lease = w.rows[&webhook.id].lease;
    }
    let w = world.borrow();
    let row = &w.rows[&webhook.id];
    assert_eq!(
        row.status,
        DeliveryStatus::Delivered,
        "{:?}",
        row.answer_body
    );
    assert_eq!(w.calls.len(), 1, "the cancel reached Baidu once");
    let answer: Value = serde_json::from_str(row.answer_body.as_deref().unwrap()).unwrap();
    assert_eq!(
        answer["baidu"]["settledByLookup"]["verificationStatus"], -1,
        "{answer}"
    );
    assert!(answer["baidu"]["msg"]
        .as_str()
        .unwrap()
        .starts_with("settled by lookup"));
    assert_eq!(
        row.steps_done(),
        Vec::<Value>::new(),
        "the mark is taken back"
    );
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}
