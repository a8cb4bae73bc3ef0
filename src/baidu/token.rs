//! Baidu open-platform access tokens (`/oauth/2.0/token`, client credentials).
//!
//! Pure parts only: the token request, reading the answer, and the expiry arithmetic with an
//! injected clock. Caching across requests and isolates is the platform layer's job.

use std::fmt;

use serde_json::Value;

use super::answer::{
    classify_errno, http_answer, message_of, read_code, BaiduAnswer, ErrnoMeaning,
};
use super::error::{BaiduError, BaiduRejection};
use crate::http::{HttpRequest, UpstreamAnswer};

pub const TOKEN_PATH: &str = "/oauth/2.0/token";
pub const SCOPE: &str = "smartapp_snsapi_base";

/// Tokens are renewed this long before Baidu says they expire, at most; short-lived tokens
/// are renewed after 90% of their life instead.
pub const SAFETY_MARGIN_SECONDS: u64 = 300;

/// A token lifetime shorter than this is treated as a broken answer, not cached.
const MIN_LIFETIME_SECONDS: u64 = 10;

/// An access token and when the relay stops using it (Unix milliseconds).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    value: String,
    pub refresh_at_ms: u64,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &format_args!("…{}", self.last4()))
            .field("refresh_at_ms", &self.refresh_at_ms)
            .finish()
    }
}

impl AccessToken {
    pub fn new(value: String, refresh_at_ms: u64) -> Self {
        Self {
            value,
            refresh_at_ms,
        }
    }

    /// The secret itself: only for building Baidu requests, never for logs or answers.
    pub fn secret(&self) -> &str {
        &self.value
    }

    /// The last four characters, the most a log line may show.
    pub fn last4(&self) -> &str {
        let start = self
            .value
            .char_indices()
            .rev()
            .nth(3)
            .map(|(i, _)| i)
            .unwrap_or(0);
        &self.value[start..]
    }

    pub fn is_fresh(&self, now_ms: u64) -> bool {
        now_ms < self.refresh_at_ms
    }

    /// The record kept in the shared cache (Workers KV) for other isolates.
    pub fn to_cache_record(&self) -> String {
        serde_json::json!({ "accessToken": self.value, "refreshAtMs": self.refresh_at_ms })
            .to_string()
    }

    /// Reads a cache record; anything unreadable counts as absent.
    pub fn from_cache_record(record: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(record).ok()?;
        let token = value
            .get("accessToken")?
            .as_str()
            .filter(|t| !t.is_empty())?;
        let refresh_at_ms = value.get("refreshAtMs")?.as_u64()?;
        Some(Self::new(token.to_owned(), refresh_at_ms))
    }

    /// How long the shared cache should keep the record: until the relay would stop using
    /// it, and at least the 60 seconds Workers KV requires.
    pub fn cache_ttl_seconds(&self, now_ms: u64) -> u64 {
        (self.refresh_at_ms.saturating_sub(now_ms) / 1000).max(60)
    }
}

/// The shared-cache key for an app's token. The App Key is not secret; one key per app
/// keeps two relays of different apps on one namespace apart.
pub fn cache_key(app_key: &str) -> String {
    format!("baidu-access-token/v1/{app_key}")
}

/// When to stop using a token that Baidu says lives `expires_in` seconds from `now_ms`.
pub fn refresh_at(now_ms: u64, expires_in_seconds: u64) -> u64 {
    let margin = SAFETY_MARGIN_SECONDS.min(expires_in_seconds / 10);
    now_ms.saturating_add(
        expires_in_seconds
            .saturating_sub(margin)
            .saturating_mul(1000),
    )
}

/// The token request. Credentials travel in a POST form body, not in the URL, so that no
/// URL that might be logged carries the App Secret.
pub fn token_request(openapi_url: &str, app_key: &str, app_secret: &str) -> HttpRequest {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", app_key)
        .append_pair("client_secret", app_secret)
        .append_pair("scope", SCOPE)
        .finish();
    HttpRequest {
        method: "POST",
        url: format!("{}{TOKEN_PATH}", openapi_url.trim_end_matches('/')),
        content_type: "application/x-www-form-urlencoded; charset=UTF-8",
        headers: Vec::new(),
        body: body.into_bytes(),
    }
}

/// OAuth errors that say the server could not answer now (RFC 6749 §4.1.2.1).
const TRANSIENT_OAUTH_ERRORS: [&str; 2] = ["temporarily_unavailable", "server_error"];

/// Reads the token endpoint's answer (/work/shared/baidu-api.md §3, §5), body before status:
///
/// - no answer: `upstream_unavailable` (transient);
/// - a 3xx: `upstream_unavailable` (`redirect`, final), never followed: it would resend the
///   App Secret to wherever it points;
/// - a gateway-form body (`error_code`, or a non-zero `errno`): Baidu's code tables, as for
///   every other call (transient codes transient, 408/429/5xx never final);
/// - an OAuth `error` on a 408, 429 or 5xx: `upstream_unavailable` with that status
///   (transient; a 503 may well say `temporarily_unavailable`);
/// - an OAuth `error` on another status: `invalid_client`, `unauthorized_client`,
///   `invalid_grant`, `invalid_scope`, `unsupported_grant_type`, `invalid_request` (and any
///   error we do not know) are `baidu_token_rejected`, final; `temporarily_unavailable` and
///   `server_error` are `baidu_internal_error` (transient, errno 0: there is no Baidu errno);
/// - otherwise a non-2xx status is `upstream_unavailable` (transient for 408/429/5xx), and a
///   2xx without a usable `access_token`/`expires_in` is `invalid_answer` (transient).
pub fn read_token_answer(answer: &UpstreamAnswer, now_ms: u64) -> Result<AccessToken, BaiduError> {
    let response = http_answer(answer)?;
    let status = response.status;
    let outage = matches!(status, 408 | 429 | 500..=599);
    let body: Option<Value> = serde_json::from_slice(&response.body).ok();
    let object = body.as_ref().and_then(Value::as_object);
    if let Some(object) = object {
        let code = match read_code(object) {
            Ok(code) => code,
            // A code that is there but unreadable hides what Baidu meant.
            Err(()) if (200..300).contains(&status) => {
                return Err(BaiduError::invalid_answer(status))
            }
            Err(()) => return Err(BaiduError::http_status(status)),
        };
        if let Some((code, from_gateway)) = code {
            if code != 0 {
                let answer = BaiduAnswer {
                    errno: code,
                    msg: message_of(object),
                    from_gateway,
                    http_status: status,
                    body: Value::Object(object.clone()),
                };
                return Err(classify_errno(&answer, ErrnoMeaning::OpenApi));
            }
        }
        // OAuth errors come with 400/401 and a JSON body: read those before the status.
        if let Some(error) = object.get("error").and_then(Value::as_str) {
            if outage {
                return Err(BaiduError::http_status(status));
            }
            let description = object
                .get("error_description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if TRANSIENT_OAUTH_ERRORS.contains(&error) {
                return Err(BaiduError::Rejected {
                    rejection: BaiduRejection::InternalError,
                    errno: 0,
                    msg: if description.is_empty() {
                        error.to_owned()
                    } else {
                        format!("{error}: {description}")
                    },
                });
            }
            // `invalid_client`, `unauthorized_client`, `invalid_grant`, `invalid_scope`,
            // `unsupported_grant_type`, `invalid_request` (RFC 6749 §5.2), and any error we do
            // not know: the credentials or the request are wrong, retrying will not help.
            return Err(BaiduError::TokenRejected {
                error: error.to_owned(),
                description: description.to_owned(),
            });
        }
    }
    if !(200..300).contains(&status) {
        return Err(BaiduError::http_status(status));
    }
    let invalid = BaiduError::invalid_answer(status);
    let body = object.ok_or_else(|| invalid.clone())?;
    let token = body
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid.clone())?;
    let expires_in = match body.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|seconds| *seconds >= MIN_LIFETIME_SECONDS)
    .ok_or(invalid)?;
    Ok(AccessToken::new(
        token.to_owned(),
        refresh_at(now_ms, expires_in),
    ))
}

/// True when Baidu says the token itself is the problem, so one refresh and retry may help:
/// gateway `error_code` 110/111 ("access token invalid / expired"), or the same numbers as
/// `errno` (inferred from Baidu's other open-platform products).
pub fn is_token_error(answer: &BaiduAnswer) -> bool {
    matches!(answer.errno, 110 | 111)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baidu::error::{fields, is_transient};
    use crate::http::{TransportError, UpstreamResponse};

    fn answer(status: u16, body: &str) -> UpstreamAnswer {
        Ok(UpstreamResponse {
            status,
            body: body.as_bytes().to_vec(),
        })
    }

    #[test]
    fn request_carries_credentials_in_the_body_only() {
        let request = token_request("https://openapi.baidu.com/", "appKey32", "s3cr3t&=");
        assert_eq!(request.url, "https://openapi.baidu.com/oauth/2.0/token");
        assert_eq!(request.method, "POST");
        let params: Vec<(String, String)> =
            form_urlencoded::parse(&request.body).into_owned().collect();
        assert_eq!(
            params,
            vec![
                ("grant_type".into(), "client_credentials".into()),
                ("client_id".into(), "appKey32".into()),
                ("client_secret".into(), "s3cr3t&=".into()),
                ("scope".into(), "smartapp_snsapi_base".into()),
            ]
        );
        assert!(!format!("{request:?}").contains("s3cr3t"));
    }

    #[test]
    fn expiry_keeps_a_margin_with_an_injected_clock() {
        let now = 1_700_000_000_000;
        // 30 days: renewed 5 minutes early.
        assert_eq!(refresh_at(now, 2_592_000), now + (2_592_000 - 300) * 1000);
        // One hour: still 5 minutes.
        assert_eq!(refresh_at(now, 3600), now + 3300 * 1000);
        // Two minutes: 10% margin, not a negative lifetime.
        assert_eq!(refresh_at(now, 120), now + 108 * 1000);
        let token = read_token_answer(
            &answer(200, r#"{"access_token":"24.abc","expires_in":3600}"#),
            now,
        )
        .unwrap();
        assert!(token.is_fresh(now));
        assert!(token.is_fresh(now + 3_299_999));
        assert!(!token.is_fresh(now + 3_300_000));
        assert!(!token.is_fresh(now + 3_600_000));
    }

    #[test]
    fn a_redirected_token_request_is_final_and_never_read() {
        for status in [302, 307, 308] {
            let redirected = read_token_answer(
                &answer(status, r#"{"access_token":"24.abc","expires_in":3600}"#),
                0,
            )
            .unwrap_err();
            assert_eq!(redirected, BaiduError::redirect(status));
            assert_eq!(fields(&redirected)["reason"], "redirect");
            assert!(!is_transient(&redirected));
        }
    }

    #[test]
    fn oauth_errors_are_token_rejections() {
        let error = read_token_answer(
            &answer(
                401,
                r#"{"error":"invalid_client","error_description":"unknown client id"}"#,
            ),
            0,
        )
        .unwrap_err();
        assert_eq!(error.code(), "baidu_token_rejected");
        assert!(error.message().contains("App Key"), "{}", error.message());
        assert!(error.message().contains("payment"), "{}", error.message());
    }

    #[test]
    fn every_permanent_oauth_error_is_a_final_token_rejection() {
        for error in [
            "invalid_client",
            "unauthorized_client",
            "invalid_grant",
            "invalid_scope",
            "unsupported_grant_type",
            "invalid_request",
        ] {
            for status in [200, 400, 401, 403] {
                let body = format!(r#"{{"error":"{error}","error_description":"no"}}"#);
                let rejected = read_token_answer(&answer(status, &body), 0).unwrap_err();
                assert_eq!(
                    rejected,
                    BaiduError::TokenRejected {
                        error: error.into(),
                        description: "no".into()
                    },
                    "{status} {body}"
                );
                assert!(!is_transient(&rejected));
            }
        }
    }

    #[test]
    fn outage_statuses_are_transient_whatever_the_oauth_error() {
        for status in [500, 502, 503, 504, 429, 408] {
            for body in [
                r#"{"error":"temporarily_unavailable","error_description":"try later"}"#,
                r#"{"error":"invalid_client","error_description":"unknown client id"}"#,
                r#"{"error":"server_error"}"#,
            ] {
                let error = read_token_answer(&answer(status, body), 0).unwrap_err();
                assert_eq!(error, BaiduError::http_status(status), "{status} {body}");
                assert!(is_transient(&error), "{status} {body}");
            }
        }
        // The same errors on another status say the server could not answer now.
        for body in [
            r#"{"error":"temporarily_unavailable","error_description":"try later"}"#,
            r#"{"error":"server_error"}"#,
        ] {
            let error = read_token_answer(&answer(400, body), 0).unwrap_err();
            assert_eq!(error.code(), "baidu_internal_error", "{body}");
            assert!(is_transient(&error), "{body}");
        }
    }

    #[test]
    fn gateway_form_token_answers_follow_the_gateway_table() {
        for (status, code) in [(200, 1), (200, 2), (400, 4), (200, 17), (403, 18)] {
            let body = format!(r#"{{"error_code":{code},"error_msg":"limit"}}"#);
            let error = read_token_answer(&answer(status, &body), 0).unwrap_err();
            assert_eq!(error.code(), "baidu_internal_error", "{body}");
            assert_eq!(fields(&error)["baiduErrno"], code);
            assert_eq!(fields(&error)["baiduMsg"], "limit");
            assert!(is_transient(&error), "{body}");
        }
        for code in [3, 6, 19, 100] {
            let body = format!(r#"{{"error_code":{code},"error_msg":"no"}}"#);
            let error = read_token_answer(&answer(200, &body), 0).unwrap_err();
            assert_eq!(error.code(), "baidu_error", "{body}");
            assert!(!is_transient(&error), "{body}");
            // On an outage status, never final.
            let error = read_token_answer(&answer(503, &body), 0).unwrap_err();
            assert!(is_transient(&error), "{body}");
        }
        // A gateway code wins over an OAuth `error` in the same body.
        let error = read_token_answer(
            &answer(400, r#"{"error_code":18,"error":"invalid_client"}"#),
            0,
        )
        .unwrap_err();
        assert_eq!(error.code(), "baidu_internal_error");
        // `error_code` 0 and `errno` 0 are no errors.
        let token = read_token_answer(
            &answer(
                200,
                r#"{"error_code":0,"errno":0,"access_token":"t","expires_in":3600}"#,
            ),
            0,
        )
        .unwrap();
        assert_eq!(token.secret(), "t");
    }

    #[test]
    fn unusable_token_answers_are_upstream_unavailable() {
        for (status, body) in [
            (500, "{}"),
            (200, "nope"),
            (200, "{}"),
            (200, r#"{"access_token":"","expires_in":3600}"#),
            (200, r#"{"access_token":"x"}"#),
            (200, r#"{"access_token":"x","expires_in":0}"#),
            (
                200,
                r#"{"error_code":"x","access_token":"x","expires_in":3600}"#,
            ),
            (502, r#"{"error_code":"x"}"#),
        ] {
            assert_eq!(
                read_token_answer(&answer(status, body), 0)
                    .unwrap_err()
                    .code(),
                "upstream_unavailable"
            );
        }
        assert_eq!(
            read_token_answer(&Err(TransportError::Timeout), 0)
                .unwrap_err()
                .code(),
            "upstream_unavailable"
        );
        let token = read_token_answer(
            &answer(200, r#"{"access_token":"t","expires_in":"2592000"}"#),
            0,
        )
        .unwrap();
        assert_eq!(token.secret(), "t");
    }

    #[test]
    fn cache_records_round_trip_and_tolerate_garbage() {
        let token = AccessToken::new("24.abc".into(), 1_700_000_300_000);
        let record = token.to_cache_record();
        assert_eq!(AccessToken::from_cache_record(&record), Some(token.clone()));
        for garbage in [
            "",
            "{}",
            "null",
            r#"{"accessToken":"","refreshAtMs":1}"#,
            r#"{"accessToken":"x"}"#,
        ] {
            assert_eq!(AccessToken::from_cache_record(garbage), None, "{garbage}");
        }
        assert_eq!(token.cache_ttl_seconds(1_700_000_000_000), 300);
        assert_eq!(token.cache_ttl_seconds(1_700_000_290_000), 60);
        assert_eq!(token.cache_ttl_seconds(1_800_000_000_000), 60);
        assert_eq!(cache_key("abc"), "baidu-access-token/v1/abc");
    }

    #[test]
    fn logs_see_four_characters_at_most() {
        let token = AccessToken::new(
            "24.6c5e1ff107f0e8bcef8c46d3424a0e78.2592000.1485516651.282335-8574074".into(),
            0,
        );
        assert_eq!(token.last4(), "4074");
        let debug = format!("{token:?}");
        assert!(!debug.contains("6c5e1ff"), "{debug}");
        assert_eq!(AccessToken::new("ab".into(), 0).last4(), "ab");
        assert_eq!(
            AccessToken::new("令牌令牌令牌".into(), 0).last4(),
            "令牌令牌"
        );
    }

    #[test]
    fn token_errors_are_110_and_111() {
        let make = |errno| BaiduAnswer {
            errno,
            msg: String::new(),
            from_gateway: true,
            http_status: 200,
            body: Value::Null,
        };
        assert!(is_token_error(&make(110)));
        assert!(is_token_error(&make(111)));
        assert!(!is_token_error(&make(0)));
        assert!(!is_token_error(&make(10002)));
    }
}
