//! The names of the Worker's bindings, as wrangler.toml declares them (a tooling test reads
//! this file and checks wrangler.toml against it). `src/platform/` looks them up; `/healthz`
//! and `misconfigured` answers name the missing ones.

/// The D1 database holding the delivery ledger.
pub const LEDGER: &str = "LEDGER";
/// The queue producer of retries (and of settle messages).
pub const RETRY_QUEUE: &str = "RETRIES";
/// The Workers KV namespace sharing the access token across isolates (optional).
pub const TOKEN_CACHE: &str = "TOKEN_CACHE";

/// The bindings without which no webhook is accepted: durable delivery needs both.
pub const REQUIRED: [&str; 2] = [LEDGER, RETRY_QUEUE];
