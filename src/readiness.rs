//! What each route needs from the configuration before it may run, and what `/healthz`
//! reports: plain functions of the validated configuration and the missing bindings.

use serde_json::json;

use crate::config::{visible_problems, Config, ConfigProblem, Feature, PaymentVersion, Scope};
use crate::error::ApiError;
use crate::inbound::Route;
use crate::reply::Reply;

/// The isolate's configuration: valid, or every problem found.
pub type Loaded = Result<Config, Vec<ConfigProblem>>;

/// The route's configuration: the shared part, the route's own feature, and the delivery
/// bindings. A `misconfigured` error names what this route needs, nothing else.
pub fn config_for<'a>(
    route: Route,
    loaded: &'a Loaded,
    missing_bindings: &[&'static str],
) -> Result<&'a Config, ApiError> {
    let scope = match route {
        Route::AfterSale(_) | Route::Orders(_) | Route::OrderSync => Scope::OrderCenter,
        Route::CancelVerification => Scope::Cashier,
        Route::DeliveryStatus
        | Route::DeliveryRetry
        | Route::DeliveryList
        | Route::DeliverySummary
        | Route::DeliveryBulkRetry => Scope::Admin,
        Route::Health | Route::Console => Scope::Shared,
        // Refunds and order queries speak payment 1.0 (the cashier) or 2.0 (the token).
        Route::Refund | Route::OrderQuery | Route::OrderRefunds => {
            match loaded.as_ref().ok().and_then(|c| c.refunds.ready().ok()) {
                Some(settings) if settings.version == PaymentVersion::V2 => Scope::OrderCenter,
                Some(_) => Scope::Cashier,
                None => Scope::Refunds,
            }
        }
        Route::PaymentSign => Scope::Cashier,
        Route::Callback(_) => Scope::Callbacks,
    };
    let config = loaded.as_ref().map_err(|problems| {
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
        Route::AfterSale(_) | Route::Orders(_) | Route::OrderSync => {
            config.order_center.ready().map(drop)?
        }
        Route::OrderQuery | Route::OrderRefunds => {
            config.admin_token.ready().map(drop)?;
            match config.refunds.ready()?.version {
                PaymentVersion::V1 => config.cashier.ready().map(drop)?,
                PaymentVersion::V2 => config.order_center.ready().map(drop)?,
            }
        }
        Route::DeliveryStatus
        | Route::DeliveryRetry
        | Route::DeliveryList
        | Route::DeliverySummary
        | Route::DeliveryBulkRetry => config.admin_token.ready().map(drop)?,
        Route::Refund => match config.refunds.ready()?.version {
            PaymentVersion::V1 => config.cashier.ready().map(drop)?,
            PaymentVersion::V2 => config.order_center.ready().map(drop)?,
        },
        Route::PaymentSign => config.cashier.ready().map(drop)?,
        Route::Callback(_) => config.callbacks.ready().map(drop)?,
        Route::Health | Route::Console => {}
    }
    if !missing_bindings.is_empty() {
        return Err(ApiError::Misconfigured {
            variables: missing_bindings.to_vec(),
        });
    }
    Ok(config)
}

/// Refunds work when their settings do and the payment version's feature is ready.
fn refunds_state(config: &Config) -> &'static str {
    match &config.refunds {
        Feature::Ready(settings) => match settings.version {
            PaymentVersion::V1 => config.cashier.state(),
            PaymentVersion::V2 => config.order_center.state(),
        },
        other => other.state(),
    }
}

/// `GET /healthz`: 200 `ok`, or 503 `misconfigured` with every problem by variable; `notes`
/// point out what works but deserves a look.
pub fn health(loaded: &Loaded, missing_bindings: &[&'static str]) -> Reply {
    let problems = match loaded {
        Ok(config) => config.problems(),
        Err(problems) => visible_problems(problems),
    };
    let mut body = json!({});
    if let Ok(config) = loaded {
        body["features"] = json!({
            "cancelVerification": config.cashier.state(),
            "afterSale": config.order_center.state(),
            "callbacks": config.callbacks.state(),
            "refunds": refunds_state(config),
        });

        if let Feature::Ready(cashier) = &config.cashier {
            body["cashierApi"] = json!(cashier.api.name());
            body["keyBits"] = json!(cashier.merchant_key.bits());
        }
    }
    let mut entries: Vec<_> = problems
        .into_iter()
        .map(|p| json!({"variable": p.variable, "message": p.message}))
        .collect();
    for binding in missing_bindings {
        entries.push(json!({
            "variable": binding,
            "message": format!("the {binding} binding is missing; declare it in wrangler.toml (see the README's deployment guide)"),
        }));
    }
    let ok = entries.is_empty();
    let outcome = if ok { "ok" } else { "misconfigured" };
    body["status"] = json!(outcome);
    body["problems"] = json!(entries);
    // Only when there is one, so that a healthy answer keeps the shape it always had.
    let notes = loaded.as_ref().map(Config::notes).unwrap_or_default();
    if !notes.is_empty() {
        body["notes"] = notes
            .iter()
            .map(|note| json!({"variable": note.variable, "message": note.message}))
            .collect();
    }
    Reply::json(if ok { 200 } else { 503 }, body, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baidu::ordercenter::OrderCenterCall;

    const KEY: &str = include_str!("../tests/vectors/keys/test-2048.pkcs1.pem");

    fn load(pairs: &[(&str, &str)]) -> Loaded {
        let base = [
            ("WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            ("BAIDU_RSA_PRIVATE_KEY", KEY),
            ("BAIDU_PAY_APP_KEY", "MMMzaA"),
            ("BAIDU_PAYMENT_APP_ID", "1234567"),
            ("ADMIN_TOKEN", "a-long-random-admin-token"),
        ];
        Config::from_env(|name| {
            pairs
                .iter()
                .chain(base.iter())
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    fn variables(result: Result<&Config, ApiError>) -> Vec<&'static str> {
        match result {
            Err(ApiError::Misconfigured { variables }) => variables,
            other => panic!("expected misconfigured, got {other:?}"),
        }
    }

    #[test]
    fn each_route_needs_its_own_feature_and_the_bindings() {
        let loaded = load(&[]);
        assert!(config_for(Route::CancelVerification, &loaded, &[]).is_ok());
        assert!(config_for(Route::DeliveryStatus, &loaded, &[]).is_ok());
        assert_eq!(
            variables(config_for(
                Route::AfterSale(OrderCenterCall::Update),
                &loaded,
                &[]
            )),
            vec!["BAIDU_APP_KEY", "BAIDU_APP_SECRET"]
        );
        assert_eq!(
            variables(config_for(Route::CancelVerification, &loaded, &["LEDGER"])),
            vec!["LEDGER"]
        );
    }

    #[test]
    fn a_short_admin_token_stops_only_the_admin_routes() {
        let loaded = load(&[("ADMIN_TOKEN", "short")]);
        assert!(config_for(Route::CancelVerification, &loaded, &[]).is_ok());
        assert_eq!(
            variables(config_for(Route::DeliveryRetry, &loaded, &[])),
            vec!["ADMIN_TOKEN"]
        );
    }

    #[test]
    fn a_broken_shared_part_names_the_shared_and_the_routes_own_variables() {
        let loaded = load(&[("WEBHOOK_SECRET", "x"), ("ADMIN_TOKEN", "short")]);
        assert_eq!(
            variables(config_for(Route::CancelVerification, &loaded, &[])),
            vec!["WEBHOOK_SECRET"]
        );
        assert_eq!(
            variables(config_for(Route::DeliveryStatus, &loaded, &[])),
            vec!["WEBHOOK_SECRET", "ADMIN_TOKEN"]
        );
    }

    #[test]
    fn healthz_notes_result_webhooks_signed_with_the_inbound_secret_without_failing() {
        let url = ("RESULT_WEBHOOK_URL", "https://orders.example.com/results");
        let shared = health(&load(&[url]), &[]);
        assert_eq!(shared.status, 200);
        assert_eq!(shared.body["problems"], json!([]));
        let notes = shared.body["notes"].as_array().unwrap();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0]["variable"], "RESULT_WEBHOOK_SECRET");
        assert!(notes[0]["message"]
            .as_str()
            .unwrap()
            .contains("WEBHOOK_SECRET"));

        let own = health(
            &load(&[
                url,
                (
                    "RESULT_WEBHOOK_SECRET",
                    "whsec_cmVzdWx0LXdlYmhvb2stc2VjcmV0LTMy",
                ),
            ]),
            &[],
        );
        assert_eq!(own.status, 200);
        assert!(own.body.get("notes").is_none(), "{}", own.body);
        assert!(health(&load(&[]), &[]).body.get("notes").is_none());
    }

    #[test]
    fn healthz_lists_every_problem_and_missing_binding() {
        let healthy = health(&load(&[]), &[]);
        assert_eq!(
            (healthy.status, healthy.body["status"].as_str()),
            (200, Some("ok"))
        );
        assert_eq!(healthy.body["keyBits"], 2048);
        let broken = health(
            &load(&[("WEBHOOK_SECRET", "x"), ("RESULT_WEBHOOK_URL", "nope")]),
            &["RETRIES"],
        );
        assert_eq!(broken.status, 503);
        let named: Vec<&str> = broken.body["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["variable"].as_str().unwrap())
            .collect();
        assert_eq!(
            named,
            vec!["WEBHOOK_SECRET", "RESULT_WEBHOOK_URL", "RETRIES"]
        );
    }
}
