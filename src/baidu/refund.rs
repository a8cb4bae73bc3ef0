//! Refunds (申请退款): the cashier's 1.0 `applyOrderRefund` (signed with the merchant's RSA
//! key, like cancel verification) and 2.0's `paymentservice/applyOrderRefund` (access token,
//! nothing signed), and the answer both give. Building is pure; the caller signs 1.0 forms.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::answer::{classify_errno, read_answer, ErrnoMeaning};
use super::cashier::{CashierApi, UnsignedForm, FORM_CONTENT_TYPE};
use super::error::BaiduError;
use super::token::{is_token_error, AccessToken};
use crate::http::{HttpRequest, UpstreamAnswer};

pub const ETRADE_REFUND_URL: &str = "https://etrade-api.baidu.com/cashier/applyOrderRefund";
pub const NUOMI_REFUND_METHOD: &str = "nuomi.cashier.applyorderrefund";
const PAYMENT_SERVICE_PATH: &str = "/rest/2.0/smartapp/pay/paymentservice";

/// A refund, with the order named by Baidu's ids (resolved from `tpOrderId` if need be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub order_id: u64,
    pub user_id: u64,
    pub tp_order_id: String,
    /// 1 the user asked, 2 merchant customer service, 3 the merchant's service failed.
    pub refund_type: u8,
    pub refund_reason: String,
    /// Fen; `None` refunds the whole order.
    pub apply_refund_money: Option<u64>,
    /// The merchant's refund id: Baidu's idempotency key for this refund.
    pub biz_refund_batch_id: String,
}

/// The refund id derived from a webhook id: the same for every attempt of one webhook, so a
/// retry cannot refund twice at Baidu; 32 hex characters, whatever the webhook id looks like.
pub fn derived_batch_id(webhook_id: &str) -> String {
    Sha256::digest(format!("baidu-order-relay refund\n{webhook_id}").as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Refund {
    /// The 1.0 form, awaiting its `rsaSign`. A full refund carries no `applyRefundMoney`
    /// (Baidu documents the amount for partial refunds only).
    pub fn cashier_form(&self, api: CashierApi, url: &str, pay_app_key: &str) -> UnsignedForm {
        let mut params = vec![
            ("appKey", pay_app_key.to_owned()),
            ("bizRefundBatchId", self.biz_refund_batch_id.clone()),
            ("orderId", self.order_id.to_string()),
            ("refundReason", self.refund_reason.clone()),
            ("refundType", self.refund_type.to_string()),
            ("tpOrderId", self.tp_order_id.clone()),
            ("userId", self.user_id.to_string()),
        ];
        if let Some(money) = self.apply_refund_money {
            params.push(("applyRefundMoney", money.to_string()));
        }
        if api == CashierApi::Nuomi {
            params.push(("method", NUOMI_REFUND_METHOD.to_owned()));
        }
        UnsignedForm::new(url, params)
    }

    /// The 2.0 call: the token in the query, the rest as a form body (as Baidu's official
    /// SDKs send it). `full_amount` is sent for a full refund when known.
    pub fn payment_service_request(
        &self,
        openapi_url: &str,
        pay_app_key: &str,
        skip_audit: bool,
        full_amount: Option<u64>,
        token: &AccessToken,
    ) -> HttpRequest {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("access_token", token.secret())
            .finish();
        let mut body = form_urlencoded::Serializer::new(String::new());
        if let Some(money) = self.apply_refund_money.or(full_amount) {
            body.append_pair("applyRefundMoney", &money.to_string());
        }
        body.append_pair("bizRefundBatchId", &self.biz_refund_batch_id)
            .append_pair("isSkipAudit", if skip_audit { "1" } else { "0" })
            .append_pair("orderId", &self.order_id.to_string())
            .append_pair("pmAppKey", pay_app_key)
            .append_pair("refundReason", &self.refund_reason)
            .append_pair("refundType", &self.refund_type.to_string())
            .append_pair("tpOrderId", &self.tp_order_id)
            .append_pair("userId", &self.user_id.to_string());
        HttpRequest {
            method: "POST",
            url: format!(
                "{}{PAYMENT_SERVICE_PATH}/applyOrderRefund?{query}",
                openapi_url.trim_end_matches('/')
            ),
            content_type: FORM_CONTENT_TYPE,
            headers: Vec::new(),
            body: body.finish().into_bytes(),
        }
    }
}

/// What Baidu said to a refund: `Ok` with its answer, `TokenExpired` (2.0 only) to refresh the
/// token and try once more, or the error.
#[derive(Debug, Clone, PartialEq)]
pub enum RefundOutcome {
    Accepted(Value),
    TokenExpired(BaiduError),
    Failed(BaiduError),
}

/// Classifies a refund answer. Success means "accepted": the outcome comes by the refund
/// callback.
pub fn classify_answer(answer: &UpstreamAnswer, version_two: bool) -> RefundOutcome {
    let read = match read_answer(answer) {
        Ok(read) => read,
        Err(error) => return RefundOutcome::Failed(error),
    };
    if read.errno == 0 {
        return RefundOutcome::Accepted(read.body);
    }
    let meaning = if version_two {
        ErrnoMeaning::OpenApi
    } else {
        ErrnoMeaning::Cashier
    };
    let error = classify_errno(&read, meaning);
    if version_two && is_token_error(&read) {
        RefundOutcome::TokenExpired(error)
    } else {
        RefundOutcome::Failed(error)
    }
}

/// Baidu's refund id from an accepted refund's answer: a string in one place, a number in
/// another.
pub fn refund_batch_id(answer: &Value) -> Option<String> {
    match answer.pointer("/data/refundBatchId")? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// What Baidu will refund, in fen, from an accepted refund's answer (string or number).
pub fn refund_pay_money(answer: &Value) -> Option<i64> {
    match answer.pointer("/data/refundPayMoney")? {
        Value::String(text) => text.parse().ok(),
        Value::Number(number) => number.as_i64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baidu::key::MerchantKey;
    use crate::baidu::sign::NativeSigner;
    use crate::http::UpstreamResponse;
    use serde_json::json;
    use std::collections::BTreeMap;

    const KEY: &str = include_str!("../../tests/vectors/keys/baidu-doc-sample-1024.pkcs1.pem");

    fn refund(money: Option<u64>) -> Refund {
        Refund {
            order_id: 2636635856,
            user_id: 4188819900,
            tp_order_id: "T-1001".into(),
            refund_type: 1,
            refund_reason: "用户申请退款".into(),
            apply_refund_money: money,
            biz_refund_batch_id: derived_batch_id("msg_1"),
        }
    }

    #[test]
    fn the_batch_id_is_stable_per_webhook_and_differs_between_them() {
        assert_eq!(derived_batch_id("msg_1"), derived_batch_id("msg_1"));
        assert_ne!(derived_batch_id("msg_1"), derived_batch_id("msg_2"));
        assert_eq!(derived_batch_id("msg_1").len(), 32);
    }

    #[test]
    fn the_cashier_form_signs_every_parameter_raw_and_omits_the_amount_of_a_full_refund() {
        let form = refund(None).cashier_form(CashierApi::Etrade, ETRADE_REFUND_URL, "MMMabc");
        let batch = derived_batch_id("msg_1");
        assert_eq!(
            form.canonical_string(),
            format!("appKey=MMMabc&bizRefundBatchId={batch}&orderId=2636635856&refundReason=用户申请退款&refundType=1&tpOrderId=T-1001&userId=4188819900")
        );
        let partial = refund(Some(100)).cashier_form(CashierApi::Nuomi, "https://x", "MMMabc");
        let canonical = partial.canonical_string();
        assert!(canonical.starts_with("appKey=MMMabc&applyRefundMoney=100&"));
        assert!(canonical.contains("&method=nuomi.cashier.applyorderrefund&"));
        // The form carries the Chinese encoded once, and the signature over the raw text.
        let signer = NativeSigner::new(&MerchantKey::parse(KEY).unwrap()).unwrap();
        let signature = signer.sign(&canonical);
        let request = partial.into_request(&signature);
        let decoded: BTreeMap<String, String> =
            form_urlencoded::parse(&request.body).into_owned().collect();
        assert_eq!(decoded["refundReason"], "用户申请退款");
        assert_eq!(decoded["rsaSign"], signature);
    }

    #[test]
    fn the_payment_service_call_puts_the_token_in_the_query_and_the_rest_in_the_body() {
        let token = AccessToken::new("tok".into(), u64::MAX);
        let request = refund(None).payment_service_request(
            "https://openapi.baidu.com/",
            "MMMabc",
            true,
            Some(990),
            &token,
        );
        assert_eq!(
            request.url,
            "https://openapi.baidu.com/rest/2.0/smartapp/pay/paymentservice/applyOrderRefund?access_token=tok"
        );
        let decoded: BTreeMap<String, String> =
            form_urlencoded::parse(&request.body).into_owned().collect();
        assert_eq!(decoded["applyRefundMoney"], "990");
        assert_eq!(decoded["isSkipAudit"], "1");
        assert_eq!(decoded["pmAppKey"], "MMMabc");
        assert!(!decoded.contains_key("rsaSign"));
    }

    fn answer(status: u16, body: Value) -> UpstreamAnswer {
        Ok(UpstreamResponse {
            status,
            body: body.to_string().into_bytes(),
        })
    }

    #[test]
    fn answers_are_read_in_either_json_type() {
        let accepted = json!({"errno": 0, "msg": "success", "data": {"refundBatchId": "152713835", "refundPayMoney": "9800"}});
        let RefundOutcome::Accepted(body) = classify_answer(&answer(200, accepted), false) else {
            panic!()
        };
        assert_eq!(refund_batch_id(&body).as_deref(), Some("152713835"));
        assert_eq!(refund_pay_money(&body), Some(9800));
        let numbers = json!({"data": {"refundBatchId": 152713835, "refundPayMoney": 9800}});
        assert_eq!(refund_batch_id(&numbers).as_deref(), Some("152713835"));
        assert_eq!(refund_pay_money(&numbers), Some(9800));
    }

    #[test]
    fn a_token_error_asks_for_a_refresh_on_two_only() {
        let expired = json!({"error_code": 111, "error_msg": "Access token expired"});
        assert!(matches!(
            classify_answer(&answer(200, expired.clone()), true),
            RefundOutcome::TokenExpired(_)
        ));
        assert!(matches!(
            classify_answer(&answer(200, expired), false),
            RefundOutcome::Failed(_)
        ));
        let balance = json!({"errno": 10003, "msg": "企业余额不足"});
        assert!(matches!(
            classify_answer(&answer(200, balance), false),
            RefundOutcome::Failed(BaiduError::Rejected { errno: 10003, .. })
        ));
    }
}
