//! The shared token store over Workers KV. The cache's rules (isolate first, then KV, then
//! Baidu; one lookup per isolate at a time) are the core's: `delivery::token_cache`.

use std::cell::OnceCell;

use worker::kv::KvStore;
use worker::Env;

use crate::bindings;
use crate::delivery::token_cache::SharedTokens;

/// The KV namespace, looked up on first use: a request served from the isolate's copy of the
/// token touches no binding. Without the binding tokens are cached per isolate only, and
/// writing to it is not a failure worth a log line.
pub struct KvSharedTokens<'a> {
    env: &'a Env,
    store: OnceCell<Option<KvStore>>,
}

impl<'a> KvSharedTokens<'a> {
    pub fn new(env: &'a Env) -> Self {
        KvSharedTokens {
            env,
            store: OnceCell::new(),
        }
    }

    fn store(&self) -> Option<&KvStore> {
        self.store
            .get_or_init(|| self.env.kv(bindings::TOKEN_CACHE).ok())
            .as_ref()
    }
}

impl SharedTokens for KvSharedTokens<'_> {
    async fn read(&self, key: &str) -> Option<String> {
        self.store()?.get(key).text().await.ok().flatten()
    }

    async fn write(&self, key: &str, record: String, ttl_seconds: u64) -> bool {
        let Some(store) = self.store() else {
            return true;
        };
        match store.put(key, record) {
            Ok(put) => put.expiration_ttl(ttl_seconds).execute().await.is_ok(),
            Err(_) => false,
        }
    }
}
