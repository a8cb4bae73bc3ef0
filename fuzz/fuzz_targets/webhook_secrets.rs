//! `WEBHOOK_SECRET` as an operator may paste it: what parses signs and verifies, and an error
//! never shows a secret.
#![no_main]

use baidu_order_relay::webhook::{self, WebhookHeaders, WebhookSecrets};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match WebhookSecrets::parse(text) {
        Ok(secrets) => {
            let signature = webhook::sign(&secrets, "msg_1", 1_700_000_000, b"{}");
            let headers = WebhookHeaders {
                id: Some("msg_1"),
                timestamp: Some("1700000000"),
                signature: Some(&signature),
            };
            assert!(webhook::verify(&secrets, headers, b"{}", 1_700_000_000).is_ok());
        }
        Err(error) => {
            let message = error.to_string();
            for token in text.split_whitespace() {
                let material = token.strip_prefix("whsec_").unwrap_or(token);
                assert!(material.chars().count() < 12 || !message.contains(material));
            }
        }
    }
});
