//! The token endpoint's answers, with any status and clock: a token comes only from a 2xx.
#![no_main]

use baidu_order_relay::baidu::token::read_token_answer;
use baidu_order_relay::http::UpstreamResponse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, u64, &[u8])| {
    let (status, now_ms, body) = input;
    let answer = Ok(UpstreamResponse {
        status,
        body: body.to_vec(),
    });
    match read_token_answer(&answer, now_ms) {
        Ok(token) => {
            assert!((200..300).contains(&status));
            assert!(!token.secret().is_empty());
            assert!(token.refresh_at_ms >= now_ms);
        }
        Err(error) => {
            let _ = (error.message(), error.body());
        }
    }
});
