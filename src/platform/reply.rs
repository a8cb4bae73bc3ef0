//! A [`Reply`] as a `worker::Response`.

use worker::{Headers, Response};

use crate::reply::Reply;

pub fn into_response(reply: Reply) -> Response {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json; charset=utf-8");
    let _ = headers.set("cache-control", "no-store");
    if let Some(allow) = reply.allow {
        let _ = headers.set("allow", allow);
    }
    if reply.replayed {
        let _ = headers.set("idempotent-replayed", "true");
    }
    let body = serde_json::to_vec(&reply.body).unwrap_or_default();
    Response::builder()
        .with_status(reply.status)
        .with_headers(headers)
        .fixed(body)
}
