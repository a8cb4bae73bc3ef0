//! One HTTP request, start to finish: resolve the route, run the pure checks in contract
//! order, hand accepted webhooks to durable delivery, answer, and write one log line.

use std::rc::Rc;

use serde_json::json;
use worker::{console_log, Context, Env, Headers, Request, Response};

use super::clock::{now_ms, now_seconds};
use super::isolate::{self, Isolate};
use super::ports::WorkerPorts;
use super::reply::into_response;
use super::webcrypto::WebCryptoSigner;
use crate::baidu::selftest;
use crate::baidu::sign::encode_signature;
use crate::config::Config;
use crate::delivery::console;
use crate::delivery::flow::{self, Incoming};
use crate::delivery::job::{self, Job};
use crate::delivery::ports::Ports;
use crate::delivery::{callbacks, payment_signing, queries};
use crate::error::ApiError;
use crate::inbound::{self, Callback, Route};
use crate::log::RequestLog;
use crate::readiness;
use crate::reply::Reply;
use crate::webhook::{self, WebhookHeaders};

pub async fn handle(request: Request, env: Env, ctx: Context) -> Response {
    let env = &env;
    let started = now_ms();
    let method = request.method().to_string();
    let path = request.path();
    let route = Route::resolve(&method, &path);
    let mut log = RequestLog::new(
        &method,
        route.as_ref().map(|r| r.path()).unwrap_or("unmatched"),
    );

    if let Ok(Route::Console) = route {
        return console_page(&path, &method, log, started);
    }
    let reply = match route {
        Err(error) => Reply::from(error),
        Ok(Route::Health) => {
            let mut reply = health(&isolate::get(env));
            if inbound::wants_signing_self_test(&request.inner().url()) {
                reply.body["signingSelfTest"] = signing_self_test().await;
            }
            reply
        }
        Ok(
            route @ (Route::DeliveryStatus
            | Route::DeliveryRetry
            | Route::DeliveryList
            | Route::DeliverySummary
            | Route::DeliveryBulkRetry),
        ) => admin(route, &path, &request, &isolate::get(env), env, &mut log)
            .await
            .unwrap_or_else(Reply::from),
        Ok(Route::Callback(kind)) => {
            callback(kind, request, env, &ctx, isolate::get(env), &mut log)
                .await
                .unwrap_or_else(Reply::from)
        }
        Ok(route @ (Route::OrderQuery | Route::OrderRefunds)) => {
            order_query(route, &path, &request, &isolate::get(env), env, &mut log)
                .await
                .unwrap_or_else(Reply::from)
        }
        Ok(route) => webhook(route, request, env, &ctx, isolate::get(env), &mut log)
            .await
            .unwrap_or_else(Reply::from),
    };

    log.status = reply.status;
    if log.outcome.is_empty() {
        log.outcome = reply.outcome.clone();
    }
    log.duration_ms = now_ms().saturating_sub(started);
    console_log!("{}", log.to_json());
    into_response(reply)
}

fn health(isolate: &Isolate) -> Reply {
    readiness::health(&isolate.config, &isolate.missing_bindings)
}

/// Signs every known-answer vector with WebCrypto, the Worker's signing path, and compares
/// byte for byte. Fixed public test keys and inputs: nothing secret is involved.
async fn signing_self_test() -> serde_json::Value {
    let vectors = selftest::vectors();
    let mut failed = Vec::new();
    for vector in &vectors {
        let signature = match WebCryptoSigner::import(vector.key.pkcs8_der()).await {
            Ok(signer) => signer.sign(vector.canonical.as_bytes()).await.ok(),
            Err(_) => None,
        };
        if signature.map(|s| encode_signature(&s)).as_deref() != Some(vector.rsa_sign.as_str()) {
            failed.push(vector.name.clone());
        }
    }
    json!({"vectors": vectors.len(), "passed": vectors.len() - failed.len(), "failed": failed})
}

fn config_for(route: Route, isolate: &Isolate) -> Result<&Config, ApiError> {
    readiness::config_for(route, &isolate.config, &isolate.missing_bindings)
}

/// Authenticates, validates and hands one webhook to durable delivery. Every check runs
/// before anything is recorded or reaches Baidu.
async fn webhook(
    route: Route,
    request: Request,
    env: &Env,
    ctx: &Context,
    isolate: Rc<Isolate>,
    log: &mut RequestLog,
) -> Result<Reply, ApiError> {
    let config = config_for(route, &isolate)?;
    let headers = request.headers().clone();
    inbound::check_content_type(header(&headers, "content-type").as_deref())?;
    let declared_length =
        inbound::check_declared_length(header(&headers, "content-length").as_deref())?;
    let body = super::body::read_request(&request, declared_length).await?;

    let id = header(&headers, webhook::ID_HEADER);
    let timestamp = header(&headers, webhook::TIMESTAMP_HEADER);
    let signature = header(&headers, webhook::SIGNATURE_HEADER);
    log.webhook_id = id.clone().filter(|id| webhook::is_well_formed_id(id));
    let now = now_seconds();
    let verified = webhook::verify(
        &config.webhook_secrets,
        WebhookHeaders {
            id: id.as_deref(),
            timestamp: timestamp.as_deref(),
            signature: signature.as_deref(),
        },
        &body,
        now,
    )
    .map_err(ApiError::Webhook)?;

    if route == Route::PaymentSign {
        let ports = WorkerPorts::new(env, &isolate);
        return payment_signing::sign(ports.upstream(), config, &body).await;
    }
    let job = job::validate(route, &body, config)?;
    Ok(deliver(env, ctx, isolate, verified.id, route, body, job, log).await)
}

/// Runs the delivery under `waitUntil`: a caller who hangs up cannot cancel an attempt
/// between Baidu's answer and the ledger's record of it.
#[allow(clippy::too_many_arguments)]
async fn deliver(
    env: &Env,
    ctx: &Context,
    isolate: Rc<Isolate>,
    id: String,
    route: Route,
    body: Vec<u8>,
    job: Job,
    log: &mut RequestLog,
) -> Reply {
    let (done, answered) = futures_channel::oneshot::channel();
    let env = env.clone();
    let mut task_log = std::mem::take(log);
    ctx.wait_until(async move {
        let Ok(config) = isolate.config.as_ref() else {
            return;
        };
        let ports = WorkerPorts::new(&env, &isolate);
        let incoming = Incoming {
            id: &id,
            route,
            body: &body,
            job,
        };
        let reply = flow::accept(&ports, config, incoming, &mut task_log).await;
        // The caller may be gone; the outcome is in the ledger either way.
        let _ = done.send((reply, task_log));
    });
    match answered.await {
        Ok((reply, task_log)) => {
            *log = task_log;
            reply
        }
        Err(_) => Reply::from(ApiError::Internal),
    }
}

/// One of Baidu's callbacks: a form, verified, recorded and answered by the core
/// (`delivery::callbacks`) under `waitUntil`, so the event's first delivery attempt can go on
/// after Baidu has its answer.
async fn callback(
    kind: Callback,
    request: Request,
    env: &Env,
    ctx: &Context,
    isolate: Rc<Isolate>,
    log: &mut RequestLog,
) -> Result<Reply, ApiError> {
    config_for(Route::Callback(kind), &isolate)?;
    let headers = request.headers().clone();
    inbound::check_form_content_type(header(&headers, "content-type").as_deref())?;
    let declared_length =
        inbound::check_declared_length(header(&headers, "content-length").as_deref())?;
    let body = super::body::read_request(&request, declared_length).await?;
    let (done, answered) = futures_channel::oneshot::channel();
    let env = env.clone();
    let mut task_log = RequestLog::new("POST", Route::Callback(kind).path());
    ctx.wait_until(async move {
        let Ok(config) = isolate.config.as_ref() else {
            return;
        };
        let ports = WorkerPorts::new(&env, &isolate);
        callbacks::handle(
            &ports,
            config,
            kind,
            &body,
            &mut task_log,
            move |reply, log| {
                // What the request's own line tells: which delivery, which signature reading.
                let known = (log.webhook_id.clone(), log.signature_reading);
                // Baidu may have hung up; the ledger holds the event either way.
                let _ = done.send((reply, known));
            },
        )
        .await;
        // The request's own line was written when Baidu was answered; this one tells what
        // became of the event's first delivery attempt.
        if task_log.attempt.is_some() {
            task_log.msg = "event delivery";
            console_log!("{}", task_log.to_json());
        }
    });
    let (reply, (webhook_id, signature_reading)) =
        answered.await.map_err(|_| ApiError::Internal)?;
    log.webhook_id = webhook_id;
    log.signature_reading = signature_reading;
    Ok(reply)
}

/// The console page's files, with the headers that keep it to itself (`crate::admin`).
fn console_page(path: &str, method: &str, mut log: RequestLog, started: u64) -> Response {
    let Some(asset) = crate::admin::asset(path) else {
        return into_response(Reply::from(ApiError::NotFound));
    };
    let headers = Headers::new();
    let _ = headers.set("content-type", asset.content_type);
    for (name, value) in crate::admin::HEADERS {
        let _ = headers.set(name, value);
    }
    log.status = 200;
    log.outcome = "ok".into();
    log.duration_ms = now_ms().saturating_sub(started);
    console_log!("{}", log.to_json());
    let body = if method.eq_ignore_ascii_case("HEAD") {
        Vec::new()
    } else {
        asset.body.as_bytes().to_vec()
    };
    Response::builder()
        .with_status(200)
        .with_headers(headers)
        .fixed(body)
}

/// The configuration for an admin route, once the caller's `Authorization: Bearer` names the
/// `ADMIN_TOKEN`.
fn admin_config<'a>(
    route: Route,
    request: &Request,
    isolate: &'a Isolate,
) -> Result<&'a Config, ApiError> {
    let config = config_for(route, isolate)?;
    let token = config.admin_token.ready()?;
    inbound::check_bearer(header(request.headers(), "authorization").as_deref(), token)?;
    Ok(config)
}

/// The operator's routes (`/v1/deliveries...`), behind `Authorization: Bearer <ADMIN_TOKEN>`.
async fn admin(
    route: Route,
    path: &str,
    request: &Request,
    isolate: &Isolate,
    env: &Env,
    log: &mut RequestLog,
) -> Result<Reply, ApiError> {
    admin_config(route, request, isolate)?;
    let query = request
        .url()
        .ok()
        .and_then(|url| url.query().map(str::to_owned))
        .unwrap_or_default();
    let ports = WorkerPorts::new(env, isolate);
    let queries = || ports.ledger().map_err(|_| ApiError::LedgerUnavailable);
    match route {
        Route::DeliveryList => {
            let page = console::parse_page(&query)?;
            console::list(queries()?, &page).await
        }
        Route::DeliverySummary => {
            let since = console::parse_summary(&query, now_ms())?;
            console::summary(queries()?, since).await
        }
        Route::DeliveryBulkRetry => {
            let page = console::parse_bulk_retry(&query)?;
            console::retry_page(&ports, queries()?, &page).await
        }
        _ => {
            let id = inbound::delivery_id(path).ok_or(ApiError::DeliveryNotFound)?;
            log.webhook_id = Some(id.clone());
            match route {
                Route::DeliveryRetry => flow::requeue(&ports, &id).await,
                _ => console::detail(&ports, queries()?, &id).await,
            }
        }
    }
}

/// `GET /v1/orders/{tpOrderId}[/refunds]`: asks Baidu at once; nothing is recorded.
async fn order_query(
    route: Route,
    path: &str,
    request: &Request,
    isolate: &Isolate,
    env: &Env,
    log: &mut RequestLog,
) -> Result<Reply, ApiError> {
    let config = admin_config(route, request, isolate)?;
    let tp_order_id = inbound::order_query_id(path).ok_or_else(|| ApiError::InvalidField {
        field: "tpOrderId".into(),
        reason: "must be 1 to 256 visible characters, percent-encoded in the path".into(),
    })?;
    let ports = WorkerPorts::new(env, isolate);
    queries::order(
        &ports,
        config,
        &tp_order_id,
        route == Route::OrderRefunds,
        log,
    )
    .await
}

fn header(headers: &Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}
