//! The access-token record other isolates left in Workers KV: anything unreadable is absent,
//! and what reads, written again, reads the same.
#![no_main]

use baidu_order_relay::baidu::token::AccessToken;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|record: &str| {
    if let Some(token) = AccessToken::from_cache_record(record) {
        assert!(!token.secret().is_empty());
        assert_eq!(
            AccessToken::from_cache_record(&token.to_cache_record()),
            Some(token)
        );
    }
});
