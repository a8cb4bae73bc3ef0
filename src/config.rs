//! The Worker's environment, validated once per isolate into a [`Config`].
//!
//! Problems are collected for every variable at once, so `/healthz` can list them all.
//! Messages name the variable and what is wrong with it, never its value.

use std::fmt;

use crate::baidu::cashier::CashierApi;
use crate::baidu::key::MerchantKey;
use crate::webhook::WebhookSecrets;

pub const WEBHOOK_SECRET: &str = "WEBHOOK_SECRET";
pub const BAIDU_RSA_PRIVATE_KEY: &str = "BAIDU_RSA_PRIVATE_KEY";
pub const BAIDU_PAY_APP_KEY: &str = "BAIDU_PAY_APP_KEY";
pub const BAIDU_CASHIER_API: &str = "BAIDU_CASHIER_API";
pub const BAIDU_CASHIER_URL: &str = "BAIDU_CASHIER_URL";
pub const BAIDU_TIMEOUT_MS: &str = "BAIDU_TIMEOUT_MS";

/// Every variable the relay reads, for the platform layer to look up.
pub const VARIABLES: [&str; 6] = [
    WEBHOOK_SECRET,
    BAIDU_RSA_PRIVATE_KEY,
    BAIDU_PAY_APP_KEY,
    BAIDU_CASHIER_API,
    BAIDU_CASHIER_URL,
    BAIDU_TIMEOUT_MS,
];

pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
const MAX_TIMEOUT_MS: u32 = 120_000;

#[derive(Clone)]
pub struct Config {
    pub webhook_secrets: WebhookSecrets,
    pub merchant_key: MerchantKey,
    pub pay_app_key: String,
    pub cashier_api: CashierApi,
    pub cashier_url: String,
    pub upstream_timeout_ms: u32,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("webhook_secrets", &self.webhook_secrets)
            .field("merchant_key", &self.merchant_key)
            .field("pay_app_key", &self.pay_app_key)
            .field("cashier_api", &self.cashier_api)
            .field("cashier_url", &self.cashier_url)
            .field("upstream_timeout_ms", &self.upstream_timeout_ms)
            .finish()
    }
}

/// One thing wrong with one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub variable: &'static str,
    pub message: String,
}

impl ConfigProblem {
    fn new(variable: &'static str, message: impl Into<String>) -> Self {
        Self {
            variable,
            message: message.into(),
        }
    }
}

impl Config {
    /// Reads and validates every variable through `lookup`. Empty values count as missing.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Vec<ConfigProblem>> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let mut problems = Vec::new();
        let missing = |name: &'static str, what: &str| {
            ConfigProblem::new(name, format!("{name} is not set; {what}"))
        };

        let webhook_secrets = match get(WEBHOOK_SECRET) {
            None => {
                problems.push(missing(
                    WEBHOOK_SECRET,
                    "set it with `wrangler secret put WEBHOOK_SECRET` (whsec_<base64>)",
                ));
                None
            }
            Some(text) => WebhookSecrets::parse(&text)
                .map_err(|e| {
                    problems.push(ConfigProblem::new(
                        WEBHOOK_SECRET,
                        format!("{WEBHOOK_SECRET}: {e}"),
                    ))
                })
                .ok(),
        };

        let merchant_key = match get(BAIDU_RSA_PRIVATE_KEY) {
            None => {
                problems.push(missing(
                    BAIDU_RSA_PRIVATE_KEY,
                    "set the merchant's RSA private key with `wrangler secret put BAIDU_RSA_PRIVATE_KEY`",
                ));
                None
            }
            Some(text) => MerchantKey::parse(&text)
                .map_err(|e| {
                    problems.push(ConfigProblem::new(
                        BAIDU_RSA_PRIVATE_KEY,
                        format!("{BAIDU_RSA_PRIVATE_KEY}: {e}"),
                    ))
                })
                .ok(),
        };

        let pay_app_key = match get(BAIDU_PAY_APP_KEY) {
            None => {
                problems.push(missing(
                    BAIDU_PAY_APP_KEY,
                    "it is the payment service's appKey from Baidu's console (looks like MMMzaA)",
                ));
                None
            }
            Some(value) => {
                let value = value.trim().to_owned();
                if value.len() > 64
                    || !value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    problems.push(ConfigProblem::new(
                        BAIDU_PAY_APP_KEY,
                        format!("{BAIDU_PAY_APP_KEY} must be the payment appKey: up to 64 letters, digits, '_' or '-'"),
                    ));
                    None
                } else {
                    Some(value)
                }
            }
        };

        let cashier_api = match get(BAIDU_CASHIER_API) {
            None => Some(CashierApi::default()),
            Some(name) => {
                let api = CashierApi::parse(&name);
                if api.is_none() {
                    problems.push(ConfigProblem::new(
                        BAIDU_CASHIER_API,
                        format!("{BAIDU_CASHIER_API} must be `etrade` (default) or `nuomi`"),
                    ));
                }
                api
            }
        };

        let cashier_url = match get(BAIDU_CASHIER_URL) {
            None => cashier_api.map(|api| api.default_url().to_owned()),
            Some(url) => {
                let url = url.trim().to_owned();
                if is_http_url(&url) {
                    Some(url)
                } else {
                    problems.push(ConfigProblem::new(
                        BAIDU_CASHIER_URL,
                        format!("{BAIDU_CASHIER_URL} must be an absolute http:// or https:// URL"),
                    ));
                    None
                }
            }
        };

        let upstream_timeout_ms = match get(BAIDU_TIMEOUT_MS) {
            None => Some(DEFAULT_TIMEOUT_MS),
            Some(text) => match text.trim().parse::<u32>() {
                Ok(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => Some(ms),
                _ => {
                    problems.push(ConfigProblem::new(
                        BAIDU_TIMEOUT_MS,
                        format!("{BAIDU_TIMEOUT_MS} must be a whole number of milliseconds from 1 to {MAX_TIMEOUT_MS}"),
                    ));
                    None
                }
            },
        };

        match (
            webhook_secrets,
            merchant_key,
            pay_app_key,
            cashier_api,
            cashier_url,
            upstream_timeout_ms,
        ) {
            (
                Some(webhook_secrets),
                Some(merchant_key),
                Some(pay_app_key),
                Some(cashier_api),
                Some(cashier_url),
                Some(upstream_timeout_ms),
            ) if problems.is_empty() => Ok(Config {
                webhook_secrets,
                merchant_key,
                pay_app_key,
                cashier_api,
                cashier_url,
                upstream_timeout_ms,
            }),
            _ => Err(problems),
        }
    }
}

fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            !host.is_empty() && !url.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY: &str = include_str!("../tests/vectors/keys/test-2048.pkcs1.pem");
    const PUBLIC_KEY: &str = include_str!("../tests/vectors/keys/test-2048.pub.pem");
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut map: HashMap<String, String> = [
            (WEBHOOK_SECRET, SECRET),
            (BAIDU_RSA_PRIVATE_KEY, KEY),
            (BAIDU_PAY_APP_KEY, "MMMzaA"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            map.insert(k.to_string(), v.to_string());
        }
        map
    }

    fn load(map: &HashMap<String, String>) -> Result<Config, Vec<ConfigProblem>> {
        Config::from_env(|name| map.get(name).cloned())
    }

    fn problem_variables(map: &HashMap<String, String>) -> Vec<&'static str> {
        load(map).unwrap_err().iter().map(|p| p.variable).collect()
    }

    #[test]
    fn minimal_environment_uses_defaults() {
        let config = load(&env(&[])).unwrap();
        assert_eq!(config.cashier_api, CashierApi::Etrade);
        assert_eq!(
            config.cashier_url,
            "https://etrade-api.baidu.com/cashier/syncOrderStatus"
        );
        assert_eq!(config.upstream_timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(config.merchant_key.bits(), 2048);
    }

    #[test]
    fn nuomi_and_overrides() {
        let config = load(&env(&[
            (BAIDU_CASHIER_API, "nuomi"),
            (BAIDU_TIMEOUT_MS, "500"),
        ]))
        .unwrap();
        assert_eq!(config.cashier_url, "https://nop.nuomi.com/nop/server/rest");
        assert_eq!(config.upstream_timeout_ms, 500);
        let config = load(&env(&[(
            BAIDU_CASHIER_URL,
            "http://127.0.0.1:8788/cashier/syncOrderStatus",
        )]))
        .unwrap();
        assert_eq!(
            config.cashier_url,
            "http://127.0.0.1:8788/cashier/syncOrderStatus"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_by_name() {
        let mut map = env(&[
            (BAIDU_CASHIER_API, "foo"),
            (BAIDU_CASHIER_URL, "ftp://x"),
            (BAIDU_TIMEOUT_MS, "0"),
            (BAIDU_PAY_APP_KEY, "has space"),
        ]);
        map.remove(WEBHOOK_SECRET);
        map.insert(BAIDU_RSA_PRIVATE_KEY.into(), "   ".into());
        assert_eq!(
            problem_variables(&map),
            vec![
                WEBHOOK_SECRET,
                BAIDU_RSA_PRIVATE_KEY,
                BAIDU_PAY_APP_KEY,
                BAIDU_CASHIER_API,
                BAIDU_CASHIER_URL,
                BAIDU_TIMEOUT_MS
            ]
        );
    }

    #[test]
    fn problems_never_echo_values() {
        let map = env(&[
            (BAIDU_RSA_PRIVATE_KEY, PUBLIC_KEY),
            (WEBHOOK_SECRET, "whsec_***secret-value***"),
        ]);
        let problems = load(&map).unwrap_err();
        assert_eq!(problems.len(), 2);
        for problem in problems {
            assert!(!problem.message.contains("MII"), "{}", problem.message);
            assert!(
                !problem.message.contains("secret-value"),
                "{}",
                problem.message
            );
            assert!(problem.message.starts_with(problem.variable));
        }
        assert!(load(&map).unwrap_err()[1].message.contains("public key"));
    }

    #[test]
    fn debug_output_is_redacted() {
        let debug = format!("{:?}", load(&env(&[])).unwrap());
        assert!(!debug.contains("MII") && !debug.contains("MfKQ"), "{debug}");
    }
}
