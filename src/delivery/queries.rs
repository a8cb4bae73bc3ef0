//! The order queries (`GET /v1/orders/{tpOrderId}[/refunds]`): payment 2.0's
//! `findByTpOrderId` and `findOrderRefund`, asked at once with the managed access token and
//! answered in one shape (ids as strings). Nothing is recorded: a query changes nothing at
//! Baidu, so it needs no ledger and no retries.

use serde_json::{json, Value};

use super::job::order_center_token;
use super::ports::{Ports, Runtime, Upstream};
use crate::baidu::error::BaiduError;
use crate::baidu::payment_query::{
    self, normalise_order, normalise_refunds, PaymentQuery, QueryOutcome,
};
use crate::config::Config;
use crate::error::ApiError;
use crate::log::RequestLog;
use crate::reply::Reply;

/// The order named by `tp_order_id` (and, with `refunds`, its refunds, for which Baidu needs the
/// order's `userId`: taken from the order itself).
pub async fn order<P: Ports>(
    ports: &P,
    config: &Config,
    tp_order_id: &str,
    refunds: bool,
    log: &mut RequestLog,
) -> Result<Reply, ApiError> {
    let data = ask(
        ports,
        config,
        PaymentQuery::FindByTpOrderId,
        tp_order_id,
        None,
        log,
    )
    .await?;
    let order = normalise_order(&data);
    if !refunds {
        return Ok(Reply::json(
            200,
            json!({ "tpOrderId": tp_order_id, "order": order }),
            "ok",
        ));
    }
    let user_id = order["userId"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ApiError::Baidu(BaiduError::invalid_answer(200)))?;
    let data = ask(
        ports,
        config,
        PaymentQuery::FindOrderRefund,
        tp_order_id,
        Some(&user_id),
        log,
    )
    .await?;
    Ok(Reply::json(
        200,
        json!({ "tpOrderId": tp_order_id, "userId": user_id, "refunds": normalise_refunds(&data) }),
        "ok",
    ))
}

/// One query, with the token refreshed once if Baidu refuses it.
async fn ask<P: Ports>(
    ports: &P,
    config: &Config,
    query: PaymentQuery,
    tp_order_id: &str,
    user_id: Option<&str>,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let order_center = config.order_center.ready()?;
    let timeout = config.upstream_timeout_ms;
    let mut token = order_center_token(ports.tokens(), order_center, timeout, None, log).await?;
    let mut refreshed = false;
    loop {
        let request = payment_query::build_request(
            query,
            &order_center.openapi_url,
            &order_center.pay_app_key,
            tp_order_id,
            user_id,
            &token,
        );
        let answer = ports.upstream().send(&request, timeout).await;
        log.upstream_status = answer.as_ref().ok().map(|response| response.status);
        match payment_query::classify_answer(&answer) {
            QueryOutcome::Answered(data) => return Ok(data),
            QueryOutcome::TokenExpired(_) if !refreshed => {
                refreshed = true;
                token =
                    order_center_token(ports.tokens(), order_center, timeout, Some(&token), log)
                        .await?;
            }
            QueryOutcome::TokenExpired(error) | QueryOutcome::Failed(error) => {
                ports
                    .runtime()
                    .log(json!({"msg": "order query failed", "code": error.code()}));
                return Err(error.into());
            }
        }
    }
}
