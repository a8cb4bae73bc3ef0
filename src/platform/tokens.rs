//! The access-token cache: in the isolate, then in Workers KV, then from Baidu.
//!
//! KV shares the token across isolates, so a burst fetches it once rather than once per
//! request. Within an isolate, concurrent requests share one in-flight lookup, but workerd
//! forbids one request from waking another's continuation (a promise resolved in another
//! request's context cancels the waiter). So the first request to miss leads the lookup and
//! the others poll the isolate cache on their own timers until it is filled.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use worker::kv::KvStore;
use worker::{console_log, Delay};

use super::clock::now_ms;
use super::upstream;
use crate::baidu::token::{cache_key, read_token_answer, token_request, AccessToken};
use crate::config::OrderCenterConfig;
use crate::delivery::ports::TokenSource;
use crate::error::ApiError;

/// The KV namespace binding that holds tokens (declared in wrangler.toml).
pub const TOKEN_CACHE_BINDING: &str = "TOKEN_CACHE";

/// How often a waiting request looks for the token another request is fetching.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

#[derive(Default)]
pub struct TokenCache {
    current: RefCell<Option<AccessToken>>,
    /// When the lookup in flight started (Unix ms), if one is.
    lookup_started_at: Cell<Option<u64>>,
}

impl TokenCache {
    /// A usable token. With `rejected`, Baidu has just refused that token: skip every cache
    /// still holding it and fetch a fresh one (unless another request already has).
    pub async fn get(
        &self,
        config: &OrderCenterConfig,
        env: &worker::Env,
        timeout_ms: u32,
        rejected: Option<&AccessToken>,
    ) -> Result<(AccessToken, TokenSource), ApiError> {
        let is_rejected =
            |token: &AccessToken| rejected.is_some_and(|r| r.secret() == token.secret());
        // A leader that died without clearing its mark is ignored after the longest lookup
        // (KV read plus one timed-out fetch) could take.
        let lookup_deadline = u64::from(timeout_ms) + 2_000;
        loop {
            if let Some(token) = self.current.borrow().as_ref() {
                if token.is_fresh(now_ms()) && !is_rejected(token) {
                    return Ok((token.clone(), TokenSource::Isolate));
                }
            }
            match self.lookup_started_at.get() {
                Some(started) if now_ms().saturating_sub(started) < lookup_deadline => {
                    Delay::from(POLL_INTERVAL).await;
                }
                _ => break,
            }
        }
        self.lookup_started_at.set(Some(now_ms()));
        // The KV binding is looked up only on a miss: a fresh isolate token needs nothing else.
        let result = lookup(config, token_store(env), timeout_ms, rejected).await;
        self.lookup_started_at.set(None);
        if let Ok((token, _)) = &result {
            self.current.replace(Some(token.clone()));
        }
        result
    }
}

async fn lookup(
    config: &OrderCenterConfig,
    kv: Option<KvStore>,
    timeout_ms: u32,
    rejected: Option<&AccessToken>,
) -> Result<(AccessToken, TokenSource), ApiError> {
    let key = cache_key(&config.app_key);
    if let Some(kv) = &kv {
        // A KV failure only costs a fetch from Baidu; it must not fail the request.
        if let Ok(Some(record)) = kv.get(&key).text().await {
            if let Some(token) = AccessToken::from_cache_record(&record) {
                let refused = rejected.is_some_and(|r| r.secret() == token.secret());
                if token.is_fresh(now_ms()) && !refused {
                    return Ok((token, TokenSource::Kv));
                }
            }
        }
    }
    let request = token_request(&config.openapi_url, &config.app_key, &config.app_secret);
    let answer = upstream::send(&request, timeout_ms).await;
    let token = read_token_answer(&answer, now_ms())?;
    if let Some(kv) = &kv {
        let stored = match kv.put(&key, token.to_cache_record()) {
            Ok(put) => put
                .expiration_ttl(token.cache_ttl_seconds(now_ms()))
                .execute()
                .await
                .is_ok(),
            Err(_) => false,
        };
        if !stored {
            console_log!(
                r#"{{"msg":"token cache write failed","binding":"{TOKEN_CACHE_BINDING}"}}"#
            );
        }
    }
    Ok((token, TokenSource::Baidu))
}

/// The KV namespace, when the binding exists; without it tokens are cached per isolate only.
fn token_store(env: &worker::Env) -> Option<KvStore> {
    env.kv(TOKEN_CACHE_BINDING).ok()
}
