//! The delivery flow, start to finish: accept → attempt → settle → queue → consume → sweep →
//! give up, and the operator's manual retry. Plain Rust over the ports in `ports.rs`; the
//! Worker's entry points call these functions and do nothing else that decides.
//!
//! The promise: every accepted webhook ends `delivered`, `rejected` or `failed`, and Baidu
//! is called again for it only after an attempt that failed transiently or whose outcome is
//! unknown. How each fault is met:
//! - an isolate dies mid-attempt: the row stays `pending` until its lease runs out, then a
//!   duplicate takes it over or the sweep hands it to the retry queue (outcome unknown);
//! - a queue message is lost, or its consumer keeps failing: the row is `queued` with a due
//!   time; once that has passed by a grace, the sweep sends a new message;
//! - a message is duplicated or redelivered: only the claim that holds the row's lease wins;
//! - an attempt outlives its lease: its writes name its lease and change nothing;
//! - the outcome write fails: it is tried again, and a final outcome then travels on the
//!   queue (`QueueMessage::settle`) so the ledger still learns it without a second call;
//! - the configuration breaks: nothing new is accepted on the broken routes, and queued
//!   retries wait for the fix without using up their attempts.

use serde_json::{json, Value};

use super::console::AttemptRecord;
use super::job::{self, Job};
use super::ledger::{
    body_sha256, on_duplicate, row_view, stored_answer, DeliveryStatus, DueRow, Duplicate,
    LedgerRow, QueueMessage, Settlement,
};
use super::policy::{decide, Decision, RetryPolicy};
use super::ports::{Ledger, NewDelivery, Ports, RetryQueue, Runtime, Upstream};
use super::result::{failure_reason, result_request, Outcome};
use crate::config::Config;
use crate::error::ApiError;
use crate::inbound::Route;
use crate::log::RequestLog;
use crate::reply::Reply;

/// How long an attempt may hold its lease: longer than the longest attempt can take. An
/// after-sale attempt may wait for another request's token lookup and make its own (each a
/// KV read and a fetch), call Baidu, refresh the token the same way and call again: six
/// upstream timeouts at most, plus a margin for D1, KV and signing.
pub fn lease_ms(upstream_timeout_ms: u32) -> u64 {
    6 * u64::from(upstream_timeout_ms) + 60_000
}

/// How long past its due time a queued retry waits for its message before the sweep sends
/// another (Queues may run late under load; a second message is harmless, only one claims).
pub const QUEUE_GRACE_MS: u64 = 10 * 60_000;

/// Rows handed back per sweep: a bound on one scheduled invocation's work.
pub const SWEEP_LIMIT: u32 = 100;

/// How long a queue message waits before it is delivered again when the ledger could not be
/// reached (Queues redeliver at once otherwise, burning their redeliveries in seconds).
pub const LEDGER_RETRY_SECONDS: u32 = 60;

/// The timing a delivery runs with: from the configuration, or its defaults when the
/// configuration is broken (queued deliveries still need leases while they wait for a fix).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub lease_ms: u64,
    pub policy: RetryPolicy,
}

impl Timing {
    pub fn of(config: Result<&Config, &ApiError>) -> Timing {
        match config {
            Ok(config) => Timing {
                lease_ms: lease_ms(config.upstream_timeout_ms),
                policy: config.retry_policy,
            },
            Err(_) => Timing {
                lease_ms: lease_ms(crate::config::DEFAULT_TIMEOUT_MS),
                policy: RetryPolicy::default(),
            },
        }
    }
}

/// An authenticated, validated webhook.
pub struct Incoming<'a> {
    pub id: &'a str,
    pub route: Route,
    pub body: &'a [u8],
    pub job: Job,
}

/// The attempt a lease was claimed for.
#[derive(Debug, Clone)]
struct Claim<'a> {
    id: &'a str,
    route: &'a str,
    lease: u32,
    /// Attempts started, this one included.
    attempts: u32,
    /// This attempt's number within the current round of retries.
    round_attempt: u32,
    /// When the lease runs out.
    until: u64,
    /// The answers of a multi-step job's steps already done.
    steps_done: Vec<Value>,
}

/// What became of an outcome's write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recorded {
    InLedger,
    /// The ledger refused the write and the outcome travels on the queue instead.
    OnQueue,
    /// Another attempt holds the row now: this one's outcome is not the row's.
    Superseded,
    /// Neither the ledger nor the queue took it: the lease runs out and the sweep retries.
    Lost,
}

/// Accepts a validated webhook: records it, makes the first attempt, and answers with
/// Baidu's result, `202 queued` after a transient failure, or the stored answer for a
/// duplicate.
pub async fn accept<P: Ports>(
    ports: &P,
    config: &Config,
    incoming: Incoming<'_>,
    log: &mut RequestLog,
) -> Reply {
    accept_inner(ports, config, incoming, log)
        .await
        .unwrap_or_else(Reply::from)
}

async fn accept_inner<P: Ports>(
    ports: &P,
    config: &Config,
    incoming: Incoming<'_>,
    log: &mut RequestLog,
) -> Result<Reply, ApiError> {
    let Incoming {
        id,
        route,
        body,
        job,
    } = incoming;
    let timing = Timing::of(Ok(config));
    let runtime = ports.runtime();
    let ledger = ports.ledger().map_err(|_| ApiError::LedgerUnavailable)?;
    let hash = body_sha256(body);
    let now = runtime.now_ms();
    let inserted = ledger
        .insert(NewDelivery {
            id,
            route: route.path(),
            body: &String::from_utf8_lossy(body),
            body_sha256: &hash,
            now,
            sweep_at: now + timing.lease_ms,
        })
        .await
        .map_err(|_| ApiError::LedgerUnavailable)?;
    let claim = if inserted {
        Claim {
            id,
            route: route.path(),
            lease: 1,
            attempts: 1,
            round_attempt: 1,
            until: now + timing.lease_ms,
            steps_done: Vec::new(),
        }
    } else {
        let row = ledger
            .get(id)
            .await
            .map_err(|_| ApiError::LedgerUnavailable)?
            .ok_or(ApiError::InProgress)?;
        let now = runtime.now_ms();
        match on_duplicate(&row, route.path(), &hash, now) {
            Duplicate::Replay { status, body } => {
                log.outcome = "replayed".into();
                return Ok(replay(status, body));
            }
            Duplicate::InProgress => return Err(ApiError::InProgress),
            Duplicate::IdReused => return Err(ApiError::IdReused),
            Duplicate::TakeOver => {
                let won = ledger
                    .claim(&row, now, now + timing.lease_ms)
                    .await
                    .map_err(|_| ApiError::LedgerUnavailable)?;
                if !won {
                    return Err(ApiError::InProgress);
                }
                let claim = Claim {
                    id,
                    route: route.path(),
                    lease: row.lease + 1,
                    attempts: row.attempts + 1,
                    round_attempt: row.next_round_attempt(),
                    until: now + timing.lease_ms,
                    steps_done: row.steps_done(),
                };
                if claim.round_attempt > timing.policy.max_attempts {
                    let (_, reply, recorded) = exhausted(ports, &claim, &row).await;
                    return Ok(match recorded {
                        Recorded::Superseded => superseded_reply(ledger, id).await,
                        _ => reply,
                    });
                }
                claim
            }
        }
    };
    log.attempt = Some(claim.round_attempt);
    let (settlement, reply, recorded) =
        attempt(ports, Ok(config), &timing, &claim, Ok(job), log).await;
    match recorded {
        Recorded::Superseded => Ok(superseded_reply(ledger, id).await),
        _ => {
            log.next_retry_seconds = retry_seconds(&settlement, runtime.now_ms());
            Ok(reply)
        }
    }
}

/// True for the deliveries of merchant events (Baidu's callbacks), which have no caller
/// waiting and no result webhook.
pub fn is_event_route(route: &str) -> bool {
    route.starts_with("/v1/baidu/")
}

/// Whether an event was recorded, for the answer to Baidu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRecorded {
    /// Newly recorded: its first delivery attempt follows.
    New,
    /// Already known (Baidu's repeat of the callback): the delivery goes on by itself.
    Known,
    /// The ledger could not take it: not acknowledged, so that Baidu calls again.
    Failed,
}

/// Accepts a merchant event made from a verified Baidu callback: records it, lets the caller
/// answer Baidu (`acknowledge`, called once, before any delivery attempt, since Baidu waits at
/// most 2 seconds), then makes the first attempt to deliver it.
pub async fn accept_event<P: Ports>(
    ports: &P,
    config: &Config,
    incoming: Incoming<'_>,
    log: &mut RequestLog,
    acknowledge: impl FnOnce(EventRecorded, &RequestLog),
) {
    let Incoming {
        id,
        route,
        body,
        job,
    } = incoming;
    let timing = Timing::of(Ok(config));
    let runtime = ports.runtime();
    let Ok(ledger) = ports.ledger() else {
        log.outcome = "ledger_unavailable".into();
        return acknowledge(EventRecorded::Failed, log);
    };
    let now = runtime.now_ms();
    let inserted = ledger
        .insert(NewDelivery {
            id,
            route: route.path(),
            body: &String::from_utf8_lossy(body),
            body_sha256: &body_sha256(body),
            now,
            sweep_at: now + timing.lease_ms,
        })
        .await;
    match inserted {
        Err(_) => {
            log.outcome = "ledger_unavailable".into();
            return acknowledge(EventRecorded::Failed, log);
        }
        Ok(false) => {
            log.outcome = "replayed".into();
            return acknowledge(EventRecorded::Known, log);
        }
        Ok(true) => acknowledge(EventRecorded::New, log),
    }
    let claim = Claim {
        id,
        route: route.path(),
        lease: 1,
        attempts: 1,
        round_attempt: 1,
        until: now + timing.lease_ms,
        steps_done: Vec::new(),
    };
    log.attempt = Some(1);
    let (settlement, _, _) = attempt(ports, Ok(config), &timing, &claim, Ok(job), log).await;
    log.next_retry_seconds = retry_seconds(&settlement, runtime.now_ms());
}

/// What a caller gets whose attempt lost its lease to another: the row's answer if it has one
/// by now, else `in_progress`.
async fn superseded_reply<L: Ledger>(ledger: &L, id: &str) -> Reply {
    match ledger
        .get(id)
        .await
        .ok()
        .flatten()
        .as_ref()
        .and_then(stored_answer)
    {
        Some((status, body)) => replay(status, body),
        None => Reply::from(ApiError::InProgress),
    }
}

/// A stored answer, sent again (`Idempotent-Replayed: true`).
fn replay(status: u16, body: Value) -> Reply {
    let mut reply = Reply::json(status, body, "replayed");
    reply.replayed = true;
    reply
}

/// `202 queued`: the delivery goes on; `next` is when it is looked at again.
fn queued_reply(id: &str, attempts: u32, last_error: &str, next: u64) -> Reply {
    Reply::json(
        202,
        json!({"id": id, "status": "queued", "attempts": attempts, "lastError": last_error, "nextAttemptAt": next}),
        "queued",
    )
}

fn retry_seconds(settlement: &Settlement, now: u64) -> Option<u32> {
    settlement
        .next_attempt_at
        // Rounded up: a message that arrives before its row is due only has to wait again.
        .map(|at| at.saturating_sub(now).div_ceil(1000) as u32)
}

/// Runs one attempt under `claim`, records its outcome, and queues the next attempt when
/// there is one. Returns what was recorded, the caller's answer, and where it was recorded.
async fn attempt<P: Ports>(
    ports: &P,
    config: Result<&Config, ApiError>,
    timing: &Timing,
    claim: &Claim<'_>,
    job: Result<Job, ApiError>,
    log: &mut RequestLog,
) -> (Settlement, Reply, Recorded) {
    let runtime = ports.runtime();
    let mut steps_done = None;
    let started = runtime.now_ms();
    let result = match (config, job) {
        (Ok(config), Ok(job)) => {
            let mut attempt = job::Attempt {
                ports,
                id: claim.id,
                lease_token: claim.lease,
                until: claim.until,
                steps_done: claim.steps_done.clone(),
                steps_changed: false,
            };
            let result = job::perform(&job, config, &mut attempt, log).await;
            // Steps done now travel with the outcome too: the step's own write may have failed,
            // or a call marked as sent was answered and its mark taken back.
            if attempt.steps_changed {
                steps_done = Some(serde_json::Value::Array(attempt.steps_done).to_string());
            }
            result
        }
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    let baidu = job::baidu_answer(&result);
    let decision = decide(
        result,
        claim.round_attempt,
        &timing.policy,
        runtime.jitter(),
    );
    let (mut settlement, reply) = settlement_for(decision, claim, baidu, runtime.now_ms());
    settlement.step_answers = steps_done;
    // A deferral made no attempt: nothing for the attempts log.
    let made = (settlement.attempts == claim.attempts).then(|| AttemptRecord {
        attempt: claim.attempts,
        started_at: started,
        duration_ms: runtime.now_ms().saturating_sub(started),
        outcome: settlement.status,
        error: settlement.last_error.clone(),
        upstream_status: log.upstream_status,
        errno: log.baidu_errno,
    });
    let recorded = record(ports, claim.id, claim.lease, &settlement, made.as_ref()).await;
    // An answer is final only once the ledger holds it: until then the caller hears that the
    // outcome is on its way (the result webhook brings it, and a duplicate gets it).
    let reply = match recorded {
        Recorded::OnQueue | Recorded::Lost if settlement.status.is_finished() => {
            not_yet_recorded(claim, runtime.now_ms())
        }
        _ => reply,
    };
    log.outcome = reply.outcome.clone();
    if recorded == Recorded::InLedger && settlement.status == DeliveryStatus::Queued {
        let delay = retry_seconds(&settlement, runtime.now_ms()).unwrap_or(0);
        let message = QueueMessage {
            id: claim.id.to_owned(),
            lease: claim.lease,
            settle: None,
        };
        // A failed send leaves the row queued with its due time: the sweep sends it then.
        if send(ports, &message, delay).await.is_err() {
            runtime.log(
                json!({"msg": "retry not queued; the sweep will send it", "webhookId": claim.id}),
            );
        }
    }
    (settlement, reply, recorded)
}

/// The answer for an outcome the ledger could not take yet.
fn not_yet_recorded(claim: &Claim<'_>, now: u64) -> Reply {
    queued_reply(
        claim.id,
        claim.attempts,
        ApiError::LedgerUnavailable.code(),
        now,
    )
}

/// The ledger's record of a decision, and the answer that goes with it. One pure function:
/// what the caller is told and what a duplicate is told later are the same value.
fn settlement_for(
    decision: Decision<Value>,
    claim: &Claim<'_>,
    baidu: Option<Value>,
    now: u64,
) -> (Settlement, Reply) {
    let baidu_answer = baidu.map(|answer| answer.to_string());
    let finished = |status: DeliveryStatus, last_error: Option<&str>, reply: Reply| {
        let baidu_in_answer =
            reply.body.get("baidu").is_some() || reply.body.pointer("/error/baidu").is_some();
        let settlement = Settlement {
            status,
            attempts: claim.attempts,
            last_error: last_error.map(str::to_owned),
            answer_status: Some(reply.status),
            answer_body: Some(reply.body.to_string()),
            baidu_answer: if baidu_in_answer {
                None
            } else {
                baidu_answer.clone()
            },
            next_attempt_at: None,
            sweep_at: None,
            baidu_in_answer,
            step_answers: None,
        };
        (settlement, reply)
    };
    let queued = |attempts: u32, seconds: u32, error: &ApiError| {
        let next = now + u64::from(seconds) * 1000;
        let settlement = Settlement {
            status: DeliveryStatus::Queued,
            attempts,
            last_error: Some(error.code().to_owned()),
            answer_status: None,
            answer_body: None,
            baidu_answer: baidu_answer.clone(),
            next_attempt_at: Some(next),
            sweep_at: Some(next + QUEUE_GRACE_MS),
            baidu_in_answer: false,
            step_answers: None,
        };
        (
            settlement,
            queued_reply(claim.id, attempts, error.code(), next),
        )
    };
    match decision {
        Decision::Delivered(answer) => finished(
            DeliveryStatus::Delivered,
            None,
            Reply::json(
                200,
                json!({ "id": claim.id, "status": "delivered", "baidu": answer }),
                "delivered",
            ),
        ),
        Decision::Rejected(error) => {
            let code = error.code();
            finished(DeliveryStatus::Rejected, Some(code), Reply::from(error))
        }
        Decision::GiveUp(error) => {
            let code = error.code();
            // Without retries (MAX_ATTEMPTS=1) the caller gets the error itself.
            let reply = if claim.round_attempt <= 1 {
                Reply::from(error)
            } else {
                Reply::from(ApiError::DeliveryFailed {
                    attempts: claim.attempts,
                    last_error: code.to_owned(),
                })
            };
            finished(DeliveryStatus::Failed, Some(code), reply)
        }
        Decision::RetryAfter { seconds, error } => queued(claim.attempts, seconds, &error),
        // No attempt was made: it is not counted.
        Decision::Deferred { seconds, error } => {
            queued(claim.attempts.saturating_sub(1), seconds, &error)
        }
    }
}

/// Writes an outcome under its lease: tried twice, then, for a final outcome, handed to the
/// queue so the ledger learns it later without Baidu being called again and the caller's
/// answer stays the stored one. (A transient outcome that is not recorded needs no such care:
/// the lease runs out and the sweep retries, which a transient failure allows anyway.)
async fn record<P: Ports>(
    ports: &P,
    id: &str,
    lease: u32,
    settlement: &Settlement,
    attempt: Option<&AttemptRecord>,
) -> Recorded {
    let runtime = ports.runtime();
    if let Ok(ledger) = ports.ledger() {
        for round in 0..2 {
            let now = runtime.now_ms();
            // The attempts log is for people: the second try records the outcome alone, so a
            // ledger that cannot take the log (its migration not applied yet) still learns it.
            let written = match attempt.filter(|_| round == 0) {
                Some(attempt) => {
                    ledger
                        .settle_attempt(id, lease, settlement, now, attempt)
                        .await
                }
                None => ledger.settle(id, lease, settlement, now).await,
            };
            match written {
                Ok(true) => return Recorded::InLedger,
                Ok(false) => return Recorded::Superseded,
                Err(_) => continue,
            }
        }
    }
    if settlement.status.is_finished() {
        let message = QueueMessage {
            id: id.to_owned(),
            lease,
            settle: Some(settlement.clone()),
        };
        if send(ports, &message, 0).await.is_ok() {
            runtime.log(json!({"msg": "ledger write failed; outcome queued", "webhookId": id, "status": settlement.status.as_str()}));
            return Recorded::OnQueue;
        }
    }
    runtime.log(json!({"msg": "ledger write failed", "webhookId": id, "status": settlement.status.as_str()}));
    Recorded::Lost
}

async fn send<P: Ports>(ports: &P, message: &QueueMessage, delay: u32) -> Result<(), ()> {
    let queue = ports.queue().map_err(drop)?;
    queue.send(message, delay).await.map_err(drop)
}

/// A claim whose round has no attempts left (the ones before it died or were abandoned):
/// the delivery fails without calling Baidu again.
async fn exhausted<P: Ports>(
    ports: &P,
    claim: &Claim<'_>,
    row: &LedgerRow,
) -> (Settlement, Reply, Recorded) {
    let last_error = row.last_error.clone().unwrap_or_else(|| "abandoned".into());
    let reply = Reply::from(ApiError::DeliveryFailed {
        attempts: row.attempts,
        last_error: last_error.clone(),
    });
    let settlement = Settlement {
        status: DeliveryStatus::Failed,
        attempts: row.attempts,
        last_error: Some(last_error),
        answer_status: Some(reply.status),
        answer_body: Some(reply.body.to_string()),
        baidu_answer: None,
        next_attempt_at: None,
        sweep_at: None,
        baidu_in_answer: false,
        step_answers: None,
    };
    let recorded = record(ports, claim.id, claim.lease, &settlement, None).await;
    let reply = match recorded {
        Recorded::OnQueue | Recorded::Lost => not_yet_recorded(claim, ports.runtime().now_ms()),
        _ => reply,
    };
    (settlement, reply, recorded)
}

/// What a queue message asks of the platform when it is done with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// Done with (handled, stale, or unreadable).
    Done,
    /// Deliver it again after this many seconds: the ledger could not be reached, or the
    /// row's retry is not due yet.
    RedeliverAfter(u32),
}

/// Consumes one message of the retry queue or of the dead-letter queue: the same handling for
/// both, so nothing depends on the queues' names.
pub async fn consume<P: Ports>(
    ports: &P,
    config: Result<&Config, ApiError>,
    body: &Value,
    log: &mut RequestLog,
) -> Ack {
    let runtime = ports.runtime();
    let Ok(message) = serde_json::from_value::<QueueMessage>(body.clone()) else {
        log.outcome = "unreadable_message".into();
        return Ack::Done;
    };
    log.webhook_id = Some(message.id.clone());
    let redeliver = Ack::RedeliverAfter(LEDGER_RETRY_SECONDS);
    let Ok(ledger) = ports.ledger() else {
        log.outcome = "ledger_unavailable".into();
        return redeliver;
    };
    if let Some(settlement) = &message.settle {
        return match ledger
            .settle(&message.id, message.lease, settlement, runtime.now_ms())
            .await
        {
            Ok(applied) => {
                log.outcome = if applied { "settled" } else { "stale_message" }.into();
                // The caller was told the outcome would follow: it follows here.
                if let (true, Ok(config), Ok(Some(row))) =
                    (applied, &config, ledger.get(&message.id).await)
                {
                    if let Some((status, body)) = stored_answer(&row) {
                        let claim = Claim {
                            id: &message.id,
                            route: &row.route,
                            lease: message.lease,
                            attempts: settlement.attempts,
                            round_attempt: 0,
                            until: 0,
                            steps_done: Vec::new(),
                        };
                        let reply = Reply::json(status, body, "settled");
                        notify(ports, config, &claim, settlement, &reply).await;
                    }
                }
                Ack::Done
            }
            Err(_) => {
                log.outcome = "ledger_unavailable".into();
                redeliver
            }
        };
    }
    let row = match ledger.get(&message.id).await {
        Ok(Some(row)) => row,
        Ok(None) => {
            log.outcome = "unknown_delivery".into();
            return Ack::Done;
        }
        Err(_) => {
            log.outcome = "ledger_unavailable".into();
            return redeliver;
        }
    };
    if row.lease != message.lease {
        // An outdated message; and the row read must be the one the claim takes over.
        log.outcome = "stale_message".into();
        return Ack::Done;
    }
    let now = runtime.now_ms();
    // A message sent for a row that has since been queued with a later retry (a sweep's
    // message racing a late outcome) waits for that retry: the backoff is the policy's.
    if let (DeliveryStatus::Queued, Some(due)) = (row.status, row.next_attempt_at) {
        if due > now {
            log.outcome = "not_yet_due".into();
            return Ack::RedeliverAfter(due.saturating_sub(now).div_ceil(1000) as u32);
        }
    }
    let timing = Timing::of(config.as_ref().copied());
    // The claim's guard judges the rest: a finished row, a live lease, a duplicate that lost.
    match ledger.claim(&row, now, now + timing.lease_ms).await {
        Ok(true) => {}
        Ok(false) => {
            log.outcome = "stale_message".into();
            return Ack::Done;
        }
        Err(_) => {
            log.outcome = "ledger_unavailable".into();
            return redeliver;
        }
    }
    let claim = Claim {
        id: &message.id,
        route: &row.route,
        lease: row.lease + 1,
        attempts: row.attempts + 1,
        round_attempt: row.next_round_attempt(),
        until: now + timing.lease_ms,
        steps_done: row.steps_done(),
    };
    log.attempt = Some(claim.round_attempt);
    if claim.round_attempt > timing.policy.max_attempts {
        let (settlement, reply, recorded) = exhausted(ports, &claim, &row).await;
        log.outcome = reply.outcome.clone();
        if let (Ok(config), Recorded::InLedger) = (&config, recorded) {
            notify(ports, config, &claim, &settlement, &reply).await;
        }
        return Ack::Done;
    }
    let job = match (&config, Route::resolve("POST", &row.route)) {
        (Ok(config), Ok(route)) => job::validate(route, row.body.as_bytes(), config),
        (Err(error), _) => Err(error.clone()),
        (_, Err(error)) => Err(error),
    };
    let config_ref = config.as_ref().copied().map_err(Clone::clone);
    let (settlement, reply, recorded) = attempt(ports, config_ref, &timing, &claim, job, log).await;
    log.next_retry_seconds = retry_seconds(&settlement, runtime.now_ms());
    if recorded == Recorded::InLedger && settlement.status.is_finished() {
        if let Ok(config) = &config {
            notify(ports, config, &claim, &settlement, &reply).await;
        }
    }
    Ack::Done
}

/// Posts a finished queued delivery's outcome to `RESULT_WEBHOOK_URL`, when set. Best
/// effort: the ledger is the record, and `GET /v1/deliveries/{id}` always tells.
async fn notify<P: Ports>(
    ports: &P,
    config: &Config,
    claim: &Claim<'_>,
    settlement: &Settlement,
    reply: &Reply,
) {
    let Ok(result_webhook) = config.result_webhook.ready() else {
        return;
    };
    // An event's outcome is the merchant's own endpoint's: nothing to tell it about.
    if is_event_route(claim.route) {
        return;
    }
    let runtime = ports.runtime();
    let answer = json!({"status": reply.status, "body": reply.body});
    let outcome = Outcome {
        webhook_id: claim.id,
        route: claim.route,
        status: settlement.status,
        attempts: settlement.attempts,
        answer: &answer,
    };
    let request = result_request(
        &result_webhook.url,
        result_webhook.signing_secrets(&config.webhook_secrets),
        outcome,
        (runtime.now_ms() / 1000) as i64,
    );
    let answer = ports
        .upstream()
        .send(&request, config.upstream_timeout_ms)
        .await;
    let failure = failure_reason(&answer);
    runtime.log(json!({
        "msg": "result webhook", "webhookId": claim.id, "status": settlement.status.as_str(),
        "delivered": failure.is_none(), "reason": failure,
        "upstreamStatus": answer.as_ref().ok().map(|r| r.status),
    }));
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepReport {
    pub due: usize,
    pub requeued: usize,
}

/// The periodic sweep: every `pending` row whose lease ran out (its isolate died) and every
/// `queued` row whose retry is overdue (its message was lost) goes to the retry queue.
pub async fn sweep<P: Ports>(ports: &P) -> Result<SweepReport, ApiError> {
    let runtime = ports.runtime();
    let ledger = ports.ledger().map_err(|_| ApiError::LedgerUnavailable)?;
    let now = runtime.now_ms();
    let rows: Vec<DueRow> = ledger
        .due(now, SWEEP_LIMIT)
        .await
        .map_err(|_| ApiError::LedgerUnavailable)?;
    let mut report = SweepReport {
        due: rows.len(),
        requeued: 0,
    };
    for row in &rows {
        // Until the next grace has passed, the row is the new message's; a send that fails
        // leaves it due again then.
        if !ledger
            .reschedule(row, now, now + QUEUE_GRACE_MS)
            .await
            .unwrap_or(false)
        {
            continue;
        }
        let message = QueueMessage {
            id: row.webhook_id.clone(),
            lease: row.lease,
            settle: None,
        };
        if send(ports, &message, 0).await.is_ok() {
            report.requeued += 1;
        }
    }
    runtime.log(json!({"msg": "sweep", "due": report.due, "requeued": report.requeued}));
    Ok(report)
}

/// Rows deleted per statement: small enough that a purge never holds D1 long enough to slow
/// live requests.
pub const PURGE_BATCH: u32 = 500;

/// Statements per scheduled run: a bound on one invocation's work (5,000 rows every five
/// minutes is far beyond any backlog a relay builds).
pub const PURGE_BATCHES: u32 = 10;

/// What a purge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeReport {
    pub deleted: u32,
    /// More old rows remain for the next run.
    pub more: bool,
}

/// Deletes finished deliveries last written more than `retention_days` ago, in bounded
/// batches, oldest first. Rows in flight are never deleted; a webhook id is remembered (and
/// replayed) for the retention window and is new again after it.
pub async fn purge<P: Ports>(ports: &P, retention_days: u32) -> Result<PurgeReport, ApiError> {
    let runtime = ports.runtime();
    let ledger = ports.ledger().map_err(|_| ApiError::LedgerUnavailable)?;
    let before = runtime
        .now_ms()
        .saturating_sub(u64::from(retention_days) * 86_400_000);
    let mut report = PurgeReport {
        deleted: 0,
        more: false,
    };
    for _ in 0..PURGE_BATCHES {
        let deleted = ledger
            .purge(before, PURGE_BATCH)
            .await
            .map_err(|_| ApiError::LedgerUnavailable)?;
        report.deleted += deleted;
        report.more = deleted == PURGE_BATCH;
        if !report.more {
            break;
        }
    }
    runtime.log(json!({"msg": "purge", "deleted": report.deleted, "more": report.more, "retentionDays": retention_days}));
    Ok(report)
}

/// What the cron does: the sweep, then the purge, which deletes nothing unless the configuration
/// (`config`, absent when its shared part is broken) says how long to keep rows.
pub async fn scheduled<P: Ports>(ports: &P, config: Option<&Config>) {
    let runtime = ports.runtime();
    if sweep(ports).await.is_err() {
        runtime.log(json!({"msg": "sweep", "error": "ledger unavailable"}));
    }
    match config.and_then(|config| config.retention_days.ready().ok()) {
        Some(&days) => {
            if purge(ports, days).await.is_err() {
                runtime.log(json!({"msg": "purge", "error": "ledger unavailable"}));
            }
        }
        None => runtime.log(json!({"msg": "purge", "skipped": "misconfigured"})),
    }
}

/// Re-queues a failed delivery (`POST /v1/deliveries/{id}/retry`): a new round of retries.
pub async fn requeue<P: Ports>(ports: &P, id: &str) -> Result<Reply, ApiError> {
    let ledger = ports.ledger().map_err(|_| ApiError::LedgerUnavailable)?;
    let row = ledger
        .get(id)
        .await
        .map_err(|_| ApiError::LedgerUnavailable)?
        .ok_or(ApiError::DeliveryNotFound)?;
    if row.status != DeliveryStatus::Failed {
        return Err(ApiError::NotRetryable {
            status: row.status.as_str(),
        });
    }
    if !requeue_leased(ports, id, row.lease).await? {
        return Err(ApiError::NotRetryable { status: "queued" });
    }
    Ok(Reply::json(
        202,
        json!({"id": id, "status": "queued", "attempts": row.attempts}),
        "queued",
    ))
}

/// Re-queues the failed row `id` if it still holds `lease` (the lease read with it), and sends
/// its message; `false` when the row has moved on (retried already, or not failed).
pub async fn requeue_leased<P: Ports>(ports: &P, id: &str, lease: u32) -> Result<bool, ApiError> {
    let runtime = ports.runtime();
    let ledger = ports.ledger().map_err(|_| ApiError::LedgerUnavailable)?;
    let now = runtime.now_ms();
    if !ledger
        .requeue_failed(id, lease, now, now + QUEUE_GRACE_MS)
        .await
        .map_err(|_| ApiError::LedgerUnavailable)?
    {
        return Ok(false);
    }
    let message = QueueMessage {
        id: id.to_owned(),
        lease: lease + 1,
        settle: None,
    };
    if send(ports, &message, 0).await.is_err() {
        runtime.log(json!({"msg": "retry not queued; the sweep will send it", "webhookId": id}));
    }
    Ok(true)
}

/// The ledger row (`GET /v1/deliveries/{id}`).
pub async fn status<P: Ports>(ports: &P, id: &str) -> Result<Reply, ApiError> {
    let ledger = ports.ledger().map_err(|_| ApiError::LedgerUnavailable)?;
    let row = ledger
        .get(id)
        .await
        .map_err(|_| ApiError::LedgerUnavailable)?
        .ok_or(ApiError::DeliveryNotFound)?;
    Ok(Reply::json(200, row_view(&row), "ok"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baidu::error::{BaiduError, BaiduRejection};

    const NOW: u64 = 1_700_000_000_000;

    fn claim(attempts: u32, round_attempt: u32) -> Claim<'static> {
        Claim {
            id: "msg_1",
            route: "/v1/cancel-verification",
            steps_done: Vec::new(),
            lease: 3,
            attempts,
            round_attempt,
            until: NOW + 1,
        }
    }

    fn busy() -> ApiError {
        ApiError::Baidu(BaiduError::http_status(503))
    }

    #[test]
    fn leases_outlast_six_upstream_timeouts_and_a_minute() {
        // docs/contract.md: 6 × BAIDU_TIMEOUT_MS + 60 s; 120 s at the 10 s default.
        assert_eq!(lease_ms(10_000), 120_000);
        assert_eq!(lease_ms(1_000), 66_000);
        assert_eq!(QUEUE_GRACE_MS, 600_000, "ten minutes, as documented");
    }

    #[test]
    fn a_retry_is_queued_with_its_delay_its_grace_and_the_callers_202() {
        let decision = Decision::RetryAfter {
            seconds: 30,
            error: busy(),
        };
        let baidu = Some(json!({"errno": 0}));
        let (settlement, reply) = settlement_for(decision, &claim(2, 2), baidu, NOW);
        assert_eq!(settlement.status, DeliveryStatus::Queued);
        assert_eq!(settlement.attempts, 2);
        assert_eq!(settlement.next_attempt_at, Some(NOW + 30_000));
        assert_eq!(settlement.sweep_at, Some(NOW + 30_000 + QUEUE_GRACE_MS));
        assert_eq!(
            settlement.last_error.as_deref(),
            Some("upstream_unavailable")
        );
        assert_eq!(
            (settlement.answer_status, &settlement.answer_body),
            (None, &None)
        );
        assert_eq!(settlement.baidu_answer.as_deref(), Some(r#"{"errno":0}"#));
        assert_eq!(reply.status, 202);
        assert_eq!(
            reply.body,
            json!({"id": "msg_1", "status": "queued", "attempts": 2, "lastError": "upstream_unavailable", "nextAttemptAt": NOW + 30_000})
        );
        assert_eq!(retry_seconds(&settlement, NOW), Some(30));
        assert_eq!(
            retry_seconds(&settlement, NOW + 29_001),
            Some(1),
            "rounded up"
        );
        assert_eq!(retry_seconds(&settlement, NOW + 31_000), Some(0));
    }

    #[test]
    fn a_deferral_does_not_count_the_attempt_it_did_not_make() {
        let decision = Decision::Deferred {
            seconds: 300,
            error: ApiError::Misconfigured {
                variables: vec!["BAIDU_RSA_PRIVATE_KEY"],
            },
        };
        let (settlement, reply) = settlement_for(decision, &claim(4, 2), None, NOW);
        assert_eq!(settlement.status, DeliveryStatus::Queued);
        assert_eq!(settlement.attempts, 3);
        assert_eq!(settlement.next_attempt_at, Some(NOW + 300_000));
        assert_eq!(settlement.last_error.as_deref(), Some("misconfigured"));
        assert_eq!(reply.body["attempts"], 3);
    }

    #[test]
    fn final_outcomes_store_the_callers_answer() {
        let (delivered, reply) = settlement_for(
            Decision::Delivered(json!({"errno": 0, "msg": "success"})),
            &claim(1, 1),
            Some(json!({"errno": 0, "msg": "success"})),
            NOW,
        );
        assert_eq!(delivered.status, DeliveryStatus::Delivered);
        assert_eq!(delivered.last_error, None);
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.body,
            json!({"id": "msg_1", "status": "delivered", "baidu": {"errno": 0, "msg": "success"}})
        );
        assert_eq!(delivered.answer_status, Some(200));
        assert_eq!(delivered.answer_body, Some(reply.body.to_string()));
        // Baidu's answer is in the stored answer: not stored a second time.
        assert_eq!(
            (delivered.baidu_answer.as_deref(), delivered.baidu_in_answer),
            (None, true)
        );
        assert_eq!(
            (delivered.next_attempt_at, delivered.sweep_at),
            (None, None)
        );

        let refusal = ApiError::Baidu(BaiduError::Rejected {
            rejection: BaiduRejection::OrderNotFound,
            errno: 10002,
            msg: "order not exist".into(),
        });
        let (rejected, reply) = settlement_for(
            Decision::Rejected(refusal),
            &claim(2, 2),
            Some(json!({"errno": 10002, "msg": "order not exist"})),
            NOW,
        );
        assert_eq!(
            (rejected.baidu_answer.as_deref(), rejected.baidu_in_answer),
            (Some(r#"{"errno":10002,"msg":"order not exist"}"#), false)
        );
        assert_eq!(rejected.status, DeliveryStatus::Rejected);
        assert_eq!(rejected.attempts, 2);
        assert_eq!(
            rejected.last_error.as_deref(),
            Some("baidu_order_not_found")
        );
        assert_eq!((reply.status, rejected.answer_status), (422, Some(422)));
    }

    #[test]
    fn giving_up_answers_the_error_itself_without_retries_and_delivery_failed_after_them() {
        let (alone, reply) = settlement_for(Decision::GiveUp(busy()), &claim(1, 1), None, NOW);
        assert_eq!(alone.status, DeliveryStatus::Failed);
        assert_eq!(reply.body["error"]["code"], "upstream_unavailable");
        assert_eq!(reply.status, 502);

        let (after, reply) = settlement_for(Decision::GiveUp(busy()), &claim(5, 2), None, NOW);
        assert_eq!(after.status, DeliveryStatus::Failed);
        assert_eq!(after.last_error.as_deref(), Some("upstream_unavailable"));
        assert_eq!(reply.body["error"]["code"], "delivery_failed");
        assert_eq!(reply.body["error"]["attempts"], 5);
        assert_eq!(reply.body["error"]["lastError"], "upstream_unavailable");
    }
}
