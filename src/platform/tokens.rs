//! The access-token cache: in the isolate, then in Workers KV, then from Baidu.
//!
//! Concurrent requests in one isolate share one in-flight lookup, and KV shares the token
//! across isolates, so a burst fetches it once rather than once per request.

use std::cell::RefCell;

use futures_util::future::{FutureExt, LocalBoxFuture, Shared};
use worker::kv::KvStore;
use worker::{console_log, Date};

use super::upstream;
use crate::baidu::token::{cache_key, read_token_answer, token_request, AccessToken};
use crate::config::OrderCenterConfig;
use crate::error::ApiError;

/// The KV namespace binding that holds tokens (declared in wrangler.toml).
pub const TOKEN_CACHE_BINDING: &str = "TOKEN_CACHE";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Isolate,
    Kv,
    Baidu,
}

impl TokenSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Isolate => "isolate",
            TokenSource::Kv => "kv",
            TokenSource::Baidu => "baidu",
        }
    }
}

type Lookup = Shared<LocalBoxFuture<'static, Result<(AccessToken, TokenSource), ApiError>>>;

#[derive(Default)]
pub struct TokenCache {
    current: RefCell<Option<AccessToken>>,
    in_flight: RefCell<Option<Lookup>>,
}

impl TokenCache {
    /// A usable token. With `rejected`, Baidu has just refused that token: skip every cache
    /// still holding it and fetch a fresh one (unless another request already has).
    pub async fn get(
        &self,
        config: &OrderCenterConfig,
        kv: Option<KvStore>,
        timeout_ms: u32,
        rejected: Option<&AccessToken>,
    ) -> Result<(AccessToken, TokenSource), ApiError> {
        let is_rejected =
            |token: &AccessToken| rejected.is_some_and(|r| r.secret() == token.secret());
        if let Some(token) = self.current.borrow().as_ref() {
            if token.is_fresh(now_ms()) && !is_rejected(token) {
                return Ok((token.clone(), TokenSource::Isolate));
            }
        }
        // A lookup started before the rejection may still bring the refused token: then
        // start a lookup of our own that skips it.
        for _ in 0..2 {
            let lookup = {
                let mut slot = self.in_flight.borrow_mut();
                slot.get_or_insert_with(|| {
                    lookup(config.clone(), kv.clone(), timeout_ms, rejected.cloned())
                        .boxed_local()
                        .shared()
                })
                .clone()
            };
            let result = lookup.clone().await;
            {
                let mut slot = self.in_flight.borrow_mut();
                if slot.as_ref().is_some_and(|current| current.ptr_eq(&lookup)) {
                    slot.take();
                }
            }
            match result {
                Ok((token, _)) if is_rejected(&token) => continue,
                Ok((token, source)) => {
                    self.current.replace(Some(token.clone()));
                    return Ok((token, source));
                }
                Err(error) => return Err(error),
            }
        }
        Err(ApiError::Internal)
    }
}

async fn lookup(
    config: OrderCenterConfig,
    kv: Option<KvStore>,
    timeout_ms: u32,
    rejected: Option<AccessToken>,
) -> Result<(AccessToken, TokenSource), ApiError> {
    let key = cache_key(&config.app_key);
    if let Some(kv) = &kv {
        // A KV failure only costs a fetch from Baidu; it must not fail the request.
        if let Ok(Some(record)) = kv.get(&key).text().await {
            if let Some(token) = AccessToken::from_cache_record(&record) {
                let refused = rejected
                    .as_ref()
                    .is_some_and(|r| r.secret() == token.secret());
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

fn now_ms() -> u64 {
    Date::now().as_millis()
}

/// The KV namespace, when the binding exists; without it tokens are cached per isolate only.
pub fn token_store(env: &worker::Env) -> Option<KvStore> {
    env.kv(TOKEN_CACHE_BINDING).ok()
}
