//! Inbound authentication with Standard Webhooks (<https://www.standardwebhooks.com>).
//!
//! The sender signs `"{id}.{timestamp}.{raw body}"` with HMAC-SHA256 and sends
//! `webhook-signature: v1,<base64>` (several, space-separated, during rotation). We verify
//! the raw bytes before any parsing, compare in constant time, and reject timestamps more
//! than [`TOLERANCE_SECONDS`] away from our clock, which the caller passes in.

use base64::Engine;
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;

type HmacSha256 = hmac::Hmac<Sha256>;

/// How far a webhook's timestamp may be from the relay's clock, either way.
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

const SECRET_PREFIX: &str = "whsec_";

/// Signature entries a webhook may carry: far more than any rotation needs (one per secret).
/// A header with more is refused before any work, whatever it holds.
pub const MAX_SIGNATURE_ENTRIES: usize = 32;
const MAX_ID_LEN: usize = 256;

/// One or more signing secrets; any of them may have signed a webhook (rotation).
#[derive(Clone)]
pub struct WebhookSecrets {
    keys: Vec<Vec<u8>>,
}

impl fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookSecrets([{} redacted])", self.keys.len())
    }
}

/// Why `WEBHOOK_SECRET` could not be used. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretError {
    Empty,
    /// The n-th (1-based) secret is not `whsec_` followed by base64.
    NotBase64 {
        position: usize,
    },
    /// The n-th secret decodes to fewer than 16 bytes.
    TooShort {
        position: usize,
    },
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::Empty => write!(
                f,
                "no secret given; expected whsec_<base64>, space-separated for rotation"
            ),
            SecretError::NotBase64 { position } => write!(
                f,
                "secret #{position} is not whsec_ followed by standard base64"
            ),
            SecretError::TooShort { position } => write!(
                f,
                "secret #{position} is shorter than 16 bytes; use at least 24 random bytes"
            ),
        }
    }
}

impl WebhookSecrets {
    /// Parses `whsec_<base64>` secrets separated by whitespace. The `whsec_` prefix is
    /// optional, as in the Standard Webhooks libraries.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let mut keys = Vec::new();
        for (index, secret) in text.split_whitespace().enumerate() {
            let position = index + 1;
            let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
            let key = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| SecretError::NotBase64 { position })?;
            if key.len() < 16 {
                return Err(SecretError::TooShort { position });
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self { keys })
    }
}

/// The three Standard Webhooks headers as received (absent ones are `None`).
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// An authenticated webhook's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedWebhook {
    pub id: String,
    pub timestamp: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookError {
    MissingHeader(&'static str),
    InvalidHeader(&'static str),
    TimestampExpired,
    TimestampInFuture,
    InvalidSignature,
}

impl WebhookError {
    pub fn code(self) -> &'static str {
        match self {
            WebhookError::MissingHeader(_) => "missing_webhook_header",
            WebhookError::InvalidHeader(_) => "invalid_webhook_header",
            WebhookError::TimestampExpired => "webhook_timestamp_expired",
            WebhookError::TimestampInFuture => "webhook_timestamp_in_future",
            WebhookError::InvalidSignature => "invalid_webhook_signature",
        }
    }

    /// The header at fault, when there is one.
    pub fn header(self) -> Option<&'static str> {
        match self {
            WebhookError::MissingHeader(name) | WebhookError::InvalidHeader(name) => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookError::MissingHeader(name) => write!(
                f,
                "The {name} header is missing. Sign the request with Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)."
            ),
            WebhookError::InvalidHeader(ID_HEADER) => write!(
                f,
                "The webhook-id header must be 1 to {MAX_ID_LEN} visible ASCII characters."
            ),
            WebhookError::InvalidHeader(name) => {
                write!(f, "The {name} header must be a Unix time in seconds.")
            }
            WebhookError::TimestampExpired => write!(
                f,
                "The webhook-timestamp is more than {TOLERANCE_SECONDS} seconds old; sign each delivery with the current time and check the sender's clock."
            ),
            WebhookError::TimestampInFuture => write!(
                f,
                "The webhook-timestamp is more than {TOLERANCE_SECONDS} seconds in the future; it is in seconds, not milliseconds; check the sender's clock."
            ),
            WebhookError::InvalidSignature => write!(
                f,
                "No webhook-signature matches: sign \"{{id}}.{{timestamp}}.{{raw body}}\" with HMAC-SHA256 and the relay's WEBHOOK_SECRET, and send the body unchanged."
            ),
        }
    }
}

impl std::error::Error for WebhookError {}

/// Verifies a webhook on its raw body. `now` is Unix seconds from the caller's clock.
pub fn verify(
    secrets: &WebhookSecrets,
    headers: WebhookHeaders<'_>,
    body: &[u8],
    now: i64,
) -> Result<VerifiedWebhook, WebhookError> {
    let id = headers.id.ok_or(WebhookError::MissingHeader(ID_HEADER))?;
    let timestamp = headers
        .timestamp
        .ok_or(WebhookError::MissingHeader(TIMESTAMP_HEADER))?;
    let signature = headers
        .signature
        .ok_or(WebhookError::MissingHeader(SIGNATURE_HEADER))?;

    if !is_well_formed_id(id) {
        return Err(WebhookError::InvalidHeader(ID_HEADER));
    }
    let timestamp = parse_timestamp(timestamp)?;
    if timestamp < now.saturating_sub(TOLERANCE_SECONDS) {
        return Err(WebhookError::TimestampExpired);
    }
    if timestamp > now.saturating_add(TOLERANCE_SECONDS) {
        return Err(WebhookError::TimestampInFuture);
    }

    // Entries are space-separated; several header lines arrive joined by ", ", which leaves
    // a comma on every entry but the last (base64 never ends in one).
    let entries = || {
        signature
            .split_whitespace()
            .map(|entry| entry.trim_end_matches(','))
    };
    if entries().nth(MAX_SIGNATURE_ENTRIES).is_some() {
        return Err(WebhookError::InvalidHeader(SIGNATURE_HEADER));
    }
    let candidates: Vec<Vec<u8>> = entries()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .collect();
    // One HMAC per secret, however many entries; each comparison in constant time.
    let matched = secrets.keys.iter().any(|key| {
        let tag = signed_content_mac(key, id, timestamp, body)
            .finalize()
            .into_bytes();
        candidates
            .iter()
            .any(|candidate| bool::from(candidate.as_slice().ct_eq(tag.as_slice())))
    });
    if !matched {
        return Err(WebhookError::InvalidSignature);
    }
    Ok(VerifiedWebhook {
        id: id.to_owned(),
        timestamp,
    })
}

/// True for ids the relay accepts (and may log before authentication, to help diagnose a
/// sender whose signatures fail): 1 to 256 visible ASCII characters.
pub fn is_well_formed_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Produces the `webhook-signature` header value for the first secret: for the relay's own
/// outbound webhooks and for tests and tools that play the sender.
pub fn sign(secrets: &WebhookSecrets, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = signed_content_mac(&secrets.keys[0], id, timestamp, body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// A JSON POST signed as a Standard Webhook with the first of `secrets`: the relay's result
/// webhooks and merchant events. `now_seconds` is the `webhook-timestamp`.
pub fn signed_post(
    url: &str,
    secrets: &WebhookSecrets,
    id: &str,
    now_seconds: i64,
    body: Vec<u8>,
) -> crate::http::HttpRequest {
    let signature = sign(secrets, id, now_seconds, &body);
    crate::http::HttpRequest {
        method: "POST",
        url: url.to_owned(),
        content_type: "application/json",
        headers: vec![
            (ID_HEADER, id.to_owned()),
            (TIMESTAMP_HEADER, now_seconds.to_string()),
            (SIGNATURE_HEADER, signature),
        ],
        body,
    }
}

fn signed_content_mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn parse_timestamp(text: &str) -> Result<i64, WebhookError> {
    let invalid = WebhookError::InvalidHeader(TIMESTAMP_HEADER);
    // At most 18 digits: any later arithmetic on the value stays far from i64's limits. An
    // empty text fails the parse.
    if text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid);
    }
    text.parse().map_err(|_| invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The known-answer example from the Standard Webhooks specification's reference libraries.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1614265330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn secrets() -> WebhookSecrets {
        WebhookSecrets::parse(SPEC_SECRET).unwrap()
    }

    fn headers(signature: &str) -> WebhookHeaders<'_> {
        WebhookHeaders {
            id: Some(SPEC_ID),
            timestamp: Some("1614265330"),
            signature: Some(signature),
        }
    }

    #[test]
    fn specification_example_verifies() {
        assert_eq!(
            sign(&secrets(), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            SPEC_SIGNATURE
        );
        let verified = verify(
            &secrets(),
            headers(SPEC_SIGNATURE),
            SPEC_BODY,
            SPEC_TIMESTAMP,
        )
        .unwrap();
        assert_eq!(
            verified,
            VerifiedWebhook {
                id: SPEC_ID.into(),
                timestamp: SPEC_TIMESTAMP
            }
        );
    }

    #[test]
    fn body_altered_by_one_byte_is_rejected() {
        let mut body = SPEC_BODY.to_vec();
        body[3] ^= 1;
        assert_eq!(
            verify(&secrets(), headers(SPEC_SIGNATURE), &body, SPEC_TIMESTAMP),
            Err(WebhookError::InvalidSignature)
        );
        let mut longer = SPEC_BODY.to_vec();
        longer.push(b' ');
        assert_eq!(
            verify(&secrets(), headers(SPEC_SIGNATURE), &longer, SPEC_TIMESTAMP),
            Err(WebhookError::InvalidSignature)
        );
    }

    #[test]
    fn bad_signatures_are_rejected() {
        for bad in [
            "",
            "v1,",
            "v1,!!!notbase64",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=",
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v1,g0hM9SsE+OTPJTGt",
        ] {
            assert_eq!(
                verify(&secrets(), headers(bad), SPEC_BODY, SPEC_TIMESTAMP),
                Err(WebhookError::InvalidSignature),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn one_matching_entry_among_several_suffices() {
        let header = format!("v1,AAAA v1a,xyz {SPEC_SIGNATURE} v1,bm90IGl0");
        assert!(verify(&secrets(), headers(&header), SPEC_BODY, SPEC_TIMESTAMP).is_ok());
    }

    #[test]
    fn several_header_lines_joined_by_the_platform_verify_when_any_entry_does() {
        for header in [
            format!("{SPEC_SIGNATURE}, v1,bm90IGl0"),
            format!("v1,bm90IGl0, {SPEC_SIGNATURE}"),
            format!("v1,AAAA v1,bm90IGl0, {SPEC_SIGNATURE} v1a,xyz"),
        ] {
            assert!(
                verify(&secrets(), headers(&header), SPEC_BODY, SPEC_TIMESTAMP).is_ok(),
                "{header}"
            );
        }
        let none_valid = "v1,AAAA, v1,bm90IGl0";
        assert_eq!(
            verify(&secrets(), headers(none_valid), SPEC_BODY, SPEC_TIMESTAMP),
            Err(WebhookError::InvalidSignature)
        );
    }

    #[test]
    fn timestamps_outside_tolerance_are_rejected_either_way() {
        let s = secrets();
        let h = headers(SPEC_SIGNATURE);
        assert!(verify(&s, h, SPEC_BODY, SPEC_TIMESTAMP + TOLERANCE_SECONDS).is_ok());
        assert!(verify(&s, h, SPEC_BODY, SPEC_TIMESTAMP - TOLERANCE_SECONDS).is_ok());
        assert_eq!(
            verify(&s, h, SPEC_BODY, SPEC_TIMESTAMP + TOLERANCE_SECONDS + 1),
            Err(WebhookError::TimestampExpired)
        );
        assert_eq!(
            verify(&s, h, SPEC_BODY, SPEC_TIMESTAMP - TOLERANCE_SECONDS - 1),
            Err(WebhookError::TimestampInFuture)
        );
        // A sender that sends milliseconds is told its timestamp is in the future.
        let millis = (SPEC_TIMESTAMP * 1000).to_string();
        assert_eq!(
            verify(
                &s,
                WebhookHeaders {
                    timestamp: Some(&millis),
                    ..h
                },
                SPEC_BODY,
                SPEC_TIMESTAMP
            ),
            Err(WebhookError::TimestampInFuture)
        );
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        let s = secrets();
        let full = headers(SPEC_SIGNATURE);
        let cases = [
            (
                WebhookHeaders { id: None, ..full },
                WebhookError::MissingHeader(ID_HEADER),
            ),
            (
                WebhookHeaders {
                    timestamp: None,
                    ..full
                },
                WebhookError::MissingHeader(TIMESTAMP_HEADER),
            ),
            (
                WebhookHeaders {
                    signature: None,
                    ..full
                },
                WebhookError::MissingHeader(SIGNATURE_HEADER),
            ),
            (
                WebhookHeaders {
                    id: Some(""),
                    ..full
                },
                WebhookError::InvalidHeader(ID_HEADER),
            ),
            (
                WebhookHeaders {
                    id: Some("has space"),
                    ..full
                },
                WebhookError::InvalidHeader(ID_HEADER),
            ),
            (
                WebhookHeaders {
                    timestamp: Some("-5"),
                    ..full
                },
                WebhookError::InvalidHeader(TIMESTAMP_HEADER),
            ),
            (
                WebhookHeaders {
                    timestamp: Some("1.5"),
                    ..full
                },
                WebhookError::InvalidHeader(TIMESTAMP_HEADER),
            ),
            (
                WebhookHeaders {
                    timestamp: Some("soon"),
                    ..full
                },
                WebhookError::InvalidHeader(TIMESTAMP_HEADER),
            ),
            (
                WebhookHeaders {
                    timestamp: Some("99999999999999999999"),
                    ..full
                },
                WebhookError::InvalidHeader(TIMESTAMP_HEADER),
            ),
        ];
        for (h, expected) in cases {
            assert_eq!(verify(&s, h, SPEC_BODY, SPEC_TIMESTAMP), Err(expected));
            assert!(expected.header().is_some());
        }
        let long_id = "x".repeat(MAX_ID_LEN + 1);
        assert_eq!(
            verify(
                &s,
                WebhookHeaders {
                    id: Some(&long_id),
                    ..full
                },
                SPEC_BODY,
                SPEC_TIMESTAMP
            ),
            Err(WebhookError::InvalidHeader(ID_HEADER))
        );
    }

    #[test]
    fn rotated_secrets_each_verify() {
        let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let new = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24=";
        let both = WebhookSecrets::parse(&format!("{new} {old}")).unwrap();
        let new_only = WebhookSecrets::parse(new).unwrap();
        let by_new = sign(&new_only, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY);
        assert!(verify(&both, headers(&by_new), SPEC_BODY, SPEC_TIMESTAMP).is_ok());
        assert!(verify(&both, headers(SPEC_SIGNATURE), SPEC_BODY, SPEC_TIMESTAMP).is_ok());
        assert_eq!(
            verify(
                &new_only,
                headers(SPEC_SIGNATURE),
                SPEC_BODY,
                SPEC_TIMESTAMP
            ),
            Err(WebhookError::InvalidSignature)
        );
    }

    #[test]
    fn secrets_parse_with_or_without_prefix_and_never_print() {
        assert!(WebhookSecrets::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        assert_eq!(WebhookSecrets::parse("  ").unwrap_err(), SecretError::Empty);
        assert_eq!(
            WebhookSecrets::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_***").unwrap_err(),
            SecretError::NotBase64 { position: 2 }
        );
        assert_eq!(
            WebhookSecrets::parse("whsec_c2hvcnQ=").unwrap_err(),
            SecretError::TooShort { position: 1 }
        );
        let debug = format!("{:?}", secrets());
        assert!(!debug.contains("MfKQ"));
        assert_eq!(debug, "WebhookSecrets([1 redacted])");
    }

    #[test]
    fn a_secret_needs_sixteen_bytes_exactly_at_least() {
        let of_length = |n: usize| {
            let key = base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
            WebhookSecrets::parse(&format!("{SECRET_PREFIX}{key}"))
        };
        assert!(of_length(16).is_ok());
        assert_eq!(
            of_length(15).unwrap_err(),
            SecretError::TooShort { position: 1 }
        );
    }

    #[test]
    fn secret_errors_say_what_to_send() {
        assert_eq!(
            SecretError::Empty.to_string(),
            "no secret given; expected whsec_<base64>, space-separated for rotation"
        );
        assert_eq!(
            SecretError::NotBase64 { position: 2 }.to_string(),
            "secret #2 is not whsec_ followed by standard base64"
        );
        assert_eq!(
            SecretError::TooShort { position: 1 }.to_string(),
            "secret #1 is shorter than 16 bytes; use at least 24 random bytes"
        );
    }

    #[test]
    fn timestamps_are_at_most_eighteen_plain_digits() {
        let s = secrets();
        let at = |timestamp: &'static str| {
            verify(
                &s,
                WebhookHeaders {
                    timestamp: Some(timestamp),
                    ..headers(SPEC_SIGNATURE)
                },
                SPEC_BODY,
                SPEC_TIMESTAMP,
            )
        };
        let invalid = Err(WebhookError::InvalidHeader(TIMESTAMP_HEADER));
        assert_eq!(
            at("999999999999999999"),
            Err(WebhookError::TimestampInFuture)
        );
        assert_eq!(at("1000000000000000000"), invalid);
        for text in [
            "",
            "+1674087231",
            "-1",
            " 1674087231",
            "1674087231.5",
            "1e9",
        ] {
            assert_eq!(at(text), invalid, "{text:?}");
        }
    }

    #[test]
    fn the_tolerance_is_the_five_minutes_the_contract_documents() {
        let s = secrets();
        let h = headers(SPEC_SIGNATURE);
        assert!(verify(&s, h, SPEC_BODY, SPEC_TIMESTAMP + 300).is_ok());
        assert!(verify(&s, h, SPEC_BODY, SPEC_TIMESTAMP - 300).is_ok());
        assert_eq!(
            verify(&s, h, SPEC_BODY, SPEC_TIMESTAMP + 301),
            Err(WebhookError::TimestampExpired)
        );
        assert_eq!(
            verify(&s, h, SPEC_BODY, SPEC_TIMESTAMP - 301),
            Err(WebhookError::TimestampInFuture)
        );
    }
}
