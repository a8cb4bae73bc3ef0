//! Baidu's order center (订单中心) after-sale calls: update (更新售后订单信息), append (import
//! after-sale orders, which update requires to exist) and status. One generic call shape:
//! `POST {openapi}/rest/2.0/smartapp/ordercenter/app/<op>?access_token&open_id&scene_id&scene_type&pm_app_key`
//! with body `{"Data": [...]}`.

use serde_json::{json, Value};

use super::answer::{classify_errno, read_answer, ErrnoMeaning};
use super::token::{is_token_error, AccessToken};
use crate::error::ApiError;
use crate::http::{HttpRequest, UpstreamAnswer};

pub const DEFAULT_OPENAPI_URL: &str = "https://openapi.baidu.com";
const ORDERCENTER_PATH: &str = "/rest/2.0/smartapp/ordercenter/app";

/// Which after-sale call to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderCenterCall {
    /// `app/update/sub/info`: overwrite the after-sale information of existing orders.
    Update,
    /// `app/append/sub/info`: import after-sale orders.
    Append,
    /// `app/update/sub/status`: move after-sale statuses.
    UpdateStatus,
}

impl OrderCenterCall {
    pub fn operation(self) -> &'static str {
        match self {
            OrderCenterCall::Update => "update/sub/info",
            OrderCenterCall::Append => "append/sub/info",
            OrderCenterCall::UpdateStatus => "update/sub/status",
        }
    }
}

/// A validated after-sale call, as the merchant's system asked for it.
#[derive(Debug, Clone, PartialEq)]
pub struct AfterSaleOrders {
    pub open_id: String,
    /// The cashier `orderId` from the payment callback.
    pub scene_id: u64,
    pub scene_type: u64,
    /// Baidu `Data` items, validated, `BizAPPID` filled in, unknown fields untouched.
    pub data: Vec<Value>,
}

/// Where to call and with which payment appKey; a slice of the relay's configuration.
#[derive(Debug, Clone, Copy)]
pub struct OrderCenterTarget<'a> {
    pub openapi_url: &'a str,
    pub pay_app_key: &'a str,
}

/// Builds the call. The token travels in the query string, as Baidu requires.
pub fn build_request(
    call: OrderCenterCall,
    orders: &AfterSaleOrders,
    target: OrderCenterTarget<'_>,
    token: &AccessToken,
) -> HttpRequest {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("access_token", token.secret())
        .append_pair("open_id", &orders.open_id)
        .append_pair("scene_id", &orders.scene_id.to_string())
        .append_pair("scene_type", &orders.scene_type.to_string())
        .append_pair("pm_app_key", target.pay_app_key)
        .finish();
    let body = json!({ "Data": orders.data });
    HttpRequest {
        method: "POST",
        url: format!(
            "{}{ORDERCENTER_PATH}/{}?{query}",
            target.openapi_url.trim_end_matches('/'),
            call.operation()
        ),
        content_type: "application/json",
        headers: Vec::new(),
        body: serde_json::to_vec(&body).unwrap_or_default(),
    }
}

/// What to do with an order-center answer.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderCenterOutcome {
    /// `errno` 0 and every item written: Baidu's answer.
    Delivered(Value),
    /// Baidu says the token is invalid or expired: fetch a fresh one and retry once. The
    /// error is what to answer if the fresh token is refused too.
    TokenExpired(ApiError),
    Failed(ApiError),
}

pub fn classify_answer(answer: &UpstreamAnswer) -> OrderCenterOutcome {
    let answer = match read_answer(answer) {
        Ok(answer) => answer,
        Err(error) => return OrderCenterOutcome::Failed(error),
    };
    if answer.errno != 0 {
        let error = classify_errno(&answer, ErrnoMeaning::OpenApi);
        return if is_token_error(&answer) {
            OrderCenterOutcome::TokenExpired(error)
        } else {
            OrderCenterOutcome::Failed(error)
        };
    }
    let failed = failed_resource_ids(&answer.body);
    if failed.is_empty() {
        OrderCenterOutcome::Delivered(answer.body)
    } else {
        OrderCenterOutcome::Failed(ApiError::ItemsRejected {
            resource_ids: failed,
            baidu: answer.body,
        })
    }
}

/// `errno` 0 does not mean every item succeeded: an item whose `rows_affected` is not a
/// positive number (string or number) was not written.
fn failed_resource_ids(body: &Value) -> Vec<String> {
    let Some(items) = body.get("data").and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter(|item| {
            let rows = match item.get("rows_affected") {
                Some(Value::Number(n)) => n.as_u64(),
                Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
                _ => None,
            };
            !matches!(rows, Some(n) if n > 0)
        })
        .map(|item| match item.get("resource_id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => "(unknown)".to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::BaiduRejection;
    use crate::http::UpstreamResponse;

    fn orders() -> AfterSaleOrders {
        AfterSaleOrders {
            open_id: "open id/1".into(),
            scene_id: 2636635856,
            scene_type: 2,
            data: vec![
                json!({"CateID": 2, "ResourceID": "1001", "BizAPPID": "app", "Unknown": [1]}),
            ],
        }
    }

    fn target() -> OrderCenterTarget<'static> {
        OrderCenterTarget {
            openapi_url: "https://openapi.baidu.com/",
            pay_app_key: "MMMzaA",
        }
    }

    #[test]
    fn each_call_has_its_path_query_and_json_body() {
        let token = AccessToken::new("24.tok+en".into(), 0);
        for (call, op) in [
            (OrderCenterCall::Update, "update/sub/info"),
            (OrderCenterCall::Append, "append/sub/info"),
            (OrderCenterCall::UpdateStatus, "update/sub/status"),
        ] {
            let request = build_request(call, &orders(), target(), &token);
            assert_eq!(request.method, "POST");
            assert_eq!(request.content_type, "application/json");
            assert_eq!(
                request.url,
                format!(
                    "https://openapi.baidu.com/rest/2.0/smartapp/ordercenter/app/{op}?access_token=24.tok%2Ben&open_id=open+id%2F1&scene_id=2636635856&scene_type=2&pm_app_key=MMMzaA"
                )
            );
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            assert_eq!(
                body,
                json!({"Data": [{"CateID": 2, "ResourceID": "1001", "BizAPPID": "app", "Unknown": [1]}]})
            );
            assert!(!format!("{request:?}").contains("tok"), "{request:?}");
        }
    }

    fn classify(status: u16, body: &str) -> OrderCenterOutcome {
        classify_answer(&Ok(UpstreamResponse {
            status,
            body: body.as_bytes().to_vec(),
        }))
    }

    #[test]
    fn delivered_only_when_every_item_wrote_rows() {
        let ok = r#"{"errno":0,"msg":"success","data":[{"resource_id":"1","rows_affected":"1"},{"resource_id":"2","rows_affected":3}]}"#;
        assert!(matches!(
            classify(200, ok),
            OrderCenterOutcome::Delivered(_)
        ));
        let partial = r#"{"errno":0,"msg":"success","data":[{"resource_id":"1","rows_affected":"1"},{"resource_id":"2","rows_affected":"0"},{"resource_id":3,"rows_affected":0}]}"#;
        match classify(200, partial) {
            OrderCenterOutcome::Failed(error @ ApiError::ItemsRejected { .. }) => {
                assert_eq!(error.code(), "baidu_items_rejected");
                assert_eq!(error.status(), 422);
                assert_eq!(
                    error.body()["error"]["failedResourceIds"],
                    json!(["2", "3"])
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn token_errors_ask_for_a_refresh() {
        for (body, errno) in [
            (
                r#"{"error_code":110,"error_msg":"Access token invalid or no longer valid"}"#,
                110,
            ),
            (
                r#"{"error_code":111,"error_msg":"Access token expired"}"#,
                111,
            ),
            (r#"{"errno":111,"msg":"token expired"}"#, 111),
        ] {
            match classify(200, body) {
                OrderCenterOutcome::TokenExpired(error) => {
                    assert_eq!(error.code(), "baidu_error");
                    assert_eq!(error.body()["error"]["baiduErrno"], errno);
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn other_errors_map_like_the_cashiers() {
        match classify(200, r#"{"errno":10001,"msg":"param error"}"#) {
            OrderCenterOutcome::Failed(ApiError::Baidu { rejection, .. }) => {
                assert_eq!(rejection, BaiduRejection::BadParameter)
            }
            other => panic!("{other:?}"),
        }
        match classify(
            200,
            r#"{"error_code":6,"error_msg":"No permission to access data"}"#,
        ) {
            OrderCenterOutcome::Failed(error) => assert_eq!(error.code(), "baidu_error"),
            other => panic!("{other:?}"),
        }
        match classify(503, "busy") {
            OrderCenterOutcome::Failed(error) => assert_eq!(error.code(), "upstream_unavailable"),
            other => panic!("{other:?}"),
        }
    }
}
