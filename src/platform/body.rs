//! Reads a request body as a stream, chunk by chunk, through the core's `CappedBody`: a body
//! past the limit is refused as soon as it is passed, before the sender has finished (or if
//! it never finishes), and never lands in memory whole.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::ReadableStreamDefaultReader;

use crate::error::ApiError;
use crate::inbound::CappedBody;

pub async fn read_capped(request: &worker::Request) -> Result<Vec<u8>, ApiError> {
    let Some(stream) = request.inner().body() else {
        return Ok(Vec::new());
    };
    let unreadable = |_| ApiError::InvalidJson {
        detail: "the body could not be read".into(),
    };
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut body = CappedBody::default();
    loop {
        let result = JsFuture::from(reader.read()).await.map_err(unreadable)?;
        let done = Reflect::get(&result, &JsValue::from_str("done"))
            .map(|done| done.is_truthy())
            .map_err(unreadable)?;
        if done {
            return Ok(body.into_bytes());
        }
        let chunk = Reflect::get(&result, &JsValue::from_str("value")).map_err(unreadable)?;
        let chunk: Uint8Array = chunk.dyn_into().map_err(unreadable)?;
        if let Err(error) = body.push(&chunk.to_vec()) {
            // Stop reading: the rest of the body is the sender's problem, not our memory's.
            let _ = reader.cancel();
            return Err(error);
        }
    }
}
