//! One request, start to finish: resolve the route, run the pure checks in contract order,
//! do the I/O (sign, relay), answer, and write one log line.

use serde_json::{json, Value};
use worker::{console_log, Date, Env, Headers, Request, Response};

use super::isolate::{self, Isolate};
use super::upstream;
use crate::baidu::cashier::{self, CashierTarget};
use crate::baidu::sign::encode_signature;
use crate::config::Config;
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
        Ok(route) => match relay(route, request, &isolate::get(env), &mut log).await {
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
    let (status, body) = match &isolate.config {
        Ok(config) => (
            200,
            json!({
                "status": "ok",
                "problems": [],
                "cashierApi": config.cashier_api.name(),
                "keyBits": config.merchant_key.bits(),
            }),
        ),
        Err(problems) => (
            503,
            json!({
                "status": "misconfigured",
                "problems": problems
                    .iter()
                    .map(|p| json!({"variable": p.variable, "message": p.message}))
                    .collect::<Vec<_>>(),
            }),
        ),
    };
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
    isolate: &Isolate,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let config = isolate.config.as_ref().map_err(|problems| {
        let mut variables: Vec<&'static str> = problems.iter().map(|p| p.variable).collect();
        variables.dedup();
        ApiError::Misconfigured { variables }
    })?;
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

    match route {
        Route::CancelVerification => {
            cancel_verification(config, isolate, &verified, &body, log).await
        }
        Route::Health => Err(ApiError::Internal),
    }
}

async fn cancel_verification(
    config: &Config,
    isolate: &Isolate,
    webhook: &VerifiedWebhook,
    body: &[u8],
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let input = inbound::cancel_verification::parse(body)?;
    let form = input.form(CashierTarget {
        api: config.cashier_api,
        url: &config.cashier_url,
        pay_app_key: &config.pay_app_key,
    });
    let signer = isolate
        .signer(config)
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
    log.baidu_errno = match &result {
        Ok(_) => Some(0),
        Err(ApiError::Baidu { errno, .. }) => Some(*errno),
        Err(_) => None,
    };
    Ok(json!({
        "id": webhook.id,
        "status": "delivered",
        "baidu": result?,
    }))
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
