//! Baidu's callbacks, start to finish: verify the platform signature, record what the
//! callback says, answer Baidu within its 2 seconds, and deliver the merchant's event.
//!
//! Baidu retries a callback that is not acknowledged, and treats some failures as a reason to
//! refund the payment: so a verified callback is acknowledged as soon as the ledger holds its
//! event, whatever becomes of the event's delivery (the relay's to retry, not Baidu's), and
//! answered with a failure only when nothing could be recorded, so that Baidu calls again.

use serde_json::{json, Value};

use super::events::{self, audit_event_id, event_body, payment_event_id, refund_result_event_id};
use super::flow::{self, EventRecorded, Incoming};
use super::job::Job;
use super::ports::{OrderBook, Ports, Runtime, Upstream};
use crate::baidu::callback::{
    audit_answer, merchant_audit_decision, payment_acknowledgement, refund_result_acknowledgement,
    AuditDecision, CallbackError, CallbackForm, PaymentNotice, RefundAudit, RefundResult,
    SignatureReading,
};
use crate::config::{CallbacksConfig, Config};
use crate::error::ApiError;
use crate::inbound::{Callback, Route};
use crate::log::RequestLog;
use crate::reply::Reply;

/// How long the merchant has to decide a forwarded refund audit: Baidu waits 2 seconds in
/// all, and the relay's own work and the network take some of them.
pub const AUDIT_FORWARD_TIMEOUT_MS: u32 = 1_200;

impl From<CallbackError> for ApiError {
    fn from(error: CallbackError) -> Self {
        match error {
            CallbackError::Malformed(reason) => ApiError::InvalidCallback { reason },
            CallbackError::BadSignature => ApiError::CallbackSignatureInvalid,
        }
    }
}

/// Handles one callback. `answer` is called exactly once, with what Baidu is told and the log so
/// far, as soon as it is known; the event's first delivery attempt (if any) runs after it.
pub async fn handle<P: Ports>(
    ports: &P,
    config: &Config,
    kind: Callback,
    body: &[u8],
    log: &mut RequestLog,
    answer: impl FnOnce(Reply, &RequestLog),
) {
    let verified = config
        .callbacks
        .ready()
        .and_then(|callbacks| verify(ports, callbacks, body, log).map(|v| (callbacks, v)));
    let (callbacks, (form, reading)) = match verified {
        Ok(verified) => verified,
        Err(error) => return answer(Reply::from(error), log),
    };
    match kind {
        Callback::Payment => payment(ports, config, &form, reading, log, answer).await,
        Callback::RefundResult => refund_result(ports, config, &form, reading, log, answer).await,
        Callback::RefundAudit => {
            let reply = refund_audit(ports, config, callbacks, &form, reading, log).await;
            answer(reply, log)
        }
    }
}

fn verify<P: Ports>(
    ports: &P,
    callbacks: &CallbacksConfig,
    body: &[u8],
    log: &mut RequestLog,
) -> Result<(CallbackForm, SignatureReading), ApiError> {
    let form = CallbackForm::parse(body)?;
    match form.verify(&callbacks.platform_key) {
        Ok(reading) => {
            log.signature_reading = Some(reading.as_str());
            Ok((form, reading))
        }
        Err(error) => {
            // Either a forgery or a wrong BAIDU_PLATFORM_PUBLIC_KEY; the second stops every
            // payment, so it is said loudly.
            ports.runtime().log(json!({
                "msg": "callback signature invalid: a forgery, or BAIDU_PLATFORM_PUBLIC_KEY is not this payment service's platform key",
                "alert": true,
            }));
            Err(error.into())
        }
    }
}

async fn payment<P: Ports>(
    ports: &P,
    config: &Config,
    form: &CallbackForm,
    reading: SignatureReading,
    log: &mut RequestLog,
    answer: impl FnOnce(Reply, &RequestLog),
) {
    let notice = match PaymentNotice::from_form(form) {
        Ok(notice) => notice,
        Err(error) => return answer(Reply::from(ApiError::from(error)), log),
    };
    // Best effort: without it, later calls name the order by its ids as before.
    let now = ports.runtime().now_ms();
    let remembered = match ports.orders() {
        Ok(book) => book.remember_payment(&notice.order, now).await.is_ok(),
        Err(_) => false,
    };
    if !remembered {
        ports.runtime().log(json!({"msg": "paid order not recorded; tpOrderId lookups will not find it", "orderId": notice.order.order_id}));
    }
    let id = payment_event_id(&notice.order.order_id);
    let body = event_body(&id, notice.event(reading));
    record_and_deliver(
        ports,
        config,
        Route::Callback(Callback::Payment),
        &id,
        body,
        payment_acknowledgement(),
        log,
        answer,
    )
    .await
}

async fn refund_result<P: Ports>(
    ports: &P,
    config: &Config,
    form: &CallbackForm,
    reading: SignatureReading,
    log: &mut RequestLog,
    answer: impl FnOnce(Reply, &RequestLog),
) {
    let result = match RefundResult::from_form(form) {
        Ok(result) => result,
        Err(error) => return answer(Reply::from(ApiError::from(error)), log),
    };
    let id = refund_result_event_id(&result.refund_batch_id);
    let body = event_body(&id, result.event(reading));
    record_and_deliver(
        ports,
        config,
        Route::Callback(Callback::RefundResult),
        &id,
        body,
        refund_result_acknowledgement(),
        log,
        answer,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn record_and_deliver<P: Ports>(
    ports: &P,
    config: &Config,
    route: Route,
    id: &str,
    body: Vec<u8>,
    acknowledgement: Value,
    log: &mut RequestLog,
    answer: impl FnOnce(Reply, &RequestLog),
) {
    log.webhook_id = Some(id.to_owned());
    let incoming = Incoming {
        id,
        route,
        body: &body,
        job: Job::Event(body.clone()),
    };
    flow::accept_event(ports, config, incoming, log, |recorded, log| {
        let reply = match recorded {
            EventRecorded::New => Reply::json(200, acknowledgement, "acknowledged"),
            EventRecorded::Known => Reply::json(200, acknowledgement, "replayed"),
            EventRecorded::Failed => Reply::from(ApiError::LedgerUnavailable),
        };
        answer(reply, log)
    })
    .await
}

/// Decides a refund audit: a refund the relay requested is approved at once; any other is
/// the merchant's to decide, within the deadline, else Baidu is asked to call again.
async fn refund_audit<P: Ports>(
    ports: &P,
    config: &Config,
    callbacks: &CallbacksConfig,
    form: &CallbackForm,
    reading: SignatureReading,
    log: &mut RequestLog,
) -> Reply {
    let audit = match RefundAudit::from_form(form) {
        Ok(audit) => audit,
        Err(error) => return Reply::from(ApiError::from(error)),
    };
    log.webhook_id = Some(audit_event_id(&audit.refund_batch_id));
    let ours = match ports.orders() {
        Ok(book) => book
            .refund_for_audit(
                &audit.refund_batch_id,
                &audit.order_id,
                audit.apply_refund_money,
            )
            .await
            .ok()
            .flatten(),
        Err(_) => None,
    };
    let approved = ours.and_then(|refund| {
        audit
            .apply_refund_money
            .or(refund.approve_money)
            .map(|refund_pay_money| AuditDecision::Approve { refund_pay_money })
    });
    let (decision, outcome) = match approved {
        Some(decision) => (decision, "approved"),
        None => {
            let decision = forward_audit(ports, config, callbacks, &audit, reading, log).await;
            let outcome = match decision {
                AuditDecision::Approve { .. } => "merchant_approved",
                AuditDecision::Refuse => "merchant_refused",
                AuditDecision::Undecided => "undecided",
            };
            (decision, outcome)
        }
    };
    Reply::json(200, audit_answer(decision), outcome)
}

/// Asks the merchant's events endpoint, once, within [`AUDIT_FORWARD_TIMEOUT_MS`].
async fn forward_audit<P: Ports>(
    ports: &P,
    config: &Config,
    callbacks: &CallbacksConfig,
    audit: &RefundAudit,
    reading: SignatureReading,
    log: &mut RequestLog,
) -> AuditDecision {
    let id = audit_event_id(&audit.refund_batch_id);
    let body = event_body(&id, audit.event(reading));
    let now_seconds = (ports.runtime().now_ms() / 1000) as i64;
    let request = events::event_request(
        &callbacks.events_url,
        config.events_secrets(callbacks),
        &id,
        &body,
        now_seconds,
    );
    let answer = ports
        .upstream()
        .send(&request, AUDIT_FORWARD_TIMEOUT_MS)
        .await;
    log.upstream_status = answer.as_ref().ok().map(|response| response.status);
    match answer {
        Ok(response) if (200..300).contains(&response.status) => {
            serde_json::from_slice::<Value>(&response.body)
                .map(|value| merchant_audit_decision(&value, audit))
                .unwrap_or(AuditDecision::Undecided)
        }
        _ => AuditDecision::Undecided,
    }
}
