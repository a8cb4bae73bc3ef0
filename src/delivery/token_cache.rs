//! The order center's access token, cached in the isolate, then in a shared store (Workers
//! KV in the Worker), then fetched from Baidu.
//!
//! The shared store lets a burst fetch the token once rather than once per isolate. Within an
//! isolate, concurrent requests share one lookup, but workerd forbids one request from waking
//! another's continuation (a promise resolved in another request's context cancels the
//! waiter). So the first request to miss leads the lookup and the others poll the isolate
//! cache on their own timers until it is filled, or until the leader is presumed dead.

use std::cell::{Cell, RefCell};

use serde_json::json;

use super::ports::{Runtime, TokenSource, Upstream};
use crate::baidu::token::{cache_key, read_token_answer, token_request, AccessToken};
use crate::config::OrderCenterConfig;
use crate::error::ApiError;

/// How often a waiting request looks for the token another request is fetching.
pub const POLL_INTERVAL_MS: u32 = 10;

/// Beyond the token call's own timeout, how long a lookup may take (the shared store's read
/// and write) before the requests waiting on it stop waiting and look up themselves.
pub const LOOKUP_SLACK_MS: u64 = 2_000;

/// The store shared by every isolate. Failures only cost a fetch from Baidu, so they are
/// reported as "absent" or `false`, never as errors.
#[allow(async_fn_in_trait)]
pub trait SharedTokens {
    async fn read(&self, key: &str) -> Option<String>;
    /// Keeps `record` for `ttl_seconds`; `false` when the write failed.
    async fn write(&self, key: &str, record: String, ttl_seconds: u64) -> bool;
}

/// What one isolate knows: its current token and whether a lookup is under way.
#[derive(Default)]
pub struct TokenCache {
    current: RefCell<Option<AccessToken>>,
    /// When the lookup in flight started (Unix ms), if one is.
    lookup_started_at: Cell<Option<u64>>,
}

/// Whether `token` may be used at `now`: fresh, and not the one Baidu just refused.
pub fn usable(token: &AccessToken, now_ms: u64, rejected: Option<&AccessToken>) -> bool {
    token.is_fresh(now_ms) && rejected.is_none_or(|r| r.secret() != token.secret())
}

/// Whether a lookup that started at `started` may still be running at `now`. A leader that
/// died without clearing its mark is ignored after the longest lookup could take.
pub fn lookup_in_flight(started: Option<u64>, now_ms: u64, timeout_ms: u32) -> bool {
    started.is_some_and(|started| now_ms.saturating_sub(started) < lookup_deadline(timeout_ms))
}

fn lookup_deadline(timeout_ms: u32) -> u64 {
    u64::from(timeout_ms) + LOOKUP_SLACK_MS
}

impl TokenCache {
    /// A usable token. With `rejected`, Baidu has just refused that token: skip every cache
    /// still holding it and fetch a fresh one (unless another request already has).
    pub async fn get<S: SharedTokens, U: Upstream, R: Runtime>(
        &self,
        shared: Option<&S>,
        upstream: &U,
        runtime: &R,
        config: &OrderCenterConfig,
        timeout_ms: u32,
        rejected: Option<&AccessToken>,
    ) -> Result<(AccessToken, TokenSource), ApiError> {
        loop {
            if let Some(token) = self.current.borrow().as_ref() {
                if usable(token, runtime.now_ms(), rejected) {
                    return Ok((token.clone(), TokenSource::Isolate));
                }
            }
            if !lookup_in_flight(self.lookup_started_at.get(), runtime.now_ms(), timeout_ms) {
                break;
            }
            runtime.sleep(POLL_INTERVAL_MS).await;
        }
        self.lookup_started_at.set(Some(runtime.now_ms()));
        let result = lookup(shared, upstream, runtime, config, timeout_ms, rejected).await;
        self.lookup_started_at.set(None);
        if let Ok((token, _)) = &result {
            self.current.replace(Some(token.clone()));
        }
        result
    }
}

async fn lookup<S: SharedTokens, U: Upstream, R: Runtime>(
    shared: Option<&S>,
    upstream: &U,
    runtime: &R,
    config: &OrderCenterConfig,
    timeout_ms: u32,
    rejected: Option<&AccessToken>,
) -> Result<(AccessToken, TokenSource), ApiError> {
    let key = cache_key(&config.app_key);
    if let Some(shared) = shared {
        if let Some(record) = shared.read(&key).await {
            if let Some(token) = AccessToken::from_cache_record(&record) {
                if usable(&token, runtime.now_ms(), rejected) {
                    return Ok((token, TokenSource::Kv));
                }
            }
        }
    }
    let request = token_request(&config.openapi_url, &config.app_key, &config.app_secret);
    let answer = upstream.send(&request, timeout_ms).await;
    let token = read_token_answer(&answer, runtime.now_ms())?;
    if let Some(shared) = shared {
        let ttl = token.cache_ttl_seconds(runtime.now_ms());
        if !shared.write(&key, token.to_cache_record(), ttl).await {
            runtime.log(json!({"msg": "token cache write failed"}));
        }
    }
    Ok((token, TokenSource::Baidu))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::future::Future;
    use std::pin::{pin, Pin};
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::config::CashierConfig;
    use crate::http::{HttpRequest, TransportError, UpstreamAnswer, UpstreamResponse};

    /// A world with a clock, a shared store and a token endpoint that counts its calls.
    #[derive(Default)]
    struct World {
        now: Cell<u64>,
        store: RefCell<HashMap<String, (String, u64)>>,
        store_broken: Cell<bool>,
        fetches: Cell<u32>,
        /// The token endpoint cannot be reached; otherwise its N-th answer is "tok-N".
        outage: Cell<bool>,
        logs: RefCell<Vec<serde_json::Value>>,
    }

    impl SharedTokens for World {
        async fn read(&self, key: &str) -> Option<String> {
            if self.store_broken.get() {
                return None;
            }
            self.store
                .borrow()
                .get(key)
                .map(|(record, _)| record.clone())
        }
        async fn write(&self, key: &str, record: String, ttl_seconds: u64) -> bool {
            if self.store_broken.get() {
                return false;
            }
            self.store
                .borrow_mut()
                .insert(key.to_owned(), (record, ttl_seconds));
            true
        }
    }

    impl Upstream for World {
        async fn send(&self, request: &HttpRequest, _: u32) -> UpstreamAnswer {
            assert!(request.url.ends_with("/oauth/2.0/token"), "{}", request.url);
            // The fetch takes a poll: a second request can arrive meanwhile.
            Yield(false).await;
            if self.outage.get() {
                return Err(TransportError::Unreachable);
            }
            self.fetches.set(self.fetches.get() + 1);
            let body =
                json!({"access_token": format!("tok-{}", self.fetches.get()), "expires_in": 3600});
            Ok(UpstreamResponse {
                status: 200,
                body: body.to_string().into_bytes(),
            })
        }
        async fn sign(&self, _: &CashierConfig, _: &[u8]) -> Result<Vec<u8>, ApiError> {
            unreachable!("the token cache signs nothing")
        }
    }

    impl Runtime for World {
        fn now_ms(&self) -> u64 {
            self.now.get()
        }
        fn jitter(&self) -> f64 {
            0.0
        }
        fn log(&self, line: serde_json::Value) {
            self.logs.borrow_mut().push(line);
        }
        async fn sleep(&self, ms: u32) {
            self.now.set(self.now.get() + u64::from(ms));
            Yield(false).await;
        }
    }

    struct Yield(bool);

    impl Future for Yield {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                Poll::Pending
            }
        }
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        let mut context = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
                return value;
            }
        }
    }

    /// Polls both futures in turn until both are done.
    fn both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
        let (mut a, mut b) = (pin!(a), pin!(b));
        let (mut out_a, mut out_b) = (None, None);
        let mut context = Context::from_waker(Waker::noop());
        while out_a.is_none() || out_b.is_none() {
            if out_a.is_none() {
                if let Poll::Ready(value) = a.as_mut().poll(&mut context) {
                    out_a = Some(value);
                }
            }
            if out_b.is_none() {
                if let Poll::Ready(value) = b.as_mut().poll(&mut context) {
                    out_b = Some(value);
                }
            }
        }
        (out_a.unwrap(), out_b.unwrap())
    }

    fn config() -> OrderCenterConfig {
        OrderCenterConfig {
            app_key: "app-key-0123456789abcdef01234567".into(),
            app_secret: "app-secret".into(),
            pay_app_key: "MMMzaA".into(),
            openapi_url: "https://openapi.baidu.com".into(),
            amount_check: Default::default(),
        }
    }

    const T0: u64 = 1_700_000_000_000;

    fn world() -> World {
        let world = World::default();
        world.now.set(T0);
        world
    }

    fn get(
        cache: &TokenCache,
        world: &World,
        shared: bool,
        rejected: Option<&AccessToken>,
    ) -> Result<(AccessToken, TokenSource), ApiError> {
        let config = config();
        block_on(cache.get(
            shared.then_some(world),
            world,
            world,
            &config,
            5_000,
            rejected,
        ))
    }

    #[test]
    fn fetches_once_then_serves_the_isolate_copy_until_it_is_due_for_renewal() {
        let (cache, world) = (TokenCache::default(), world());
        let (first, source) = get(&cache, &world, true, None).unwrap();
        assert_eq!((first.secret(), source), ("tok-1", TokenSource::Baidu));
        let (again, source) = get(&cache, &world, true, None).unwrap();
        assert_eq!((again.secret(), source), ("tok-1", TokenSource::Isolate));
        assert_eq!(world.fetches.get(), 1);
        // Renewed before Baidu's expiry: at refresh_at the isolate copy and the shared
        // record are both stale.
        world.now.set(first.refresh_at_ms);
        let (renewed, source) = get(&cache, &world, true, None).unwrap();
        assert_eq!((renewed.secret(), source), ("tok-2", TokenSource::Baidu));
    }

    #[test]
    fn another_isolate_finds_the_token_in_the_shared_store_with_a_ttl_that_ends_at_renewal() {
        let world = world();
        let (token, _) = get(&TokenCache::default(), &world, true, None).unwrap();
        let (record, ttl) = world.store.borrow().values().next().cloned().unwrap();
        assert_eq!(ttl, (token.refresh_at_ms - T0) / 1000);
        assert!(!record.contains("app-secret"));
        let (shared, source) = get(&TokenCache::default(), &world, true, None).unwrap();
        assert_eq!((shared.secret(), source), ("tok-1", TokenSource::Kv));
        assert_eq!(world.fetches.get(), 1);
    }

    #[test]
    fn a_refused_token_is_skipped_in_both_caches() {
        let (cache, world) = (TokenCache::default(), world());
        let (refused, _) = get(&cache, &world, true, None).unwrap();
        let (fresh, source) = get(&cache, &world, true, Some(&refused)).unwrap();
        assert_eq!((fresh.secret(), source), ("tok-2", TokenSource::Baidu));
        // Another isolate still holding the refused token skips it too, and finds the new
        // one in the shared store.
        let other = TokenCache::default();
        other.current.replace(Some(refused.clone()));
        let (found, source) = get(&other, &world, true, Some(&refused)).unwrap();
        assert_eq!((found.secret(), source), ("tok-2", TokenSource::Kv));
        assert_eq!(world.fetches.get(), 2);
    }

    #[test]
    fn a_broken_or_missing_shared_store_costs_a_fetch_and_a_log_line_not_the_request() {
        let world = world();
        world.store_broken.set(true);
        let (token, source) = get(&TokenCache::default(), &world, true, None).unwrap();
        assert_eq!((token.secret(), source), ("tok-1", TokenSource::Baidu));
        assert_eq!(
            world.logs.borrow().as_slice(),
            [json!({"msg": "token cache write failed"})]
        );
        let (_, source) = get(&TokenCache::default(), &world, false, None).unwrap();
        assert_eq!(source, TokenSource::Baidu);
        assert_eq!(world.logs.borrow().len(), 1, "no store, nothing to report");
    }

    #[test]
    fn an_unreadable_shared_record_counts_as_absent() {
        let world = world();
        let key = cache_key(&config().app_key);
        for record in ["", "{", r#"{"accessToken":""}"#, r#"{"accessToken":"x"}"#] {
            world
                .store
                .borrow_mut()
                .insert(key.clone(), (record.into(), 60));
            let (_, source) = get(&TokenCache::default(), &world, true, None).unwrap();
            assert_eq!(source, TokenSource::Baidu, "{record}");
        }
    }

    #[test]
    fn a_failed_fetch_is_the_callers_error_and_leaves_no_lookup_marked() {
        let (cache, world) = (TokenCache::default(), world());
        world.outage.set(true);
        let error = get(&cache, &world, true, None).unwrap_err();
        assert_eq!(error.code(), "upstream_unavailable");
        assert_eq!(cache.lookup_started_at.get(), None);
        assert!(cache.current.borrow().is_none());
        world.outage.set(false);
        assert_eq!(get(&cache, &world, true, None).unwrap().0.secret(), "tok-1");
    }

    #[test]
    fn concurrent_requests_in_one_isolate_share_one_fetch() {
        let (cache, world, config) = (TokenCache::default(), world(), config());
        let request = || cache.get(Some(&world), &world, &world, &config, 5_000, None);
        let (a, b) = both(request(), request());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(world.fetches.get(), 1);
        assert_eq!(a.0, b.0);
        assert_eq!((a.1, b.1), (TokenSource::Baidu, TokenSource::Isolate));
    }

    #[test]
    fn a_lookup_whose_leader_died_is_waited_for_only_until_its_deadline() {
        let (cache, world) = (TokenCache::default(), world());
        cache.lookup_started_at.set(Some(T0));
        let (token, source) = get(&cache, &world, true, None).unwrap();
        assert_eq!((token.secret(), source), ("tok-1", TokenSource::Baidu));
        // It waited out the dead leader's whole deadline, in poll steps, and no longer.
        let waited = world.now.get() - T0;
        assert!(waited >= 5_000 + LOOKUP_SLACK_MS, "{waited}");
        assert!(
            waited < 5_000 + LOOKUP_SLACK_MS + u64::from(POLL_INTERVAL_MS),
            "{waited}"
        );
    }

    #[test]
    fn lookup_deadline_and_usability_rules() {
        assert!(!lookup_in_flight(None, T0, 5_000));
        assert!(lookup_in_flight(Some(T0), T0 + 6_999, 5_000));
        assert!(!lookup_in_flight(Some(T0), T0 + 7_000, 5_000));
        // A clock that went backwards does not make a lookup look dead.
        assert!(lookup_in_flight(Some(T0), T0 - 1, 5_000));
        let token = AccessToken::new("tok".into(), T0 + 1);
        assert!(usable(&token, T0, None));
        assert!(!usable(&token, T0 + 1, None));
        assert!(!usable(&token, T0, Some(&token)));
        assert!(usable(
            &token,
            T0,
            Some(&AccessToken::new("other".into(), T0 + 1))
        ));
    }
}
