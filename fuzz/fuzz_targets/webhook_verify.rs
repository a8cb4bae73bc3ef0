//! The three Standard Webhooks headers and the raw body, as anyone on the internet may send
//! them. With `sign`, a valid signature for the input's id, timestamp and body is appended to
//! the header: only then may the webhook verify.
#![no_main]

use baidu_order_relay::webhook::{self, WebhookHeaders, WebhookSecrets};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

/// The Standard Webhooks specification's example secret, and a second one (rotation).
const SECRETS: &str =
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24=";

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    id: Option<&'a str>,
    timestamp: Option<&'a str>,
    signature: Option<&'a str>,
    body: &'a [u8],
    now: i64,
    sign: bool,
}

fuzz_target!(|input: Input<'_>| {
    let secrets = WebhookSecrets::parse(SECRETS).expect("valid secrets");
    let signed_timestamp = input.timestamp.and_then(|t| t.parse::<i64>().ok());
    let signature = match (input.sign, input.id, signed_timestamp) {
        (true, Some(id), Some(timestamp)) => Some(format!(
            "{} {}",
            input.signature.unwrap_or_default(),
            webhook::sign(&secrets, id, timestamp, input.body)
        )),
        _ => input.signature.map(str::to_owned),
    };
    let headers = WebhookHeaders {
        id: input.id,
        timestamp: input.timestamp,
        signature: signature.as_deref(),
    };
    let id_accepted = input.id.is_some_and(webhook::is_well_formed_id);
    if id_accepted {
        // Ids are logged before authentication: an accepted one cannot break a log line.
        assert!(input
            .id
            .unwrap_or_default()
            .bytes()
            .all(|b| b.is_ascii_graphic()));
    }
    match webhook::verify(&secrets, headers, input.body, input.now) {
        Ok(verified) => {
            assert!(input.sign && id_accepted);
            assert_eq!(Some(verified.id.as_str()), input.id);
            assert_eq!(Some(verified.timestamp), signed_timestamp);
        }
        Err(error) => assert!(!error.code().is_empty()),
    }
});
