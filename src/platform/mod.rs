//! The Worker shell (wasm32 only): entry points and I/O. Decisions live in the pure modules.

mod clock;
mod delivery;
mod handler;
mod isolate;
mod ledger;
mod relay;
mod reply;
mod tokens;
mod upstream;
mod webcrypto;

use worker::{
    event, Context, Env, MessageBatch, Request, Response, Result, ScheduleContext, ScheduledEvent,
};

#[event(fetch)]
async fn fetch(request: Request, env: Env, _ctx: Context) -> Result<Response> {
    Ok(handler::handle(request, &env).await)
}

#[event(queue)]
async fn queue(batch: MessageBatch<serde_json::Value>, env: Env, _ctx: Context) -> Result<()> {
    delivery::consume(batch, &env).await;
    Ok(())
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    delivery::sweep(&env).await;
}
