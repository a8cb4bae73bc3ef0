//! `POST /v1/after-sale/{update,append,status}`: after-sale (售后) order data for Baidu's
//! order center.
//!
//! Validates what Baidu requires, with the JSON types it wants, and names the JSON path of
//! the first bad field (`data[0].EXT.SubsOrder.Items[1].Refund.Amount`). Fields the relay
//! does not know pass through unchanged, so new Baidu fields need no release.

use serde_json::{Map, Value};

use super::fields::{parse_object, required_id};
use super::order_ref::required_tp_order_id;
use crate::baidu::ordercenter::{
    AfterSaleOrders, OrderCenterCall, OrderOwner, OrderScene, OrderUser,
};
use crate::error::ApiError;

/// The default `sceneType`: 2, a cashier (百度收银台) order.
pub const DEFAULT_SCENE_TYPE: u64 = 2;

/// At most this many items per call: a bound on work per request, well above real use.
pub const MAX_ITEMS: usize = 100;

/// Parses and validates the webhook body. `app_key` is the smart program's App Key, which
/// `BizAPPID` defaults to and must equal.
pub fn parse(
    body: &[u8],
    call: OrderCenterCall,
    app_key: &str,
) -> Result<AfterSaleOrders, ApiError> {
    let object = parse_object(body)?;
    let (owner, scene_type, items) = envelope(&object)?;
    let data = items
        .iter()
        .enumerate()
        .map(|(i, item)| validate_item(item, &format!("data[{i}]"), call, app_key))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AfterSaleOrders {
        owner,
        scene_type,
        data,
    })
}

/// The fields every order-center webhook shares: whose order (`openId` or `swanId`,
/// `sceneId`, `tpOrderId`, `sceneType`) and Baidu's `Data` items.
pub(super) fn envelope(
    object: &Map<String, Value>,
) -> Result<(OrderOwner, u64, &Vec<Value>), ApiError> {
    let owner = owner(object)?;
    let scene_type = match object.get("sceneType") {
        None | Some(Value::Null) => DEFAULT_SCENE_TYPE,
        Some(value) => value
            .as_u64()
            .filter(|t| (1..=u64::from(u32::MAX)).contains(t))
            .ok_or_else(|| {
                invalid(
                    "sceneType",
                    "must be a positive JSON integer (2 for cashier orders)",
                )
            })?,
    };
    let items = match object.get("data") {
        None | Some(Value::Null) => return Err(missing("data")),
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(invalid("data", "must hold at least one item"))
        }
        Some(Value::Array(items)) if items.len() > MAX_ITEMS => {
            return Err(invalid(
                "data",
                "must hold at most 100 items; split the call",
            ))
        }
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid("data", "must be an array of Baidu Data items")),
    };
    Ok((owner, scene_type, items))
}

/// Whose order: `openId` (or `swanId`, for a user without one) and `sceneId` as given, each
/// of them optional when `tpOrderId` is there to resolve it from. Explicit values win.
fn owner(object: &Map<String, Value>) -> Result<OrderOwner, ApiError> {
    let open_id = user_id(
        object,
        "openId",
        "must be the user's openId: a non-empty string",
    )?;
    let swan_id = user_id(
        object,
        "swanId",
        "must be the user's swanId (for a user without an openId): a non-empty string",
    )?;
    let user =
        match (open_id, swan_id) {
            (Some(_), Some(_)) => return Err(invalid(
                "swanId",
                "goes in place of openId, for a user without one: give openId or swanId, not both",
            )),
            (Some(open_id), None) => Some(OrderUser::OpenId(open_id)),
            (None, Some(swan_id)) => Some(OrderUser::SwanId(swan_id)),
            (None, None) => None,
        };
    let scene_id = match optional(object, "sceneId") {
        Some(_) => Some(required_id(object, "sceneId")?),
        None => None,
    };
    let tp_order_id = match optional(object, "tpOrderId") {
        Some(_) => Some(required_tp_order_id(object)?),
        None => None,
    };
    if tp_order_id.is_none() {
        if user.is_none() {
            return Err(missing("openId"));
        }
        if scene_id.is_none() {
            return Err(missing("sceneId"));
        }
    }
    if let (Some(user), Some(scene_id)) = (&user, scene_id) {
        if OrderScene::new(user.clone(), scene_id).is_none() {
            return Err(swan_id_is_scene_id());
        }
    }
    Ok(OrderOwner {
        user,
        scene_id,
        tp_order_id,
    })
}

/// A `swanId` equal to the `sceneId`: the official Java SDK's mistake (it fills `swan_id` with
/// the `scene_id`), refused rather than relayed.
pub fn swan_id_is_scene_id() -> ApiError {
    invalid(
        "swanId",
        "is the sceneId (Baidu's orderId), not the user's swanId; leave swanId out, or give the user's openId",
    )
}

fn user_id(
    object: &Map<String, Value>,
    field: &str,
    reason: &str,
) -> Result<Option<String>, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 256 => Ok(Some(s.clone())),
        Some(_) => Err(invalid(field, reason)),
    }
}

/// Fills in `BizAPPID` (the smart program's App Key), or checks the one given.
pub(super) fn biz_app_id(
    item: &mut Map<String, Value>,
    path: &str,
    app_key: &str,
) -> Result<(), ApiError> {
    match item.get("BizAPPID") {
        None | Some(Value::Null) => {
            item.insert("BizAPPID".into(), Value::String(app_key.to_owned()));
            Ok(())
        }
        Some(Value::String(given)) if given == app_key => Ok(()),
        Some(_) => Err(invalid(
            &format!("{path}.BizAPPID"),
            "must be this smart program's App Key (BAIDU_APP_KEY) or be left out; Baidu silently ignores items for another app",
        )),
    }
}

fn validate_item(
    item: &Value,
    path: &str,
    call: OrderCenterCall,
    app_key: &str,
) -> Result<Value, ApiError> {
    let object = as_object(item, path)?;
    int(object, path, "CateID", Need::Required)?;
    string(object, path, "ResourceID", Need::Required)?;
    let mut item = object.clone();
    biz_app_id(&mut item, path, app_key)?;
    let ext_path = format!("{path}.EXT");
    let ext = as_object(required(object, path, "EXT")?, &ext_path)?;
    let subs_path = format!("{ext_path}.SubsOrder");
    let subs = as_object(required(ext, &ext_path, "SubsOrder")?, &subs_path)?;
    int(subs, &subs_path, "Status", Need::Required)?;
    let items_need = match call {
        OrderCenterCall::UpdateStatus => Need::Optional,
        _ => Need::Required,
    };
    if let Some(items) = array(subs, &subs_path, "Items", items_need)? {
        for (i, sub) in items.iter().enumerate() {
            validate_sub_order(sub, &format!("{subs_path}.Items[{i}]"), call)?;
        }
    }
    Ok(Value::Object(item))
}

pub(super) fn validate_sub_order(
    sub: &Value,
    path: &str,
    call: OrderCenterCall,
) -> Result<(), ApiError> {
    let object = as_object(sub, path)?;
    string(object, path, "SubOrderID", Need::Required)?;
    int(object, path, "SubStatus", Need::Required)?;
    // The status call only moves statuses; the full calls describe the after-sale order.
    let full = match call {
        OrderCenterCall::UpdateStatus => Need::Optional,
        _ => Need::Required,
    };
    int(object, path, "CTime", full)?;
    int(object, path, "MTime", full)?;
    int(object, path, "OrderType", full)?;
    if let Some(detail) = optional(object, "OrderDetail") {
        let detail_path = format!("{path}.OrderDetail");
        let detail = as_object(detail, &detail_path)?;
        int(detail, &detail_path, "Status", Need::Optional)?;
        string(detail, &detail_path, "Name", Need::Optional)?;
        string(detail, &detail_path, "SwanSchema", Need::Optional)?;
    }
    if let Some(refund) = optional(object, "Refund") {
        let refund_path = format!("{path}.Refund");
        let refund = as_object(refund, &refund_path)?;
        int(refund, &refund_path, "Amount", Need::Required)?;
        if let Some(products) = array(refund, &refund_path, "Product", Need::Optional)? {
            for (i, product) in products.iter().enumerate() {
                let product_path = format!("{refund_path}.Product[{i}]");
                let product = as_object(product, &product_path)?;
                string(product, &product_path, "ID", Need::Required)?;
                int(product, &product_path, "Quantity", Need::Required)?;
                int(product, &product_path, "Amount", Need::Required)?;
            }
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    Required,
    Optional,
}

pub(super) fn join(parent: &str, name: &str) -> String {
    format!("{parent}.{name}")
}

pub(super) fn missing(field: &str) -> ApiError {
    ApiError::MissingField {
        field: field.to_owned(),
    }
}

pub(super) fn invalid(field: &str, reason: &str) -> ApiError {
    ApiError::InvalidField {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

pub(super) fn optional<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    object.get(name).filter(|v| !v.is_null())
}

pub(super) fn required<'v>(
    object: &'v Map<String, Value>,
    parent: &str,
    name: &str,
) -> Result<&'v Value, ApiError> {
    optional(object, name).ok_or_else(|| missing(&join(parent, name)))
}

pub(super) fn as_object<'v>(
    value: &'v Value,
    path: &str,
) -> Result<&'v Map<String, Value>, ApiError> {
    value
        .as_object()
        .ok_or_else(|| invalid(path, "must be a JSON object"))
}

/// Baidu wants JSON integers (amounts in fen, times in Unix seconds, enums): a string such
/// as "100" is rejected rather than guessed at.
pub(super) fn int(
    object: &Map<String, Value>,
    parent: &str,
    name: &str,
    need: Need,
) -> Result<(), ApiError> {
    match (optional(object, name), need) {
        (None, Need::Required) => Err(missing(&join(parent, name))),
        (None, Need::Optional) => Ok(()),
        (Some(value), _) if value.as_u64().is_some() => Ok(()),
        (Some(Value::String(_)), _) => Err(invalid(
            &join(parent, name),
            "must be a JSON integer, not a string (amounts in fen, times in Unix seconds)",
        )),
        (Some(_), _) => Err(invalid(
            &join(parent, name),
            "must be a non-negative JSON integer",
        )),
    }
}

/// Baidu wants strings for ids (`ResourceID`, `SubOrderID`, product `ID`): a number is
/// rejected, as a JavaScript sender may already have rounded it.
pub(super) fn string(
    object: &Map<String, Value>,
    parent: &str,
    name: &str,
    need: Need,
) -> Result<(), ApiError> {
    match (optional(object, name), need) {
        (None, Need::Required) => Err(missing(&join(parent, name))),
        (None, Need::Optional) => Ok(()),
        (Some(Value::String(s)), Need::Required) if s.is_empty() => {
            Err(invalid(&join(parent, name), "must not be empty"))
        }
        (Some(Value::String(_)), _) => Ok(()),
        (Some(Value::Number(_)), _) => Err(invalid(
            &join(parent, name),
            "must be a JSON string (quote the id), not a number",
        )),
        (Some(_), _) => Err(invalid(&join(parent, name), "must be a JSON string")),
    }
}

pub(super) fn array<'v>(
    object: &'v Map<String, Value>,
    parent: &str,
    name: &str,
    need: Need,
) -> Result<Option<&'v Vec<Value>>, ApiError> {
    match (optional(object, name), need) {
        (None, Need::Required) => Err(missing(&join(parent, name))),
        (None, Need::Optional) => Ok(None),
        (Some(Value::Array(items)), Need::Required) if items.is_empty() => {
            Err(invalid(&join(parent, name), "must hold at least one item"))
        }
        (Some(Value::Array(items)), _) => Ok(Some(items)),
        (Some(_), _) => Err(invalid(&join(parent, name), "must be a JSON array")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const APP_KEY: &str = "4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c";

    fn valid_item() -> Value {
        json!({
            "CateID": 2,
            "ResourceID": "1001",
            "EXT": {"SubsOrder": {"Status": 401, "Items": [{
                "SubOrderID": "sub-1",
                "SubStatus": 401,
                "CTime": 1700000000,
                "MTime": 1700000100,
                "OrderType": 1,
                "OrderDetail": {"Status": 2, "Name": "退款", "SwanSchema": "baiduboxapp://swan/x"},
                "Refund": {"Amount": 1500, "Product": [{"ID": "sku-1", "Quantity": 1, "Amount": 1500}]}
            }]}}
        })
    }

    fn body_with(item: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"openId": "open-1", "sceneId": "2636635856", "data": [item]}))
            .unwrap()
    }

    fn error_field(result: Result<AfterSaleOrders, ApiError>) -> (&'static str, String) {
        match result {
            Err(ApiError::MissingField { field }) => ("missing_field", field),
            Err(ApiError::InvalidField { field, .. }) => ("invalid_field", field),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    fn set(item: &mut Value, pointer: &str, value: Option<Value>) {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = item.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        match value {
            Some(value) => target.insert(key.to_owned(), value),
            None => target.remove(key),
        };
    }

    #[test]
    fn a_valid_body_gets_defaults_and_keeps_unknown_fields() {
        let mut item = valid_item();
        set(&mut item, "/FutureField", Some(json!({"x": [1, 2]})));
        set(
            &mut item,
            "/EXT/SubsOrder/Items/0/NewThing",
            Some(json!("kept")),
        );
        let parsed = parse(&body_with(item.clone()), OrderCenterCall::Update, APP_KEY).unwrap();
        assert_eq!(
            parsed.owner,
            OrderOwner::explicit(OrderUser::OpenId("open-1".into()), 2636635856)
        );
        assert_eq!(parsed.scene_type, DEFAULT_SCENE_TYPE);
        let mut expected = item;
        set(&mut expected, "/BizAPPID", Some(json!(APP_KEY)));
        assert_eq!(parsed.data, vec![expected]);
    }

    #[test]
    fn numbers_the_relay_does_not_check_reach_baidu_as_written() {
        // As written, digit for digit; only an exponent gains its sign (the same number).
        let written = [
            ("12345678901234567890", "12345678901234567890"),
            ("1.10", "1.10"),
            ("-0.0", "-0.0"),
            (
                "0.1000000000000000055511151231257827",
                "0.1000000000000000055511151231257827",
            ),
            ("1e2", "1e+2"),
            ("2.5E-3", "2.5e-3"),
        ];
        let mut item = valid_item().to_string();
        item.pop();
        for (i, (number, _)) in written.iter().enumerate() {
            item.push_str(&format!(r#","Pass{i}":{number}"#));
        }
        item.push('}');
        let body = format!(r#"{{"openId":"open-1","sceneId":2636635856,"data":[{item}]}}"#);
        let parsed = parse(body.as_bytes(), OrderCenterCall::Update, APP_KEY).unwrap();
        let request = crate::baidu::ordercenter::build_request(
            OrderCenterCall::Update,
            &parsed,
            &OrderScene::new(OrderUser::OpenId("open-1".into()), 2636635856).unwrap(),
            crate::baidu::ordercenter::OrderCenterTarget {
                openapi_url: "https://openapi.baidu.com",
                pay_app_key: "MMMzaA",
            },
            &crate::baidu::token::AccessToken::new("tok".into(), u64::MAX),
        );
        let sent = String::from_utf8(request.body).unwrap();
        for (i, (number, as_sent)) in written.iter().enumerate() {
            assert!(
                sent.contains(&format!(r#""Pass{i}":{as_sent}"#)),
                "{number}: {sent}"
            );
        }
    }

    #[test]
    fn biz_app_id_must_match_when_given() {
        let mut item = valid_item();
        set(&mut item, "/BizAPPID", Some(json!(APP_KEY)));
        assert!(parse(&body_with(item.clone()), OrderCenterCall::Update, APP_KEY).is_ok());
        set(&mut item, "/BizAPPID", Some(json!("MMMzaA")));
        assert_eq!(
            error_field(parse(&body_with(item), OrderCenterCall::Update, APP_KEY)),
            ("invalid_field", "data[0].BizAPPID".into())
        );
    }

    #[test]
    fn each_required_field_missing_is_named_by_path() {
        let required = [
            ("/CateID", "data[0].CateID"),
            ("/ResourceID", "data[0].ResourceID"),
            ("/EXT", "data[0].EXT"),
            ("/EXT/SubsOrder", "data[0].EXT.SubsOrder"),
            ("/EXT/SubsOrder/Status", "data[0].EXT.SubsOrder.Status"),
            ("/EXT/SubsOrder/Items", "data[0].EXT.SubsOrder.Items"),
            (
                "/EXT/SubsOrder/Items/0/SubOrderID",
                "data[0].EXT.SubsOrder.Items[0].SubOrderID",
            ),
            (
                "/EXT/SubsOrder/Items/0/SubStatus",
                "data[0].EXT.SubsOrder.Items[0].SubStatus",
            ),
            (
                "/EXT/SubsOrder/Items/0/CTime",
                "data[0].EXT.SubsOrder.Items[0].CTime",
            ),
            (
                "/EXT/SubsOrder/Items/0/MTime",
                "data[0].EXT.SubsOrder.Items[0].MTime",
            ),
            (
                "/EXT/SubsOrder/Items/0/OrderType",
                "data[0].EXT.SubsOrder.Items[0].OrderType",
            ),
            (
                "/EXT/SubsOrder/Items/0/Refund/Amount",
                "data[0].EXT.SubsOrder.Items[0].Refund.Amount",
            ),
            (
                "/EXT/SubsOrder/Items/0/Refund/Product/0/ID",
                "data[0].EXT.SubsOrder.Items[0].Refund.Product[0].ID",
            ),
            (
                "/EXT/SubsOrder/Items/0/Refund/Product/0/Quantity",
                "data[0].EXT.SubsOrder.Items[0].Refund.Product[0].Quantity",
            ),
            (
                "/EXT/SubsOrder/Items/0/Refund/Product/0/Amount",
                "data[0].EXT.SubsOrder.Items[0].Refund.Product[0].Amount",
            ),
        ];
        for (pointer, path) in required {
            let mut item = valid_item();
            set(&mut item, pointer, None);
            assert_eq!(
                error_field(parse(&body_with(item), OrderCenterCall::Update, APP_KEY)),
                ("missing_field", path.to_owned()),
                "{pointer}"
            );
        }
    }

    #[test]
    fn each_wrong_type_is_named_by_path() {
        let wrong = [
            ("/CateID", json!("2"), "data[0].CateID"),
            ("/CateID", json!(2.5), "data[0].CateID"),
            ("/ResourceID", json!(1001), "data[0].ResourceID"),
            ("/EXT", json!([]), "data[0].EXT"),
            (
                "/EXT/SubsOrder/Status",
                json!(-1),
                "data[0].EXT.SubsOrder.Status",
            ),
            (
                "/EXT/SubsOrder/Items",
                json!({}),
                "data[0].EXT.SubsOrder.Items",
            ),
            (
                "/EXT/SubsOrder/Items",
                json!([]),
                "data[0].EXT.SubsOrder.Items",
            ),
            (
                "/EXT/SubsOrder/Items/0/SubOrderID",
                json!(5),
                "data[0].EXT.SubsOrder.Items[0].SubOrderID",
            ),
            (
                "/EXT/SubsOrder/Items/0/CTime",
                json!("1700000000"),
                "data[0].EXT.SubsOrder.Items[0].CTime",
            ),
            (
                "/EXT/SubsOrder/Items/0/OrderDetail/Status",
                json!("1"),
                "data[0].EXT.SubsOrder.Items[0].OrderDetail.Status",
            ),
            (
                "/EXT/SubsOrder/Items/0/OrderDetail/Name",
                json!(7),
                "data[0].EXT.SubsOrder.Items[0].OrderDetail.Name",
            ),
            (
                "/EXT/SubsOrder/Items/0/Refund/Amount",
                json!("15.00"),
                "data[0].EXT.SubsOrder.Items[0].Refund.Amount",
            ),
            (
                "/EXT/SubsOrder/Items/0/Refund/Product/0/ID",
                json!(1),
                "data[0].EXT.SubsOrder.Items[0].Refund.Product[0].ID",
            ),
            (
                "/EXT/SubsOrder/Items/0/Refund/Product/0/Quantity",
                json!(true),
                "data[0].EXT.SubsOrder.Items[0].Refund.Product[0].Quantity",
            ),
        ];
        for (pointer, value, path) in wrong {
            let mut item = valid_item();
            set(&mut item, pointer, Some(value.clone()));
            assert_eq!(
                error_field(parse(&body_with(item), OrderCenterCall::Update, APP_KEY)),
                ("invalid_field", path.to_owned()),
                "{pointer} = {value}"
            );
        }
    }

    #[test]
    fn the_second_sub_order_is_named_by_its_index() {
        let mut item = valid_item();
        let mut second = item.pointer("/EXT/SubsOrder/Items/0").unwrap().clone();
        set(&mut second, "/Refund/Amount", Some(json!("1")));
        item.pointer_mut("/EXT/SubsOrder/Items")
            .unwrap()
            .as_array_mut()
            .unwrap()
            .push(second);
        assert_eq!(
            error_field(parse(&body_with(item), OrderCenterCall::Update, APP_KEY)),
            (
                "invalid_field",
                "data[0].EXT.SubsOrder.Items[1].Refund.Amount".into()
            )
        );
    }

    #[test]
    fn top_level_fields_are_checked() {
        let item = valid_item();
        let cases = [
            (
                json!({"sceneId": 1, "data": [item.clone()]}),
                ("missing_field", "openId"),
            ),
            (
                json!({"openId": "", "sceneId": 1, "data": [item.clone()]}),
                ("invalid_field", "openId"),
            ),
            (
                json!({"openId": "o", "data": [item.clone()]}),
                ("missing_field", "sceneId"),
            ),
            (
                json!({"openId": "o", "sceneId": "x", "data": [item.clone()]}),
                ("invalid_field", "sceneId"),
            ),
            (
                json!({"openId": "o", "sceneId": 1, "sceneType": "2", "data": [item.clone()]}),
                ("invalid_field", "sceneType"),
            ),
            (
                json!({"openId": "o", "sceneId": 1}),
                ("missing_field", "data"),
            ),
            (
                json!({"openId": "o", "sceneId": 1, "data": []}),
                ("invalid_field", "data"),
            ),
            (
                json!({"openId": "o", "sceneId": 1, "data": {}}),
                ("invalid_field", "data"),
            ),
            (
                json!({"openId": "o", "sceneId": 1, "data": [1]}),
                ("invalid_field", "data[0]"),
            ),
        ];
        for (body, (code, field)) in cases {
            let result = parse(
                &serde_json::to_vec(&body).unwrap(),
                OrderCenterCall::Update,
                APP_KEY,
            );
            assert_eq!(error_field(result), (code, field.to_owned()), "{body}");
        }
        let body = json!({"openId": "o", "sceneId": 7, "sceneType": 5, "data": [item]});
        assert_eq!(
            parse(
                &serde_json::to_vec(&body).unwrap(),
                OrderCenterCall::Append,
                APP_KEY
            )
            .unwrap()
            .scene_type,
            5
        );
    }

    fn owner_of(body: Value) -> Result<OrderOwner, ApiError> {
        parse(
            &serde_json::to_vec(&body).unwrap(),
            OrderCenterCall::Update,
            APP_KEY,
        )
        .map(|orders| orders.owner)
    }

    #[test]
    fn tp_order_id_stands_in_for_open_id_and_scene_id() {
        let item = valid_item();
        let owner = |user: Option<OrderUser>, scene_id: Option<u64>, tp: Option<&str>| OrderOwner {
            user,
            scene_id,
            tp_order_id: tp.map(str::to_owned),
        };
        let open = |id: &str| Some(OrderUser::OpenId(id.into()));
        let swan = |id: &str| Some(OrderUser::SwanId(id.into()));
        let cases = [
            (
                json!({"tpOrderId": "T-1", "data": [item.clone()]}),
                owner(None, None, Some("T-1")),
            ),
            (
                json!({"tpOrderId": 18607895241u64, "data": [item.clone()]}),
                owner(None, None, Some("18607895241")),
            ),
            // What is given explicitly is kept, and wins over the resolution.
            (
                json!({"openId": "o", "tpOrderId": "T-1", "data": [item.clone()]}),
                owner(open("o"), None, Some("T-1")),
            ),
            (
                json!({"sceneId": "7", "tpOrderId": "T-1", "data": [item.clone()]}),
                owner(None, Some(7), Some("T-1")),
            ),
            (
                json!({"openId": "o", "sceneId": 7, "tpOrderId": "T-1", "data": [item.clone()]}),
                owner(open("o"), Some(7), Some("T-1")),
            ),
            (
                json!({"swanId": "s", "sceneId": 7, "data": [item.clone()]}),
                owner(swan("s"), Some(7), None),
            ),
            (
                json!({"swanId": "s", "tpOrderId": "T-1", "data": [item.clone()]}),
                owner(swan("s"), None, Some("T-1")),
            ),
            (
                json!({"openId": "o", "swanId": null, "sceneId": 7, "data": [item.clone()]}),
                owner(open("o"), Some(7), None),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(owner_of(body.clone()), Ok(expected), "{body}");
        }
    }

    #[test]
    fn whose_order_errors_name_the_field() {
        let item = valid_item();
        let cases = [
            // Neither the ids nor a tpOrderId: the explicit form's first field is named.
            (json!({"data": [item.clone()]}), ("missing_field", "openId")),
            (
                json!({"swanId": "s", "data": [item.clone()]}),
                ("missing_field", "sceneId"),
            ),
            (
                json!({"openId": "o", "swanId": "s", "sceneId": 7, "data": [item.clone()]}),
                ("invalid_field", "swanId"),
            ),
            (
                json!({"openId": "o", "swanId": "s", "tpOrderId": "T", "data": [item.clone()]}),
                ("invalid_field", "swanId"),
            ),
            (
                json!({"swanId": "", "sceneId": 7, "data": [item.clone()]}),
                ("invalid_field", "swanId"),
            ),
            (
                json!({"swanId": 5, "sceneId": 7, "data": [item.clone()]}),
                ("invalid_field", "swanId"),
            ),
            // The Java SDK's mistake: swan_id filled with the scene_id.
            (
                json!({"swanId": "2636635856", "sceneId": 2636635856u64, "data": [item.clone()]}),
                ("invalid_field", "swanId"),
            ),
            (
                json!({"tpOrderId": "", "data": [item.clone()]}),
                ("invalid_field", "tpOrderId"),
            ),
            (
                json!({"tpOrderId": "a\nb", "data": [item.clone()]}),
                ("invalid_field", "tpOrderId"),
            ),
            (
                json!({"openId": "o", "sceneId": 7, "tpOrderId": false, "data": [item.clone()]}),
                ("invalid_field", "tpOrderId"),
            ),
            (
                json!({"tpOrderId": "T", "sceneId": "x", "data": [item.clone()]}),
                ("invalid_field", "sceneId"),
            ),
            (json!({"tpOrderId": "T"}), ("missing_field", "data")),
        ];
        for (body, (code, field)) in cases {
            let result = parse(
                &serde_json::to_vec(&body).unwrap(),
                OrderCenterCall::Update,
                APP_KEY,
            );
            assert_eq!(error_field(result), (code, field.to_owned()), "{body}");
        }
    }

    #[test]
    fn the_status_call_needs_only_statuses() {
        let item =
            json!({"CateID": 2, "ResourceID": "1001", "EXT": {"SubsOrder": {"Status": 402}}});
        assert!(parse(
            &body_with(item.clone()),
            OrderCenterCall::UpdateStatus,
            APP_KEY
        )
        .is_ok());
        assert_eq!(
            error_field(parse(&body_with(item), OrderCenterCall::Update, APP_KEY)),
            ("missing_field", "data[0].EXT.SubsOrder.Items".into())
        );
        let with_items = json!({"CateID": 2, "ResourceID": "1001", "EXT": {"SubsOrder": {"Status": 402,
            "Items": [{"SubOrderID": "s", "SubStatus": 402}]}}});
        assert!(parse(
            &body_with(with_items),
            OrderCenterCall::UpdateStatus,
            APP_KEY
        )
        .is_ok());
    }
}
