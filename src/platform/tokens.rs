//! The shared token store over Workers KV. The cache's rules (isolate first, then KV, then
//! Baidu; one lookup per isolate at a time) are the core's: `delivery::token_cache`.

use worker::kv::KvStore;
use worker::Env;

use crate::bindings;
use crate::delivery::token_cache::SharedTokens;

pub struct KvSharedTokens(KvStore);

impl KvSharedTokens {
    /// The KV namespace, when the binding exists; without it tokens are cached per isolate.
    pub fn from_env(env: &Env) -> Option<Self> {
        env.kv(bindings::TOKEN_CACHE).ok().map(KvSharedTokens)
    }
}

impl SharedTokens for KvSharedTokens {
    async fn read(&self, key: &str) -> Option<String> {
        self.0.get(key).text().await.ok().flatten()
    }

    async fn write(&self, key: &str, record: String, ttl_seconds: u64) -> bool {
        match self.0.put(key, record) {
            Ok(put) => put.expiration_ttl(ttl_seconds).execute().await.is_ok(),
            Err(_) => false,
        }
    }
}
