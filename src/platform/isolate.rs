//! State that lives as long as the isolate: the validated configuration and the imported
//! signing key. Both are built on first use and shared by every request after it.

use std::cell::RefCell;
use std::rc::Rc;

use worker::Env;

use super::webcrypto::WebCryptoSigner;
use crate::config::{CashierConfig, Config, ConfigProblem, VARIABLES};
use crate::delivery::token_cache::TokenCache;

pub struct Isolate {
    pub config: Result<Config, Vec<ConfigProblem>>,
    /// Durable-delivery bindings absent from the environment (fixed for the isolate's life).
    pub missing_bindings: Vec<&'static str>,
    pub tokens: TokenCache,
    signer: RefCell<Option<Rc<WebCryptoSigner>>>,
}

thread_local! {
    // Workers run one thread per isolate; this is per-isolate state, not shared memory.
    static ISOLATE: RefCell<Option<Rc<Isolate>>> = const { RefCell::new(None) };
}

/// The isolate's state, validating the environment the first time.
pub fn get(env: &Env) -> Rc<Isolate> {
    ISOLATE.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                Rc::new(Isolate {
                    config: Config::from_env(|name| read_variable(env, name)),
                    missing_bindings: missing_bindings(env),
                    tokens: TokenCache::default(),
                    signer: RefCell::new(None),
                })
            })
            .clone()
    })
}

/// The bindings durable delivery needs that are missing, for `/healthz` and `misconfigured`.
fn missing_bindings(env: &Env) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if super::ledger::D1Ledger::from_env(env).is_none() {
        missing.push(crate::bindings::LEDGER);
    }
    if super::queue::RetryQueueBinding::from_env(env).is_none() {
        missing.push(crate::bindings::RETRY_QUEUE);
    }
    missing
}

fn read_variable(env: &Env, name: &str) -> Option<String> {
    debug_assert!(VARIABLES.contains(&name));
    env.var(name).ok().map(|value| value.to_string())
}

impl Isolate {
    /// The imported signing key, imported on first use and kept for the isolate's life.
    /// Requests that arrive together on a cold isolate each import (about a millisecond):
    /// workerd does not let one request await a promise another request created.
    pub async fn signer(&self, config: &CashierConfig) -> Result<Rc<WebCryptoSigner>, String> {
        if let Some(signer) = self.signer.borrow().as_ref() {
            return Ok(signer.clone());
        }
        let imported = WebCryptoSigner::import(config.merchant_key.pkcs8_der())
            .await
            .map(Rc::new)
            .map_err(|_| "WebCrypto refused to import the RSA key".to_owned())?;
        Ok(self.signer.borrow_mut().get_or_insert(imported).clone())
    }
}
