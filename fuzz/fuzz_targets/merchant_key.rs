//! `BAIDU_RSA_PRIVATE_KEY` in any form a secrets UI may deliver: an accepted key's normalised
//! PKCS#8 is itself accepted, unchanged.
#![no_main]

use baidu_order_relay::baidu::key::{MerchantKey, SUPPORTED_BITS};
use base64::Engine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(key) = MerchantKey::parse(text) {
        assert!(SUPPORTED_BITS.contains(&key.bits()));
        let encoded = base64::engine::general_purpose::STANDARD.encode(key.pkcs8_der());
        let again = MerchantKey::parse(&encoded).expect("the normalised form parses");
        assert_eq!(again.pkcs8_der(), key.pkcs8_der());
    }
});
