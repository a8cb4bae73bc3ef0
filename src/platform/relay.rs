//! Relaying one validated webhook to Baidu: the same code for the first, synchronous
//! attempt and for every retry from the queue.

use serde_json::Value;
use worker::Env;

use super::isolate::Isolate;
use super::upstream;
use crate::baidu::cashier::{self, CancelVerification, CashierTarget};
use crate::baidu::ordercenter::{
    self, AfterSaleOrders, OrderCenterCall, OrderCenterOutcome, OrderCenterTarget,
};
use crate::baidu::sign::encode_signature;
use crate::config::Config;
use crate::error::ApiError;
use crate::inbound::{self, Route};
use crate::log::RequestLog;

/// A webhook's body, validated for its route.
pub enum Job {
    CancelVerification(CancelVerification),
    AfterSale(OrderCenterCall, AfterSaleOrders),
}

/// Validates the body for its route: every 4xx the merchant can fix, before anything is
/// recorded or sent.
pub fn validate(route: Route, body: &[u8], config: &Config) -> Result<Job, ApiError> {
    match route {
        Route::CancelVerification => {
            config.cashier.ready()?;
            Ok(Job::CancelVerification(
                inbound::cancel_verification::parse(body)?,
            ))
        }
        Route::AfterSale(call) => {
            let order_center = config.order_center.ready()?;
            Ok(Job::AfterSale(
                call,
                inbound::after_sale::parse(body, call, &order_center.app_key)?,
            ))
        }
        _ => Err(ApiError::NotFound),
    }
}

/// One attempt: `Ok` with Baidu's answer, or why it failed.
pub async fn perform(
    job: &Job,
    config: &Config,
    env: &Env,
    isolate: &Isolate,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    match job {
        Job::CancelVerification(input) => cancel_verification(input, config, isolate, log).await,
        Job::AfterSale(call, orders) => after_sale(*call, orders, config, env, isolate, log).await,
    }
}

async fn cancel_verification(
    input: &CancelVerification,
    config: &Config,
    isolate: &Isolate,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let cashier = config.cashier.ready()?;
    let form = input.form(CashierTarget {
        api: cashier.api,
        url: &cashier.url,
        pay_app_key: &cashier.pay_app_key,
    });
    let signer = isolate
        .signer(cashier)
        .await
        .map_err(|_| ApiError::Internal)?;
    let signature = signer
        .sign(form.canonical_string().as_bytes())
        .await
        .map_err(|_| ApiError::Internal)?;
    let request = form.into_request(&encode_signature(&signature));

    let answer = upstream::send(&request, config.upstream_timeout_ms).await;
    log.upstream_status = answer.as_ref().ok().map(|response| response.status);
    let result = cashier::classify_answer(&answer);
    log.baidu_errno = errno_of(&result);
    result
}

/// An order-center call with a managed token: refreshed and retried once if Baidu says the
/// token is invalid or expired.
async fn after_sale(
    call: OrderCenterCall,
    orders: &AfterSaleOrders,
    config: &Config,
    env: &Env,
    isolate: &Isolate,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let order_center = config.order_center.ready()?;
    let target = OrderCenterTarget {
        openapi_url: &order_center.openapi_url,
        pay_app_key: &order_center.pay_app_key,
    };
    let timeout = config.upstream_timeout_ms;
    let (mut token, source) = isolate.tokens.get(order_center, env, timeout, None).await?;
    log.token_source = Some(source.as_str());
    log.token_last4 = Some(token.last4().to_owned());
    loop {
        let request = ordercenter::build_request(call, orders, target, &token);
        let answer = upstream::send(&request, timeout).await;
        log.upstream_status = answer.as_ref().ok().map(|response| response.status);
        let result = match ordercenter::classify_answer(&answer) {
            OrderCenterOutcome::Delivered(baidu) => Ok(baidu),
            OrderCenterOutcome::TokenExpired(_) if !log.token_refreshed => {
                log.token_refreshed = true;
                let (fresh, source) = isolate
                    .tokens
                    .get(order_center, env, timeout, Some(&token))
                    .await?;
                log.token_source = Some(source.as_str());
                log.token_last4 = Some(fresh.last4().to_owned());
                token = fresh;
                continue;
            }
            OrderCenterOutcome::TokenExpired(error) | OrderCenterOutcome::Failed(error) => {
                Err(error)
            }
        };
        log.baidu_errno = errno_of(&result);
        return result;
    }
}

fn errno_of(result: &Result<Value, ApiError>) -> Option<i64> {
    match result {
        Ok(_) | Err(ApiError::ItemsRejected { .. }) => Some(0),
        Err(ApiError::Baidu { errno, .. }) => Some(*errno),
        Err(_) => None,
    }
}

/// What Baidu said, for the ledger: its answer, or the errno and msg of a rejection.
pub fn baidu_answer(result: &Result<Value, ApiError>) -> Option<Value> {
    match result {
        Ok(answer) | Err(ApiError::ItemsRejected { baidu: answer, .. }) => Some(answer.clone()),
        Err(ApiError::Baidu { errno, msg, .. }) => {
            Some(serde_json::json!({"errno": errno, "msg": msg}))
        }
        Err(_) => None,
    }
}
