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

use serde_json::json;
use worker::{
    console_log, event, Context, Env, MessageBatch, Request, Response, Result, ScheduleContext,
    ScheduledEvent,
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
    if crate::delivery::flow::sweep(&ports).await.is_err() {
        console_log!("{}", json!({"msg": "sweep", "error": "ledger unavailable"}));
    }
    // Nothing is deleted unless the configuration says for how long to keep it.
    let retention = match &isolate.config {
        Ok(config) => config.retention_days.ready().ok().copied(),
        Err(_) => None,
    };
    match retention {
        Some(days) => {
            if crate::delivery::flow::purge(&ports, days).await.is_err() {
                console_log!("{}", json!({"msg": "purge", "error": "ledger unavailable"}));
            }
        }
        None => console_log!("{}", json!({"msg": "purge", "skipped": "misconfigured"})),
    }
}
