//! `POST /v1/after-sale/{update,append,status}` bodies: accepted ones, sent again as parsed,
//! are accepted unchanged; rejected ones get a body error.
#![no_main]

use baidu_order_relay::baidu::ordercenter::OrderCenterCall;
use baidu_order_relay::inbound::after_sale;
use libfuzzer_sys::fuzz_target;

const APP_KEY: &str = "4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c";

fuzz_target!(|body: &[u8]| {
    // Every call on the whole input, so that webhook bodies seed the corpus as they are.
    for call in [
        OrderCenterCall::Update,
        OrderCenterCall::Append,
        OrderCenterCall::UpdateStatus,
    ] {
        match after_sale::parse(body, call, APP_KEY) {
            Ok(orders) => {
                assert!((1..=after_sale::MAX_ITEMS).contains(&orders.data.len()));
                let again = serde_json::json!({
                    "openId": orders.open_id,
                    "sceneId": orders.scene_id,
                    "sceneType": orders.scene_type,
                    "data": orders.data,
                });
                let reparsed = after_sale::parse(again.to_string().as_bytes(), call, APP_KEY);
                assert_eq!(reparsed.ok(), Some(orders));
            }
            Err(error) => assert!(matches!(
                error.code(),
                "invalid_json" | "missing_field" | "invalid_field"
            )),
        }
    }
});
