//! One webhook's work at Baidu: validated once, then performed by every attempt, the first
//! and each retry, through the same code.

use serde_json::{json, Value};

use super::ports::{Runtime, TokenStore, Upstream};
use crate::baidu::cashier::{self, CancelVerification, CashierTarget};
use crate::baidu::error::BaiduError;
use crate::baidu::ordercenter::{
    self, AfterSaleOrders, OrderCenterCall, OrderCenterOutcome, OrderCenterTarget,
};
use crate::baidu::sign::encode_signature;
use crate::config::Config;
use crate::error::ApiError;
use crate::inbound::{self, Route};
use crate::log::RequestLog;

/// A webhook's body, validated for its route.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    CancelVerification(CancelVerification),
    AfterSale(OrderCenterCall, AfterSaleOrders),
}

/// Validates the body for its route: every 4xx the merchant can fix, before anything is
/// recorded or sent. A feature that is not configured is `misconfigured`.
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

/// When the attempt's lease runs out: no call to Baidu may start that could still be running
/// then, since by that time another attempt may have taken the delivery over.
#[derive(Clone, Copy)]
pub struct Lease<'a, R: Runtime> {
    pub runtime: &'a R,
    pub until: u64,
}

impl<R: Runtime> Lease<'_, R> {
    fn allows(&self, timeout_ms: u32) -> Result<(), ApiError> {
        if self.runtime.now_ms() + u64::from(timeout_ms) <= self.until {
            Ok(())
        } else {
            // Nothing was sent: a transient failure, and the lease's end settles who retries.
            Err(ApiError::Internal)
        }
    }
}

/// One attempt: `Ok` with Baidu's answer, or why it failed.
pub async fn perform<U: Upstream, T: TokenStore, R: Runtime>(
    job: &Job,
    config: &Config,
    upstream: &U,
    tokens: &T,
    lease: Lease<'_, R>,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let result = match job {
        Job::CancelVerification(input) => {
            cancel_verification(input, config, upstream, lease, log).await
        }
        Job::AfterSale(call, orders) => {
            after_sale(*call, orders, config, upstream, tokens, lease, log).await
        }
    };
    log.baidu_errno = errno_of(&result);
    result
}

async fn cancel_verification<U: Upstream, R: Runtime>(
    input: &CancelVerification,
    config: &Config,
    upstream: &U,
    lease: Lease<'_, R>,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let cashier = config.cashier.ready()?;
    let form = input.form(CashierTarget {
        api: cashier.api,
        url: &cashier.url,
        pay_app_key: &cashier.pay_app_key,
    });
    let signature = upstream
        .sign(cashier, form.canonical_string().as_bytes())
        .await?;
    let request = form.into_request(&encode_signature(&signature));
    lease.allows(config.upstream_timeout_ms)?;
    let answer = upstream.send(&request, config.upstream_timeout_ms).await;
    log.upstream_status = answer.as_ref().ok().map(|response| response.status);
    cashier::classify_answer(&answer).map_err(ApiError::from)
}

/// An order-center call with a managed token: refreshed and retried once if Baidu says the
/// token is invalid or expired.
async fn after_sale<U: Upstream, T: TokenStore, R: Runtime>(
    call: OrderCenterCall,
    orders: &AfterSaleOrders,
    config: &Config,
    upstream: &U,
    tokens: &T,
    lease: Lease<'_, R>,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let order_center = config.order_center.ready()?;
    let target = OrderCenterTarget {
        openapi_url: &order_center.openapi_url,
        pay_app_key: &order_center.pay_app_key,
    };
    let timeout = config.upstream_timeout_ms;
    let (mut token, source) = tokens.token(order_center, timeout, None).await?;
    log.token_source = Some(source.as_str());
    log.token_last4 = Some(token.last4().to_owned());
    let mut refreshed = false;
    loop {
        let request = ordercenter::build_request(call, orders, target, &token);
        lease.allows(timeout)?;
        let answer = upstream.send(&request, timeout).await;
        log.upstream_status = answer.as_ref().ok().map(|response| response.status);
        match ordercenter::classify_answer(&answer, orders) {
            OrderCenterOutcome::Delivered(baidu) => return Ok(baidu),
            OrderCenterOutcome::TokenExpired(_) if !refreshed => {
                refreshed = true;
                log.token_refreshed = true;
                let (fresh, source) = tokens.token(order_center, timeout, Some(&token)).await?;
                log.token_source = Some(source.as_str());
                log.token_last4 = Some(fresh.last4().to_owned());
                token = fresh;
            }
            OrderCenterOutcome::TokenExpired(error) | OrderCenterOutcome::Failed(error) => {
                return Err(error.into())
            }
        }
    }
}

fn errno_of(result: &Result<Value, ApiError>) -> Option<i64> {
    match result {
        Ok(_) | Err(ApiError::Baidu(BaiduError::ItemsRejected { .. })) => Some(0),
        Err(ApiError::Baidu(BaiduError::Rejected { errno, .. })) => Some(*errno),
        Err(_) => None,
    }
}

/// What Baidu said, for the ledger: its answer, or the errno and msg of a rejection.
pub fn baidu_answer(result: &Result<Value, ApiError>) -> Option<Value> {
    match result {
        Ok(answer) | Err(ApiError::Baidu(BaiduError::ItemsRejected { baidu: answer, .. })) => {
            Some(answer.clone())
        }
        Err(ApiError::Baidu(BaiduError::Rejected { errno, msg, .. })) => {
            Some(json!({"errno": errno, "msg": msg}))
        }
        Err(_) => None,
    }
}
