//! One HTTP request, start to finish: resolve the route, run the pure checks in contract
//! order, hand accepted webhooks to durable delivery, answer, and write one log line.

use serde_json::json;
use worker::{console_log, Env, Headers, Request, Response};

use super::clock::{now_ms, now_seconds};
use super::delivery;
use super::isolate::{self, Isolate};
use super::relay;
use super::reply::Reply;
use super::webcrypto::WebCryptoSigner;
use crate::baidu::selftest;
use crate::baidu::sign::encode_signature;
use crate::config::{visible_problems, Config, Feature, Scope};
use crate::error::ApiError;
use crate::inbound::{self, Route};
use crate::log::RequestLog;
use crate::webhook::{self, WebhookHeaders};

pub async fn handle(request: Request, env: &Env) -> Response {
    let started = now_ms();
    let method = request.method().to_string();
    let path = request.path();
    let route = Route::resolve(&method, &path);
    let mut log = RequestLog::new(
        &method,
        route.as_ref().map(|r| r.path()).unwrap_or("unmatched"),
    );

    let reply = match route {
        Err(error) => Reply::from(error),
        Ok(Route::Health) => {
            let mut reply = health(&isolate::get(env));
            if inbound::wants_signing_self_test(&request.inner().url()) {
                reply.body["signingSelfTest"] = signing_self_test().await;
            }
            reply
        }
        Ok(route @ (Route::DeliveryStatus | Route::DeliveryRetry)) => {
            admin(route, &path, &request, &isolate::get(env), env, &mut log)
                .await
                .unwrap_or_else(Reply::from)
        }
        Ok(route) => webhook(route, request, env, &isolate::get(env), &mut log)
            .await
            .unwrap_or_else(Reply::from),
    };

    log.status = reply.status;
    if log.outcome.is_empty() {
        log.outcome = reply.outcome.clone();
    }
    log.duration_ms = now_ms().saturating_sub(started);
    console_log!("{}", log.to_json());
    reply.into_response()
}

fn health(isolate: &Isolate) -> Reply {
    let mut problems = match &isolate.config {
        Ok(config) => config.problems(),
        Err(problems) => visible_problems(problems),
    };
    let missing_bindings = &isolate.missing_bindings;
    let mut body = json!({});
    if let Ok(config) = &isolate.config {
        body["features"] = json!({
            "cancelVerification": config.cashier.state(),
            "afterSale": config.order_center.state(),
        });
        if let Feature::Ready(cashier) = &config.cashier {
            body["cashierApi"] = json!(cashier.api.name());
            body["keyBits"] = json!(cashier.merchant_key.bits());
        }
    }
    let mut entries: Vec<_> = problems
        .drain(..)
        .map(|p| json!({"variable": p.variable, "message": p.message}))
        .collect();
    for binding in missing_bindings {
        entries.push(json!({
            "variable": binding,
            "message": format!("the {binding} binding is missing; declare it in wrangler.toml (see the README's deployment guide)"),
        }));
    }
    let ok = entries.is_empty();
    body["status"] = json!(if ok { "ok" } else { "misconfigured" });
    body["problems"] = json!(entries);
    Reply::json(
        if ok { 200 } else { 503 },
        body,
        if ok { "ok" } else { "misconfigured" },
    )
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

/// The route's configuration: the shared part, the route's feature, and the delivery bindings.
fn config_for(route: Route, isolate: &Isolate) -> Result<&Config, ApiError> {
    let scope = match route {
        Route::AfterSale(_) => Scope::OrderCenter,
        Route::CancelVerification => Scope::Cashier,
        _ => Scope::Shared,
    };
    let config = isolate.config.as_ref().map_err(|problems| {
        // Name what this route needs: the shared variables and its own feature's.
        let mut variables: Vec<&'static str> = problems
            .iter()
            .filter(|p| p.scope == Scope::Shared || p.scope == scope)
            .map(|p| p.variable)
            .collect();
        variables.dedup();
        ApiError::Misconfigured { variables }
    })?;
    match route {
        Route::CancelVerification => config.cashier.ready().map(drop)?,
        Route::AfterSale(_) => config.order_center.ready().map(drop)?,
        _ => {}
    }
    if !isolate.missing_bindings.is_empty() {
        return Err(ApiError::Misconfigured {
            variables: isolate.missing_bindings.clone(),
        });
    }
    Ok(config)
}

/// Authenticates, validates and hands one webhook to durable delivery. Every check runs
/// before anything is recorded or reaches Baidu.
async fn webhook(
    route: Route,
    mut request: Request,
    env: &Env,
    isolate: &Isolate,
    log: &mut RequestLog,
) -> Result<Reply, ApiError> {
    let config = config_for(route, isolate)?;
    let headers = request.headers().clone();
    inbound::check_content_type(header(&headers, "content-type").as_deref())?;
    inbound::check_declared_length(header(&headers, "content-length").as_deref())?;
    let body = request.bytes().await.map_err(|_| ApiError::InvalidJson {
        detail: "the body could not be read".into(),
    })?;
    inbound::check_body_length(body.len())?;

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

    let job = relay::validate(route, &body, config)?;
    let incoming = delivery::Incoming {
        webhook: &verified,
        route,
        body: &body,
        job,
    };
    delivery::accept(incoming, config, env, isolate, log).await
}

/// `/v1/deliveries/{id}[/retry]`, behind `Authorization: Bearer <ADMIN_TOKEN>`.
async fn admin(
    route: Route,
    path: &str,
    request: &Request,
    isolate: &Isolate,
    env: &Env,
    log: &mut RequestLog,
) -> Result<Reply, ApiError> {
    let config = config_for(route, isolate)?;
    let token = config
        .admin_token
        .as_deref()
        .ok_or(ApiError::Misconfigured {
            variables: vec![crate::config::ADMIN_TOKEN],
        })?;
    inbound::check_bearer(header(request.headers(), "authorization").as_deref(), token)?;
    let id = inbound::delivery_id(path).ok_or(ApiError::DeliveryNotFound)?;
    log.webhook_id = Some(id.clone());
    match route {
        Route::DeliveryRetry => delivery::requeue(&id, env).await,
        _ => delivery::status(&id, env).await,
    }
}

fn header(headers: &Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}
