//! Durable delivery: the ledger record of every accepted webhook, idempotency by
//! `webhook-id`, and the retry policy. Pure: the platform layer runs the SQL and the queues.

pub mod ledger;
pub mod policy;
pub mod result;
