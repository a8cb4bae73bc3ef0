//! Property tests over every parser that reads bytes from outside the relay: the webhook
//! headers and secrets, webhook bodies, RSA keys, Baidu's answers, queue messages and the
//! shared token record.
//!
//! Each target feeds its parser arbitrary input and structured-but-wrong input, and checks
//! that it never panics, stays fast on every single input, keeps its round trips, and never
//! echoes a secret in an error. Each prints one line (`-- --nocapture` shows it): inputs
//! tried, panics, the slowest input. Defaults keep `cargo test` quick; `PROPTEST_CASES=20000`
//! runs longer, and `fuzz/` holds `cargo fuzz` targets for the same parsers (docs/fuzzing.md).
//!
//! Only public entry points and stable error codes are used, so that the parsers' internals
//! can change without touching this file.

use std::cell::Cell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use base64::Engine;
use crypto_bigint::{BoxedUint, ConcatenatingMul};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rsa::pkcs8::EncodePublicKey;
use serde_json::{json, Value};

use crate::baidu::answer::{classify_errno, read_answer, ErrnoMeaning};
use crate::baidu::key::{parse_public_key, MerchantKey, SUPPORTED_BITS};
use crate::baidu::ordercenter::{
    classify_answer, AfterSaleOrders, OrderCenterCall, OrderCenterOutcome, OrderOwner, OrderUser,
};
use crate::baidu::token::{is_token_error, read_token_answer, AccessToken};
use crate::delivery::ledger::{DeliveryStatus, QueueMessage, Settlement};
use crate::http::{TransportError, UpstreamAnswer, UpstreamResponse};
use crate::inbound::order_ref::OrderRef;
use crate::inbound::{self, after_sale, cancel_verification, Route};
use crate::webhook::{self, WebhookHeaders, WebhookSecrets, TOLERANCE_SECONDS};

// ---------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------

/// The Worker can afford about 1 ms of CPU per input. Unoptimised code on a shared machine is
/// many times slower, so the bound that fails a test is generous; every target prints its
/// real slowest input to hold against the 1 ms.
const TOO_SLOW: Duration = Duration::from_millis(50);

/// An input slower than this is run twice more and judged by its fastest run: a pause of the
/// test thread (two test threads share the machine with whatever else runs) is not the
/// parser's doing, while a slow parser is slow every time.
const RECHECK: Duration = Duration::from_micros(200);

struct Probe {
    name: &'static str,
    tried: Cell<u64>,
    panics: Cell<u64>,
    accepted: Cell<u64>,
    slowest: Cell<Duration>,
    slowest_size: Cell<usize>,
}

impl Probe {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            tried: Cell::new(0),
            panics: Cell::new(0),
            accepted: Cell::new(0),
            slowest: Cell::new(Duration::ZERO),
            slowest_size: Cell::new(0),
        }
    }

    /// Times one parser call on an input of `size` bytes. A panic is counted and passed on,
    /// so that proptest shrinks the input that caused it; so is an input over [`TOO_SLOW`].
    fn call<T>(&self, size: usize, parse: impl Fn() -> T) -> Result<T, TestCaseError> {
        self.tried.set(self.tried.get() + 1);
        let start = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(&parse));
        let mut elapsed = start.elapsed();
        let value = match result {
            Ok(value) => value,
            Err(payload) => {
                self.panics.set(self.panics.get() + 1);
                panic::resume_unwind(payload)
            }
        };
        if elapsed > RECHECK {
            for _ in 0..2 {
                let start = Instant::now();
                drop(parse());
                elapsed = elapsed.min(start.elapsed());
            }
        }
        if elapsed > self.slowest.get() {
            self.slowest.set(elapsed);
            self.slowest_size.set(size);
        }
        if elapsed > TOO_SLOW {
            return Err(TestCaseError::fail(format!(
                "{} took {} µs on an input of {size} bytes",
                self.name,
                elapsed.as_micros()
            )));
        }
        Ok(value)
    }

    fn accept(&self) {
        self.accepted.set(self.accepted.get() + 1);
    }

    fn report(&self) {
        eprintln!(
            "fuzz {}: {} inputs, {} accepted, {} panics, slowest {} µs ({} bytes)",
            self.name,
            self.tried.get(),
            self.accepted.get(),
            self.panics.get(),
            self.slowest.get().as_micros(),
            self.slowest_size.get()
        );
    }
}

/// Runs one target: `default_cases` inputs unless `PROPTEST_CASES` says otherwise. Failures
/// are saved under `proptest-regressions/` and replayed first on the next run.
fn fuzz<S: Strategy>(
    name: &'static str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(&Probe, S::Value) -> Result<(), TestCaseError>,
) {
    let mut config = Config {
        source_file: Some(file!()),
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    let probe = Probe::new(name);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |input| test(&probe, input));
    probe.report();
    if let Err(error) = result {
        panic!("{name}: {error}");
    }
}

fn fail(error: impl fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

/// Bytes shown as a byte string, so that a failing input can be read and pasted back.
#[derive(Clone)]
struct Bytes(Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ---------------------------------------------------------------------------------------
// JSON as text: huge number literals, duplicate keys, bad escapes and deep nesting cannot be
// built as `serde_json::Value`s.
// ---------------------------------------------------------------------------------------

fn quote(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serialises")
}

fn object(members: &[(String, String)]) -> String {
    let members: Vec<String> = members
        .iter()
        .map(|(key, value)| format!("{key}:{value}"))
        .collect();
    format!("{{{}}}", members.join(","))
}

fn array(items: &[String]) -> String {
    format!("[{}]", items.join(","))
}

/// Keys the relay reads somewhere, so that random objects hit them.
const KEYS: &[&str] = &[
    "errno",
    "error_code",
    "msg",
    "errmsg",
    "error_msg",
    "error_description",
    "error",
    "data",
    "rows_affected",
    "resource_id",
    "access_token",
    "expires_in",
    "id",
    "lease",
    "seen_attempts",
    "settle",
    "status",
    "accessToken",
    "refreshAtMs",
    "orderId",
    "userId",
    "openId",
    "sceneId",
];

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "110",
    "111",
    "10003",
    "4010001",
    "9007199254740993",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "1e400",
    "-1e400",
    "1E-400",
    "0.0",
    "1.0",
    "2.5",
    "100000000000000000000000000000000000000000000000000000000000",
];

/// Text Baidu's answers and the relay's messages are matched against.
const TEXTS: &[&str] = &[
    "",
    " ",
    "110",
    " 111 ",
    "0",
    "-1",
    "1e3",
    "0x10",
    "+5",
    "１２３",
    "稍后重试",
    "系统繁忙",
    "余额不足，请充值后重试",
    "内部错误",
    "internal error",
    "Please Retry later",
    "invalid_client",
    "temporarily_unavailable",
    "server_error",
    "pending",
    "queued",
    "\u{0}",
    "\u{202e}",
    "😀",
];

/// Strings serde_json must refuse: lone surrogates, bad escapes, raw control characters.
const BROKEN_STRINGS: &[&str] = &[
    r#""\ud800""#,
    r#""\udc00\ud800""#,
    r#""\u12""#,
    r#""\x41""#,
    "\"unterminated",
    "\"tab\there\"",
    "\"\\\"",
    "\"\u{1}\"",
];

fn json_key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(KEYS).prop_map(quote),
        1 => any::<String>().prop_map(|key| quote(&key)),
    ]
    .boxed()
}

fn json_number() -> BoxedStrategy<String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        "-?(0|[1-9][0-9]{0,60})(\\.[0-9]{1,30})?([eE][+-]?[0-9]{1,5})?",
        select(NUMBERS).prop_map(str::to_owned),
    ]
    .boxed()
}

fn json_string() -> BoxedStrategy<String> {
    prop_oneof![
        4 => any::<String>().prop_map(|text| quote(&text)),
        2 => "[ \t]{0,2}[+-]?[0-9]{1,25}[ \t]{0,2}".prop_map(|text| quote(&text)),
        2 => select(TEXTS).prop_map(quote),
        1 => select(BROKEN_STRINGS).prop_map(str::to_owned),
    ]
    .boxed()
}

fn json_value() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        json_number(),
        json_string(),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(|items| array(&items)),
            vec((json_key(), inner), 0..6).prop_map(|members| object(&members)),
        ]
    })
    .boxed()
}

/// Nesting far beyond serde_json's recursion limit, closed or not.
fn deep_nesting() -> BoxedStrategy<String> {
    const SHAPES: &[(&str, &str)] = &[
        ("[", "]"),
        (r#"{"data":"#, "}"),
        (r#"{"a":["#, "]}"),
        (r#"[{"errno":"#, "}]"),
    ];
    (select(SHAPES), 0usize..2000, any::<bool>())
        .prop_map(|((open, close), depth, closed)| {
            let mut text = open.repeat(depth);
            text.push('1');
            if closed {
                text.push_str(&close.repeat(depth));
            }
            text
        })
        .boxed()
}

/// Any JSON value of the wrong kind for a field: other types, huge numbers, digits in strings,
/// deep nesting.
fn wrong_value() -> BoxedStrategy<String> {
    prop_oneof![
        3 => json_value(),
        2 => json_number(),
        2 => json_string(),
        1 => deep_nesting(),
    ]
    .boxed()
}

type Members = BoxedStrategy<Vec<(String, String)>>;

/// One named member: usually `value`; with weight `noise` each, absent, null, of a wrong
/// value, or given twice (a wrong value first: the last one wins in serde_json).
fn member(name: &'static str, value: BoxedStrategy<String>, noise: u32) -> Members {
    let key = quote(name);
    let (k1, k2, k3, k4) = (key.clone(), key.clone(), key.clone(), key);
    prop_oneof![
        100 => value.clone().prop_map(move |v| vec![(k1.clone(), v)]),
        noise => Just(Vec::new()),
        noise => Just(vec![(k2, "null".to_owned())]),
        noise => wrong_value().prop_map(move |v| vec![(k3.clone(), v)]),
        noise => (wrong_value(), value).prop_map(move |(first, v)| vec![(k4.clone(), first), (k4.clone(), v)]),
    ]
    .boxed()
}

/// A member that is as often absent as present.
fn maybe(name: &'static str, value: BoxedStrategy<String>, noise: u32) -> Members {
    prop_oneof![Just(Vec::new()), member(name, value, noise)].boxed()
}

/// Valid JSON of any shape, for members the relay does not read.
fn unknown_value() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<String>().prop_map(|text| quote(&text)),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|items| array(&items)),
            vec((any::<String>(), inner), 0..4).prop_map(|members| {
                let members: Vec<(String, String)> =
                    members.into_iter().map(|(k, v)| (quote(&k), v)).collect();
                object(&members)
            }),
        ]
    })
    .boxed()
}

/// An object of these members in any order, plus up to `extra` unknown ones.
fn object_of(members: Vec<Members>, extra: usize) -> BoxedStrategy<String> {
    (members, vec((any::<String>(), unknown_value()), 0..=extra))
        .prop_map(|(groups, extra)| {
            let mut all: Vec<(String, String)> = groups.into_iter().flatten().collect();
            all.extend(extra.into_iter().map(|(key, value)| (quote(&key), value)));
            all
        })
        .prop_shuffle()
        .prop_map(|members| object(&members))
        .boxed()
}

fn object_or_wrong(members: Vec<Members>, noise: u32) -> BoxedStrategy<String> {
    prop_oneof![100 => object_of(members, 1), noise => wrong_value()].boxed()
}

fn array_or_wrong(
    item: BoxedStrategy<String>,
    len: std::ops::Range<usize>,
    noise: u32,
) -> BoxedStrategy<String> {
    prop_oneof![
        100 => vec(item, len).prop_map(|items| array(&items)),
        noise => wrong_value(),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------
// Byte-level damage to valid inputs
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Edit {
    Set(Index, u8),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    Truncate(Index),
    /// Repeats a span right after itself, `n` times.
    Repeat(Index, usize, usize),
}

fn edit_byte() -> BoxedStrategy<u8> {
    prop_oneof![
        any::<u8>(),
        select(b"AZaz09+/=-_ \n\r\t\\\"{}[]:,.".as_slice()),
    ]
    .boxed()
}

fn edit() -> BoxedStrategy<Edit> {
    prop_oneof![
        3 => (any::<Index>(), edit_byte()).prop_map(|(at, byte)| Edit::Set(at, byte)),
        2 => (any::<Index>(), vec(edit_byte(), 1..8)).prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        2 => (any::<Index>(), 1usize..64).prop_map(|(at, n)| Edit::Remove(at, n)),
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => (any::<Index>(), 1usize..64, 1usize..40).prop_map(|(at, n, times)| Edit::Repeat(at, n, times)),
    ]
    .boxed()
}

fn mutate(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for edit in edits {
        match edit {
            Edit::Set(at, byte) if !out.is_empty() => {
                let at = at.index(out.len());
                out[at] = *byte;
            }
            Edit::Insert(at, bytes) => {
                let at = at.index(out.len() + 1);
                out.splice(at..at, bytes.iter().copied());
            }
            Edit::Remove(at, n) if !out.is_empty() => {
                let at = at.index(out.len());
                let end = (at + n).min(out.len());
                out.drain(at..end);
            }
            Edit::Truncate(at) => out.truncate(at.index(out.len() + 1)),
            Edit::Repeat(at, n, times) if !out.is_empty() => {
                let at = at.index(out.len());
                let end = (at + n).min(out.len());
                let span = out[at..end].to_vec();
                for _ in 0..*times {
                    out.splice(end..end, span.iter().copied());
                }
            }
            _ => {}
        }
    }
    out
}

fn mutated(
    seeds: &'static [&'static str],
    edits: std::ops::Range<usize>,
) -> BoxedStrategy<Vec<u8>> {
    (select(seeds), vec(edit(), edits))
        .prop_map(|(seed, edits)| mutate(seed.as_bytes(), &edits))
        .boxed()
}

// ---------------------------------------------------------------------------------------
// Webhook headers and secrets
// ---------------------------------------------------------------------------------------

/// The Standard Webhooks specification's example secret.
const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const SEPARATORS: &[&str] = &[" ", "  ", "\n", "\t", ",", ", ", "\u{3000}"];
const WHITESPACE: &[&str] = &[" ", "  ", "\n", "\t", " \t ", "\u{3000}"];

/// Up to the platform's 128 KB of request headers: `verify` refuses more than
/// `MAX_SIGNATURE_ENTRIES` entries unread, and does one HMAC per secret below that.
const MANY_ENTRIES: usize = 2_700;

fn secret_token() -> BoxedStrategy<String> {
    (vec(any::<u8>(), 0..48), any::<bool>(), vec(edit(), 0..2))
        .prop_map(|(key, prefixed, edits)| {
            let encoded = b64(&key);
            let token = if prefixed {
                format!("whsec_{encoded}")
            } else {
                encoded
            };
            String::from_utf8_lossy(&mutate(token.as_bytes(), &edits)).into_owned()
        })
        .boxed()
}

fn secrets_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => (vec(secret_token(), 0..5), select(SEPARATORS)).prop_map(|(tokens, separator)| tokens.join(separator)),
        1 => any::<String>(),
        // Far beyond the 5 KB a Worker's secret may hold.
        1 => (secret_token(), 1usize..400).prop_map(|(token, n)| vec![token; n].join(" ")),
    ]
    .boxed()
}

fn secrets_for(keys: &[Vec<u8>]) -> String {
    keys.iter()
        .map(|key| format!("whsec_{}", b64(key)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn signing_keys() -> BoxedStrategy<Vec<Vec<u8>>> {
    vec(vec(any::<u8>(), 16..48), 1..4).boxed()
}

fn webhook_id() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[!-~]{1,256}",
        1 => "[!-~]{257,300}",
        1 => any::<String>(),
        1 => "[ -~\t\r\n]{0,40}",
        1 => ("[!-~]{1,4}", 1usize..30_000).prop_map(|(piece, n)| piece.repeat(n)),
        1 => Just(String::new()),
    ]
    .boxed()
}

fn signature_entry() -> BoxedStrategy<String> {
    prop_oneof![
        3 => vec(any::<u8>(), 32).prop_map(|mac| format!("v1,{}", b64(&mac))),
        1 => vec(any::<u8>(), 0..48).prop_map(|mac| format!("v1,{}", b64(&mac))),
        1 => select(&["v1,", "v1,,", "v1a,xyz", "v2,AAAA", "v1", ",", "v1,====", "v1,AAA", "v1,v1,"])
            .prop_map(str::to_owned),
        1 => "[ -~]{0,60}",
        1 => any::<String>(),
    ]
    .boxed()
}

fn signature_header() -> BoxedStrategy<String> {
    prop_oneof![
        4 => (vec(signature_entry(), 0..40), select(SEPARATORS)).prop_map(|(entries, separator)| entries.join(separator)),
        1 => (signature_entry(), 1usize..=MANY_ENTRIES).prop_map(|(entry, n)| vec![entry; n].join(" ")),
        1 => any::<String>(),
    ]
    .boxed()
}

fn timestamp_header() -> BoxedStrategy<String> {
    prop_oneof![
        2 => "[0-9]{0,25}",
        1 => "0{0,30}1700000000",
        1 => "[0-9+\\- .eE]{0,20}",
        1 => "[٠-٩０-９]{1,10}",
        1 => any::<String>(),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => ("[0-9]", 1usize..20_000).prop_map(|(digit, n)| digit.repeat(n)),
    ]
    .boxed()
}

/// A webhook signed by one of the relay's secrets, among other entries: it must verify
/// exactly when its timestamp is within tolerance.
#[derive(Debug, Clone)]
struct SignedWebhook {
    keys: Vec<Vec<u8>>,
    signer: Index,
    id: String,
    now: i64,
    offset: i64,
    body: Vec<u8>,
    before: Vec<String>,
    after: Vec<String>,
    separator: &'static str,
    tamper: Index,
}

fn signed_webhook() -> BoxedStrategy<SignedWebhook> {
    (
        (signing_keys(), any::<Index>(), "[!-~]{1,256}"),
        (1_000_000_000i64..4_000_000_000, -600i64..600),
        prop_oneof![4 => vec(any::<u8>(), 0..1024), 1 => vec(any::<u8>(), 0..65_536)],
        (
            vec(signature_entry(), 0..8),
            vec(signature_entry(), 0..8),
            select(WHITESPACE),
        ),
        any::<Index>(),
    )
        .prop_map(
            |((keys, signer, id), (now, offset), body, (before, after, separator), tamper)| {
                SignedWebhook {
                    keys,
                    signer,
                    id,
                    now,
                    offset,
                    body,
                    before,
                    after,
                    separator,
                    tamper,
                }
            },
        )
        .boxed()
}

/// Headers nobody signed: they must never verify.
#[derive(Debug, Clone)]
struct UnsignedWebhook {
    keys: Vec<Vec<u8>>,
    id: Option<String>,
    timestamp: Option<String>,
    signature: Option<String>,
    body: Vec<u8>,
    now: i64,
}

fn unsigned_webhook() -> BoxedStrategy<UnsignedWebhook> {
    (
        signing_keys(),
        option::weighted(0.95, webhook_id()),
        option::weighted(0.95, timestamp_header()),
        option::weighted(0.95, signature_header()),
        vec(any::<u8>(), 0..256),
        prop_oneof![4 => 1_699_999_000i64..1_700_001_000, 1 => any::<i64>()],
    )
        .prop_map(
            |(keys, id, timestamp, signature, body, now)| UnsignedWebhook {
                keys,
                id,
                timestamp,
                signature,
                body,
                now,
            },
        )
        .boxed()
}

#[derive(Debug, Clone)]
enum WebhookCase {
    Signed(SignedWebhook),
    Unsigned(UnsignedWebhook),
}

#[test]
fn webhook_secrets() {
    fuzz(
        "webhook::WebhookSecrets::parse",
        256,
        secrets_text(),
        |probe, text| {
            let parsed = probe.call(text.len(), || WebhookSecrets::parse(&text))?;
            let shown = match &parsed {
                Ok(secrets) => format!("{secrets:?}"),
                Err(error) => error.to_string(),
            };
            for token in text.split_whitespace() {
                let material = token.strip_prefix("whsec_").unwrap_or(token);
                prop_assert!(
                    material.chars().count() < 12 || !shown.contains(material),
                    "{shown:?} shows a secret"
                );
            }
            if let Ok(secrets) = parsed {
                probe.accept();
                // What parses signs, and what it signs verifies.
                let signature = webhook::sign(&secrets, "msg_1", 1_700_000_000, b"{}");
                let headers = WebhookHeaders {
                    id: Some("msg_1"),
                    timestamp: Some("1700000000"),
                    signature: Some(&signature),
                };
                let verified = webhook::verify(&secrets, headers, b"{}", 1_700_000_000);
                prop_assert!(verified.is_ok(), "{verified:?}");
            }
            Ok(())
        },
    );
}

#[test]
fn webhook_verify() {
    let cases = prop_oneof![
        signed_webhook().prop_map(WebhookCase::Signed),
        unsigned_webhook().prop_map(WebhookCase::Unsigned),
    ];
    fuzz("webhook::verify", 256, cases, |probe, case| match case {
        WebhookCase::Signed(case) => verify_signed(probe, case),
        WebhookCase::Unsigned(case) => verify_unsigned(probe, case),
    });
}

fn verify_signed(probe: &Probe, case: SignedWebhook) -> Result<(), TestCaseError> {
    let secrets = WebhookSecrets::parse(&secrets_for(&case.keys)).map_err(fail)?;
    let signer_key = &case.keys[case.signer.index(case.keys.len())];
    let signer =
        WebhookSecrets::parse(&secrets_for(std::slice::from_ref(signer_key))).map_err(fail)?;
    let timestamp = case.now + case.offset;
    let valid = webhook::sign(&signer, &case.id, timestamp, &case.body);
    let entries: Vec<&str> = case
        .before
        .iter()
        .map(String::as_str)
        .chain([valid.as_str()])
        .chain(case.after.iter().map(String::as_str))
        .collect();
    let signature = entries.join(case.separator);
    let timestamp_text = timestamp.to_string();
    let headers = WebhookHeaders {
        id: Some(&case.id),
        timestamp: Some(&timestamp_text),
        signature: Some(&signature),
    };
    let size = case.id.len() + timestamp_text.len() + signature.len() + case.body.len();
    let verified = probe.call(size, || {
        webhook::verify(&secrets, headers, &case.body, case.now)
    })?;
    let expected = if case.offset < -TOLERANCE_SECONDS {
        Some("webhook_timestamp_expired")
    } else if case.offset > TOLERANCE_SECONDS {
        Some("webhook_timestamp_in_future")
    } else {
        None
    };
    match (verified, expected) {
        (Ok(verified), None) => {
            probe.accept();
            prop_assert_eq!(&verified.id, &case.id);
            prop_assert_eq!(verified.timestamp, timestamp);
        }
        (Err(error), Some(code)) => prop_assert_eq!(error.code(), code),
        (result, expected) => {
            return Err(fail(format!("got {result:?}, expected {expected:?}")));
        }
    }
    if expected.is_none() && !case.body.is_empty() {
        // One changed byte of the body never verifies.
        let mut tampered = case.body.clone();
        let at = case.tamper.index(tampered.len());
        tampered[at] ^= 0x01;
        let verified = probe.call(size, || {
            webhook::verify(&secrets, headers, &tampered, case.now)
        })?;
        prop_assert_eq!(
            verified.map_err(|e| e.code()),
            Err("invalid_webhook_signature")
        );
    }
    Ok(())
}

fn verify_unsigned(probe: &Probe, case: UnsignedWebhook) -> Result<(), TestCaseError> {
    let secrets = WebhookSecrets::parse(&secrets_for(&case.keys)).map_err(fail)?;
    let headers = WebhookHeaders {
        id: case.id.as_deref(),
        timestamp: case.timestamp.as_deref(),
        signature: case.signature.as_deref(),
    };
    let size = [&case.id, &case.timestamp, &case.signature]
        .iter()
        .map(|header| header.as_ref().map_or(0, String::len))
        .sum::<usize>()
        + case.body.len();
    let verified = probe.call(size, || {
        webhook::verify(&secrets, headers, &case.body, case.now)
    })?;
    let error = match verified {
        Ok(verified) => {
            return Err(fail(format!(
                "a webhook nobody signed verified: {verified:?}"
            )))
        }
        Err(error) => error,
    };
    prop_assert!(!error.code().is_empty());
    let message = error.to_string();
    for key in &case.keys {
        prop_assert!(!message.contains(&b64(key)), "{message} shows a secret");
    }
    Ok(())
}

/// Found by `webhook_verify` (its many-entries inputs): `verify` used to finish one HMAC per
/// signature entry and secret, with nothing capping the entries short of the platform's 128 KB
/// of headers (2,700 entries: 70 to 150 ms unoptimised with three secrets). Now it computes one
/// HMAC per secret and refuses a header of more than `MAX_SIGNATURE_ENTRIES` entries unread.
#[test]
fn verify_cost_at_the_header_limit() {
    let keys: Vec<Vec<u8>> = (1..=3u8).map(|k| vec![k; 32]).collect();
    let secrets = WebhookSecrets::parse(&secrets_for(&keys)).expect("three valid secrets");
    let entry = format!("v1,{}", b64(&[7; 32]));
    for (count, expected) in [
        (
            2700,
            Err(webhook::WebhookError::InvalidHeader(
                webhook::SIGNATURE_HEADER,
            )),
        ),
        (
            webhook::MAX_SIGNATURE_ENTRIES + 1,
            Err(webhook::WebhookError::InvalidHeader(
                webhook::SIGNATURE_HEADER,
            )),
        ),
        (
            webhook::MAX_SIGNATURE_ENTRIES,
            Err(webhook::WebhookError::InvalidSignature),
        ),
    ] {
        let signature = vec![entry.as_str(); count].join(" ");
        let headers = WebhookHeaders {
            id: Some("msg_1"),
            timestamp: Some("1700000000"),
            signature: Some(&signature),
        };
        let probe = Probe::new("webhook::verify at the header limit");
        let verified = probe
            .call(signature.len(), || {
                webhook::verify(&secrets, headers, b"{}", 1_700_000_000)
            })
            .expect("within the time bound");
        probe.report();
        assert_eq!(verified.map(|_| ()), expected, "{count} entries");
    }
}

#[test]
fn webhook_id_check() {
    let secrets = WebhookSecrets::parse(SPEC_SECRET).expect("the specification's secret");
    fuzz(
        "webhook::is_well_formed_id",
        512,
        webhook_id(),
        |probe, id| {
            let accepted = probe.call(id.len(), || webhook::is_well_formed_id(&id))?;
            if accepted {
                probe.accept();
                // Ids are logged before authentication: an accepted one cannot break a log line.
                prop_assert!(!id.is_empty() && id.len() <= 256);
                prop_assert!(id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
            }
            // `verify` judges ids the same way.
            let headers = WebhookHeaders {
                id: Some(&id),
                timestamp: Some("1700000000"),
                signature: Some("v1,"),
            };
            let code = webhook::verify(&secrets, headers, b"", 1_700_000_000).map_err(|e| e.code());
            let expected = if accepted {
                "invalid_webhook_signature"
            } else {
                "invalid_webhook_header"
            };
            prop_assert_eq!(code, Err(expected));
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------
// Webhook bodies
// ---------------------------------------------------------------------------------------

const BODY_ERRORS: &[&str] = &["invalid_json", "missing_field", "invalid_field"];

/// Ids on the edge of what `required_id` accepts.
const EDGE_IDS: &[&str] = &[
    "0",
    "\"0\"",
    "\"01\"",
    "\"\"",
    "-1",
    "1.0",
    "1e3",
    "18446744073709551615",
    "18446744073709551616",
    "\"18446744073709551615\"",
    "\"18446744073709551616\"",
    "\" 1\"",
    "\"+1\"",
    "\"１\"",
    "\"٣\"",
];

fn id_value(noise: u32) -> BoxedStrategy<String> {
    prop_oneof![
        60 => (1u64..).prop_map(|n| n.to_string()),
        30 => (1u64..).prop_map(|n| quote(&n.to_string())),
        noise => select(EDGE_IDS).prop_map(str::to_owned),
    ]
    .boxed()
}

fn cancel_verification_body() -> BoxedStrategy<Vec<u8>> {
    let shaped = |noise| {
        object_of(
            vec![
                member("orderId", id_value(noise), noise),
                member("userId", id_value(noise), noise),
            ],
            3,
        )
        .prop_map(String::into_bytes)
    };
    prop_oneof![
        3 => shaped(2),
        3 => shaped(20),
        1 => json_value().prop_map(String::into_bytes),
        1 => vec(any::<u8>(), 0..512),
        1 => deep_nesting().prop_map(String::into_bytes),
        1 => mutated(&[r#"{"orderId": 2636635856, "userId": "4188819900"}"#], 1..6),
    ]
    .boxed()
}

#[test]
fn cancel_verification_bodies() {
    fuzz(
        "inbound::cancel_verification::parse",
        256,
        cancel_verification_body().prop_map(Bytes),
        |probe, Bytes(body)| {
            match probe.call(body.len(), || cancel_verification::parse(&body))? {
                Ok(parsed) => {
                    probe.accept();
                    let OrderRef::Ids { order_id, user_id } = parsed.clone() else {
                        return Ok(());
                    };
                    prop_assert!(order_id > 0 && user_id > 0);
                    // Ids read back the same as numbers and as strings.
                    let again = json!({"orderId": order_id, "userId": user_id.to_string()});
                    let reparsed = cancel_verification::parse(again.to_string().as_bytes());
                    prop_assert_eq!(reparsed.ok(), Some(parsed));
                }
                Err(error) => {
                    prop_assert!(BODY_ERRORS.contains(&error.code()), "{}", error.code());
                    prop_assert!(!error.message().is_empty());
                }
            }
            Ok(())
        },
    );
}

const APP_KEY: &str = "4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c";
const CALLS: &[OrderCenterCall] = &[
    OrderCenterCall::Update,
    OrderCenterCall::Append,
    OrderCenterCall::UpdateStatus,
];

const VALID_AFTER_SALE: &str = r#"{"openId":"open-1","sceneId":"2636635856","sceneType":2,"data":[{"CateID":2,"ResourceID":"1001","EXT":{"SubsOrder":{"Status":401,"Items":[{"SubOrderID":"sub-1","SubStatus":401,"CTime":1700000000,"MTime":1700000100,"OrderType":1,"OrderDetail":{"Status":2,"Name":"退款","SwanSchema":"baiduboxapp://swan/x"},"Refund":{"Amount":1500,"Product":[{"ID":"sku-1","Quantity":1,"Amount":1500}]}}]}}}]}"#;

fn uint_value(noise: u32) -> BoxedStrategy<String> {
    prop_oneof![
        40 => (1u64..=u64::from(u32::MAX)).prop_map(|n| n.to_string()),
        noise => any::<u64>().prop_map(|n| n.to_string()),
        noise => select(&["0", "18446744073709551615", "18446744073709551616", "-0", "1.0"])
            .prop_map(str::to_owned),
    ]
    .boxed()
}

fn string_value(noise: u32) -> BoxedStrategy<String> {
    prop_oneof![
        40 => "[a-z0-9-]{1,12}".prop_map(|text| quote(&text)),
        noise => any::<String>().prop_map(|text| quote(&text)),
        noise => Just(quote("")),
    ]
    .boxed()
}

fn open_id(noise: u32) -> BoxedStrategy<String> {
    prop_oneof![
        40 => "[A-Za-z0-9_-]{1,40}".prop_map(|text| quote(&text)),
        noise => any::<String>().prop_map(|text| quote(&text)),
        noise => Just(quote(&"x".repeat(257))),
        noise => Just(quote(" \t ")),
    ]
    .boxed()
}

/// An after-sale body shaped like Baidu's `Data`, each field wrong with weight `noise`.
fn after_sale_shaped(noise: u32) -> BoxedStrategy<String> {
    let m = |name: &'static str, value: BoxedStrategy<String>| member(name, value, noise);
    let uint = || uint_value(noise);
    let text = || string_value(noise);
    let product = object_or_wrong(
        vec![m("ID", text()), m("Quantity", uint()), m("Amount", uint())],
        noise,
    );
    let refund = object_or_wrong(
        vec![
            m("Amount", uint()),
            m("Product", array_or_wrong(product, 0..3, noise)),
        ],
        noise,
    );
    let detail = object_or_wrong(
        vec![
            m("Status", uint()),
            m("Name", text()),
            m("SwanSchema", text()),
        ],
        noise,
    );
    let sub = object_or_wrong(
        vec![
            m("SubOrderID", text()),
            m("SubStatus", uint()),
            m("CTime", uint()),
            m("MTime", uint()),
            m("OrderType", uint()),
            maybe("OrderDetail", detail, noise),
            maybe("Refund", refund, noise),
        ],
        noise,
    );
    let subs = object_or_wrong(
        vec![
            m("Status", uint()),
            m("Items", array_or_wrong(sub, 1..3, noise)),
        ],
        noise,
    );
    let ext = object_or_wrong(vec![m("SubsOrder", subs)], noise);
    let biz_app_id = prop_oneof![20 => Just(quote(APP_KEY)), noise => text()].boxed();
    let item = object_or_wrong(
        vec![
            m("CateID", uint()),
            m("ResourceID", text()),
            maybe("BizAPPID", biz_app_id, noise),
            m("EXT", ext),
        ],
        noise,
    );
    let data = prop_oneof![
        20 => array_or_wrong(item.clone(), 1..4, noise),
        1 => (item, 99usize..=101).prop_map(|(item, n)| array(&vec![item; n])),
    ]
    .boxed();
    // Whose order: openId, or swanId, or tpOrderId standing in for the ids; now and then both
    // user ids, which is refused.
    let tp_order_id = prop_oneof![
        40 => "[A-Za-z0-9-]{1,64}".prop_map(|text| quote(&text)),
        noise => any::<String>().prop_map(|text| quote(&text)),
        noise => any::<u64>().prop_map(|n| n.to_string()),
    ]
    .boxed();
    let both = (m("openId", open_id(noise)), m("swanId", open_id(noise)))
        .prop_map(|(mut open, swan)| {
            open.extend(swan);
            open
        })
        .boxed();
    let whose = prop_oneof![
        20 => m("openId", open_id(noise)),
        4 => m("swanId", open_id(noise)),
        4 => Just(Vec::new()),
        noise => both,
    ]
    .boxed();
    object_of(
        vec![
            whose,
            m("sceneId", id_value(noise)),
            maybe("tpOrderId", tp_order_id, noise),
            maybe("sceneType", uint(), noise),
            m("data", data),
        ],
        1,
    )
}

fn after_sale_body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        3 => after_sale_shaped(1).prop_map(String::into_bytes),
        3 => after_sale_shaped(20).prop_map(String::into_bytes),
        1 => json_value().prop_map(String::into_bytes),
        1 => vec(any::<u8>(), 0..512),
        1 => deep_nesting().prop_map(String::into_bytes),
        1 => mutated(&[VALID_AFTER_SALE], 1..8),
    ]
    .boxed()
}

#[test]
fn after_sale_bodies() {
    fuzz(
        "inbound::after_sale::parse",
        256,
        (after_sale_body().prop_map(Bytes), select(CALLS)),
        |probe, (Bytes(body), call)| {
            if body.len() > inbound::MAX_BODY_BYTES {
                // The relay answers 413 before parsing such a body: checked for panics only.
                let _ = after_sale::parse(&body, call, APP_KEY);
                return Ok(());
            }
            match probe.call(body.len(), || after_sale::parse(&body, call, APP_KEY))? {
                Ok(orders) => {
                    probe.accept();
                    prop_assert!((1..=after_sale::MAX_ITEMS).contains(&orders.data.len()));
                    prop_assert!(orders.data.iter().all(|item| item["BizAPPID"] == APP_KEY));
                    // What was accepted, sent again as parsed, is accepted unchanged.
                    let (open_id, swan_id) = match &orders.owner.user {
                        Some(OrderUser::OpenId(id)) => (Some(id), None),
                        Some(OrderUser::SwanId(id)) => (None, Some(id)),
                        None => (None, None),
                    };
                    let again = json!({
                        "openId": open_id,
                        "swanId": swan_id,
                        "sceneId": orders.owner.scene_id,
                        "tpOrderId": orders.owner.tp_order_id,
                        "sceneType": orders.scene_type,
                        "data": orders.data,
                    });
                    let reparsed = after_sale::parse(again.to_string().as_bytes(), call, APP_KEY);
                    prop_assert_eq!(reparsed.ok(), Some(orders));
                }
                Err(error) => {
                    prop_assert!(BODY_ERRORS.contains(&error.code()), "{}", error.code());
                    prop_assert!(!error.message().is_empty());
                }
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------
// RSA keys
// ---------------------------------------------------------------------------------------

const KEY_FILES: &[&str] = &[
    include_str!("../tests/vectors/keys/baidu-doc-sample-1024.pkcs1.pem"),
    include_str!("../tests/vectors/keys/baidu-doc-sample-1024.pkcs8.pem"),
    include_str!("../tests/vectors/keys/baidu-doc-sample-1024.pub.pem"),
    include_str!("../tests/vectors/keys/test-2048.pkcs1.pem"),
    include_str!("../tests/vectors/keys/test-2048.pkcs8.pem"),
    include_str!("../tests/vectors/keys/test-2048.pub.pem"),
];

const LABELS: &[&str] = &[
    "RSA PRIVATE KEY",
    "PRIVATE KEY",
    "PUBLIC KEY",
    "RSA PUBLIC KEY",
    "CERTIFICATE",
    "ENCRYPTED PRIVATE KEY",
    "EC PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
    "X",
    "",
];

/// `AlgorithmIdentifier`s: rsaEncryption with NULL, id-ecPublicKey on P-256, Ed25519.
const ALGORITHMS: &[&[u8]] = &[
    &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ],
    &[
        0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
        0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ],
    &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70],
];

/// The base64 bodies of the test keys: no error may show 16 characters of them.
fn key_bodies() -> Vec<String> {
    KEY_FILES.iter().map(|pem| pem_body(pem)).collect()
}

fn pem_body(pem: &str) -> String {
    pem.lines()
        .filter(|line| !line.starts_with("-----"))
        .collect()
}

fn shows_key_material(text: &str, bodies: &[String]) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars.windows(16).any(|window| {
        let window: String = window.iter().collect();
        bodies.iter().any(|body| body.contains(&window))
    })
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    if content.len() < 0x80 {
        out.push(content.len() as u8);
    } else {
        let length: Vec<u8> = content
            .len()
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | length.len() as u8);
        out.extend(length);
    }
    out.extend_from_slice(content);
    out
}

/// A positive DER INTEGER with this magnitude.
fn der_uint(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = magnitude.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = Vec::new();
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend(trimmed);
    der(0x02, &content)
}

fn product(p: &[u8], q: &[u8]) -> Vec<u8> {
    let number = |bytes: &[u8]| {
        let precision = (bytes.len().div_ceil(8) as u32 * 64).max(64);
        BoxedUint::from_be_slice(bytes, precision).expect("the precision fits the bytes")
    };
    let product = number(p).concatenating_mul(&number(q)).to_be_bytes();
    product.iter().copied().skip_while(|b| *b == 0).collect()
}

fn integer_bytes() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        4 => vec(any::<u8>(), 0..9),
        3 => vec(any::<u8>(), 60..300),
        1 => vec(any::<u8>(), 300..1100),
    ]
    .boxed()
}

/// An `RSAPrivateKey` of random numbers, its modulus sometimes the product of its primes (the
/// one relation `MerchantKey::parse` checks), sometimes wrapped in PKCS#8.
fn private_key_der() -> BoxedStrategy<Vec<u8>> {
    (
        vec(integer_bytes(), 9),
        any::<bool>(),
        any::<bool>(),
        vec(any::<u8>(), 64..=256),
        vec(any::<u8>(), 64..=256),
    )
        .prop_map(|(mut numbers, consistent, pkcs8, p, q)| {
            if consistent {
                numbers[0] = Vec::new();
                numbers[1] = product(&p, &q);
                numbers[4] = p;
                numbers[5] = q;
            }
            let pkcs1 = der(
                0x30,
                &numbers.iter().flat_map(|n| der_uint(n)).collect::<Vec<_>>(),
            );
            if pkcs8 {
                der(
                    0x30,
                    &[der_uint(&[]), ALGORITHMS[0].to_vec(), der(0x04, &pkcs1)].concat(),
                )
            } else {
                pkcs1
            }
        })
        .boxed()
}

/// An RSA public key of random numbers (odd moduli of plausible sizes half the time), as
/// PKCS#1 or as `SubjectPublicKeyInfo` under any algorithm.
fn public_key_der() -> BoxedStrategy<Vec<u8>> {
    let modulus = prop_oneof![
        integer_bytes(),
        vec(any::<u8>(), 64..=520).prop_map(|mut n| {
            n[0] |= 0x80;
            *n.last_mut().expect("not empty") |= 1;
            n
        }),
    ];
    let exponent = prop_oneof![Just(vec![1, 0, 1]), Just(vec![3]), integer_bytes()];
    (modulus, exponent, select(ALGORITHMS), any::<bool>())
        .prop_map(|(n, e, algorithm, spki)| {
            let pkcs1 = der(0x30, &[der_uint(&n), der_uint(&e)].concat());
            if spki {
                let mut bits = vec![0];
                bits.extend(pkcs1);
                der(0x30, &[algorithm.to_vec(), der(0x03, &bits)].concat())
            } else {
                pkcs1
            }
        })
        .boxed()
}

#[derive(Debug, Clone, Copy)]
enum Armour {
    Bare,
    Pem,
    OneLine,
    EscapedAndQuoted,
    Crlf,
}

fn armour(der: &[u8], label: &str, armour: Armour) -> String {
    let body = b64(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).expect("base64 is ASCII"))
        .collect();
    match armour {
        Armour::Bare => body,
        Armour::Pem => format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        ),
        Armour::OneLine => format!("-----BEGIN {label}-----{body}-----END {label}-----"),
        Armour::EscapedAndQuoted => format!(
            "\"-----BEGIN {label}-----\\n{}\\n-----END {label}-----\"",
            lines.join("\\n")
        ),
        Armour::Crlf => format!(
            "-----BEGIN {label}-----\r\n{}\r\n-----END {label}-----\r\n",
            lines.join("\r\n")
        ),
    }
}

const ARMOURS: &[Armour] = &[
    Armour::Bare,
    Armour::Pem,
    Armour::OneLine,
    Armour::EscapedAndQuoted,
    Armour::Crlf,
];

fn key_der(pem: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(pem_body(pem))
        .expect("the test keys are base64")
}

fn key_text() -> BoxedStrategy<String> {
    let armoured = |der: BoxedStrategy<Vec<u8>>| {
        (der, select(LABELS), select(ARMOURS))
            .prop_map(|(der, label, form)| armour(&der, label, form))
    };
    let damaged_der = (select(KEY_FILES), vec(edit(), 1..6))
        .prop_map(|(pem, edits)| mutate(&key_der(pem), &edits))
        .boxed();
    let whole_key = (select(KEY_FILES), select(LABELS), select(ARMOURS))
        .prop_map(|(pem, label, form)| armour(&key_der(pem), label, form));
    prop_oneof![
        3 => mutated(KEY_FILES, 1..6).prop_map(|text| String::from_utf8_lossy(&text).into_owned()),
        3 => armoured(damaged_der),
        2 => armoured(private_key_der()),
        2 => armoured(public_key_der()),
        2 => whole_key,
        1 => any::<String>(),
        1 => "[A-Za-z0-9+/=\\n -]{0,400}",
    ]
    .boxed()
}

#[test]
fn merchant_keys() {
    let bodies = key_bodies();
    fuzz(
        "baidu::key::MerchantKey::parse",
        128,
        key_text(),
        |probe, text| {
            match probe.call(text.len(), || MerchantKey::parse(&text))? {
                Ok(key) => {
                    probe.accept();
                    prop_assert!(SUPPORTED_BITS.contains(&key.bits()));
                    let shown = format!("{key:?}");
                    prop_assert!(!shows_key_material(&shown, &bodies), "{shown}");
                    // The normalised form is a key of its own, and normalises to itself.
                    let again = MerchantKey::parse(&b64(key.pkcs8_der())).map_err(fail)?;
                    prop_assert_eq!(again.pkcs8_der(), key.pkcs8_der());
                    prop_assert_eq!(again.bits(), key.bits());
                }
                Err(error) => {
                    let message = error.to_string();
                    prop_assert!(!shows_key_material(&message, &bodies), "{message}");
                }
            }
            Ok(())
        },
    );
}

#[test]
fn public_keys() {
    let bodies = key_bodies();
    fuzz(
        "baidu::key::parse_public_key",
        128,
        key_text(),
        |probe, text| {
            match probe.call(text.len(), || parse_public_key(&text))? {
                Ok(key) => {
                    probe.accept();
                    // Re-encoded as Baidu's console shows it, the key reads back the same.
                    let der = key.to_public_key_der().map_err(fail)?;
                    let again = parse_public_key(&b64(der.as_bytes())).map_err(fail)?;
                    prop_assert_eq!(again, key);
                }
                Err(error) => {
                    let message = error.to_string();
                    prop_assert!(!shows_key_material(&message, &bodies), "{message}");
                }
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------
// Baidu's answers
// ---------------------------------------------------------------------------------------

const STATUSES: &[u16] = &[
    0, 100, 200, 201, 204, 299, 300, 302, 400, 401, 403, 404, 408, 429, 499, 500, 502, 503, 504,
    599, 600, 999,
];
const TRANSPORT_ERRORS: &[TransportError] = &[
    TransportError::Timeout,
    TransportError::Unreachable,
    TransportError::AnswerTooLarge,
];

const CODES: &[&str] = &[
    "0", "110", "111", "10000", "10001", "10002", "10003", "1", "2", "4", "17", "18", "3", "6",
    "19", "100", "930", "970", "4010001", "4010002", "5010003", "-1", "null",
];

const MESSAGES: &[&str] = &[
    "success",
    "sign error",
    "系统错误，请稍后重试",
    "余额不足，请充值后重试",
    "内部错误",
    "Access token invalid or no longer valid",
    "Open api qps request limit reached",
    "BUSY",
];

/// What came back from Baidu, shown readably when a test fails.
#[derive(Debug, Clone)]
enum Answer {
    None(TransportError),
    Http { status: u16, body: Bytes },
}

impl Answer {
    fn upstream(&self) -> UpstreamAnswer {
        match self {
            Answer::None(error) => Err(*error),
            Answer::Http { status, body } => Ok(UpstreamResponse {
                status: *status,
                body: body.0.clone(),
            }),
        }
    }

    fn size(&self) -> usize {
        match self {
            Answer::None(_) => 0,
            Answer::Http { body, .. } => body.0.len(),
        }
    }

    fn is_success(&self) -> bool {
        matches!(self, Answer::Http { status, .. } if (200..300).contains(status))
    }
}

fn upstream_answer(body: BoxedStrategy<Vec<u8>>) -> BoxedStrategy<Answer> {
    let status = prop_oneof![3 => Just(200), 3 => select(STATUSES), 1 => any::<u16>()];
    prop_oneof![
        1 => select(TRANSPORT_ERRORS).prop_map(Answer::None),
        12 => (status, body).prop_map(|(status, body)| Answer::Http { status, body: Bytes(body) }),
    ]
    .boxed()
}

fn code_value() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(CODES).prop_map(str::to_owned),
        2 => select(CODES).prop_map(|code| quote(&format!(" {code} "))),
        1 => json_number(),
        1 => json_string(),
        1 => json_value(),
    ]
    .boxed()
}

fn message_value() -> BoxedStrategy<String> {
    prop_oneof![
        2 => select(MESSAGES).prop_map(quote),
        2 => json_string(),
        1 => json_value(),
        1 => (any::<char>(), 1usize..2_000).prop_map(|(c, n)| quote(&c.to_string().repeat(n))),
    ]
    .boxed()
}

const RESOURCE_IDS: &[&str] = &[
    "\"1001\"",
    "\" 1001 \"",
    "1001",
    "\"1002\"",
    "1002",
    "\"\"",
    "null",
    "1001.0",
    "[\"1001\"]",
];
const ROWS: &[&str] = &[
    "0",
    "1",
    "2",
    "\"1\"",
    "\" 1 \"",
    "\"0\"",
    "-1",
    "1.5",
    "1e3",
    "\"x\"",
    "null",
    "true",
    "18446744073709551615",
    "18446744073709551616",
    "{}",
];

fn rows_data() -> BoxedStrategy<String> {
    let entry = object_of(
        vec![
            maybe(
                "resource_id",
                select(RESOURCE_IDS).prop_map(str::to_owned).boxed(),
                10,
            ),
            maybe(
                "rows_affected",
                select(ROWS).prop_map(str::to_owned).boxed(),
                10,
            ),
        ],
        1,
    );
    prop_oneof![
        4 => vec(entry.clone(), 0..5).prop_map(|entries| array(&entries)),
        // One entry per item sent is at most 100; a few hundred stands for a misbehaving answer.
        1 => (entry, 100usize..300).prop_map(|(entry, n)| array(&vec![entry; n])),
        1 => json_value(),
    ]
    .boxed()
}

fn baidu_body() -> BoxedStrategy<Vec<u8>> {
    let shaped = object_of(
        vec![
            maybe("errno", code_value(), 10),
            maybe("error_code", code_value(), 10),
            maybe("msg", message_value(), 10),
            maybe("errmsg", message_value(), 10),
            maybe("error_msg", message_value(), 10),
            maybe("error_description", message_value(), 10),
            maybe("data", rows_data(), 10),
        ],
        1,
    );
    prop_oneof![
        6 => shaped.prop_map(String::into_bytes),
        1 => json_value().prop_map(String::into_bytes),
        1 => vec(any::<u8>(), 0..256),
        1 => deep_nesting().prop_map(String::into_bytes),
    ]
    .boxed()
}

#[test]
fn baidu_answers() {
    fuzz(
        "baidu::answer::read_answer",
        256,
        upstream_answer(baidu_body()),
        |probe, case| {
            let answer = case.upstream();
            let read = probe.call(case.size(), || {
                read_answer(&answer).map(|baidu| {
                    let classified = [ErrnoMeaning::Cashier, ErrnoMeaning::OpenApi]
                        .map(|meaning| classify_errno(&baidu, meaning));
                    (baidu, classified)
                })
            })?;
            match read {
                Ok((baidu, classified)) => {
                    probe.accept();
                    let status_kept =
                        matches!(case, Answer::Http { status, .. } if status == baidu.http_status);
                    prop_assert!(status_kept, "{case:?}");
                    // errno 0 on a non-2xx answer proves nothing: it is no answer.
                    prop_assert!(baidu.errno != 0 || (200..300).contains(&baidu.http_status));
                    let _ = is_token_error(&baidu);
                    for error in classified {
                        prop_assert!((400..600).contains(&error.status()), "{}", error.status());
                        prop_assert!(!error.code().is_empty() && !error.message().is_empty());
                    }
                }
                Err(error) => prop_assert_eq!(error.code(), "upstream_unavailable"),
            }
            Ok(())
        },
    );
}

/// A sent item's `ResourceID`, as the merchant gave it (or left it out).
const SENT_IDS: &[&str] = &["\"1001\"", "\"1002\"", "\" 1001\"", "1001", "null"];

fn orders() -> BoxedStrategy<AfterSaleOrders> {
    vec(select(SENT_IDS), 1..5)
        .prop_map(|ids| AfterSaleOrders {
            owner: OrderOwner::explicit(OrderUser::OpenId("open-1".into()), 2636635856),
            scene_type: 2,
            data: ids
                .into_iter()
                .map(|id| {
                    let id: Value = serde_json::from_str(id).expect("a JSON id");
                    json!({"CateID": 2, "ResourceID": id})
                })
                .collect(),
        })
        .boxed()
}

/// `errno` 0 with rows written for some of the items sent.
fn written_rows() -> BoxedStrategy<Vec<u8>> {
    let entry = (
        select(&["\"1001\"", "1001", "\" 1001 \"", "\"1002\"", "1002"]),
        select(&["1", "\"1\"", "2", "\" 3 \"", "0"]),
    )
        .prop_map(|(id, rows)| format!(r#"{{"resource_id":{id},"rows_affected":{rows}}}"#));
    vec(entry, 1..6)
        .prop_map(|entries| {
            format!(
                r#"{{"errno":0,"msg":"success","data":{}}}"#,
                array(&entries)
            )
            .into_bytes()
        })
        .boxed()
}

#[test]
fn order_center_answers() {
    let bodies = prop_oneof![3 => baidu_body(), 1 => written_rows()].boxed();
    fuzz(
        "baidu::ordercenter::classify_answer",
        256,
        (upstream_answer(bodies), orders()),
        |probe, (case, orders)| {
            let answer = case.upstream();
            let outcome = probe.call(case.size(), || classify_answer(&answer, &orders))?;
            match outcome {
                OrderCenterOutcome::Delivered(_) => {
                    probe.accept();
                    prop_assert!(case.is_success());
                }
                OrderCenterOutcome::TokenExpired(error) | OrderCenterOutcome::Failed(error) => {
                    prop_assert!(!error.code().is_empty() && !error.message().is_empty());
                    let _ = crate::error::ApiError::from(error).body();
                }
            }
            Ok(())
        },
    );
}

/// Access tokens placed in token answers: no error may show them.
const TOKENS: &[&str] = &[
    "24.6d0c8f1b5e7a4c39b2f1e0d9c8b7a6f5.2592000.1700000000.282335-1234567",
    "tok\"en\\with\u{1}odd\u{202e}characters-0123456789",
];

const OAUTH_ERRORS: &[&str] = &[
    "invalid_client",
    "unauthorized_client",
    "invalid_grant",
    "invalid_scope",
    "unsupported_grant_type",
    "invalid_request",
    "temporarily_unavailable",
    "server_error",
    "",
];

fn token_body() -> BoxedStrategy<Vec<u8>> {
    let expires_in = prop_oneof![
        3 => "[0-9]{1,25}",
        1 => "[0-9]{1,25}".prop_map(|n| quote(&format!(" {n} "))),
        1 => select(&["0", "9", "10", "2592000", "-1", "1.5", "1e3", "18446744073709551616", "null"])
            .prop_map(str::to_owned),
    ]
    .boxed();
    let shaped = object_of(
        vec![
            member("access_token", select(TOKENS).prop_map(quote).boxed(), 5),
            member("expires_in", expires_in, 5),
            maybe("error", select(OAUTH_ERRORS).prop_map(quote).boxed(), 10),
            maybe("error_description", message_value(), 10),
            maybe("errno", code_value(), 10),
            maybe("error_code", code_value(), 10),
            maybe("msg", message_value(), 10),
        ],
        1,
    );
    prop_oneof![
        6 => shaped.prop_map(String::into_bytes),
        1 => json_value().prop_map(String::into_bytes),
        1 => vec(any::<u8>(), 0..256),
        1 => deep_nesting().prop_map(String::into_bytes),
    ]
    .boxed()
}

#[test]
fn token_answers() {
    fuzz(
        "baidu::token::read_token_answer",
        256,
        (upstream_answer(token_body()), any::<u64>()),
        |probe, (case, now_ms)| {
            let answer = case.upstream();
            match probe.call(case.size(), || read_token_answer(&answer, now_ms))? {
                Ok(token) => {
                    probe.accept();
                    prop_assert!(case.is_success());
                    prop_assert!(!token.secret().is_empty());
                    prop_assert!(token.refresh_at_ms >= now_ms);
                    let shown = format!("{token:?}");
                    prop_assert!(TOKENS.iter().all(|t| !shown.contains(t)), "{shown}");
                }
                Err(error) => {
                    let shown = format!(
                        "{} {}",
                        error.message(),
                        crate::error::ApiError::from(error.clone()).body()
                    );
                    prop_assert!(TOKENS.iter().all(|t| !shown.contains(t)), "{shown}");
                }
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------
// Queue messages and the shared token record
// ---------------------------------------------------------------------------------------

const STATUS_TEXTS: &[&str] = &[
    "\"pending\"",
    "\"delivered\"",
    "\"rejected\"",
    "\"queued\"",
    "\"failed\"",
    "\"Pending\"",
    "\"\"",
    "0",
];

fn u32_value() -> BoxedStrategy<String> {
    prop_oneof![
        4 => any::<u32>().prop_map(|n| n.to_string()),
        1 => select(&["4294967295", "4294967296", "-1", "1.0", "\"1\""]).prop_map(str::to_owned),
    ]
    .boxed()
}

fn optional_text() -> BoxedStrategy<String> {
    prop_oneof![json_string(), Just("null".to_owned())].boxed()
}

fn queue_text() -> BoxedStrategy<String> {
    let settle = object_of(
        vec![
            member(
                "status",
                select(STATUS_TEXTS).prop_map(str::to_owned).boxed(),
                5,
            ),
            member("attempts", u32_value(), 5),
            maybe("lastError", optional_text(), 10),
            maybe(
                "answerStatus",
                prop_oneof![uint_value(5), Just("null".to_owned())].boxed(),
                10,
            ),
            maybe("answerBody", optional_text(), 10),
            maybe("baiduAnswer", optional_text(), 10),
            maybe("nextAttemptAt", uint_value(5), 10),
            maybe("sweepAt", uint_value(5), 10),
        ],
        1,
    );
    let shaped = object_of(
        vec![
            member("id", string_value(5), 5),
            maybe("lease", u32_value(), 10),
            maybe("seen_attempts", u32_value(), 10),
            maybe("attempt", u32_value(), 10),
            maybe("settle", settle, 10),
        ],
        1,
    );
    prop_oneof![6 => shaped, 1 => json_value(), 1 => deep_nesting()].boxed()
}

/// The consumer reads a message the way the platform hands it over: as a JSON value.
fn read_queue_message(text: &str) -> Option<QueueMessage> {
    let value: Value = serde_json::from_str(text).ok()?;
    serde_json::from_value(value).ok()
}

#[test]
fn queue_messages() {
    fuzz(
        "delivery::ledger::QueueMessage",
        256,
        queue_text(),
        |probe, text| {
            if let Some(message) = probe.call(text.len(), || read_queue_message(&text))? {
                probe.accept();
                let value = serde_json::to_value(&message).map_err(fail)?;
                let again: QueueMessage = serde_json::from_value(value).map_err(fail)?;
                prop_assert_eq!(again, message);
            }
            Ok(())
        },
    );
}

const DELIVERY_STATUSES: &[DeliveryStatus] = &[
    DeliveryStatus::Pending,
    DeliveryStatus::Delivered,
    DeliveryStatus::Rejected,
    DeliveryStatus::Queued,
    DeliveryStatus::Failed,
];

fn queue_message() -> BoxedStrategy<QueueMessage> {
    let settlement = (
        (
            select(DELIVERY_STATUSES),
            any::<u32>(),
            option::of(any::<String>()),
        ),
        (
            option::of(any::<u16>()),
            option::of(any::<String>()),
            option::of(any::<String>()),
        ),
        (
            option::of(any::<u64>()),
            option::of(any::<u64>()),
            any::<bool>(),
            option::of(any::<String>()),
        ),
    )
        .prop_map(
            |(
                (status, attempts, last_error),
                (answer_status, answer_body, baidu_answer),
                (next_attempt_at, sweep_at, baidu_in_answer, step_answers),
            )| Settlement {
                status,
                attempts,
                last_error,
                answer_status,
                answer_body,
                baidu_answer,
                next_attempt_at,
                sweep_at,
                baidu_in_answer,
                step_answers,
            },
        );
    (any::<String>(), any::<u32>(), option::of(settlement))
        .prop_map(|(id, lease, settle)| QueueMessage { id, lease, settle })
        .boxed()
}

#[test]
fn queue_message_round_trip() {
    fuzz(
        "delivery::ledger::QueueMessage round trip",
        256,
        (queue_message(), any::<u32>()),
        |probe, (message, attempt)| {
            let text = serde_json::to_string(&message).map_err(fail)?;
            let read = probe.call(text.len(), || read_queue_message(&text))?;
            prop_assert_eq!(read.as_ref(), Some(&message));
            probe.accept();
            // The first version's messages name the lease `seen_attempts`.
            let legacy =
                json!({"id": message.id, "attempt": attempt, "seen_attempts": message.lease});
            let read = read_queue_message(&legacy.to_string()).ok_or_else(|| fail("legacy"))?;
            prop_assert_eq!(
                (read.id, read.lease, read.settle),
                (message.id, message.lease, None)
            );
            Ok(())
        },
    );
}

fn token_record_text() -> BoxedStrategy<String> {
    let token = prop_oneof![
        3 => "[A-Za-z0-9.\\-]{1,80}".prop_map(|text| quote(&text)),
        1 => any::<String>().prop_map(|text| quote(&text)),
    ]
    .boxed();
    let shaped = object_of(
        vec![
            member("accessToken", token, 5),
            member("refreshAtMs", uint_value(5), 5),
        ],
        2,
    );
    prop_oneof![
        6 => shaped,
        1 => json_value(),
        1 => any::<String>(),
        1 => deep_nesting(),
    ]
    .boxed()
}

#[test]
fn token_records() {
    fuzz(
        "baidu::token::AccessToken::from_cache_record",
        256,
        token_record_text(),
        |probe, record| {
            if let Some(token) =
                probe.call(record.len(), || AccessToken::from_cache_record(&record))?
            {
                probe.accept();
                prop_assert!(!token.secret().is_empty());
                let again = AccessToken::from_cache_record(&token.to_cache_record());
                prop_assert_eq!(again, Some(token));
            }
            Ok(())
        },
    );
}

#[test]
fn token_record_round_trip() {
    let secret = prop_oneof![
        "[A-Za-z0-9.]{12,80}",
        any::<String>().prop_filter("a token is never empty", |s| !s.is_empty()),
    ];
    fuzz(
        "baidu::token::AccessToken cache record round trip",
        256,
        (secret, any::<u64>()),
        |probe, (secret, refresh_at_ms)| {
            let token = AccessToken::new(secret.clone(), refresh_at_ms);
            let record = token.to_cache_record();
            let read = probe.call(record.len(), || AccessToken::from_cache_record(&record))?;
            prop_assert_eq!(read, Some(token.clone()));
            probe.accept();
            // Logs show the last four characters at most.
            let shown = format!("{token:?}");
            let distinctive = secret.len() >= 12
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.');
            prop_assert!(!distinctive || !shown.contains(&secret), "{shown}");
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------
// The request line and headers read before the body
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct RequestHead {
    method: String,
    path: String,
    query: String,
    content_type: Option<String>,
    content_length: Option<String>,
    authorization: Option<String>,
    admin_token: String,
}

fn request_head() -> BoxedStrategy<RequestHead> {
    let method = prop_oneof![
        4 => select(&["GET", "POST", "HEAD", "get", "Post", "PUT", "DELETE", ""]).prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    let path = prop_oneof![
        2 => select(inbound::ROUTES.map(|(_, _, path)| path).to_vec()).prop_map(str::to_owned),
        2 => ("[%0-9A-Fa-f!-~]{0,40}", select(&["", "/retry", "/retry/", "/"]))
            .prop_map(|(id, suffix)| format!("/v1/deliveries/{id}{suffix}")),
        1 => any::<String>().prop_map(|id| format!("/v1/deliveries/{id}")),
        1 => any::<String>(),
    ];
    let query = prop_oneof![
        select(&[
            "",
            "?signing=1",
            "?x=1&signing=1",
            "?signing=10",
            "?signing",
            "?&&"
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ];
    let content_type = option::weighted(
        0.9,
        prop_oneof![
            select(&[
                "application/json",
                "Application/JSON; charset=utf-8",
                " application/json ;",
                "text/plain",
                "application/jsonx",
                ";"
            ])
            .prop_map(str::to_owned),
            any::<String>(),
        ],
    );
    let content_length = option::weighted(0.9, prop_oneof!["[0-9 +-]{0,25}", any::<String>()]);
    let admin_token = "[A-Za-z0-9_-]{16,64}";
    (
        method,
        path,
        query,
        content_type,
        content_length,
        admin_token,
        0u8..4,
        any::<String>(),
    )
        .prop_map(
            |(method, path, query, content_type, content_length, admin_token, auth, other)| {
                let authorization = match auth {
                    0 => None,
                    1 => Some(format!("Bearer {admin_token}")),
                    2 => Some(format!("  Bearer {admin_token}x ")),
                    _ => Some(other),
                };
                RequestHead {
                    method,
                    path,
                    query,
                    content_type,
                    content_length,
                    authorization,
                    admin_token,
                }
            },
        )
        .boxed()
}

#[test]
fn request_heads() {
    fuzz(
        "inbound request line and headers",
        256,
        request_head(),
        |probe, head| {
            let url = format!("https://relay.example{}{}", head.path, head.query);
            let size = url.len()
                + head.method.len()
                + [
                    &head.content_type,
                    &head.content_length,
                    &head.authorization,
                ]
                .iter()
                .map(|h| h.as_ref().map_or(0, String::len))
                .sum::<usize>();
            let (route, id, _, content_type, _, bearer) = probe.call(size, || {
                (
                    Route::resolve(&head.method, &head.path),
                    inbound::delivery_id(&head.path),
                    inbound::wants_signing_self_test(&url),
                    inbound::check_content_type(head.content_type.as_deref()),
                    inbound::check_declared_length(head.content_length.as_deref()),
                    inbound::check_bearer(head.authorization.as_deref(), &head.admin_token),
                )
            })?;
            if route.is_ok() {
                probe.accept();
            }
            if let Some(id) = id {
                prop_assert!(webhook::is_well_formed_id(&id), "{id:?}");
            }
            if content_type.is_ok() {
                let essence = head.content_type.as_deref().unwrap_or_default();
                prop_assert!(essence.to_ascii_lowercase().contains("application/json"));
            }
            match bearer {
                Ok(()) => prop_assert!(head
                    .authorization
                    .as_deref()
                    .unwrap_or_default()
                    .contains(&head.admin_token)),
                Err(error) => {
                    let exact = format!("Bearer {}", head.admin_token);
                    prop_assert!(head.authorization.as_deref() != Some(exact.as_str()));
                    prop_assert!(!error.message().contains(&head.admin_token));
                }
            }
            Ok(())
        },
    );
}
