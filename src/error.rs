//! The relay's one error type and its single mapping to an HTTP status and JSON body.
//!
//! Every non-2xx answer is `{"error": {"code": "<stable_snake_case>", "message": "..."}}`,
//! plus fields such as `field` or `baiduErrno` where they help. Codes are part of the public
//! contract (docs/contract.md): never rename one.

use serde_json::{json, Map, Value};

use crate::http::TransportError;
use crate::webhook::WebhookError;

/// How Baidu rejected a call, as far as the merchant's system must tell cases apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaiduRejection {
    /// errno 10000: Baidu could not verify `rsaSign`; our key or appKey is wrong.
    SignatureRejected,
    /// errno 10001: a parameter Baidu did not accept.
    BadParameter,
    /// errno 10002: order or user not found (or appKey unknown).
    OrderNotFound,
    /// errno 10003 on the cashier: the enterprise balance is below the refund amount.
    InsufficientBalance,
    /// errno 10003 whose message says "internal error, retry later", and every other code
    /// Baidu marks "retry later" (see `baidu::answer::classify_errno`): the one transient
    /// rejection.
    InternalError,
    /// Any other non-zero errno or gateway error code.
    Other,
}

/// Why an upstream answer could not be used at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    Transport(TransportError),
    /// A non-2xx HTTP status.
    HttpStatus,
    /// A 2xx answer that is not the JSON Baidu documents.
    InvalidAnswer,
}

impl Unavailable {
    fn reason(self) -> &'static str {
        match self {
            Unavailable::Transport(error) => error.as_str(),
            Unavailable::HttpStatus => "http_status",
            Unavailable::InvalidAnswer => "invalid_answer",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    NotFound,
    MethodNotAllowed {
        allow: &'static str,
    },
    PayloadTooLarge {
        limit: usize,
    },
    UnsupportedMediaType,
    Webhook(WebhookError),
    InvalidJson {
        detail: String,
    },
    MissingField {
        field: String,
    },
    InvalidField {
        field: String,
        reason: String,
    },
    Misconfigured {
        variables: Vec<&'static str>,
    },
    Internal,
    Baidu {
        rejection: BaiduRejection,
        errno: i64,
        msg: String,
    },
    UpstreamUnavailable {
        cause: Unavailable,
        status: Option<u16>,
    },
    /// The token endpoint refused the App Key/Secret (`invalid_client` and friends).
    TokenRejected {
        error: String,
        description: String,
    },
    /// `errno` 0, but some items were not written (`rows_affected` "0").
    ItemsRejected {
        resource_ids: Vec<String>,
        baidu: Value,
    },
    /// A webhook with this id is still being delivered.
    InProgress,
    /// This webhook id was already used for a different body.
    IdReused,
    /// Missing or wrong `Authorization: Bearer <ADMIN_TOKEN>`.
    Unauthorized,
    /// No ledger row for this webhook id.
    DeliveryNotFound,
    /// Only `failed` deliveries can be re-queued.
    NotRetryable {
        status: &'static str,
    },
    /// The ledger or queue could not be written: nothing was relayed; send again.
    LedgerUnavailable,
    /// Every attempt failed transiently; the delivery was dead-lettered.
    DeliveryFailed {
        attempts: u32,
        last_error: String,
    },
}

/// The 404 message. A fixed list rather than a call into the router (`inbound` depends on
/// this module); a test checks it names every route `inbound` serves.
const NOT_FOUND_MESSAGE: &str = "No such route. The relay serves GET /healthz, \
POST /v1/cancel-verification, POST /v1/after-sale/update, POST /v1/after-sale/append, \
POST /v1/after-sale/status, GET /v1/deliveries/{id} and POST /v1/deliveries/{id}/retry \
(see docs/contract.md).";

impl ApiError {
    /// No HTTP answer arrived.
    pub fn transport(error: TransportError) -> Self {
        ApiError::UpstreamUnavailable {
            cause: Unavailable::Transport(error),
            status: None,
        }
    }

    /// An HTTP answer with a status the API never uses for a real answer.
    pub fn http_status(status: u16) -> Self {
        ApiError::UpstreamUnavailable {
            cause: Unavailable::HttpStatus,
            status: Some(status),
        }
    }

    /// A 2xx answer that is not the JSON the API documents.
    pub fn invalid_answer(status: u16) -> Self {
        ApiError::UpstreamUnavailable {
            cause: Unavailable::InvalidAnswer,
            status: Some(status),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidJson { .. } => 400,
            ApiError::Webhook(_) => 401,
            ApiError::NotFound => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::MissingField { .. } | ApiError::InvalidField { .. } => 422,
            ApiError::Misconfigured { .. } | ApiError::Internal => 500,
            ApiError::UpstreamUnavailable { .. } | ApiError::TokenRejected { .. } => 502,
            ApiError::ItemsRejected { .. } | ApiError::IdReused => 422,
            ApiError::InProgress | ApiError::NotRetryable { .. } => 409,
            ApiError::Unauthorized => 401,
            ApiError::DeliveryNotFound => 404,
            ApiError::LedgerUnavailable => 503,
            ApiError::DeliveryFailed { .. } => 502,
            ApiError::Baidu { rejection, .. } => match rejection {
                BaiduRejection::OrderNotFound | BaiduRejection::BadParameter => 422,
                BaiduRejection::InsufficientBalance => 409,
                BaiduRejection::InternalError => 503,
                BaiduRejection::SignatureRejected | BaiduRejection::Other => 502,
            },
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Webhook(error) => error.code(),
            ApiError::InvalidJson { .. } => "invalid_json",
            ApiError::MissingField { .. } => "missing_field",
            ApiError::InvalidField { .. } => "invalid_field",
            ApiError::Misconfigured { .. } => "misconfigured",
            ApiError::Internal => "internal_error",
            ApiError::UpstreamUnavailable { .. } => "upstream_unavailable",
            ApiError::TokenRejected { .. } => "baidu_token_rejected",
            ApiError::ItemsRejected { .. } => "baidu_items_rejected",
            ApiError::InProgress => "in_progress",
            ApiError::IdReused => "id_reused",
            ApiError::Unauthorized => "unauthorized",
            ApiError::DeliveryNotFound => "delivery_not_found",
            ApiError::NotRetryable { .. } => "not_retryable",
            ApiError::LedgerUnavailable => "ledger_unavailable",
            ApiError::DeliveryFailed { .. } => "delivery_failed",
            ApiError::Baidu { rejection, .. } => match rejection {
                BaiduRejection::SignatureRejected => "baidu_signature_rejected",
                BaiduRejection::BadParameter => "baidu_bad_parameter",
                BaiduRejection::OrderNotFound => "baidu_order_not_found",
                BaiduRejection::InsufficientBalance => "baidu_insufficient_balance",
                BaiduRejection::InternalError => "baidu_internal_error",
                BaiduRejection::Other => "baidu_error",
            },
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::NotFound => NOT_FOUND_MESSAGE.into(),
            ApiError::MethodNotAllowed { allow } => format!("This route only accepts {allow}."),
            ApiError::PayloadTooLarge { limit } => format!("The body is larger than {limit} bytes."),
            ApiError::UnsupportedMediaType => {
                "Send the body as JSON with Content-Type: application/json.".into()
            }
            ApiError::Webhook(error) => error.to_string(),
            ApiError::InvalidJson { detail } => format!("The body is not a JSON object: {detail}."),
            ApiError::MissingField { field } => format!("The field `{field}` is required."),
            ApiError::InvalidField { field, reason } => format!("The field `{field}` {reason}."),
            ApiError::Misconfigured { variables } => format!(
                "The relay is misconfigured: check {} in the Worker's environment (GET /healthz says what is wrong).",
                variables.join(", ")
            ),
            ApiError::Internal => "The relay failed unexpectedly; the request was not relayed. Retry later.".into(),
            ApiError::UpstreamUnavailable { cause, status } => match (cause, status) {
                (Unavailable::Transport(TransportError::Timeout), _) => {
                    "Baidu did not answer in time; the outcome is unknown. Retry with the same webhook id.".into()
                }
                (Unavailable::Transport(TransportError::Unreachable), _) => {
                    "Baidu could not be reached. Retry later.".into()
                }
                (Unavailable::HttpStatus, Some(status)) => {
                    format!("Baidu answered HTTP {status}. Retry later.")
                }
                _ => "Baidu's answer was not the JSON it documents. Retry later.".into(),
            },
            ApiError::TokenRejected { error, description } => format!(
                "Baidu refused the access-token request ({error}: {description}). BAIDU_APP_KEY and BAIDU_APP_SECRET must be the smart program's App Key (32 characters) and App Secret from Baidu's developer console; the payment appKey (BAIDU_PAY_APP_KEY, like MMMzaA) is a different key."
            ),
            ApiError::ItemsRejected { resource_ids, .. } => format!(
                "Baidu accepted the call but wrote no rows for ResourceID {}. The order and every SubOrderID must already exist at Baidu (import them with /v1/after-sale/append first) and BizAPPID must be this smart program's App Key.",
                resource_ids.join(", ")
            ),
            ApiError::InProgress => {
                "A webhook with this webhook-id is still being delivered; its outcome will follow (GET /v1/deliveries/{id}).".into()
            }
            ApiError::IdReused => {
                "This webhook-id was already used for a different body; give every distinct webhook its own id.".into()
            }
            ApiError::Unauthorized => "Send Authorization: Bearer <ADMIN_TOKEN>.".into(),
            ApiError::DeliveryNotFound => "No delivery with this webhook-id.".into(),
            ApiError::NotRetryable { status } => format!(
                "Only failed deliveries can be retried; this one is {status}."
            ),
            ApiError::LedgerUnavailable => {
                "The relay could not record the delivery; nothing was sent to Baidu. Send the same webhook again.".into()
            }
            ApiError::DeliveryFailed { attempts, last_error } => format!(
                "The relay gave up after {attempts} attempts (last error: {last_error}). Fix the cause, then POST /v1/deliveries/{{id}}/retry."
            ),
            ApiError::Baidu { rejection, errno, msg } => match rejection {
                BaiduRejection::SignatureRejected => format!(
                    "Baidu rejected the signature (errno {errno}: {msg}). The relay's BAIDU_RSA_PRIVATE_KEY does not match the public key in Baidu's console, or BAIDU_PAY_APP_KEY is wrong."
                ),
                BaiduRejection::BadParameter => format!(
                    "Baidu rejected a parameter (errno {errno}: {msg}). Check the values sent."
                ),
                BaiduRejection::OrderNotFound => format!(
                    "Baidu does not know this order for this user (errno {errno}: {msg}). Check orderId and userId against Baidu's payment callback."
                ),
                BaiduRejection::InsufficientBalance => format!(
                    "Baidu refused: the enterprise balance is below the refund amount (errno {errno}: {msg}). Top up the balance, then send again."
                ),
                BaiduRejection::InternalError => format!(
                    "Baidu reported an internal error (errno {errno}: {msg}). Retry later."
                ),
                BaiduRejection::Other => format!("Baidu refused the call (errno {errno}: {msg})."),
            },
        }
    }

    /// The JSON body sent to the caller.
    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code()));
        error.insert("message".into(), json!(self.message()));
        match self {
            ApiError::MissingField { field } | ApiError::InvalidField { field, .. } => {
                error.insert("field".into(), json!(field));
            }
            ApiError::Webhook(webhook) => {
                if let Some(header) = webhook.header() {
                    error.insert("field".into(), json!(header));
                }
            }
            ApiError::Misconfigured { variables } => {
                error.insert("variables".into(), json!(variables));
            }
            ApiError::Baidu { errno, msg, .. } => {
                error.insert("baiduErrno".into(), json!(errno));
                error.insert("baiduMsg".into(), json!(msg));
            }
            ApiError::DeliveryFailed {
                attempts,
                last_error,
            } => {
                error.insert("attempts".into(), json!(attempts));
                error.insert("lastError".into(), json!(last_error));
            }
            ApiError::TokenRejected {
                error: oauth_error, ..
            } => {
                error.insert("baiduError".into(), json!(oauth_error));
            }
            ApiError::ItemsRejected {
                resource_ids,
                baidu,
            } => {
                error.insert("failedResourceIds".into(), json!(resource_ids));
                error.insert("baidu".into(), baidu.clone());
            }
            ApiError::UpstreamUnavailable { cause, status } => {
                error.insert("reason".into(), json!(cause.reason()));
                if let Some(status) = status {
                    error.insert("upstreamStatus".into(), json!(status));
                }
            }
            _ => {}
        }
        json!({ "error": error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One example of every `ApiError` variant, and of every `BaiduRejection` and
    /// `WebhookError`, since those choose the code and status.
    fn every_error() -> Vec<ApiError> {
        let mut errors = vec![
            ApiError::NotFound,
            ApiError::MethodNotAllowed { allow: "POST" },
            ApiError::PayloadTooLarge { limit: 65536 },
            ApiError::UnsupportedMediaType,
            ApiError::InvalidJson {
                detail: "EOF".into(),
            },
            ApiError::MissingField {
                field: "orderId".into(),
            },
            ApiError::InvalidField {
                field: "orderId".into(),
                reason: "must be".into(),
            },
            ApiError::Misconfigured {
                variables: vec!["WEBHOOK_SECRET"],
            },
            ApiError::Internal,
            ApiError::UpstreamUnavailable {
                cause: Unavailable::HttpStatus,
                status: Some(503),
            },
            ApiError::TokenRejected {
                error: "invalid_client".into(),
                description: "unknown client id".into(),
            },
            ApiError::ItemsRejected {
                resource_ids: vec!["1001".into()],
                baidu: json!({"errno": 0, "data": []}),
            },
            ApiError::InProgress,
            ApiError::IdReused,
            ApiError::Unauthorized,
            ApiError::DeliveryNotFound,
            ApiError::NotRetryable {
                status: "delivered",
            },
            ApiError::LedgerUnavailable,
            ApiError::DeliveryFailed {
                attempts: 8,
                last_error: "upstream_unavailable".into(),
            },
        ];
        errors.extend(
            [
                WebhookError::MissingHeader("webhook-id"),
                WebhookError::InvalidHeader("webhook-timestamp"),
                WebhookError::TimestampExpired,
                WebhookError::TimestampInFuture,
                WebhookError::InvalidSignature,
            ]
            .map(ApiError::Webhook),
        );
        errors.extend(
            [
                BaiduRejection::SignatureRejected,
                BaiduRejection::BadParameter,
                BaiduRejection::OrderNotFound,
                BaiduRejection::InsufficientBalance,
                BaiduRejection::InternalError,
                BaiduRejection::Other,
            ]
            .map(|rejection| ApiError::Baidu {
                rejection,
                errno: 10003,
                msg: "x".into(),
            }),
        );
        errors
    }

    /// Which case of the error table an error is. Exhaustive on purpose, with no wildcard:
    /// a new variant (of `ApiError`, `BaiduRejection` or `WebhookError`) does not compile
    /// until it is named here; then add an example to [`every_error`] and bump `CASES`, and
    /// the contract test below checks it against docs/contract.md.
    fn case(error: &ApiError) -> usize {
        match error {
            ApiError::NotFound => 0,
            ApiError::MethodNotAllowed { .. } => 1,
            ApiError::PayloadTooLarge { .. } => 2,
            ApiError::UnsupportedMediaType => 3,
            ApiError::Webhook(webhook) => match webhook {
                WebhookError::MissingHeader(_) => 4,
                WebhookError::InvalidHeader(_) => 5,
                WebhookError::TimestampExpired => 6,
                WebhookError::TimestampInFuture => 7,
                WebhookError::InvalidSignature => 8,
            },
            ApiError::InvalidJson { .. } => 9,
            ApiError::MissingField { .. } => 10,
            ApiError::InvalidField { .. } => 11,
            ApiError::Misconfigured { .. } => 12,
            ApiError::Internal => 13,
            ApiError::Baidu { rejection, .. } => match rejection {
                BaiduRejection::SignatureRejected => 14,
                BaiduRejection::BadParameter => 15,
                BaiduRejection::OrderNotFound => 16,
                BaiduRejection::InsufficientBalance => 17,
                BaiduRejection::InternalError => 18,
                BaiduRejection::Other => 19,
            },
            ApiError::UpstreamUnavailable { .. } => 20,
            ApiError::TokenRejected { .. } => 21,
            ApiError::ItemsRejected { .. } => 22,
            ApiError::InProgress => 23,
            ApiError::IdReused => 24,
            ApiError::Unauthorized => 25,
            ApiError::DeliveryNotFound => 26,
            ApiError::NotRetryable { .. } => 27,
            ApiError::LedgerUnavailable => 28,
            ApiError::DeliveryFailed { .. } => 29,
        }
    }

    /// The number of cases `case` tells apart.
    const CASES: usize = 30;

    /// A row of the error table in docs/contract.md.
    #[derive(Debug)]
    struct DocRow {
        status: u16,
        code: String,
        /// The field names in backquotes in the "extra fields" column (outside parentheses).
        extra: Vec<String>,
    }

    /// Parses the table under `## Errors` in docs/contract.md.
    fn documented_errors() -> Vec<DocRow> {
        let contract = include_str!("../docs/contract.md");
        let section = contract
            .split("\n## Errors")
            .nth(1)
            .expect("docs/contract.md has an `## Errors` section");
        let section = section.split("\n## ").next().unwrap_or(section);
        let rows: Vec<DocRow> = section
            .lines()
            .filter(|line| line.trim_start().starts_with('|'))
            .filter_map(|line| {
                let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
                let status = cells.first()?.trim().parse::<u16>().ok()?;
                assert_eq!(cells.len(), 4, "a row of four columns: {line}");
                let mut extra = Vec::new();
                let mut depth = 0;
                for (i, part) in cells[3].split('`').enumerate() {
                    if i % 2 == 1 && depth == 0 {
                        extra.push(part.to_owned());
                    } else if i % 2 == 0 {
                        for c in part.chars() {
                            match c {
                                '(' => depth += 1,
                                ')' => depth -= 1,
                                _ => {}
                            }
                        }
                    }
                }
                Some(DocRow {
                    status,
                    code: cells[1].trim().to_owned(),
                    extra,
                })
            })
            .collect();
        assert!(rows.len() >= 20, "the error table was not found: {rows:?}");
        rows
    }

    #[test]
    fn every_error_matches_the_error_table_of_the_contract() {
        let errors = every_error();
        let mut covered = [false; CASES];
        for error in &errors {
            let case = case(error);
            assert!(case < CASES, "bump CASES for {error:?}");
            assert!(!covered[case], "two examples of one case: {error:?}");
            covered[case] = true;
        }
        let missing: Vec<usize> = (0..CASES).filter(|case| !covered[*case]).collect();
        assert!(missing.is_empty(), "no example for cases {missing:?}");

        let rows = documented_errors();
        for row in &rows {
            assert_eq!(
                rows.iter().filter(|other| other.code == row.code).count(),
                1,
                "{} is documented twice",
                row.code
            );
        }
        for error in &errors {
            let code = error.code();
            let row = rows
                .iter()
                .find(|row| row.code == code)
                .unwrap_or_else(|| panic!("{code} ({error:?}) is not in docs/contract.md"));
            assert_eq!(error.status(), row.status, "status of {code}");

            let body = error.body();
            let fields = body["error"].as_object().unwrap();
            assert_eq!(fields["code"], code);
            assert!(code.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            assert!(!fields["message"].as_str().unwrap().is_empty(), "{code}");
            let mut documented: Vec<&str> = vec!["code", "message"];
            documented.extend(row.extra.iter().map(String::as_str));
            for field in &documented {
                assert!(
                    fields.contains_key(*field),
                    "{code} lacks `{field}`: {body}"
                );
            }
            for field in fields.keys() {
                assert!(
                    documented.contains(&field.as_str()),
                    "{code} sends `{field}`, which docs/contract.md does not list"
                );
            }
        }
        for row in &rows {
            assert!(
                errors.iter().any(|error| error.code() == row.code),
                "docs/contract.md lists {}, which no error produces",
                row.code
            );
        }
    }

    #[test]
    fn the_404_message_names_every_route() {
        let message = ApiError::NotFound.message();
        for (_, method, path) in crate::inbound::ROUTES {
            assert!(
                message.contains(&format!("{method} {path}")),
                "{method} {path}: {message}"
            );
        }
        assert!(message.contains("GET /v1/deliveries/{id}"), "{message}");
        assert!(
            message.contains("POST /v1/deliveries/{id}/retry"),
            "{message}"
        );
    }

    #[test]
    fn extra_fields_name_what_helps() {
        let body = ApiError::InvalidField {
            field: "userId".into(),
            reason: "must be".into(),
        }
        .body();
        assert_eq!(body["error"]["field"], "userId");
        let body = ApiError::Baidu {
            rejection: BaiduRejection::OrderNotFound,
            errno: 10002,
            msg: "order not exist".into(),
        }
        .body();
        assert_eq!(body["error"]["baiduErrno"], 10002);
        assert_eq!(body["error"]["baiduMsg"], "order not exist");
        let body = ApiError::UpstreamUnavailable {
            cause: Unavailable::Transport(TransportError::Timeout),
            status: None,
        }
        .body();
        assert_eq!(body["error"]["reason"], "timeout");
        assert!(body["error"].get("upstreamStatus").is_none());
        let body = ApiError::Misconfigured {
            variables: vec!["A", "B"],
        }
        .body();
        assert_eq!(body["error"]["variables"], json!(["A", "B"]));
    }
}
