//! The Worker shell (wasm32 only): entry points and the ports' adapters. Decisions live in
//! the pure modules; the delivery flow in `crate::delivery::flow`.

mod body;
mod clock;
mod handler;
mod isolate;
mod ledger;
mod ports;
mod queue;
mod reply;
mod tokens;
mod upstream;
mod webcrypto;

use worker::{
    event, Context, Env, MessageBatch, Request, Response, Result, ScheduleContext, ScheduledEvent,
};

#[event(fetch)]
async fn fetch(request: Request, env: Env, ctx: Context) -> Result<Response> {
    Ok(handler::handle(request, env, ctx).await)
}

#[event(queue)]
async fn queue(batch: MessageBatch<serde_json::Value>, env: Env, _ctx: Context) -> Result<()> {
    queue::consume(batch, &env).await;
    Ok(())
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let isolate = isolate::get(&env);
    let ports = ports::WorkerPorts::new(&env, &isolate);
    crate::delivery::flow::scheduled(&ports, isolate.config.as_ref().ok()).await;
}
