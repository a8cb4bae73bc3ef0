//! The retry queue's port over Cloudflare Queues, and the queue consumer's entry point.

use futures_util::StreamExt;
use serde_json::Value;
use worker::{console_log, Env, MessageBatch, MessageExt, Queue, QueueRetryOptionsBuilder};

use super::clock::now_ms;
use super::isolate;
use super::ports::WorkerPorts;
use crate::bindings;
use crate::delivery::flow::{self, Ack};
use crate::delivery::ledger::QueueMessage;
use crate::delivery::ports::{QueueError, RetryQueue};
use crate::log::RequestLog;

pub struct RetryQueueBinding {
    queue: Queue,
}

impl RetryQueueBinding {
    pub fn from_env(env: &Env) -> Option<RetryQueueBinding> {
        env.queue(bindings::RETRY_QUEUE)
            .ok()
            .map(|queue| RetryQueueBinding { queue })
    }
}

impl RetryQueue for RetryQueueBinding {
    async fn send(&self, message: &QueueMessage, delay_seconds: u32) -> Result<(), QueueError> {
        let message = worker::MessageBuilder::new(message.clone())
            .delay_seconds(delay_seconds)
            .build();
        self.queue.send(message).await.map_err(|_| QueueError)
    }
}

/// Consumes a batch from the retry queue or the dead-letter queue (the same way: nothing
/// depends on which), acking each message or asking for it again later.
pub async fn consume(batch: MessageBatch<Value>, env: &Env) {
    let isolate = isolate::get(env);
    let Ok(messages) = batch.messages() else {
        batch.retry_all_with_options(
            &QueueRetryOptionsBuilder::new()
                .with_delay_seconds(flow::LEDGER_RETRY_SECONDS)
                .build(),
        );
        return;
    };
    let ports = WorkerPorts::new(env, &isolate);
    let config =
        isolate
            .config
            .as_ref()
            .map_err(|problems| crate::error::ApiError::Misconfigured {
                variables: problems.iter().map(|p| p.variable).collect(),
            });
    let kind = if batch.queue().ends_with("dead-letters") {
        "dead-letter"
    } else {
        "retry"
    };
    // A few messages at a time: a batch's attempts share the isolate's six outbound
    // connections, and a timeout must not start while its request waits for one.
    futures_util::stream::iter(messages)
        .for_each_concurrent(MESSAGES_AT_ONCE, |message| {
            let ports = &ports;
            let config = config.as_ref().copied().map_err(Clone::clone);
            async move {
                let started = now_ms();
                let mut log = RequestLog::new("QUEUE", kind);
                log.msg = kind;
                match flow::consume(ports, config, message.body(), &mut log).await {
                    Ack::Done => message.ack(),
                    Ack::RedeliverAfter(seconds) => message.retry_with_options(
                        &QueueRetryOptionsBuilder::new()
                            .with_delay_seconds(seconds)
                            .build(),
                    ),
                }
                log.duration_ms = now_ms().saturating_sub(started);
                console_log!("{}", log.to_json());
            }
        })
        .await;
}

/// Attempts run side by side within one batch: an after-sale attempt may hold two
/// connections (token and order center) of the six an invocation may open at once.
const MESSAGES_AT_ONCE: usize = 3;
