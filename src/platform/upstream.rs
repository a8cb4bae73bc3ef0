//! Sends a built [`HttpRequest`] with the runtime's `fetch`, bounded by a timeout, never
//! following a redirect.
//!
//! Plain `fetch` with `AbortSignal.timeout`: the timeout covers the whole exchange, body
//! included. The answer is read up to 256 KiB (`body::read_answer`).

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortSignal, Headers, Request, RequestInit, RequestRedirect, Response, WorkerGlobalScope,
};

use super::body::ReadError;
use crate::http::{HttpRequest, TransportError, UpstreamAnswer, UpstreamResponse};

const USER_AGENT: &str = concat!("baidu-order-relay/", env!("CARGO_PKG_VERSION"));

/// Sends the request and reads the whole answer, or gives up after `timeout_ms`.
pub async fn send(request: &HttpRequest, timeout_ms: u32) -> UpstreamAnswer {
    let outbound = build(request, timeout_ms).map_err(|_| TransportError::Unreachable)?;
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    let response: Response = JsFuture::from(global.fetch_with_request(&outbound))
        .await
        .map_err(classify)?
        .unchecked_into();
    let status = response.status();
    let body = super::body::read_answer(&response)
        .await
        .map_err(|error| match error {
            ReadError::Refused(_) => TransportError::AnswerTooLarge,
            ReadError::Failed(error) => classify(error),
        })?;
    Ok(UpstreamResponse { status, body })
}

fn build(request: &HttpRequest, timeout_ms: u32) -> Result<Request, JsValue> {
    let headers = Headers::new()?;
    headers.set("content-type", request.content_type)?;
    headers.set("user-agent", USER_AGENT)?;
    for (name, value) in &request.headers {
        headers.set(name, value)?;
    }
    let init = RequestInit::new();
    init.set_method(request.method);
    init.set_headers(&headers);
    // fetch refuses a body on a GET, even an empty one.
    if request.method != "GET" {
        init.set_body(&Uint8Array::from(request.body.as_slice()));
    }
    init.set_signal(Some(&AbortSignal::timeout_with_u32(timeout_ms)));
    // Following a redirect would resend the body (a token request's App Secret, a signed
    // form, a signed result) to wherever the answer points. workerd hands back the 3xx
    // itself, which the core refuses.
    init.set_redirect(RequestRedirect::Manual);
    Request::new_with_str_and_init(&request.url, &init)
}

/// `AbortSignal.timeout` rejects with a `TimeoutError`; anything else is a network failure.
fn classify(error: JsValue) -> TransportError {
    let name = Reflect::get(&error, &"name".into())
        .ok()
        .and_then(|name| name.as_string());
    match name.as_deref() {
        Some("TimeoutError") => TransportError::Timeout,
        _ => TransportError::Unreachable,
    }
}
