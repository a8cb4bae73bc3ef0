//! What can go wrong at Baidu, as the merchant's system must tell it apart. The relay's
//! `ApiError` wraps it; the codes, messages and extra fields here are part of the public
//! contract (docs/contract.md): never rename a code.

use serde_json::{json, Map, Value};

use crate::contract::status_of;
use crate::http::TransportError;

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
    /// A 3xx: the relay never follows a redirect, since following one would resend the
    /// request (the App Secret of a token request, a signed form) to wherever it points.
    Redirect,
}

impl Unavailable {
    fn reason(self) -> &'static str {
        match self {
            Unavailable::Transport(error) => error.as_str(),
            Unavailable::HttpStatus => "http_status",
            Unavailable::InvalidAnswer => "invalid_answer",
            Unavailable::Redirect => "redirect",
        }
    }
}

/// A call to Baidu that did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum BaiduError {
    /// A non-zero errno or gateway `error_code`.
    Rejected {
        rejection: BaiduRejection,
        errno: i64,
        msg: String,
    },
    /// No answer Baidu's tables can classify; `status` is the HTTP status when one arrived.
    Unavailable {
        cause: Unavailable,
        status: Option<u16>,
    },
    /// The token endpoint refused the App Key/Secret (`invalid_client` and friends).
    TokenRejected { error: String, description: String },
    /// `errno` 0, but some items were not written (`rows_affected` "0").
    ItemsRejected {
        resource_ids: Vec<String>,
        baidu: Value,
    },
}

impl BaiduError {
    /// No HTTP answer arrived.
    pub fn transport(error: TransportError) -> Self {
        let cause = match error {
            // An answer came, but not one the relay can read.
            TransportError::AnswerTooLarge => Unavailable::InvalidAnswer,
            _ => Unavailable::Transport(error),
        };
        BaiduError::Unavailable {
            cause,
            status: None,
        }
    }

    /// An HTTP answer with a status the API never uses for a real answer.
    pub fn http_status(status: u16) -> Self {
        BaiduError::Unavailable {
            cause: Unavailable::HttpStatus,
            status: Some(status),
        }
    }

    /// A 3xx answer, never followed.
    pub fn redirect(status: u16) -> Self {
        BaiduError::Unavailable {
            cause: Unavailable::Redirect,
            status: Some(status),
        }
    }

    /// A 2xx answer that is not the JSON the API documents.
    pub fn invalid_answer(status: u16) -> Self {
        BaiduError::Unavailable {
            cause: Unavailable::InvalidAnswer,
            status: Some(status),
        }
    }

    pub fn status(&self) -> u16 {
        status_of(self.code())
    }

    pub fn code(&self) -> &'static str {
        match self {
            BaiduError::Unavailable { .. } => "upstream_unavailable",
            BaiduError::TokenRejected { .. } => "baidu_token_rejected",
            BaiduError::ItemsRejected { .. } => "baidu_items_rejected",
            BaiduError::Rejected { rejection, .. } => match rejection {
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
            BaiduError::Unavailable { cause, status } => match (cause, status) {
                (Unavailable::Transport(TransportError::Timeout), _) => {
                    "Baidu did not answer in time; the outcome is unknown. Retry with the same webhook id.".into()
                }
                (Unavailable::Transport(TransportError::Unreachable), _) => {
                    "Baidu could not be reached. Retry later.".into()
                }
                (Unavailable::HttpStatus, Some(status)) => {
                    format!("Baidu answered HTTP {status}. Retry later.")
                }
                // The Location is left out: nothing says what a redirect target carries.
                (Unavailable::Redirect, Some(status)) => format!(
                    "Baidu answered HTTP {status} with a redirect, which the relay never follows. Check BAIDU_CASHIER_URL and BAIDU_OPENAPI_URL."
                ),
                _ => "Baidu's answer was not the JSON it documents. Retry later.".into(),
            },
            BaiduError::TokenRejected { error, description } => format!(
                "Baidu refused the access-token request ({error}: {description}). BAIDU_APP_KEY and BAIDU_APP_SECRET must be the smart program's App Key (32 characters) and App Secret from Baidu's developer console; the payment appKey (BAIDU_PAY_APP_KEY, like MMMzaA) is a different key."
            ),
            BaiduError::ItemsRejected { resource_ids, .. } => format!(
                "Baidu accepted the call but wrote no rows for ResourceID {}. The order and every SubOrderID must already exist at Baidu (import them with /v1/after-sale/append first) and BizAPPID must be this smart program's App Key.",
                resource_ids.join(", ")
            ),
            BaiduError::Rejected { rejection, errno, msg } => match rejection {
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

    /// Adds what the caller needs beyond `code` and `message` to the error body's fields.
    pub fn add_fields(&self, error: &mut Map<String, Value>) {
        match self {
            BaiduError::Rejected { errno, msg, .. } => {
                error.insert("baiduErrno".into(), json!(errno));
                error.insert("baiduMsg".into(), json!(msg));
            }
            BaiduError::TokenRejected {
                error: oauth_error, ..
            } => {
                error.insert("baiduError".into(), json!(oauth_error));
            }
            BaiduError::ItemsRejected {
                resource_ids,
                baidu,
            } => {
                error.insert("failedResourceIds".into(), json!(resource_ids));
                error.insert("baidu".into(), baidu.clone());
            }
            BaiduError::Unavailable { cause, status } => {
                error.insert("reason".into(), json!(cause.reason()));
                if let Some(status) = status {
                    error.insert("upstreamStatus".into(), json!(status));
                }
            }
        }
    }
}

/// The extra fields of the error body, as an object.
#[cfg(test)]
pub(crate) fn fields(error: &BaiduError) -> Value {
    let mut fields = Map::new();
    error.add_fields(&mut fields);
    Value::Object(fields)
}

/// What the retry policy makes of a Baidu error.
#[cfg(test)]
pub(crate) fn is_transient(error: &BaiduError) -> bool {
    crate::delivery::policy::is_transient(&error.clone().into())
}
