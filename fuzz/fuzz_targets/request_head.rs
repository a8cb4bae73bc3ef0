//! The request line and the headers read before the body: route, delivery id, content type
//! and length, and the admin bearer token.
#![no_main]

use baidu_order_relay::inbound::{self, Route};
use baidu_order_relay::webhook;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef";

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    method: &'a str,
    path: &'a str,
    url: &'a str,
    content_type: Option<&'a str>,
    content_length: Option<&'a str>,
    authorization: Option<&'a str>,
}

fuzz_target!(|input: Input<'_>| {
    let _ = Route::resolve(input.method, input.path);
    if let Some(id) = inbound::delivery_id(input.path) {
        assert!(webhook::is_well_formed_id(&id));
    }
    let _ = inbound::wants_signing_self_test(input.url);
    let _ = inbound::check_content_type(input.content_type);
    let _ = inbound::check_declared_length(input.content_length);
    match inbound::check_bearer(input.authorization, ADMIN_TOKEN) {
        Ok(()) => assert!(input
            .authorization
            .unwrap_or_default()
            .contains(ADMIN_TOKEN)),
        Err(error) => assert!(!error.message().contains(ADMIN_TOKEN)),
    }
});
