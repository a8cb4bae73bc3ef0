//! The one structured log line written per request.
//!
//! Fields are chosen so that nothing secret can reach them: no bodies, headers, keys,
//! signatures or tokens, only identifiers, outcomes and timings.

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestLog {
    pub msg: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    pub method: String,
    pub route: String,
    /// The HTTP status answered; absent on queue lines, which answer nobody.
    #[serde(skip_serializing_if = "is_zero")]
    pub status: u16,
    /// `delivered`, `ok`, or the error code answered.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baidu_errno: Option<i64>,
    /// The access token's last four characters, the most a log may show of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_last4: Option<String>,
    /// Where the access token came from: `isolate`, `kv` or `baidu`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_source: Option<&'static str>,
    /// The attempt number within the current round of retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// After a transient failure: seconds until the queued retry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_retry_seconds: Option<u32>,
    /// Which reading of a Baidu callback its signature matched: `raw` or `url_encoded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_reading: Option<&'static str>,
    /// Something relayed although it looks wrong (`ORDER_AMOUNT_CHECK=warn`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Order-center calls retried once with a fresh token.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub token_refreshed: bool,
    pub duration_ms: u64,
}

fn is_zero(status: &u16) -> bool {
    *status == 0
}

impl RequestLog {
    /// `route` is a known route's path, or a fixed label for unmatched requests: raw paths
    /// are caller-controlled and are not echoed into logs.
    pub fn new(method: &str, route: &str) -> Self {
        Self {
            msg: "request",
            method: method.to_owned(),
            route: route.to_owned(),
            ..Self::default()
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"msg":"request","error":"unserialisable log"}"#.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_one_camel_case_line_without_empty_fields() {
        let mut log = RequestLog::new("POST", "/v1/cancel-verification");
        log.webhook_id = Some("msg_1".into());
        log.status = 200;
        log.outcome = "delivered".into();
        log.upstream_status = Some(200);
        log.baidu_errno = Some(0);
        log.duration_ms = 12;
        let line = log.to_json();
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["webhookId"], "msg_1");
        assert_eq!(value["upstreamStatus"], 200);
        assert_eq!(value["baiduErrno"], 0);
        assert_eq!(value["durationMs"], 12);
        let bare = RequestLog::new("GET", "/healthz").to_json();
        assert!(!bare.contains("webhookId") && !bare.contains("baiduErrno"));
    }
}
