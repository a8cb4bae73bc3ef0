//! Reading Baidu's answers: `{errno, msg, data}` from the business APIs, or
//! `{error_code, error_msg}` from the open-platform gateway in front of them.

use serde_json::Value;

use crate::error::{ApiError, BaiduRejection};
use crate::http::UpstreamAnswer;

/// A JSON answer from Baidu with its status number pulled out.
#[derive(Debug, Clone, PartialEq)]
pub struct BaiduAnswer {
    /// `errno`, or the gateway's `error_code` when that is what came back.
    pub errno: i64,
    pub msg: String,
    /// True when the number came from the gateway's `error_code`.
    pub from_gateway: bool,
    /// The whole answer, relayed to the caller as Baidu sent it.
    pub body: Value,
}

/// Turns a transport-level answer into Baidu's JSON, or into `upstream_unavailable` when
/// there is no usable answer: no connection, timeout, non-2xx status, or not Baidu's JSON.
pub fn read_answer(answer: &UpstreamAnswer) -> Result<BaiduAnswer, ApiError> {
    let response = answer
        .as_ref()
        .map_err(|error| ApiError::transport(*error))?;
    if !(200..300).contains(&response.status) {
        return Err(ApiError::http_status(response.status));
    }
    let invalid = ApiError::invalid_answer(response.status);
    let body: Value = serde_json::from_slice(&response.body).map_err(|_| invalid.clone())?;
    let object = body.as_object().ok_or_else(|| invalid.clone())?;
    let (errno, msg, from_gateway) = if let Some(errno) = object.get("errno") {
        (as_integer(errno), object.get("msg"), false)
    } else if let Some(code) = object.get("error_code") {
        (as_integer(code), object.get("error_msg"), true)
    } else {
        return Err(invalid);
    };
    let errno = errno.ok_or(invalid)?;
    let msg = msg.and_then(Value::as_str).unwrap_or_default().to_owned();
    Ok(BaiduAnswer {
        errno,
        msg,
        from_gateway,
        body,
    })
}

/// Which table of Baidu errnos an API follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrnoMeaning {
    /// The cashier, where 10003 is documented as "enterprise balance below the refund".
    Cashier,
    /// Open-platform APIs (order center), where 10003 is only the generic internal error.
    OpenApi,
}

/// Maps a non-zero errno to the documented error the merchant's system must handle.
pub fn classify_errno(answer: &BaiduAnswer, meaning: ErrnoMeaning) -> ApiError {
    let rejection = match (answer.errno, meaning) {
        (10000, _) => BaiduRejection::SignatureRejected,
        (10001, _) => BaiduRejection::BadParameter,
        (10002, _) => BaiduRejection::OrderNotFound,
        (10003, _) if means_retry_later(&answer.msg) => BaiduRejection::InternalError,
        // On the cashier 10003 is documented as the balance check; never retry it blindly.
        (10003, ErrnoMeaning::Cashier) => BaiduRejection::InsufficientBalance,
        _ => BaiduRejection::Other,
    };
    ApiError::Baidu {
        rejection,
        errno: answer.errno,
        msg: answer.msg.clone(),
    }
}

/// Baidu's generic errno table reuses 10003 for "internal error, retry later"; only the
/// message tells it from the balance check, so a message naming the balance always wins.
fn means_retry_later(msg: &str) -> bool {
    let lower = msg.to_lowercase();
    if lower.contains("余额") || lower.contains("balance") {
        return false;
    }
    [
        "内部错误",
        "系统错误",
        "系统繁忙",
        "稍后",
        "重试",
        "internal",
        "retry",
        "try again",
        "busy",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// Baidu sends numbers, but some of its services send them as strings.
fn as_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Unavailable;
    use crate::http::{TransportError, UpstreamResponse};

    fn ok(status: u16, body: &str) -> UpstreamAnswer {
        Ok(UpstreamResponse {
            status,
            body: body.as_bytes().to_vec(),
        })
    }

    fn unavailable_reason(answer: UpstreamAnswer) -> (Unavailable, Option<u16>) {
        match read_answer(&answer) {
            Err(ApiError::UpstreamUnavailable { cause, status }) => (cause, status),
            other => panic!("expected upstream_unavailable, got {other:?}"),
        }
    }

    #[test]
    fn errno_as_number_or_string_and_gateway_codes() {
        let a = read_answer(&ok(200, r#"{"errno":0,"msg":"success","data":[]}"#)).unwrap();
        assert_eq!(
            (a.errno, a.msg.as_str(), a.from_gateway),
            (0, "success", false)
        );
        let a = read_answer(&ok(200, r#"{"errno":"10002","msg":"x"}"#)).unwrap();
        assert_eq!(a.errno, 10002);
        let a = read_answer(&ok(
            200,
            r#"{"error_code":110,"error_msg":"Access token invalid"}"#,
        ))
        .unwrap();
        assert_eq!((a.errno, a.from_gateway), (110, true));
        let a = read_answer(&ok(200, r#"{"errno":5}"#)).unwrap();
        assert_eq!(a.msg, "");
    }

    #[test]
    fn unusable_answers_are_upstream_unavailable() {
        assert_eq!(
            unavailable_reason(Err(TransportError::Timeout)),
            (Unavailable::Transport(TransportError::Timeout), None)
        );
        assert_eq!(
            unavailable_reason(Err(TransportError::Unreachable)),
            (Unavailable::Transport(TransportError::Unreachable), None)
        );
        assert_eq!(
            unavailable_reason(ok(500, "{}")),
            (Unavailable::HttpStatus, Some(500))
        );
        assert_eq!(
            unavailable_reason(ok(404, "nope")),
            (Unavailable::HttpStatus, Some(404))
        );
        for garbage in [
            "<html>",
            "",
            "[]",
            "{}",
            r#"{"errno":"x"}"#,
            r#"{"errno":1.5}"#,
            "null",
        ] {
            assert_eq!(
                unavailable_reason(ok(200, garbage)),
                (Unavailable::InvalidAnswer, Some(200)),
                "{garbage:?}"
            );
        }
    }
}
