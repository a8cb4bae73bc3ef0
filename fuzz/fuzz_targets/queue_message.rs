//! Retry and dead-letter queue messages, read as the consumer reads them (a JSON value first):
//! what reads, written again, reads the same.
#![no_main]

use baidu_order_relay::delivery::ledger::QueueMessage;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|body: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    if let Ok(message) = serde_json::from_value::<QueueMessage>(value) {
        let again = serde_json::to_value(&message).expect("a message serialises");
        let read: QueueMessage = serde_json::from_value(again).expect("and reads back");
        assert_eq!(read, message);
    }
});
