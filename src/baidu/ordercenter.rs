//! Baidu's order center (订单中心): the after-sale calls (update (更新售后订单信息), append
//! (import after-sale orders, which update requires to exist) and status) and the main-order
//! calls (import, update, status, logistics). One generic call shape:
//! `POST {openapi}/rest/2.0/smartapp/ordercenter/app/<op>?access_token&open_id&scene_id&scene_type&pm_app_key`
//! with body `{"Data": [...]}`.

use serde_json::{json, Value};

use super::answer::{classify_errno, read_answer, ErrnoMeaning};
use super::error::BaiduError;
use super::token::{is_token_error, AccessToken};
use crate::http::{HttpRequest, UpstreamAnswer};

pub const DEFAULT_OPENAPI_URL: &str = "https://openapi.baidu.com";
const ORDERCENTER_PATH: &str = "/rest/2.0/smartapp/ordercenter/app";

/// Which order-center call to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderCenterCall {
    /// `app/update/sub/info`: overwrite the after-sale information of existing orders.
    Update,
    /// `app/append/sub/info`: import after-sale orders.
    Append,
    /// `app/update/sub/status`: move after-sale statuses.
    UpdateStatus,
    /// `app/add/main/info`: import a main order. On an existing `ResourceID` it overwrites the
    /// main order and its after-sale information, so it is never repeated blindly.
    AddMain,
    /// `app/update/main/info`: overwrite an existing main order.
    UpdateMain,
    /// `app/update/main/status`: move main-order statuses.
    UpdateMainStatus,
    /// `app/add/main/logistics`: a main order's shipment (the official SDKs' path; one
    /// third-party SDK uses `update/main/logistics`).
    AddLogistics,
}

impl OrderCenterCall {
    pub fn operation(self) -> &'static str {
        match self {
            OrderCenterCall::Update => "update/sub/info",
            OrderCenterCall::Append => "append/sub/info",
            OrderCenterCall::UpdateStatus => "update/sub/status",
            OrderCenterCall::AddMain => "add/main/info",
            OrderCenterCall::UpdateMain => "update/main/info",
            OrderCenterCall::UpdateMainStatus => "update/main/status",
            OrderCenterCall::AddLogistics => "add/main/logistics",
        }
    }
}

/// A validated order-center call (after-sale or main order), as the merchant's system asked
/// for it.
#[derive(Debug, Clone, PartialEq)]
pub struct AfterSaleOrders {
    /// Whose order, as the webhook named it: what it leaves out is resolved from its
    /// `tpOrderId` when the call is made.
    pub owner: OrderOwner,
    pub scene_type: u64,
    /// Baidu `Data` items, validated, `BizAPPID` filled in, unknown fields untouched.
    pub data: Vec<Value>,
}

/// The user an order belongs to, as the order center's query names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderUser {
    /// `open_id`: the user's openId in this smart program.
    OpenId(String),
    /// `swan_id`: Baidu's id for a user without an openId (baidu-api.md §10).
    SwanId(String),
}

/// Whose order a webhook names: each of the query's ids given explicitly, or left to be
/// resolved from `tpOrderId` (validation makes sure one of the two is there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderOwner {
    pub user: Option<OrderUser>,
    /// The cashier `orderId` from the payment callback.
    pub scene_id: Option<u64>,
    /// The merchant's order id, the key of the resolution.
    pub tp_order_id: Option<String>,
}

impl OrderOwner {
    /// Both ids given: nothing to resolve.
    pub fn explicit(user: OrderUser, scene_id: u64) -> Self {
        OrderOwner {
            user: Some(user),
            scene_id: Some(scene_id),
            tp_order_id: None,
        }
    }
}

/// The query's whose-order parameters, complete: built only through [`OrderScene::new`], which
/// refuses a `swan_id` equal to the `scene_id` (the official Java SDK fills `swan_id` with the
/// `scene_id`, and Baidu would then file the order under a user who does not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderScene {
    user: OrderUser,
    scene_id: u64,
}

impl OrderScene {
    /// `None` when `user` is a `swan_id` that is the `scene_id` itself.
    pub fn new(user: OrderUser, scene_id: u64) -> Option<Self> {
        match &user {
            OrderUser::SwanId(swan_id) if swan_id.trim() == scene_id.to_string() => None,
            _ => Some(OrderScene { user, scene_id }),
        }
    }

    pub fn user(&self) -> &OrderUser {
        &self.user
    }

    pub fn scene_id(&self) -> u64 {
        self.scene_id
    }
}

/// Where to call and with which payment appKey; a slice of the relay's configuration.
#[derive(Debug, Clone, Copy)]
pub struct OrderCenterTarget<'a> {
    pub openapi_url: &'a str,
    pub pay_app_key: &'a str,
}

/// Builds the call for the order of `scene`. The token travels in the query string, as Baidu
/// requires; `swan_id` takes `open_id`'s place for a user without an openId.
pub fn build_request(
    call: OrderCenterCall,
    orders: &AfterSaleOrders,
    scene: &OrderScene,
    target: OrderCenterTarget<'_>,
    token: &AccessToken,
) -> HttpRequest {
    let (user_key, user) = match &scene.user {
        OrderUser::OpenId(open_id) => ("open_id", open_id),
        OrderUser::SwanId(swan_id) => ("swan_id", swan_id),
    };
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("access_token", token.secret())
        .append_pair(user_key, user)
        .append_pair("scene_id", &scene.scene_id.to_string())
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
    TokenExpired(BaiduError),
    Failed(BaiduError),
}

/// Classifies an order-center answer to the call that sent `orders`.
///
/// The body is read before the HTTP status: `error_code`/`errno` 110 or 111 asks for a token
/// refresh whatever the status (a 401 included); other codes follow Baidu's tables
/// ([`classify_errno`]). `errno` 0 is only a start: Baidu reports each item's
/// `rows_affected`, and the call counts as delivered only when every item sent (by
/// `ResourceID`) has an entry with `rows_affected` > 0. Items without one are
/// `baidu_items_rejected`; an answer whose `data` is missing or not an array tells nothing
/// about the items and is an unknown outcome (`upstream_unavailable`, `invalid_answer`).
pub fn classify_answer(answer: &UpstreamAnswer, orders: &AfterSaleOrders) -> OrderCenterOutcome {
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
    let Some(entries) = answer.body.get("data").and_then(Value::as_array) else {
        return OrderCenterOutcome::Failed(BaiduError::invalid_answer(answer.http_status));
    };
    let unwritten = unwritten_resource_ids(orders, entries);
    if unwritten.is_empty() {
        OrderCenterOutcome::Delivered(answer.body)
    } else {
        OrderCenterOutcome::Failed(BaiduError::ItemsRejected {
            resource_ids: unwritten,
            baidu: answer.body,
        })
    }
}

/// The `ResourceID`s sent for which Baidu's `data` holds no entry with a positive
/// `rows_affected` (string or number), in the order sent, each once. An id sent `n` times
/// needs `n` such entries.
fn unwritten_resource_ids(orders: &AfterSaleOrders, entries: &[Value]) -> Vec<String> {
    let mut written: Vec<String> = entries
        .iter()
        .filter(|entry| rows_affected(entry).is_some_and(|rows| rows > 0))
        .filter_map(|entry| resource_id(entry.get("resource_id")?))
        .collect();
    let mut unwritten: Vec<String> = Vec::new();
    for (index, item) in orders.data.iter().enumerate() {
        let sent = item
            .get("ResourceID")
            .and_then(resource_id)
            .unwrap_or_else(|| format!("(data[{index}] without ResourceID)"));
        if let Some(at) = written.iter().position(|id| *id == sent) {
            written.swap_remove(at);
        } else if !unwritten.contains(&sent) {
            unwritten.push(sent);
        }
    }
    unwritten
}

fn rows_affected(entry: &Value) -> Option<u64> {
    match entry.get("rows_affected")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
}

/// Resource ids come back as strings or numbers.
fn resource_id(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baidu::error::{fields, is_transient, BaiduRejection};
    use crate::http::UpstreamResponse;

    fn orders() -> AfterSaleOrders {
        AfterSaleOrders {
            owner: OrderOwner::explicit(OrderUser::OpenId("open id/1".into()), 2636635856),
            scene_type: 2,
            data: vec![
                json!({"CateID": 2, "ResourceID": "1001", "BizAPPID": "app", "Unknown": [1]}),
            ],
        }
    }

    fn scene() -> OrderScene {
        OrderScene::new(OrderUser::OpenId("open id/1".into()), 2636635856).unwrap()
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
            (OrderCenterCall::AddMain, "add/main/info"),
            (OrderCenterCall::UpdateMain, "update/main/info"),
            (OrderCenterCall::UpdateMainStatus, "update/main/status"),
            (OrderCenterCall::AddLogistics, "add/main/logistics"),
        ] {
            let request = build_request(call, &orders(), &scene(), target(), &token);
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

    #[test]
    fn a_swan_id_takes_the_place_of_open_id_in_the_query() {
        let token = AccessToken::new("tok".into(), 0);
        let scene = OrderScene::new(OrderUser::SwanId("swan/1".into()), 2636635856).unwrap();
        let request = build_request(OrderCenterCall::Update, &orders(), &scene, target(), &token);
        assert_eq!(
            request.url,
            "https://openapi.baidu.com/rest/2.0/smartapp/ordercenter/app/update/sub/info?access_token=tok&swan_id=swan%2F1&scene_id=2636635856&scene_type=2&pm_app_key=MMMzaA"
        );
        assert!(!request.url.contains("open_id"));
    }

    #[test]
    fn a_swan_id_that_is_the_scene_id_is_refused() {
        // The official Java SDK's mistake: swan_id filled with the scene_id.
        assert_eq!(
            OrderScene::new(OrderUser::SwanId("2636635856".into()), 2636635856),
            None
        );
        assert_eq!(
            OrderScene::new(OrderUser::SwanId(" 2636635856 ".into()), 2636635856),
            None
        );
        assert!(OrderScene::new(OrderUser::SwanId("2636635857".into()), 2636635856).is_some());
        // An openId is the user's own id: whatever its digits, it is not checked this way.
        let scene = OrderScene::new(OrderUser::OpenId("2636635856".into()), 2636635856).unwrap();
        assert_eq!(scene.scene_id(), 2636635856);
        assert_eq!(scene.user(), &OrderUser::OpenId("2636635856".into()));
    }

    /// Orders whose items carry these `ResourceID`s.
    fn sent(ids: &[&str]) -> AfterSaleOrders {
        AfterSaleOrders {
            data: ids
                .iter()
                .map(|id| json!({"CateID": 2, "ResourceID": id, "BizAPPID": "app"}))
                .collect(),
            ..orders()
        }
    }

    fn classify_sent(status: u16, body: &str, ids: &[&str]) -> OrderCenterOutcome {
        classify_answer(
            &Ok(UpstreamResponse {
                status,
                body: body.as_bytes().to_vec(),
            }),
            &sent(ids),
        )
    }

    fn classify(status: u16, body: &str) -> OrderCenterOutcome {
        classify_sent(status, body, &["1001"])
    }

    fn rejected_ids(outcome: OrderCenterOutcome) -> Vec<String> {
        match outcome {
            OrderCenterOutcome::Failed(error @ BaiduError::ItemsRejected { .. }) => {
                assert_eq!(error.code(), "baidu_items_rejected");
                assert_eq!(error.status(), 422);
                assert!(!is_transient(&error));
                match error {
                    BaiduError::ItemsRejected { resource_ids, .. } => resource_ids,
                    _ => unreachable!(),
                }
            }
            other => panic!("expected baidu_items_rejected, got {other:?}"),
        }
    }

    #[test]
    fn delivered_only_when_every_item_wrote_rows() {
        let ok = r#"{"errno":0,"msg":"success","data":[{"resource_id":"1","rows_affected":"1"},{"resource_id":2,"rows_affected":3}]}"#;
        assert!(matches!(
            classify_sent(200, ok, &["1", "2"]),
            OrderCenterOutcome::Delivered(_)
        ));
        // The order of Baidu's entries does not matter.
        let reversed = r#"{"errno":0,"data":[{"resource_id":"2","rows_affected":"1"},{"resource_id":"1","rows_affected":1}]}"#;
        assert!(matches!(
            classify_sent(200, reversed, &["1", "2"]),
            OrderCenterOutcome::Delivered(_)
        ));
        let partial = r#"{"errno":0,"msg":"success","data":[{"resource_id":"1","rows_affected":"1"},{"resource_id":"2","rows_affected":"0"},{"resource_id":3,"rows_affected":0}]}"#;
        match classify_sent(200, partial, &["1", "2", "3"]) {
            OrderCenterOutcome::Failed(error @ BaiduError::ItemsRejected { .. }) => {
                assert_eq!(fields(&error)["failedResourceIds"], json!(["2", "3"]));
                assert_eq!(
                    fields(&error)["baidu"],
                    serde_json::from_str::<Value>(partial).unwrap()
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn items_without_a_written_entry_are_rejected() {
        // Fewer entries than items sent.
        let short =
            r#"{"errno":0,"msg":"success","data":[{"resource_id":"1","rows_affected":"1"}]}"#;
        assert_eq!(
            rejected_ids(classify_sent(200, short, &["1", "2", "3"])),
            ["2", "3"]
        );
        // An empty `data`: nothing was proven written.
        let empty = r#"{"errno":0,"msg":"success","data":[]}"#;
        assert_eq!(
            rejected_ids(classify_sent(200, empty, &["1", "2"])),
            ["1", "2"]
        );
        // Entries for other ids, or with unreadable counts, prove nothing.
        let others = r#"{"errno":0,"data":[{"resource_id":"9","rows_affected":"1"},{"resource_id":"1","rows_affected":"x"},{"resource_id":"2","rows_affected":-1},{"rows_affected":"1"}]}"#;
        assert_eq!(
            rejected_ids(classify_sent(200, others, &["1", "2"])),
            ["1", "2"]
        );
        // An id sent twice needs two written entries.
        let once = r#"{"errno":0,"data":[{"resource_id":"1","rows_affected":"1"}]}"#;
        assert_eq!(rejected_ids(classify_sent(200, once, &["1", "1"])), ["1"]);
        let twice = r#"{"errno":0,"data":[{"resource_id":"1","rows_affected":"1"},{"resource_id":"1","rows_affected":"1"}]}"#;
        assert!(matches!(
            classify_sent(200, twice, &["1", "1"]),
            OrderCenterOutcome::Delivered(_)
        ));
        // Numeric and string ids match each other.
        let numeric = r#"{"errno":0,"data":[{"resource_id":1001,"rows_affected":1}]}"#;
        assert!(matches!(
            classify(200, numeric),
            OrderCenterOutcome::Delivered(_)
        ));
    }

    #[test]
    fn errno_0_without_an_array_of_entries_is_an_unknown_outcome() {
        for body in [
            r#"{"errno":0,"msg":"success"}"#,
            r#"{"errno":0,"msg":"success","data":null}"#,
            r#"{"errno":0,"msg":"success","data":{}}"#,
            r#"{"errno":0,"msg":"success","data":"ok"}"#,
            r#"{"errno":"0","msg":"success","data":{"rows_affected":"1"}}"#,
        ] {
            match classify(200, body) {
                OrderCenterOutcome::Failed(error) => {
                    assert_eq!(error, BaiduError::invalid_answer(200), "{body}");
                    assert!(is_transient(&error), "{body}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn token_errors_ask_for_a_refresh_whatever_the_status() {
        for status in [200, 401, 403] {
            match classify(
                status,
                r#"{"error_code":110,"error_msg":"Access token invalid"}"#,
            ) {
                OrderCenterOutcome::TokenExpired(error) => {
                    assert_eq!(error.code(), "baidu_error", "{status}");
                    assert_eq!(fields(&error)["baiduErrno"], 110);
                }
                other => panic!("{status}: {other:?}"),
            }
        }
        // `error_code` wins over an `errno` 0 in the same body.
        assert!(matches!(
            classify(
                401,
                r#"{"errno":0,"error_code":"111","error_msg":"expired","data":[]}"#
            ),
            OrderCenterOutcome::TokenExpired(_)
        ));
        // On an outage status the token is still refreshed; if that fails too, retry later.
        match classify(503, r#"{"error_code":111,"error_msg":"expired"}"#) {
            OrderCenterOutcome::TokenExpired(error) => assert!(is_transient(&error)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_2xx_json_answers_are_classified_by_their_code() {
        match classify(400, r#"{"errno":10001,"msg":"param error"}"#) {
            OrderCenterOutcome::Failed(BaiduError::Rejected { rejection, .. }) => {
                assert_eq!(rejection, BaiduRejection::BadParameter)
            }
            other => panic!("{other:?}"),
        }
        match classify(403, r#"{"error_code":18,"error_msg":"qps limit"}"#) {
            OrderCenterOutcome::Failed(error) => {
                assert_eq!(error.code(), "baidu_internal_error");
                assert!(is_transient(&error));
            }
            other => panic!("{other:?}"),
        }
        // An HTTP outage is transient even when its body carries a permanent code.
        match classify(502, r#"{"error_code":6,"error_msg":"no permission"}"#) {
            OrderCenterOutcome::Failed(error) => {
                assert_eq!(error, BaiduError::http_status(502));
                assert!(is_transient(&error));
            }
            other => panic!("{other:?}"),
        }
        // errno 0 on an error status proves nothing.
        let ok = r#"{"errno":0,"data":[{"resource_id":"1001","rows_affected":"1"}]}"#;
        match classify(500, ok) {
            OrderCenterOutcome::Failed(error) => assert_eq!(error, BaiduError::http_status(500)),
            other => panic!("{other:?}"),
        }
        match classify(404, ok) {
            OrderCenterOutcome::Failed(error) => {
                assert_eq!(error, BaiduError::http_status(404));
                assert!(!is_transient(&error));
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
                    assert_eq!(fields(&error)["baiduErrno"], errno);
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn other_errors_map_like_the_cashiers() {
        match classify(200, r#"{"errno":10001,"msg":"param error"}"#) {
            OrderCenterOutcome::Failed(BaiduError::Rejected { rejection, .. }) => {
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
        for body in [
            r#"{"errno":5010003,"msg":"QPS limit"}"#,
            r#"{"error_code":2,"error_msg":"Service temporarily unavailable"}"#,
            r#"{"errno":10003,"msg":"系统繁忙"}"#,
        ] {
            match classify(200, body) {
                OrderCenterOutcome::Failed(error) => assert!(is_transient(&error), "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        // On the order center 10003 is only the generic error: never a balance problem.
        match classify(200, r#"{"errno":10003,"msg":"企业余额不足"}"#) {
            OrderCenterOutcome::Failed(error) => {
                assert_eq!(error.code(), "baidu_error");
                assert!(!is_transient(&error));
            }
            other => panic!("{other:?}"),
        }
    }
}
