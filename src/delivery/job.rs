//! One webhook's work at Baidu: validated once, then performed by every attempt, the first
//! and each retry, through the same code.

use serde_json::{json, Value};

use super::events;
use super::order_identity;
use super::ports::{Ledger, OrderBook, Ports, RefundRecord, Runtime, TokenStore, Upstream};
use super::queries;
use crate::baidu::callback::PaidOrder;
use crate::baidu::cashier::{self, CancelVerification, CashierTarget};
use crate::baidu::error::BaiduError;
use crate::baidu::order_detail::{OrderDetail, RefundState, Verification};
use crate::baidu::ordercenter::{
    self, AfterSaleOrders, OrderCenterCall, OrderCenterOutcome, OrderCenterTarget,
};
use crate::baidu::payment_query::{self, normalise_refunds, PaymentQuery, QueryOutcome};
use crate::baidu::refund::{self, derived_batch_id, Refund, RefundOutcome};
use crate::baidu::sign::encode_signature;
use crate::baidu::token::AccessToken;
use crate::config::{
    CashierConfig, Config, OrderCenterConfig, OrderDetailSettings, PaymentVersion,
};
use crate::error::ApiError;
use crate::inbound::main_order::{MainOrders, OrderSync};
use crate::inbound::order_ref::OrderRef;
use crate::inbound::refund::RefundRequest;
use crate::inbound::{self, Callback, Route};
use crate::log::RequestLog;

/// A webhook's body, validated for its route.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    CancelVerification(OrderRef),
    AfterSale(OrderCenterCall, AfterSaleOrders),
    /// A main-order call (`add/main/info`, ...).
    MainOrder(OrderCenterCall, MainOrders),
    /// `/v1/orders/sync`: the main order's import, then its after-sale items', as two steps.
    OrderSync(Box<OrderSync>),
    Refund(RefundRequest),
    /// A merchant event made from a Baidu callback, to post to `EVENTS_WEBHOOK_URL` as is.
    Event(Vec<u8>),
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
        Route::Orders(call) => {
            let order_center = config.order_center.ready()?;
            Ok(Job::MainOrder(
                call,
                inbound::main_order::parse(
                    body,
                    call,
                    &order_center.app_key,
                    order_center.amount_check,
                )?,
            ))
        }
        Route::OrderSync => {
            let order_center = config.order_center.ready()?;
            Ok(Job::OrderSync(Box::new(inbound::main_order::parse_sync(
                body,
                &order_center.app_key,
                order_center.amount_check,
            )?)))
        }
        Route::Refund => {
            match config.refunds.ready()?.version {
                PaymentVersion::V1 => config.cashier.ready().map(drop)?,
                PaymentVersion::V2 => config.order_center.ready().map(drop)?,
            }
            Ok(Job::Refund(inbound::refund::parse(body)?))
        }
        Route::Callback(Callback::Payment | Callback::RefundResult) => {
            config.callbacks.ready()?;
            // The relay wrote this body itself (`events`): it only has to be JSON.
            inbound::fields::parse_object(body)?;
            Ok(Job::Event(body.to_vec()))
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
    pub(super) fn allows(&self, timeout_ms: u32) -> Result<(), ApiError> {
        if self.runtime.now_ms() + u64::from(timeout_ms) <= self.until {
            Ok(())
        } else {
            // Nothing was sent: a transient failure, and the lease's end settles who retries.
            Err(ApiError::Internal)
        }
    }
}

/// The attempt a job runs under: which delivery, under which lease, and what earlier attempts
/// of a multi-step job already did.
pub struct Attempt<'a, P: Ports> {
    pub ports: &'a P,
    pub id: &'a str,
    /// The fencing token the attempt's writes name.
    pub lease_token: u32,
    pub until: u64,
    /// The answers of the steps done, in order (from the ledger).
    pub steps_done: Vec<Value>,
    /// This attempt changed `steps_done`: its outcome's write records them too.
    pub steps_changed: bool,
}

impl<P: Ports> Attempt<'_, P> {
    fn lease(&self) -> Lease<'_, P::Runtime> {
        Lease {
            runtime: self.ports.runtime(),
            until: self.until,
        }
    }

    /// Records one more step as done, before the next one starts. If the ledger cannot take
    /// it now, the attempt goes on and the outcome's write carries it; if another attempt holds
    /// the delivery now, this one stops (it must not call Baidu again).
    async fn complete_step(&mut self, answer: Value) -> Result<(), ApiError> {
        self.steps_done.push(answer);
        self.steps_changed = true;
        let answers = Value::Array(self.steps_done.clone()).to_string();
        let Ok(ledger) = self.ports.ledger() else {
            return Ok(());
        };
        let now = self.ports.runtime().now_ms();
        match ledger
            .complete_steps(self.id, self.lease_token, &answers, now)
            .await
        {
            Ok(false) => Err(ApiError::Internal),
            Ok(true) | Err(_) => Ok(()),
        }
    }

    /// The call an earlier attempt marked as sent and never saw answered, if any.
    fn pending_call(&self) -> Option<&str> {
        self.steps_done.last()?.get(PENDING)?.as_str()
    }

    /// Marks `call` as sent, in the ledger, before it is sent: an attempt that dies after
    /// sending leaves the mark, and the next one knows the outcome is unknown. Unlike a step's
    /// answer, the mark must be recorded first: if it cannot be, nothing is sent.
    async fn mark_sent(&mut self, call: &str) -> Result<(), ApiError> {
        let ledger = self.ports.ledger().map_err(|_| ApiError::Internal)?;
        self.steps_done.push(json!({ PENDING: call }));
        self.steps_changed = true;
        let answers = Value::Array(self.steps_done.clone()).to_string();
        let now = self.ports.runtime().now_ms();
        match ledger
            .complete_steps(self.id, self.lease_token, &answers, now)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) | Err(_) => {
                self.steps_done.pop();
                Err(ApiError::Internal)
            }
        }
    }

    /// Takes the mark back unless `result` leaves the marked call's outcome unknown.
    fn unmark_if_answered(&mut self, result: &Result<Value, ApiError>) {
        if !matches!(result, Err(error) if outcome_unknown(error)) {
            self.unmark_sent();
        }
    }

    /// Takes the mark back once the call's outcome is known; the attempt's outcome records it
    /// (and if that write fails, the mark stays and the next attempt is cautious).
    fn unmark_sent(&mut self) {
        if self.pending_call().is_some() {
            self.steps_done.pop();
            self.steps_changed = true;
        }
    }
}

/// The key of the mark a call leaves in a delivery's steps while its outcome is unknown.
pub const PENDING: &str = "pending";

/// True when Baidu may have applied a call although the relay has no answer for it: no
/// answer, an outage status, or an answer that is not Baidu's. A refusal, even a transient
/// one, is an answer.
pub fn outcome_unknown(error: &ApiError) -> bool {
    matches!(error, ApiError::Baidu(BaiduError::Unavailable { .. }))
        && super::policy::is_transient(error)
}

/// `/v1/orders/sync`: the main order first (Baidu refuses after-sale data for an order it does
/// not know), recorded as a step, then its after-sale items with `append/sub/info`. A retry goes
/// on from the step not yet done, so each is retried on its own and the import is not repeated.
async fn order_sync<P: Ports>(
    sync: &OrderSync,
    config: &Config,
    attempt: &mut Attempt<'_, P>,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let imported = match attempt.steps_done.first() {
        Some(done) if done.get(PENDING).is_none() => done.clone(),
        _ => {
            let answer = add_main(&sync.main.orders, config, attempt, log).await?;
            attempt.complete_step(answer.clone()).await?;
            answer
        }
    };
    let after_sale = append_sub(&sync.after_sale, config, attempt, log).await?;
    Ok(json!({ "addMainInfo": imported, "appendSubInfo": after_sale }))
}

/// `app/append/sub/info`, marked as sent before it is sent. Baidu may refuse to append items it
/// already has (a duplicate `SubOrderID`, baidu-api.md §5, inferred), so once an append may have
/// reached Baidu unanswered, a refusal of the resend says nothing about the items: the earlier
/// append may have taken them. Such a refusal ends the delivery `outcome_unknown` rather than a
/// rejection that may be false; the mark stays until an append is answered with success.
async fn append_sub<P: Ports>(
    orders: &AfterSaleOrders,
    config: &Config,
    attempt: &mut Attempt<'_, P>,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let call = OrderCenterCall::Append.operation();
    let resent = attempt.pending_call() == Some(call);
    if !resent {
        attempt.mark_sent(call).await?;
    }
    let mut sent = false;
    let result = after_sale(
        OrderCenterCall::Append,
        orders,
        config,
        attempt,
        log,
        &mut sent,
    )
    .await;
    let keep_mark = match &result {
        Ok(_) => false,
        // Nothing left this time: the mark stays only if an earlier append may have arrived.
        Err(_) if !sent => resent,
        Err(error) => resent || outcome_unknown(error),
    };
    if !keep_mark {
        attempt.unmark_sent();
    }
    match result {
        Err(error) if resent && sent && !super::policy::is_transient(&error) => {
            Err(ApiError::OutcomeUnknown {
                call,
                cause: error.code().to_owned(),
            })
        }
        result => result,
    }
}

/// `app/add/main/info`, sent only while no earlier attempt may have sent it: on an existing
/// order an import overwrites the after-sale information too, so after an unknown outcome the
/// delivery fails (`outcome_unknown`) instead of importing again.
async fn add_main<P: Ports>(
    orders: &AfterSaleOrders,
    config: &Config,
    attempt: &mut Attempt<'_, P>,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let call = OrderCenterCall::AddMain.operation();
    if attempt.pending_call() == Some(call) {
        return Err(ApiError::OutcomeUnknown {
            call,
            cause: "interrupted".into(),
        });
    }
    attempt.mark_sent(call).await?;
    let mut sent = false;
    let result = after_sale(
        OrderCenterCall::AddMain,
        orders,
        config,
        attempt,
        log,
        &mut sent,
    )
    .await;
    match result {
        Err(error) if sent && outcome_unknown(&error) => Err(ApiError::OutcomeUnknown {
            call,
            cause: error.code().to_owned(),
        }),
        result => {
            attempt.unmark_sent();
            result
        }
    }
}

/// One attempt: `Ok` with Baidu's answer, or why it failed.
pub async fn perform<P: Ports>(
    job: &Job,
    config: &Config,
    attempt: &mut Attempt<'_, P>,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let ports = attempt.ports;
    let result = match job {
        Job::CancelVerification(order) => match resolve(ports, order).await {
            Ok((input, _)) => cancel_verification(&input, config, attempt, log).await,
            Err(error) => Err(error),
        },
        Job::AfterSale(OrderCenterCall::Append, orders) => {
            append_sub(orders, config, attempt, log).await
        }
        Job::AfterSale(call, orders) => {
            after_sale(*call, orders, config, attempt, log, &mut false).await
        }
        Job::MainOrder(call, main) => {
            log.warning.clone_from(&main.amount_warning);
            if *call == OrderCenterCall::AddMain {
                add_main(&main.orders, config, attempt, log).await
            } else {
                after_sale(*call, &main.orders, config, attempt, log, &mut false).await
            }
        }
        Job::OrderSync(sync) => {
            log.warning.clone_from(&sync.main.amount_warning);
            order_sync(sync, config, attempt, log).await
        }
        Job::Refund(request) => refund(request, config, attempt, log).await,
        Job::Event(body) => event(body, config, attempt, log).await,
    };
    log.baidu_errno = errno_of(&result);
    result
}

/// Baidu's ids for an order: as given, or from the payment callback recorded for its
/// `tpOrderId` (with what else that callback said).
async fn resolve<P: Ports>(
    ports: &P,
    order: &OrderRef,
) -> Result<(CancelVerification, Option<PaidOrder>), ApiError> {
    match order {
        OrderRef::Ids { order_id, user_id } => Ok((
            CancelVerification {
                order_id: *order_id,
                user_id: *user_id,
            },
            None,
        )),
        OrderRef::TpOrderId(tp_order_id) => {
            let (ids, paid) = recorded_order(ports, tp_order_id).await?;
            Ok((ids, Some(paid)))
        }
    }
}

/// Baidu's ids for the order named `tp_order_id`, from the payment callback the relay recorded
/// (`order_unknown` without one).
pub(super) async fn recorded_order<P: Ports>(
    ports: &P,
    tp_order_id: &str,
) -> Result<(CancelVerification, PaidOrder), ApiError> {
    let book = ports.orders().map_err(|_| ApiError::Internal)?;
    let paid = book
        .payment(tp_order_id)
        .await
        .map_err(|_| ApiError::Internal)?
        .ok_or_else(|| ApiError::OrderUnknown {
            tp_order_id: tp_order_id.to_owned(),
        })?;
    let id = |text: &str| text.parse::<u64>().map_err(|_| ApiError::Internal);
    let ids = CancelVerification {
        order_id: id(&paid.order_id)?,
        user_id: id(&paid.user_id)?,
    };
    Ok((ids, paid))
}

/// A refund: on 1.0, a full refund cancels the verification first (Baidu refuses to refund a
/// verified order in full), as a step of its own, recorded before the refund is sent; a
/// partial refund must leave the order verified; 2.0 needs no cancel at all.
async fn refund<P: Ports>(
    request: &RefundRequest,
    config: &Config,
    attempt: &mut Attempt<'_, P>,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let ports = attempt.ports;
    let settings = config.refunds.ready()?;
    let (ids, paid) = match request.ids {
        Some((order_id, user_id)) => {
            // The recorded payment still tells the paid amount, when there is one.
            let paid = match ports.orders() {
                Ok(book) => book.payment(&request.tp_order_id).await.ok().flatten(),
                Err(_) => None,
            };
            (CancelVerification { order_id, user_id }, paid)
        }
        None => resolve(ports, &OrderRef::TpOrderId(request.tp_order_id.clone())).await?,
    };
    let paid_money = paid
        .as_ref()
        .and_then(|p| p.pay_money.or(p.total_money))
        .and_then(|money| u64::try_from(money).ok());
    // The whole paid amount is a full refund: sent without an amount, after the cancel.
    let partial = request
        .apply_refund_money
        .filter(|money| Some(*money) != paid_money);
    let refund = Refund {
        order_id: ids.order_id,
        user_id: ids.user_id,
        tp_order_id: request.tp_order_id.clone(),
        refund_type: request.refund_type,
        refund_reason: request.refund_reason.clone(),
        apply_refund_money: partial,
        biz_refund_batch_id: request
            .biz_refund_batch_id
            .clone()
            .unwrap_or_else(|| derived_batch_id(attempt.id)),
    };
    let cancel_first =
        settings.version == PaymentVersion::V1 && partial.is_none() && request.cancel_verification;
    let mut cancel_answer = Value::Null;
    if cancel_first {
        match attempt.steps_done.first() {
            Some(done) if done.get(PENDING).is_none() => cancel_answer = done.clone(),
            _ => {
                cancel_answer = cancel_verification(&ids, config, attempt, log).await?;
                attempt.complete_step(cancel_answer.clone()).await?;
            }
        }
    }
    let book = ports.orders().map_err(|_| ApiError::Internal)?;
    let record = RefundRecord {
        biz_refund_batch_id: refund.biz_refund_batch_id.clone(),
        webhook_id: attempt.id.to_owned(),
        order_id: ids.order_id.to_string(),
        tp_order_id: refund.tp_order_id.clone(),
        amount: partial.map(|m| m as i64),
        approve_money: partial.or(paid_money).map(|m| m as i64),
        refund_batch_id: None,
    };
    // Recorded before the call: Baidu's audit callback may arrive while it is still running.
    book.remember_refund(&record, ports.runtime().now_ms())
        .await
        .map_err(|_| ApiError::Internal)?;
    let answer = match settings.version {
        PaymentVersion::V1 => refund_v1(&refund, &ids, config, attempt, log).await?,
        PaymentVersion::V2 => {
            refund_v2(
                &refund,
                settings.skip_audit,
                paid_money,
                config,
                attempt,
                log,
            )
            .await?
        }
    };
    if let Some(batch) = refund::refund_batch_id(&answer) {
        let now = ports.runtime().now_ms();
        if book
            .refund_accepted(&refund.biz_refund_batch_id, &batch, now)
            .await
            .is_err()
        {
            ports.runtime().log(json!({"msg": "refund id not recorded; the audit matches by order and amount", "webhookId": attempt.id}));
        }
    }
    Ok(json!({
        "bizRefundBatchId": refund.biz_refund_batch_id,
        "refundBatchId": refund::refund_batch_id(&answer),
        "refundPayMoney": refund::refund_pay_money(&answer),
        "cancelVerification": cancel_answer,
        "applyOrderRefund": answer,
    }))
}

/// The mark a 2.0 refund leaves in the delivery's steps while its outcome is unknown.
const REFUND_V2_CALL: &str = "paymentservice/applyOrderRefund";

/// 2.0's refund, with the access token refreshed once if Baidu refuses it. It is marked as sent
/// before it is sent; a later attempt that finds the mark asks Baidu first (`findOrderRefund`,
/// by `bizRefundBatchId`) and, if Baidu has the refund, takes that as the answer instead of
/// sending it again.
async fn refund_v2<P: Ports>(
    refund: &Refund,
    skip_audit: bool,
    full_amount: Option<u64>,
    config: &Config,
    attempt: &mut Attempt<'_, P>,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let ports = attempt.ports;
    let order_center = config.order_center.ready()?;
    let timeout = config.upstream_timeout_ms;
    let mut token = order_center_token(ports.tokens(), order_center, timeout, None, log).await?;
    if attempt.pending_call() == Some(REFUND_V2_CALL) {
        let mut refreshed = false;
        let found = loop {
            let request = payment_query::build_request(
                PaymentQuery::FindOrderRefund,
                &order_center.openapi_url,
                &order_center.pay_app_key,
                &refund.tp_order_id,
                Some(&refund.user_id.to_string()),
                &token,
            );
            attempt.lease().allows(timeout)?;
            let answer = ports.upstream().send(&request, timeout).await;
            match payment_query::classify_answer(&answer) {
                QueryOutcome::Answered(data) => {
                    break normalise_refunds(&data)
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|entry| {
                            entry["bizRefundBatchId"] == refund.biz_refund_batch_id.as_str()
                        })
                        .cloned()
                }
                QueryOutcome::TokenExpired(_) if !refreshed => {
                    refreshed = true;
                    token = order_center_token(
                        ports.tokens(),
                        order_center,
                        timeout,
                        Some(&token),
                        log,
                    )
                    .await?;
                }
                QueryOutcome::TokenExpired(error) | QueryOutcome::Failed(error) => {
                    return Err(unsettled(REFUND_V2_CALL, error.into()))
                }
            }
        };
        attempt.unmark_sent();
        if let Some(found) = found {
            return Ok(json!({
                "errno": 0,
                "msg": "settled by lookup: Baidu already has this refund",
                "data": {"refundBatchId": found["refundBatchId"]},
                "settledByLookup": found,
            }));
        }
    }
    attempt.mark_sent(REFUND_V2_CALL).await?;
    let mut refreshed = false;
    loop {
        let request = refund.payment_service_request(
            &order_center.openapi_url,
            &order_center.pay_app_key,
            skip_audit,
            full_amount,
            &token,
        );
        attempt.lease().allows(timeout)?;
        let answer = ports.upstream().send(&request, timeout).await;
        log.upstream_status = answer.as_ref().ok().map(|response| response.status);
        let outcome = refund::classify_answer(&answer, true);
        // The mark stays while the refund may be at Baidu unanswered, or is about to be resent.
        let settled = match &outcome {
            RefundOutcome::Accepted(_) => true,
            RefundOutcome::TokenExpired(_) => refreshed,
            RefundOutcome::Failed(error) => !outcome_unknown(&error.clone().into()),
        };
        if settled {
            attempt.unmark_sent();
        }
        match outcome {
            RefundOutcome::Accepted(body) => return Ok(body),
            RefundOutcome::TokenExpired(_) if !refreshed => {
                refreshed = true;
                token =
                    order_center_token(ports.tokens(), order_center, timeout, Some(&token), log)
                        .await?;
            }
            RefundOutcome::TokenExpired(error) | RefundOutcome::Failed(error) => {
                return Err(error.into())
            }
        }
    }
}

/// The order center's access token, noted in the log (its source and last four characters).
/// With `rejected`, Baidu has just refused that token: the fresh one is a refresh.
pub(super) async fn order_center_token<T: TokenStore>(
    tokens: &T,
    order_center: &OrderCenterConfig,
    timeout_ms: u32,
    rejected: Option<&AccessToken>,
    log: &mut RequestLog,
) -> Result<AccessToken, ApiError> {
    let (token, source) = tokens.token(order_center, timeout_ms, rejected).await?;
    log.token_refreshed |= rejected.is_some();
    log.token_source = Some(source.as_str());
    log.token_last4 = Some(token.last4().to_owned());
    Ok(token)
}

/// A merchant event, posted to `EVENTS_WEBHOOK_URL` signed as a Standard Webhook whose id is
/// the delivery's, so the merchant can de-duplicate too. Any 2xx takes it.
async fn event<P: Ports>(
    body: &[u8],
    config: &Config,
    attempt: &Attempt<'_, P>,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let callbacks = config.callbacks.ready()?;
    let ports = attempt.ports;
    let now_seconds = (ports.runtime().now_ms() / 1000) as i64;
    let request = events::event_request(
        &callbacks.events_url,
        config.events_secrets(callbacks),
        attempt.id,
        body,
        now_seconds,
    );
    attempt.lease().allows(config.upstream_timeout_ms)?;
    let answer = ports
        .upstream()
        .send(&request, config.upstream_timeout_ms)
        .await;
    log.upstream_status = answer.as_ref().ok().map(|response| response.status);
    events::classify_answer(&answer)
}

/// The marks a cancel verification and a 1.0 refund leave in the delivery's steps while their
/// outcome is unknown.
const CANCEL_CALL: &str = "cashier/syncOrderStatus";
const REFUND_V1_CALL: &str = "cashier/applyOrderRefund";

/// Cancel verification. With payment 1.0's status query configured, the call is marked as sent
/// before it is sent, and a later attempt that finds the mark asks Baidu first
/// (`verification.statusNum`): an order no longer verified means the earlier call took effect,
/// and it is not sent again. Without the query, a retry sends it again unchecked.
async fn cancel_verification<P: Ports>(
    ids: &CancelVerification,
    config: &Config,
    attempt: &mut Attempt<'_, P>,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let cashier = config.cashier.ready()?;
    let Some(settings) = &cashier.order_detail else {
        // The query is no longer configured (it was when the mark was left): the call goes out
        // unchecked, and the mark must not outlive it.
        attempt.unmark_sent();
        return send_cancel_verification(ids, config, attempt, log).await;
    };
    if attempt.pending_call() == Some(CANCEL_CALL) {
        let detail = settling_lookup(ids, CANCEL_CALL, cashier, settings, config, attempt).await?;
        match detail.verification() {
            Verification::NotVerified => {
                attempt.unmark_sent();
                return Ok(settled_by_lookup(
                    "the order is no longer verified: Baidu applied the earlier cancel",
                    &detail,
                ));
            }
            _ if detail.cached => return Err(cached_lookup(attempt, CANCEL_CALL)),
            // Still verified: the earlier call never took effect; send it again.
            _ => attempt.unmark_sent(),
        }
    }
    attempt.mark_sent(CANCEL_CALL).await?;
    let result = send_cancel_verification(ids, config, attempt, log).await;
    attempt.unmark_if_answered(&result);
    result
}

async fn send_cancel_verification<P: Ports>(
    input: &CancelVerification,
    config: &Config,
    attempt: &Attempt<'_, P>,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let cashier = config.cashier.ready()?;
    let upstream = attempt.ports.upstream();
    let form = input.form(CashierTarget {
        api: cashier.api,
        url: &cashier.url,
        pay_app_key: &cashier.pay_app_key,
    });
    let signature = upstream
        .sign(cashier, form.canonical_string().as_bytes())
        .await?;
    let request = form.into_request(&encode_signature(&signature));
    attempt.lease().allows(config.upstream_timeout_ms)?;
    let answer = upstream.send(&request, config.upstream_timeout_ms).await;
    log.upstream_status = answer.as_ref().ok().map(|response| response.status);
    cashier::classify_answer(&answer).map_err(ApiError::from)
}

/// 1.0's `applyOrderRefund`, marked as sent like the cancel. A later attempt that finds the
/// mark asks `queryorderdetail`: no refund on the order means the earlier call never arrived;
/// a refund there settles it when it can only be this one (the relay asked for no other refund
/// of the order). Otherwise it is sent again under the same `bizRefundBatchId`.
async fn refund_v1<P: Ports>(
    refund: &Refund,
    ids: &CancelVerification,
    config: &Config,
    attempt: &mut Attempt<'_, P>,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let ports = attempt.ports;
    let cashier = config.cashier.ready()?;
    let settings = config.refunds.ready()?;
    if let (Some(lookup), Some(REFUND_V1_CALL)) = (&cashier.order_detail, attempt.pending_call()) {
        let detail = settling_lookup(ids, REFUND_V1_CALL, cashier, lookup, config, attempt).await?;
        let refund = detail.refund();
        if refund.exists() {
            let book = ports.orders().map_err(|_| ApiError::Internal)?;
            let asked = book
                .refunds_of_order(&ids.order_id.to_string())
                .await
                .map_err(|_| ApiError::Internal)?;
            if asked <= 1 {
                attempt.unmark_sent();
                return Ok(settled_by_lookup(
                    "Baidu has a refund for the order, and the relay asked for no other",
                    &detail,
                ));
            }
        } else if refund == RefundState::None && detail.cached {
            return Err(cached_lookup(attempt, REFUND_V1_CALL));
        }
        attempt.unmark_sent();
    }
    if cashier.order_detail.is_some() {
        attempt.mark_sent(REFUND_V1_CALL).await?;
    }
    let url = settings.cashier_refund_url(cashier);
    let form = refund.cashier_form(cashier.api, &url, &cashier.pay_app_key);
    let signature = ports
        .upstream()
        .sign(cashier, form.canonical_string().as_bytes())
        .await?;
    let request = form.into_request(&encode_signature(&signature));
    attempt.lease().allows(config.upstream_timeout_ms)?;
    let answer = ports
        .upstream()
        .send(&request, config.upstream_timeout_ms)
        .await;
    log.upstream_status = answer.as_ref().ok().map(|response| response.status);
    let result = match refund::classify_answer(&answer, false) {
        RefundOutcome::Accepted(body) => Ok(body),
        RefundOutcome::TokenExpired(error) | RefundOutcome::Failed(error) => Err(error.into()),
    };
    attempt.unmark_if_answered(&result);
    result
}

/// Asks `queryorderdetail` about the order of a call whose outcome is unknown. No answer keeps
/// the outcome unknown and the mark in place (retried later); a refusal cannot settle it, so
/// the delivery ends `outcome_unknown` rather than guess.
async fn settling_lookup<P: Ports>(
    ids: &CancelVerification,
    call: &'static str,
    cashier: &CashierConfig,
    settings: &OrderDetailSettings,
    config: &Config,
    attempt: &Attempt<'_, P>,
) -> Result<OrderDetail, ApiError> {
    attempt.lease().allows(config.upstream_timeout_ms)?;
    let answer = queries::ask_order_detail(
        attempt.ports.upstream(),
        cashier,
        settings,
        ids,
        config.upstream_timeout_ms,
    )
    .await;
    attempt.ports.runtime().log(json!({
        "msg": "settling an unknown outcome by queryorderdetail",
        "webhookId": attempt.id,
        "call": call,
        "answer": match &answer {
            Ok(detail) => json!({"verification": detail.verification_status, "refund": detail.refund_status, "cached": detail.cached}),
            Err(error) => json!(error.code()),
        },
    }));
    answer.map_err(|error| unsettled(call, error))
}

/// A status query that failed to settle `call`'s unknown outcome: without an answer (transient)
/// the outcome stays unknown and the next attempt asks again; refused, it cannot be settled, and
/// the delivery ends `outcome_unknown` rather than guess or report the refusal as the call's.
fn unsettled(call: &'static str, error: ApiError) -> ApiError {
    if super::policy::is_transient(&error) {
        error
    } else {
        ApiError::OutcomeUnknown {
            call,
            cause: error.code().to_owned(),
        }
    }
}

/// Baidu's status answer came from its cache and does not show the earlier call: it may be
/// older than that call, so ask again later rather than send the call a second time.
fn cached_lookup<P: Ports>(attempt: &Attempt<'_, P>, call: &'static str) -> ApiError {
    attempt.ports.runtime().log(json!({
        "msg": "queryorderdetail answered from Baidu's cache; asking again on the next attempt",
        "webhookId": attempt.id,
        "call": call,
    }));
    ApiError::Baidu(BaiduError::invalid_answer(200))
}

/// The answer recorded for a call settled by asking Baidu instead of sending it again.
fn settled_by_lookup(why: &str, detail: &OrderDetail) -> Value {
    json!({
        "errno": 0,
        "msg": format!("settled by lookup: {why}"),
        "data": [],
        "settledByLookup": {
            "query": "queryorderdetail",
            "verificationStatus": detail.verification_status,
            "refundStatus": detail.refund_status,
            "payStatus": detail.pay_status,
        },
    })
}

/// An order-center call with a managed token: refreshed and retried once if Baidu says the
/// token is invalid or expired. `sent` tells whether a request left for the order center (a
/// failed token fetch sends nothing).
async fn after_sale<P: Ports>(
    call: OrderCenterCall,
    orders: &AfterSaleOrders,
    config: &Config,
    attempt: &Attempt<'_, P>,
    log: &mut RequestLog,
    sent: &mut bool,
) -> Result<Value, ApiError> {
    let (upstream, tokens, lease) = (
        attempt.ports.upstream(),
        attempt.ports.tokens(),
        attempt.lease(),
    );
    let order_center = config.order_center.ready()?;
    let target = OrderCenterTarget {
        openapi_url: &order_center.openapi_url,
        pay_app_key: &order_center.pay_app_key,
    };
    let timeout = config.upstream_timeout_ms;
    let mut token = order_center_token(tokens, order_center, timeout, None, log).await?;
    let scene = order_identity::resolve(
        attempt.ports,
        &orders.owner,
        order_center,
        timeout,
        attempt.lease(),
        &mut token,
        log,
    )
    .await?;
    let mut refreshed = false;
    loop {
        let request = ordercenter::build_request(call, orders, &scene, target, &token);
        lease.allows(timeout)?;
        *sent = true;
        let answer = upstream.send(&request, timeout).await;
        log.upstream_status = answer.as_ref().ok().map(|response| response.status);
        match ordercenter::classify_answer(&answer, orders) {
            OrderCenterOutcome::Delivered(baidu) => return Ok(baidu),
            OrderCenterOutcome::TokenExpired(_) if !refreshed => {
                refreshed = true;
                token =
                    order_center_token(tokens, order_center, timeout, Some(&token), log).await?;
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
