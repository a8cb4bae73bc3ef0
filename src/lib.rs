//! baidu-order-relay: a Cloudflare Worker that turns authenticated merchant webhooks into
//! correctly signed calls to Baidu Smart Program's open APIs.
//!
//! Everything outside `platform` is plain Rust with no `worker` types: it builds and tests
//! natively with `cargo test`. `platform` (wasm32 only) is the thin shell that does the I/O:
//! reads the request, signs with WebCrypto, fetches, and answers.

pub mod admin;
pub mod baidu;
pub mod bindings;
pub mod config;
pub mod contract;
pub mod delivery;
pub mod error;
#[cfg(test)]
mod fuzzing;
pub mod http;
pub mod inbound;
#[cfg(not(target_arch = "wasm32"))]
pub mod keytool;
pub mod log;
pub mod readiness;
pub mod reply;
pub mod webhook;

#[cfg(target_arch = "wasm32")]
mod platform;
