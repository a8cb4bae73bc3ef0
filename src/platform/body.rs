//! Reads a body as a stream, chunk by chunk, into the core's capped buffers: a request body
//! past 64 KiB or an upstream answer past 256 KiB is refused as soon as the limit is passed,
//! before the sender has finished (or if it never finishes), and never lands in memory whole.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStream, ReadableStreamDefaultReader};

use crate::error::ApiError;
use crate::http::{answer_length_fits, CappedBytes, Overflow, MAX_ANSWER_BYTES};
use crate::inbound::CappedBody;

/// Why a stream was not read to its end.
pub enum StreamError {
    /// The stream failed (or the request was aborted: its timeout).
    Failed(JsValue),
    Overflow,
}

/// Reads `stream` into `push` chunk by chunk; on `Overflow` it stops reading and cancels.
async fn read(
    stream: Option<ReadableStream>,
    mut push: impl FnMut(&[u8]) -> Result<(), Overflow>,
) -> Result<(), StreamError> {
    let Some(stream) = stream else {
        return Ok(());
    };
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    loop {
        let result = JsFuture::from(reader.read())
            .await
            .map_err(StreamError::Failed)?;
        let done = Reflect::get(&result, &JsValue::from_str("done"))
            .map_err(StreamError::Failed)?
            .is_truthy();
        if done {
            return Ok(());
        }
        let chunk: Uint8Array = Reflect::get(&result, &JsValue::from_str("value"))
            .map_err(StreamError::Failed)?
            .dyn_into()
            .map_err(StreamError::Failed)?;
        if push(&chunk.to_vec()).is_err() {
            // The rest is the sender's problem, not our memory's.
            let _ = reader.cancel();
            return Err(StreamError::Overflow);
        }
    }
}

/// The webhook's body, refused with 413 past `inbound::MAX_BODY_BYTES`. A body whose
/// `Content-Length` was declared (and already checked against the limit) is read in one
/// piece, as the usual small webhook is best read; one without is read as a capped stream.
pub async fn read_request(
    request: &worker::Request,
    declared_length: bool,
) -> Result<Vec<u8>, ApiError> {
    if declared_length {
        let buffer = match request.inner().array_buffer() {
            Ok(promise) => JsFuture::from(promise).await.ok(),
            Err(_) => None,
        };
        return buffer
            .map(|buffer| Uint8Array::new(&buffer).to_vec())
            .ok_or_else(|| ApiError::InvalidJson {
                detail: "the body could not be read".into(),
            });
    }
    let mut body = CappedBody::default();
    let mut refused = None;
    let read = read(request.inner().body(), |chunk| {
        body.push(chunk).map_err(|error| {
            refused = Some(error);
            Overflow
        })
    })
    .await;
    match (read, refused) {
        (Ok(()), _) => Ok(body.into_bytes()),
        (Err(StreamError::Overflow), Some(error)) => Err(error),
        (Err(_), _) => Err(ApiError::InvalidJson {
            detail: "the body could not be read".into(),
        }),
    }
}

/// An upstream answer's body, up to `MAX_ANSWER_BYTES`: in one piece when its declared length
/// fits (the usual, small answer: one crossing into wasm), as a capped stream when it declares
/// none, not at all when it declares more.
pub async fn read_answer(response: &web_sys::Response) -> Result<Vec<u8>, StreamError> {
    let declared = response.headers().get("content-length").ok().flatten();
    match answer_length_fits(declared.as_deref()) {
        Err(Overflow) => {
            if let Some(stream) = response.body() {
                let _ = stream.cancel();
            }
            Err(StreamError::Overflow)
        }
        Ok(true) => {
            let buffer = JsFuture::from(response.array_buffer().map_err(StreamError::Failed)?)
                .await
                .map_err(StreamError::Failed)?;
            Ok(Uint8Array::new(&buffer).to_vec())
        }
        Ok(false) => {
            let mut body = CappedBytes::new(MAX_ANSWER_BYTES);
            read(response.body(), |chunk| body.push(chunk)).await?;
            Ok(body.into_bytes())
        }
    }
}
