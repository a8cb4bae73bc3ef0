//! The relay's one error type, wrapping the webhook check's and the Baidu layer's, and its
//! single mapping to an HTTP status (by code, from [`crate::contract::ERROR_TABLE`]) and JSON
//! body.
//!
//! Every non-2xx answer is `{"error": {"code": "<stable_snake_case>", "message": "..."}}`,
//! plus fields such as `field` or `baiduErrno` where they help. Codes are part of the public
//! contract (docs/contract.md): never rename one.

use serde_json::{json, Map, Value};

use crate::baidu::error::BaiduError;
use crate::contract::status_of;
use crate::webhook::WebhookError;

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
    Baidu(BaiduError),
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
    /// A query parameter of an operator's route is unknown, repeated or malformed.
    InvalidQuery {
        parameter: String,
        reason: String,
    },
    /// Every attempt failed transiently; the delivery was dead-lettered.
    DeliveryFailed {
        attempts: u32,
        last_error: String,
    },
    /// A Baidu callback that is not a well-formed signed form.
    InvalidCallback {
        reason: String,
    },
    /// A Baidu callback whose `rsaSign` does not verify with the platform public key.
    CallbackSignatureInvalid,
    /// An order named by `tpOrderId` alone, with no payment callback recorded for it.
    OrderUnknown {
        tp_order_id: String,
    },
    /// The merchant's events endpoint did not take an event (no 2xx answer).
    EventsEndpointFailed {
        status: Option<u16>,
    },
    /// A call that must not be repeated blindly (`app/add/main/info`, or a cashier call Baidu's
    /// status query could not settle) may or may not have been applied: the delivery ends
    /// `failed` rather than retry it.
    OutcomeUnknown {
        /// Baidu's operation, as `add/main/info`.
        call: &'static str,
        /// The error that left the outcome unknown (`upstream_unavailable`), or
        /// `interrupted` when an earlier attempt stopped after sending.
        cause: String,
    },
    /// `EXT.MainOrder.Payment.Amount` differs from Baidu's formula over the order.
    AmountMismatch(Box<AmountMismatch>),
}

/// What `Payment.Amount` should be and why: Baidu's formula, term by term (fen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountMismatch {
    /// The JSON path of the amount (`data[0].EXT.MainOrder.Payment.Amount`).
    pub field: String,
    pub given: i128,
    pub expected: i128,
    /// Σ `Products[].PayPrice` × `Quantity`.
    pub products: i128,
    /// Σ `PaymentInfo[].Value` × `Quantity` (added).
    pub payment_info: i128,
    /// Σ `PreferentialInfo[].Value` × `Quantity` (subtracted).
    pub preferential_info: i128,
    /// The term that explains the difference, when one does.
    pub suspect: Option<String>,
}

impl AmountMismatch {
    /// One sentence: the formula with its values, and the term that is off.
    pub fn describe(&self) -> String {
        let suspect = match &self.suspect {
            Some(term) => format!(" {term}"),
            None => " No single term explains the difference; check each product's PayPrice and Quantity.".into(),
        };
        format!(
            "`{}` is {} but Baidu requires Σ Products PayPrice×Quantity ({}) + Σ PaymentInfo Value×Quantity ({}) − Σ PreferentialInfo Value×Quantity ({}) = {} (fen).{suspect}",
            self.field, self.given, self.products, self.payment_info, self.preferential_info, self.expected
        )
    }
}

/// The 404 message. A fixed list rather than a call into the router (`inbound` depends on
/// this module); a test checks it names every route `inbound` serves.
const NOT_FOUND_MESSAGE: &str = "No such route. The relay serves GET /healthz, \
POST /v1/cancel-verification, POST /v1/after-sale/update, POST /v1/after-sale/append, \
POST /v1/after-sale/status, POST /v1/orders/add, POST /v1/orders/update, \
POST /v1/orders/status, POST /v1/orders/logistics, POST /v1/orders/sync, POST /v1/refund, POST /v1/payments/sign, \
POST /v1/baidu/payment, POST /v1/baidu/refund-audit, POST /v1/baidu/refund-result, \
GET /v1/orders/{tpOrderId}, GET /v1/orders/{tpOrderId}/refunds, \
GET /v1/deliveries/{id} and POST /v1/deliveries/{id}/retry; \
for operators GET /v1/deliveries, GET /v1/deliveries/summary, POST /v1/deliveries/retry and the \
console page at GET /admin (see docs/contract.md).";

impl From<BaiduError> for ApiError {
    fn from(error: BaiduError) -> Self {
        ApiError::Baidu(error)
    }
}

impl ApiError {
    pub fn status(&self) -> u16 {
        status_of(self.code())
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
            ApiError::InProgress => "in_progress",
            ApiError::IdReused => "id_reused",
            ApiError::Unauthorized => "unauthorized",
            ApiError::DeliveryNotFound => "delivery_not_found",
            ApiError::NotRetryable { .. } => "not_retryable",
            ApiError::LedgerUnavailable => "ledger_unavailable",
            ApiError::InvalidQuery { .. } => "invalid_query",
            ApiError::DeliveryFailed { .. } => "delivery_failed",
            ApiError::InvalidCallback { .. } => "invalid_callback",
            ApiError::CallbackSignatureInvalid => "callback_signature_invalid",
            ApiError::OrderUnknown { .. } => "order_unknown",
            ApiError::EventsEndpointFailed { .. } => "events_endpoint_failed",
            ApiError::OutcomeUnknown { .. } => "outcome_unknown",
            ApiError::AmountMismatch(_) => "amount_mismatch",
            ApiError::Baidu(error) => error.code(),
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
            ApiError::InvalidQuery { parameter, reason } => {
                format!("The query parameter `{parameter}` {reason}.")
            }
            ApiError::DeliveryFailed { attempts, last_error } => format!(
                "The relay gave up after {attempts} attempts (last error: {last_error}). Fix the cause, then POST /v1/deliveries/{{id}}/retry."
            ),
            ApiError::InvalidCallback { reason } => format!(
                "Not a callback Baidu sends: {reason}. Callbacks are form POSTs signed with rsaSign."
            ),
            ApiError::CallbackSignatureInvalid => "The callback's rsaSign does not verify with BAIDU_PLATFORM_PUBLIC_KEY; nothing was recorded or forwarded. If Baidu's own callbacks fail, the configured platform key is wrong.".into(),
            ApiError::OrderUnknown { tp_order_id } => format!(
                "The relay cannot resolve tpOrderId {tp_order_id:?}: no payment callback is recorded for it (and on the order-center routes Baidu's findByTpOrderId does not know it either), so its Baidu ids are unknown; send them explicitly (orderId and userId; for the order center openId or swanId, and sceneId), or route Baidu's payment callback to the relay."
            ),
            ApiError::EventsEndpointFailed { status: Some(status) } => format!(
                "The merchant's events endpoint (EVENTS_WEBHOOK_URL) answered HTTP {status}; the event is retried."
            ),
            ApiError::EventsEndpointFailed { status: None } => {
                "The merchant's events endpoint (EVENTS_WEBHOOK_URL) did not answer; the event is retried.".into()
            }
            ApiError::OutcomeUnknown { call, cause }
                if call.starts_with("cashier/") || call.starts_with("paymentservice/") =>
            {
                format!(
                "Baidu may or may not have applied {call}: its answer was lost, and asking Baidu (queryorderdetail, findOrderRefund) did not settle it ({cause}). The relay does not send it again unchecked. Check the order in Baidu's console, then retry the delivery (POST /v1/deliveries/{{id}}/retry): the retry asks Baidu again first."
            )
            }
            ApiError::OutcomeUnknown { call, cause } if call.starts_with("append/") => format!(
                "An earlier app/{call} may have reached Baidu unanswered, and Baidu refused to append the same items again ({cause}). It refuses items it already has, so the earlier append has probably taken them; the relay does not report that as a rejection. Check the order's after-sale items in Baidu's console; change them with POST /v1/after-sale/update."
            ),
            ApiError::OutcomeUnknown { call, cause } => format!(
                "Baidu may or may not have applied app/{call} (the outcome is unknown: {cause}). The relay does not repeat it blindly: on an existing order it would overwrite the after-sale information too. Check the order at Baidu; send changes with POST /v1/orders/update, or import it again under a new webhook-id."
            ),
            ApiError::AmountMismatch(mismatch) => mismatch.describe(),
            ApiError::Baidu(error) => error.message(),
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
            ApiError::OrderUnknown { .. } => {
                error.insert("field".into(), json!("tpOrderId"));
            }
            ApiError::EventsEndpointFailed {
                status: Some(status),
            } => {
                error.insert("upstreamStatus".into(), json!(status));
            }
            ApiError::InvalidQuery { parameter, .. } => {
                error.insert("parameter".into(), json!(parameter));
            }
            ApiError::Baidu(baidu) => baidu.add_fields(&mut error),
            ApiError::OutcomeUnknown { call, cause } => {
                error.insert("call".into(), json!(call));
                error.insert("cause".into(), json!(cause));
            }
            ApiError::AmountMismatch(mismatch) => {
                error.insert("field".into(), json!(mismatch.field));
                error.insert("expected".into(), json!(mismatch.expected));
                error.insert("given".into(), json!(mismatch.given));
                error.insert(
                    "terms".into(),
                    json!({
                        "products": mismatch.products,
                        "paymentInfo": mismatch.payment_info,
                        "preferentialInfo": mismatch.preferential_info,
                    }),
                );
            }
            ApiError::DeliveryFailed {
                attempts,
                last_error,
            } => {
                error.insert("attempts".into(), json!(attempts));
                error.insert("lastError".into(), json!(last_error));
            }
            _ => {}
        }
        json!({ "error": error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baidu::error::{BaiduRejection, Unavailable};
    use crate::contract::ERROR_TABLE;
    use crate::http::TransportError;

    /// One example of every `ApiError` variant, and of every `WebhookError`, `BaiduError` and
    /// `BaiduRejection`, since those choose the code and status.
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
            ApiError::Baidu(BaiduError::Unavailable {
                cause: Unavailable::HttpStatus,
                status: Some(503),
            }),
            ApiError::Baidu(BaiduError::TokenRejected {
                error: "invalid_client".into(),
                description: "unknown client id".into(),
            }),
            ApiError::Baidu(BaiduError::ItemsRejected {
                resource_ids: vec!["1001".into()],
                baidu: json!({"errno": 0, "data": []}),
            }),
            ApiError::InProgress,
            ApiError::IdReused,
            ApiError::Unauthorized,
            ApiError::DeliveryNotFound,
            ApiError::NotRetryable {
                status: "delivered",
            },
            ApiError::LedgerUnavailable,
            ApiError::InvalidQuery {
                parameter: "limit".into(),
                reason: "must be".into(),
            },
            ApiError::DeliveryFailed {
                attempts: 8,
                last_error: "upstream_unavailable".into(),
            },
            ApiError::InvalidCallback {
                reason: "the field `orderId` is missing".into(),
            },
            ApiError::CallbackSignatureInvalid,
            ApiError::OrderUnknown {
                tp_order_id: "T-1".into(),
            },
            ApiError::EventsEndpointFailed { status: Some(500) },
            ApiError::OutcomeUnknown {
                call: "add/main/info",
                cause: "upstream_unavailable".into(),
            },
            ApiError::AmountMismatch(Box::new(AmountMismatch {
                field: "data[0].EXT.MainOrder.Payment.Amount".into(),
                given: 9800,
                expected: 9300,
                products: 9800,
                payment_info: 500,
                preferential_info: 1000,
                suspect: None,
            })),
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
            .map(|rejection| {
                ApiError::Baidu(BaiduError::Rejected {
                    rejection,
                    errno: 10003,
                    msg: "x".into(),
                })
            }),
        );
        errors
    }

    /// Which case of the error table an error is. Exhaustive on purpose, with no wildcard:
    /// a new variant (of `ApiError`, `WebhookError`, `BaiduError` or `BaiduRejection`) does
    /// not compile until it is named here; then add an example to [`every_error`] and bump
    /// `CASES`, and the tests below check it against docs/contract.md and [`ERROR_TABLE`].
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
            ApiError::Baidu(baidu) => match baidu {
                BaiduError::Rejected { rejection, .. } => match rejection {
                    BaiduRejection::SignatureRejected => 14,
                    BaiduRejection::BadParameter => 15,
                    BaiduRejection::OrderNotFound => 16,
                    BaiduRejection::InsufficientBalance => 17,
                    BaiduRejection::InternalError => 18,
                    BaiduRejection::Other => 19,
                },
                BaiduError::Unavailable { .. } => 20,
                BaiduError::TokenRejected { .. } => 21,
                BaiduError::ItemsRejected { .. } => 22,
            },
            ApiError::InProgress => 23,
            ApiError::IdReused => 24,
            ApiError::Unauthorized => 25,
            ApiError::DeliveryNotFound => 26,
            ApiError::NotRetryable { .. } => 27,
            ApiError::LedgerUnavailable => 28,
            ApiError::DeliveryFailed { .. } => 29,
            ApiError::InvalidCallback { .. } => 30,
            ApiError::CallbackSignatureInvalid => 31,
            ApiError::OrderUnknown { .. } => 32,
            ApiError::EventsEndpointFailed { .. } => 33,
            ApiError::InvalidQuery { .. } => 34,
            ApiError::OutcomeUnknown { .. } => 35,
            ApiError::AmountMismatch(_) => 36,
        }
    }

    /// The number of cases `case` tells apart.
    const CASES: usize = 37;

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
    fn every_code_in_the_status_table_is_produced_by_some_error_and_vice_versa() {
        let errors = every_error();
        for (code, _) in ERROR_TABLE {
            assert_eq!(
                ERROR_TABLE
                    .iter()
                    .filter(|(other, _)| other == code)
                    .count(),
                1,
                "{code} is in the table twice"
            );
            assert!(
                errors.iter().any(|error| error.code() == *code),
                "the table lists {code}, which no error produces"
            );
        }
        for error in &errors {
            let code = error.code();
            assert!(
                ERROR_TABLE.iter().any(|(listed, _)| *listed == code),
                "{code} ({error:?}) has no status in the table"
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
        let body = ApiError::Baidu(BaiduError::Rejected {
            rejection: BaiduRejection::OrderNotFound,
            errno: 10002,
            msg: "order not exist".into(),
        })
        .body();
        assert_eq!(body["error"]["baiduErrno"], 10002);
        assert_eq!(body["error"]["baiduMsg"], "order not exist");
        let body = ApiError::Baidu(BaiduError::Unavailable {
            cause: Unavailable::Transport(TransportError::Timeout),
            status: None,
        })
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
