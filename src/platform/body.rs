//! Reads bodies into the core's capped buffers: a request body past 64 KiB or an upstream
//! answer past 256 KiB is refused as soon as the limit is passed, before the sender has finished
//! (or if it never finishes), and never lands in memory whole. A body whose declared length the
//! core has accepted is read in one piece: one crossing into wasm for the usual, small body.

use js_sys::{Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStream, ReadableStreamDefaultReader};

use crate::error::ApiError;
use crate::http::{answer_length_fits, CappedBytes, Overflow, MAX_ANSWER_BYTES};
use crate::inbound::CappedBody;

/// Why a body was not read to its end.
pub enum ReadError<E> {
    /// The stream failed (or the request was aborted: its timeout).
    Failed(JsValue),
    /// The buffer refused a chunk.
    Refused(E),
}

/// Reads `stream` into `push` chunk by chunk; when `push` refuses, it stops and cancels.
async fn read_stream<E>(
    stream: Option<ReadableStream>,
    mut push: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), ReadError<E>> {
    let Some(stream) = stream else {
        return Ok(());
    };
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    loop {
        let result = JsFuture::from(reader.read())
            .await
            .map_err(ReadError::Failed)?;
        let done = Reflect::get(&result, &JsValue::from_str("done"))
            .map_err(ReadError::Failed)?
            .is_truthy();
        if done {
            return Ok(());
        }
        let chunk: Uint8Array = Reflect::get(&result, &JsValue::from_str("value"))
            .map_err(ReadError::Failed)?
            .dyn_into()
            .map_err(ReadError::Failed)?;
        if let Err(refusal) = push(&chunk.to_vec()) {
            // The rest is the sender's problem, not our memory's.
            let _ = reader.cancel();
            return Err(ReadError::Refused(refusal));
        }
    }
}

/// A whole body from `arrayBuffer()`.
async fn read_whole(buffer: Result<Promise, JsValue>) -> Result<Vec<u8>, JsValue> {
    let buffer = JsFuture::from(buffer?).await?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// The webhook's body. `declared_length`: the core accepted its `Content-Length`
/// (`inbound::check_declared_length`); without one it is read through `CappedBody` (413).
pub async fn read_request(
    request: &worker::Request,
    declared_length: bool,
) -> Result<Vec<u8>, ApiError> {
    let unreadable = || ApiError::InvalidJson {
        detail: "the body could not be read".into(),
    };
    if declared_length {
        return read_whole(request.inner().array_buffer())
            .await
            .map_err(|_| unreadable());
    }
    let mut body = CappedBody::default();
    match read_stream(request.inner().body(), |chunk| body.push(chunk)).await {
        Ok(()) => Ok(body.into_bytes()),
        Err(ReadError::Refused(too_large)) => Err(too_large),
        Err(ReadError::Failed(_)) => Err(unreadable()),
    }
}

/// An upstream answer's body, up to `MAX_ANSWER_BYTES`, as `http::answer_length_fits` says:
/// in one piece, as a capped stream, or not at all.
pub async fn read_answer(response: &web_sys::Response) -> Result<Vec<u8>, ReadError<Overflow>> {
    let declared = response.headers().get("content-length").ok().flatten();
    match answer_length_fits(declared.as_deref()) {
        Err(overflow) => {
            if let Some(stream) = response.body() {
                let _ = stream.cancel();
            }
            Err(ReadError::Refused(overflow))
        }
        Ok(true) => read_whole(response.array_buffer())
            .await
            .map_err(ReadError::Failed),
        Ok(false) => {
            let mut body = CappedBytes::new(MAX_ANSWER_BYTES);
            read_stream(response.body(), |chunk| body.push(chunk)).await?;
            Ok(body.into_bytes())
        }
    }
}
