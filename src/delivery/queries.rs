//! The order queries (`GET /v1/orders/{tpOrderId}[/refunds]`): payment 2.0's
//! `findByTpOrderId` and `findOrderRefund`, asked at once with the managed access token, or
//! under payment 1.0 `queryorderdetail`, signed with the merchant's key, for the order the
//! payment callback recorded; answered in one shape (ids as strings). Nothing is recorded: a
//! query changes nothing at Baidu, so it needs no ledger and no retries.

use serde_json::{json, Value};

use super::job::{order_center_token, recorded_order};
use super::ports::{Ports, Runtime, Upstream};
use crate::baidu::cashier::CancelVerification;
use crate::baidu::error::BaiduError;
use crate::baidu::order_detail::{self, OrderDetail, OrderDetailQuery};
use crate::baidu::payment_query::{
    self, normalise_order, normalise_refunds, PaymentQuery, QueryOutcome,
};
use crate::baidu::sign::encode_signature;
use crate::config::{CashierConfig, Config, OrderDetailSettings, PaymentVersion};
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
    if config.refunds.ready()?.version == PaymentVersion::V1 {
        return order_v1(ports, config, tp_order_id, refunds, log).await;
    }
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

/// Payment 1.0: the order's ids from its payment callback, then `queryorderdetail`. It tells
/// the order-level refund state only, so `/refunds` answers with one entry for it (none when
/// Baidu has no refund), in 2.0's shape with the same `status` names.
async fn order_v1<P: Ports>(
    ports: &P,
    config: &Config,
    tp_order_id: &str,
    refunds: bool,
    log: &mut RequestLog,
) -> Result<Reply, ApiError> {
    let cashier = config.cashier.ready()?;
    let settings = cashier
        .order_detail
        .as_ref()
        .ok_or_else(|| ApiError::Misconfigured {
            variables: vec![crate::config::BAIDU_PAYMENT_APP_ID],
        })?;
    let (ids, paid) = recorded_order(ports, tp_order_id).await?;
    let detail = ask_order_detail(
        ports.upstream(),
        cashier,
        settings,
        &ids,
        config.upstream_timeout_ms,
    )
    .await
    .inspect_err(|error| {
        if let ApiError::Baidu(BaiduError::Rejected { errno, .. }) = error {
            log.baidu_errno = Some(*errno);
        }
        ports
            .runtime()
            .log(json!({"msg": "order query failed", "code": error.code()}));
    })?;
    let order = detail.normalised(ids.order_id, ids.user_id, tp_order_id);
    if !refunds {
        let mut order = order;
        order["totalMoney"] = json!(paid.total_money);
        order["payMoney"] = json!(paid.pay_money);
        return Ok(Reply::json(
            200,
            json!({ "tpOrderId": tp_order_id, "order": order }),
            "ok",
        ));
    }
    let list = if detail.refund().exists() {
        json!([{
            "bizRefundBatchId": null,
            "refundBatchId": null,
            "orderId": order["orderId"],
            "userId": order["userId"],
            "refundStatus": detail.refund_status,
            "status": detail.refund().as_str(),
        }])
    } else {
        json!([])
    };
    Ok(Reply::json(
        200,
        json!({ "tpOrderId": tp_order_id, "userId": order["userId"], "refunds": list }),
        "ok",
    ))
}

/// `queryorderdetail` for one order, signed with the merchant's key (WebCrypto in the Worker).
pub(super) async fn ask_order_detail<U: Upstream>(
    upstream: &U,
    cashier: &CashierConfig,
    settings: &OrderDetailSettings,
    ids: &CancelVerification,
    timeout_ms: u32,
) -> Result<OrderDetail, ApiError> {
    let query = OrderDetailQuery {
        app_id: settings.app_id,
        pay_app_key: cashier.pay_app_key.clone(),
        order_id: ids.order_id,
        user_id: ids.user_id,
    };
    let signature = upstream
        .sign(cashier, query.canonical_string().as_bytes())
        .await?;
    let request = query.into_request(&settings.url, &encode_signature(&signature));
    let answer = upstream.send(&request, timeout_ms).await;
    order_detail::classify_answer(&answer).map_err(ApiError::from)
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
