//! The delivery flow's ports, as the Worker provides them: D1, Queues, `fetch` with
//! WebCrypto signing, the KV-backed token cache, and the runtime's clock and log.

use std::cell::OnceCell;
use std::time::Duration;

use serde_json::Value;
use worker::{console_log, Delay, Env};

use super::clock::now_ms;
use super::isolate::Isolate;
use super::ledger::D1Ledger;
use super::queue::RetryQueueBinding;
use super::tokens::KvSharedTokens;
use super::upstream;
use crate::baidu::token::AccessToken;
use crate::config::{CashierConfig, OrderCenterConfig};
use crate::delivery::ports::{
    Ports, QueueError, Runtime, StoreError, TokenSource, TokenStore, Upstream,
};
use crate::error::ApiError;
use crate::http::{HttpRequest, UpstreamAnswer};

pub struct WorkerPorts<'a> {
    env: &'a Env,
    // Bindings are looked up on first use: a request answered from the isolate's caches
    // touches none of them.
    ledger: OnceCell<Option<D1Ledger>>,
    queue: OnceCell<Option<RetryQueueBinding>>,
    upstream: FetchUpstream<'a>,
    tokens: KvTokens<'a>,
    runtime: WorkerRuntime,
}

impl<'a> WorkerPorts<'a> {
    pub fn new(env: &'a Env, isolate: &'a Isolate) -> Self {
        WorkerPorts {
            env,
            ledger: OnceCell::new(),
            queue: OnceCell::new(),
            upstream: FetchUpstream { isolate },
            tokens: KvTokens { env, isolate },
            runtime: WorkerRuntime,
        }
    }
}

impl<'a> Ports for WorkerPorts<'a> {
    type Ledger = D1Ledger;
    type Orders = D1Ledger;
    type Queue = RetryQueueBinding;
    type Upstream = FetchUpstream<'a>;
    type Tokens = KvTokens<'a>;
    type Runtime = WorkerRuntime;

    fn orders(&self) -> Result<&D1Ledger, StoreError> {
        self.ledger()
    }

    fn ledger(&self) -> Result<&D1Ledger, StoreError> {
        self.ledger
            .get_or_init(|| D1Ledger::from_env(self.env))
            .as_ref()
            .ok_or(StoreError)
    }

    fn queue(&self) -> Result<&RetryQueueBinding, QueueError> {
        self.queue
            .get_or_init(|| RetryQueueBinding::from_env(self.env))
            .as_ref()
            .ok_or(QueueError)
    }

    fn upstream(&self) -> &FetchUpstream<'a> {
        &self.upstream
    }

    fn tokens(&self) -> &KvTokens<'a> {
        &self.tokens
    }

    fn runtime(&self) -> &WorkerRuntime {
        &self.runtime
    }
}

/// `fetch`, and signatures from the isolate's imported WebCrypto key.
pub struct FetchUpstream<'a> {
    isolate: &'a Isolate,
}

impl Upstream for FetchUpstream<'_> {
    async fn send(&self, request: &HttpRequest, timeout_ms: u32) -> UpstreamAnswer {
        upstream::send(request, timeout_ms).await
    }

    async fn sign(&self, cashier: &CashierConfig, message: &[u8]) -> Result<Vec<u8>, ApiError> {
        let signer = self
            .isolate
            .signer(cashier)
            .await
            .map_err(|_| ApiError::Internal)?;
        signer.sign(message).await.map_err(|_| ApiError::Internal)
    }
}

/// The isolate's token cache, backed by Workers KV.
pub struct KvTokens<'a> {
    env: &'a Env,
    isolate: &'a Isolate,
}

impl TokenStore for KvTokens<'_> {
    async fn token(
        &self,
        config: &OrderCenterConfig,
        timeout_ms: u32,
        rejected: Option<&AccessToken>,
    ) -> Result<(AccessToken, TokenSource), ApiError> {
        let shared = KvSharedTokens::new(self.env);
        self.isolate
            .tokens
            .get(
                Some(&shared),
                &FetchUpstream {
                    isolate: self.isolate,
                },
                &WorkerRuntime,
                config,
                timeout_ms,
                rejected,
            )
            .await
    }
}

/// The runtime's clock, `Math.random` and `console.log`.
pub struct WorkerRuntime;

impl Runtime for WorkerRuntime {
    fn now_ms(&self) -> u64 {
        now_ms()
    }

    fn jitter(&self) -> f64 {
        js_sys::Math::random()
    }

    fn log(&self, line: Value) {
        console_log!("{line}");
    }

    async fn sleep(&self, ms: u32) {
        Delay::from(Duration::from_millis(u64::from(ms))).await;
    }
}
