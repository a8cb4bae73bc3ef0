//! `POST /v1/cancel-verification` bodies: accepted ones read back the same, rejected ones get
//! a body error.
#![no_main]

use baidu_order_relay::inbound::cancel_verification;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    match cancel_verification::parse(body) {
        Ok(parsed) => {
            assert!(parsed.order_id > 0 && parsed.user_id > 0);
            let again = serde_json::json!({"orderId": parsed.order_id, "userId": parsed.user_id.to_string()});
            let reparsed = cancel_verification::parse(again.to_string().as_bytes());
            assert_eq!(reparsed.ok(), Some(parsed));
        }
        Err(error) => assert!(matches!(
            error.code(),
            "invalid_json" | "missing_field" | "invalid_field"
        )),
    }
});
