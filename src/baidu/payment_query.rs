//! Payment 2.0's order queries (baidu-api.md §9.1, §9.2): `findByTpOrderId` (an order by the
//! merchant's `tpOrderId`) and `findOrderRefund` (its refunds). Both are GETs with the access
//! token; nothing is signed. Baidu types its ids as strings in one place and numbers in
//! another (the official Go SDK fails on real answers), so every id is read as either and
//! answered as a string.

use serde_json::{json, Map, Value};

use super::answer::{classify_errno, read_answer, ErrnoMeaning};
use super::error::BaiduError;
use super::token::{is_token_error, AccessToken};
use crate::http::{HttpRequest, UpstreamAnswer};

const PAYMENT_SERVICE_PATH: &str = "/rest/2.0/smartapp/pay/paymentservice";

/// Which query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentQuery {
    FindByTpOrderId,
    FindOrderRefund,
}

impl PaymentQuery {
    fn operation(self) -> &'static str {
        match self {
            PaymentQuery::FindByTpOrderId => "findByTpOrderId",
            PaymentQuery::FindOrderRefund => "findOrderRefund",
        }
    }
}

/// Builds the query. `user_id` is required by `findOrderRefund` only.
pub fn build_request(
    query: PaymentQuery,
    openapi_url: &str,
    pay_app_key: &str,
    tp_order_id: &str,
    user_id: Option<&str>,
    token: &AccessToken,
) -> HttpRequest {
    let mut params = form_urlencoded::Serializer::new(String::new());
    params.append_pair("access_token", token.secret());
    params.append_pair("tpOrderId", tp_order_id);
    if let Some(user_id) = user_id {
        params.append_pair("userId", user_id);
    }
    params.append_pair("pmAppKey", pay_app_key);
    HttpRequest {
        method: "GET",
        url: format!(
            "{}{PAYMENT_SERVICE_PATH}/{}?{}",
            openapi_url.trim_end_matches('/'),
            query.operation(),
            params.finish()
        ),
        content_type: "application/json",
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// What a query's answer says.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryOutcome {
    /// `errno` 0: Baidu's `data`.
    Answered(Value),
    /// Refresh the token once and ask again.
    TokenExpired(BaiduError),
    Failed(BaiduError),
}

/// Classifies a query's answer as every openapi answer is (baidu-api.md §5).
pub fn classify_answer(answer: &UpstreamAnswer) -> QueryOutcome {
    let answer = match read_answer(answer) {
        Ok(answer) => answer,
        Err(error) => return QueryOutcome::Failed(error),
    };
    if answer.errno != 0 {
        let error = classify_errno(&answer, ErrnoMeaning::OpenApi);
        return if is_token_error(&answer) {
            QueryOutcome::TokenExpired(error)
        } else {
            QueryOutcome::Failed(error)
        };
    }
    match answer.body.get("data") {
        Some(data) if !data.is_null() => QueryOutcome::Answered(data.clone()),
        _ => QueryOutcome::Failed(BaiduError::invalid_answer(answer.http_status)),
    }
}

/// An id as Baidu sent it, string or number, as a string.
pub fn id_text(value: Option<&Value>) -> Value {
    match value {
        Some(Value::String(text)) => Value::String(text.clone()),
        Some(Value::Number(number)) => Value::String(number.to_string()),
        _ => Value::Null,
    }
}

/// An amount or status as a number, whether Baidu sent a number or a digit string.
fn number(value: Option<&Value>) -> Value {
    match value {
        Some(Value::Number(number)) => Value::Number(number.clone()),
        Some(Value::String(text)) => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

const ORDER_IDS: [&str; 8] = [
    "orderId",
    "userId",
    "openId",
    "appKey",
    "appId",
    "dealId",
    "tradeNo",
    "tpOrderId",
];
const ORDER_NUMBERS: [&str; 9] = [
    "status",
    "subStatus",
    "totalMoney",
    "payMoney",
    "oriPrice",
    "settlePrice",
    "count",
    "createTime",
    "type",
];

/// `findByTpOrderId`'s `data`, in one shape: ids as strings, amounts and statuses as numbers,
/// Baidu's whole `data` kept under `baidu`.
pub fn normalise_order(data: &Value) -> Value {
    let mut order = Map::new();
    for key in ORDER_IDS {
        order.insert(key.to_owned(), id_text(data.get(key)));
    }
    for key in ORDER_NUMBERS {
        order.insert(key.to_owned(), number(data.get(key)));
    }
    order.insert(
        "paid".into(),
        json!(number(data.get("status")).as_i64() == Some(2)),
    );
    order.insert("baidu".into(), data.clone());
    Value::Object(order)
}

/// `findOrderRefund`'s `data` (an array of refunds), in one shape: ids as strings,
/// `refundStatus` as a number with its meaning.
pub fn normalise_refunds(data: &Value) -> Value {
    let refunds = data.as_array().cloned().unwrap_or_default();
    Value::Array(
        refunds
            .iter()
            .map(|refund| {
                let status = number(refund.get("refundStatus"));
                let meaning = match status.as_i64() {
                    Some(1) => "in_progress",
                    Some(2) => "succeeded",
                    Some(3) => "failed",
                    _ => "unknown",
                };
                json!({
                    "bizRefundBatchId": id_text(refund.get("bizRefundBatchId")),
                    "refundBatchId": id_text(refund.get("refundBatchId")),
                    "orderId": id_text(refund.get("orderId")),
                    "userId": id_text(refund.get("userId")),
                    "refundStatus": status,
                    "status": meaning,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::UpstreamResponse;

    fn answer(status: u16, body: &str) -> UpstreamAnswer {
        Ok(UpstreamResponse {
            status,
            body: body.as_bytes().to_vec(),
        })
    }

    #[test]
    fn queries_are_gets_with_the_token_and_their_parameters() {
        let token = AccessToken::new("24.tok+en".into(), 0);
        let find = build_request(
            PaymentQuery::FindByTpOrderId,
            "https://openapi.baidu.com/",
            "MMMab",
            "T 1",
            None,
            &token,
        );
        assert_eq!(find.method, "GET");
        assert!(find.body.is_empty());
        assert_eq!(
            find.url,
            "https://openapi.baidu.com/rest/2.0/smartapp/pay/paymentservice/findByTpOrderId?access_token=24.tok%2Ben&tpOrderId=T+1&pmAppKey=MMMab"
        );
        let refunds = build_request(
            PaymentQuery::FindOrderRefund,
            "https://openapi.baidu.com",
            "MMMab",
            "T1",
            Some("4188819900"),
            &token,
        );
        assert_eq!(
            refunds.url,
            "https://openapi.baidu.com/rest/2.0/smartapp/pay/paymentservice/findOrderRefund?access_token=24.tok%2Ben&tpOrderId=T1&userId=4188819900&pmAppKey=MMMab"
        );
        assert!(!format!("{find:?}").contains("tok"));
    }

    #[test]
    fn ids_come_back_as_strings_whatever_baidu_sent() {
        let data = json!({"orderId": 2636635856u64, "userId": "4188819900", "openId": "k6bY", "appKey": 123,
            "tpOrderId": "T1", "status": "2", "totalMoney": 9800, "tradeNo": 12345678901234567890u64});
        let order = normalise_order(&data);
        assert_eq!(order["orderId"], "2636635856");
        assert_eq!(order["userId"], "4188819900");
        assert_eq!(order["appKey"], "123");
        assert_eq!(order["tradeNo"], "12345678901234567890");
        assert_eq!(order["status"], 2);
        assert_eq!(order["paid"], true);
        assert_eq!(order["totalMoney"], 9800);
        assert_eq!(order["dealId"], Value::Null);
        assert_eq!(order["baidu"], data);
        let refunds = normalise_refunds(&json!([
            {"bizRefundBatchId": "r-1", "orderId": 1, "refundBatchId": 152713835, "refundStatus": 2, "userId": "2"},
            {"bizRefundBatchId": 7, "refundStatus": "3"}
        ]));
        assert_eq!(
            refunds,
            json!([
                {"bizRefundBatchId": "r-1", "refundBatchId": "152713835", "orderId": "1", "userId": "2", "refundStatus": 2, "status": "succeeded"},
                {"bizRefundBatchId": "7", "refundBatchId": null, "orderId": null, "userId": null, "refundStatus": 3, "status": "failed"}
            ])
        );
        assert_eq!(normalise_refunds(&json!(null)), json!([]));
    }

    #[test]
    fn answers_are_classified_like_every_openapi_answer() {
        assert!(matches!(
            classify_answer(&answer(
                200,
                r#"{"errno":0,"msg":"ok","data":{"orderId":1}}"#
            )),
            QueryOutcome::Answered(_)
        ));
        assert!(matches!(
            classify_answer(&answer(200, r#"{"error_code":111,"error_msg":"expired"}"#)),
            QueryOutcome::TokenExpired(_)
        ));
        match classify_answer(&answer(200, r#"{"errno":10002,"msg":"order not exist"}"#)) {
            QueryOutcome::Failed(error) => assert_eq!(error.code(), "baidu_order_not_found"),
            other => panic!("{other:?}"),
        }
        match classify_answer(&answer(200, r#"{"errno":0,"msg":"ok"}"#)) {
            QueryOutcome::Failed(error) => assert_eq!(error.code(), "upstream_unavailable"),
            other => panic!("{other:?}"),
        }
    }
}
