//! The operator's console over the ledger: which deliveries a query asks for, where the next
//! page starts, what a bulk retry touches, and how rows, attempts and counts are shown.
//! Pure: the SQL is in `ledger.rs`, the D1 reads behind [`LedgerQueries`], the routes in
//! `src/platform/handler.rs`.

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::flow::requeue_leased;
use super::ledger::{row_view, DeliveryStatus};
use super::ports::{Ledger, LedgerQueries, Ports, StoreError};
use crate::error::ApiError;
use crate::inbound::Route;
use crate::reply::Reply;

/// Rows per page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 50;
/// The most rows one page (or one bulk retry) may ask for: a bound on one request's D1 work.
pub const MAX_LIMIT: u32 = 100;
/// How far back `GET /v1/deliveries/summary` counts when `since` is not given.
pub const DEFAULT_SUMMARY_WINDOW_MS: u64 = 24 * 3_600_000;
/// The longest `q` accepted: a webhook id's own limit.
pub const MAX_Q_LEN: usize = 256;

/// What a listing (and a bulk retry) selects. Every field narrows; none given is every row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub status: Option<DeliveryStatus>,
    /// A webhook route's path, e.g. `/v1/cancel-verification`.
    pub route: Option<String>,
    /// Received at or after (Unix ms).
    pub since: Option<u64>,
    /// Received before (Unix ms).
    pub until: Option<u64>,
    /// A webhook id prefix, or exactly a Baidu order id or after-sale `ResourceID`.
    pub q: Option<String>,
}

/// Where a page starts: just after this (received_at, webhook_id), newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub received_at: u64,
    pub webhook_id: String,
}

impl Cursor {
    /// Opaque to callers on purpose: the key order may change without breaking their code.
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}.{}", self.received_at, self.webhook_id))
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (at, id) = text.split_once('.')?;
        let received_at = at.parse().ok()?;
        crate::webhook::is_well_formed_id(id).then(|| Cursor {
            received_at,
            webhook_id: id.to_owned(),
        })
    }
}

/// A page request: `GET /v1/deliveries` and `POST /v1/deliveries/retry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub filter: Filter,
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

fn invalid(parameter: &str, reason: &str) -> ApiError {
    ApiError::InvalidQuery {
        parameter: parameter.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The query string's parameters, each at most once and each one `allowed`: a typo such as
/// `stauts=failed` would otherwise list (or retry) every delivery.
fn parameters(query: &str, allowed: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let mut seen: Vec<(String, String)> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if !allowed.contains(&key.as_ref()) {
            return Err(invalid(&key, "is not a parameter of this route"));
        }
        if seen.iter().any(|(k, _)| *k == key) {
            return Err(invalid(&key, "is given more than once"));
        }
        seen.push((key.into_owned(), value.into_owned()));
    }
    Ok(seen)
}

fn millis(parameter: &str, value: &str) -> Result<u64, ApiError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|ms| *ms <= 1 << 53)
        .ok_or_else(|| invalid(parameter, "must be a time in Unix milliseconds"))
}

fn status_named(value: &str) -> Option<DeliveryStatus> {
    use DeliveryStatus::*;
    [Pending, Delivered, Rejected, Queued, Failed]
        .into_iter()
        .find(|status| status.as_str() == value)
}

const PAGE_PARAMETERS: [&str; 7] = ["status", "route", "since", "until", "q", "limit", "cursor"];

/// Parses the query string of `GET /v1/deliveries` (without the `?`).
pub fn parse_page(query: &str) -> Result<Page, ApiError> {
    let mut page = Page {
        filter: Filter::default(),
        limit: DEFAULT_LIMIT,
        cursor: None,
    };
    for (key, value) in parameters(query, &PAGE_PARAMETERS)? {
        let filter = &mut page.filter;
        match key.as_str() {
            "status" => {
                filter.status = Some(status_named(&value).ok_or_else(|| {
                    invalid(
                        "status",
                        "must be pending, delivered, rejected, queued or failed",
                    )
                })?)
            }
            "route" => {
                let known = Route::resolve("POST", &value).is_ok_and(Route::is_delivered);
                if !known {
                    return Err(invalid(
                        "route",
                        "must be the path of a route that makes deliveries, such as /v1/cancel-verification or /v1/baidu/payment",
                    ));
                }
                filter.route = Some(value);
            }
            "since" => filter.since = Some(millis("since", &value)?),
            "until" => filter.until = Some(millis("until", &value)?),
            "q" => {
                let q = value.trim();
                if q.is_empty() || q.len() > MAX_Q_LEN || q.chars().any(char::is_control) {
                    return Err(invalid("q", "must be 1 to 256 characters"));
                }
                filter.q = Some(q.to_owned());
            }
            "limit" => {
                page.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| invalid("limit", "must be a whole number from 1 to 100"))?
            }
            // `cursor`: `parameters` lets no other name through.
            _ => {
                page.cursor = Some(Cursor::decode(&value).ok_or_else(|| {
                    invalid(
                        "cursor",
                        "is not a cursor this relay gave out (pass `cursor` back unchanged)",
                    )
                })?)
            }
        }
    }
    if let (Some(since), Some(until)) = (page.filter.since, page.filter.until) {
        if until <= since {
            return Err(invalid("until", "must be later than since"));
        }
    }
    Ok(page)
}

/// Parses the query string of `POST /v1/deliveries/retry`: a page of `failed` deliveries.
pub fn parse_bulk_retry(query: &str) -> Result<Page, ApiError> {
    let mut page = parse_page(query)?;
    match page.filter.status {
        None | Some(DeliveryStatus::Failed) => page.filter.status = Some(DeliveryStatus::Failed),
        Some(_) => {
            return Err(invalid(
                "status",
                "only failed deliveries are retried: leave it out or give failed",
            ))
        }
    }
    Ok(page)
}

/// Parses the query string of `GET /v1/deliveries/summary`: counts since `since`, by default
/// the last 24 hours before `now`.
pub fn parse_summary(query: &str, now: u64) -> Result<u64, ApiError> {
    let mut since = now.saturating_sub(DEFAULT_SUMMARY_WINDOW_MS);
    for (_, value) in parameters(query, &["since"])? {
        since = millis("since", &value)?;
    }
    Ok(since)
}

/// The exclusive upper bound of the ids that start with `prefix`: webhook ids are visible
/// ASCII (0x21..=0x7e), so every one of them that starts with `prefix` sorts below
/// `prefix` followed by DEL.
pub fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{7f}")
}

/// A row of a listing, as read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ListedRow {
    pub webhook_id: String,
    pub route: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub lease: u32,
    pub last_error: Option<String>,
    pub received_at: u64,
    pub updated_at: u64,
    pub next_attempt_at: Option<u64>,
    pub order_ref: Option<String>,
    pub resource_ref: Option<String>,
}

/// The page after this one, when this one was full.
pub fn next_cursor(rows: &[ListedRow], limit: u32) -> Option<Cursor> {
    if rows.len() < limit as usize {
        return None;
    }
    rows.last().map(|row| Cursor {
        received_at: row.received_at,
        webhook_id: row.webhook_id.clone(),
    })
}

/// `GET /v1/deliveries`'s answer.
pub fn page_view(rows: &[ListedRow], limit: u32) -> Value {
    let items: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "id": row.webhook_id,
                "route": row.route,
                "status": row.status.as_str(),
                "attempts": row.attempts,
                "lastError": row.last_error,
                "receivedAt": row.received_at,
                "updatedAt": row.updated_at,
                "nextAttemptAt": row.next_attempt_at,
                "orderId": row.order_ref,
                "resourceId": row.resource_ref,
            })
        })
        .collect();
    json!({"items": items, "cursor": next_cursor(rows, limit).map(|c| c.encode())})
}

/// One attempt that called Baidu, as recorded beside its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AttemptRecord {
    /// The delivery's attempt number (across every round of retries).
    pub attempt: u32,
    pub started_at: u64,
    pub duration_ms: u64,
    /// The row's status once the attempt was recorded (`queued`: another attempt follows).
    pub outcome: DeliveryStatus,
    pub error: Option<String>,
    pub upstream_status: Option<u16>,
    pub errno: Option<i64>,
}

/// Attempts kept per delivery: the newest ones; a manual retry's round starts more.
pub const ATTEMPTS_KEPT: u32 = 20;

fn attempt_view(attempt: &AttemptRecord) -> Value {
    json!({
        "attempt": attempt.attempt,
        "startedAt": attempt.started_at,
        "durationMs": attempt.duration_ms,
        "outcome": attempt.outcome.as_str(),
        "error": attempt.error,
        "upstreamStatus": attempt.upstream_status,
        "errno": attempt.errno,
    })
}

/// What an error code means, in plain words, for the person reading the console: what went
/// wrong and what to do about it. `None` for a code this relay does not produce.
pub fn meaning(code: &str) -> Option<&'static str> {
    Some(match code {
        "upstream_unavailable" => "Baidu could not be reached or did not answer usably (timeout, network error, an HTTP error status or an unreadable answer). The relay retries by itself; if it gave up, retry once Baidu is back.",
        "baidu_internal_error" => "Baidu reported an internal error. It is usually temporary: the relay retries; if it gave up, retry later.",
        "baidu_order_not_found" => "Baidu does not know this order (or after-sale order). Check the order id in the request; a retry will not help until the order exists at Baidu.",
        "baidu_bad_parameter" => "Baidu refused a parameter of the request. Fix the data the merchant sent and send a new webhook; a retry sends the same data again.",
        "baidu_insufficient_balance" => "The enterprise balance at Baidu is below the refund amount. Top it up, then retry.",
        "baidu_signature_rejected" => "Baidu refused the RSA signature: the private key set in the relay does not match the public key uploaded to Baidu's console, or the appKey is wrong.",
        "baidu_token_rejected" => "Baidu refused the smart program's App Key or App Secret when the relay asked for an access token. Fix BAIDU_APP_KEY / BAIDU_APP_SECRET, then retry.",
        "baidu_items_rejected" => "Baidu answered success but did not write some after-sale items (rows_affected 0), often because the order or sub-order does not exist there yet.",
        "baidu_error" => "Baidu refused the request with an error the relay does not classify; see Baidu's answer (errno and msg).",
        "misconfigured" => "The relay's configuration is incomplete or wrong for this route; /healthz names the variable. Queued retries wait for the fix.",
        "delivery_failed" => "Every attempt failed transiently and the relay stopped retrying. Fix the cause (see the attempts), then retry.",
        "abandoned" => "An attempt's worker stopped before recording an outcome (the outcome is unknown); the relay tried again.",
        "ledger_unavailable" => "The ledger (D1) could not be written at that moment; the outcome was carried on the retry queue.",
        "internal_error" => "The relay failed unexpectedly. Retry; if it persists, look at the Worker's logs.",
        "order_unknown" => "The order was named by tpOrderId alone and the relay could not resolve it: no payment callback for it reached the relay (and for order-center calls Baidu's findByTpOrderId does not know it). Send its ids explicitly (orderId and userId; openId or swanId and sceneId for the order center), or check that Baidu's payment callback URL points at the relay.",
        "outcome_unknown" => "Baidu may or may not have applied the call (its answer was lost), and the relay will not send it again unchecked: a second main-order import would overwrite the order's after-sale information; a cancel verification or 1.0 refund could not be settled by Baidu's status query (queryorderdetail); an after-sale append sent again was refused, as Baidu refuses items it already has. Check the order in Baidu's console; send update/* calls for an order's changes, or retry the delivery once Baidu answers the query.",
        "events_endpoint_failed" => "Your events endpoint (EVENTS_WEBHOOK_URL) did not answer 2xx for this Baidu event. The relay retries; once the endpoint works again, retry here.",
        _ => return None,
    })
}

/// `GET /v1/deliveries/{id}`: the row, every kept attempt, and what its last error means.
pub async fn detail<P: Ports, Q: LedgerQueries>(
    ports: &P,
    queries: &Q,
    id: &str,
) -> Result<Reply, ApiError> {
    let ledger = ports.ledger().map_err(|_| ApiError::LedgerUnavailable)?;
    let row = ledger
        .get(id)
        .await
        .map_err(|_| ApiError::LedgerUnavailable)?
        .ok_or(ApiError::DeliveryNotFound)?;
    let attempts = queries
        .attempts(id)
        .await
        .map_err(|_| ApiError::LedgerUnavailable)?;
    let mut view = row_view(&row);
    view["attemptLog"] = attempts.iter().map(attempt_view).collect();
    view["errorMeaning"] = json!(row.last_error.as_deref().and_then(meaning));
    Ok(Reply::json(200, view, "ok"))
}

/// `GET /v1/deliveries`.
pub async fn list<Q: LedgerQueries>(queries: &Q, page: &Page) -> Result<Reply, ApiError> {
    let rows = queries
        .list(page)
        .await
        .map_err(|_| ApiError::LedgerUnavailable)?;
    Ok(Reply::json(200, page_view(&rows, page.limit), "ok"))
}

/// `POST /v1/deliveries/retry`: re-queues the page's `failed` deliveries. Sent twice, the
/// second call finds them queued (or delivered) and re-queues none of them again.
pub async fn retry_page<P: Ports, Q: LedgerQueries>(
    ports: &P,
    queries: &Q,
    page: &Page,
) -> Result<Reply, ApiError> {
    let rows = queries
        .list(page)
        .await
        .map_err(|_| ApiError::LedgerUnavailable)?;
    let mut requeued = Vec::new();
    // A ledger failure part-way answers 503; the rows re-queued so far stay re-queued, and the
    // same call sent again picks up the rest (they are the ones still failed).
    for row in &rows {
        if requeue_leased(ports, &row.webhook_id, row.lease).await? {
            requeued.push(row.webhook_id.clone());
        }
    }
    let cursor = next_cursor(&rows, page.limit).map(|c| c.encode());
    Ok(Reply::json(
        202,
        json!({"matched": rows.len(), "requeued": requeued.len(), "ids": requeued, "cursor": cursor}),
        "queued",
    ))
}

/// Counts read for the summary: (status, route, n), (error code, n), (Baidu errno, n).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummaryRows {
    pub by_status_route: Vec<(String, String, u64)>,
    pub by_error: Vec<(String, u64)>,
    pub by_errno: Vec<(String, u64)>,
}

/// `GET /v1/deliveries/summary`'s answer.
pub fn summary_view(since: u64, rows: &SummaryRows) -> Value {
    let mut by_status: Map<String, Value> =
        ["pending", "queued", "delivered", "rejected", "failed"]
            .iter()
            .map(|s| ((*s).to_owned(), json!(0)))
            .collect();
    let mut by_route: Map<String, Value> = Map::new();
    let mut total = 0;
    for (status, route, n) in &rows.by_status_route {
        total += n;
        let count = by_status.entry(status.clone()).or_insert(json!(0));
        *count = json!(count.as_u64().unwrap_or(0) + n);
        let route = by_route.entry(route.clone()).or_insert_with(|| json!({}));
        route[status.as_str()] = json!(n);
    }
    let by_error: Map<String, Value> = rows
        .by_error
        .iter()
        .map(|(code, n)| (code.clone(), json!(n)))
        .collect();
    let by_errno: Map<String, Value> = rows
        .by_errno
        .iter()
        .map(|(errno, n)| (errno.clone(), json!(n)))
        .collect();
    json!({
        "since": since, "total": total, "byStatus": by_status, "byRoute": by_route,
        "byError": by_error, "byBaiduErrno": by_errno,
    })
}

/// `GET /v1/deliveries/summary`.
pub async fn summary<Q: LedgerQueries>(queries: &Q, since: u64) -> Result<Reply, ApiError> {
    let rows = queries
        .summary(since)
        .await
        .map_err(|_: StoreError| ApiError::LedgerUnavailable)?;
    Ok(Reply::json(200, summary_view(since, &rows), "ok"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_query_is_the_newest_page_of_everything() {
        let page = parse_page("").unwrap();
        assert_eq!(page.filter, Filter::default());
        assert_eq!((page.limit, page.cursor), (DEFAULT_LIMIT, None));
    }

    #[test]
    fn every_filter_parses_and_combines() {
        let cursor = Cursor {
            received_at: 1_764_000_000_000,
            webhook_id: "msg_9".into(),
        };
        let query = format!(
            "status=failed&route=%2Fv1%2Fcancel-verification&since=1000&until=2000&q=+2636635856+&limit=100&cursor={}",
            cursor.encode()
        );
        let page = parse_page(&query).unwrap();
        assert_eq!(
            page.filter,
            Filter {
                status: Some(DeliveryStatus::Failed),
                route: Some("/v1/cancel-verification".into()),
                since: Some(1000),
                until: Some(2000),
                q: Some("2636635856".into()),
            }
        );
        assert_eq!((page.limit, page.cursor), (100, Some(cursor)));
    }

    fn parameter_of(query: &str) -> String {
        match parse_page(query) {
            Err(ApiError::InvalidQuery { parameter, .. }) => parameter,
            other => panic!("{query}: {other:?}"),
        }
    }

    #[test]
    fn bad_parameters_are_named() {
        for (query, parameter) in [
            ("status=lost", "status"),
            ("stauts=failed", "stauts"),
            ("status=failed&status=queued", "status"),
            ("route=/v1/deliveries", "route"),
            ("route=/healthz", "route"),
            ("since=yesterday", "since"),
            ("since=-1", "since"),
            ("until=99999999999999999999", "until"),
            ("since=2000&until=2000", "until"),
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=ten", "limit"),
            ("q=", "q"),
            ("q=%20%20", "q"),
            ("cursor=nope!", "cursor"),
            ("cursor=bm8tZG90", "cursor"),
        ] {
            assert_eq!(parameter_of(query), parameter, "{query}");
        }
        assert_eq!(parameter_of(&format!("q={}", "a".repeat(257))), "q");
        assert!(parse_page(&format!("q={}", "a".repeat(256))).is_ok());
    }

    #[test]
    fn cursors_round_trip_and_refuse_what_the_relay_did_not_make() {
        let cursor = Cursor {
            received_at: 42,
            webhook_id: "evt.with.dots:and/slashes".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("42.has space");
        assert_eq!(Cursor::decode(&forged), None);
        assert_eq!(Cursor::decode(""), None);
    }

    #[test]
    fn a_bulk_retry_touches_only_failed_deliveries() {
        assert_eq!(
            parse_bulk_retry("route=/v1/after-sale/update")
                .unwrap()
                .filter
                .status,
            Some(DeliveryStatus::Failed)
        );
        assert!(parse_bulk_retry("status=failed").is_ok());
        assert!(matches!(
            parse_bulk_retry("status=delivered"),
            Err(ApiError::InvalidQuery { parameter, .. }) if parameter == "status"
        ));
    }

    #[test]
    fn the_summary_counts_the_last_day_unless_told_otherwise() {
        let now = 100 * DEFAULT_SUMMARY_WINDOW_MS;
        assert_eq!(
            parse_summary("", now).unwrap(),
            now - DEFAULT_SUMMARY_WINDOW_MS
        );
        assert_eq!(parse_summary("since=5", now).unwrap(), 5);
        assert!(parse_summary("status=failed", now).is_err());
    }

    #[test]
    fn the_prefix_bound_covers_every_id_that_starts_with_it() {
        let end = prefix_end("msg_");
        for id in ["msg_", "msg_~~~~", "msg_zzz", "msg_!"] {
            assert!(id >= "msg_" && id < end.as_str(), "{id}");
        }
        for id in ["msg", "msh", "msg`"] {
            assert!(!(id >= "msg_" && id < end.as_str()), "{id}");
        }
    }

    fn listed(id: &str, received_at: u64) -> ListedRow {
        ListedRow {
            webhook_id: id.into(),
            route: "/v1/cancel-verification".into(),
            status: DeliveryStatus::Failed,
            attempts: 3,
            lease: 3,
            last_error: Some("upstream_unavailable".into()),
            received_at,
            updated_at: received_at + 5,
            next_attempt_at: None,
            order_ref: Some("2636635856".into()),
            resource_ref: None,
        }
    }

    #[test]
    fn a_full_page_points_at_the_next_one_and_a_short_page_ends_the_list() {
        let rows = vec![listed("b", 20), listed("a", 10)];
        let full = page_view(&rows, 2);
        let cursor = Cursor::decode(full["cursor"].as_str().unwrap()).unwrap();
        assert_eq!((cursor.received_at, cursor.webhook_id.as_str()), (10, "a"));
        assert_eq!(full["items"][0]["id"], "b");
        assert_eq!(full["items"][0]["orderId"], "2636635856");
        assert_eq!(full["items"][0]["lastError"], "upstream_unavailable");
        assert_eq!(page_view(&rows, 3)["cursor"], Value::Null);
        assert_eq!(page_view(&[], 3), json!({"items": [], "cursor": null}));
    }

    #[test]
    fn the_summary_adds_up_by_status_and_route() {
        let rows = SummaryRows {
            by_status_route: vec![
                ("failed".into(), "/v1/cancel-verification".into(), 2),
                ("delivered".into(), "/v1/cancel-verification".into(), 5),
                ("failed".into(), "/v1/after-sale/update".into(), 1),
            ],
            by_error: vec![("upstream_unavailable".into(), 3)],
            by_errno: vec![("10002".into(), 1)],
        };
        let view = summary_view(7, &rows);
        assert_eq!(view["total"], 8);
        assert_eq!(view["since"], 7);
        assert_eq!(view["byStatus"]["failed"], 3);
        assert_eq!(view["byStatus"]["queued"], 0);
        assert_eq!(view["byRoute"]["/v1/cancel-verification"]["delivered"], 5);
        assert_eq!(view["byError"]["upstream_unavailable"], 3);
        assert_eq!(view["byBaiduErrno"]["10002"], 1);
    }

    #[test]
    fn every_error_a_delivery_can_end_with_has_a_meaning() {
        for (code, _) in crate::contract::ERROR_TABLE {
            // Errors of the request itself never reach the ledger: the webhook was refused.
            let of_a_delivery = code.starts_with("baidu_")
                || matches!(
                    *code,
                    "upstream_unavailable"
                        | "misconfigured"
                        | "delivery_failed"
                        | "ledger_unavailable"
                        | "internal_error"
                        | "order_unknown"
                        | "events_endpoint_failed"
                        | "outcome_unknown"
                );
            if of_a_delivery {
                assert!(meaning(code).is_some(), "{code} has no meaning");
            }
        }
        assert!(meaning("abandoned").is_some());
        assert_eq!(meaning("no_such_code"), None);
    }
}
