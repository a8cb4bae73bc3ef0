//! The Worker shell (wasm32 only): entry point and I/O. Decisions live in the pure modules.

mod handler;
mod isolate;
mod tokens;
mod upstream;
mod webcrypto;

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(request: Request, env: Env, _ctx: Context) -> Result<Response> {
    Ok(handler::handle(request, &env).await)
}
