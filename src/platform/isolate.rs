//! State that lives as long as the isolate: the validated configuration and the imported
//! signing key. Both are built on first use and shared by every request after it.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::future::{FutureExt, LocalBoxFuture, Shared};
use worker::Env;

use super::tokens::TokenCache;
use super::webcrypto::WebCryptoSigner;
use crate::config::{CashierConfig, Config, ConfigProblem, VARIABLES};

type SignerImport = Shared<LocalBoxFuture<'static, Result<Rc<WebCryptoSigner>, String>>>;

pub struct Isolate {
    pub config: Result<Config, Vec<ConfigProblem>>,
    pub tokens: TokenCache,
    signer: RefCell<Option<SignerImport>>,
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
                    tokens: TokenCache::default(),
                    signer: RefCell::new(None),
                })
            })
            .clone()
    })
}

fn read_variable(env: &Env, name: &str) -> Option<String> {
    debug_assert!(VARIABLES.contains(&name));
    env.var(name).ok().map(|value| value.to_string())
}

impl Isolate {
    /// The imported signing key. Concurrent first requests share one import; a failed import
    /// is forgotten so that a later request tries again.
    pub async fn signer(&self, config: &CashierConfig) -> Result<Rc<WebCryptoSigner>, String> {
        let import = {
            let mut slot = self.signer.borrow_mut();
            slot.get_or_insert_with(|| {
                let der = config.merchant_key.pkcs8_der().to_vec();
                async move {
                    WebCryptoSigner::import(&der)
                        .await
                        .map(Rc::new)
                        .map_err(|_| "WebCrypto refused to import the RSA key".to_owned())
                }
                .boxed_local()
                .shared()
            })
            .clone()
        };
        let result = import.await;
        if result.is_err() {
            self.signer.borrow_mut().take();
        }
        result
    }
}
