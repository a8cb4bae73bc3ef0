//! `POST /v1/orders/{add,update,status,logistics}`: main orders (主订单) for Baidu's order
//! center.
//!
//! Same envelope, checks and pass-through as the after-sale routes (`after_sale.rs`), plus the
//! traps Baidu documents for main orders: they spell `Ctime`/`Mtime` where after-sale items
//! spell `CTime`/`MTime` (a wrong spelling is ignored silently by Baidu, so either is accepted
//! and Baidu's is sent), `add` takes exactly one order, and `Payment.Amount` must equal Baidu's
//! formula over products, payment info and discounts.

use serde_json::{Map, Value};

use super::after_sale::{
    array, as_object, biz_app_id, envelope, int, invalid, missing, optional, required, string,
    validate_sub_order, Need,
};
use super::fields::parse_object;
use crate::baidu::ordercenter::{AfterSaleOrders, OrderCenterCall};
use crate::config::AmountCheck;
use crate::error::{AmountMismatch, ApiError};

/// A validated main-order call, and what the amount check found when it only warns.
#[derive(Debug, Clone, PartialEq)]
pub struct MainOrders {
    pub orders: AfterSaleOrders,
    /// `ORDER_AMOUNT_CHECK=warn`: the mismatch that was let through, for the log.
    pub amount_warning: Option<String>,
}

/// Parses and validates a main-order webhook for `call` (one of the main-order calls).
pub fn parse(
    body: &[u8],
    call: OrderCenterCall,
    app_key: &str,
    amount_check: AmountCheck,
) -> Result<MainOrders, ApiError> {
    let object = parse_object(body)?;
    let (owner, scene_type, items) = envelope(&object)?;
    if call == OrderCenterCall::AddMain && items.len() != 1 {
        return Err(invalid(
            "data",
            "must hold exactly one order: Baidu imports one main order per call",
        ));
    }
    let mut warnings = Vec::new();
    let mut data = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("data[{i}]");
        let (item, mismatch) = validate_item(item, &path, call, app_key)?;
        if let Some(mismatch) = mismatch {
            match amount_check {
                AmountCheck::Reject => return Err(ApiError::AmountMismatch(Box::new(mismatch))),
                AmountCheck::Warn => warnings.push(mismatch.describe()),
            }
        }
        data.push(item);
    }
    Ok(MainOrders {
        orders: AfterSaleOrders {
            owner,
            scene_type,
            data,
        },
        amount_warning: (!warnings.is_empty()).then(|| warnings.join(" ")),
    })
}

/// `/v1/orders/sync`: one main order carrying its after-sale items, split into the import
/// (`add/main/info`, without `EXT.SubsOrder`) and the after-sale import (`append/sub/info`)
/// that follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderSync {
    pub main: MainOrders,
    pub after_sale: AfterSaleOrders,
}

/// Parses and validates a sync webhook: an `add` body whose one order has `EXT.SubsOrder`.
pub fn parse_sync(
    body: &[u8],
    app_key: &str,
    amount_check: AmountCheck,
) -> Result<OrderSync, ApiError> {
    let mut main = parse(body, OrderCenterCall::AddMain, app_key, amount_check)?;
    let item = main
        .orders
        .data
        .first_mut()
        .and_then(Value::as_object_mut)
        .ok_or(ApiError::Internal)?;
    let subs = item
        .get_mut("EXT")
        .and_then(Value::as_object_mut)
        .and_then(|ext| ext.remove("SubsOrder"))
        .filter(|subs| !subs.is_null())
        .ok_or_else(|| missing("data[0].EXT.SubsOrder"))?;
    let mut after_sale_item = Map::new();
    for key in ["CateID", "BizAPPID", "ResourceID"] {
        if let Some(value) = item.get(key) {
            after_sale_item.insert(key.to_owned(), value.clone());
        }
    }
    let mut ext = Map::new();
    ext.insert("SubsOrder".into(), subs);
    after_sale_item.insert("EXT".into(), Value::Object(ext));
    let after_sale = AfterSaleOrders {
        data: vec![Value::Object(after_sale_item)],
        ..main.orders.clone()
    };
    Ok(OrderSync { main, after_sale })
}

/// One `Data` item, normalised (`BizAPPID` filled in, times spelt Baidu's way), and the amount
/// mismatch it has, if any.
pub(super) fn validate_item(
    item: &Value,
    path: &str,
    call: OrderCenterCall,
    app_key: &str,
) -> Result<(Value, Option<AmountMismatch>), ApiError> {
    let mut item = as_object(item, path)?.clone();
    int(&item, path, "CateID", Need::Required)?;
    string(&item, path, "ResourceID", Need::Required)?;
    biz_app_id(&mut item, path, app_key)?;
    let mut mismatch = None;
    match call {
        OrderCenterCall::AddMain | OrderCenterCall::UpdateMain => {
            let full = if call == OrderCenterCall::AddMain {
                Need::Required
            } else {
                // Baidu's update example carries no Title or times.
                Need::Optional
            };
            int(&item, path, "Status", Need::Required)?;
            string(&item, path, "Title", full)?;
            spell_times(&mut item, path, MAIN_TIMES, full)?;
            let ext_path = format!("{path}.EXT");
            let mut ext = as_object(required(&item, path, "EXT")?, &ext_path)?.clone();
            let main_path = format!("{ext_path}.MainOrder");
            let mut main = as_object(required(&ext, &ext_path, "MainOrder")?, &main_path)?.clone();
            mismatch = validate_main_order(&mut main, &main_path, full)?;
            ext.insert("MainOrder".into(), Value::Object(main));
            if let Some(subs) = optional(&ext, "SubsOrder").cloned() {
                let subs_path = format!("{ext_path}.SubsOrder");
                ext.insert("SubsOrder".into(), validate_subs_order(&subs, &subs_path)?);
            }
            item.insert("EXT".into(), Value::Object(ext));
        }
        OrderCenterCall::UpdateMainStatus => {
            int(&item, path, "Status", Need::Required)?;
        }
        OrderCenterCall::AddLogistics => {
            let ext_path = format!("{path}.EXT");
            let ext = as_object(required(&item, path, "EXT")?, &ext_path)?;
            let main_path = format!("{ext_path}.MainOrder");
            let main = as_object(required(ext, &ext_path, "MainOrder")?, &main_path)?;
            let express_path = format!("{main_path}.Express");
            let express = as_object(required(main, &main_path, "Express")?, &express_path)?;
            string(express, &express_path, "Code", Need::Required)?;
            string(express, &express_path, "ID", Need::Required)?;
            string(express, &express_path, "Name", Need::Required)?;
            int(express, &express_path, "Status", Need::Required)?;
            int(express, &express_path, "Type", Need::Required)?;
        }
        OrderCenterCall::Update | OrderCenterCall::Append | OrderCenterCall::UpdateStatus => {
            return Err(ApiError::Internal)
        }
    }
    Ok((Value::Object(item), mismatch))
}

/// `EXT.SubsOrder` carried by a main order: after-sale items as `append/sub/info` takes them,
/// with their times spelt `CTime`/`MTime`.
pub(super) fn validate_subs_order(subs: &Value, path: &str) -> Result<Value, ApiError> {
    let mut subs = as_object(subs, path)?.clone();
    int(&subs, path, "Status", Need::Required)?;
    if let Some(items) = array(&subs, path, "Items", Need::Required)? {
        let mut normalised = Vec::with_capacity(items.len());
        for (i, sub) in items.iter().enumerate() {
            let sub_path = format!("{path}.Items[{i}]");
            let mut sub = as_object(sub, &sub_path)?.clone();
            spell_times(&mut sub, &sub_path, SUB_TIMES, Need::Required)?;
            let sub = Value::Object(sub);
            validate_sub_order(&sub, &sub_path, OrderCenterCall::Append)?;
            normalised.push(sub);
        }
        subs.insert("Items".into(), Value::Array(normalised));
    }
    Ok(Value::Object(subs))
}

/// Baidu's spelling first, the other one second.
type Spellings = [(&'static str, &'static str); 2];
const MAIN_TIMES: Spellings = [("Ctime", "CTime"), ("Mtime", "MTime")];
const SUB_TIMES: Spellings = [("CTime", "Ctime"), ("MTime", "Mtime")];

/// Accepts either spelling of each time and keeps Baidu's: a key Baidu does not expect is
/// dropped without a word on its side, and the order would show no time.
fn spell_times(
    object: &mut Map<String, Value>,
    path: &str,
    spellings: Spellings,
    need: Need,
) -> Result<(), ApiError> {
    for (baidu, other) in spellings {
        let given = object.remove(baidu).filter(|v| !v.is_null());
        let misspelt = object.remove(other).filter(|v| !v.is_null());
        let value = match (given, misspelt) {
            (Some(a), Some(b)) if a != b => {
                return Err(invalid(
                    &format!("{path}.{baidu}"),
                    &format!("is given twice, as {baidu} and {other}, with different values; send one (Baidu spells it {baidu} here)"),
                ))
            }
            (Some(a), _) => Some(a),
            (None, b) => b,
        };
        if let Some(value) = value {
            object.insert(baidu.to_owned(), value);
        }
        int(object, path, baidu, need)?;
    }
    Ok(())
}

/// Validates `EXT.MainOrder` (normalising `Products[].DetailPage.Status` to an integer) and
/// checks `Payment.Amount` when the order carries products and an amount.
fn validate_main_order(
    main: &mut Map<String, Value>,
    path: &str,
    full: Need,
) -> Result<Option<AmountMismatch>, ApiError> {
    let mut products_total: i128 = 0;
    let mut have_products = false;
    if let Some(products) = array(main, path, "Products", full)?.cloned() {
        have_products = true;
        let mut normalised = Vec::with_capacity(products.len());
        for (i, product) in products.iter().enumerate() {
            let product_path = format!("{path}.Products[{i}]");
            let mut product = as_object(product, &product_path)?.clone();
            string(&product, &product_path, "ID", Need::Required)?;
            string(&product, &product_path, "Name", Need::Required)?;
            string(&product, &product_path, "Desc", Need::Optional)?;
            let quantity = number(&product, &product_path, "Quantity")?;
            int(&product, &product_path, "Price", Need::Required)?;
            let pay_price = number(&product, &product_path, "PayPrice")?;
            products_total += pay_price * quantity;
            if let Some(images) = array(&product, &product_path, "ImgList", Need::Optional)? {
                if images.len() > 5 {
                    return Err(invalid(
                        &format!("{product_path}.ImgList"),
                        "must hold at most 5 image URLs",
                    ));
                }
            }
            if let Some(page) = optional(&product, "DetailPage").cloned() {
                let page_path = format!("{product_path}.DetailPage");
                let mut page = as_object(&page, &page_path)?.clone();
                int_or_digits(&mut page, &page_path, "Status")?;
                string(&page, &page_path, "SwanSchema", Need::Optional)?;
                product.insert("DetailPage".into(), Value::Object(page));
            }
            array(&product, &product_path, "SkuAttr", Need::Optional)?;
            normalised.push(Value::Object(product));
        }
        main.insert("Products".into(), Value::Array(normalised));
    }
    let payment_path = format!("{path}.Payment");
    let mut mismatch = None;
    if let Some(payment) = match full {
        Need::Required => Some(required(main, path, "Payment")?),
        Need::Optional => optional(main, "Payment"),
    } {
        let payment = as_object(payment, &payment_path)?;
        int(payment, &payment_path, "Method", Need::Required)?;
        let amount = number(payment, &payment_path, "Amount")?;
        match optional(payment, "IsPayment") {
            Some(Value::Bool(_)) => {}
            None => return Err(missing(&format!("{payment_path}.IsPayment"))),
            Some(_) => {
                return Err(invalid(
                    &format!("{payment_path}.IsPayment"),
                    "must be true or false",
                ))
            }
        }
        int(payment, &payment_path, "Time", Need::Optional)?;
        let payment_info = lines_total(payment, &payment_path, "PaymentInfo")?;
        let preferential_info = lines_total(payment, &payment_path, "PreferentialInfo")?;
        if have_products {
            let expected = products_total + payment_info - preferential_info;
            if amount != expected {
                mismatch = Some(AmountMismatch {
                    field: format!("{payment_path}.Amount"),
                    given: amount,
                    expected,
                    products: products_total,
                    payment_info,
                    preferential_info,
                    suspect: suspect(amount, products_total, payment_info, preferential_info),
                });
            }
        }
    }
    for name in ["Appraise", "OrderDetail"] {
        if let Some(part) = optional(main, name) {
            let part_path = format!("{path}.{name}");
            let part = as_object(part, &part_path)?;
            int(part, &part_path, "Status", Need::Optional)?;
            string(part, &part_path, "SwanSchema", Need::Optional)?;
        }
    }
    Ok(mismatch)
}

/// The term that explains the difference between the amount given and Baidu's formula.
fn suspect(given: i128, products: i128, payment_info: i128, preferential: i128) -> Option<String> {
    let expected = products + payment_info - preferential;
    let sentence = if preferential != 0 && given == expected + preferential {
        "The PreferentialInfo term (discounts) looks missing: the amount equals the total before discounts."
    } else if preferential != 0 && given == expected - preferential {
        "The PreferentialInfo term (discounts) looks subtracted twice."
    } else if payment_info != 0 && given == expected - payment_info {
        "The PaymentInfo term (fees such as shipping) looks missing: the amount equals the total without it."
    } else if given == payment_info - preferential {
        "The Products term (PayPrice × Quantity) looks missing."
    } else {
        return None;
    };
    Some(sentence.to_owned())
}

/// A required non-negative integer, as a number for the formula.
fn number(object: &Map<String, Value>, path: &str, name: &str) -> Result<i128, ApiError> {
    int(object, path, name, Need::Required)?;
    Ok(object
        .get(name)
        .and_then(Value::as_u64)
        .map(i128::from)
        .unwrap_or_default())
}

/// Σ `Value` × `Quantity` over `PaymentInfo` or `PreferentialInfo` (`[{Name, Value, Quantity}]`).
fn lines_total(payment: &Map<String, Value>, path: &str, name: &str) -> Result<i128, ApiError> {
    let mut total = 0;
    if let Some(lines) = array(payment, path, name, Need::Optional)? {
        for (i, line) in lines.iter().enumerate() {
            let line_path = format!("{path}.{name}[{i}]");
            let line = as_object(line, &line_path)?;
            string(line, &line_path, "Name", Need::Required)?;
            total += number(line, &line_path, "Value")? * number(line, &line_path, "Quantity")?;
        }
    }
    Ok(total)
}

/// An optional integer that Baidu's own SDKs sometimes send as a string ("2"): accepted either
/// way and sent as the integer Baidu's table asks for.
fn int_or_digits(object: &mut Map<String, Value>, path: &str, name: &str) -> Result<(), ApiError> {
    if let Some(Value::String(text)) = object.get(name) {
        let Ok(number) = text.trim().parse::<u64>() else {
            return Err(invalid(
                &format!("{path}.{name}"),
                "must be an integer (0, 1 or 2), as a JSON number or a string of digits",
            ));
        };
        object.insert(name.to_owned(), Value::from(number));
    }
    int(object, path, name, Need::Optional)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baidu::ordercenter::{OrderOwner, OrderUser};
    use serde_json::json;

    const APP_KEY: &str = "4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c";

    /// Baidu's own example order: 2 × 4900 paid, 500 shipping, a 1000 coupon: 9300.
    fn valid_order() -> Value {
        json!({
            "CateID": 2,
            "ResourceID": "M202604250001",
            "Title": "Course",
            "Ctime": 1700000000,
            "Mtime": 1700000100,
            "Status": 200,
            "EXT": {"MainOrder": {
                "Products": [{"ID": "sku-1", "Name": "Lesson", "Quantity": 2, "Price": 5000, "PayPrice": 4900,
                    "DetailPage": {"Status": 2, "SwanSchema": "baiduboxapp://swan/x"}}],
                "Payment": {"Method": 1, "Amount": 9300, "IsPayment": true,
                    "PaymentInfo": [{"Name": "shipping", "Value": 500, "Quantity": 1}],
                    "PreferentialInfo": [{"Name": "coupon", "Value": 1000, "Quantity": 1}]},
                "OrderDetail": {"Status": 2, "SwanSchema": "baiduboxapp://swan/y"}
            }}
        })
    }

    fn body_with(items: Vec<Value>) -> Vec<u8> {
        serde_json::to_vec(&json!({"openId": "open-1", "sceneId": "2636635856", "data": items}))
            .unwrap()
    }

    fn parse_one(item: Value, call: OrderCenterCall) -> Result<MainOrders, ApiError> {
        parse(&body_with(vec![item]), call, APP_KEY, AmountCheck::Reject)
    }

    fn field_error(result: Result<MainOrders, ApiError>) -> (&'static str, String) {
        match result {
            Err(ApiError::MissingField { field }) => ("missing_field", field),
            Err(ApiError::InvalidField { field, .. }) => ("invalid_field", field),
            Err(ApiError::AmountMismatch(mismatch)) => ("amount_mismatch", mismatch.field),
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
    fn a_valid_order_keeps_unknown_fields_and_gets_its_app_key() {
        let mut item = valid_order();
        set(&mut item, "/Future", Some(json!({"x": [1]})));
        set(
            &mut item,
            "/EXT/MainOrder/Products/0/NewThing",
            Some(json!("kept")),
        );
        let parsed = parse_one(item.clone(), OrderCenterCall::AddMain).unwrap();
        let mut expected = item;
        set(&mut expected, "/BizAPPID", Some(json!(APP_KEY)));
        assert_eq!(parsed.orders.data, vec![expected]);
        assert_eq!(
            parsed.orders.owner,
            OrderOwner::explicit(OrderUser::OpenId("open-1".into()), 2636635856)
        );
        assert_eq!(parsed.amount_warning, None);
    }

    #[test]
    fn main_orders_and_syncs_take_a_tp_order_id_or_a_swan_id_too() {
        let body = |envelope: Value| {
            let mut body = envelope;
            body["data"] = json!([valid_order()]);
            serde_json::to_vec(&body).unwrap()
        };
        let parsed = parse(
            &body(json!({"tpOrderId": "T-1"})),
            OrderCenterCall::AddMain,
            APP_KEY,
            AmountCheck::Reject,
        )
        .unwrap();
        assert_eq!(
            parsed.orders.owner,
            OrderOwner {
                user: None,
                scene_id: None,
                tp_order_id: Some("T-1".into())
            }
        );
        let mut with_subs = valid_order();
        set(
            &mut with_subs,
            "/EXT/SubsOrder",
            Some(
                json!({"Status": 401, "Items": [{"SubOrderID": "s-1", "SubStatus": 401,
                "CTime": 1700000200, "MTime": 1700000300, "OrderType": 1}]}),
            ),
        );
        let sync_body = serde_json::to_vec(
            &json!({"swanId": "swan-1", "tpOrderId": "T-1", "data": [with_subs]}),
        )
        .unwrap();
        let sync = parse_sync(&sync_body, APP_KEY, AmountCheck::Reject).unwrap();
        assert_eq!(
            sync.after_sale.owner.user,
            Some(OrderUser::SwanId("swan-1".into()))
        );
        assert_eq!(sync.after_sale.owner, sync.main.orders.owner);
        for call in [
            OrderCenterCall::AddMain,
            OrderCenterCall::UpdateMain,
            OrderCenterCall::UpdateMainStatus,
        ] {
            assert_eq!(
                parse(&body(json!({})), call, APP_KEY, AmountCheck::Reject),
                Err(ApiError::MissingField {
                    field: "openId".into()
                })
            );
            assert!(matches!(
                parse(&body(json!({"openId": "o", "swanId": "s", "sceneId": 1})), call, APP_KEY, AmountCheck::Reject),
                Err(ApiError::InvalidField { field, .. }) if field == "swanId"
            ));
        }
    }

    #[test]
    fn either_spelling_of_the_times_is_sent_as_baidus() {
        let mut item = valid_order();
        set(&mut item, "/Ctime", None);
        set(&mut item, "/Mtime", None);
        set(&mut item, "/CTime", Some(json!(1700000000)));
        set(&mut item, "/MTime", Some(json!(1700000100)));
        let sent = &parse_one(item, OrderCenterCall::AddMain)
            .unwrap()
            .orders
            .data[0];
        assert_eq!(sent["Ctime"], 1700000000);
        assert_eq!(sent["Mtime"], 1700000100);
        assert!(
            sent.get("CTime").is_none() && sent.get("MTime").is_none(),
            "{sent}"
        );
        // Both spellings with one value are one time; with two values, a mistake.
        let mut both = valid_order();
        set(&mut both, "/CTime", Some(json!(1700000000)));
        let sent = &parse_one(both.clone(), OrderCenterCall::AddMain)
            .unwrap()
            .orders
            .data[0];
        assert!(sent.get("CTime").is_none());
        set(&mut both, "/CTime", Some(json!(1)));
        assert_eq!(
            field_error(parse_one(both, OrderCenterCall::AddMain)),
            ("invalid_field", "data[0].Ctime".into())
        );
        // After-sale items carried by the order get theirs: CTime and MTime.
        let mut with_subs = valid_order();
        set(
            &mut with_subs,
            "/EXT/SubsOrder",
            Some(
                json!({"Status": 401, "Items": [{"SubOrderID": "s-1", "SubStatus": 401,
                "Ctime": 1700000200, "MTime": 1700000300, "OrderType": 1}]}),
            ),
        );
        let sent = &parse_one(with_subs, OrderCenterCall::AddMain)
            .unwrap()
            .orders
            .data[0];
        let sub = &sent["EXT"]["SubsOrder"]["Items"][0];
        assert_eq!(sub["CTime"], 1700000200);
        assert!(sub.get("Ctime").is_none(), "{sub}");
    }

    #[test]
    fn add_requires_the_whole_order_naming_each_field_by_path() {
        for (pointer, path) in [
            ("/CateID", "data[0].CateID"),
            ("/ResourceID", "data[0].ResourceID"),
            ("/Title", "data[0].Title"),
            ("/Ctime", "data[0].Ctime"),
            ("/Mtime", "data[0].Mtime"),
            ("/Status", "data[0].Status"),
            ("/EXT", "data[0].EXT"),
            ("/EXT/MainOrder", "data[0].EXT.MainOrder"),
            ("/EXT/MainOrder/Products", "data[0].EXT.MainOrder.Products"),
            (
                "/EXT/MainOrder/Products/0/ID",
                "data[0].EXT.MainOrder.Products[0].ID",
            ),
            (
                "/EXT/MainOrder/Products/0/Name",
                "data[0].EXT.MainOrder.Products[0].Name",
            ),
            (
                "/EXT/MainOrder/Products/0/Quantity",
                "data[0].EXT.MainOrder.Products[0].Quantity",
            ),
            (
                "/EXT/MainOrder/Products/0/Price",
                "data[0].EXT.MainOrder.Products[0].Price",
            ),
            (
                "/EXT/MainOrder/Products/0/PayPrice",
                "data[0].EXT.MainOrder.Products[0].PayPrice",
            ),
            ("/EXT/MainOrder/Payment", "data[0].EXT.MainOrder.Payment"),
            (
                "/EXT/MainOrder/Payment/Method",
                "data[0].EXT.MainOrder.Payment.Method",
            ),
            (
                "/EXT/MainOrder/Payment/Amount",
                "data[0].EXT.MainOrder.Payment.Amount",
            ),
            (
                "/EXT/MainOrder/Payment/IsPayment",
                "data[0].EXT.MainOrder.Payment.IsPayment",
            ),
            (
                "/EXT/MainOrder/Payment/PaymentInfo/0/Value",
                "data[0].EXT.MainOrder.Payment.PaymentInfo[0].Value",
            ),
            (
                "/EXT/MainOrder/Payment/PreferentialInfo/0/Quantity",
                "data[0].EXT.MainOrder.Payment.PreferentialInfo[0].Quantity",
            ),
        ] {
            let mut item = valid_order();
            set(&mut item, pointer, None);
            assert_eq!(
                field_error(parse_one(item, OrderCenterCall::AddMain)),
                ("missing_field", path.to_owned()),
                "{pointer}"
            );
        }
        for (pointer, value, path) in [
            ("/Ctime", json!("1700000000"), "data[0].Ctime"),
            ("/Title", json!(5), "data[0].Title"),
            (
                "/EXT/MainOrder/Products/0/PayPrice",
                json!("49.00"),
                "data[0].EXT.MainOrder.Products[0].PayPrice",
            ),
            (
                "/EXT/MainOrder/Products/0/ImgList",
                json!(["a", "b", "c", "d", "e", "f"]),
                "data[0].EXT.MainOrder.Products[0].ImgList",
            ),
            (
                "/EXT/MainOrder/Products/0/DetailPage/Status",
                json!("x"),
                "data[0].EXT.MainOrder.Products[0].DetailPage.Status",
            ),
            (
                "/EXT/MainOrder/Payment/IsPayment",
                json!(1),
                "data[0].EXT.MainOrder.Payment.IsPayment",
            ),
            ("/BizAPPID", json!("another"), "data[0].BizAPPID"),
        ] {
            let mut item = valid_order();
            set(&mut item, pointer, Some(value.clone()));
            assert_eq!(
                field_error(parse_one(item, OrderCenterCall::AddMain)),
                ("invalid_field", path.to_owned()),
                "{pointer} = {value}"
            );
        }
        // Baidu imports one order per call.
        let two = parse(
            &body_with(vec![valid_order(), valid_order()]),
            OrderCenterCall::AddMain,
            APP_KEY,
            AmountCheck::Reject,
        );
        assert_eq!(field_error(two), ("invalid_field", "data".into()));
    }

    #[test]
    fn sync_splits_the_order_from_its_after_sale_items() {
        let mut item = valid_order();
        set(
            &mut item,
            "/EXT/SubsOrder",
            Some(
                json!({"Status": 401, "Items": [{"SubOrderID": "s-1", "SubStatus": 401,
                "Ctime": 1700000200, "MTime": 1700000300, "OrderType": 1, "Kept": true}]}),
            ),
        );
        let sync = parse_sync(&body_with(vec![item]), APP_KEY, AmountCheck::Reject).unwrap();
        let main = &sync.main.orders.data[0];
        assert!(main["EXT"].get("SubsOrder").is_none(), "{main}");
        assert_eq!(main["EXT"]["MainOrder"]["Payment"]["Amount"], 9300);
        assert_eq!(
            sync.after_sale.data,
            vec![
                json!({"CateID": 2, "BizAPPID": APP_KEY, "ResourceID": "M202604250001",
                "EXT": {"SubsOrder": {"Status": 401, "Items": [{"SubOrderID": "s-1", "SubStatus": 401,
                    "CTime": 1700000200, "MTime": 1700000300, "OrderType": 1, "Kept": true}]}}})
            ]
        );
        assert_eq!(sync.after_sale.owner, sync.main.orders.owner);
        assert_eq!(
            parse_sync(
                &body_with(vec![valid_order()]),
                APP_KEY,
                AmountCheck::Reject
            ),
            Err(ApiError::MissingField {
                field: "data[0].EXT.SubsOrder".into()
            })
        );
    }

    #[test]
    fn detail_page_status_may_be_a_string_and_is_sent_as_an_integer() {
        let mut item = valid_order();
        set(
            &mut item,
            "/EXT/MainOrder/Products/0/DetailPage/Status",
            Some(json!("2")),
        );
        let sent = &parse_one(item, OrderCenterCall::AddMain)
            .unwrap()
            .orders
            .data[0];
        assert_eq!(
            sent["EXT"]["MainOrder"]["Products"][0]["DetailPage"]["Status"],
            json!(2)
        );
    }

    #[test]
    fn the_amount_must_follow_baidus_formula_and_the_term_that_is_off_is_named() {
        for (amount, hint) in [
            (
                10300,
                Some("PreferentialInfo term (discounts) looks missing"),
            ),
            (
                8300,
                Some("PreferentialInfo term (discounts) looks subtracted twice"),
            ),
            (8800, Some("PaymentInfo term")),
            (9301, None),
        ] {
            let mut item = valid_order();
            set(
                &mut item,
                "/EXT/MainOrder/Payment/Amount",
                Some(json!(amount)),
            );
            match parse_one(item.clone(), OrderCenterCall::AddMain) {
                Err(error @ ApiError::AmountMismatch(_)) => {
                    assert_eq!(error.code(), "amount_mismatch");
                    assert_eq!(error.status(), 422);
                    let body = error.body();
                    assert_eq!(
                        body["error"]["field"],
                        "data[0].EXT.MainOrder.Payment.Amount"
                    );
                    assert_eq!(body["error"]["expected"], 9300);
                    assert_eq!(body["error"]["given"], amount);
                    assert_eq!(
                        body["error"]["terms"],
                        json!({"products": 9800, "paymentInfo": 500, "preferentialInfo": 1000})
                    );
                    let message = body["error"]["message"].as_str().unwrap();
                    match hint {
                        Some(hint) => assert!(message.contains(hint), "{amount}: {message}"),
                        None => assert!(message.contains("No single term"), "{message}"),
                    }
                }
                other => panic!("{amount}: {other:?}"),
            }
            // Warned about, not refused, when the setting says so.
            let warned = parse(
                &body_with(vec![item]),
                OrderCenterCall::AddMain,
                APP_KEY,
                AmountCheck::Warn,
            )
            .unwrap();
            let warning = warned.amount_warning.unwrap();
            assert!(
                warning.contains("is ") && warning.contains("9300"),
                "{warning}"
            );
        }
        // Update checks the amount only when the order carries products and a payment.
        let update = json!({"CateID": 2, "ResourceID": "M1", "Status": 200,
            "EXT": {"MainOrder": {"Payment": {"Method": 1, "Amount": 1, "IsPayment": true}}}});
        assert!(parse_one(update, OrderCenterCall::UpdateMain).is_ok());
        let mut wrong = valid_order();
        set(&mut wrong, "/EXT/MainOrder/Payment/Amount", Some(json!(1)));
        assert_eq!(
            field_error(parse_one(wrong, OrderCenterCall::UpdateMain)),
            (
                "amount_mismatch",
                "data[0].EXT.MainOrder.Payment.Amount".into()
            )
        );
    }

    #[test]
    fn update_status_and_logistics_need_their_own_fields() {
        let update =
            json!({"CateID": 2, "ResourceID": "M1", "Status": 200, "EXT": {"MainOrder": {}}});
        let parsed = parse_one(update, OrderCenterCall::UpdateMain).unwrap();
        assert!(parsed.orders.data[0].get("Ctime").is_none());
        let status = json!({"CateID": 1, "ResourceID": "M1", "Status": 6});
        assert!(parse_one(status.clone(), OrderCenterCall::UpdateMainStatus).is_ok());
        let mut no_status = status;
        set(&mut no_status, "/Status", None);
        assert_eq!(
            field_error(parse_one(no_status, OrderCenterCall::UpdateMainStatus)),
            ("missing_field", "data[0].Status".into())
        );
        let several = parse(
            &body_with(vec![
                json!({"CateID": 1, "ResourceID": "M1", "Status": 6}),
                json!({"CateID": 1, "ResourceID": "M2", "Status": 6}),
            ]),
            OrderCenterCall::UpdateMainStatus,
            APP_KEY,
            AmountCheck::Reject,
        );
        assert_eq!(several.unwrap().orders.data.len(), 2);
        let logistics = json!({"CateID": 1, "ResourceID": "M1", "EXT": {"MainOrder": {"Express":
            {"Code": "SF", "ID": "SF1234567890", "Name": "顺丰", "Status": 0, "Type": 1}}}});
        assert!(parse_one(logistics.clone(), OrderCenterCall::AddLogistics).is_ok());
        for (pointer, code) in [
            ("/EXT/MainOrder/Express/Code", "missing_field"),
            ("/EXT/MainOrder/Express/ID", "missing_field"),
            ("/EXT/MainOrder/Express/Type", "missing_field"),
            ("/EXT/MainOrder/Express", "missing_field"),
        ] {
            let mut item = logistics.clone();
            set(&mut item, pointer, None);
            let path = format!("data[0]{}", pointer.replace('/', "."));
            assert_eq!(
                field_error(parse_one(item, OrderCenterCall::AddLogistics)),
                (code, path)
            );
        }
    }
}
