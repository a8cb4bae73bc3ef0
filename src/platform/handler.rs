//! One request, start to finish: resolve the route, run the pure checks in contract order,
//! do the I/O (sign, relay), answer, and write one log line.

use serde_json::{json, Value};
use worker::{console_log, Date, Env, Headers, Request, Response};

use super::isolate::{self, Isolate};
use super::tokens::token_store;
use super::upstream;
use crate::baidu::cashier::{self, CashierTarget};
use crate::baidu::ordercenter::{self, OrderCenterCall, OrderCenterOutcome, OrderCenterTarget};
use crate::baidu::sign::encode_signature;
use crate::config::{Config, Feature, Scope};
use crate::error::ApiError;
use crate::inbound::{self, Route};
use crate::log::RequestLog;
use crate::webhook::{self, VerifiedWebhook, WebhookHeaders};

/// What the relay answers, before it becomes a `worker::Response`.
struct Reply {
    status: u16,
    body: Value,
    outcome: String,
    allow: Option<&'static str>,
}

impl From<ApiError> for Reply {
    fn from(error: ApiError) -> Self {
        let allow = match &error {
            ApiError::MethodNotAllowed { allow } => Some(*allow),
            _ => None,
        };
        Reply {
            status: error.status(),
            body: error.body(),
            outcome: error.code().to_owned(),
            allow,
        }
    }
}

pub async fn handle(request: Request, env: &Env) -> Response {
    let started = Date::now().as_millis();
    let method = request.method().to_string();
    let route = Route::resolve(&method, &request.path());
    let mut log = RequestLog::new(
        &method,
        route.as_ref().map(|r| r.path()).unwrap_or("unmatched"),
    );

    let reply = match route {
        Err(error) => Reply::from(error),
        Ok(Route::Health) => health(&isolate::get(env)),
        Ok(route) => match relay(route, request, env, &isolate::get(env), &mut log).await {
            Ok(body) => Reply {
                status: 200,
                body,
                outcome: "delivered".into(),
                allow: None,
            },
            Err(error) => Reply::from(error),
        },
    };

    log.status = reply.status;
    log.outcome = reply.outcome.clone();
    log.duration_ms = Date::now().as_millis().saturating_sub(started);
    console_log!("{}", log.to_json());
    respond(reply)
}

fn health(isolate: &Isolate) -> Reply {
    let problems = match &isolate.config {
        Ok(config) => config.problems(),
        Err(problems) => problems.clone(),
    };
    let mut body = json!({
        "status": if problems.is_empty() { "ok" } else { "misconfigured" },
        "problems": problems
            .iter()
            .map(|p| json!({"variable": p.variable, "message": p.message}))
            .collect::<Vec<_>>(),
    });
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
    let status = if problems.is_empty() { 200 } else { 503 };
    Reply {
        status,
        outcome: if status == 200 { "ok" } else { "misconfigured" }.into(),
        body,
        allow: None,
    }
}

/// Authenticates and relays one webhook. Every check runs before anything reaches Baidu.
async fn relay(
    route: Route,
    mut request: Request,
    env: &Env,
    isolate: &Isolate,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let config = isolate.config.as_ref().map_err(|problems| {
        // Name what this route needs: the shared variables and its own feature's.
        let scope = match route {
            Route::AfterSale(_) => Scope::OrderCenter,
            _ => Scope::Cashier,
        };
        let mut variables: Vec<&'static str> = problems
            .iter()
            .filter(|p| p.scope == Scope::Shared || p.scope == scope)
            .map(|p| p.variable)
            .collect();
        variables.dedup();
        ApiError::Misconfigured { variables }
    })?;
    // The route's feature must be configured before anything else is looked at.
    match route {
        Route::CancelVerification => config.cashier.ready().map(drop)?,
        Route::AfterSale(_) => config.order_center.ready().map(drop)?,
        Route::Health => {}
    }
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
    let now = i64::try_from(Date::now().as_millis() / 1000).unwrap_or(i64::MAX);
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

    let answer = match route {
        Route::CancelVerification => cancel_verification(config, isolate, &body, log).await?,
        Route::AfterSale(call) => after_sale(call, config, env, isolate, &body, log).await?,
        Route::Health => return Err(ApiError::Internal),
    };
    Ok(delivered(&verified, answer))
}

fn delivered(webhook: &VerifiedWebhook, baidu: Value) -> Value {
    json!({ "id": webhook.id, "status": "delivered", "baidu": baidu })
}

async fn cancel_verification(
    config: &Config,
    isolate: &Isolate,
    body: &[u8],
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let cashier = config.cashier.ready()?;
    let input = inbound::cancel_verification::parse(body)?;
    let form = input.form(CashierTarget {
        api: cashier.api,
        url: &cashier.url,
        pay_app_key: &cashier.pay_app_key,
    });
    let signer = isolate
        .signer(cashier)
        .await
        .map_err(|_| ApiError::Internal)?;
    let signature = signer
        .sign(form.canonical_string().as_bytes())
        .await
        .map_err(|_| ApiError::Internal)?;
    let request = form.into_request(&encode_signature(&signature));

    let answer = upstream::send(&request, config.upstream_timeout_ms).await;
    log.upstream_status = answer.as_ref().ok().map(|response| response.status);
    let result = cashier::classify_answer(&answer);
    log.baidu_errno = errno_of(&result);
    result
}

/// An order-center call with a managed token: refreshed and retried once if Baidu says the
/// token is invalid or expired.
async fn after_sale(
    call: OrderCenterCall,
    config: &Config,
    env: &Env,
    isolate: &Isolate,
    body: &[u8],
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let order_center = config.order_center.ready()?;
    let orders = inbound::after_sale::parse(body, call, &order_center.app_key)?;
    let target = OrderCenterTarget {
        openapi_url: &order_center.openapi_url,
        pay_app_key: &order_center.pay_app_key,
    };
    let kv = token_store(env);
    let timeout = config.upstream_timeout_ms;
    let (mut token, source) = isolate
        .tokens
        .get(order_center, kv.clone(), timeout, None)
        .await?;
    log.token_source = Some(source.as_str());
    log.token_last4 = Some(token.last4().to_owned());
    loop {
        let request = ordercenter::build_request(call, &orders, target, &token);
        let answer = upstream::send(&request, timeout).await;
        log.upstream_status = answer.as_ref().ok().map(|response| response.status);
        let result = match ordercenter::classify_answer(&answer) {
            OrderCenterOutcome::Delivered(baidu) => Ok(baidu),
            OrderCenterOutcome::TokenExpired(error) if !log.token_refreshed => {
                log.token_refreshed = true;
                let (fresh, source) = isolate
                    .tokens
                    .get(order_center, kv.clone(), timeout, Some(&token))
                    .await?;
                log.token_source = Some(source.as_str());
                log.token_last4 = Some(fresh.last4().to_owned());
                token = fresh;
                log.baidu_errno = errno_of(&Err::<Value, _>(error));
                continue;
            }
            OrderCenterOutcome::TokenExpired(error) | OrderCenterOutcome::Failed(error) => {
                Err(error)
            }
        };
        log.baidu_errno = errno_of(&result);
        return result;
    }
}

fn errno_of(result: &Result<Value, ApiError>) -> Option<i64> {
    match result {
        Ok(_) => Some(0),
        Err(ApiError::Baidu { errno, .. }) => Some(*errno),
        Err(ApiError::ItemsRejected { .. }) => Some(0),
        Err(_) => None,
    }
}

fn header(headers: &Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}

fn respond(reply: Reply) -> Response {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json; charset=utf-8");
    let _ = headers.set("cache-control", "no-store");
    if let Some(allow) = reply.allow {
        let _ = headers.set("allow", allow);
    }
    let body = serde_json::to_vec(&reply.body).unwrap_or_default();
    Response::builder()
        .with_status(reply.status)
        .with_headers(headers)
        .fixed(body)
}
