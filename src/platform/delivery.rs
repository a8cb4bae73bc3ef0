//! Durable delivery around each relay attempt: the ledger row before the first attempt,
//! idempotency by `webhook-id`, retries on a Queue, dead letters, and the result webhook.
//! Every decision is `crate::delivery::policy::decide`; this module only does the I/O.

use serde_json::{json, Value};
use worker::{console_log, Env, MessageBatch, MessageExt, Queue};

use super::clock::now_ms;
use super::isolate::{self, Isolate};
use super::ledger::{Ledger, Record};
use super::relay::{self, Job};
use super::reply::Reply;
use super::upstream;
use crate::config::Config;
use crate::delivery::ledger::{
    body_sha256, on_duplicate, DeliveryStatus, Duplicate, LedgerRow, RetryMessage,
    ABANDONED_AFTER_MS,
};
use crate::delivery::policy::{decide, Decision};
use crate::delivery::result::{result_request, Outcome};
use crate::error::ApiError;
use crate::inbound::Route;
use crate::log::RequestLog;
use crate::webhook::VerifiedWebhook;

/// The retry queue's producer binding (declared in wrangler.toml).
pub const RETRY_QUEUE_BINDING: &str = "RETRIES";
/// The dead-letter queue's producer binding.
pub const DEAD_LETTER_QUEUE_BINDING: &str = "DEAD_LETTERS";

/// The bindings durable delivery needs that are missing, for `/healthz` and `misconfigured`.
pub fn missing_bindings(env: &Env) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if Ledger::from_env(env).is_none() {
        missing.push(super::ledger::LEDGER_BINDING);
    }
    for binding in [RETRY_QUEUE_BINDING, DEAD_LETTER_QUEUE_BINDING] {
        if env.queue(binding).is_err() {
            missing.push(binding);
        }
    }
    missing
}

fn jitter() -> f64 {
    js_sys::Math::random()
}

/// An authenticated, validated webhook.
pub struct Incoming<'a> {
    pub webhook: &'a VerifiedWebhook,
    pub route: Route,
    pub body: &'a [u8],
    pub job: Job,
}

/// Accepts a validated webhook: records it, makes the first attempt, and answers with
/// Baidu's result, `202 queued` after a transient failure, or the stored answer for a
/// duplicate.
pub async fn accept(
    incoming: Incoming<'_>,
    config: &Config,
    env: &Env,
    isolate: &Isolate,
    log: &mut RequestLog,
) -> Result<Reply, ApiError> {
    let Incoming {
        webhook,
        route,
        body,
        job,
    } = incoming;
    let ledger = Ledger::from_env(env).ok_or(ApiError::LedgerUnavailable)?;
    let id = webhook.id.as_str();
    let hash = body_sha256(body);
    let body_text = String::from_utf8_lossy(body);
    let inserted = ledger
        .insert(id, route.path(), &body_text, &hash, now_ms())
        .await
        .map_err(|_| ApiError::LedgerUnavailable)?;
    // Attempts so far, this one included: 1, or one more than an abandoned row had.
    let mut attempts = 1;
    if !inserted {
        let row = ledger
            .get(id)
            .await
            .map_err(|_| ApiError::LedgerUnavailable)?
            .ok_or(ApiError::InProgress)?;
        match on_duplicate(&row, &hash, now_ms()) {
            Duplicate::Replay { status, body } => {
                log.outcome = "replayed".into();
                let mut reply = Reply::json(status, body, "replayed");
                reply.replayed = true;
                return Ok(reply);
            }
            Duplicate::InProgress => return Err(ApiError::InProgress),
            Duplicate::IdReused => return Err(ApiError::IdReused),
            Duplicate::TakeOver => {
                let won = ledger
                    .take_over(id, now_ms(), row.updated_at)
                    .await
                    .map_err(|_| ApiError::LedgerUnavailable)?;
                if !won {
                    return Err(ApiError::InProgress);
                }
                attempts = row.attempts + 1;
            }
        }
    }
    log.attempt = Some(attempts);

    let result = relay::perform(&job, config, env, isolate, log).await;
    let decision = decide(&result, attempts, &config.retry_policy, jitter());
    let baidu = relay::baidu_answer(&result);
    let reply = match (&decision, result) {
        (Decision::Delivered, Ok(answer)) => {
            Reply::json(200, delivered_body(id, answer), "delivered")
        }
        (Decision::RetryAfter(delay), Err(error)) => {
            let next = now_ms() + u64::from(*delay) * 1000;
            let message = RetryMessage {
                id: id.to_owned(),
                attempt: attempts + 1,
                seen_attempts: attempts,
            };
            record_transient(&ledger, id, &error, baidu.as_ref(), Some(next)).await;
            if send(env, RETRY_QUEUE_BINDING, &message, *delay)
                .await
                .is_err()
            {
                // Without a queued retry nobody would finish this delivery: let the
                // sender's own retry of the same webhook run it instead.
                let _ = ledger.release(id, "the retry could not be queued").await;
                return Err(ApiError::LedgerUnavailable);
            }
            log.next_retry_seconds = Some(*delay);
            return Ok(Reply::json(
                202,
                json!({"id": id, "status": "queued", "attempts": attempts, "lastError": error.code(), "nextAttemptAt": next}),
                "queued",
            ));
        }
        (Decision::GiveUp, Err(error)) => {
            // No retries configured (MAX_ATTEMPTS=1): the caller gets the error itself.
            let last_error = error.code();
            let reply = Reply::from(error);
            finish(
                &ledger,
                id,
                DeliveryStatus::Failed,
                Some(last_error),
                &reply,
                baidu.as_ref(),
            )
            .await;
            return Ok(reply);
        }
        (_, Err(error)) => Reply::from(error),
        (_, Ok(answer)) => Reply::json(200, delivered_body(id, answer), "delivered"),
    };
    settle(&ledger, id, &reply, baidu.as_ref()).await;
    Ok(reply)
}

fn delivered_body(id: &str, baidu: Value) -> Value {
    json!({ "id": id, "status": "delivered", "baidu": baidu })
}

/// Records a final answer: `delivered` for a 200, `rejected` (with its code) otherwise.
async fn settle(ledger: &Ledger, id: &str, reply: &Reply, baidu: Option<&Value>) -> DeliveryStatus {
    let (status, last_error) = if reply.status == 200 {
        (DeliveryStatus::Delivered, None)
    } else {
        (DeliveryStatus::Rejected, Some(reply.outcome.as_str()))
    };
    finish(ledger, id, status, last_error, reply, baidu).await;
    status
}

async fn finish(
    ledger: &Ledger,
    id: &str,
    status: DeliveryStatus,
    last_error: Option<&str>,
    reply: &Reply,
    baidu: Option<&Value>,
) {
    record(
        ledger,
        id,
        Record {
            status,
            last_error,
            answer: Some((reply.status, &reply.body)),
            baidu_answer: baidu,
            next_attempt_at: None,
        },
    )
    .await;
}

/// A transient failure: the row stays `queued`, with the error, until the next attempt.
async fn record_transient(
    ledger: &Ledger,
    id: &str,
    error: &ApiError,
    baidu: Option<&Value>,
    next_attempt_at: Option<u64>,
) {
    let queued = Record {
        status: DeliveryStatus::Queued,
        last_error: Some(error.code()),
        answer: None,
        baidu_answer: baidu,
        next_attempt_at,
    };
    record(ledger, id, queued).await;
}

/// Ledger writes after Baidu answered must not turn a delivered call into an error for the
/// caller; a failure is logged loudly instead.
async fn record(ledger: &Ledger, id: &str, record: Record<'_>) {
    let status = record.status;
    if ledger.record(id, record, now_ms()).await.is_err() {
        console_log!(
            "{}",
            json!({"msg": "ledger write failed", "webhookId": id, "status": status.as_str()})
        );
    }
}

async fn send(
    env: &Env,
    binding: &str,
    message: &RetryMessage,
    delay_seconds: u32,
) -> Result<(), ()> {
    let queue: Queue = env.queue(binding).map_err(|_| ())?;
    let message = worker::MessageBuilder::new(message.clone())
        .delay_seconds(delay_seconds)
        .build();
    queue.send(message).await.map_err(|_| ())
}

/// Consumes a batch from the retry queue or the dead-letter queue, acking or retrying each
/// message explicitly.
pub async fn consume(batch: MessageBatch<Value>, env: &Env) {
    let isolate = isolate::get(env);
    let Ok(config) = isolate.config.as_ref() else {
        // Misconfigured: keep the messages; Queues redelivers them, and after its own retry
        // limit moves them to the dead-letter queue, where they are kept too.
        console_log!(
            "{}",
            json!({"msg": "queue batch kept: relay misconfigured", "queue": batch.queue()})
        );
        batch.retry_all();
        return;
    };
    let dead_letters = batch.queue() == config.dead_letter_queue_name;
    let Ok(messages) = batch.messages() else {
        batch.retry_all();
        return;
    };
    // Messages of one batch are independent deliveries: run them side by side, so one slow
    // upstream does not hold up the rest.
    let handled = messages.into_iter().map(|message| {
        let isolate = isolate.clone();
        async move {
            let Ok(retry) = serde_json::from_value::<RetryMessage>(message.body().clone()) else {
                console_log!("{}", json!({"msg": "unreadable queue message acked"}));
                message.ack();
                return;
            };
            let started = now_ms();
            let kind = if dead_letters { "dead-letter" } else { "retry" };
            let mut log = RequestLog::new("QUEUE", kind);
            log.msg = kind;
            log.webhook_id = Some(retry.id.clone());
            log.attempt = Some(retry.attempt);
            let outcome = if dead_letters {
                dead_letter(&retry, config, env, &mut log).await
            } else {
                retry_once(&retry, config, env, &isolate, &mut log).await
            };
            // Every message is explicitly acked or handed back for redelivery.
            match outcome {
                Ok(()) => message.ack(),
                Err(()) => {
                    log.outcome = "redeliver".into();
                    message.retry();
                }
            }
            log.duration_ms = now_ms().saturating_sub(started);
            console_log!("{}", log.to_json());
        }
    });
    futures_util::future::join_all(handled).await;
}

/// The ledger and the row a queue message names; `None` (logged) for an unknown id, whose
/// message is acked. `Err` when the ledger is unreachable: the message is redelivered.
async fn load(
    env: &Env,
    id: &str,
    log: &mut RequestLog,
) -> Result<Option<(Ledger, LedgerRow)>, ()> {
    let ledger = Ledger::from_env(env).ok_or(())?;
    match ledger.get(id).await.map_err(|_| ())? {
        Some(row) => Ok(Some((ledger, row))),
        None => {
            log.outcome = "unknown_delivery".into();
            Ok(None)
        }
    }
}

/// One retry attempt. `Err` asks Queues to redeliver the message (the ledger was unreachable
/// or the next retry could not be queued).
async fn retry_once(
    retry: &RetryMessage,
    config: &Config,
    env: &Env,
    isolate: &Isolate,
    log: &mut RequestLog,
) -> Result<(), ()> {
    let Some((ledger, row)) = load(env, &retry.id, log).await? else {
        return Ok(());
    };
    if row.status != DeliveryStatus::Queued
        || !ledger
            .claim(&retry.id, now_ms(), retry.seen_attempts)
            .await
            .map_err(|_| ())?
    {
        // Finished already, or a duplicated message: the claim lets one attempt through.
        log.outcome = "stale_message".into();
        return Ok(());
    }
    let attempts = retry.seen_attempts + 1;
    let route = Route::resolve("POST", &row.route).unwrap_or(Route::Health);
    let result = match relay::validate(route, row.body.as_bytes(), config) {
        Ok(job) => relay::perform(&job, config, env, isolate, log).await,
        Err(error) => Err(error),
    };
    let decision = decide(&result, retry.attempt, &config.retry_policy, jitter());
    let baidu = relay::baidu_answer(&result);
    match (decision, result) {
        (Decision::RetryAfter(delay), Err(error)) => {
            let next = RetryMessage {
                id: retry.id.clone(),
                attempt: retry.attempt + 1,
                seen_attempts: attempts,
            };
            record_transient(
                &ledger,
                &retry.id,
                &error,
                baidu.as_ref(),
                Some(now_ms() + u64::from(delay) * 1000),
            )
            .await;
            log.outcome = "queued".into();
            log.next_retry_seconds = Some(delay);
            if send(env, RETRY_QUEUE_BINDING, &next, delay).await.is_err() {
                let _ = ledger.unclaim(&retry.id, attempts).await;
                return Err(());
            }
            Ok(())
        }
        (Decision::GiveUp, Err(error)) => {
            record_transient(&ledger, &retry.id, &error, baidu.as_ref(), None).await;
            log.outcome = "dead_lettered".into();
            let dead = RetryMessage {
                id: retry.id.clone(),
                attempt: retry.attempt,
                seen_attempts: attempts,
            };
            if send(env, DEAD_LETTER_QUEUE_BINDING, &dead, 0)
                .await
                .is_err()
            {
                // No dead-letter queue to hand over to: finish it here.
                fail(
                    &ledger,
                    &retry.id,
                    &row.route,
                    attempts,
                    error.code(),
                    config,
                )
                .await?;
            }
            Ok(())
        }
        (_, result) => {
            let reply = match result {
                Ok(answer) => Reply::json(200, delivered_body(&retry.id, answer), "delivered"),
                Err(error) => Reply::from(error),
            };
            let status = settle(&ledger, &retry.id, &reply, baidu.as_ref()).await;
            log.outcome = reply.outcome.clone();
            notify(config, &retry.id, &row.route, status, attempts, &reply).await;
            Ok(())
        }
    }
}

/// The dead-letter consumer: marks the delivery failed and reports it.
async fn dead_letter(
    retry: &RetryMessage,
    config: &Config,
    env: &Env,
    log: &mut RequestLog,
) -> Result<(), ()> {
    let Some((ledger, row)) = load(env, &retry.id, log).await? else {
        return Ok(());
    };
    let last_error = row.last_error.clone().unwrap_or_else(|| "unknown".into());
    log.outcome = "failed".into();
    fail(
        &ledger,
        &retry.id,
        &row.route,
        row.attempts,
        &last_error,
        config,
    )
    .await
}

async fn fail(
    ledger: &Ledger,
    id: &str,
    route: &str,
    attempts: u32,
    last_error: &str,
    config: &Config,
) -> Result<(), ()> {
    let reply = Reply::from(ApiError::DeliveryFailed {
        attempts,
        last_error: last_error.to_owned(),
    });
    let marked = ledger
        .mark_failed(id, last_error, (reply.status, &reply.body), now_ms())
        .await
        .map_err(|_| ())?;
    if marked {
        notify(config, id, route, DeliveryStatus::Failed, attempts, &reply).await;
    }
    Ok(())
}

/// Posts the outcome to `RESULT_WEBHOOK_URL`, when configured. Best effort: the ledger is
/// the record, and `GET /v1/deliveries/{id}` always tells the outcome.
async fn notify(
    config: &Config,
    id: &str,
    route: &str,
    status: DeliveryStatus,
    attempts: u32,
    reply: &Reply,
) {
    let Some(url) = config.result_webhook_url.as_deref() else {
        return;
    };
    let answer = json!({"status": reply.status, "body": reply.body});
    let outcome = Outcome {
        webhook_id: id,
        route,
        status,
        attempts,
        answer: &answer,
    };
    let now = super::clock::now_seconds();
    let request = result_request(url, &config.webhook_secrets, outcome, now);
    let answer = upstream::send(&request, config.upstream_timeout_ms).await;
    let delivered = matches!(&answer, Ok(response) if (200..300).contains(&response.status));
    console_log!(
        "{}",
        json!({"msg": "result webhook", "webhookId": id, "status": status.as_str(), "delivered": delivered,
               "upstreamStatus": answer.as_ref().ok().map(|r| r.status)})
    );
}

/// Rows swept per run: a bound on one scheduled invocation's work.
const SWEEP_LIMIT: u32 = 100;

/// The periodic sweep: a `pending` row whose isolate died mid-attempt, and whose sender never
/// sent the webhook again, would otherwise stay `pending` for ever. It goes to the retry queue.
pub async fn sweep(env: &Env) {
    let Some(ledger) = Ledger::from_env(env) else {
        return;
    };
    let now = now_ms();
    let Ok(rows) = ledger
        .abandoned(now.saturating_sub(ABANDONED_AFTER_MS), SWEEP_LIMIT)
        .await
    else {
        console_log!("{}", json!({"msg": "sweep", "error": "ledger unavailable"}));
        return;
    };
    let mut requeued = 0;
    for row in &rows {
        if !ledger.requeue_abandoned(row, now).await.unwrap_or(false) {
            continue;
        }
        let message = RetryMessage {
            id: row.webhook_id.clone(),
            attempt: row.attempts + 1,
            seen_attempts: row.attempts,
        };
        if send(env, RETRY_QUEUE_BINDING, &message, 0).await.is_ok() {
            requeued += 1;
        } else {
            let _ = ledger
                .release(&row.webhook_id, "the retry could not be queued")
                .await;
        }
    }
    console_log!(
        "{}",
        json!({"msg": "sweep", "abandoned": rows.len(), "requeued": requeued})
    );
}

/// Re-queues a failed delivery (`POST /v1/deliveries/{id}/retry`).
pub async fn requeue(id: &str, env: &Env) -> Result<Reply, ApiError> {
    let ledger = Ledger::from_env(env).ok_or(ApiError::LedgerUnavailable)?;
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
    if !ledger
        .requeue_failed(id, now_ms())
        .await
        .map_err(|_| ApiError::LedgerUnavailable)?
    {
        return Err(ApiError::NotRetryable { status: "queued" });
    }
    let message = RetryMessage {
        id: id.to_owned(),
        attempt: 1,
        seen_attempts: row.attempts,
    };
    if send(env, RETRY_QUEUE_BINDING, &message, 0).await.is_err() {
        // Back to `failed` with its stored answer untouched, so the operator can try again.
        let _ = ledger.revert_requeue(id).await;
        return Err(ApiError::LedgerUnavailable);
    }
    Ok(Reply::json(
        202,
        json!({"id": id, "status": "queued", "attempts": row.attempts}),
        "queued",
    ))
}

/// The ledger row (`GET /v1/deliveries/{id}`).
pub async fn status(id: &str, env: &Env) -> Result<Reply, ApiError> {
    let ledger = Ledger::from_env(env).ok_or(ApiError::LedgerUnavailable)?;
    let row = ledger
        .get(id)
        .await
        .map_err(|_| ApiError::LedgerUnavailable)?
        .ok_or(ApiError::DeliveryNotFound)?;
    Ok(Reply::json(
        200,
        crate::delivery::ledger::row_view(&row),
        "ok",
    ))
}
