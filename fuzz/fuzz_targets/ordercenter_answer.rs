//! The order center's answers to a call that sent up to eight items, some sharing a
//! `ResourceID`, some without one.
#![no_main]

use baidu_order_relay::baidu::ordercenter::{classify_answer, AfterSaleOrders, OrderCenterOutcome};
use baidu_order_relay::http::UpstreamResponse;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fuzz_target!(|input: (u16, Vec<u8>, &[u8])| {
    let (status, items, body) = input;
    let data = items
        .iter()
        .take(8)
        .map(|id| match id % 4 {
            0 => json!({"CateID": 2}),
            1 => json!({"CateID": 2, "ResourceID": id.to_string()}),
            2 => json!({"CateID": 2, "ResourceID": Value::from(*id)}),
            _ => json!({"CateID": 2, "ResourceID": format!(" {id} ")}),
        })
        .collect();
    let orders = AfterSaleOrders {
        open_id: "open-1".into(),
        scene_id: 2636635856,
        scene_type: 2,
        data,
    };
    let answer = Ok(UpstreamResponse {
        status,
        body: body.to_vec(),
    });
    match classify_answer(&answer, &orders) {
        OrderCenterOutcome::Delivered(_) => assert!((200..300).contains(&status)),
        OrderCenterOutcome::TokenExpired(error) | OrderCenterOutcome::Failed(error) => {
            let _ = (error.code(), error.message(), error.body());
        }
    }
});
