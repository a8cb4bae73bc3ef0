//! Sends a built [`HttpRequest`] with `fetch`, bounded by a timeout.

use std::time::Duration;

use futures_util::future::{select, Either};
use js_sys::Uint8Array;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

use crate::http::{HttpRequest, TransportError, UpstreamAnswer, UpstreamResponse};

const USER_AGENT: &str = concat!("baidu-order-relay/", env!("CARGO_PKG_VERSION"));

/// Sends the request and reads the whole answer, or gives up after `timeout_ms`.
pub async fn send(request: &HttpRequest, timeout_ms: u32) -> UpstreamAnswer {
    let outbound = build(request).map_err(|_| TransportError::Unreachable)?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = async {
        let mut response = Fetch::Request(outbound)
            .send_with_signal(&signal)
            .await
            .map_err(|_| TransportError::Unreachable)?;
        let status = response.status_code();
        let body = response
            .bytes()
            .await
            .map_err(|_| TransportError::Unreachable)?;
        Ok(UpstreamResponse { status, body })
    };
    let timeout = Delay::from(Duration::from_millis(u64::from(timeout_ms)));
    futures_util::pin_mut!(exchange);
    match select(exchange, timeout).await {
        Either::Left((answer, _)) => answer,
        Either::Right(_) => {
            // Abort so the connection does not linger after we stopped waiting.
            controller.abort();
            Err(TransportError::Timeout)
        }
    }
}

fn build(request: &HttpRequest) -> worker::Result<Request> {
    let headers = Headers::new();
    headers.set("content-type", request.content_type)?;
    headers.set("user-agent", USER_AGENT)?;
    for (name, value) in &request.headers {
        headers.set(name, value)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::from(request.method.to_owned()))
        .with_headers(headers)
        .with_body(Some(Uint8Array::from(request.body.as_slice()).into()));
    Request::new_with_init(&request.url, &init)
}
