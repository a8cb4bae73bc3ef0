//! Public keys as Baidu's console shows them, and whatever else is pasted in their place.
#![no_main]

use baidu_order_relay::baidu::key::parse_public_key;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = parse_public_key(text);
});
