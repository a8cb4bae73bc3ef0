//! Durable delivery: the ledger record of every accepted webhook, idempotency by
//! `webhook-id`, the retry policy, and the flow that runs them (`flow.rs`) over small ports
//! (`ports.rs`). Pure: the platform layer implements the ports over D1, Queues, KV and fetch.

pub mod callbacks;
pub mod console;
pub mod events;
pub mod flow;
pub mod job;
pub mod ledger;
pub mod order_identity;
pub mod payment_signing;
pub mod policy;
pub mod ports;
pub mod queries;
pub mod result;
#[cfg(test)]
mod simulation;
pub mod token_cache;
