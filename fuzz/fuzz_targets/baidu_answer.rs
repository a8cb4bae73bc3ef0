//! Baidu's answers to the business APIs, with any status: anything that is not Baidu's JSON
//! is `upstream_unavailable`, and every code classifies to an HTTP error.
#![no_main]

use baidu_order_relay::baidu::answer::{classify_errno, read_answer, ErrnoMeaning};
use baidu_order_relay::http::{TransportError, UpstreamResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, &[u8])| {
    let (status, body) = input;
    let answer = match status {
        0 => Err(TransportError::Timeout),
        1 => Err(TransportError::Unreachable),
        _ => Ok(UpstreamResponse {
            status,
            body: body.to_vec(),
        }),
    };
    match read_answer(&answer) {
        Ok(baidu) => {
            assert!(baidu.errno != 0 || (200..300).contains(&baidu.http_status));
            for meaning in [ErrnoMeaning::Cashier, ErrnoMeaning::OpenApi] {
                let error = classify_errno(&baidu, meaning);
                assert!((400..600).contains(&error.status()));
                assert!(!error.message().is_empty());
            }
        }
        Err(error) => assert_eq!(error.code(), "upstream_unavailable"),
    }
});
