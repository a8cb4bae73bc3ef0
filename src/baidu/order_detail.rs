//! Payment 1.0's status query (支付状态查询, `queryorderdetail`, baidu-api.md §9.3): whether a
//! cashier order is paid, refunded and verified (核销). The relay asks it for
//! `GET /v1/orders/{tpOrderId}` under payment 1.0, and to settle a cancel verification or a 1.0
//! refund whose outcome is unknown before it would send either again.
//!
//! Unlike the cashier's calls, the signature travels as `sign` (not `rsaSign`), over the four
//! query parameters, and the call is a GET. Building it is pure; the caller signs
//! [`OrderDetailQuery::canonical_string`] in between.

use serde_json::{json, Value};

use super::answer::{as_integer, classify_errno, read_answer, ErrnoMeaning};
use super::error::BaiduError;
use super::sign::canonical_string;
use crate::http::{HttpRequest, UpstreamAnswer};

pub const ORDER_DETAIL_URL: &str =
    "https://dianshang.baidu.com/platform/entity/openapi/queryorderdetail";

/// The query's signature parameter: `sign`, as Baidu's page names it for this call.
pub const ORDER_DETAIL_SIGNATURE_PARAM: &str = "sign";

/// One status query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderDetailQuery {
    /// The payment service's numeric APP ID (`BAIDU_PAYMENT_APP_ID`), not an App Key.
    pub app_id: u64,
    /// The payment service's appKey (`MMM…`).
    pub pay_app_key: String,
    /// Baidu's order id.
    pub order_id: u64,
    /// Baidu's user id from the payment callback: Baidu calls it `siteId` here.
    pub user_id: u64,
}

impl OrderDetailQuery {
    fn params(&self) -> [(&'static str, String); 4] {
        [
            ("appId", self.app_id.to_string()),
            ("appKey", self.pay_app_key.clone()),
            ("orderId", self.order_id.to_string()),
            ("siteId", self.user_id.to_string()),
        ]
    }

    /// The exact string to sign with SHA1withRSA (the cashier's rule, §1).
    pub fn canonical_string(&self) -> String {
        let params = self.params();
        canonical_string(params.iter().map(|(key, value)| (*key, value.as_str())))
    }

    /// The GET, with the signature percent-encoded in the query (base64 carries `+` and `/`).
    pub fn into_request(self, url: &str, sign: &str) -> HttpRequest {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in self.params() {
            query.append_pair(key, &value);
        }
        query.append_pair(ORDER_DETAIL_SIGNATURE_PARAM, sign);
        HttpRequest {
            method: "GET",
            url: format!("{url}?{}", query.finish()),
            content_type: "application/json",
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// Whether the verification (核销) holds: `verification.statusNum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// -1: not verified (never, or the verification was cancelled).
    NotVerified,
    /// 1: verified.
    Verified,
    Unknown,
}

/// The order-level refund state: `refundStatus.statusNum` (its own enum, shared with no other
/// API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundState {
    /// -1: no refund.
    None,
    /// 1: a refund is in progress.
    InProgress,
    /// 2: refunded.
    Refunded,
    /// 9: a refund failed.
    Failed,
    Unknown,
}

impl RefundState {
    /// The name the relay answers with, shared with payment 2.0's refund list.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::None => "none",
            RefundState::InProgress => "in_progress",
            RefundState::Refunded => "succeeded",
            RefundState::Failed => "failed",
            RefundState::Unknown => "unknown",
        }
    }

    /// Baidu has a refund for the order (whatever became of it).
    pub fn exists(self) -> bool {
        matches!(
            self,
            RefundState::InProgress | RefundState::Refunded | RefundState::Failed
        )
    }
}

/// What Baidu said about the order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderDetail {
    /// `payStatus.statusNum`: 1 paid, -1 unpaid.
    pub pay_status: Option<i64>,
    pub refund_status: Option<i64>,
    pub verification_status: Option<i64>,
    /// Baidu's `cached` flag: the answer may be older than the last call (re-check later).
    pub cached: bool,
    /// The inner `data.data`, as Baidu sent it.
    pub baidu: Value,
}

impl OrderDetail {
    pub fn verification(&self) -> Verification {
        match self.verification_status {
            Some(-1) => Verification::NotVerified,
            Some(1) => Verification::Verified,
            _ => Verification::Unknown,
        }
    }

    pub fn refund(&self) -> RefundState {
        match self.refund_status {
            Some(-1) => RefundState::None,
            Some(1) => RefundState::InProgress,
            Some(2) => RefundState::Refunded,
            Some(9) => RefundState::Failed,
            _ => RefundState::Unknown,
        }
    }

    /// The order in the relay's one answer shape (ids as strings), with what payment 1.0 tells
    /// beyond 2.0: whether it is verified, and its refund state.
    pub fn normalised(&self, order_id: u64, user_id: u64, tp_order_id: &str) -> Value {
        json!({
            "orderId": order_id.to_string(),
            "userId": user_id.to_string(),
            "tpOrderId": tp_order_id,
            "payStatus": self.pay_status,
            "paid": self.pay_status == Some(1),
            "verificationStatus": self.verification_status,
            "verified": match self.verification() {
                Verification::Verified => json!(true),
                Verification::NotVerified => json!(false),
                Verification::Unknown => Value::Null,
            },
            "refundStatus": self.refund_status,
            "refund": self.refund().as_str(),
            "cached": self.cached,
            "baidu": self.baidu,
        })
    }
}

/// Classifies the answer (§5's rules; `errmsg` is this envelope's message). `errno` 0 with no
/// readable `data.data` is not an answer the relay can act on: transient, outcome unknown.
pub fn classify_answer(answer: &UpstreamAnswer) -> Result<OrderDetail, BaiduError> {
    let answer = read_answer(answer)?;
    if answer.errno != 0 {
        return Err(classify_errno(&answer, ErrnoMeaning::Cashier));
    }
    // Baidu's page shows the doubled `data.data`; a single `data` is read too (tolerant).
    let data = answer.body.get("data").unwrap_or(&Value::Null);
    // Anything else carries no status below, and is refused as unreadable just after.
    let inner = match data.get("data") {
        Some(inner) if inner.is_object() => inner,
        _ => data,
    };
    let status = |name: &str| {
        inner
            .get(name)
            .and_then(|s| s.get("statusNum"))
            .and_then(as_integer)
    };
    let cached = match answer.body.get("cached") {
        Some(Value::Bool(flag)) => *flag,
        Some(other) => as_integer(other).is_some_and(|n| n != 0) || other == "true",
        None => false,
    };
    let detail = OrderDetail {
        pay_status: status("payStatus"),
        refund_status: status("refundStatus"),
        verification_status: status("verification"),
        cached,
        baidu: inner.clone(),
    };
    if detail.pay_status.is_none()
        && detail.refund_status.is_none()
        && detail.verification_status.is_none()
    {
        return Err(BaiduError::invalid_answer(answer.http_status));
    }
    Ok(detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baidu::key::MerchantKey;
    use crate::baidu::sign::NativeSigner;
    use crate::http::UpstreamResponse;

    fn query() -> OrderDetailQuery {
        OrderDetailQuery {
            app_id: 1234567,
            pay_app_key: "MMMzaA".into(),
            order_id: 2636635856,
            user_id: 4188819900,
        }
    }

    fn answer(body: &str) -> UpstreamAnswer {
        Ok(UpstreamResponse {
            status: 200,
            body: body.as_bytes().to_vec(),
        })
    }

    #[test]
    fn the_query_is_signed_over_its_four_parameters_and_sent_as_sign() {
        let vectors: Value =
            serde_json::from_str(include_str!("../../tests/vectors/signing.json")).unwrap();
        let vector = vectors["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "order-detail-query")
            .unwrap()
            .clone();
        assert_eq!(query().canonical_string(), vector["canonical"]);
        let key = MerchantKey::parse(include_str!("../../tests/vectors/keys/test-2048.pkcs8.pem"))
            .unwrap();
        let sign = NativeSigner::new(&key)
            .unwrap()
            .sign(&query().canonical_string());
        assert_eq!(sign, vector["rsaSign"]);
        let request = query().into_request(ORDER_DETAIL_URL, &sign);
        assert_eq!(request.method, "GET");
        assert!(request.body.is_empty());
        let (base, params) = request.url.split_once('?').unwrap();
        assert_eq!(base, ORDER_DETAIL_URL);
        let params: Vec<(String, String)> = form_urlencoded::parse(params.as_bytes())
            .into_owned()
            .collect();
        let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["appId", "appKey", "orderId", "siteId", "sign"]);
        assert_eq!(
            params[4].1, sign,
            "the signature survives the query's encoding"
        );
        assert!(!request.url.contains("rsaSign"));
        assert!(!request.url.contains('+'), "a raw + would read as a space");
    }

    #[test]
    fn the_doubled_data_is_read_into_the_three_states() {
        let detail = classify_answer(&answer(
            r#"{"errno":0,"errmsg":"成功","msg":"成功","data":{"data":{"payStatus":{"statusNum":1,"statusDesc":"已支付"},"refundStatus":{"statusNum":"2"},"verification":{"statusNum":-1}}},"timestamp":1,"cached":0,"serverlogid":"x"}"#,
        ))
        .unwrap();
        assert_eq!(detail.pay_status, Some(1));
        assert_eq!(detail.refund(), RefundState::Refunded);
        assert_eq!(detail.verification(), Verification::NotVerified);
        assert!(!detail.cached);
        let order = detail.normalised(2636635856, 4188819900, "T1");
        assert_eq!(order["orderId"], "2636635856");
        assert_eq!(order["paid"], true);
        assert_eq!(order["verified"], false);
        assert_eq!(order["refund"], "succeeded");
        assert_eq!(order["baidu"]["payStatus"]["statusDesc"], "已支付");
    }

    #[test]
    fn a_single_data_and_a_cached_flag_are_read_too() {
        let detail = classify_answer(&answer(
            r#"{"errno":0,"data":{"verification":{"statusNum":"1"},"refundStatus":{"statusNum":9}},"cached":"1"}"#,
        ))
        .unwrap();
        assert_eq!(detail.verification(), Verification::Verified);
        assert_eq!(detail.refund(), RefundState::Failed);
        assert!(detail.refund().exists());
        assert!(detail.cached);
        assert_eq!(detail.pay_status, None);
        assert!(
            classify_answer(&answer(
                r#"{"errno":0,"data":{"verification":{"statusNum":1}},"cached":true}"#
            ))
            .unwrap()
            .cached
        );
        // An inner `data` that is not an object is not the doubled form: the outer one is read.
        let outer = classify_answer(&answer(
            r#"{"errno":0,"data":{"data":5,"refundStatus":{"statusNum":-1}}}"#,
        ))
        .unwrap();
        assert_eq!(outer.refund(), RefundState::None);
        assert!(!outer.refund().exists());
        assert_eq!(outer.refund().as_str(), "none");
        assert_eq!(outer.verification(), Verification::Unknown);
    }

    #[test]
    fn errors_and_unreadable_answers_are_classified() {
        let error =
            classify_answer(&answer(r#"{"errno":10002,"errmsg":"订单不存在"}"#)).unwrap_err();
        assert_eq!(error.code(), "baidu_order_not_found");
        for body in [
            r#"{"errno":0,"data":[]}"#,
            r#"{"errno":0,"data":{"data":{}}}"#,
            "<html>",
        ] {
            let error = classify_answer(&answer(body)).unwrap_err();
            assert_eq!(error.code(), "upstream_unavailable", "{body}");
        }
    }
}
