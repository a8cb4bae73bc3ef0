//! The Worker's environment, validated once per isolate into a [`Config`].
//!
//! Problems are collected for every variable at once, so `/healthz` can list them all.
//! Messages name the variable and what is wrong with it, never its value.

use std::fmt;

use crate::baidu::cashier::CashierApi;
use crate::baidu::key::{parse_public_key, MerchantKey};
use crate::baidu::order_detail::ORDER_DETAIL_URL;
use crate::baidu::ordercenter::DEFAULT_OPENAPI_URL;
use crate::delivery::policy::{RetryPolicy, QUEUE_MAX_DELAY_SECONDS};
use crate::error::ApiError;
use crate::webhook::WebhookSecrets;
use rsa::PublicKey;

pub const WEBHOOK_SECRET: &str = "WEBHOOK_SECRET";
pub const BAIDU_RSA_PRIVATE_KEY: &str = "BAIDU_RSA_PRIVATE_KEY";
pub const BAIDU_PAY_APP_KEY: &str = "BAIDU_PAY_APP_KEY";
pub const BAIDU_CASHIER_API: &str = "BAIDU_CASHIER_API";
pub const BAIDU_CASHIER_URL: &str = "BAIDU_CASHIER_URL";
pub const BAIDU_TIMEOUT_MS: &str = "BAIDU_TIMEOUT_MS";
pub const BAIDU_APP_KEY: &str = "BAIDU_APP_KEY";
pub const BAIDU_APP_SECRET: &str = "BAIDU_APP_SECRET";
pub const BAIDU_OPENAPI_URL: &str = "BAIDU_OPENAPI_URL";
pub const ADMIN_TOKEN: &str = "ADMIN_TOKEN";
pub const RESULT_WEBHOOK_URL: &str = "RESULT_WEBHOOK_URL";
pub const RESULT_WEBHOOK_SECRET: &str = "RESULT_WEBHOOK_SECRET";
pub const MAX_ATTEMPTS: &str = "MAX_ATTEMPTS";
pub const RETRY_BASE_DELAY_SECONDS: &str = "RETRY_BASE_DELAY_SECONDS";
pub const RETRY_MAX_DELAY_SECONDS: &str = "RETRY_MAX_DELAY_SECONDS";
pub const LEDGER_RETENTION_DAYS: &str = "LEDGER_RETENTION_DAYS";
pub const BAIDU_PLATFORM_PUBLIC_KEY: &str = "BAIDU_PLATFORM_PUBLIC_KEY";
pub const EVENTS_WEBHOOK_URL: &str = "EVENTS_WEBHOOK_URL";
pub const EVENTS_WEBHOOK_SECRET: &str = "EVENTS_WEBHOOK_SECRET";
pub const BAIDU_PAYMENT_VERSION: &str = "BAIDU_PAYMENT_VERSION";
pub const BAIDU_CASHIER_REFUND_URL: &str = "BAIDU_CASHIER_REFUND_URL";
pub const BAIDU_REFUND_SKIP_AUDIT: &str = "BAIDU_REFUND_SKIP_AUDIT";
pub const ORDER_AMOUNT_CHECK: &str = "ORDER_AMOUNT_CHECK";
pub const BAIDU_PAYMENT_APP_ID: &str = "BAIDU_PAYMENT_APP_ID";
pub const BAIDU_ORDER_DETAIL_URL: &str = "BAIDU_ORDER_DETAIL_URL";

/// Every variable the relay reads, for the platform layer to look up.
pub const VARIABLES: [&str; 25] = [
    WEBHOOK_SECRET,
    BAIDU_RSA_PRIVATE_KEY,
    BAIDU_PAY_APP_KEY,
    BAIDU_CASHIER_API,
    BAIDU_CASHIER_URL,
    BAIDU_TIMEOUT_MS,
    BAIDU_APP_KEY,
    BAIDU_APP_SECRET,
    BAIDU_OPENAPI_URL,
    ADMIN_TOKEN,
    RESULT_WEBHOOK_URL,
    RESULT_WEBHOOK_SECRET,
    MAX_ATTEMPTS,
    RETRY_BASE_DELAY_SECONDS,
    RETRY_MAX_DELAY_SECONDS,
    LEDGER_RETENTION_DAYS,
    BAIDU_PLATFORM_PUBLIC_KEY,
    EVENTS_WEBHOOK_URL,
    EVENTS_WEBHOOK_SECRET,
    BAIDU_PAYMENT_VERSION,
    BAIDU_CASHIER_REFUND_URL,
    BAIDU_REFUND_SKIP_AUDIT,
    ORDER_AMOUNT_CHECK,
    BAIDU_PAYMENT_APP_ID,
    BAIDU_ORDER_DETAIL_URL,
];

/// How long finished deliveries stay in the ledger (and a webhook id is replayed) by default.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
const MAX_RETENTION_DAYS: u32 = 3_650;

pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
const MAX_TIMEOUT_MS: u32 = 120_000;

/// The validated environment. The shared part must be valid for the relay to serve at all;
/// each feature is validated on its own, so a merchant who only cancels verifications need
/// not configure the order center.
#[derive(Clone)]
pub struct Config {
    pub webhook_secrets: WebhookSecrets,
    pub upstream_timeout_ms: u32,
    pub retry_policy: RetryPolicy,
    /// Guards `/v1/deliveries/...`; unset or unusable, those routes answer `misconfigured`
    /// and nothing else is affected.
    pub admin_token: Feature<String>,
    /// Where queued deliveries report their outcome. Unusable, results are not posted (the
    /// ledger still has them) and `/healthz` says why; the webhook routes keep working.
    pub result_webhook: Feature<ResultWebhookConfig>,
    /// Days a finished delivery is kept; unusable, nothing is purged (and `/healthz` says
    /// why) while every route keeps working.
    pub retention_days: Feature<u32>,
    pub cashier: Feature<CashierConfig>,
    pub order_center: Feature<OrderCenterConfig>,
    /// Baidu's signed callbacks (payment, refund audit, refund result) and the merchant events
    /// they become.
    pub callbacks: Feature<CallbacksConfig>,
    /// How refunds are made: payment 1.0 (cashier, RSA) or 2.0 (access token). Unset, 1.0.
    pub refunds: Feature<RefundSettings>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("webhook_secrets", &self.webhook_secrets)
            .field("upstream_timeout_ms", &self.upstream_timeout_ms)
            .field("retry_policy", &self.retry_policy)
            .field("admin_token", &self.admin_token.state())
            .field("result_webhook", &self.result_webhook)
            .field("retention_days", &self.retention_days)
            .field("cashier", &self.cashier)
            .field("order_center", &self.order_center)
            .field("callbacks", &self.callbacks)
            .field("refunds", &self.refunds)
            .finish()
    }
}

impl Config {
    /// What merchant events are signed with (the first secret signs): `EVENTS_WEBHOOK_SECRET`,
    /// else the result webhooks' own secret, else `WEBHOOK_SECRET`.
    pub fn events_secrets<'a>(&'a self, callbacks: &'a CallbacksConfig) -> &'a WebhookSecrets {
        callbacks
            .own_secrets
            .as_ref()
            .or(match &self.result_webhook {
                Feature::Ready(result) => result.own_secrets.as_ref(),
                _ => None,
            })
            .unwrap_or(&self.webhook_secrets)
    }
}

/// Baidu's callbacks in, merchant events out.
#[derive(Debug, Clone)]
pub struct CallbacksConfig {
    /// Baidu's platform public key (平台公钥) of the payment service: it signs every callback.
    pub platform_key: PublicKey,
    /// Where merchant events (`baidu.payment.succeeded`, ...) are delivered.
    pub events_url: String,
    /// `EVENTS_WEBHOOK_SECRET`, when set.
    pub own_secrets: Option<WebhookSecrets>,
}

/// Which of Baidu's two payment integrations refunds go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaymentVersion {
    /// The cashier (收银台 1.0): `applyOrderRefund` signed with the merchant's RSA key; a full
    /// refund of a verified order cancels the verification first.
    #[default]
    V1,
    /// 收银台 2.0: `paymentservice/applyOrderRefund` with the access token.
    V2,
}

impl PaymentVersion {
    pub fn name(self) -> &'static str {
        match self {
            PaymentVersion::V1 => "1",
            PaymentVersion::V2 => "2",
        }
    }
}

/// Refund settings; every one has a default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefundSettings {
    pub version: PaymentVersion,
    /// 1.0's `applyOrderRefund` URL, when not derived from the cashier's.
    pub cashier_refund_url: Option<String>,
    /// 2.0's `isSkipAudit` (Baidu's 2.0 notes ask for 1).
    pub skip_audit: bool,
}

impl RefundSettings {
    fn defaults() -> Self {
        RefundSettings {
            version: PaymentVersion::V1,
            cashier_refund_url: None,
            skip_audit: true,
        }
    }

    /// 1.0's refund URL: the configured one; else, on the legacy gateway, the cashier URL itself
    /// (the signed `method` says what to do); else the cashier URL with its last segment
    /// `syncOrderStatus` replaced by `applyOrderRefund`, so one base URL (Baidu's or a sandbox's)
    /// serves both calls.
    pub fn cashier_refund_url(&self, cashier: &CashierConfig) -> String {
        if let Some(url) = &self.cashier_refund_url {
            return url.clone();
        }
        match cashier.api {
            CashierApi::Nuomi => cashier.url.clone(),
            CashierApi::Etrade => match cashier.url.strip_suffix("/syncOrderStatus") {
                Some(base) => format!("{base}/applyOrderRefund"),
                None => crate::baidu::refund::ETRADE_REFUND_URL.to_owned(),
            },
        }
    }
}

/// Cancel verification: the cashier API, signed with the merchant's RSA key.
#[derive(Debug, Clone)]
pub struct CashierConfig {
    pub merchant_key: MerchantKey,
    pub pay_app_key: String,
    pub api: CashierApi,
    pub url: String,
    /// Payment 1.0's status query, when `BAIDU_PAYMENT_APP_ID` is set: without it, a cancel
    /// verification or 1.0 refund whose outcome is unknown is sent again unchecked.
    pub order_detail: Option<OrderDetailSettings>,
}

/// Where and as whom to ask `queryorderdetail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderDetailSettings {
    /// The payment service's numeric APP ID (支付 APP ID).
    pub app_id: u64,
    pub url: String,
}

/// After-sale calls: the order center, with an access token from the smart program's
/// App Key and Secret.
#[derive(Clone)]
pub struct OrderCenterConfig {
    pub app_key: String,
    pub app_secret: String,
    pub pay_app_key: String,
    pub openapi_url: String,
    /// What a main order whose `Payment.Amount` breaks Baidu's formula gets.
    pub amount_check: AmountCheck,
}

/// `ORDER_AMOUNT_CHECK`: whether Baidu's `Payment.Amount` formula is enforced. Whether Baidu
/// itself refuses a mismatch is not documented, so a merchant whose orders Baidu takes anyway
/// can relay them and only see a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AmountCheck {
    /// Refused with `amount_mismatch` before anything is recorded or sent.
    #[default]
    Reject,
    /// Relayed as given; the request's log line carries the mismatch.
    Warn,
}

impl fmt::Debug for OrderCenterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderCenterConfig")
            .field("app_key", &self.app_key)
            .field("app_secret", &"[redacted]")
            .field("pay_app_key", &self.pay_app_key)
            .field("openapi_url", &self.openapi_url)
            .field("amount_check", &self.amount_check)
            .finish()
    }
}

/// Result webhooks: where they go, and what signs them.
#[derive(Debug, Clone)]
pub struct ResultWebhookConfig {
    pub url: String,
    /// `RESULT_WEBHOOK_SECRET`, when set.
    pub own_secrets: Option<WebhookSecrets>,
}

impl ResultWebhookConfig {
    /// What result webhooks are signed with (the first secret signs): their own secret, else
    /// `WEBHOOK_SECRET`, so that setting up result webhooks needs no new secret.
    pub fn signing_secrets<'a>(
        &'a self,
        webhook_secrets: &'a WebhookSecrets,
    ) -> &'a WebhookSecrets {
        self.own_secrets.as_ref().unwrap_or(webhook_secrets)
    }
}

/// Something worth knowing about a configuration that works: shown by `/healthz`, never a
/// reason for 503.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigNote {
    pub variable: &'static str,
    pub message: String,
}

/// A feature's configuration state.
#[derive(Debug, Clone)]
pub enum Feature<T> {
    Ready(T),
    /// None of the feature's own variables is set: the operator does not use it.
    Disabled {
        scope: Scope,
        missing: Vec<&'static str>,
    },
    Misconfigured(Vec<ConfigProblem>),
}

impl<T> Feature<T> {
    /// The configuration, or the `misconfigured` error naming what to set or fix.
    pub fn ready(&self) -> Result<&T, ApiError> {
        match self {
            Feature::Ready(config) => Ok(config),
            Feature::Disabled { missing, .. } => Err(ApiError::Misconfigured {
                variables: missing.clone(),
            }),
            Feature::Misconfigured(problems) => Err(ApiError::Misconfigured {
                variables: problems.iter().map(|p| p.variable).collect(),
            }),
        }
    }

    pub fn state(&self) -> &'static str {
        match self {
            Feature::Ready(_) => "ok",
            Feature::Disabled { .. } => "disabled",
            Feature::Misconfigured(_) => "misconfigured",
        }
    }

    fn missing_problems(&self) -> Vec<ConfigProblem> {
        match self {
            Feature::Disabled { scope, missing } => missing
                .iter()
                .map(|name| ConfigProblem {
                    unused_feature: true,
                    ..ConfigProblem::new(name, *scope, format!("{name} is not set"))
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// One thing wrong with one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub variable: &'static str,
    pub message: String,
    /// What the problem stops: everything, or one feature.
    pub scope: Scope,
    /// The variable belongs to a feature the operator does not use (none of its own
    /// variables is set): worth naming to a caller of that feature's routes, not in `/healthz`.
    pub unused_feature: bool,
}

/// The part of the relay a variable serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Shared,
    Cashier,
    OrderCenter,
    /// The operator's routes (`/v1/deliveries/...`).
    Admin,
    /// Result webhooks to the merchant's system.
    ResultWebhook,
    /// The scheduled purge of old deliveries.
    Retention,
    /// Baidu's callbacks and the merchant events they become.
    Callbacks,
    /// How refunds are made.
    Refunds,
}

impl ConfigProblem {
    fn new(variable: &'static str, scope: Scope, message: impl Into<String>) -> Self {
        Self {
            variable,
            scope,
            unused_feature: false,
            message: message.into(),
        }
    }
}

/// Reads variables, treating empty values as unset, and collects problems.
struct Reader<F> {
    lookup: F,
    problems: Vec<ConfigProblem>,
    scope: Scope,
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn problem(&mut self, variable: &'static str, message: impl Into<String>) {
        self.problems
            .push(ConfigProblem::new(variable, self.scope, message));
    }

    /// A required variable, parsed; records a problem when missing or invalid.
    fn required<T>(
        &mut self,
        name: &'static str,
        how_to_set: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match self.get(name) {
            None => {
                self.problem(name, format!("{name} is not set; {how_to_set}"));
                None
            }
            Some(value) => self.parsed(name, &value, parse),
        }
    }

    /// An optional variable, parsed, or the default.
    fn optional<T>(
        &mut self,
        name: &'static str,
        default: impl FnOnce() -> T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match self.get(name) {
            None => Some(default()),
            Some(value) => self.parsed(name, &value, parse),
        }
    }

    fn parsed<T>(
        &mut self,
        name: &'static str,
        value: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parse(value) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                self.problem(name, format!("{name}: {message}"));
                None
            }
        }
    }

    /// Runs one feature's validation with its own problem list.
    fn feature<T>(
        &mut self,
        scope: Scope,
        own_variables: &[&'static str],
        build: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Feature<T> {
        if !own_variables.iter().any(|name| self.is_set(name)) {
            return Feature::Disabled {
                scope,
                missing: own_variables.to_vec(),
            };
        }
        let outer = std::mem::take(&mut self.problems);
        self.scope = scope;
        let built = build(self);
        self.scope = Scope::Shared;
        let problems = std::mem::replace(&mut self.problems, outer);
        match built {
            Some(config) if problems.is_empty() => Feature::Ready(config),
            _ => Feature::Misconfigured(problems),
        }
    }
}

impl Config {
    /// Reads and validates every variable through `lookup`. Fails only when the shared part
    /// (the webhook secret, the timeout) is unusable; features carry their own state.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Vec<ConfigProblem>> {
        let mut env = Reader {
            lookup,
            problems: Vec::new(),
            scope: Scope::Shared,
        };
        let webhook_secrets = env.required(
            WEBHOOK_SECRET,
            "set it with `wrangler secret put WEBHOOK_SECRET` (whsec_<base64>)",
            |text| WebhookSecrets::parse(text).map_err(|e| e.to_string()),
        );
        let upstream_timeout_ms = env.optional(
            BAIDU_TIMEOUT_MS,
            || DEFAULT_TIMEOUT_MS,
            |text| {
                text.parse::<u32>()
                    .ok()
                    .filter(|ms| (1..=MAX_TIMEOUT_MS).contains(ms))
                    .ok_or_else(|| {
                        format!("must be a whole number of milliseconds from 1 to {MAX_TIMEOUT_MS}")
                    })
            },
        );

        let max_attempts = env.optional(
            MAX_ATTEMPTS,
            || RetryPolicy::default().max_attempts,
            |text| parse_in_range(text, 1, 100),
        );
        let base_delay = env.optional(
            RETRY_BASE_DELAY_SECONDS,
            || RetryPolicy::default().base_delay_seconds,
            |text| parse_in_range(text, 0, QUEUE_MAX_DELAY_SECONDS),
        );
        let max_delay = env.optional(
            RETRY_MAX_DELAY_SECONDS,
            || RetryPolicy::default().max_delay_seconds,
            |text| parse_in_range(text, 0, QUEUE_MAX_DELAY_SECONDS),
        );
        // Settings one part of the relay uses are features of their own: a broken one stops
        // that part only.
        let admin_token = env.feature(Scope::Admin, &[ADMIN_TOKEN], |env| {
            env.required(ADMIN_TOKEN, "", |token| {
                if token.len() >= 16 {
                    Ok(token.to_owned())
                } else {
                    Err("must be at least 16 characters; use a random one".to_owned())
                }
            })
        });
        let result_webhook = env.feature(
            Scope::ResultWebhook,
            &[RESULT_WEBHOOK_URL, RESULT_WEBHOOK_SECRET],
            |env| {
                let url = env.required(
                    RESULT_WEBHOOK_URL,
                    "RESULT_WEBHOOK_SECRET is, and signs nothing without it: set the URL result webhooks go to, or unset the secret",
                    parse_outbound_url,
                );
                let own_secrets = env.optional(
                    RESULT_WEBHOOK_SECRET,
                    || None,
                    |text| {
                        WebhookSecrets::parse(text)
                            .map(Some)
                            .map_err(|e| e.to_string())
                    },
                );
                Some(ResultWebhookConfig {
                    url: url?,
                    own_secrets: own_secrets?,
                })
            },
        );

        let retention_days = if env.is_set(LEDGER_RETENTION_DAYS) {
            env.feature(Scope::Retention, &[LEDGER_RETENTION_DAYS], |env| {
                env.required(LEDGER_RETENTION_DAYS, "", |text| {
                    parse_in_range(text, 1, MAX_RETENTION_DAYS)
                })
            })
        } else {
            Feature::Ready(DEFAULT_RETENTION_DAYS)
        };

        let cashier = env.feature(Scope::Cashier, &[BAIDU_RSA_PRIVATE_KEY], |env| {
            let merchant_key = env.required(
                BAIDU_RSA_PRIVATE_KEY,
                "set the merchant's RSA private key with `wrangler secret put BAIDU_RSA_PRIVATE_KEY`",
                |text| MerchantKey::parse(text).map_err(|e| e.to_string()),
            );
            let pay_app_key = required_pay_app_key(env);
            let api = env.optional(BAIDU_CASHIER_API, CashierApi::default, |name| {
                CashierApi::parse(name).ok_or_else(|| "must be `etrade` (default) or `nuomi`".to_owned())
            });
            let url = env.optional(
                BAIDU_CASHIER_URL,
                || api.unwrap_or_default().default_url().to_owned(),
                parse_outbound_url,
            );
            let app_id = env.optional(BAIDU_PAYMENT_APP_ID, || None, |text| {
                text.parse::<u64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .map(Some)
                    .ok_or_else(|| "must be the payment service's numeric APP ID (支付 APP ID, digits only) from Baidu's payment settings, not an App Key".to_owned())
            });
            let order_detail_url = env.optional(
                BAIDU_ORDER_DETAIL_URL,
                || ORDER_DETAIL_URL.to_owned(),
                parse_outbound_url,
            );
            let order_detail = match (app_id, order_detail_url) {
                (Some(app_id), Some(url)) => {
                    Some(app_id.map(|app_id| OrderDetailSettings { app_id, url }))
                }
                _ => None,
            };
            Some(CashierConfig {
                merchant_key: merchant_key?,
                pay_app_key: pay_app_key?,
                api: api?,
                url: url?,
                order_detail: order_detail?,
            })
        });

        let order_center = env.feature(
            Scope::OrderCenter,
            &[BAIDU_APP_KEY, BAIDU_APP_SECRET],
            |env| {
                let app_key = env.required(
                BAIDU_APP_KEY,
                "it is the smart program's App Key (32 characters) from Baidu's developer console",
                |text| {
                    if text.len() <= 64 && text.bytes().all(|b| b.is_ascii_alphanumeric()) {
                        Ok(text.to_owned())
                    } else {
                        Err(
                            "must be the smart program's App Key: letters and digits, usually 32"
                                .to_owned(),
                        )
                    }
                },
            );
                let app_secret = env.required(
                BAIDU_APP_SECRET,
                "set the smart program's App Secret with `wrangler secret put BAIDU_APP_SECRET`",
                |text| Ok(text.to_owned()),
            );
                let pay_app_key = required_pay_app_key(env);
                let openapi_url = env.optional(
                    BAIDU_OPENAPI_URL,
                    || DEFAULT_OPENAPI_URL.to_owned(),
                    parse_outbound_url,
                );
                let amount_check =
                    env.optional(
                        ORDER_AMOUNT_CHECK,
                        AmountCheck::default,
                        |text| match text {
                            "reject" => Ok(AmountCheck::Reject),
                            "warn" => Ok(AmountCheck::Warn),
                            _ => Err("must be `reject` (default) or `warn`".to_owned()),
                        },
                    );
                Some(OrderCenterConfig {
                    app_key: app_key?,
                    app_secret: app_secret?,
                    pay_app_key: pay_app_key?,
                    openapi_url: openapi_url?.trim_end_matches('/').to_owned(),
                    amount_check: amount_check?,
                })
            },
        );

        let callbacks = env.feature(
            Scope::Callbacks,
            &[BAIDU_PLATFORM_PUBLIC_KEY, EVENTS_WEBHOOK_URL, EVENTS_WEBHOOK_SECRET],
            |env| {
                let platform_key = env.required(
                    BAIDU_PLATFORM_PUBLIC_KEY,
                    "it is the payment service's platform public key (平台公钥) from Baidu's console, bare base64 or PEM; Baidu's callbacks are verified with it",
                    |text| {
                        parse_public_key(text).map_err(|e| {
                            format!("{e}; expected Baidu's platform public key (bare base64 SubjectPublicKeyInfo as the console shows it, or PEM)")
                        })
                    },
                );
                let events_url = env.required(
                    EVENTS_WEBHOOK_URL,
                    "set the URL merchant events (payments, refunds) are delivered to",
                    parse_outbound_url,
                );
                let own_secrets = env.optional(
                    EVENTS_WEBHOOK_SECRET,
                    || None,
                    |text| {
                        WebhookSecrets::parse(text)
                            .map(Some)
                            .map_err(|e| e.to_string())
                    },
                );
                Some(CallbacksConfig {
                    platform_key: platform_key?,
                    events_url: events_url?,
                    own_secrets: own_secrets?,
                })
            },
        );

        let refund_variables = [
            BAIDU_PAYMENT_VERSION,
            BAIDU_CASHIER_REFUND_URL,
            BAIDU_REFUND_SKIP_AUDIT,
        ];
        let refunds = if refund_variables.iter().any(|name| env.is_set(name)) {
            env.feature(Scope::Refunds, &refund_variables, |env| {
                let defaults = RefundSettings::defaults();
                let version = env.optional(
                    BAIDU_PAYMENT_VERSION,
                    || defaults.version,
                    |text| match text {
                        "1" | "1.0" => Ok(PaymentVersion::V1),
                        "2" | "2.0" => Ok(PaymentVersion::V2),
                        _ => Err("must be 1 (the cashier, RSA-signed; default) or 2 (收银台 2.0, access token)".to_owned()),
                    },
                );
                let cashier_refund_url =
                    env.optional(BAIDU_CASHIER_REFUND_URL, || None, |text| {
                        parse_outbound_url(text).map(Some)
                    });
                let skip_audit = env.optional(
                    BAIDU_REFUND_SKIP_AUDIT,
                    || defaults.skip_audit,
                    |text| match text {
                        "1" | "true" => Ok(true),
                        "0" | "false" => Ok(false),
                        _ => Err("must be 1 (default: Baidu skips the audit callback) or 0".to_owned()),
                    },
                );
                Some(RefundSettings {
                    version: version?,
                    cashier_refund_url: cashier_refund_url?,
                    skip_audit: skip_audit?,
                })
            })
        } else {
            Feature::Ready(RefundSettings::defaults())
        };

        match (
            webhook_secrets,
            upstream_timeout_ms,
            max_attempts,
            base_delay,
            max_delay,
        ) {
            (
                Some(webhook_secrets),
                Some(upstream_timeout_ms),
                Some(max_attempts),
                Some(base_delay_seconds),
                Some(max_delay_seconds),
            ) if env.problems.is_empty() => Ok(Config {
                webhook_secrets,
                upstream_timeout_ms,
                retry_policy: RetryPolicy {
                    max_attempts,
                    base_delay_seconds,
                    max_delay_seconds,
                },
                admin_token,
                result_webhook,
                retention_days,
                cashier,
                order_center,
                callbacks,
                refunds,
            }),
            _ => {
                // Report the features' problems too, so one look at /healthz shows everything.
                let mut problems = env.problems;
                // Also what each unused feature lacks: a webhook route answers `misconfigured`
                // naming everything it needs, whatever else is broken.
                problems.extend(feature_problems(&cashier));
                problems.extend(feature_problems(&order_center));
                problems.extend(feature_problems(&admin_token));
                problems.extend(feature_problems(&result_webhook));
                problems.extend(feature_problems(&retention_days));
                problems.extend(feature_problems(&callbacks));
                problems.extend(feature_problems(&refunds));
                problems.extend(cashier.missing_problems());
                problems.extend(order_center.missing_problems());
                Err(problems)
            }
        }
    }

    /// What `/healthz` points out about a working configuration.
    pub fn notes(&self) -> Vec<ConfigNote> {
        let mut notes = Vec::new();
        if let Feature::Ready(CashierConfig {
            order_detail: None, ..
        }) = &self.cashier
        {
            notes.push(ConfigNote {
                variable: BAIDU_PAYMENT_APP_ID,
                message: format!(
                    "{BAIDU_PAYMENT_APP_ID} is not set: a cancel verification or 1.0 refund whose answer was lost is sent again without first asking Baidu (queryorderdetail) whether the first one took effect, and GET /v1/orders answers only under payment 2.0. Set the payment service's numeric APP ID."
                ),
            });
        }
        if let Feature::Ready(ResultWebhookConfig {
            own_secrets: None, ..
        }) = &self.result_webhook
        {
            notes.push(ConfigNote {
                variable: RESULT_WEBHOOK_SECRET,
                message: format!(
                    "{RESULT_WEBHOOK_SECRET} is not set: result webhooks are signed with the first {WEBHOOK_SECRET}, the secret that also authenticates the webhooks the relay receives, so whoever can verify a result can also send the relay a webhook. Set a separate whsec_ secret for result webhooks."
                ),
            });
        }
        notes
    }

    /// Everything `/healthz` reports as wrong: each misconfigured feature's problems, and,
    /// when no feature is configured at all, what each one is missing.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = features_problems(&self.cashier, &self.order_center);
        problems.extend(feature_problems(&self.admin_token));
        problems.extend(feature_problems(&self.result_webhook));
        problems.extend(feature_problems(&self.retention_days));
        problems.extend(feature_problems(&self.callbacks));
        problems.extend(feature_problems(&self.refunds));
        problems
    }
}

/// The problems `/healthz` shows: an unused feature's missing variables only when no feature
/// is in use at all.
pub fn visible_problems(problems: &[ConfigProblem]) -> Vec<ConfigProblem> {
    let in_use = |scope: Scope| {
        // A feature is in use unless every problem it has is an unused-feature one (and it has some).
        let own: Vec<&ConfigProblem> = problems.iter().filter(|p| p.scope == scope).collect();
        own.is_empty() || own.iter().any(|p| !p.unused_feature)
    };
    let none_in_use = !in_use(Scope::Cashier) && !in_use(Scope::OrderCenter);
    problems
        .iter()
        .filter(|p| none_in_use || !p.unused_feature)
        .cloned()
        .collect()
}

/// Each misconfigured feature's problems, and, when no feature is configured at all, what
/// each one is missing.
fn features_problems(
    cashier: &Feature<CashierConfig>,
    order_center: &Feature<OrderCenterConfig>,
) -> Vec<ConfigProblem> {
    let mut problems = feature_problems(cashier);
    problems.extend(feature_problems(order_center));
    if matches!(cashier, Feature::Disabled { .. })
        && matches!(order_center, Feature::Disabled { .. })
    {
        problems.extend(cashier.missing_problems());
        problems.extend(order_center.missing_problems());
    }
    problems
}

fn feature_problems<T>(feature: &Feature<T>) -> Vec<ConfigProblem> {
    match feature {
        Feature::Misconfigured(problems) => problems.clone(),
        _ => Vec::new(),
    }
}

fn required_pay_app_key<F: Fn(&str) -> Option<String>>(env: &mut Reader<F>) -> Option<String> {
    env.required(
        BAIDU_PAY_APP_KEY,
        "it is the payment service's appKey from Baidu's console (looks like MMMzaA)",
        |value| {
            if value.len() <= 64
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                Ok(value.to_owned())
            } else {
                Err("must be the payment appKey: up to 64 letters, digits, '_' or '-'".to_owned())
            }
        },
    )
}

fn parse_in_range(text: &str, min: u32, max: u32) -> Result<u32, String> {
    text.parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("must be a whole number from {min} to {max}"))
}

/// What every outbound URL must be, for the problem message (never the value itself).
const OUTBOUND_URL_RULE: &str = "https:// is required; plain http:// is accepted only for loopback hosts (127.0.0.0/8, localhost, [::1])";

/// A URL the relay sends credentials or signed data to: `https://`, or `http://` to a
/// loopback host (the local sandbox, the tests), where nothing crosses a network.
///
/// Checked by hand rather than with a URL parser, which would bring its IDNA tables into the
/// Worker; so anything `fetch` might read differently is refused rather than interpreted: the
/// host ends at the first `/`, `?` or `#`, and a backslash (another end of the host for
/// `fetch`), whitespace or a control character anywhere is refused, as is `@` in the host part
/// (`http://127.0.0.1@example.com` goes to example.com; and `fetch` refuses credentials).
fn parse_outbound_url(text: &str) -> Result<String, String> {
    let not_a_url = || format!("must be an absolute URL; {OUTBOUND_URL_RULE}");
    if text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err(not_a_url());
    }
    let (scheme, rest) = text.split_once("://").ok_or_else(not_a_url)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(format!(
            "must not carry a user name or password (user:password@ before the host); {OUTBOUND_URL_RULE}"
        ));
    }
    if authority.is_empty() {
        return Err(not_a_url());
    }
    if scheme.eq_ignore_ascii_case("https") {
        Ok(text.to_owned())
    } else if scheme.eq_ignore_ascii_case("http") {
        if is_loopback_authority(authority) {
            Ok(text.to_owned())
        } else {
            Err(OUTBOUND_URL_RULE.to_owned())
        }
    } else {
        Err(not_a_url())
    }
}

/// `localhost`, `[::1]` or `127.x.y.z` in plain decimal, with an optional port. Only the
/// plainest spellings: `fetch` reads `0127.0.0.1` as octal (87.0.0.1), so a leading zero
/// is refused, and so is every other form a URL parser might take for another host.
fn is_loopback_authority(authority: &str) -> bool {
    let (host, after_host) = match authority.find(']') {
        Some(end) => authority.split_at(end + 1),
        None => authority.split_at(authority.find(':').unwrap_or(authority.len())),
    };
    let port_ok = after_host.is_empty()
        || after_host.strip_prefix(':').is_some_and(|port| {
            (1..=5).contains(&port.len())
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u32>().is_ok_and(|n| n <= 65_535)
        });
    let host_ok = host.eq_ignore_ascii_case("localhost") || host == "[::1]" || {
        let octets: Vec<&str> = host.split('.').collect();
        octets.len() == 4
            && octets[0] == "127"
            && octets.iter().all(|octet| {
                !octet.is_empty()
                    && octet.len() <= 3
                    && octet.bytes().all(|b| b.is_ascii_digit())
                    && (octet.len() == 1 || !octet.starts_with('0'))
                    && octet.parse::<u16>().is_ok_and(|n| n <= 255)
            })
    };
    port_ok && host_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY: &str = include_str!("../tests/vectors/keys/test-2048.pkcs1.pem");
    const PUBLIC_KEY: &str = include_str!("../tests/vectors/keys/test-2048.pub.pem");
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const APP_KEY: &str = "4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c";

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut map: HashMap<String, String> = [
            (WEBHOOK_SECRET, SECRET),
            (BAIDU_RSA_PRIVATE_KEY, KEY),
            (BAIDU_PAY_APP_KEY, "MMMzaA"),
            (BAIDU_PAYMENT_APP_ID, "1234567"),
            (BAIDU_APP_KEY, APP_KEY),
            (BAIDU_APP_SECRET, "app-secret-value"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            if v.is_empty() {
                map.remove(*k);
            } else {
                map.insert(k.to_string(), v.to_string());
            }
        }
        map
    }

    fn load(map: &HashMap<String, String>) -> Result<Config, Vec<ConfigProblem>> {
        Config::from_env(|name| map.get(name).cloned())
    }

    fn variables(problems: &[ConfigProblem]) -> Vec<&'static str> {
        problems.iter().map(|p| p.variable).collect()
    }

    #[test]
    fn full_environment_uses_defaults() {
        let config = load(&env(&[])).unwrap();
        let cashier = config.cashier.ready().unwrap();
        assert_eq!(cashier.api, CashierApi::Etrade);
        assert_eq!(
            cashier.url,
            "https://etrade-api.baidu.com/cashier/syncOrderStatus"
        );
        assert_eq!(cashier.merchant_key.bits(), 2048);
        let order_center = config.order_center.ready().unwrap();
        assert_eq!(order_center.openapi_url, "https://openapi.baidu.com");
        assert_eq!(order_center.pay_app_key, "MMMzaA");
        assert_eq!(config.upstream_timeout_ms, DEFAULT_TIMEOUT_MS);
        assert!(config.problems().is_empty());
    }

    #[test]
    fn the_amount_check_rejects_by_default_warns_when_asked_and_refuses_other_values() {
        let order_center = |pairs: &[(&'static str, &'static str)]| {
            load(&env(pairs)).unwrap().order_center.clone()
        };
        assert_eq!(
            order_center(&[]).ready().unwrap().amount_check,
            AmountCheck::Reject
        );
        assert_eq!(
            order_center(&[(ORDER_AMOUNT_CHECK, "warn")])
                .ready()
                .unwrap()
                .amount_check,
            AmountCheck::Warn
        );
        match order_center(&[(ORDER_AMOUNT_CHECK, "off")]).ready() {
            Err(ApiError::Misconfigured { variables }) => {
                assert_eq!(variables, vec![ORDER_AMOUNT_CHECK])
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nuomi_and_overrides() {
        let config = load(&env(&[
            (BAIDU_CASHIER_API, "nuomi"),
            (BAIDU_TIMEOUT_MS, "500"),
            (BAIDU_OPENAPI_URL, "http://127.0.0.1:9/"),
        ]))
        .unwrap();
        assert_eq!(
            config.cashier.ready().unwrap().url,
            "https://nop.nuomi.com/nop/server/rest"
        );
        assert_eq!(config.upstream_timeout_ms, 500);
        assert_eq!(
            config.order_center.ready().unwrap().openapi_url,
            "http://127.0.0.1:9"
        );
        let config = load(&env(&[(
            BAIDU_CASHIER_URL,
            "http://127.0.0.1:8788/cashier/syncOrderStatus",
        )]))
        .unwrap();
        assert_eq!(
            config.cashier.ready().unwrap().url,
            "http://127.0.0.1:8788/cashier/syncOrderStatus"
        );
    }

    #[test]
    fn an_unused_feature_is_disabled_not_a_problem() {
        let config = load(&env(&[(BAIDU_APP_KEY, ""), (BAIDU_APP_SECRET, "")])).unwrap();
        assert!(config.cashier.ready().is_ok());
        assert_eq!(config.order_center.state(), "disabled");
        assert_eq!(
            config.order_center.ready().unwrap_err(),
            ApiError::Misconfigured {
                variables: vec![BAIDU_APP_KEY, BAIDU_APP_SECRET]
            }
        );
        assert!(config.problems().is_empty());

        let config = load(&env(&[(BAIDU_RSA_PRIVATE_KEY, "")])).unwrap();
        assert_eq!(config.cashier.state(), "disabled");
        assert!(config.order_center.ready().is_ok());
        assert!(config.problems().is_empty());
    }

    #[test]
    fn nothing_configured_names_what_each_feature_misses() {
        let config = load(&env(&[
            (BAIDU_RSA_PRIVATE_KEY, ""),
            (BAIDU_APP_KEY, ""),
            (BAIDU_APP_SECRET, ""),
        ]))
        .unwrap();
        assert_eq!(
            variables(&config.problems()),
            vec![BAIDU_RSA_PRIVATE_KEY, BAIDU_APP_KEY, BAIDU_APP_SECRET]
        );
    }

    #[test]
    fn a_half_configured_feature_is_misconfigured() {
        let config = load(&env(&[(BAIDU_APP_SECRET, ""), (BAIDU_PAY_APP_KEY, "")])).unwrap();
        assert_eq!(config.cashier.state(), "misconfigured");
        assert_eq!(config.order_center.state(), "misconfigured");
        assert_eq!(
            variables(&config.problems()),
            vec![BAIDU_PAY_APP_KEY, BAIDU_APP_SECRET, BAIDU_PAY_APP_KEY]
        );
        assert_eq!(
            config.order_center.ready().unwrap_err(),
            ApiError::Misconfigured {
                variables: vec![BAIDU_APP_SECRET, BAIDU_PAY_APP_KEY]
            }
        );
    }

    #[test]
    fn delivery_settings_have_defaults_and_bounds() {
        let config = load(&env(&[])).unwrap();
        assert_eq!(config.retry_policy, RetryPolicy::default());
        assert_eq!(config.admin_token.state(), "disabled");
        assert_eq!(config.result_webhook.state(), "disabled");
        let config = load(&env(&[
            (MAX_ATTEMPTS, "3"),
            (RETRY_BASE_DELAY_SECONDS, "0"),
            (RETRY_MAX_DELAY_SECONDS, "1"),
            (ADMIN_TOKEN, "a-long-random-admin-token"),
            (RESULT_WEBHOOK_URL, "http://127.0.0.1:1/results"),
        ]))
        .unwrap();
        assert_eq!(
            config.retry_policy,
            RetryPolicy {
                max_attempts: 3,
                base_delay_seconds: 0,
                max_delay_seconds: 1
            }
        );
        assert_eq!(
            config.admin_token.ready().map(String::as_str),
            Ok("a-long-random-admin-token")
        );
        assert_eq!(
            config
                .result_webhook
                .ready()
                .map(|result| result.url.as_str()),
            Ok("http://127.0.0.1:1/results")
        );
        assert!(!format!("{config:?}").contains("a-long-random"));
        let problems = load(&env(&[
            (MAX_ATTEMPTS, "0"),
            (RETRY_BASE_DELAY_SECONDS, "50000"),
        ]))
        .unwrap_err();
        assert_eq!(
            variables(&problems),
            vec![MAX_ATTEMPTS, RETRY_BASE_DELAY_SECONDS]
        );
    }

    #[test]
    fn a_broken_admin_token_or_result_url_breaks_only_what_uses_it() {
        let config = load(&env(&[
            (ADMIN_TOKEN, "short"),
            (RESULT_WEBHOOK_URL, "nope"),
        ]))
        .unwrap();
        assert!(config.cashier.ready().is_ok());
        assert!(config.order_center.ready().is_ok());
        assert_eq!(config.admin_token.state(), "misconfigured");
        assert_eq!(config.result_webhook.state(), "misconfigured");
        let problems = config.problems();
        let scopes: Vec<(&str, Scope)> = problems.iter().map(|p| (p.variable, p.scope)).collect();
        assert_eq!(
            scopes,
            vec![
                (ADMIN_TOKEN, Scope::Admin),
                (RESULT_WEBHOOK_URL, Scope::ResultWebhook)
            ]
        );
        assert!(!problems[0].message.contains("short"));
    }

    /// Whether a result webhook signed with `config`'s signing secrets verifies with `secret`.
    fn result_verifies_with(config: &Config, secret: &str) -> bool {
        let signing = config
            .result_webhook
            .ready()
            .unwrap()
            .signing_secrets(&config.webhook_secrets);
        let signature = crate::webhook::sign(signing, "evt_1", 1_700_000_000, b"{}");
        crate::webhook::verify(
            &WebhookSecrets::parse(secret).unwrap(),
            crate::webhook::WebhookHeaders {
                id: Some("evt_1"),
                timestamp: Some("1700000000"),
                signature: Some(&signature),
            },
            b"{}",
            1_700_000_000,
        )
        .is_ok()
    }

    #[test]
    fn result_webhooks_have_a_secret_of_their_own_or_fall_back_with_a_note() {
        const RESULT_SECRET: &str = "whsec_cmVzdWx0LXdlYmhvb2stc2VjcmV0LTMy";
        const NEXT_RESULT_SECRET: &str = "whsec_bmV4dC1yZXN1bHQtd2ViaG9vay1zZWNyZXQ=";
        let url = (RESULT_WEBHOOK_URL, "https://orders.example.com/results");

        let own = load(&env(&[url, (RESULT_WEBHOOK_SECRET, RESULT_SECRET)])).unwrap();
        assert!(result_verifies_with(&own, RESULT_SECRET));
        assert!(!result_verifies_with(&own, SECRET));
        assert_eq!(own.notes(), vec![]);
        assert!(!format!("{own:?}").contains("cmVzdWx0"));

        // During a rotation the first secret signs.
        let rotating = format!("{RESULT_SECRET} {NEXT_RESULT_SECRET}");
        let rotating = load(&env(&[url, (RESULT_WEBHOOK_SECRET, &rotating)])).unwrap();
        assert!(result_verifies_with(&rotating, RESULT_SECRET));
        assert!(!result_verifies_with(&rotating, NEXT_RESULT_SECRET));

        let shared = load(&env(&[url])).unwrap();
        assert!(result_verifies_with(&shared, SECRET));
        let notes = shared.notes();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].variable, RESULT_WEBHOOK_SECRET);
        assert!(
            notes[0].message.contains(WEBHOOK_SECRET) && notes[0].message.contains("whsec_"),
            "{}",
            notes[0].message
        );
        assert!(shared.problems().is_empty());

        // Without result webhooks, nothing to point out.
        assert_eq!(load(&env(&[])).unwrap().notes(), vec![]);
    }

    #[test]
    fn the_status_query_needs_the_numeric_payment_app_id_and_its_absence_is_a_note() {
        let config = load(&env(&[])).unwrap();
        let cashier = config.cashier.ready().unwrap();
        assert_eq!(
            cashier.order_detail,
            Some(OrderDetailSettings {
                app_id: 1234567,
                url: ORDER_DETAIL_URL.to_owned()
            })
        );
        let moved = load(&env(&[(
            BAIDU_ORDER_DETAIL_URL,
            "http://127.0.0.1:9/queryorderdetail",
        )]))
        .unwrap();
        assert_eq!(
            moved
                .cashier
                .ready()
                .unwrap()
                .order_detail
                .as_ref()
                .unwrap()
                .url,
            "http://127.0.0.1:9/queryorderdetail"
        );

        let without = load(&env(&[(BAIDU_PAYMENT_APP_ID, "")])).unwrap();
        assert_eq!(without.cashier.ready().unwrap().order_detail, None);
        let notes = without.notes();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].variable, BAIDU_PAYMENT_APP_ID);
        assert!(notes[0].message.contains("queryorderdetail"));

        for bad in ["MMMzaA", "0", "-3", "12.5"] {
            let config = load(&env(&[(BAIDU_PAYMENT_APP_ID, bad)])).unwrap();
            match &config.cashier {
                Feature::Misconfigured(problems) => {
                    assert_eq!(variables(problems), [BAIDU_PAYMENT_APP_ID], "{bad}");
                    assert!(problems[0].message.contains("numeric APP ID"));
                }
                other => panic!("{bad}: {other:?}"),
            }
            assert!(
                config.order_center.ready().is_ok(),
                "only the cashier stops"
            );
        }
    }

    #[test]
    fn retention_defaults_to_thirty_days_and_a_bad_value_stops_only_the_purge() {
        let config = load(&env(&[])).unwrap();
        assert_eq!(config.retention_days.ready().ok(), Some(&30));
        let config = load(&env(&[(LEDGER_RETENTION_DAYS, "1")])).unwrap();
        assert_eq!(config.retention_days.ready().ok(), Some(&1));
        let config = load(&env(&[(LEDGER_RETENTION_DAYS, "3650")])).unwrap();
        assert_eq!(config.retention_days.ready().ok(), Some(&3650));
        // Empty is unset, as for every variable.
        let config = load(&env(&[(LEDGER_RETENTION_DAYS, "")])).unwrap();
        assert_eq!(config.retention_days.ready().ok(), Some(&30));
        for bad in ["0", "3651", "thirty", "-1", "1.5"] {
            let config = load(&env(&[(LEDGER_RETENTION_DAYS, bad)])).unwrap();
            assert!(config.cashier.ready().is_ok() && config.order_center.ready().is_ok());
            assert!(config.retention_days.ready().is_err(), "{bad:?}");
            let problems = config.problems();
            assert_eq!(variables(&problems), vec![LEDGER_RETENTION_DAYS], "{bad:?}");
            assert_eq!(problems[0].scope, Scope::Retention);
            assert!(
                problems[0].message.contains("1 to 3650"),
                "{}",
                problems[0].message
            );
        }
    }

    #[test]
    fn a_broken_result_webhook_secret_stops_only_result_webhooks() {
        let config = load(&env(&[
            (RESULT_WEBHOOK_URL, "https://orders.example.com/results"),
            (RESULT_WEBHOOK_SECRET, "whsec_***not-base64-secret***"),
        ]))
        .unwrap();
        assert!(config.cashier.ready().is_ok() && config.order_center.ready().is_ok());
        assert_eq!(config.result_webhook.state(), "misconfigured");
        let problems = config.problems();
        assert_eq!(variables(&problems), vec![RESULT_WEBHOOK_SECRET]);
        assert_eq!(problems[0].scope, Scope::ResultWebhook);
        assert!(problems[0].message.starts_with(RESULT_WEBHOOK_SECRET));
        assert!(!problems[0].message.contains("not-base64-secret"));
        assert_eq!(config.notes(), vec![]);

        // A secret without a URL signs nothing: that is a half-configured feature.
        let config = load(&env(&[(
            RESULT_WEBHOOK_SECRET,
            "whsec_cmVzdWx0LXdlYmhvb2stc2VjcmV0LTMy",
        )]))
        .unwrap();
        assert_eq!(config.result_webhook.state(), "misconfigured");
        let problems = config.problems();
        assert_eq!(variables(&problems), vec![RESULT_WEBHOOK_URL]);
        assert!(
            problems[0].message.contains(RESULT_WEBHOOK_SECRET),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn problems_carry_the_scope_they_stop() {
        let shared = load(&env(&[
            (WEBHOOK_SECRET, ""),
            (BAIDU_RSA_PRIVATE_KEY, "junk"),
            (BAIDU_APP_SECRET, ""),
        ]))
        .unwrap_err();
        let scopes: Vec<(&str, Scope)> = shared.iter().map(|p| (p.variable, p.scope)).collect();
        assert_eq!(
            scopes,
            vec![
                (WEBHOOK_SECRET, Scope::Shared),
                (BAIDU_RSA_PRIVATE_KEY, Scope::Cashier),
                (BAIDU_APP_SECRET, Scope::OrderCenter),
            ]
        );
        let nothing = load(&env(&[
            (BAIDU_RSA_PRIVATE_KEY, ""),
            (BAIDU_APP_KEY, ""),
            (BAIDU_APP_SECRET, ""),
        ]))
        .unwrap();
        let scopes: Vec<Scope> = nothing.problems().iter().map(|p| p.scope).collect();
        assert_eq!(
            scopes,
            vec![Scope::Cashier, Scope::OrderCenter, Scope::OrderCenter]
        );
    }

    #[test]
    fn with_the_shared_part_broken_unused_features_still_name_their_variables() {
        let problems = load(&env(&[
            (WEBHOOK_SECRET, ""),
            (BAIDU_APP_KEY, ""),
            (BAIDU_APP_SECRET, ""),
        ]))
        .unwrap_err();
        let scoped: Vec<(&str, Scope)> = problems.iter().map(|p| (p.variable, p.scope)).collect();
        assert_eq!(
            scoped,
            vec![
                (WEBHOOK_SECRET, Scope::Shared),
                (BAIDU_APP_KEY, Scope::OrderCenter),
                (BAIDU_APP_SECRET, Scope::OrderCenter),
            ]
        );
    }

    #[test]
    fn healthz_hides_unused_features_unless_nothing_is_used() {
        let problems = load(&env(&[
            (WEBHOOK_SECRET, ""),
            (BAIDU_APP_KEY, ""),
            (BAIDU_APP_SECRET, ""),
        ]))
        .unwrap_err();
        assert_eq!(
            variables(&visible_problems(&problems)),
            vec![WEBHOOK_SECRET]
        );
        let problems = load(&env(&[
            (WEBHOOK_SECRET, ""),
            (BAIDU_RSA_PRIVATE_KEY, ""),
            (BAIDU_APP_KEY, ""),
            (BAIDU_APP_SECRET, ""),
        ]))
        .unwrap_err();
        assert_eq!(
            variables(&visible_problems(&problems)),
            vec![
                WEBHOOK_SECRET,
                BAIDU_RSA_PRIVATE_KEY,
                BAIDU_APP_KEY,
                BAIDU_APP_SECRET
            ]
        );
        let ok = load(&env(&[(BAIDU_APP_KEY, ""), (BAIDU_APP_SECRET, "")])).unwrap();
        assert!(visible_problems(&ok.problems()).is_empty());
    }

    #[test]
    fn every_problem_is_reported_at_once_by_name() {
        let config = load(&env(&[
            (BAIDU_CASHIER_API, "foo"),
            (BAIDU_CASHIER_URL, "ftp://x"),
            (BAIDU_PAY_APP_KEY, "has space"),
            (BAIDU_APP_KEY, "not/a/key"),
            (BAIDU_OPENAPI_URL, "openapi.baidu.com"),
        ]))
        .unwrap();
        assert_eq!(
            variables(&config.problems()),
            vec![
                BAIDU_PAY_APP_KEY,
                BAIDU_CASHIER_API,
                BAIDU_CASHIER_URL,
                BAIDU_APP_KEY,
                BAIDU_PAY_APP_KEY,
                BAIDU_OPENAPI_URL
            ]
        );
        let shared = load(&env(&[
            (WEBHOOK_SECRET, ""),
            (BAIDU_TIMEOUT_MS, "0"),
            (BAIDU_APP_SECRET, ""),
        ]))
        .unwrap_err();
        assert_eq!(
            variables(&shared),
            vec![WEBHOOK_SECRET, BAIDU_TIMEOUT_MS, BAIDU_APP_SECRET]
        );
    }

    #[test]
    fn outbound_urls_are_https_or_plain_http_to_loopback() {
        for accepted in [
            "https://openapi.baidu.com",
            "HTTPS://etrade-api.baidu.com/cashier/syncOrderStatus",
            "https://orders.example.com:8443/results?x=1",
            "http://127.0.0.1:8788/cashier/syncOrderStatus",
            "http://127.1.2.3/",
            "HTTP://127.0.0.1/results",
            "http://localhost:8788",
            "http://LOCALHOST/",
            "http://[::1]:8788/relay-results",
            "http://[::1]",
            "http://127.0.0.1:65535?x#y",
        ] {
            assert_eq!(
                parse_outbound_url(accepted).as_deref(),
                Ok(accepted),
                "{accepted}"
            );
        }
        for (refused, why) in [
            ("http://example.com", "plain http to the Internet"),
            ("HTTP://example.com/", "uppercase scheme"),
            (
                "http://127.0.0.1.example.com",
                "a name that starts like loopback",
            ),
            (
                "http://localhost.example.com",
                "a name that starts like localhost",
            ),
            (
                "http://127.0.0.1@evil.example",
                "userinfo hiding the real host",
            ),
            (
                "http://localhost:8788@evil.example/",
                "userinfo with a port",
            ),
            (
                r"http://evil.example\@127.0.0.1/",
                "a backslash ends the host",
            ),
            ("http://128.0.0.1/", "outside 127.0.0.0/8"),
            ("http://0127.0.0.1/", "octal to fetch: 87.0.0.1"),
            ("http://127.0.0.1.:80/", "a trailing dot"),
            ("http://2130706433/", "loopback as one number"),
            ("http://127.0.0.1:99999/", "no such port"),
            ("http://[::1]x/", "junk after the address"),
            ("http://127.0.0.1%2e.example.com/", "percent-encoded dot"),
            ("http://[::2]/", "not ::1"),
            ("http://user:password@127.0.0.1/", "credentials in the URL"),
            ("https://user@orders.example.com/", "credentials in the URL"),
            ("ftp://127.0.0.1/", "another scheme"),
            ("openapi.baidu.com", "not absolute"),
            ("https://", "no host"),
            ("https://openapi.baidu.com/a b", "whitespace"),
        ] {
            let message = parse_outbound_url(refused).expect_err(why);
            assert!(!message.contains("example"), "{why}: {message}");
        }
        assert!(parse_outbound_url("http://example.com")
            .unwrap_err()
            .contains("https:// is required; plain http:// is accepted only for loopback hosts"));
    }

    #[test]
    fn a_plain_http_url_off_loopback_stops_what_uses_it() {
        let config = load(&env(&[
            (
                BAIDU_CASHIER_URL,
                "http://etrade-api.example.com/cashier/syncOrderStatus",
            ),
            (BAIDU_OPENAPI_URL, "http://127.0.0.1.example.com"),
            (
                RESULT_WEBHOOK_URL,
                "http://127.0.0.1@orders.example.com/results",
            ),
        ]))
        .unwrap();
        assert_eq!(config.cashier.state(), "misconfigured");
        assert_eq!(config.order_center.state(), "misconfigured");
        assert_eq!(config.result_webhook.state(), "misconfigured");
        let problems = config.problems();
        let scopes: Vec<(&str, Scope)> = problems.iter().map(|p| (p.variable, p.scope)).collect();
        assert_eq!(
            scopes,
            vec![
                (BAIDU_CASHIER_URL, Scope::Cashier),
                (BAIDU_OPENAPI_URL, Scope::OrderCenter),
                (RESULT_WEBHOOK_URL, Scope::ResultWebhook),
            ]
        );
        for problem in &problems {
            assert!(
                problem.message.contains("https:// is required")
                    && problem.message.contains("loopback"),
                "{}",
                problem.message
            );
            assert!(!problem.message.contains("example"), "{}", problem.message);
        }
        // A bad result URL alone leaves the webhook routes working.
        let config = load(&env(&[(
            RESULT_WEBHOOK_URL,
            "http://orders.example.com/results",
        )]))
        .unwrap();
        assert!(config.cashier.ready().is_ok() && config.order_center.ready().is_ok());
        assert_eq!(variables(&config.problems()), vec![RESULT_WEBHOOK_URL]);
    }

    #[test]
    fn problems_never_echo_values() {
        let config = load(&env(&[(BAIDU_RSA_PRIVATE_KEY, PUBLIC_KEY)])).unwrap();
        let problems = config.problems();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("public key"));
        assert!(!problems[0].message.contains("MII"));
        let shared = load(&env(&[(WEBHOOK_SECRET, "whsec_***secret-value***")])).unwrap_err();
        assert!(
            !shared[0].message.contains("secret-value"),
            "{}",
            shared[0].message
        );
        for problem in problems.iter().chain(&shared) {
            assert!(problem.message.starts_with(problem.variable));
        }
    }

    #[test]
    fn debug_output_is_redacted() {
        let debug = format!("{:?}", load(&env(&[])).unwrap());
        assert!(
            !debug.contains("MII")
                && !debug.contains("MfKQ")
                && !debug.contains("app-secret-value"),
            "{debug}"
        );
    }
}
